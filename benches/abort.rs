//! Aborting one child among N pending: the time per abort, from the request
//! until the child's future is dropped and its handle has resolved, with N
//! children that never finish around it.
//!
//! Each contender spawns N children that stay pending forever
//! ([`parked`](parked::parked)) and waits until every one has been polled
//! once (started). Then, per iteration, it aborts K of them spread over the
//! set (every N/K-th, the offset moving by one each iteration) and awaits
//! their handles until each reports the child gone (dropping the abort
//! handle too, where there is one, so that the child's allocation is freed
//! in every contender). Only that is timed (`iter_custom`): the N spawns and
//! the respawn of the K aborted children between iterations (which keeps N
//! pending) are not.
//!
//! | name                  | the request                         | waits on                                 |
//! |-----------------------|-------------------------------------|------------------------------------------|
//! | `corral_join_handle`  | `corral::JoinHandle::abort`         | `JoinHandle::or_dropped` (`None`)        |
//! | `corral_abort_handle` | `corral::AbortHandle::abort` (taken at the spawn) | the same                   |
//! | `tokio_join_handle`   | `tokio::task::JoinHandle::abort`    | the `JoinHandle` (`Err`, cancelled)      |
//! | `tokio_abort_handle`  | `tokio::task::AbortHandle::abort` (taken at the spawn) | the same              |
//!
//! corral runs one `corral::scope` on `futures::executor::block_on`; tokio
//! runs `tokio::spawn`ed tasks on a current-thread runtime, whose `block_on`
//! future plays the body. N is 1 000, 10 000 and 100 000 with K = 100 every
//! time, so an O(1) abort shows as the same time per abort at every N.
//! Criterion reports time per abort (`Throughput::Elements(K)`).
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p corral-bench --bench abort
//! ```
//!
//! (append e.g. `-- --warm-up-time 1 --measurement-time 3` for a shorter
//! run). `examples/profile_abort.rs` counts the instructions of the same
//! workload.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::executor::block_on;
use std::sync::atomic::Ordering;
use tokio::runtime::Runtime;

#[path = "support/parked.rs"]
mod parked;
#[path = "support/yield_once.rs"]
mod yield_once;
use parked::{POLLED, all_polled, parked};

/// The numbers of pending children benchmarked.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// Children aborted per iteration.
const K: usize = 100;

/// Which handle makes the request.
#[derive(Clone, Copy)]
enum Via {
    JoinHandle,
    AbortHandle,
}

/// The K indices of iteration `iter`: every N/K-th child, shifted by one
/// each iteration so that successive iterations hit different children.
fn pick(n: usize, iter: u64, picked: &mut Vec<usize>) {
    let stride = n / K;
    let offset = (iter % stride as u64) as usize;
    picked.clear();
    picked.extend((0..K).map(|j| j * stride + offset));
}

/// Drops the abort handle of child `i`, if there are abort handles, inside
/// the timing: it holds a reference to the child's allocation (in corral and
/// in tokio), so that the allocation is freed by this drop rather than by
/// the handle's replacement after the timing, as it is freed by the join
/// handle's drop when there are none.
fn drop_abort_handle<A>(aborts: &mut [Option<A>], i: usize) {
    if let Some(abort) = aborts.get_mut(i) {
        drop(abort.take());
    }
}

// ---------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------

