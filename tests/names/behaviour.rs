//! The tests of `tests/names.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// Named children (a plain spawn and a set's) show their names in the task
/// tree while they wait; an unnamed sibling shows none.
pub(super) async fn named_children_show_in_the_tree() {
    setup();
    let out = open(|s| async move {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let named = s.spawn_named("tree_fetch", async move {
            rx.await.ok();
            Ok(1)
        });
        let mut set = JoinSet::new(&s);
        set.spawn_named("tree_resolver", async {
            yield_times(3).await;
            Ok(2)
        });
        let unnamed_at = line!() + 1;
        let unnamed = s.spawn(async {
            yield_times(3).await;
            Ok(3)
        });
        yield_now().await;
        let tree = corral::task_tree().to_string();
        tx.send(()).unwrap();
        let values = (named.await, set.join_next().await, unnamed.await);
        Ok::<_, ()>((tree, values, unnamed_at))
    })
    .await;
    let (tree, values, unnamed_at) = out.unwrap();
    assert_eq!(values, (1, Some(2), 3));
    assert!(tree.contains("child `tree_fetch` spawned at"), "{tree}");
    assert!(tree.contains("child `tree_resolver` spawned at"), "{tree}");
    let unnamed_line = format!("names/behaviour.rs:{unnamed_at}:");
    let line = tree
        .lines()
        .find(|l| l.contains(&unnamed_line))
        .unwrap_or_else(|| panic!("no line for {unnamed_line} in {tree}"));
    assert!(line.contains("child spawned at"), "{line}");
}

/// A named child's failure names it in the reasons its siblings were
/// dropped for, and in an error group; an unnamed child's keeps the plain
/// wording.
pub(super) async fn a_named_childs_failure_names_it() {
    let (tx, rx) = futures::channel::oneshot::channel();
    let out = open(|s| async move {
        let victim = s.spawn(std::future::pending::<Result<(), &str>>());
        yield_now().await;
        s.spawn_named("failing_child", async { Err::<(), _>("boom") });
        tx.send(victim).ok().unwrap();
        std::future::pending::<Result<(), &str>>().await
    })
    .await;
    assert_eq!(out, Err("boom"));
    let reason = rx.await.unwrap().outcome().await.unwrap_err();
    assert!(
        reason
            .to_string()
            .contains("an error (of `failing_child`, spawned or opened at"),
        "{reason}"
    );

    let errors = open_every_in(Nursery::new(), |s| async move {
        s.spawn_named("grouped", async {
            yield_now().await;
            Err::<(), _>("first")
        });
        s.spawn(async {
            yield_now().await;
            Err::<(), _>("second")
        });
        Ok(())
    })
    .await
    .unwrap_err();
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        shown[0].starts_with("first (of `grouped`, at "),
        "{shown:?}"
    );
    assert!(shown[1].starts_with("second (at "), "{shown:?}");
    assert!(!shown[1].contains('`'), "{shown:?}");
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            named_children_show_in_the_tree,
            a_named_childs_failure_names_it,
        );
    };
}
