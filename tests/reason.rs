//! Reasons: why a child was dropped (`JoinHandle::outcome`) or a scope
//! asked to stop (`StopHandle::reason`, `Stopped::reason`, the task tree).
//! The tests in `reason/behaviour.rs` run for `scope` and `local_scope`, on
//! smol and on the minimal executor. Trio gives a `Cancelled` its reason
//! (`Cancelled.reason`, trio#3264); tokio's `JoinError` says only
//! "cancelled" or "panicked".

#[macro_use]
mod support;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use corral::{Nursery, Reason};
use futures::FutureExt;
use support::{DropCounter, pending_forever, yield_now};

/// The tests of `reason/behaviour.rs` on `corral::scope`.
#[path = "reason"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `reason/behaviour.rs` on `corral::local_scope`.
#[path = "reason"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The task tree says why a scope is stopping.
#[test]
fn the_tree_says_why_a_scope_is_stopping() {
    corral::track_tasks(true);
    let tree = support::on_minimal(corral::scope(|s| async move {
        let line = line!() + 1;
        s.stop();
        Ok::<_, ()>((corral::task_tree().to_string(), line))
    }));
    corral::track_tasks(false);
    let (tree, line) = tree.unwrap();
    assert!(
        tree.contains(&format!(
            "stopping (a stop requested at tests/reason.rs:{line}"
        )),
        "{tree}"
    );
}

/// `Reason` shows where, and is an error.
#[test]
fn reasons_display_their_place() {
    let here = std::panic::Location::caller();
    let shown = Reason::Stopped(here).to_string();
    assert!(
        shown.starts_with("a stop requested at tests/reason.rs:"),
        "{shown}"
    );
    let _: &dyn std::error::Error = &Reason::Aborted;
    assert_eq!(Reason::Deadline.to_string(), "the scope's deadline");
}
