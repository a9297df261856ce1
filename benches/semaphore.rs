//! Semaphores: corral's (fair, weighted) against tokio's (fair, weighted) and
//! async-lock's (unfair), in the same run.
//!
//! - `uncontended`: acquire one permit and release it, in a loop, with no one
//!   else around (each acquire future is polled once; it is ready at once).
//! - `contended_local`: 1 000 tasks share 10 permits; each acquires, yields
//!   once, releases, 100 times over, on one thread (an
//!   `async_executor::LocalExecutor`). Time per acquire.
//! - `contended_2_threads`: the same with owned permits on an
//!   `async_executor::Executor` run by 2 threads.
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p corral-bench --bench semaphore
//! ```

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_executor::{Executor, LocalExecutor};
use criterion::{Criterion, SamplingMode, Throughput};

#[path = "support/yield_once.rs"]
mod yield_once;
use yield_once::yield_once;

const TASKS: usize = 1_000;
const PERMITS: usize = 10;
const ROUNDS: usize = 100;

fn ready<F: Future>(fut: F) -> F::Output {
    let fut = pin!(fut);
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an uncontended acquire waited"),
    }
}

fn bench_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    let corral = corral::Semaphore::new(PERMITS);
    group.bench_function("corral", |b| {
        b.iter(|| drop(black_box(ready(corral.acquire()))))
    });
    let tokio = tokio::sync::Semaphore::new(PERMITS);
    group.bench_function("tokio", |b| {
        b.iter(|| drop(black_box(ready(tokio.acquire()).unwrap())))
    });
    let async_lock = async_lock::Semaphore::new(PERMITS);
    group.bench_function("async_lock", |b| {
        b.iter(|| drop(black_box(ready(async_lock.acquire()))))
    });
    group.finish();
}

/// Runs `TASKS` tasks made by `task` to completion on a local executor.
fn run_local<F: Future<Output = ()>>(task: impl Fn() -> F) {
    let ex = LocalExecutor::new();
    let tasks: Vec<_> = (0..TASKS).map(|_| ex.spawn(task())).collect();
    futures::executor::block_on(ex.run(async {
        for t in tasks {
            t.await;
        }
    }));
}

/// Runs `TASKS` tasks made by `task` on an executor run by two threads.
fn run_two_threads<F: Future<Output = ()> + Send + 'static>(
    ex: &Arc<Executor<'static>>,
    task: impl Fn() -> F,
) {
    let tasks: Vec<_> = (0..TASKS).map(|_| ex.spawn(task())).collect();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let helper = {
        let ex = ex.clone();
        std::thread::spawn(move || futures::executor::block_on(ex.run(stopped.recv())))
    };
    futures::executor::block_on(ex.run(async {
        for t in tasks {
            t.await;
        }
    }));
    drop(stop);
    let _ = helper.join();
}

fn contended_group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements((TASKS * ROUNDS) as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group
}

fn bench_contended_local(c: &mut Criterion) {
    let mut group = contended_group(c, "contended_local");
    group.bench_function("corral", |b| {
        b.iter(|| {
            let sem = corral::Semaphore::new(PERMITS);
            let sem = &sem;
            run_local(|| async move {
                for _ in 0..ROUNDS {
                    let _p = sem.acquire().await;
                    yield_once().await;
                }
            })
        })
    });
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let sem = tokio::sync::Semaphore::new(PERMITS);
            let sem = &sem;
            run_local(|| async move {
                for _ in 0..ROUNDS {
                    let _p = sem.acquire().await.unwrap();
                    yield_once().await;
                }
            })
        })
    });
    group.bench_function("async_lock", |b| {
        b.iter(|| {
            let sem = async_lock::Semaphore::new(PERMITS);
            let sem = &sem;
            run_local(|| async move {
                for _ in 0..ROUNDS {
                    let _p = sem.acquire().await;
                    yield_once().await;
                }
            })
        })
    });
    group.finish();
}

fn bench_contended_two_threads(c: &mut Criterion) {
    let ex = Arc::new(Executor::new());
    let mut group = contended_group(c, "contended_2_threads");
    group.bench_function("corral", |b| {
        b.iter(|| {
            let sem = Arc::new(corral::Semaphore::new(PERMITS));
            run_two_threads(&ex, || {
                let sem = sem.clone();
                async move {
                    for _ in 0..ROUNDS {
                        let _p = sem.clone().acquire_owned().await;
                        yield_once().await;
                    }
                }
            })
        })
    });
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let sem = Arc::new(tokio::sync::Semaphore::new(PERMITS));
            run_two_threads(&ex, || {
                let sem = sem.clone();
                async move {
                    for _ in 0..ROUNDS {
                        let _p = sem.clone().acquire_owned().await.unwrap();
                        yield_once().await;
                    }
                }
            })
        })
    });
    group.bench_function("async_lock", |b| {
        b.iter(|| {
            let sem = Arc::new(async_lock::Semaphore::new(PERMITS));
            run_two_threads(&ex, || {
                let sem = sem.clone();
                async move {
                    for _ in 0..ROUNDS {
                        let _p = sem.acquire_arc().await;
                        yield_once().await;
                    }
                }
            })
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_uncontended(&mut c);
    bench_contended_local(&mut c);
    bench_contended_two_threads(&mut c);
    c.final_summary();
}
