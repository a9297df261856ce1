//! `corral::time::VirtualClock`: time a test owns. Timers, deadlines, graces
//! and timeouts follow the clock in force, on both executors and both scope
//! flavours (`virtual_clock/behaviour.rs`); the clock reaches parallel
//! children, stays out of other tests' way (clocks on parallel threads), and
//! works inside tokio runtimes, paused or not (the end of this file).
//! Scenarios from Trio's `test_mock_clock.py` (autojump, jumping by hand,
//! refusing to go back) and tokio's `tests/time_pause.rs` (auto-advance,
//! advance by hand, a paused runtime), as our own code. Every timing here
//! is exact: virtual time does not drift.

#[macro_use]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corral::time::{VirtualClock, sleep, timeout};
use futures::FutureExt;

/// The clock's time since `start`, in milliseconds.
fn ms(clock: &VirtualClock, start: Instant) -> u64 {
    (clock.now() - start).as_millis() as u64
}

/// The tests of `virtual_clock/behaviour.rs` on `corral::scope`.
#[path = "virtual_clock"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `virtual_clock/behaviour.rs` on `corral::local_scope`.
#[path = "virtual_clock"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// A parallel child is a task of the clock: auto-jump waits while it runs
/// and jumps when it sleeps, and its timers are on the clock.
#[test]
fn parallel_children_run_on_the_clock_of_their_spawn_site() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let c = clock.clone();
    let times = support::on_smol(clock.run(corral::scope(|s| async move {
        let ex = &**support::smol_executor();
        let handles: Vec<_> = (1..=3u64)
            .map(|i| {
                let c = c.clone();
                s.spawn_on(ex, async move {
                    // Real work first: the clock must not jump meanwhile.
                    std::thread::sleep(Duration::from_millis(2));
                    sleep(Duration::from_secs(i * 10)).await;
                    Ok::<_, ()>(ms(&c, start))
                })
            })
            .collect();
        Ok(corral::join_all(handles).await)
    })));
    assert_eq!(times, Ok(vec![10_000, 20_000, 30_000]));
    assert_eq!(clock.elapsed(), Duration::from_secs(30));
}

/// A parallel child whose future finishes while it still holds an armed
/// timer (as a finished `Hedge` keeps its delay's) does not let the clock
/// jump to that timer before the child's future is dropped.
#[test]
fn a_finished_parallel_child_leaves_no_jump_behind() {
    let clock = VirtualClock::autojump();
    let out = support::on_smol(clock.run(corral::scope(|s| async move {
        let ex = &**support::smol_executor();
        let mut kept = Box::pin(sleep(Duration::from_millis(250)));
        let mut done = Box::pin(sleep(Duration::from_millis(249)));
        // Done at 249 ms, with the 250 ms timer still armed inside.
        let holding = std::future::poll_fn(move |cx| {
            let _ = kept.as_mut().poll(cx);
            done.as_mut().poll(cx).map(Ok::<_, ()>)
        });
        s.spawn_on(ex, holding).await;
        Ok(())
    })));
    assert_eq!(out, Ok(()));
    assert_eq!(clock.elapsed(), Duration::from_millis(249));
}

/// A `run` dropped while its parallel child waits: the child's drop, which
/// the scope asks its runtime for, counts as work on the clock, so the clock
/// does not jump to the child's own timer meanwhile (found by an outside
/// review: it jumped to 100 s).
#[test]
fn dropping_a_run_lets_no_jump_overtake_its_childrens_drop() {
    support::watchdog(|| {
        let clock = VirtualClock::autojump();
        let dropped = Arc::new(std::sync::Mutex::new(None));
        let (c, d) = (clock.clone(), dropped.clone());
        let mut run = Box::pin(clock.run(corral::scope(move |s| async move {
            let ex = &**support::smol_executor();
            s.spawn_on(ex, async move {
                /// Records the clock's time when the child is dropped.
                struct AtDrop(VirtualClock, Arc<std::sync::Mutex<Option<Duration>>>);
                impl Drop for AtDrop {
                    fn drop(&mut self) {
                        *self.1.lock().unwrap() = Some(self.0.elapsed());
                    }
                }
                let _at_drop = AtDrop(c, d);
                sleep(Duration::from_secs(100)).await;
                Ok::<_, ()>(())
            });
            sleep(Duration::from_secs(10)).await;
            Ok(())
        })));
        assert!(run.as_mut().now_or_never().is_none());
        // The body's sleep ends at 10 s (the child waits on its 100 s).
        while clock.elapsed() < Duration::from_secs(10) {
            std::thread::yield_now();
        }
        drop(run); // woken at 10 s, never polled again
        while dropped.lock().unwrap().is_none() {
            std::thread::yield_now();
        }
        assert_eq!(*dropped.lock().unwrap(), Some(Duration::from_secs(10)));
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
        support::exec::block_on(clock.run(sleep(Duration::from_secs(5))));
        assert_eq!(clock.elapsed(), Duration::from_secs(15));
    });
}

/// Tests on clocks of their own run side by side without disturbing each
/// other: each thread's clock moves only for its own timers.
#[test]
fn clocks_on_parallel_threads_are_independent() {
    support::watchdog(|| {
        let threads: Vec<_> = (1..=4u64)
            .map(|i| {
                std::thread::spawn(move || {
                    let clock = VirtualClock::autojump();
                    let start = clock.now();
                    support::exec::block_on(clock.run(async {
                        for _ in 0..50 {
                            sleep(Duration::from_millis(i * 100)).await;
                        }
                    }));
                    (i, ms(&clock, start))
                })
            })
            .collect();
        for thread in threads {
            let (i, elapsed) = thread.join().unwrap();
            assert_eq!(elapsed, i * 100 * 50, "clock {i}");
        }
    });
}

