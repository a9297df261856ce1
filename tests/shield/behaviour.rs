//! The tests of `tests/shield.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

const LONG: Duration = Duration::from_secs(30);

/// The end of a stop's grace drops plain children, not a shielded one: it
/// finishes its cleanup and its handle has the value.
pub(super) async fn a_shielded_child_outlives_the_grace() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open_graceful(Duration::ZERO, |s| async move {
        let plain = s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
        let cleanup = s.spawn_shielded(LONG, async {
            yield_times(5).await;
            Ok("flushed")
        });
        yield_now().await;
        s.stop(); // no grace: the plain child goes at once
        Ok((plain.or_dropped().await, cleanup.await))
    })
    .await;
    assert_eq!(out, Ok((None, Some("flushed"))));
    assert_eq!(dropped.get(), 1);
}

/// A shielded child's own limit bounds it: past it, the future is dropped
/// and the handle yields `None`.
pub(super) async fn a_shielded_child_is_bounded_by_its_limit() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let stuck = s.spawn_shielded(
            Duration::from_millis(10),
            pending_forever::<Result<(), ()>>(dropped_ref),
        );
        Ok(stuck.await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert_eq!(dropped.get(), 1);
}

/// A failure drops the plain siblings at once but waits for the shielded
/// cleanup, then returns the error.
pub(super) async fn a_failure_waits_for_shielded_cleanup() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let cleaned = AtomicBool::new(false);
    let cleaned_ref = &cleaned;
    let out = open(|s| async move {
        s.spawn(pending_forever::<Result<(), &str>>(dropped_ref));
        s.spawn_shielded(LONG, async move {
            yield_times(3).await;
            assert_eq!(dropped_ref.get(), 1, "the plain sibling went first");
            cleaned_ref.store(true, Ordering::SeqCst);
            Ok(())
        });
        yield_now().await;
        Err::<(), _>("failed")
    })
    .await;
    assert_eq!(out, Err("failed"));
    assert!(cleaned.load(Ordering::SeqCst));
}

/// Past a grace a new plain child is dropped unstarted; a shielded one
/// starts.
pub(super) async fn a_shielded_child_starts_after_the_grace() {
    let started = AtomicUsize::new(0);
    let started_ref = &started;
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open_graceful(Duration::ZERO, |s| async move {
        s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
        yield_now().await;
        s.stop();
        while dropped_ref.get() == 0 {
            yield_now().await; // until the grace (zero) has ended
        }
        let plain = s.spawn(async move {
            started_ref.fetch_add(100, Ordering::SeqCst);
            Ok(())
        });
        let shielded = s.spawn_shielded(LONG, async move {
            started_ref.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        Ok((plain.or_dropped().await, shielded.await))
    })
    .await;
    assert_eq!(out, Ok((None, Some(()))));
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

/// Dropping the scope future drops a shielded child at once: the shield
/// never delays a drop.
pub(super) async fn dropping_the_scope_drops_shielded_children_at_once() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let mut scope = Box::pin(open(|s| async move {
        s.spawn_shielded(LONG, pending_forever::<Result<(), ()>>(dropped_ref));
        std::future::pending::<Result<(), ()>>().await
    }));
    assert!(poll_once(&mut scope).is_pending());
    yield_now().await;
    assert!(poll_once(&mut scope).is_pending());
    drop(scope);
    assert_eq!(dropped.get(), 1);
}

/// A shielded child's error during the failure joins the group behind the
/// first; without `every_error` it is dropped and the first stands.
pub(super) async fn a_shielded_childs_error_joins_the_group() {
    let out = open_every_in(Nursery::new(), |s| async move {
        s.spawn_shielded(LONG, async {
            yield_times(2).await;
            Err::<(), _>("cleanup failed")
        });
        yield_now().await;
        Err::<(), _>("first")
    })
    .await;
    assert_eq!(out.unwrap_err().into_errors(), ["first", "cleanup failed"]);
    let out = open(|s| async move {
        s.spawn_shielded(LONG, async {
            yield_times(2).await;
            Err::<(), _>("cleanup failed")
        });
        yield_now().await;
        Err::<(), _>("first")
    })
    .await;
    assert_eq!(out, Err("first"));
}

/// A shielded child's panic during the failure outranks the error.
pub(super) async fn a_shielded_childs_panic_is_resumed() {
    let caught = AssertUnwindSafe(open(|s| async move {
        s.spawn_shielded(LONG, async {
            yield_times(2).await;
            panic!("cleanup blew up");
            #[allow(unreachable_code)]
            Ok::<(), &str>(())
        });
        yield_now().await;
        Err::<(), _>("first")
    }))
    .catch_unwind()
    .await;
    let payload = caught.expect_err("the panic is resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"cleanup blew up"));
}

/// The end of a soft failure's grace spares a shielded child too.
pub(super) async fn a_soft_failures_grace_spares_shielded_children() {
    let out = open_in(
        Nursery::new().stop_on_failure().grace(Duration::ZERO),
        |s| async move {
            let cleanup = s.spawn_shielded(LONG, async {
                yield_times(4).await;
                Ok(1)
            });
            s.spawn(async {
                yield_now().await;
                Err::<(), _>("first")
            });
            Ok(cleanup.await)
        },
    )
    .await;
    assert_eq!(out, Err("first"));
}

/// An abort drops a shielded child like any other.
pub(super) async fn an_abort_drops_a_shielded_child() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let h = s.spawn_shielded(LONG, pending_forever::<Result<(), ()>>(dropped_ref));
        yield_now().await;
        h.abort();
        Ok(h.or_dropped().await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert_eq!(dropped.get(), 1);
}

/// Past a failure a plain child waiting for its turn is dropped unstarted;
/// a child its destructor spawns is dropped unstarted too (it used to start:
/// it landed on the queue behind the scan that dropped its parent, and the
/// next look took it as the next child to start).
pub(super) async fn a_child_spawned_while_waiting_ones_are_dropped_never_starts() {
    let started = AtomicBool::new(false);
    let started_ref = &started;
    let out = open(|s| async move {
        let s2 = s.clone();
        s.spawn_shielded(LONG, async move {
            yield_times(3).await;
            // The scope has failed by now: this plain child is dropped
            // unstarted, and its destructor spawns another.
            let s3 = s2.clone();
            let spawns_on_drop = OnDrop(Some(move || {
                drop(s3.spawn(async move {
                    started_ref.store(true, Ordering::SeqCst);
                    Ok(())
                }));
            }));
            drop(s2.spawn(async move {
                let _spawns = spawns_on_drop;
                Ok(())
            }));
            yield_times(5).await;
            Ok(())
        });
        s.spawn(async { Err::<(), _>("failed") });
        std::future::pending::<()>().await;
        Ok(())
    })
    .await;
    assert_eq!(out, Err("failed"));
    assert!(
        !started.load(Ordering::SeqCst),
        "a child started after the failure"
    );
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            a_shielded_child_outlives_the_grace,
            a_shielded_child_is_bounded_by_its_limit,
            a_failure_waits_for_shielded_cleanup,
            a_shielded_child_starts_after_the_grace,
            dropping_the_scope_drops_shielded_children_at_once,
            a_shielded_childs_error_joins_the_group,
            a_shielded_childs_panic_is_resumed,
            a_soft_failures_grace_spares_shielded_children,
            an_abort_drops_a_shielded_child,
            a_child_spawned_while_waiting_ones_are_dropped_never_starts,
        );
    };
}
