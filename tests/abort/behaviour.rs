//! The tests of `tests/abort.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// A pending child aborted by the body is dropped; a sibling and the scope
/// are not affected (CPython's `test_taskgroup_03`, tokio's
/// `join_set_abort`-style tests).
pub(super) async fn an_aborted_child_is_dropped_and_the_scope_goes_on() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let stuck = s.spawn(pending_forever::<Result<u32, ()>>(dropped_ref));
        let sibling = s.spawn(async {
            yield_times(3).await;
            Ok(1)
        });
        yield_now().await; // both start
        assert!(!stuck.is_finished());
        stuck.abort();
        let stuck = stuck.or_dropped().await;
        assert_eq!(dropped_ref.get(), 1);
        Ok((stuck, sibling.await))
    })
    .await;
    assert_eq!(out, Ok((None, 1)));
}

/// A child aborted before it ever ran never runs.
pub(super) async fn a_child_aborted_before_its_start_never_runs() {
    let ran = AtomicBool::new(false);
    let ran_ref = &ran;
    let out = open(|s| async move {
        let h = s.spawn(async move {
            ran_ref.store(true, Ordering::SeqCst);
            Ok::<_, ()>(1)
        });
        h.abort(); // before the body yields: the child has not started
        Ok(h.or_dropped().await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert!(!ran.load(Ordering::SeqCst));
}

/// Aborting a child that has finished does nothing: its value is still
/// there (tokio: `abort` on a completed task is a no-op).
pub(super) async fn aborting_a_finished_child_keeps_its_value() {
    let out = open(|s| async move {
        let h = s.spawn(async { Ok::<_, ()>(5) });
        while !h.is_finished() {
            yield_now().await;
        }
        h.abort();
        let abort = h.abort_handle();
        abort.abort();
        assert!(abort.is_finished());
        Ok(h.or_dropped().await)
    })
    .await;
    assert_eq!(out, Ok(Some(5)));
}

/// Abort handles outlive the join handle and the scope; a second request
/// does nothing; requests after the end do nothing.
pub(super) async fn abort_handles_outlive_the_handle_and_the_scope() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let kept = open(|s| async move {
        let h = s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
        let a = h.abort_handle();
        let b = a.clone();
        drop(h);
        yield_now().await;
        a.abort();
        b.abort();
        Ok::<_, ()>(b)
    })
    .await
    .unwrap();
    assert_eq!(dropped.get(), 1);
    assert!(kept.is_finished());
    kept.abort(); // the scope is gone: nothing to do
    assert!(format!("{kept:?}").contains("finished: true"));
}

/// A sibling aborts another child while the scope polls it (the wake goes
/// straight onto the scope's own queue).
pub(super) async fn a_sibling_aborts_a_child() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let victim = s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
        let abort = victim.abort_handle();
        let killer = s.spawn(async move {
            yield_now().await;
            abort.abort();
            Ok(dropped_ref.get()) // not yet: dropped at its own turn
        });
        Ok((victim.or_dropped().await, killer.await, dropped_ref.get()))
    })
    .await;
    assert_eq!(out, Ok((None, 0, 1)));
}

