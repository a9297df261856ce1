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

use corral::AbortHandle;
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
