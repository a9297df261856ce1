//! Deadlines: what a timeout costs when it never fires.
//!
//! Three contenders wrap the same future with a 10-second deadline:
//!
//! | name        | what it uses                                                        |
//! |-------------|---------------------------------------------------------------------|
//! | `corral`    | `corral::time::timeout` (default async-io backend behind the wheel)  |
//! | `tokio`     | `tokio::time::timeout` on a current-thread runtime with time enabled |
//! | `async_io`  | the future raced with an `async_io::Timer::after` created lazily (a   |
//! |             | hand-written named future, the leanest form)                          |
//!
//! Groups:
//!
//! - `ready`: the future is ready on its first poll (create, poll once, drop).
//!   No contender should touch a timer; this is the price of the wrapper.
//! - `pending_once/100000`: 100 000 timeouts in a `FuturesUnordered`, each
//!   around a future that is `Pending` once (so its timer is armed) and then
//!   ready (so the timer is cancelled). `futures_unordered_alone` runs the
//!   same futures without a deadline: the floor the others stand on.
//! - `arm_cancel/N`: with N other timers already armed and pending, arm one
//!   more (poll a fresh timeout around a pending future once) and cancel it
//!   (drop it); N in 1 000, 100 000, 1 000 000. Flat is the goal.
//! - `current_deadline`: the call outside any timeout, and inside one and three
//!   nested `timeout_at`s (creation and one poll included).
//!
//! Before the timing runs, the heap growth per armed timeout is printed, with
//! each contender's `size_of` (the counting allocator nets the bytes allocated
//! and freed while 100 000 timeouts are armed, minus the boxes holding them).
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p corral-bench --bench time
//! ```

use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::runtime::Runtime;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/yield_once.rs"]
mod yield_once;
use counting_alloc::{Counting, net_heap};
use yield_once::yield_once;

#[global_allocator]
static GLOBAL: Counting = Counting;

const DEADLINE: Duration = Duration::from_secs(10);

pin_project_lite::pin_project! {
    /// `fut` raced with an async-io timer that is created only when `fut`
    /// first returns `Pending` (so a future that is ready at once never reads
    /// the clock either): the leanest async-io timeout we could write.
    struct AsyncIoTimeout<F> {
        #[pin]
        fut: F,
        duration: Duration,
        timer: Option<async_io::Timer>,
    }
}

impl<F: Future> Future for AsyncIoTimeout<F> {
    type Output = Result<F::Output, ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let duration = *this.duration;
        let timer = this
            .timer
            .get_or_insert_with(|| async_io::Timer::after(duration));
        Pin::new(timer).poll(cx).map(|_| Err(()))
    }
}

fn async_io_timeout<F: Future>(duration: Duration, fut: F) -> AsyncIoTimeout<F> {
    AsyncIoTimeout {
        fut,
        duration,
        timer: None,
    }
}

fn poll_noop<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

fn bench_ready(c: &mut Criterion, rt: &Runtime) {
    let mut group = c.benchmark_group("ready");
    group.bench_function("corral", |b| {
        b.iter(|| {
            let t = pin!(corral::time::timeout(black_box(DEADLINE), async { 7u32 }));
            black_box(poll_noop(t))
        })
    });
    let _in_rt = rt.enter();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let t = pin!(tokio::time::timeout(black_box(DEADLINE), async { 7u32 }));
            black_box(poll_noop(t))
        })
    });
    group.bench_function("async_io", |b| {
        b.iter(|| {
            let t = pin!(async_io_timeout(black_box(DEADLINE), async { 7u32 }));
            black_box(poll_noop(t))
        })
    });
    group.finish();
}

/// What `current_deadline()` costs: outside any timeout, and inside one or
/// three nested `timeout_at`s (the futures are ready at once, so the figure
/// includes creating and polling the timeouts; compare with `ready/corral`).
fn bench_current_deadline(c: &mut Criterion) {
    use corral::time::{current_deadline, timeout_at};
    let mut group = c.benchmark_group("current_deadline");
    let at = std::time::Instant::now() + DEADLINE;
    group.bench_function("outside", |b| b.iter(|| black_box(current_deadline())));
    group.bench_function("inside_1", |b| {
        b.iter(|| {
            let t = pin!(timeout_at(black_box(at), async { current_deadline() }));
            black_box(poll_noop(t))
        })
    });
    group.bench_function("inside_3", |b| {
        b.iter(|| {
            let inner = timeout_at(at, timeout_at(at, async { current_deadline() }));
            let t = pin!(timeout_at(black_box(at), inner));
            black_box(poll_noop(t))
        })
    });
    group.finish();
}

const PENDING_N: usize = 100_000;

fn drain<F: Future>(futs: FuturesUnordered<F>) -> usize {
    futures::executor::block_on(futs.count())
}

