//! `corral::resilience::{RateLimiter, KeyedRateLimiter, Quota}` (feature
//! `rate-limit`): bursts, FIFO order among waiters, cancel safety, keys
//! limited independently, idle keys forgotten, bad input. The tests of
//! `rate/behaviour.rs` run for `scope` and `local_scope`, on smol and on the
//! minimal executor; the plain ones on both executors. No test reads the
//! wall clock: quotas are either so slow (a cell an hour) that nothing comes
//! back during a test, or so fast (a cell a millisecond or less) that
//! waiting costs nothing, and the assertions are on order and counts.
#![cfg(feature = "rate-limit")]

#[macro_use]
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corral::resilience::{KeyedRateLimiter, Quota, RateLimiter};
use corral::time::{VirtualClock, timeout};
use support::{counting_waker, poll_with, yield_now, yield_times};

/// One cell an hour, `burst` at once: nothing comes back during a test.
fn hourly(burst: u32) -> Quota {
    Quota::with_period(Duration::from_secs(3600)).allow_burst(burst)
}

/// One cell every 200 µs, one at a time: waiting is quick.
fn quick() -> Quota {
    Quota::with_period(Duration::from_micros(200))
}

/// The virtual clock's time since `start`, in milliseconds.
fn ms(clock: &VirtualClock, start: Instant) -> u64 {
    (clock.now() - start).as_millis() as u64
}

/// Runs `body` on a fresh auto-jumping virtual clock, handing it the clock.
fn on_virtual_time<F: Future<Output = ()>>(
    body: impl FnOnce(VirtualClock) -> F,
) -> impl Future<Output = ()> {
    let clock = VirtualClock::autojump();
    clock.run(body(clock.clone()))
}

/// A waiter at the head of `limiter`'s queue that nobody polls again, so
/// it holds everyone behind it until it is dropped, however much time
/// passes. (Its first poll may find a cell come back since the limiter was
/// drained; then it tries again.)
fn stuck_head(limiter: &RateLimiter) -> Pin<Box<corral::resilience::Acquire<'_>>> {
    loop {
        while limiter.try_acquire().is_ok() {}
        let mut head = Box::pin(limiter.acquire());
        if support::poll_once(&mut head).is_pending() {
            return head;
        }
    }
}

/// The tests of `rate/behaviour.rs` on `corral::scope`.
#[path = "rate"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `rate/behaviour.rs` on `corral::local_scope`.
#[path = "rate"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

mod plain {
    use super::*;

    /// The burst goes through at once, then `try_acquire` is refused and
    /// says when to ask again; `acquire` waits for the next cell.
    async fn the_burst_goes_through_then_callers_wait() {
        let limiter = RateLimiter::new(hourly(3));
        for i in 0..3 {
            assert!(limiter.try_acquire().is_ok(), "cell {i} of the burst");
        }
        let refused = limiter.try_acquire().unwrap_err();
        assert!(refused.wait_time() <= Duration::from_secs(3600));
        assert!(refused.wait_time() > Duration::from_secs(3000));
        assert_eq!(refused.to_string(), "rate limited: no cell free yet");
        // On a quick limiter, waiting gets the next cells.
        let limiter = RateLimiter::new(quick().allow_burst(2));
        while limiter.try_acquire().is_ok() {}
        limiter.acquire().await;
        limiter.acquire_n(2).await;
    }

