//! `JoinHandle::abort` and `AbortHandle`: dropping one child while its
//! scope goes on. The tests in `abort/behaviour.rs` run for `scope` and
//! `local_scope`, on smol and on the minimal executor; the ones only a
//! `Send` scope can express (parallel children, a scope polled while
//! another thread aborts) are at the end. Scenarios ported from tokio's
//! `tests/task_abort.rs` and `tests/task_join_set.rs`, CPython's
//! `test_taskgroups.py` (`test_taskgroup_03`: cancel one task of a group)
//! and Trio's per-task cancel scopes, as our own code.

#[macro_use]
mod support;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::sync::Arc;

use corral::{AbortHandle, Reason};
use futures::FutureExt;
use support::{DropCounter, pending_forever, scaled, yield_now, yield_times};

/// The tests of `abort/behaviour.rs` on `corral::scope`.
#[path = "abort"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `abort/behaviour.rs` on `corral::local_scope`.
#[path = "abort"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// A parallel child (`spawn_on`) aborted: its future is dropped on its
/// runtime, its handle resolves as dropped, and the scope waits for the drop
/// before it ends (tokio's `test_abort_without_panic_3662` and friends, on a
/// runtime of our own).
#[test]
fn an_aborted_parallel_child_is_dropped_on_its_runtime() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = support::on_smol(corral::scope(|s| async move {
        let stuck = s.spawn_on(
            &**support::smol_executor(),
            pending_forever::<Result<(), ()>>(dropped_ref),
        );
        let quick = s.spawn_on(&**support::smol_executor(), async { Ok(7) });
        yield_now().await;
        stuck.abort();
        Ok((stuck.or_dropped().await, quick.await))
    }));
    assert_eq!(out, Ok((None, 7)));
    assert_eq!(dropped.get(), 1, "the scope waited for the runtime's drop");
}

/// Aborts from another thread race the scope's polls of a busy child (one
/// that wakes itself on every poll) and of children that finish: each
/// aborted child is dropped once, the others finish, the scope ends.
#[test]
fn aborts_from_another_thread_race_the_polls() {
    for round in 0..scaled(50) {
        let dropped = DropCounter::new();
        let dropped_ref = &dropped;
        let out = support::on_smol(corral::scope(|s| async move {
            let mut handles: Vec<AbortHandle> = Vec::new();
            let mut joins = Vec::new();
            for i in 0..8usize {
                let guard = dropped_ref.guard();
                let h = s.spawn(async move {
                    let _guard = guard;
                    // Busy: always ready to run again, until aborted (or,
                    // for the odd ones, until done).
                    yield_times(if i % 2 == 0 { usize::MAX } else { round % 7 }).await;
                    Ok::<_, ()>(i)
                });
                handles.push(h.abort_handle());
                joins.push(h);
            }
            let aborter = std::thread::spawn(move || {
                for (i, h) in handles.iter().enumerate() {
                    if i % 2 == 0 || round % 3 == 0 {
                        h.abort();
                    }
                }
            });
            let mut got = Vec::new();
            for h in joins {
                got.push(h.or_dropped().await);
            }
            aborter.join().unwrap();
            Ok(got)
        }));
        let got = out.unwrap();
        for (i, v) in got.iter().enumerate() {
            if i % 2 == 0 {
                assert_eq!(*v, None, "round {round}: busy child {i} was aborted");
            } else {
                // An odd child either finished first (its value) or was
                // aborted first (round % 3 == 0): never anything else.
                assert!(
                    *v == Some(i) || (v.is_none() && round % 3 == 0),
                    "round {round}: {v:?}"
                );
            }
        }
        assert_eq!(dropped.get(), 8, "every child's future dropped once");
    }
}

/// Abort requests from other threads (through abort handles and join
/// handles, cloned and dropped there) race the scope future's drop, with
/// the children not started yet or started: the hand-over keeps the
/// scope's state alive for a request still telling it. (From the outside
/// review; run under Miri and ThreadSanitizer too.)
#[test]
fn racing_aborts_against_the_scope_drop() {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Poll};
    for round in 0..support::scaled(600) {
        let aborts: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let joins: Arc<Mutex<Vec<corral::JoinHandle<()>>>> = Arc::default();
        let go = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (aborts2, joins2) = (aborts.clone(), joins.clone());
            let mut scope = std::pin::pin!(corral::scope(|s| async move {
                for _ in 0..3 {
                    let h = s.spawn(std::future::pending::<Result<(), ()>>());
                    aborts2.lock().unwrap().push(h.abort_handle());
                    joins2.lock().unwrap().push(h);
                }
                yield_now().await;
                std::future::pending::<Result<(), ()>>().await
            }));
            let mut cx = Context::from_waker(std::task::Waker::noop());
            // One poll: the children are queued; two or more: started.
            for _ in 0..=round % 3 {
                assert!(matches!(scope.as_mut().poll(&mut cx), Poll::Pending));
            }
            for abort in aborts.lock().unwrap().drain(..) {
                let go = go.clone();
                threads.push(std::thread::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::thread::yield_now();
                    }
                    let again = abort.clone();
                    abort.abort();
                    drop(abort);
                    again.abort();
                }));
            }
            let handles: Vec<_> = joins.lock().unwrap().drain(..).collect();
            let go2 = go.clone();
            threads.push(std::thread::spawn(move || {
                while !go2.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                for h in &handles {
                    h.abort();
                }
                for h in handles {
                    let outcome = futures::executor::block_on(h.outcome());
                    assert!(
                        matches!(outcome, Err(Reason::Aborted | Reason::ScopeDropped)),
                        "{outcome:?}"
                    );
                }
            }));
            go.store(true, Ordering::Release);
        } // the scope future is dropped while the threads abort
        for thread in threads {
            thread.join().unwrap();
        }
    }
}

/// A join handle dropped on another thread, and an abort from a third,
/// race the child's finish on the scope's thread.
#[test]
fn racing_a_handle_drop_and_an_abort_against_the_finish() {
    for _ in 0..support::scaled(600) {
        let out = futures::executor::block_on(corral::scope(|s| async move {
            let (tx, rx) = std::sync::mpsc::channel::<corral::JoinHandle<Vec<u8>>>();
            let dropper = std::thread::spawn(move || drop(rx.recv().unwrap()));
            let h = s.spawn(async {
                yield_now().await;
                Ok::<_, ()>(vec![1, 2, 3])
            });
            let abort = h.abort_handle();
            tx.send(h).unwrap();
            let aborter = std::thread::spawn(move || abort.abort());
            yield_now().await;
            yield_now().await;
            dropper.join().unwrap();
            aborter.join().unwrap();
            Ok(())
        }));
        assert_eq!(out, Ok(()));
    }
}

/// A child's destructor aborts a sibling while the scope tears down after
/// a failure: the request reaches a scope that is dropping its children.
#[test]
fn racing_an_abort_from_a_destructor_during_teardown() {
    struct AbortOnDrop(AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    for _ in 0..support::scaled(100) {
        let out = futures::executor::block_on(corral::scope(|s| async move {
            let a = s.spawn(std::future::pending::<Result<(), &str>>());
            let guard = AbortOnDrop(a.abort_handle());
            let b = s.spawn(async move {
                let _guard = guard;
                std::future::pending::<Result<(), &str>>().await
            });
            let guard2 = AbortOnDrop(b.abort_handle());
            s.spawn(async move {
                let _guard = guard2;
                yield_now().await;
                Err::<(), _>("x")
            });
            std::future::pending::<Result<(), &str>>().await
        }));
        assert_eq!(out, Err("x"));
    }
}
