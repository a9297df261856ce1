//! The tests of `tests/spans.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// A child spawned inside a span runs inside it, although its scope is
/// polled outside every span; a child spawned outside runs in none; a span
/// the child opens has the spawn site's span as parent. Ports tokio's
/// `tests/tracing_task.rs` (a spawned task's span is a child of the
/// spawner's) for corral's children, which need no `.instrument` call.
pub(super) async fn a_child_runs_in_its_spawn_sites_span() {
    let t = tag();
    let out = open(|s| async move {
        let inside = info_span!("spawn_site", tag = t).in_scope(|| {
            s.spawn(async move {
                yield_now().await;
                info!("{t} inside");
                let own = info_span!("own", tag = t);
                own.in_scope(|| info!("{t} own"));
                Ok(())
            })
        });
        let outside = s.spawn(async move {
            yield_now().await;
            info!("{t} outside");
            Ok(())
        });
        inside.await;
        outside.await;
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(out, Ok(()));
    assert_eq!(path_of(&format!("{t} inside")), ["spawn_site"]);
    assert_eq!(path_of(&format!("{t} own")), ["own", "spawn_site"]);
    assert_eq!(path_of(&format!("{t} outside")), Vec::<&str>::new());
    assert_eq!(parent_of("own", t), Some("spawn_site"));
}

/// Around the whole scope (`.instrument` on the scope future), every child
/// and grandchild, in nested scopes too, runs in the span, and a JoinSet's
/// children as well; a grandchild spawned inside a child's own span runs in
/// that one.
pub(super) async fn spans_reach_every_depth() {
    use tracing::Instrument;
    let t = tag();
    let out = open(|s| async move {
        let child = s.spawn(async move {
            open(|s| async move {
                let plain = s.spawn(async move {
                    yield_times(2).await;
                    info!("{t} grandchild");
                    Ok(())
                });
                let inner = info_span!("child_span", tag = t).in_scope(|| {
                    s.spawn(async move {
                        yield_now().await;
                        info!("{t} in child span");
                        Ok(())
                    })
                });
                plain.await;
                inner.await;
                Ok::<_, ()>(())
            })
            .await
        });
        let mut set = corral::JoinSet::new(&s);
        set.spawn(async move {
            yield_now().await;
            info!("{t} set child");
            Ok(())
        });
        set.join_next().await;
        child.await;
        Ok::<_, ()>(())
    })
    .instrument(info_span!("request", tag = t))
    .await;
    assert_eq!(out, Ok(()));
    assert_eq!(path_of(&format!("{t} grandchild")), ["request"]);
    assert_eq!(
        path_of(&format!("{t} in child span")),
        ["child_span", "request"]
    );
    assert_eq!(path_of(&format!("{t} set child")), ["request"]);
}

/// A parallel child (`spawn_on`, on a smol executor's threads) runs in its
/// spawn site's span there; so do the children of a scope it opens.
pub(super) async fn a_parallel_child_runs_in_its_spawn_sites_span() {
    let ex = support::smol_executor();
    let t = tag();
    let out = open(|s| async move {
        let parallel = info_span!("parallel_site", tag = t).in_scope(|| {
            s.spawn_on(ex, async move {
                yield_now().await;
                info!("{t} on the runtime");
                corral::scope(|s| async move {
                    s.spawn(async move {
                        info!("{t} below it");
                        Ok(())
                    });
                    Ok::<_, ()>(())
                })
                .await
            })
        });
        parallel.await;
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(out, Ok(()));
    assert_eq!(path_of(&format!("{t} on the runtime")), ["parallel_site"]);
    assert_eq!(path_of(&format!("{t} below it")), ["parallel_site"]);
}

/// A child dropped unfinished (its scope failed) runs its destructor in its
/// spawn site's span.
pub(super) async fn a_dropped_child_is_dropped_in_its_span() {
    struct LogsOnDrop(u64);
    impl Drop for LogsOnDrop {
        fn drop(&mut self) {
            info!("{} dropped", self.0);
        }
    }
    let t = tag();
    let out = open(|s| async move {
        info_span!("doomed", tag = t).in_scope(|| {
            s.spawn(async move {
                let _guard = LogsOnDrop(t);
                futures::future::pending::<()>().await;
                Ok(())
            })
        });
        yield_times(2).await;
        Err::<(), _>("failed")
    })
    .await;
    assert_eq!(out, Err("failed"));
    assert_eq!(path_of(&format!("{t} dropped")), ["doomed"]);
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            a_child_runs_in_its_spawn_sites_span,
            spans_reach_every_depth,
            a_parallel_child_runs_in_its_spawn_sites_span,
            a_dropped_child_is_dropped_in_its_span,
        );
    };
}
