//! Parallel children: `spawn_on` + join of N trivial children, against
//! spawning the same futures directly on the same runtime and awaiting their
//! handles, in the same run.
//!
//! | name                  | what it does                                             |
//! |-----------------------|----------------------------------------------------------|
//! | `async_executor/direct` | `Executor::spawn` N tasks, await each `Task`            |
//! | `async_executor/corral` | a `corral::scope` that `spawn_on(&ex, ..)`s N children and joins their handles |
//! | `tokio/direct`        | `Handle::spawn` N tasks, await each `JoinHandle`         |
//! | `tokio/corral`        | the same scope with `spawn_on(&handle, ..)`              |
//!
//! The async-executor runs on the bench thread (`block_on(ex.run(..))`); tokio
//! is a 2-worker multi-thread runtime. N is 10 000 and 100 000; criterion
//! reports time per child.
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p corral-bench --bench spawn
//! ```

use std::time::Duration;

use async_executor::Executor;
use criterion::{Criterion, SamplingMode, Throughput};

async fn child(i: usize) -> Result<usize, ()> {
    Ok(i)
}

fn async_executor_direct(ex: &Executor<'static>, n: usize) -> usize {
    futures::executor::block_on(ex.run(async {
        let tasks: Vec<_> = (0..n).map(|i| ex.spawn(child(i))).collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    }))
}

fn async_executor_corral(ex: &Executor<'static>, n: usize) -> usize {
    futures::executor::block_on(ex.run(corral::scope(|s| async move {
        let handles: Vec<_> = (0..n).map(|i| s.spawn_on(ex, child(i))).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        Ok::<_, ()>(sum)
    })))
    .unwrap()
}

fn tokio_direct(rt: &tokio::runtime::Runtime, n: usize) -> usize {
    rt.block_on(async {
        let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(child(i))).collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap().unwrap();
        }
        sum
    })
}

fn tokio_corral(rt: &tokio::runtime::Runtime, n: usize) -> usize {
    let handle = rt.handle();
    rt.block_on(corral::scope(|s| async move {
        let handles: Vec<_> = (0..n).map(|i| s.spawn_on(handle, child(i))).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        Ok::<_, ()>(sum)
    }))
    .unwrap()
}

fn main() {
    let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    let mut c = Criterion::default().configure_from_args();
    for n in [10_000, 100_000] {
        let mut group = c.benchmark_group(format!("spawn_on_join/{n}"));
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(10);
        group.sampling_mode(SamplingMode::Flat);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("async_executor/direct", |b| {
            b.iter(|| async_executor_direct(ex, n))
        });
        group.bench_function("async_executor/corral", |b| {
            b.iter(|| async_executor_corral(ex, n))
        });
        group.bench_function("tokio/direct", |b| b.iter(|| tokio_direct(&rt, n)));
        group.bench_function("tokio/corral", |b| b.iter(|| tokio_corral(&rt, n)));
        group.finish();
    }
    c.final_summary();
}
