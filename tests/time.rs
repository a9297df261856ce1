//! Behaviour of `corral::time` on the default (async-io) backend: every test
//! runs on smol and on the minimal executor; the scope tests also on both
//! scope flavours. Lateness is never asserted (2 noisy cores); earliness is,
//! everywhere.
#![cfg(feature = "async-io")]

#[macro_use]
mod support;

use std::future::{Future, pending, poll_fn, ready};
use std::pin::pin;
use std::time::{Duration, Instant};

use corral::time::{Elapsed, Sleep, Timeout, TimeoutExt, sleep, sleep_until, timeout, timeout_at};

use futures::FutureExt;
use support::{DropCounter, pending_forever, poll_once, yield_now};

const MS: Duration = Duration::from_millis(1);

/// What the nested-timeout tests fall back to when an inner timeout fires.
const FALLBACK: u32 = 7;

/// Yields once (so the clocks of the timeouts around it start), blocks its
/// thread for `block` (every deadline shorter than that passes), then waits
/// for ever: a nested-timeout scenario where every deadline passes at once.
async fn blocks_then_waits(block: Duration) -> u32 {
    yield_now().await;
    std::thread::sleep(block);
    pending::<u32>().await
}

/// As [`blocks_then_waits`], but returns `1` after the blocking step.
async fn blocks_then_returns(block: Duration) -> u32 {
    yield_now().await;
    std::thread::sleep(block);
    1
}

/// A scope error that a child's `timeout(..).await?` converts into.
#[derive(Debug, PartialEq)]
enum Failed {
    TimedOut,
}

impl From<Elapsed> for Failed {
    fn from(_: Elapsed) -> Self {
        Failed::TimedOut
    }
}

