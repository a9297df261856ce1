//! Streams of work: results as they finish, and bounded stream processing.
//!
//! **`join_set/N`**: spawn N trivial children (each yields once, then
//! finishes) and take every result:
//!
//! | name                     | what it uses                                          |
//! |--------------------------|-------------------------------------------------------|
//! | `corral_scope`           | `corral::scope`, handles dropped (the scope joins)    |
//! | `corral_scope_handles`   | `corral::scope`, each `JoinHandle` awaited in order   |
//! | `corral_join_set`        | `corral::JoinSet` in a `scope`, drained by `join_next` |
//! | `corral_join_set_local`  | the same in a `local_scope`                           |
//! | `tokio_joinset`          | `tokio::task::JoinSet` on a current-thread runtime    |
//!
//! **`stream_unordered/N`** and **`stream_ordered/N`**: N items through an
//! async function (yields once, returns the item) with at most 64 in
//! flight, the values summed:
//!
//! | name                        | what it uses                                   |
//! |-----------------------------|------------------------------------------------|
//! | `corral_map_unordered`      | `corral::stream::map_unordered` in a `scope`   |
//! | `corral_map_unordered_local`| the same in a `local_scope`                    |
//! | `futures_buffer_unordered`  | `futures::StreamExt::buffer_unordered(64)`     |
//! | `futures_buffered_unordered`| `futures_buffered::BufferedStreamExt::buffered_unordered(64)` |
//! | `futures_concurrency_co`    | `futures_concurrency`'s `co().limit(64)`       |
//! | `corral_map_ordered`        | `corral::stream::map_ordered` in a `scope`     |
//! | `futures_buffered`          | `futures::StreamExt::buffered(64)`             |
//! | `futures_buffered_ordered`  | `futures_buffered::BufferedStreamExt::buffered_ordered(64)` |
//!
//! Everything but tokio runs on `futures::executor::block_on`. Before the
//! timing runs, the peak heap of each stream contender at 10 000 and
//! 1 000 000 items is printed (a counting allocator): flat in the input's
//! length means the input is pulled only when there is room.
//!
//! ```text
//! cargo bench -p corral-bench --bench stream
//! ```

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::StreamExt;
use futures::executor::block_on;
use tokio::runtime::Runtime;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/yield_once.rs"]
mod yield_once;
use counting_alloc::{Counting, peak_heap};
use yield_once::yield_once;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Items in flight at most, for every stream contender.
const LIMIT: usize = 64;

/// The one child the join-set contenders run N of.
async fn child() -> Result<(), ()> {
    yield_once().await;
    Ok(())
}

/// The work each stream item does, for the peers (no `Result`).
async fn work(x: u64) -> u64 {
    yield_once().await;
    x
}

/// The same for corral's maps, whose items are children (`Result`s).
async fn child_work(x: u64) -> Result<u64, ()> {
    Ok(work(x).await)
}

fn input(n: usize) -> futures::stream::Iter<std::ops::Range<u64>> {
    futures::stream::iter(0..n as u64)
}

// ---------------------------------------------------------------------------
// join_set
// ---------------------------------------------------------------------------

fn corral_scope(n: usize) {
    block_on(corral::scope(|s| async move {
        for _ in 0..n {
            drop(s.spawn(child()));
        }
        Ok::<_, ()>(())
    }))
    .unwrap();
}

fn corral_scope_handles(n: usize) {
    block_on(corral::scope(|s| async move {
        let handles: Vec<_> = (0..n).map(|_| s.spawn(child())).collect();
        for h in handles {
            h.await;
        }
        Ok::<_, ()>(())
    }))
    .unwrap();
}

fn corral_join_set(n: usize) {
    block_on(corral::scope(|s| async move {
        let mut set = corral::JoinSet::new(&s);
        for _ in 0..n {
            set.spawn(child());
        }
        while let Some(v) = set.join_next().await {
            black_box(v);
        }
        Ok::<_, ()>(())
    }))
    .unwrap();
}

