//! Failure policies: `Nursery::every_error` (an `ErrorGroup` of every
//! error, not only the first) and `Nursery::stop_on_failure` (a soft phase
//! on the failure path: a stop request and the grace before the drop). The
//! tests in `failure/behaviour.rs` run for `scope` and `local_scope`, on
//! smol and on the minimal executor; the ones only a `Send` scope can
//! express are at the end. Scenarios ported, as our own code, from Trio's
//! `test_two_child_crashes` and `test_nursery_cancel_doesnt_create_cyclic_garbage`
//! family (several children fail: every error is reported), CPython's
//! `test_taskgroup_19` (a task that fails while it is being cancelled joins
//! the group), `test_taskgroup_03` and trio#147 (a grace period on the
//! failure path).

#[macro_use]
mod support;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use corral::Nursery;
use futures::FutureExt;
use support::{DropCounter, pending_forever, yield_now, yield_times};

/// The tests of `failure/behaviour.rs` on `corral::scope`.
#[path = "failure"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `failure/behaviour.rs` on `corral::local_scope`.
#[path = "failure"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// A parallel child's error in the soft phase joins the group; the scope
/// waits for the runtime before it returns.
#[test]
fn a_parallel_childs_error_in_the_soft_phase_joins_the_group() {
    let out = support::on_smol(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5))
            .every_error()
            .scope(|s| async move {
                let stop = s.stop_handle();
                s.spawn_on(&**support::smol_executor(), async move {
                    stop.stopped().await;
                    Err::<(), _>("parallel cleanup failed")
                });
                yield_now().await;
                s.spawn(async { Err::<(), _>("first") });
                Ok(())
            }),
    );
    let errors = out.unwrap_err().into_errors();
    assert_eq!(errors, ["first", "parallel cleanup failed"]);
}

/// The group is a `std::error::Error` when its members are, and shows the
/// first error and how many more.
#[test]
fn the_group_is_an_error_and_displays_its_first() {
    #[derive(Debug, Clone)]
    struct Oops(u8);
    impl std::fmt::Display for Oops {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "oops {}", self.0)
        }
    }
    impl std::error::Error for Oops {}
    let errors = support::on_minimal(Nursery::new().every_error().scope(|s| async move {
        for i in 0..3 {
            s.spawn(async move {
                yield_now().await; // all three started, then woken together
                Err::<(), _>(Oops(i))
            });
        }
        Ok(())
    }))
    .unwrap_err();
    let boxed: Box<dyn std::error::Error> = Box::new(errors.clone());
    assert_eq!(boxed.to_string(), "oops 0 (and 2 more errors)");
    let first = errors.iter().next().unwrap();
    assert!(
        first
            .to_string()
            .starts_with("oops 0 (at tests/failure.rs:"),
        "{first}"
    );
}