    /// A waiter for 2 cells at the head holds back the one cell that is
    /// free: a later waiter for 1 queues behind it, and `try_acquire` does
    /// not barge past either. Dropped, the head takes nothing and passes its
    /// turn: the next waiter is woken and gets the free cell, the only one.
    async fn a_dropped_head_passes_its_turn_and_takes_no_cell() {
        let limiter = RateLimiter::new(hourly(2));
        limiter.try_acquire().unwrap(); // one of two left
        let (head_wakes, head_waker) = counting_waker();
        let mut head = Box::pin(limiter.acquire_n(2));
        assert!(poll_with(&mut head, &head_waker).is_pending(), "2 > 1 free");
        let (next_wakes, next_waker) = counting_waker();
        let mut next = Box::pin(limiter.acquire());
        assert!(
            poll_with(&mut next, &next_waker).is_pending(),
            "queued behind the head though a cell is free"
        );
        assert!(limiter.try_acquire().is_err(), "no barging past the queue");
        drop(head);
        assert_eq!(head_wakes.0.load(Ordering::SeqCst), 0);
        assert_eq!(next_wakes.0.load(Ordering::SeqCst), 1, "the turn passed on");
        assert!(
            poll_with(&mut next, &next_waker).is_ready(),
            "it got the cell"
        );
        assert!(
            limiter.try_acquire().is_err(),
            "and that was the only one: the dropped head took none"
        );
        yield_now().await;
    }

    /// A waiter dropped in the middle of the queue wakes nobody and takes
    /// nothing; the ones on either side keep their places.
    async fn a_dropped_middle_waiter_leaves_the_queue() {
        let limiter = RateLimiter::new(hourly(2));
        limiter.try_acquire().unwrap();
        let (_, waker) = counting_waker();
        let mut head = Box::pin(limiter.acquire_n(2));
        assert!(poll_with(&mut head, &waker).is_pending());
        let (middle_wakes, middle_waker) = counting_waker();
        let mut middle = Box::pin(limiter.acquire());
        assert!(poll_with(&mut middle, &middle_waker).is_pending());
        let (last_wakes, last_waker) = counting_waker();
        let mut last = Box::pin(limiter.acquire());
        assert!(poll_with(&mut last, &last_waker).is_pending());
        drop(middle);
        assert_eq!(last_wakes.0.load(Ordering::SeqCst), 0, "not the head yet");
        assert!(poll_with(&mut last, &last_waker).is_pending());
        drop(head);
        assert_eq!(middle_wakes.0.load(Ordering::SeqCst), 0);
        assert_eq!(last_wakes.0.load(Ordering::SeqCst), 1);
        assert!(poll_with(&mut last, &last_waker).is_ready());
        assert!(limiter.try_acquire().is_err());
        yield_now().await;
    }

    /// An acquire future dropped before its first poll, or after it
    /// completed, changes nothing.
    async fn an_unpolled_or_finished_acquire_drops_cleanly() {
        let limiter = RateLimiter::new(hourly(1));
        drop(limiter.acquire());
        limiter.acquire().await;
        assert!(limiter.try_acquire().is_err(), "the one cell went once");
    }

    /// Zero cells never wait, even behind a queued waiter.
    async fn zero_cells_are_always_free() {
        let limiter = RateLimiter::new(hourly(1));
        limiter.try_acquire().unwrap();
        let mut waiting = Box::pin(limiter.acquire());
        assert!(support::poll_once(&mut waiting).is_pending());
        assert!(limiter.try_acquire_n(0).is_ok());
        limiter.acquire_n(0).await;
    }

    /// Each key has its own quota and its own queue: a key whose cell is
    /// spent makes its waiters wait, and nobody else.
    async fn keys_are_limited_independently() {
        let per_host = KeyedRateLimiter::new(hourly(1));
        assert!(per_host.try_acquire(&"a").is_ok());
        assert!(per_host.try_acquire(&"a").is_err());
        let mut a = Box::pin(per_host.acquire(&"a"));
        assert!(support::poll_once(&mut a).is_pending(), "a's hour is spent");
        assert!(per_host.try_acquire(&"b").is_ok(), "b has its own cell");
        per_host.acquire_n(&"c", 1).await;
        assert!(per_host.try_acquire_n(&"c", 1).is_err());
        assert_eq!(per_host.len(), 3);
    }