/// The tests of `time/behaviour.rs` on `corral::scope`.
#[path = "time"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `time/behaviour.rs` on `corral::local_scope`.
#[path = "time"]
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

    /// A future ready on its first poll is `Ok`, whatever the deadline.
    async fn ready_futures_beat_zero_and_past_deadlines() {
        assert_eq!(timeout(Duration::ZERO, ready(1)).await, Ok(1));
        assert_eq!(timeout(Duration::ZERO, async { 2 }).await, Ok(2));
        let past = Instant::now() - Duration::from_millis(50);
        assert_eq!(timeout_at(past, ready(3)).await, Ok(3));
        // The clock never started: the deadline is still unfixed.
        let t = timeout(Duration::from_secs(1), ready(4));
        assert_eq!(Timeout::deadline(&t), None);
        // A pending future under a zero or past deadline times out at once.
        assert_eq!(timeout(Duration::ZERO, pending::<()>()).await, Err(Elapsed));
        assert_eq!(timeout_at(past, pending::<()>()).await, Err(Elapsed));
        sleep(Duration::ZERO).await;
        sleep_until(past).await;
    }

    /// A pending future times out at or after its deadline, never before.
    async fn pending_futures_time_out_never_early() {
        for ms in [1, 5, 15] {
            let start = Instant::now();
            assert_eq!(timeout(ms * MS, pending::<()>()).await, Err(Elapsed));
            assert!(start.elapsed() >= ms * MS, "{ms} ms timeout fired early");

            let deadline = Instant::now() + ms * MS;
            assert_eq!(timeout_at(deadline, pending::<()>()).await, Err(Elapsed));
            assert!(Instant::now() >= deadline, "{ms} ms deadline fired early");
        }
    }

    /// A future that finishes before its deadline gets `Ok`, and its timer is
    /// cancelled (the slow sibling below still times out on its own).
    async fn a_future_that_wins_gets_ok() {
        let fast = timeout(Duration::from_secs(30), async {
            sleep(2 * MS).await;
            "fast"
        });
        assert_eq!(fast.await, Ok("fast"));
    }

    /// When time is up the inner future is dropped before `Err` is returned,
    /// not later when the `Timeout` itself goes.
    async fn the_inner_future_is_dropped_when_time_is_up() {
        let dropped = DropCounter::new();
        let mut t = pin!(timeout(5 * MS, pending_forever::<()>(&dropped)));
        let result = poll_fn(|cx| t.as_mut().poll(cx)).await;
        assert_eq!(result, Err(Elapsed));
        assert_eq!(dropped.get(), 1, "dropped as the deadline passed");
    }

    /// `Duration::MAX` and far-off instants never overflow, panic or fire.
    async fn huge_durations_never_fire() {
        assert_eq!(timeout(Duration::MAX, ready(1)).await, Ok(1));
        let mut t = timeout(Duration::MAX, pending::<()>());
        assert!(poll_once(&mut t).is_pending());
        assert_eq!(Timeout::deadline(&t), None, "no representable deadline");
        let mut s = sleep(Duration::MAX);
        assert!(poll_once(&mut s).is_pending());
        let far = Instant::now()
            .checked_add(Duration::from_secs(500 * 365 * 86_400))
            .expect("a 500-year instant");
        let mut t = timeout_at(far, pending::<()>());
        assert!(poll_once(&mut t).is_pending());
        let mut s = sleep_until(far);
        assert!(poll_once(&mut s).is_pending());
        // 30 years is representable: armed, pending, with its exact deadline.
        let decades = Instant::now() + Duration::from_secs(30 * 365 * 86_400);
        let mut t = timeout_at(decades, pending::<()>());
        assert!(poll_once(&mut t).is_pending());
        assert_eq!(Timeout::deadline(&t), Some(decades));
        // A short timeout armed beside them still fires.
        assert_eq!(timeout(MS, pending::<()>()).await, Err(Elapsed));
    }

    /// `fut.timeout(d)` and `fut.deadline(t)`.
    async fn the_extension_trait() {
        assert_eq!(async { 5 }.timeout(Duration::from_secs(1)).await, Ok(5));
        assert_eq!(pending::<()>().timeout(2 * MS).await, Err(Elapsed));
        let deadline = Instant::now() + 2 * MS;
        assert_eq!(pending::<()>().deadline(deadline).await, Err(Elapsed));
        assert!(Instant::now() >= deadline);
        let t = async { 6 }.deadline(deadline);
        assert_eq!(Timeout::deadline(&t), Some(deadline));
        assert_eq!(t.await, Ok(6));
    }

    /// Sleeps never wake early, whatever the duration.
    async fn sleeps_never_wake_early() {
        for us in [0, 100, 999, 1_000, 1_001, 3_500, 12_000] {
            let d = Duration::from_micros(us);
            let start = Instant::now();
            sleep(d).await;
            assert!(start.elapsed() >= d, "sleep({d:?}) woke early");
            let deadline = Instant::now() + d;
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "sleep_until(+{d:?}) woke early");
        }
    }

    /// 10 000 concurrent timeouts with deadlines spread over 200 ms all fire,
    /// none early.
    async fn ten_thousand_spread_timeouts_all_fire() {
        let start = Instant::now();
        let n = 10_000u32;
        let timeouts = (0..n).map(|i| {
            let deadline = start + Duration::from_micros(u64::from(i * 7919 % 200_000));
            async move {
                let result = timeout_at(deadline, pending::<()>()).await;
                (result, Instant::now() >= deadline)
            }
        });
        let results = corral::join_all(timeouts).await;
        assert_eq!(results.len(), n as usize);
        for (i, (result, on_time)) in results.into_iter().enumerate() {
            assert_eq!(result, Err(Elapsed), "timeout {i}");
            assert!(on_time, "timeout {i} fired early");
        }
    }

    /// Rescheduling before the first poll: later and earlier.
    async fn reschedule_before_the_first_poll() {
        let start = Instant::now();
        let mut t = pin!(timeout(5 * MS, pending::<()>()));
        t.as_mut().reset(start + 25 * MS);
        assert_eq!(Timeout::deadline(&t), Some(start + 25 * MS));
        assert_eq!(t.await, Err(Elapsed));
        assert!(
            start.elapsed() >= 25 * MS,
            "fired at the old, earlier deadline"
        );

        let start = Instant::now();
        let mut t = pin!(timeout(Duration::from_secs(3600), pending::<()>()));
        t.as_mut().reset(start + 5 * MS);
        assert_eq!(t.await, Err(Elapsed));
        assert!(start.elapsed() >= 5 * MS);

        let mut s = pin!(sleep(Duration::from_secs(3600)));
        s.as_mut().reset(start + 5 * MS);
        s.await;
    }

    /// Rescheduling an armed timer: later, earlier, into the past, to never.
    async fn reschedule_after_the_first_poll() {
        let start = Instant::now();
        let mut t = pin!(timeout(5 * MS, pending::<()>()));
        assert!(poll_once(&mut t).is_pending());
        assert!(Timeout::deadline(&t).is_some_and(|d| d >= start + 5 * MS));
        t.as_mut().reset(start + 30 * MS);
        assert_eq!(Timeout::deadline(&t), Some(start + 30 * MS));
        assert_eq!(t.await, Err(Elapsed));
        assert!(
            start.elapsed() >= 30 * MS,
            "fired at the old, earlier deadline"
        );

        let start = Instant::now();
        let mut t = pin!(timeout(Duration::from_secs(3600), pending::<()>()));
        assert!(poll_once(&mut t).is_pending());
        t.as_mut().reset(start + 5 * MS);
        assert_eq!(t.await, Err(Elapsed));
        assert!(start.elapsed() >= 5 * MS);

        let mut t = pin!(timeout(Duration::from_secs(3600), pending::<()>()));
        assert!(poll_once(&mut t).is_pending());
        t.as_mut().reset(Instant::now() - MS);
        assert_eq!(t.await, Err(Elapsed), "a past deadline fires at once");

        let mut s = pin!(sleep(MS));
        assert!(poll_once(&mut s).is_pending());
        s.as_mut()
            .reset(Instant::now() + Duration::from_secs(500 * 365 * 86_400));
        assert_eq!(Sleep::deadline(&s), None);
        assert!(poll_once(&mut s).is_pending());
    }

    /// A completed sleep stays complete, and waits again after a reset.
    async fn a_completed_sleep_can_be_reset() {
        let mut s = pin!(sleep(2 * MS));
        s.as_mut().await;
        assert!(poll_once(&mut s).is_ready(), "stays complete");
        let again = Instant::now() + 10 * MS;
        s.as_mut().reset(again);
        assert!(poll_once(&mut s).is_pending(), "waits again after reset");
        s.as_mut().await;
        assert!(Instant::now() >= again);
    }

    /// A timeout armed on this thread, then polled to completion on another.
    async fn a_timeout_polled_on_another_thread() {
        let dropped = DropCounter::new();
        let mut t = Box::pin(timeout(10 * MS, pending_forever::<()>(&dropped)));
        assert!(poll_once(&mut t).is_pending(), "armed here");
        let start = Instant::now();
        let result = std::thread::spawn(move || futures::executor::block_on(t))
            .join()
            .unwrap();
        assert_eq!(result, Err(Elapsed));
        assert!(start.elapsed() >= MS);
        assert_eq!(dropped.get(), 1);
        yield_now().await;
    }

    /// Timeouts armed here and dropped on other threads, racing the firing
    /// of their neighbours: nothing fires early, nothing crashes, and the
    /// inner futures are dropped exactly once.
    async fn timeouts_dropped_on_other_threads() {
        let dropped = DropCounter::new();
        let mut armed: Vec<_> = (0..200u64)
            .map(|i| {
                Box::pin(timeout(
                    MS * (i % 4) as u32,
                    pending_forever::<()>(&dropped),
                ))
            })
            .collect();
        for t in &mut armed {
            let _ = poll_once(t);
        }
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let mine: Vec<_> = armed.drain(..50.min(armed.len())).collect();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_micros(k * 700));
                    drop(mine);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(dropped.get(), 200);
        // The shards still work afterwards.
        assert_eq!(timeout(MS, pending::<()>()).await, Err(Elapsed));
    }

    /// A zero timeout that fires has a deadline: the instant its clock
    /// started, which is also when it fired. So does a zero sleep.
    async fn a_zero_timeout_that_fires_reports_its_deadline() {
        let before = Instant::now();
        let mut t = pin!(timeout(Duration::ZERO, pending::<()>()));
        assert_eq!(poll_fn(|cx| t.as_mut().poll(cx)).await, Err(Elapsed));
        let at = Timeout::deadline(&t).expect("it fired, so its clock started");
        assert!(before <= at && at <= Instant::now(), "{at:?}");
        let mut s = pin!(sleep(Duration::ZERO));
        s.as_mut().await;
        let at = Sleep::deadline(&s).expect("it elapsed, so its clock started");
        assert!(before <= at && at <= Instant::now(), "{at:?}");
    }

    /// The nested-fallback scenario: `timeout(10ms, timeout(20ms, op).map(fallback))`
    /// around a 60 ms blocking step. Both deadlines have passed when the inner
    /// timeout reports; its fallback reaches the outer one late, and the
    /// outer, expired, reports `Elapsed` (asyncio and Trio agree).
    async fn the_outermost_expired_timeout_wins() {
        let inner = timeout(20 * MS, blocks_then_waits(60 * MS)).map(|r| r.unwrap_or(FALLBACK));
        assert_eq!(timeout(10 * MS, inner).await, Err(Elapsed));
        // The same with the tighter deadline inside.
        let inner = timeout(10 * MS, blocks_then_waits(60 * MS)).map(|r| r.unwrap_or(FALLBACK));
        assert_eq!(timeout(20 * MS, inner).await, Err(Elapsed));
    }

    /// Only the outer deadline has passed when the inner future completes, in
    /// a poll that began before it: the value stands (asyncio and Trio keep
    /// the result of a block that ends without suspending, too).
    async fn a_value_completed_in_a_poll_begun_in_time_stands_when_nested() {
        let inner = timeout(Duration::from_secs(30), blocks_then_returns(30 * MS));
        assert_eq!(timeout(10 * MS, inner).await, Ok(Ok(1)));
    }

    /// Only the inner deadline has passed: its fallback stands.
    async fn an_expired_inner_timeout_alone_passes_its_fallback_on() {
        let inner = timeout(10 * MS, blocks_then_waits(30 * MS)).map(|r| r.unwrap_or(FALLBACK));
        assert_eq!(timeout(Duration::from_secs(30), inner).await, Ok(FALLBACK));
        // The inner future completes in the poll that ran past its deadline
        // rather than waiting: its value, not the fallback.
        let inner = timeout(10 * MS, blocks_then_returns(30 * MS)).map(|r| r.unwrap_or(FALLBACK));
        assert_eq!(timeout(Duration::from_secs(30), inner).await, Ok(1));
    }

    /// A timeout polled after its deadline reports `Elapsed` without polling
    /// its future again, even before its timer fires: a message that arrived
    /// late stays in its channel (corral's own `timeout` around a cancel-safe
    /// future loses nothing). One that completes in a poll begun in time
    /// keeps its output, even if that poll ran past the deadline.
    async fn a_timeout_polled_after_its_deadline_leaves_the_value_where_it_was() {
        let (tx, rx) = corral::sync::channel::bounded::<u32>(1);
        let mut recv = pin!(timeout(5 * MS, rx.recv()));
        assert!(
            futures::poll!(recv.as_mut()).is_pending(),
            "the clock starts"
        );
        std::thread::sleep(20 * MS); // the deadline passes; nothing polls
        tx.try_send(9).unwrap();
        assert_eq!(recv.await, Err(Elapsed));
        assert_eq!(rx.try_recv(), Ok(9), "the message is still there");

        let dropped = DropCounter::new();
        let guard = dropped.guard();
        let late = async move {
            yield_now().await;
            std::thread::sleep(20 * MS);
            guard
        };
        let kept = timeout(5 * MS, late).await;
        assert!(kept.is_ok(), "completed in a poll begun in time");
        assert_eq!(dropped.get(), 0);
        drop(kept);
        assert_eq!(dropped.get(), 1);
    }

    /// A future ready on its first poll is `Ok` under zero and past
    /// deadlines, nested too, however long that first poll takes: no clock
    /// is read, so nothing can be late.
    async fn ready_futures_beat_expired_deadlines_when_nested() {
        let past = Instant::now() - Duration::from_millis(50);
        let slow_ready = async {
            std::thread::sleep(20 * MS);
            3
        };
        assert_eq!(
            timeout_at(past, timeout_at(past, slow_ready)).await,
            Ok(Ok(3))
        );
        let slow_ready = async {
            std::thread::sleep(20 * MS);
            4
        };
        let nested = timeout(Duration::ZERO, timeout(Duration::ZERO, slow_ready));
        assert_eq!(nested.await, Ok(Ok(4)));
    }

    /// A deadline from before corral's time epoch (which lies decades before
    /// the first timer, where the platform allows) is reported exactly, by
    /// `deadline()` and `current_deadline()`, and has passed.
    async fn deadlines_before_the_epoch_are_reported_exactly() {
        for years in [200u64, 10_000] {
            // Linux's `Instant` can go back that far; on a platform whose
            // clock cannot, nothing lies before the epoch to test.
            let Some(ancient) =
                Instant::now().checked_sub(Duration::from_secs(years * 365 * 86_400))
            else {
                continue;
            };
            let t = timeout_at(ancient, pending::<()>());
            assert_eq!(Timeout::deadline(&t), Some(ancient));
            assert_eq!(t.await, Err(Elapsed), "long past: fires at once");
            let s = sleep_until(ancient);
            assert_eq!(Sleep::deadline(&s), Some(ancient));
            s.await;
            let seen = timeout_at(ancient, async { corral::time::current_deadline() }).await;
            assert_eq!(seen, Ok(Some(ancient)));
            // Reset to it, armed and not.
            let mut t = pin!(timeout(Duration::from_secs(3600), pending::<()>()));
            assert!(poll_once(&mut t).is_pending());
            t.as_mut().reset(ancient);
            assert_eq!(Timeout::deadline(&t), Some(ancient));
            assert_eq!(t.await, Err(Elapsed));
            let mut s = pin!(sleep(Duration::from_secs(3600)));
            s.as_mut().reset(ancient);
            assert_eq!(Sleep::deadline(&s), Some(ancient));
            s.as_mut().await;
            // And away from it again.
            let soon = Instant::now() + MS;
            s.as_mut().reset(soon);
            assert_eq!(Sleep::deadline(&s), Some(soon));
            s.await;
        }
    }

    on_both_executors!(
        ready_futures_beat_zero_and_past_deadlines,
        pending_futures_time_out_never_early,
        a_future_that_wins_gets_ok,
        the_inner_future_is_dropped_when_time_is_up,
        huge_durations_never_fire,
        the_extension_trait,
        sleeps_never_wake_early,
        ten_thousand_spread_timeouts_all_fire,
        reschedule_before_the_first_poll,
        reschedule_after_the_first_poll,
        a_completed_sleep_can_be_reset,
        a_timeout_polled_on_another_thread,
        timeouts_dropped_on_other_threads,
        a_zero_timeout_that_fires_reports_its_deadline,
        the_outermost_expired_timeout_wins,
        a_value_completed_in_a_poll_begun_in_time_stands_when_nested,
        an_expired_inner_timeout_alone_passes_its_fallback_on,
        a_timeout_polled_after_its_deadline_leaves_the_value_where_it_was,
        ready_futures_beat_expired_deadlines_when_nested,
        deadlines_before_the_epoch_are_reported_exactly,
    );
}

/// Polling a `Timeout` after it completed panics with a clear message.
#[test]
#[should_panic(expected = "`Timeout` polled after completion")]
fn polling_a_completed_timeout_panics() {
    let mut t = timeout(Duration::ZERO, ready(()));
    assert!(poll_once(&mut t).is_ready());
    let _ = poll_once(&mut t);
}

/// `size_of` stays within one word (plus padding) of the wrapped future.
#[test]
fn timeouts_are_one_word_bigger_than_their_future() {
    use std::mem::size_of;
    assert_eq!(size_of::<Sleep>(), size_of::<u64>());
    assert_eq!(size_of::<Timeout<std::future::Ready<()>>>(), 16);
    assert_eq!(size_of::<Timeout<std::future::Ready<u64>>>(), 24);
    assert!(size_of::<Timeout<[u8; 100]>>() <= 100 + 2 * size_of::<usize>());
}

/// `Elapsed` is a well-behaved error.
#[test]
fn elapsed_is_an_error() {
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(Elapsed);
    assert_eq!(e.to_string(), "deadline has elapsed");
    let io: std::io::Error = Elapsed.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}