fn corral_join_set_local(n: usize) {
    block_on(corral::local_scope(|s| async move {
        let mut set = corral::JoinSet::new(&s);
        for _ in 0..n {
            set.spawn(child());
        }
        while let Some(v) = set.join_next().await {
            black_box(v);
        }
        Ok::<_, ()>(())
    }))
    .unwrap();
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

// ---------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------

fn corral_map_unordered(n: usize) -> u64 {
    block_on(corral::scope(|s| async move {
        let values = corral::stream::map_unordered(&s, input(n), LIMIT, child_work);
        Ok::<_, ()>(values.fold(0, |a, b| async move { a + b }).await)
    }))
    .unwrap()
}

fn corral_map_unordered_local(n: usize) -> u64 {
    block_on(corral::local_scope(|s| async move {
        let values = corral::stream::map_unordered(&s, input(n), LIMIT, child_work);
        Ok::<_, ()>(values.fold(0, |a, b| async move { a + b }).await)
    }))
    .unwrap()
}

fn corral_map_ordered(n: usize) -> u64 {
    block_on(corral::scope(|s| async move {
        let values = corral::stream::map_ordered(&s, input(n), LIMIT, child_work);
        Ok::<_, ()>(values.fold(0, |a, b| async move { a + b }).await)
    }))
    .unwrap()
}

fn futures_buffer_unordered(n: usize) -> u64 {
    block_on(
        input(n)
            .map(work)
            .buffer_unordered(LIMIT)
            .fold(0, |a, b| async move { a + b }),
    )
}

fn futures_buffered(n: usize) -> u64 {
    block_on(
        input(n)
            .map(work)
            .buffered(LIMIT)
            .fold(0, |a, b| async move { a + b }),
    )
}

fn futures_buffered_unordered(n: usize) -> u64 {
    use futures_buffered::BufferedStreamExt;
    block_on(
        input(n)
            .map(work)
            .buffered_unordered(LIMIT)
            .fold(0, |a, b| async move { a + b }),
    )
}

fn futures_buffered_ordered(n: usize) -> u64 {
    use futures_buffered::BufferedStreamExt;
    block_on(
        input(n)
            .map(work)
            .buffered_ordered(LIMIT)
            .fold(0, |a, b| async move { a + b }),
    )
}

fn futures_concurrency_co(n: usize) -> u64 {
    use futures_concurrency::prelude::*;
    let sum = std::cell::Cell::new(0);
    block_on(
        input(n)
            .co()
            .limit(NonZeroUsize::new(LIMIT))
            .map(work)
            .for_each(|x| {
                sum.set(sum.get() + x);
                async {}
            }),
    );
    sum.get()
}

/// A contender's name, and a run of it with N children or items.
type Contender<'rt> = (&'static str, Box<dyn Fn(usize) + 'rt>);

fn join_set_contenders(rt: &Runtime) -> Vec<Contender<'_>> {
    vec![
        ("corral_scope", Box::new(corral_scope)),
        ("corral_scope_handles", Box::new(corral_scope_handles)),
        ("corral_join_set", Box::new(corral_join_set)),
        ("corral_join_set_local", Box::new(corral_join_set_local)),
        ("tokio_joinset", Box::new(|n| tokio_joinset(rt, n))),
    ]
}

/// A stream contender: its name and a run that returns the sum.
type StreamContender = (&'static str, fn(usize) -> u64);

const UNORDERED: [StreamContender; 5] = [
    ("corral_map_unordered", corral_map_unordered),
    ("corral_map_unordered_local", corral_map_unordered_local),
    ("futures_buffer_unordered", futures_buffer_unordered),
    ("futures_buffered_unordered", futures_buffered_unordered),
    ("futures_concurrency_co", futures_concurrency_co),
];

const ORDERED: [StreamContender; 3] = [
    ("corral_map_ordered", corral_map_ordered),
    ("futures_buffered", futures_buffered),
    ("futures_buffered_ordered", futures_buffered_ordered),
];

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

/// The peak heap of each stream contender at 10k and 1M items, and the
/// ratio; each run's sum is checked.
fn print_peaks() {
    println!("peak heap, limit {LIMIT}: 10 000 items | 1 000 000 items | ratio");
    for (name, run) in UNORDERED.iter().chain(ORDERED.iter()) {
        let mut peaks = [0isize; 2];
        for (peak, n) in peaks.iter_mut().zip([10_000usize, 1_000_000]) {
            let mut sum = 0;
            *peak = peak_heap(|| sum = run(n));
            let n = n as u64;
            assert_eq!(sum, n * (n - 1) / 2, "{name} lost items");
        }
        println!(
            "peak_heap  {name:<28}  {:>9} B  {:>9} B  {:>5.2}",
            peaks[0],
            peaks[1],
            peaks[1] as f64 / peaks[0] as f64
        );
    }
    println!();
}

fn group(
    c: &mut Criterion,
    name: String,
    n: usize,
) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    if !std::env::args().any(|a| a == "--list") {
        print_peaks();
    }
    let mut c = Criterion::default().configure_from_args();
    let n = 100_000;
    let mut g = group(&mut c, format!("join_set/{n}"), n);
    for (name, run) in join_set_contenders(&rt) {
        g.bench_with_input(BenchmarkId::from_parameter(name), &n, |b, &n| {
            b.iter(|| run(n))
        });
    }
    g.finish();
    for (kind, contenders) in [("unordered", &UNORDERED[..]), ("ordered", &ORDERED[..])] {
        let mut g = group(&mut c, format!("stream_{kind}/{n}"), n);
        for (name, run) in contenders {
            g.bench_with_input(BenchmarkId::from_parameter(name), &n, |b, &n| {
                b.iter(|| black_box(run(n)))
            });
        }
        g.finish();
    }
    c.final_summary();
}