    /// A keyed waiter keeps its key: sweeping while it waits forgets
    /// nothing, and when it is dropped its turn passes on as for one limiter.
    async fn a_keyed_waiter_keeps_its_key_through_a_sweep() {
        let limiter = KeyedRateLimiter::new(hourly(2));
        limiter.try_acquire(&7).unwrap();
        let (_, waker) = counting_waker();
        let mut head = Box::pin(limiter.acquire_n(&7, 2));
        assert!(poll_with(&mut head, &waker).is_pending());
        let (next_wakes, next_waker) = counting_waker();
        let mut next = Box::pin(limiter.acquire(&7));
        assert!(poll_with(&mut next, &next_waker).is_pending());
        limiter.retain_recent();
        assert_eq!(limiter.len(), 1);
        drop(head);
        assert_eq!(next_wakes.0.load(Ordering::SeqCst), 1);
        assert!(poll_with(&mut next, &next_waker).is_ready());
        assert!(limiter.try_acquire(&7).is_err(), "the key's state was kept");
        yield_now().await;
    }

    /// The example, exactly: 2 a second, burst 1: the third
    /// acquire completes at 1 s of virtual time, the second at 500 ms.
    fn the_third_acquire_at_two_a_second_completes_at_one_second() -> impl Future<Output = ()> {
        on_virtual_time(|clock| async move {
            let start = clock.now();
            let limiter = RateLimiter::new(Quota::per_second(2).allow_burst(1));
            let mut at = Vec::new();
            for _ in 0..3 {
                limiter.acquire().await;
                at.push(ms(&clock, start));
            }
            assert_eq!(at, [0, 500, 1000]);
        })
    }

    /// A burst of 3 at 1 a second: three at once, then one a second; a
    /// refusal says exactly how long to wait; `acquire_n` waits for all its
    /// cells to be back.
    fn a_burst_then_one_a_cell_on_virtual_time() -> impl Future<Output = ()> {
        on_virtual_time(|clock| async move {
            let start = clock.now();
            let limiter = RateLimiter::new(Quota::per_second(1).allow_burst(3));
            for _ in 0..3 {
                limiter.acquire().await;
            }
            assert_eq!(ms(&clock, start), 0);
            let refused = limiter.try_acquire().unwrap_err();
            assert_eq!(refused.wait_time(), Duration::from_secs(1));
            assert_eq!(refused.earliest_possible(), start + Duration::from_secs(1));
            limiter.acquire().await;
            assert_eq!(ms(&clock, start), 1000);
            limiter.acquire_n(3).await; // all three back: 3 s after the last
            assert_eq!(ms(&clock, start), 4000);
        })
    }

    /// Keys keep their own time: one a second per key, two keys, two cells
    /// each: both keys' second cells come at 1 s.
    fn keys_keep_their_own_time() -> impl Future<Output = ()> {
        on_virtual_time(|clock| async move {
            let start = clock.now();
            let limiter = KeyedRateLimiter::new(Quota::per_second(1));
            let (limiter, clock) = (&limiter, &clock);
            let at = corral::join_all(["a", "b", "a", "b"].map(|key| async move {
                limiter.acquire(&key).await;
                ms(clock, start)
            }))
            .await;
            assert_eq!(at, [0, 0, 1000, 1000]);
        })
    }

    /// A key is forgotten exactly when its cell is back: at 999 ms a sweep
    /// keeps all 100 keys, at 1 s it forgets them all.
    fn keys_are_forgotten_when_their_cells_are_back() -> impl Future<Output = ()> {
        let clock = VirtualClock::new();
        let run_clock = clock.clone();
        run_clock.run(async move {
            let limiter = KeyedRateLimiter::new(Quota::per_second(1));
            for key in 0..100 {
                limiter.try_acquire(&key).unwrap();
            }
            clock.advance(Duration::from_millis(999));
            limiter.retain_recent();
            assert_eq!(limiter.len(), 100);
            clock.advance(Duration::from_millis(1));
            limiter.retain_recent();
            assert_eq!(limiter.len(), 0);
        })
    }

