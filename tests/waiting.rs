//! Waiting points in the task tree: a waiting child's line says which of
//! corral's leaf futures it waits on and where that future was made (a
//! sleep and a timeout say when they end). The tests in
//! `waiting/behaviour.rs` run for `scope` and `local_scope`, on smol and on
//! the minimal executor. Tracking is on for this whole binary.

#[macro_use]
mod support;

use std::time::Duration;

use corral::time::{sleep, timeout};
use corral::{JoinSet, Ready, Semaphore};
use futures::StreamExt;
use support::{DropCounter, pending_forever, yield_times};

/// The line of `tree` for the child spawned at `line` of the behaviour file.
fn child_line(tree: &str, line: u32) -> &str {
    let spawned = format!("spawned at tests/waiting/behaviour.rs:{line}:");
    tree.lines()
        .find(|l| l.contains(&spawned))
        .unwrap_or_else(|| panic!("no child spawned at line {line} in\n{tree}"))
}

/// `child_line` says the child waits on `what` made at `made` (a line of
/// the behaviour file).
#[track_caller]
fn assert_waits(tree: &str, spawned: u32, what: &str, made: u32) {
    let line = child_line(tree, spawned);
    let expected = format!(", on {what} at tests/waiting/behaviour.rs:{made}:");
    assert!(
        line.contains(&expected),
        "expected {expected:?} in {line:?}\n{tree}"
    );
}

/// Awaits `f`, then returns `Ok(())`: a child made of one leaf future.
async fn then_ok<T>(f: impl std::future::Future<Output = T>) -> Result<(), ()> {
    f.await;
    Ok(())
}

/// The tests of `waiting/behaviour.rs` on `corral::scope`.
#[path = "waiting"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `waiting/behaviour.rs` on `corral::local_scope`.
#[path = "waiting"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}
