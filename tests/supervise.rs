//! `corral::supervised`: a child whose error goes to its handle instead of
//! failing its scope. The tests in `supervise/behaviour.rs` run for `scope`
//! and `local_scope`, on smol and on the minimal executor; the ones only a
//! `Send` scope can express are at the end.
//!
//! Each test names the peer test whose scenario it ports: Kotlin's
//! `kotlinx-coroutines-core/common/test/SupervisorTest.kt`, CPython's
//! `Lib/test/test_asyncio/test_taskgroups.py` and `test_tasks.py`, tokio's
//! `tests/task_join_set.rs`.

#[macro_use]
mod support;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};

use corral::{JoinSet, Ready, supervised};
use futures::FutureExt;
use futures::channel::oneshot;
use support::{DropCounter, pending_forever, yield_now, yield_times};

/// The tests of `supervise/behaviour.rs` on `corral::scope`.
#[path = "supervise"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `supervise/behaviour.rs` on `corral::local_scope`.
#[path = "supervise"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// A supervised scope that crosses threads: the scope future, spawned on a
/// multi-threaded runtime, supervises children that fail there (its
/// `Send`ness with supervised children is the point).
#[test]
fn a_supervised_scope_runs_as_a_task_of_a_threaded_runtime() {
    let ex = support::smol_executor();
    let task = ex.spawn(corral::scope(|s| async move {
        let handles: Vec<_> = (0..8u32)
            .map(|i| {
                s.spawn(supervised(async move {
                    yield_now().await;
                    if i % 2 == 0 { Err(i) } else { Ok(i) }
                }))
            })
            .collect();
        Ok::<_, ()>(corral::join_all(handles).await)
    }));
    let outcomes = support::watchdog(|| futures::executor::block_on(task)).unwrap();
    let failed: Vec<u32> = outcomes.iter().filter_map(|o| o.err()).collect();
    assert_eq!(failed, [0, 2, 4, 6]);
}

/// `Supervised` prints its name (its future need not be `Debug`).
#[test]
fn supervised_is_debug() {
    let child = supervised::<_, u8, String, ()>(async { Ok(1) });
    assert_eq!(format!("{child:?}"), "Supervised { .. }");
}
