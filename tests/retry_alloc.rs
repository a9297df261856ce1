//! Retry and hedge allocate nothing on the path where the first attempt
//! succeeds: a global allocator counts the allocations this thread makes
//! while such a future is built and polled to completion. (A test binary of
//! its own: the counting allocator would see every other test's too.)
#![cfg(feature = "async-io")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::{Future, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corral::resilience::{Backoff, hedge, retry};

/// Counts the allocations of the threads that turned counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Builds the future with `make` and polls it once (it must be ready),
/// counting this thread's allocations meanwhile.
fn allocations_to_finish<F: Future>(make: impl FnOnce() -> F) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let ready = {
        let mut fut = pin!(make());
        fut.as_mut().poll(&mut cx).is_ready()
    };
    COUNTING.with(|c| c.set(false));
    assert!(ready, "the first attempt succeeds at once");
    ALLOCATIONS.with(Cell::get)
}

/// The counter itself works: a `Box` is counted.
#[test]
fn the_counter_sees_an_allocation() {
    let n = allocations_to_finish(|| async { drop(std::hint::black_box(Box::new(1u8))) });
    assert_eq!(n, 1);
}

#[test]
fn a_retry_whose_first_attempt_succeeds_allocates_nothing() {
    let policy = Backoff::exponential(Duration::from_millis(100))
        .max_attempts(5)
        .jitter();
    let n = allocations_to_finish(|| {
        retry(policy, || ready(Ok::<_, std::io::Error>(7)))
            .when(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
            .notify(|_, _| {})
    });
    assert_eq!(n, 0);
}

/// With a `max_elapsed` budget the first poll reads the clock (set up once
/// per process, so that is done first): still nothing allocated.
#[test]
fn a_retry_with_a_budget_allocates_nothing_either() {
    let warm_up = || retry(Backoff::constant(Duration::ZERO), || ready(Ok::<_, ()>(1)));
    allocations_to_finish(|| warm_up().max_elapsed(Duration::from_secs(1)));
    let n = allocations_to_finish(|| warm_up().max_elapsed(Duration::from_secs(1)));
    assert_eq!(n, 0);
}

#[test]
fn a_hedge_whose_first_attempt_succeeds_allocates_nothing() {
    let n = allocations_to_finish(|| hedge(Duration::from_millis(50), || ready(Ok::<_, ()>(7))));
    assert_eq!(n, 0);
}

/// The two composed, as the crawl would: a retried hedged request.
#[test]
fn a_retried_hedge_allocates_nothing() {
    let n = allocations_to_finish(|| {
        retry(Backoff::exponential(Duration::from_millis(100)), || {
            hedge(Duration::from_millis(50), || async { Ok::<_, u16>(200) })
        })
        .when(|status| *status == 503)
    });
    assert_eq!(n, 0);
}

/// Pending once, then ready.
fn slow_once<T>(value: T) -> impl Future<Output = T> {
    let mut value = Some(value);
    let mut pended = false;
    std::future::poll_fn(move |_| {
        if std::mem::replace(&mut pended, true) {
            Poll::Ready(value.take().expect("polled after completion"))
        } else {
            Poll::Pending
        }
    })
}

/// Polls the future (a noop waker) until it is ready, counting this
/// thread's allocations meanwhile; the second of two runs, so that the
/// timers' one-time set-up (the first timer of the process, a shard's
/// table) is not counted.
fn allocations_once_warm<F: Future>(make: impl Fn() -> F) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut counts = [0; 2];
    for count in &mut counts {
        ALLOCATIONS.with(|n| n.set(0));
        COUNTING.with(|c| c.set(true));
        {
            let mut fut = pin!(make());
            while fut.as_mut().poll(&mut cx).is_pending() {
                std::thread::yield_now();
            }
        }
        COUNTING.with(|c| c.set(false));
        *count = ALLOCATIONS.with(Cell::get);
    }
    counts[1]
}

/// A first attempt that pends arms the hedge's timer: once the timers are
/// set up, that allocates nothing either.
#[test]
fn a_hedge_that_arms_its_timer_allocates_nothing_once_timers_are_warm() {
    let n = allocations_once_warm(|| hedge(Duration::from_secs(60), || slow_once(7)));
    assert_eq!(n, 0);
}

/// A failure, a zero delay and a second attempt: the policy is built and
/// slept with no allocation.
#[test]
fn a_retry_that_retries_allocates_nothing_once_timers_are_warm() {
    let n = allocations_once_warm(|| {
        let mut failed = false;
        retry(Backoff::constant(Duration::ZERO).jitter(), move || {
            let out = if std::mem::replace(&mut failed, true) {
                Ok(1)
            } else {
                Err(())
            };
            slow_once(out)
        })
    });
    assert_eq!(n, 0);
}