    on_both_executors!(
        the_third_acquire_at_two_a_second_completes_at_one_second,
        a_burst_then_one_a_cell_on_virtual_time,
        keys_keep_their_own_time,
        keys_are_forgotten_when_their_cells_are_back,
        the_burst_goes_through_then_callers_wait,
        a_dropped_head_passes_its_turn_and_takes_no_cell,
        a_dropped_middle_waiter_leaves_the_queue,
        an_unpolled_or_finished_acquire_drops_cleanly,
        zero_cells_are_always_free,
        keys_are_limited_independently,
        a_keyed_waiter_keeps_its_key_through_a_sweep,
    );
}

/// Keys whose cells are out are never forgotten, however many there are:
/// a sweep keeps them, and each stays refused.
#[test]
fn busy_keys_are_never_forgotten() {
    let limiter = KeyedRateLimiter::new(hourly(1));
    let n = 3 * KeyedRateLimiter::<u32>::SWEEP_MIN as u32;
    for key in 0..n {
        limiter.try_acquire(&key).unwrap();
    }
    limiter.retain_recent();
    assert_eq!(limiter.len(), n as usize);
    for key in 0..n {
        assert!(limiter.try_acquire(&key).is_err(), "key {key} was reset");
    }
}

/// Keys whose cells come back at once (one a nanosecond) are idle as soon
/// as time moves: 10 000 of them never make the map hold more than the
/// bound, `max(SWEEP_MIN, 2 × busy at the last sweep)`, where at most the
/// keys checked within the same nanosecond as a sweep are busy.
#[test]
fn idle_keys_are_forgotten_so_memory_stays_bounded() {
    let limiter = KeyedRateLimiter::new(Quota::with_period(Duration::from_nanos(1)));
    let min = KeyedRateLimiter::<u32>::SWEEP_MIN;
    let mut peak = 0;
    for key in 0..support::scaled(10_000) as u32 {
        limiter.try_acquire(&key).unwrap();
        peak = peak.max(limiter.len());
    }
    assert!(peak <= 2 * min, "the map grew to {peak} keys");
    std::thread::sleep(Duration::from_millis(1));
    limiter.retain_recent();
    assert_eq!(limiter.len(), 0, "every key is idle a millisecond later");
}

/// Waiters are served in arrival order on a multi-threaded executor too,
/// and none is lost: 200 tasks queue on a quick limiter, each records its
/// turn; the turns come in the order the tasks joined the queue.
#[test]
fn waiters_on_many_threads_are_all_served() {
    support::watchdog(|| {
        let ex = Arc::new(smol::Executor::new());
        let (stop, shutdown) = smol::channel::unbounded::<()>();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (ex, shutdown) = (ex.clone(), shutdown.clone());
                std::thread::spawn(move || smol::block_on(ex.run(shutdown.recv())))
            })
            .collect();
        let limiter = Arc::new(RateLimiter::new(quick()));
        let served = Arc::new(AtomicUsize::new(0));
        let n = support::scaled(200);
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (limiter, served) = (limiter.clone(), served.clone());
                ex.spawn(async move {
                    if i % 7 == 0 {
                        // Some give up after a poll or two: their turns pass on.
                        let mut gave_up = Box::pin(limiter.acquire());
                        let _ = futures::poll!(gave_up.as_mut());
                        yield_times(i % 3).await;
                        return;
                    }
                    limiter.acquire().await;
                    served.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        smol::block_on(async {
            for t in tasks {
                t.await;
            }
        });
        drop(stop);
        for t in threads {
            let _ = t.join();
        }
        assert_eq!(served.load(Ordering::SeqCst), n - n.div_ceil(7));
    });
}

