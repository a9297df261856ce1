//! Slow-poll warnings: a child that blocks its executor is reported with its
//! spawn location, its scope and how long it took; nothing is reported when
//! the watch is off. The hook is process-wide, so the tests take turns and
//! each reads only the reports of its own scope. Each test runs on smol and on
//! the minimal executor.

// The `serial` guard is held across awaits on purpose: it only makes the
// test threads take turns.
#![allow(clippy::await_holding_lock)]

#[macro_use]
mod support;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use corral::SlowPoll;

const BLOCK: Duration = Duration::from_millis(30);
const THRESHOLD: Duration = Duration::from_millis(10);

/// Every report so far (the hook is installed once per test binary).
fn reports() -> &'static Mutex<Vec<SlowPoll>> {
    static REPORTS: OnceLock<Mutex<Vec<SlowPoll>>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        corral::on_slow_poll(|report| reports().lock().unwrap().push(*report));
        Mutex::new(Vec::new())
    })
}

/// The tests take turns: each clears the reports, runs, and reads them.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reports().lock().unwrap().clear();
    guard
}

/// Every report since this test's turn began.
fn taken() -> Vec<SlowPoll> {
    reports().lock().unwrap().clone()
}

/// `location` is in this file, between lines `from` and `to`.
fn within(location: &std::panic::Location<'_>, from: u32, to: u32) -> bool {
    location.file().ends_with("slow_poll.rs") && (from..=to).contains(&location.line())
}

/// A child that calls `std::thread::sleep` is reported where it was spawned.
async fn a_blocking_child_is_reported_where_it_was_spawned() {
    let _turn = serial();
    let from = line!();
    let nursery = corral::Nursery::new().warn_slow_polls(THRESHOLD);
    nursery
        .scope(|s| async move {
            s.spawn(async { Ok::<_, ()>(()) }); // fast: not reported
            s.spawn(async {
                std::thread::sleep(BLOCK);
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    let to = line!();
    let found = taken();
    assert_eq!(found.len(), 1, "exactly the blocking child: {found:?}");
    assert!(within(found[0].spawned_at, from + 5, to), "{:?}", found[0]);
    assert!(within(found[0].scope_at, from, to));
    assert!(found[0].took >= BLOCK);
    assert!(!found[0].parallel);
    assert!(found[0].to_string().contains("slow poll"));
}

/// A large threshold is timed with the coarse clock (on Linux): a poll well
/// over it is still reported, its time accurate to the kernel's tick, and a
/// fast one is not.
async fn a_large_threshold_uses_the_cheap_clock_and_still_reports() {
    let _turn = serial();
    const LARGE: Duration = Duration::from_millis(100);
    const LONG: Duration = Duration::from_millis(250);
    corral::Nursery::new()
        .warn_slow_polls(LARGE)
        .scope(|s| async move {
            s.spawn(async {
                std::thread::sleep(Duration::from_millis(20)); // under the threshold
                Ok::<_, ()>(())
            });
            s.spawn(async {
                std::thread::sleep(LONG);
                Ok(())
            });
            Ok(())
        })
        .await
        .unwrap();
    let found = taken();
    assert_eq!(found.len(), 1, "only the long poll: {found:?}");
    // The coarse clock lags by at most one tick (4 ms at most on Linux).
    assert!(
        found[0].took + Duration::from_millis(10) >= LONG,
        "{:?}",
        found[0]
    );
}

/// With the watch off (the default), nothing is reported.
async fn nothing_is_reported_when_off() {
    let _turn = serial();
    corral::local_scope(|s| async move {
        s.spawn(async {
            std::thread::sleep(BLOCK);
            Ok::<_, ()>(())
        });
        Ok(())
    })
    .await
    .unwrap();
    assert!(taken().is_empty());
}

/// A parallel child that blocks its runtime thread is reported too.
async fn a_blocking_parallel_child_is_reported() {
    let _turn = serial();
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(1)
        .create()
        .unwrap();
    let pool = &pool;
    let from = line!();
    corral::Nursery::new()
        .warn_slow_polls(THRESHOLD)
        .scope(|s| async move {
            s.spawn_on(pool, async {
                std::thread::sleep(BLOCK);
                Ok::<_, ()>(())
            })
            .await;
            Ok(())
        })
        .await
        .unwrap();
    let to = line!();
    let found = taken();
    assert_eq!(found.len(), 1);
    assert!(found[0].parallel);
    assert!(within(found[0].spawned_at, from + 3, to), "{:?}", found[0]);
}

/// On a virtual clock a poll takes the virtual time that passed during it:
/// a child that moves the clock by a second in its poll is reported as
/// taking exactly that, and one that takes real time but no virtual time is
/// not reported.
async fn a_poll_is_timed_on_the_virtual_clock() {
    let _turn = serial();
    let clock = corral::time::VirtualClock::new();
    let c = &clock;
    clock
        .run(
            corral::Nursery::new()
                .warn_slow_polls(THRESHOLD)
                .scope(|s| async move {
                    s.spawn(async move {
                        c.advance(Duration::from_secs(1));
                        Ok::<_, ()>(())
                    });
                    s.spawn(async {
                        std::thread::sleep(BLOCK); // real time only
                        Ok(())
                    });
                    Ok(())
                }),
        )
        .await
        .unwrap();
    let found = taken();
    assert_eq!(
        found.len(),
        1,
        "only the child that moved the clock: {found:?}"
    );
    assert_eq!(found[0].took, Duration::from_secs(1));
}

on_both_executors!(
    a_poll_is_timed_on_the_virtual_clock,
    a_large_threshold_uses_the_cheap_clock_and_still_reports,
    a_blocking_child_is_reported_where_it_was_spawned,
    nothing_is_reported_when_off,
    a_blocking_parallel_child_is_reported,
);

/// The process-wide switch watches scopes opened after it, until turned off.
#[test]
fn the_process_wide_switch() {
    let _turn = serial();
    corral::warn_slow_polls(Some(THRESHOLD));
    let on = corral::scope(|s| async move {
        s.spawn(async {
            std::thread::sleep(BLOCK);
            Ok::<_, ()>(())
        });
        Ok(())
    });
    corral::warn_slow_polls(None);
    let off = corral::scope(|s| async move {
        s.spawn(async {
            std::thread::sleep(BLOCK);
            Ok::<_, ()>(())
        });
        Ok(())
    });
    support::on_minimal(on).unwrap();
    support::on_minimal(off).unwrap();
    assert_eq!(
        taken().len(),
        1,
        "only the scope opened while on was watched"
    );
}
