//! The tests of `tests/stop.rs` that run on both scope flavours, as plain items
//! that rustfmt formats. `tests/stop.rs` includes this file twice, in
//! `scope_flavour` and in `local_flavour`, whose `open` (and `open_limited`,
//! `open_graceful`, from `support::flavour`) builds a `scope` or a
//! `local_scope`; `each_test!` at the end names the tests for the runners.

use super::*;

/// Children that honour the request finish cleanly inside the grace: their
/// values arrive and nothing is dropped unfinished.
pub(super) async fn children_that_honour_the_request_finish_in_the_grace() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open_graceful(Duration::from_secs(30), |s| async move {
        let handles: Vec<_> = (0..4u32)
            .map(|i| {
                let s2 = s.clone();
                s.spawn(async move {
                    let _guard = drops_ref.guard();
                    s2.stopped().await;
                    yield_now().await; // a little clean-up work
                    Ok::<_, ()>(i * 10)
                })
            })
            .collect();
        yield_now().await; // let them start
        s.stop();
        Ok(corral::join_all(handles).await)
    })
    .await;
    assert_eq!(out, Ok(vec![0, 10, 20, 30]));
    assert_eq!(drops.get(), 4, "each finished and dropped once");
}

/// Children that ignore the request are dropped once the grace has passed
/// (never before), and the scope still resolves with the body's value.
pub(super) async fn children_that_ignore_it_are_dropped_after_the_grace() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let start = Instant::now();
    let out = open_graceful(GRACE, |s| async move {
        let stuck = s.spawn(pending_forever::<Result<u32, ()>>(drops_ref));
        let quick = s.spawn(async { Ok(7) });
        assert_eq!(quick.await, 7);
        s.stop();
        assert_eq!(drops_ref.get(), 0, "phase one cancels nothing");
        let stuck = stuck.or_dropped().await;
        Ok((stuck, drops_ref.get()))
    })
    .await;
    assert_eq!(out, Ok((None, 1)));
    assert!(start.elapsed() >= GRACE, "dropped before the grace ended");
}

/// Busy children (always woken, always in the ready queue) are dropped at
/// the grace too; their stale wakes after that are harmless.
pub(super) async fn busy_children_are_dropped_at_the_grace() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open_graceful(Duration::ZERO, |s| async move {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let guard = drops_ref.guard();
                s.spawn(async move {
                    let _guard = guard;
                    loop {
                        yield_now().await; // ignores the stop
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), ()>(())
                })
            })
            .collect();
        yield_now().await;
        s.stop();
        let mut dropped = 0;
        for h in handles {
            dropped += usize::from(h.or_dropped().await.is_none());
        }
        // A new child after the grace is dropped unstarted, and the scope
        // carries on with stale wakes of the old ones in its queue.
        let late = s.spawn(async { Ok(()) });
        yield_now().await;
        Ok((dropped, late.or_dropped().await))
    })
    .await;
    assert_eq!(out, Ok((4, None)));
    assert_eq!(drops.get(), 4);
}

/// A stop is not an error, and without a grace the scope simply waits for
/// its children, however long they take.
pub(super) async fn without_a_grace_the_scope_waits() {
    let out = open(|s| async move {
        let slow = s.spawn(async {
            sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>("late but whole")
        });
        s.stop();
        Ok(slow.await)
    })
    .await;
    assert_eq!(out, Ok("late but whole"));
}

/// A stop handle works from another thread, and wakes a body and a child
/// that wait for it.
pub(super) async fn the_outside_stop_handle_works_from_another_thread() {
    let out = open_graceful(Duration::from_secs(30), |s| async move {
        let s2 = s.clone();
        let child = s.spawn(async move {
            s2.stopped().await;
            Ok::<_, ()>("child saw it")
        });
        let stop = s.stop_handle();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            stop.stop();
        });
        s.stopped().await;
        thread.join().unwrap();
        Ok(child.await)
    })
    .await;
    assert_eq!(out, Ok("child saw it"));
}

