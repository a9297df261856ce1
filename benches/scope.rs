//! Spawn + join throughput: how long it takes, and how much memory, to run N
//! trivial children to completion.
//!
//! Every child is the same future ([`child`]): it yields once (wakes itself
//! and returns `Pending`), then finishes with `Ok(())`. Each contender spawns
//! N of them and waits for all of them:
//!
//! | name                   | what it uses                                         |
//! |------------------------|------------------------------------------------------|
//! | `corral_scope`         | `corral::scope`, handles dropped                      |
//! | `corral_scope_slow_polls_on` | the same with `Nursery::warn_slow_polls` on      |
//! | `corral_scope_task_tree_on` | the same with `corral::track_tasks(true)`         |
//! | `corral_local_scope`   | `corral::local_scope`, handles dropped                |
//! | `futures_unordered`    | `futures::stream::FuturesUnordered`, drained          |
//! | `futures_buffered`     | `futures_buffered::FuturesUnordered`, drained         |
//! | `futures_buffered_boxed` | the same holding `Pin<Box<dyn Future>>`, as a scope holds children of any type |
//! | `async_executor_local` | `async_executor::LocalExecutor`, each task awaited    |
//! | `tokio_joinset`        | `tokio::task::JoinSet` on a current-thread runtime   |
//!
//! for N in 1 000, 100 000 and 1 000 000. Criterion reports time per child
//! (`Throughput::Elements(N)`). A last group, `join_all/100000`, runs
//! `corral::join_all` of N children against futures-buffered's and
//! futures-util's `join_all`.
//!
//! Before the timing runs, each contender runs once at N = 100 000 under a
//! counting global allocator, and a table of bytes and allocations per child
//! is printed to stdout.
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p corral-bench --bench scope
//! ```
//!
//! (append `-- --quick`, or e.g. `-- --warm-up-time 1 --measurement-time 3`,
//! for a shorter run).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::StreamExt;
use futures::executor::block_on;
use tokio::runtime::Runtime;

/// The sizes benchmarked.
const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];

/// The size at which allocations per child are counted.
const ALLOC_N: usize = 100_000;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/yield_once.rs"]
mod yield_once;
use counting_alloc::{Counting, count_allocs};
use yield_once::yield_once;

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------

/// The one child every contender runs N of.
async fn child() -> Result<(), ()> {
    yield_once().await;
    Ok(())
}

// ---------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------
//
// All but tokio are driven by `futures::executor::block_on`, so the outer
// executor is the same and only the spawn/join machinery differs. Tokio's
// `JoinSet` needs tasks on a tokio runtime, so it gets a current-thread
// runtime (built once, outside the timed region) and its `block_on`.

fn corral_scope(n: usize) {
    block_on(corral::scope(|s| async move {
        for _ in 0..n {
            // Dropping a handle detaches nothing: the scope still waits.
            // (`drop`, not `let _ =`, which clippy flags on futures.)
            drop(s.spawn(child()));
        }
        Ok::<_, ()>(())
    }))
    .unwrap();
}

fn corral_local_scope(n: usize) {
    block_on(corral::local_scope(|s| async move {
        for _ in 0..n {
            drop(s.spawn(child()));
        }
        Ok::<_, ()>(())
    }))
    .unwrap();
}

fn futures_unordered(n: usize) {
    block_on(async {
        let mut fu: futures::stream::FuturesUnordered<_> = (0..n).map(|_| child()).collect();
        while let Some(r) = fu.next().await {
            black_box(r).unwrap();
        }
    });
}

fn futures_buffered(n: usize) {
    block_on(async {
        let mut fu: futures_buffered::FuturesUnordered<_> = (0..n).map(|_| child()).collect();
        while let Some(r) = fu.next().await {
            black_box(r).unwrap();
        }
    });
}

/// futures-buffered holding `Pin<Box<dyn Future>>`: what it takes to hold
/// children of different types, as a scope does.
fn futures_buffered_boxed(n: usize) {
    type Boxed = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ()>>>>;
    block_on(async {
        let mut fu: futures_buffered::FuturesUnordered<Boxed> =
            (0..n).map(|_| Box::pin(child()) as Boxed).collect();
        while let Some(r) = fu.next().await {
            black_box(r).unwrap();
        }
    });
}

fn async_executor_local(n: usize) {
    let ex = async_executor::LocalExecutor::new();
    block_on(ex.run(async {
        let tasks: Vec<_> = (0..n).map(|_| ex.spawn(child())).collect();
        for task in tasks {
            black_box(task.await).unwrap();
        }
    }));
}

