//! The tests of `tests/virtual_clock.rs` that run on both scope flavours
//! (see `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

use std::sync::Mutex;

use corral::time::{current_deadline, sleep_until};
use corral::{Nursery, StopHandle};
use support::{DropCounter, pending_forever, yield_now};

/// Children sleeping on an auto-jumping clock end at exactly their
/// deadlines, in order, and the scope ends at the last one.
pub(super) async fn children_wake_at_their_exact_deadlines() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let order = Mutex::new(Vec::new());
    let (c, order_ref) = (&clock, &order);
    clock
        .run(open(|s| async move {
            for d in [700u64, 100, 300, 300, 5_000] {
                s.spawn(async move {
                    sleep(Duration::from_millis(d)).await;
                    order_ref.lock().unwrap().push((d, ms(c, start)));
                    Ok::<_, ()>(())
                });
            }
            Ok(())
        }))
        .await
        .unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        [
            (100, 100),
            (300, 300),
            (300, 300),
            (700, 700),
            (5_000, 5_000)
        ]
    );
    assert_eq!(ms(&clock, start), 5_000);
}

/// Back-off the way a retry loop does it: each sleep starts where the last
/// ended (100, 200, 400 ms: the third retry starts at 700 ms).
pub(super) async fn sleeps_in_sequence_add_up_exactly() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let starts = clock
        .run(async {
            let mut starts = Vec::new();
            for d in [100, 200, 400] {
                sleep(Duration::from_millis(d)).await;
                starts.push(ms(&clock, start));
            }
            starts
        })
        .await;
    assert_eq!(starts, [100, 300, 700]);
}

/// A scope under a five-minute timeout with a child that never ends: the
/// child is dropped at exactly five minutes.
pub(super) async fn a_timeout_around_a_scope_fires_at_its_deadline() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = clock
        .run(timeout(
            Duration::from_secs(300),
            open(|s| async move {
                s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
                Ok(())
            }),
        ))
        .await;
    assert!(out.is_err());
    assert_eq!(dropped.get(), 1);
    assert_eq!(ms(&clock, start), 300_000);
}

/// A nursery's grace runs on the clock: a child that ignores the stop is
/// dropped at exactly the grace after the stop.
pub(super) async fn a_grace_ends_on_virtual_time() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let c = &clock;
    let stopped_at = Mutex::new(None);
    let stopped_ref = &stopped_at;
    let out = clock
        .run(open_graceful(Duration::from_secs(30), |s| async move {
            s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
            s.spawn(async move {
                sleep(Duration::from_secs(10)).await;
                *stopped_ref.lock().unwrap() = Some(ms(c, start));
                StopHandle::current().expect("inside a scope").stop();
                Ok(())
            });
            Ok(())
        }))
        .await;
    assert!(out.is_ok(), "a stop is not a failure");
    assert_eq!(*stopped_at.lock().unwrap(), Some(10_000));
    assert_eq!(dropped.get(), 1);
    assert_eq!(ms(&clock, start), 40_000, "stopped at 10 s, 30 s of grace");
}

/// `current_deadline` inside a child reads the virtual deadline, and a
/// timeout not yet started counts from the virtual now.
pub(super) async fn current_deadline_reads_the_virtual_clock() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let seen = clock
        .run(timeout(
            Duration::from_secs(300),
            open(|s| async move {
                let h = s.spawn(async {
                    sleep(Duration::from_secs(1)).await;
                    Ok::<_, ()>(current_deadline())
                });
                Ok(h.await)
            }),
        ))
        .await;
    assert_eq!(seen, Ok(Ok(Some(start + Duration::from_secs(300)))));
}

/// By hand: nothing fires until the clock is moved, and a move fires
/// exactly the timers due by then.
pub(super) async fn a_clock_moved_by_hand_fires_what_is_due() {
    let clock = VirtualClock::new();
    let start = clock.now();
    let fired = Mutex::new(Vec::new());
    let (fired_ref, c) = (&fired, &clock);
    clock
        .run(open(|s| async move {
            for d in [1u64, 2, 3] {
                s.spawn(async move {
                    sleep(Duration::from_secs(d)).await;
                    fired_ref.lock().unwrap().push(d);
                    Ok::<_, ()>(())
                });
            }
            s.spawn(async move {
                for _ in 0..5 {
                    yield_now().await;
                }
                assert!(fired_ref.lock().unwrap().is_empty(), "time stood still");
                c.advance(Duration::from_millis(2_500));
                for _ in 0..5 {
                    yield_now().await;
                }
                assert_eq!(*fired_ref.lock().unwrap(), [1, 2]);
                c.advance_to(start + Duration::from_secs(3));
                Ok(())
            });
            Ok(())
        }))
        .await
        .unwrap();
    assert_eq!(*fired.lock().unwrap(), [1, 2, 3]);
    assert_eq!(ms(&clock, start), 3_000);
}

/// A timeout polled after its deadline has passed on the clock reports
/// `Elapsed` without polling its future again (a late poll takes nothing),
/// even before any timer processing.
pub(super) async fn a_late_poll_takes_nothing_on_a_virtual_clock() {
    let clock = VirtualClock::new();
    let polls = AtomicUsize::new(0);
    let polls_ref = &polls;
    let c = &clock;
    let out = clock
        .run(open(|s| async move {
            let h = s.spawn(async move {
                let never = std::future::poll_fn(move |_| {
                    polls_ref.fetch_add(1, Ordering::SeqCst);
                    std::task::Poll::<()>::Pending
                });
                Ok::<_, ()>(timeout(Duration::from_secs(1), never).await)
            });
            yield_now().await; // the child polls once and arms
            c.advance(Duration::from_secs(1));
            Ok(h.await)
        }))
        .await;
    assert!(matches!(out, Ok(Err(_))));
    assert_eq!(polls.load(Ordering::SeqCst), 1);
}

/// `sleep_until` an instant on the clock, and one in its past (done at
/// once).
pub(super) async fn sleep_until_takes_virtual_instants() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    clock
        .run(async {
            sleep_until(start + Duration::from_secs(42)).await;
            assert_eq!(ms(&clock, start), 42_000);
            sleep_until(start).await; // passed
            assert_eq!(ms(&clock, start), 42_000);
        })
        .await;
}

/// Statistics, names and everything else are untouched: a named child of a
/// tracked nursery runs its sleeps on the clock.
pub(super) async fn a_limited_scope_queues_on_virtual_time() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let ends = Mutex::new(Vec::new());
    let (ends_ref, c) = (&ends, &clock);
    clock
        .run(open_in(Nursery::new().max_concurrency(2), |s| async move {
            for _ in 0..5 {
                s.spawn(async move {
                    sleep(Duration::from_secs(1)).await;
                    ends_ref.lock().unwrap().push(ms(c, start));
                    Ok::<_, ()>(())
                });
            }
            Ok(())
        }))
        .await
        .unwrap();
    assert_eq!(*ends.lock().unwrap(), [1_000, 1_000, 2_000, 2_000, 3_000]);
}

macro_rules! each_test {
    ($run:ident) => {
        $run!(
            children_wake_at_their_exact_deadlines,
            sleeps_in_sequence_add_up_exactly,
            a_timeout_around_a_scope_fires_at_its_deadline,
            a_grace_ends_on_virtual_time,
            current_deadline_reads_the_virtual_clock,
            a_clock_moved_by_hand_fires_what_is_due,
            a_late_poll_takes_nothing_on_a_virtual_clock,
            sleep_until_takes_virtual_instants,
            a_limited_scope_queues_on_virtual_time,
        );
    };
}
