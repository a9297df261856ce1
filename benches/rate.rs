//! Rate limiters: corral's `RateLimiter` (governor's GCRA on corral's clock,
//! with a FIFO queue in front) against governor's own, in the same run.
//!
//! - `check_ok`: a check that succeeds, on a quota that never runs out (a
//!   cell a nanosecond, a burst of 2³² − 1): corral's `try_acquire` and
//!   `acquire` (polled once, ready at once), governor's `check()` with its
//!   default clock (quanta) and with `MonotonicClock` (`std::time::Instant`,
//!   the clock corral reads outside a runtime), which separates the clock's
//!   cost from ours.
//! - `check_refused`: a check that is refused, on a quota that is spent (a
//!   cell an hour, burst 1): the "no" path, which builds the reply.
//! - `keyed_ok`: the keyed limiters, one key, a quota that never runs out.
//!
//! Before timing, it counts the allocations of 1 000 successful
//! `try_acquire`s and `acquire`s (none expected) and prints them.
//!
//! ```text
//! cargo bench -p corral-bench --bench rate -- --warm-up-time 1 --measurement-time 3
//! ```

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corral::resilience::{KeyedRateLimiter, Quota, RateLimiter};
use criterion::Criterion;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, count_allocs};

#[global_allocator]
static ALLOC: Counting = Counting;

fn ready<F: Future>(fut: F) -> F::Output {
    let fut = pin!(fut);
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an uncontended acquire waited"),
    }
}

/// A cell a nanosecond, a burst of `u32::MAX`: never runs out.
fn plenty() -> (Quota, governor::Quota) {
    let ours = Quota::with_period(Duration::from_nanos(1)).allow_burst(u32::MAX);
    let theirs = governor::Quota::with_period(Duration::from_nanos(1))
        .unwrap()
        .allow_burst(NonZeroU32::MAX);
    (ours, theirs)
}

/// A cell an hour, burst 1, spent.
fn spent() -> (RateLimiter, governor::DefaultDirectRateLimiter) {
    let ours = RateLimiter::new(Quota::per_hour(1));
    let theirs = governor::RateLimiter::direct(governor::Quota::per_hour(NonZeroU32::MIN));
    ours.try_acquire().unwrap();
    theirs.check().unwrap();
    (ours, theirs)
}

fn allocations() {
    let limiter = RateLimiter::new(plenty().0);
    let (bytes, allocs) = count_allocs(|| {
        for _ in 0..1_000 {
            limiter.try_acquire().unwrap();
            ready(limiter.acquire());
        }
    });
    println!(
        "rate: 1 000 try_acquire + 1 000 acquire on the success path: {allocs} allocations, {bytes} bytes"
    );
    assert_eq!(allocs, 0, "the success path allocates");
}

fn bench_check_ok(c: &mut Criterion) {
    let (ours, theirs) = plenty();
    let mut group = c.benchmark_group("check_ok");
    let corral = RateLimiter::new(ours);
    group.bench_function("corral_try_acquire", |b| {
        b.iter(|| black_box(corral.try_acquire()))
    });
    group.bench_function("corral_acquire", |b| b.iter(|| ready(corral.acquire())));
    let governor = governor::RateLimiter::direct(theirs);
    group.bench_function("governor_check", |b| b.iter(|| black_box(governor.check())));
    let monotonic =
        governor::RateLimiter::direct_with_clock(theirs, governor::clock::MonotonicClock);
    group.bench_function("governor_check_monotonic", |b| {
        b.iter(|| black_box(monotonic.check()))
    });
    group.finish();
}

fn bench_check_refused(c: &mut Criterion) {
    let (corral, governor) = spent();
    let mut group = c.benchmark_group("check_refused");
    group.bench_function("corral_try_acquire", |b| {
        b.iter(|| black_box(corral.try_acquire()))
    });
    group.bench_function("governor_check", |b| b.iter(|| black_box(governor.check())));
    group.finish();
}

fn bench_keyed_ok(c: &mut Criterion) {
    let (ours, theirs) = plenty();
    let mut group = c.benchmark_group("keyed_ok");
    let corral = KeyedRateLimiter::new(ours);
    group.bench_function("corral_try_acquire", |b| {
        b.iter(|| black_box(corral.try_acquire(&"host")))
    });
    let governor = governor::RateLimiter::hashmap(theirs);
    group.bench_function("governor_check_key", |b| {
        b.iter(|| black_box(governor.check_key(&"host")))
    });
    group.finish();
}

fn main() {
    allocations();
    let mut c = Criterion::default().configure_from_args();
    bench_check_ok(&mut c);
    bench_check_refused(&mut c);
    bench_keyed_ok(&mut c);
    c.final_summary();
}