fn corral_abort(n: usize, via: Via, iters: u64) -> Duration {
    POLLED.store(0, Ordering::Relaxed);
    block_on(corral::scope(|s| async move {
        let mut handles: Vec<_> = (0..n).map(|_| Some(s.spawn(parked()))).collect();
        let mut aborts: Vec<_> = match via {
            Via::JoinHandle => Vec::new(),
            Via::AbortHandle => handles
                .iter()
                .map(|h| Some(h.as_ref().unwrap().abort_handle()))
                .collect(),
        };
        let mut started = n;
        all_polled(started).await;
        let mut picked = Vec::with_capacity(K);
        let mut total = Duration::ZERO;
        for iter in 0..iters {
            pick(n, iter, &mut picked);

            let begin = Instant::now();
            match via {
                Via::JoinHandle => {
                    for &i in &picked {
                        handles[i].as_ref().unwrap().abort();
                    }
                }
                Via::AbortHandle => {
                    for &i in &picked {
                        aborts[i].as_ref().unwrap().abort();
                    }
                }
            }
            for &i in &picked {
                let outcome = handles[i].take().unwrap().or_dropped().await;
                assert!(black_box(outcome).is_none());
                drop_abort_handle(&mut aborts, i);
            }
            total += begin.elapsed();

            // Back to N pending children, all started.
            for &i in &picked {
                let handle = s.spawn(parked());
                if let Via::AbortHandle = via {
                    aborts[i] = Some(handle.abort_handle());
                }
                handles[i] = Some(handle);
            }
            started += K;
            all_polled(started).await;
        }
        // The scope ends once every child is gone.
        for handle in handles.iter().flatten() {
            handle.abort();
        }
        Ok::<_, ()>(total)
    }))
    .unwrap()
}

fn tokio_abort(rt: &Runtime, n: usize, via: Via, iters: u64) -> Duration {
    POLLED.store(0, Ordering::Relaxed);
    rt.block_on(async {
        let mut handles: Vec<_> = (0..n).map(|_| Some(tokio::spawn(parked()))).collect();
        let mut aborts: Vec<_> = match via {
            Via::JoinHandle => Vec::new(),
            Via::AbortHandle => handles
                .iter()
                .map(|h| Some(h.as_ref().unwrap().abort_handle()))
                .collect(),
        };
        let mut started = n;
        all_polled(started).await;
        let mut picked = Vec::with_capacity(K);
        let mut total = Duration::ZERO;
        for iter in 0..iters {
            pick(n, iter, &mut picked);

            let begin = Instant::now();
            match via {
                Via::JoinHandle => {
                    for &i in &picked {
                        handles[i].as_ref().unwrap().abort();
                    }
                }
                Via::AbortHandle => {
                    for &i in &picked {
                        aborts[i].as_ref().unwrap().abort();
                    }
                }
            }
            for &i in &picked {
                let outcome = handles[i].take().unwrap().await;
                assert!(black_box(outcome).unwrap_err().is_cancelled());
                drop_abort_handle(&mut aborts, i);
            }
            total += begin.elapsed();

            for &i in &picked {
                let handle = tokio::spawn(parked());
                if let Via::AbortHandle = via {
                    aborts[i] = Some(handle.abort_handle());
                }
                handles[i] = Some(handle);
            }
            started += K;
            all_polled(started).await;
        }
        for handle in handles.into_iter().flatten() {
            handle.abort();
            // Awaited, so that the next set starts on an empty runtime.
            let _ = handle.await;
        }
        total
    })
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

fn bench_abort(c: &mut Criterion, rt: &Runtime) {
    type Run<'rt> = Box<dyn Fn(usize, u64) -> Duration + 'rt>;
    let contenders: [(&str, Run<'_>); 4] = [
        (
            "corral_join_handle",
            Box::new(|n, iters| corral_abort(n, Via::JoinHandle, iters)),
        ),
        (
            "corral_abort_handle",
            Box::new(|n, iters| corral_abort(n, Via::AbortHandle, iters)),
        ),
        (
            "tokio_join_handle",
            Box::new(|n, iters| tokio_abort(rt, n, Via::JoinHandle, iters)),
        ),
        (
            "tokio_abort_handle",
            Box::new(|n, iters| tokio_abort(rt, n, Via::AbortHandle, iters)),
        ),
    ];
    for n in SIZES {
        let mut group = c.benchmark_group(format!("abort_one_of/{n}"));
        group.throughput(Throughput::Elements(K as u64));
        group.sample_size(10);
        // Every sample pays the N spawns outside the timing: sample flat
        // (the same iteration count per sample) so that few samples do.
        group.sampling_mode(SamplingMode::Flat);
        for (name, run) in &contenders {
            group.bench_with_input(BenchmarkId::from_parameter(name), &n, |b, &n| {
                b.iter_custom(|iters| run(n, iters));
            });
        }
        group.finish();
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut c = Criterion::default().configure_from_args();
    bench_abort(&mut c, &rt);
    c.final_summary();
}