fn tokio_joinset(rt: &Runtime, n: usize) {
    rt.block_on(async {
        let mut js = tokio::task::JoinSet::new();
        for _ in 0..n {
            js.spawn(child());
        }
        while let Some(r) = js.join_next().await {
            black_box(r).unwrap().unwrap();
        }
    });
}

/// A contender's name, and a run of it with N children.
type Contender<'rt> = (&'static str, Box<dyn Fn(usize) + 'rt>);

/// Every contender.
/// `corral_scope` with slow-poll warnings on (a threshold no poll reaches,
/// so the cost is the watch itself: two clock reads per child poll).
fn corral_scope_slow_polls_on(n: usize) {
    block_on(
        corral::Nursery::new()
            .warn_slow_polls(Duration::from_secs(3600))
            .scope(|s| async move {
                for _ in 0..n {
                    drop(s.spawn(child()));
                }
                Ok::<_, ()>(())
            }),
    )
    .unwrap();
}

/// `corral_scope` with task tracking on: each child gets a task-tree record.
fn corral_scope_task_tree_on(n: usize) {
    corral::track_tasks(true);
    let scope = corral::scope(|s| async move {
        for _ in 0..n {
            drop(s.spawn(child()));
        }
        Ok::<_, ()>(())
    });
    corral::track_tasks(false);
    block_on(scope).unwrap();
}

fn contenders(rt: &Runtime) -> Vec<Contender<'_>> {
    vec![
        ("corral_scope", Box::new(corral_scope)),
        (
            "corral_scope_slow_polls_on",
            Box::new(corral_scope_slow_polls_on),
        ),
        (
            "corral_scope_task_tree_on",
            Box::new(corral_scope_task_tree_on),
        ),
        ("corral_local_scope", Box::new(corral_local_scope)),
        ("futures_unordered", Box::new(futures_unordered)),
        ("futures_buffered", Box::new(futures_buffered)),
        ("futures_buffered_boxed", Box::new(futures_buffered_boxed)),
        ("async_executor_local", Box::new(async_executor_local)),
        ("tokio_joinset", Box::new(|n| tokio_joinset(rt, n))),
    ]
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

fn print_alloc_table(rt: &Runtime) {
    println!("allocations per child at N = {ALLOC_N}:");
    for (name, run) in contenders(rt) {
        let (bytes, allocs) = count_allocs(|| run(ALLOC_N));
        let n = ALLOC_N as f64;
        println!(
            "alloc/child  {name:<20}  {:>7.1} B  {:>5.2} allocs",
            bytes as f64 / n,
            allocs as f64 / n
        );
    }
    println!();
}

fn bench_spawn_join(c: &mut Criterion, rt: &Runtime) {
    for n in SIZES {
        let mut group = c.benchmark_group(format!("spawn_join/{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(10);
        if n >= 100_000 {
            // One iteration takes milliseconds: sample flat (the same
            // iteration count per sample) and keep the budget short.
            group.sampling_mode(SamplingMode::Flat);
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(if n >= 1_000_000 { 5 } else { 3 }));
        }
        for (name, run) in contenders(rt) {
            group.bench_with_input(BenchmarkId::from_parameter(name), &n, |b, &n| {
                b.iter(|| run(n));
            });
        }
        group.finish();
    }
}

/// `join_all` of 100 000 same-typed children: corral's against
/// futures-buffered's and futures-util's (all in one `block_on`).
fn bench_join_all(c: &mut Criterion) {
    let n = 100_000;
    let mut group = c.benchmark_group(format!("join_all/{n}"));
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("corral", |b| {
        b.iter(|| black_box(block_on(corral::join_all((0..n).map(|_| child())))))
    });
    group.bench_function("futures_buffered", |b| {
        b.iter(|| {
            black_box(block_on(futures_buffered::join_all(
                (0..n).map(|_| child()),
            )))
        })
    });
    group.bench_function("futures", |b| {
        b.iter(|| black_box(block_on(futures::future::join_all((0..n).map(|_| child())))))
    });
    group.finish();
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");

    // `--list` output is read by tools; keep it clean.
    if !std::env::args().any(|a| a == "--list") {
        print_alloc_table(&rt);
    }

    let mut c = Criterion::default().configure_from_args();
    bench_spawn_join(&mut c, &rt);
    bench_join_all(&mut c);
    c.final_summary();
}
