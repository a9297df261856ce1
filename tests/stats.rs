//! Per-scope statistics (`Nursery::collect_stats`, `Scope::stats`): counts
//! of children by what became of them, the peak running at once, polls and
//! their sampled times. The tests in `stats/behaviour.rs` run for `scope`
//! and `local_scope`, on smol and on the minimal executor.

#[macro_use]
mod support;

use corral::{Nursery, ScopeStats};
use futures::channel::oneshot;
use support::{DropCounter, pending_forever, yield_now, yield_times};

/// The tests of `stats/behaviour.rs` on `corral::scope`.
#[path = "stats"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `stats/behaviour.rs` on `corral::local_scope`.
#[path = "stats"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// A scope that does not collect says so; `ScopeStats` is plain data.
#[test]
fn stats_are_off_by_default() {
    let out = support::on_minimal(corral::scope(|s| async move { Ok::<_, ()>(s.stats()) }));
    assert_eq!(out, Ok(None));
    fn plain<T: Copy + Send + Sync + std::fmt::Debug + PartialEq + 'static>() {}
    plain::<ScopeStats>();
    plain::<corral::PollTimes>();
}
