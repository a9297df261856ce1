//! `Scope::spawn_shielded` / `LocalScope::spawn_shielded`: cleanup children
//! that a scope's wind-down does not drop, bounded by their own limit
//! (anyio's `CancelScope(shield=True)` with `move_on_after`, Trio's
//! shielded cancel scopes: `test_cancel_shield_abort`,
//! `test_shielded_cleanup`-style scenarios, written as our own code). The
//! tests in `shield/behaviour.rs` run for `scope` and `local_scope`, on
//! smol and on the minimal executor.

#[macro_use]
mod support;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use corral::Nursery;
use futures::FutureExt;
use support::{DropCounter, pending_forever, poll_once, yield_now, yield_times};

/// Runs its closure when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The tests of `shield/behaviour.rs` on `corral::scope`.
#[path = "shield"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `shield/behaviour.rs` on `corral::local_scope`.
#[path = "shield"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}