/// Nested scopes see the request, whether they are in a child or in the
/// body, opened before the stop or after it.
pub(super) async fn nested_scopes_see_the_request() {
    let seen = AtomicUsize::new(0);
    let seen = &seen;
    open(|s| async move {
        // In a child, opened before the stop: waits for it.
        s.spawn(async move {
            corral::scope(|inner| async move {
                let inner2 = inner.clone();
                inner.spawn(async move {
                    inner2.stopped().await;
                    seen.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
                Ok(())
            })
            .await
        });
        yield_now().await;
        yield_now().await;
        s.stop();
        // In the body, opened after the stop: sees it at once.
        corral::local_scope(|inner| async move {
            assert!(inner.is_stopping());
            inner.spawn(async {
                let current = StopHandle::current().expect("inside a scope");
                assert!(current.is_stopping());
                seen.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
            Ok(())
        })
        .await
    })
    .await
    .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

/// A nested scope in the body holds children that ignore the request: the
/// outer scope's grace reaches them too (the body itself runs on).
pub(super) async fn the_grace_reaches_scopes_nested_in_the_body() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open_graceful(GRACE, |s| async move {
        s.stop();
        let inner = corral::scope(|inner| async move {
            let stuck = inner.spawn(pending_forever::<Result<(), ()>>(drops_ref));
            Ok::<_, ()>(stuck.or_dropped().await)
        })
        .await;
        Ok::<_, ()>(inner)
    })
    .await;
    assert_eq!(out, Ok(Ok(None)));
    assert_eq!(drops.get(), 1);
}

/// Parallel children see the request (through a captured handle and
/// through `StopHandle::current`), and one that ignores it is dropped on
/// its runtime before the scope resolves.
pub(super) async fn parallel_children_see_the_request() {
    let ex = support::smol_executor();
    let drops = DropCounter::new();
    let stuck_drops = drops.clone();
    let out = open_graceful(GRACE, |s| async move {
        let stop = s.stop_handle();
        let honours = s.spawn_on(ex, async move {
            stop.stopped().await;
            Ok::<_, ()>("captured handle")
        });
        let current = s.spawn_on(ex, async {
            let stop = StopHandle::current().expect("a parallel child is inside its scope");
            stop.stopped().await;
            Ok("current handle")
        });
        let ignores = s.spawn_on(ex, pending_forever::<Result<&str, ()>>(&stuck_drops));
        // A scope nested in a parallel child sees it too.
        let nested = s.spawn_on(ex, async {
            corral::scope(|inner| async move {
                inner.stopped().await;
                Ok::<_, ()>("nested")
            })
            .await
        });
        yield_now().await;
        s.stop();
        Ok((
            honours.await,
            current.await,
            nested.await,
            ignores.or_dropped().await,
        ))
    })
    .await;
    assert_eq!(
        out,
        Ok(("captured handle", "current handle", "nested", None))
    );
    assert_eq!(
        drops.get(),
        1,
        "dropped on its runtime before the scope resolved"
    );
}

/// A child that fails during the grace fails the scope: the stop does not
/// hide a real error.
pub(super) async fn an_error_during_the_grace_is_reported() {
    let out: Result<(), &str> = open_graceful(Duration::from_secs(30), |s| async move {
        let s2 = s.clone();
        s.spawn(async move {
            s2.stopped().await;
            Err::<(), _>("flush failed")
        });
        s.spawn(std::future::pending::<Result<(), &str>>());
        s.stop();
        std::future::pending::<()>().await;
        Ok(())
    })
    .await;
    assert_eq!(out, Err("flush failed"));
}

/// Children spawned after a stop still start (and see it); once the
/// grace has passed, new children are dropped unstarted.
pub(super) async fn spawns_after_the_stop_and_after_the_grace() {
    let started = AtomicUsize::new(0);
    let started = &started;
    let out = open_graceful(Duration::ZERO, |s| async move {
        s.stop();
        let s2 = s.clone();
        let before = s.spawn(async move {
            assert!(s2.is_stopping());
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<u32, ()>>().await
        });
        // Grace zero: dropped at the scope's next turn after the request.
        let before = before.or_dropped().await;
        let after = s.spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            Ok(2)
        });
        Ok((before, after.or_dropped().await))
    })
    .await;
    assert_eq!(out, Ok((None, None)));
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "only the child before the grace started"
    );
}

/// A second request with a later grace changes nothing; stopping a
/// finished scope does nothing; a stop handle outside any scope is `None`.
pub(super) async fn repeated_and_late_requests() {
    assert!(StopHandle::current().is_none());
    let mut kept = None;
    let kept_ref = &mut kept;
    let out = open_graceful(Duration::from_secs(3600), |s| async move {
        *kept_ref = Some(s.stop_handle());
        s.stop();
        s.stop();
        Ok::<_, ()>(s.is_stopping())
    })
    .await;
    assert_eq!(out, Ok(true));
    let handle = kept.unwrap();
    handle.stop(); // the scope has finished: nothing happens
    assert!(handle.is_stopping());
    handle.stopped().await;
}

/// `stop_within` brings the end of the grace earlier (a second Ctrl-C),
/// never later.
pub(super) async fn stop_within_shortens_the_grace() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let start = Instant::now();
    let out = open_graceful(Duration::from_secs(3600), |s| async move {
        let stuck = s.spawn(pending_forever::<Result<(), ()>>(drops_ref));
        let stop = s.stop_handle();
        stop.stop(); // an hour of grace
        stop.stop_within(Duration::from_secs(7200)); // later: ignored
        stop.stop_within(GRACE); // earlier: wins
        Ok(stuck.or_dropped().await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert_eq!(drops.get(), 1);
    assert!(start.elapsed() >= GRACE);
}

/// A destructor that panics when the grace drops its child: the panic is
/// resumed from the scope, after the other children are dropped.
pub(super) async fn a_destructor_panic_at_the_grace_is_resumed() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor at the grace");
        }
    }
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let caught = std::panic::AssertUnwindSafe(open_graceful(Duration::ZERO, |s| async move {
        s.spawn(async {
            let _bomb = PanicOnDrop;
            std::future::pending::<Result<(), ()>>().await
        });
        s.spawn(pending_forever::<Result<(), ()>>(drops_ref));
        s.stop();
        std::future::pending::<()>().await;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let payload = caught.expect_err("the destructor's panic");
    assert_eq!(
        *payload.downcast_ref::<&str>().unwrap(),
        "destructor at the grace"
    );
    assert_eq!(drops.get(), 1);
}

/// Every test above, for the runners: `each_test!(on_both_executors)`. A test
/// left out of the list is never run, and `dead_code` says so.
/// A soft deadline (`Nursery::stop_after`) is a stop request when it
/// passes: the body and the children see it, and those that honour it
/// finish with their values.
pub(super) async fn a_soft_deadline_asks_the_body_and_children_to_stop() {
    let start = Instant::now();
    let nursery = corral::Nursery::new().stop_after(GRACE);
    let out = open_in(nursery, |s| async move {
        let s2 = s.clone();
        let child = s.spawn(async move {
            s2.stopped().await;
            Ok::<_, ()>(1)
        });
        assert!(!s.is_stopping());
        s.stopped().await;
        Ok(child.await + 1)
    })
    .await;
    assert_eq!(out, Ok(2));
    assert!(start.elapsed() >= GRACE, "asked before the deadline");
}

/// Children that ignore a soft deadline are dropped when the grace after it
/// ends; the body decides what the scope returns.
pub(super) async fn children_ignoring_a_soft_deadline_are_dropped_after_the_grace() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let nursery = corral::Nursery::new()
        .stop_after(Duration::from_millis(10))
        .grace(Duration::ZERO);
    let out = open_in(nursery, |s| async move {
        let stuck = s.spawn(pending_forever::<Result<u32, ()>>(drops_ref));
        s.stopped().await;
        Ok::<_, ()>(stuck.or_dropped().await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert_eq!(drops.get(), 1);
}

/// A scope that finishes before its soft deadline never asks, and does not
/// wait for the deadline to resolve.
pub(super) async fn a_scope_done_before_its_deadline_never_asks() {
    let start = Instant::now();
    let nursery = corral::Nursery::new().stop_after(Duration::from_secs(30));
    let out = open_in(nursery, |s| async move {
        let child = s.spawn(async { Ok::<_, ()>(3) });
        yield_now().await;
        Ok((child.await, s.is_stopping()))
    })
    .await;
    assert_eq!(out, Ok((3, false)));
    assert!(start.elapsed() < Duration::from_secs(30));
}

/// A deadline already passed asks at the scope's first poll, before the
/// body runs; a nested scope sees it too.
pub(super) async fn a_deadline_already_passed_asks_at_the_first_poll() {
    let nursery = corral::Nursery::new().stop_at(Instant::now());
    let out = open_in(nursery, |s| async move {
        let first = s.is_stopping();
        let nested = open(|inner| async move { Ok::<_, ()>(inner.is_stopping()) }).await?;
        Ok::<_, ()>((first, nested))
    })
    .await;
    assert_eq!(out, Ok((true, true)));
}

/// A later `stop_after`/`stop_at` on the same nursery replaces an earlier
/// one.
pub(super) async fn a_later_deadline_replaces_an_earlier_one() {
    let nursery = corral::Nursery::new()
        .stop_after(Duration::from_millis(1))
        .stop_after(Duration::from_secs(30));
    let out = open_in(nursery, |s| async move {
        sleep(Duration::from_millis(20)).await;
        Ok::<_, ()>(s.is_stopping())
    })
    .await;
    assert_eq!(out, Ok(false));
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            children_that_honour_the_request_finish_in_the_grace,
            children_that_ignore_it_are_dropped_after_the_grace,
            busy_children_are_dropped_at_the_grace,
            without_a_grace_the_scope_waits,
            the_outside_stop_handle_works_from_another_thread,
            nested_scopes_see_the_request,
            the_grace_reaches_scopes_nested_in_the_body,
            parallel_children_see_the_request,
            an_error_during_the_grace_is_reported,
            spawns_after_the_stop_and_after_the_grace,
            repeated_and_late_requests,
            stop_within_shortens_the_grace,
            a_destructor_panic_at_the_grace_is_resumed,
            a_soft_deadline_asks_the_body_and_children_to_stop,
            children_ignoring_a_soft_deadline_are_dropped_after_the_grace,
            a_scope_done_before_its_deadline_never_asks,
            a_deadline_already_passed_asks_at_the_first_poll,
            a_later_deadline_replaces_an_earlier_one,
        );
    };
}