/// Four threads race `try_acquire` on a limiter with 1000 cells and none
/// coming back: exactly 1000 succeed.
#[test]
fn racing_checks_take_exactly_the_burst() {
    let limiter = Arc::new(RateLimiter::new(hourly(1000)));
    let taken = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (limiter, taken) = (limiter.clone(), taken.clone());
            std::thread::spawn(move || {
                for _ in 0..500 {
                    if limiter.try_acquire().is_ok() {
                        taken.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(taken.load(Ordering::SeqCst), 1000);
}

/// `Quota`'s arithmetic, as governor's: n per period, burst n.
#[test]
fn quotas_spread_their_cells_over_the_period() {
    assert_eq!(
        Quota::per_second(4).replenish_interval(),
        Duration::from_millis(250)
    );
    assert_eq!(
        Quota::per_minute(2).replenish_interval(),
        Duration::from_secs(30)
    );
    assert_eq!(
        Quota::per_hour(3600).replenish_interval(),
        Duration::from_secs(1)
    );
    assert_eq!(
        Quota::per_second(u32::MAX).replenish_interval(),
        Duration::from_nanos(1)
    );
    let q = Quota::per_second(10).allow_burst(1);
    assert_eq!(
        (q.burst_size(), q.replenish_interval()),
        (1, Duration::from_millis(100))
    );
    assert_eq!(RateLimiter::new(q).quota(), q);
    assert_eq!(Quota::MAX_REFILL, Duration::from_secs(100 * 365 * 86_400));
    let _ = Quota::with_period(Quota::MAX_REFILL);
}

#[test]
#[should_panic(expected = "Quota::per_second(0): a rate of 0 lets nothing through")]
fn a_rate_of_zero_per_second_panics() {
    let _ = Quota::per_second(0);
}

#[test]
#[should_panic(expected = "Quota::per_minute(0): a rate of 0 lets nothing through")]
fn a_rate_of_zero_per_minute_panics() {
    let _ = Quota::per_minute(0);
}

#[test]
#[should_panic(expected = "Quota::per_hour(0): a rate of 0 lets nothing through")]
fn a_rate_of_zero_per_hour_panics() {
    let _ = Quota::per_hour(0);
}

#[test]
#[should_panic(expected = "Quota::with_period(0s): a cell every 0 seconds is no limit")]
fn a_zero_period_panics() {
    let _ = Quota::with_period(Duration::ZERO);
}

#[test]
#[should_panic(expected = "Quota::allow_burst(0): a burst of 0 lets nothing through")]
fn a_burst_of_zero_panics() {
    let _ = Quota::per_second(5).allow_burst(0);
}

#[test]
#[should_panic(expected = "longer than Quota::MAX_REFILL")]
fn a_burst_that_takes_over_a_century_to_refill_panics() {
    let _ = Quota::with_period(Quota::MAX_REFILL).allow_burst(2);
}

#[test]
#[should_panic(expected = "asked a rate limiter for 3 cells at once, more than its burst of 2")]
fn acquiring_more_than_the_burst_panics() {
    let limiter = RateLimiter::new(hourly(2));
    drop(limiter.acquire_n(3));
}

#[test]
#[should_panic(expected = "asked a rate limiter for 3 cells at once, more than its burst of 2")]
fn trying_for_more_than_the_burst_panics() {
    let _ = RateLimiter::new(hourly(2)).try_acquire_n(3);
}

#[test]
#[should_panic(expected = "asked a rate limiter for 2 cells at once, more than its burst of 1")]
fn a_keyed_request_over_the_burst_panics() {
    let _ = KeyedRateLimiter::new(hourly(1)).try_acquire_n(&"k", 2);
}

#[test]
#[should_panic(expected = "a rate limiter's acquire future polled after completion")]
fn polling_a_finished_acquire_panics() {
    let limiter = RateLimiter::new(hourly(1));
    let mut acquire = Box::pin(limiter.acquire());
    assert!(support::poll_once(&mut acquire).is_ready());
    let _ = support::poll_once(&mut acquire);
}

/// `Mutex` in scope for the behaviour tests.
#[allow(dead_code)]
type Order = Mutex<Vec<usize>>;