/// A child that aborts itself runs on to the end of that poll and is
/// dropped before its next one.
pub(super) async fn a_child_that_aborts_itself_stops_at_its_next_turn() {
    let steps = AtomicUsize::new(0);
    let steps_ref = &steps;
    let out = open(|s| async move {
        let (tx, rx) = futures::channel::oneshot::channel::<AbortHandle>();
        let h = s.spawn(async move {
            let me = rx.await.unwrap();
            steps_ref.fetch_add(1, Ordering::SeqCst);
            me.abort();
            steps_ref.fetch_add(1, Ordering::SeqCst); // the poll runs on
            yield_now().await;
            steps_ref.fetch_add(100, Ordering::SeqCst); // never
            Ok::<_, ()>(())
        });
        tx.send(h.abort_handle()).unwrap();
        Ok(h.or_dropped().await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert_eq!(steps.load(Ordering::SeqCst), 2);
}

/// Under a concurrency limit, a child waiting for its turn is dropped at
/// once when aborted: its handle resolves while the running child still
/// holds the only place (waiting for the turn would hang: the watchdog).
pub(super) async fn a_queued_child_aborted_under_a_limit_resolves_at_once() {
    let started = AtomicBool::new(false);
    let started_ref = &started;
    let out = open_limited(1, |s| async move {
        let (release, released) = futures::channel::oneshot::channel::<()>();
        let running = s.spawn(async move {
            released.await.unwrap();
            Ok::<_, ()>(1)
        });
        let queued = s.spawn(async move {
            started_ref.store(true, Ordering::SeqCst);
            Ok(2)
        });
        let behind = s.spawn(async { Ok(3) });
        yield_now().await;
        queued.abort();
        let queued = queued.or_dropped().await;
        release.send(()).unwrap();
        Ok((running.await, queued, behind.await))
    })
    .await;
    assert_eq!(out, Ok((1, None, 3)));
    assert!(
        !started.load(Ordering::SeqCst),
        "the aborted child never started"
    );
}

/// An abort request from another thread reaches a local or a `Send` scope
/// alike: the abort handle is `Send` even when the child is not.
pub(super) async fn an_abort_from_another_thread_reaches_the_scope() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let h = s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
        yield_now().await;
        let abort = h.abort_handle();
        std::thread::spawn(move || abort.abort()).join().unwrap();
        Ok(h.or_dropped().await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert_eq!(dropped.get(), 1);
}

/// Many children, every other one aborted in reverse order: each aborted one
/// is dropped, the others finish with their values.
pub(super) async fn many_aborts_drop_exactly_the_aborted_children() {
    let n = scaled(1000);
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let mut handles = Vec::new();
        for i in 0..n {
            if i % 2 == 0 {
                handles.push(s.spawn(pending_forever::<Result<usize, ()>>(dropped_ref)));
            } else {
                handles.push(s.spawn(async move {
                    yield_times(i % 5).await;
                    Ok(i)
                }));
            }
        }
        yield_now().await;
        for (_, h) in handles.iter().enumerate().rev().filter(|(i, _)| i % 2 == 0) {
            h.abort();
        }
        let mut sum = 0;
        for h in handles {
            sum += h.or_dropped().await.unwrap_or(0);
        }
        Ok(sum)
    })
    .await;
    assert_eq!(out, Ok((0..n).filter(|i| i % 2 == 1).sum::<usize>()));
    assert_eq!(dropped.get(), n / 2);
}

/// An aborted child whose destructor panics: the panic fails the scope, as
/// every panic of a child does.
pub(super) async fn a_panicking_destructor_of_an_aborted_child_fails_the_scope() {
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            panic!("boom on abort");
        }
    }
    let caught = AssertUnwindSafe(open(|s| async move {
        let h = s.spawn(async {
            let _boom = Boom;
            std::future::pending::<Result<(), ()>>().await
        });
        yield_now().await;
        h.abort();
        yield_times(3).await;
        Ok::<_, ()>(())
    }))
    .catch_unwind()
    .await;
    let payload = caught.expect_err("the destructor's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom on abort"));
}

/// Awaiting (not `or_dropped`) an aborted child's handle panics with a
/// message that names the abort.
pub(super) async fn awaiting_an_aborted_handle_panics_clearly() {
    let caught = AssertUnwindSafe(open(|s| async move {
        let h = s.spawn(std::future::pending::<Result<(), ()>>());
        h.abort();
        h.await;
        Ok::<_, ()>(())
    }))
    .catch_unwind()
    .await;
    let payload = caught.expect_err("awaiting a dropped child panics");
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("aborted"), "{message}");
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            an_aborted_child_is_dropped_and_the_scope_goes_on,
            a_child_aborted_before_its_start_never_runs,
            aborting_a_finished_child_keeps_its_value,
            abort_handles_outlive_the_handle_and_the_scope,
            a_sibling_aborts_a_child,
            a_child_that_aborts_itself_stops_at_its_next_turn,
            a_queued_child_aborted_under_a_limit_resolves_at_once,
            an_abort_from_another_thread_reaches_the_scope,
            many_aborts_drop_exactly_the_aborted_children,
            a_panicking_destructor_of_an_aborted_child_fails_the_scope,
            awaiting_an_aborted_handle_panics_clearly,
        );
    };
}
