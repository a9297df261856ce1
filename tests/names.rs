//! Names (`Scope::spawn_named`, `LocalScope::spawn_named`,
//! `JoinSet::spawn_named`, `Nursery::name`) show wherever a child's spawn
//! site or a scope's opening does: the task tree, slow-poll reports, the
//! reason a child was dropped, an error group's members. The tests in
//! `names/behaviour.rs` run for `scope` and `local_scope`, on smol and on
//! the minimal executor; named scopes are at the end, for both flavours.
//!
//! Tracking is turned on for the whole binary (and never off), and every
//! test looks for its own names in the tree; the slow-poll hook collects
//! every report of the binary, and each test looks for its own.

#[macro_use]
mod support;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use corral::{JoinSet, Nursery, Reason, SlowPoll};
use support::{yield_now, yield_times};

/// Turns tracking on, and the slow-poll hook that collects reports.
fn setup() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        corral::track_tasks(true);
        corral::on_slow_poll(|report| reports().lock().unwrap().push(*report));
    });
}

fn reports() -> &'static Mutex<Vec<SlowPoll>> {
    static REPORTS: Mutex<Vec<SlowPoll>> = Mutex::new(Vec::new());
    &REPORTS
}

/// The tests of `names/behaviour.rs` on `corral::scope`.
#[path = "names"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `names/behaviour.rs` on `corral::local_scope`.
#[path = "names"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// A named scope shows its name in the tree, in its children's slow-poll
/// reports, and in the reason its children were dropped when its body
/// failed: `Nursery::name` on both flavours.
async fn a_named_scope_shows_its_name() {
    setup();
    let tree = Nursery::new()
        .name("named_scope")
        .scope(|_s| async { Ok::<_, ()>(corral::task_tree().to_string()) })
        .await
        .unwrap();
    assert!(tree.contains("scope `named_scope` opened at"), "{tree}");
    let tree = Nursery::new()
        .name("named_local_scope")
        .local_scope(|_s| async { Ok::<_, ()>(corral::task_tree().to_string()) })
        .await
        .unwrap();
    assert!(
        tree.contains("local scope `named_local_scope` opened at"),
        "{tree}"
    );

    // The body's failure names the scope in its children's reasons.
    let (tx, rx) = futures::channel::oneshot::channel();
    let out = Nursery::new()
        .name("failing_scope")
        .local_scope(|s| async move {
            tx.send(s.spawn(std::future::pending::<Result<(), &str>>()))
                .ok()
                .unwrap();
            yield_now().await;
            Err::<(), _>("body")
        })
        .await;
    assert_eq!(out, Err("body"));
    let reason = rx.await.unwrap().outcome().await.unwrap_err();
    assert!(matches!(reason, Reason::Failed(_)));
    assert!(
        reason
            .to_string()
            .contains("of `failing_scope`, spawned or opened at"),
        "{reason}"
    );

    // A slow poll in a named scope names both.
    let out = Nursery::new()
        .name("slow_scope")
        .warn_slow_polls(Duration::from_millis(5))
        .scope(|s| async move {
            s.spawn_named("sleeper", async {
                std::thread::sleep(Duration::from_millis(30));
                Ok(())
            });
            Ok::<_, ()>(())
        })
        .await;
    assert_eq!(out, Ok(()));
    let reports = reports().lock().unwrap();
    let report = reports
        .iter()
        .find(|r| r.scope_name == Some("slow_scope"))
        .expect("the slow poll was reported");
    assert_eq!(report.name, Some("sleeper"));
    let text = report.to_string();
    assert!(
        text.contains("child `sleeper` spawned at")
            && text.contains("(scope `slow_scope` opened at"),
        "{text}"
    );
}

#[test]
fn a_named_scope_shows_its_name_on_smol() {
    support::on_smol(a_named_scope_shows_its_name());
}

#[test]
fn a_named_scope_shows_its_name_on_minimal() {
    support::on_minimal(a_named_scope_shows_its_name());
}