/// Inside a paused tokio runtime, corral's timers follow the virtual clock
/// in force and tokio's follow tokio's: neither moves the other.
#[tokio::test(start_paused = true)]
async fn inside_a_paused_tokio_runtime_each_clock_keeps_its_own_time() {
    let clock = VirtualClock::autojump();
    let tokio_start = tokio::time::Instant::now();
    let start = clock.now();
    clock
        .run(async {
            sleep(Duration::from_secs(300)).await;
        })
        .await;
    assert_eq!(ms(&clock, start), 300_000);
    assert_eq!(
        tokio_start.elapsed(),
        Duration::ZERO,
        "tokio's clock did not move"
    );
    tokio::time::sleep(Duration::from_secs(5)).await; // tokio's own auto-advance
    assert_eq!(ms(&clock, start), 300_000, "nor did tokio's move ours");
    // Outside the run, corral's timers are tokio's again.
    let before = tokio::time::Instant::now();
    sleep(Duration::from_secs(7)).await;
    assert!(tokio::time::Instant::now() - before >= Duration::from_secs(7));
}

/// On tokio's multi-thread runtime with its real clock, a timeout of an
/// hour on the virtual clock ends at once in real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_tokios_real_clock_the_virtual_clock_still_rules() {
    let clock = VirtualClock::autojump();
    let real = Instant::now();
    let out = clock
        .run(timeout(
            Duration::from_secs(3600),
            std::future::pending::<()>(),
        ))
        .await;
    assert!(out.is_err());
    assert_eq!(clock.elapsed(), Duration::from_secs(3600));
    assert!(
        real.elapsed() < Duration::from_secs(60),
        "no real hour passed"
    );
}

/// With a threshold, a jump waits for work the clock cannot see: a thread's
/// reply arrives before the sleep that races it is skipped.
#[test]
fn a_threshold_lets_unseen_work_finish_before_a_jump() {
    let clock = VirtualClock::autojump_after(Duration::from_millis(50));
    let out = support::on_smol(clock.run(async {
        let (tx, rx) = futures::channel::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            let _ = tx.send(7);
        });
        // The reply comes in real milliseconds; the timeout is an hour of
        // virtual time that a jump would otherwise skip to at once.
        timeout(Duration::from_secs(3600), rx).await
    }));
    assert_eq!(out, Ok(Ok(7)));
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

/// Bad input: a virtual clock never goes back, and never past its range.
#[test]
#[should_panic(expected = "a virtual clock only moves forward")]
fn advancing_to_an_earlier_instant_panics() {
    let clock = VirtualClock::new();
    let earlier = clock.now() - Duration::from_millis(1);
    clock.advance_to(earlier);
}

#[test]
#[should_panic(expected = "past the end of corral's time range")]
fn advancing_by_duration_max_panics() {
    VirtualClock::new().advance(Duration::MAX);
}

/// Advancing to the time it already reads changes nothing.
#[test]
fn advancing_by_nothing_is_a_no_op() {
    let clock = VirtualClock::new();
    let now = clock.now();
    clock.advance_to(now);
    clock.advance(Duration::ZERO);
    assert_eq!(clock.now(), now);
}

/// A clock dropped with a timer still armed on it: the timer never fires
/// (the clock is frozen), and dropping it later frees it.
#[test]
fn a_timer_outliving_its_clock_stays_pending_and_drops_cleanly() {
    let clock = VirtualClock::new();
    let mut nap = Box::pin(clock.run(sleep(Duration::from_secs(1))));
    assert!(nap.as_mut().now_or_never().is_none());
    drop(clock);
    assert!(nap.as_mut().now_or_never().is_none());
    drop(nap);
}

/// The clock a child sees is its spawn site's, even when the scope is
/// polled later from elsewhere; `VirtualClock::current` says which.
#[test]
fn current_names_the_clock_in_force() {
    let clock = VirtualClock::new();
    assert!(VirtualClock::current().is_none());
    let seen = support::on_minimal(clock.run(corral::scope(|s| async move {
        let h = s.spawn(async { Ok::<_, ()>(VirtualClock::current().map(|c| c.elapsed())) });
        Ok(h.await)
    })));
    assert_eq!(seen, Ok(Some(Duration::ZERO)));
    let other = VirtualClock::new();
    other.advance(Duration::from_secs(1));
    let nested = support::on_minimal(clock.run(async {
        other
            .run(async { VirtualClock::current().unwrap().elapsed() })
            .await
    }));
    assert_eq!(
        nested,
        Duration::from_secs(1),
        "the inner clock shadows the outer"
    );
}

/// The auto-jump counts a task spawned on an executor before its first
/// poll: two `run`s on one executor, the second not yet polled when the
/// first goes idle, still see their sleeps end in order.
#[test]
fn tasks_not_yet_polled_hold_the_clock() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    support::watchdog(|| {
        let ex = smol::LocalExecutor::new();
        let tasks: Vec<_> = [300u64, 100, 200]
            .into_iter()
            .map(|d| {
                let (clock, order) = (clock.clone(), order.clone());
                ex.spawn(clock.clone().run(async move {
                    sleep(Duration::from_millis(d)).await;
                    order.lock().unwrap().push((d, ms(&clock, start)));
                }))
            })
            .collect();
        smol::block_on(ex.run(futures::future::join_all(tasks)));
    });
    assert_eq!(*order.lock().unwrap(), [(100, 100), (200, 200), (300, 300)]);
}