fn bench_pending_once(c: &mut Criterion, rt: &Runtime) {
    let mut group = c.benchmark_group(format!("pending_once/{PENDING_N}"));
    group.throughput(Throughput::Elements(PENDING_N as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("futures_unordered_alone", |b| {
        b.iter(|| drain((0..PENDING_N).map(|_| yield_once()).collect()))
    });
    group.bench_function("corral", |b| {
        b.iter(|| {
            drain(
                (0..PENDING_N)
                    .map(|_| corral::time::timeout(DEADLINE, yield_once()))
                    .collect(),
            )
        })
    });
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let futs: FuturesUnordered<_> = (0..PENDING_N)
                    .map(|_| tokio::time::timeout(DEADLINE, yield_once()))
                    .collect();
                futs.count().await
            })
        })
    });
    group.bench_function("async_io", |b| {
        b.iter(|| {
            drain(
                (0..PENDING_N)
                    .map(|_| async_io_timeout(DEADLINE, yield_once()))
                    .collect(),
            )
        })
    });
    group.finish();
}

/// Polls every future of `futs` once, so that each arms its timer.
fn arm_all<F: Future>(futs: &mut [Pin<Box<F>>]) {
    for f in futs {
        assert!(poll_noop(f.as_mut()).is_pending());
    }
}

fn bench_arm_cancel(c: &mut Criterion, rt: &Runtime) {
    let _in_rt = rt.enter();
    for n in [1_000, 100_000, 1_000_000] {
        let mut group = c.benchmark_group(format!("arm_cancel/{n}"));
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        {
            let mut others: Vec<_> = (0..n)
                .map(|_| Box::pin(corral::time::sleep(DEADLINE)))
                .collect();
            arm_all(&mut others);
            group.bench_function(BenchmarkId::from_parameter("corral"), |b| {
                b.iter(|| {
                    let t = pin!(corral::time::timeout(
                        DEADLINE,
                        std::future::pending::<()>()
                    ));
                    black_box(poll_noop(t))
                })
            });
        }
        {
            let mut others: Vec<_> = (0..n)
                .map(|_| Box::pin(tokio::time::sleep(DEADLINE)))
                .collect();
            arm_all(&mut others);
            group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
                b.iter(|| {
                    let t = pin!(tokio::time::timeout(DEADLINE, std::future::pending::<()>()));
                    black_box(poll_noop(t))
                })
            });
        }
        {
            let mut others: Vec<_> = (0..n)
                .map(|_| Box::pin(async_io::Timer::after(DEADLINE)))
                .collect();
            arm_all(&mut others);
            group.bench_function(BenchmarkId::from_parameter("async_io"), |b| {
                b.iter(|| {
                    let t = pin!(async_io_timeout(DEADLINE, std::future::pending::<()>()));
                    black_box(poll_noop(t))
                })
            });
        }
        group.finish();
    }
}

/// Heap bytes per armed timeout while `ALLOC_N` are armed, and `size_of`.
fn print_memory_table(rt: &Runtime) {
    const ALLOC_N: usize = 100_000;
    let _in_rt = rt.enter();
    fn measure<F: Future>(make: impl Fn() -> F) -> (usize, usize) {
        let mut futs = Vec::with_capacity(ALLOC_N);
        let bytes = net_heap(|| {
            for _ in 0..ALLOC_N {
                let mut f = Box::pin(make());
                assert!(poll_noop(f.as_mut()).is_pending());
                futs.push(f);
            }
        });
        drop(futs);
        // Subtract the boxes themselves: they hold the futures, whose size
        // is reported separately.
        let boxes = (ALLOC_N * std::mem::size_of::<F>()) as isize;
        (
            ((bytes - boxes) / ALLOC_N as isize) as usize,
            std::mem::size_of::<F>(),
        )
    }
    let never = std::future::pending::<()>;
    let rows = [
        (
            "corral",
            measure(|| corral::time::timeout(DEADLINE, never())),
        ),
        ("tokio", measure(|| tokio::time::timeout(DEADLINE, never()))),
        ("async_io", measure(|| async_io_timeout(DEADLINE, never()))),
    ];
    println!("memory per armed timeout around `pending::<()>()` ({ALLOC_N} armed):");
    println!(
        "{:<10} {:>12} {:>16}",
        "contender", "size_of (B)", "heap/timeout (B)"
    );
    for (name, (heap, size)) in rows {
        println!("{name:<10} {size:>12} {heap:>16}");
    }
    println!(
        "size_of::<corral::time::Timeout<std::future::Ready<()>>>() = {}",
        std::mem::size_of::<corral::time::Timeout<std::future::Ready<()>>>()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    if !std::env::args().any(|a| a == "--list") {
        print_memory_table(&rt);
    }
    let mut c = Criterion::default().configure_from_args();
    bench_ready(&mut c, &rt);
    bench_current_deadline(&mut c);
    bench_pending_once(&mut c, &rt);
    bench_arm_cancel(&mut c, &rt);
    c.final_summary();
}
