//! The tests of `tests/failure.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// Two children fail in the same turn: both errors are reported, in order,
/// each with its spawn line; a pending sibling is dropped (Trio's
/// `test_two_child_crashes`).
pub(super) async fn every_error_reports_the_errors_of_one_turn() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open_every_in(Nursery::new(), |s| async move {
        s.spawn(pending_forever::<Result<(), &str>>(dropped_ref));
        // Both started, then woken for the same turn.
        s.spawn(async {
            yield_now().await;
            Err::<(), _>("first")
        });
        s.spawn(async {
            yield_now().await;
            Err::<(), _>("second")
        });
        Ok(())
    })
    .await;
    let errors = out.unwrap_err();
    let lines: Vec<u32> = errors.iter().map(|e| e.location().line()).collect();
    assert_eq!(lines[1], lines[0] + 4, "each error names its spawn");
    assert_eq!(errors.into_errors(), ["first", "second"]);
    assert_eq!(dropped.get(), 1);
}

/// Keeping every error runs nothing a plain scope would not: after the
/// first error no child starts, queued or spawned in the failing poll (the
/// reviewer's case: it used to start them).
pub(super) async fn every_error_starts_nothing_after_the_failure() {
    let started = AtomicUsize::new(0);
    let started_ref = &started;
    let out = open_every_in(Nursery::new().max_concurrency(2), |s| async move {
        let s2 = s.clone();
        s.spawn(async move {
            // Spawned in the failing poll: never starts.
            s2.spawn(async move {
                started_ref.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("grandchild")
            });
            Err::<(), _>("a")
        });
        for _ in 0..3 {
            s.spawn(async move {
                started_ref.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), &str>>().await
            });
        }
        Ok(())
    })
    .await;
    assert_eq!(out.unwrap_err().into_errors(), ["a"]);
    // As in a plain scope: `a` fails at its first poll, before the others
    // start, and after that nothing starts.
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

/// A child that would fail only later is dropped with the rest: the group
/// holds what failed in the turn of the first failure.
pub(super) async fn every_error_keeps_the_turn_not_later_failures() {
    let out = open_every_in(Nursery::new(), |s| async move {
        s.spawn(async {
            yield_times(3).await;
            Err::<(), _>("too late")
        });
        s.spawn(async { Err::<(), _>("first") });
        Ok(())
    })
    .await;
    assert_eq!(out.unwrap_err().into_errors(), ["first"]);
}

/// The body's error names where the scope was opened; a value passes
/// through untouched.
pub(super) async fn every_error_places_the_bodys_error_at_the_scope() {
    let line = line!() + 1;
    let out = open_every_in(Nursery::new(), |_s| async { Err::<(), _>("body") }).await;
    let errors = out.unwrap_err();
    assert_eq!(errors.iter().next().unwrap().location().line(), line);
    assert_eq!(errors.first(), &"body");
    let ok = open_every_in(Nursery::new(), |s| async move {
        Ok::<_, ()>(s.spawn(async { Ok(4) }).await)
    })
    .await;
    assert_eq!(ok, Ok(4));
}

/// At the first error, a sibling gets the stop request and runs its async
/// cleanup within the grace; the scope then returns the first error
/// (trio#147: a grace on the failure path).
pub(super) async fn a_soft_failure_lets_siblings_clean_up() {
    let cleaned = AtomicBool::new(false);
    let cleaned_ref = &cleaned;
    let out = open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            let stop = s.stop_handle();
            s.spawn(async move {
                stop.stopped().await;
                yield_times(2).await; // async cleanup
                cleaned_ref.store(true, Ordering::SeqCst);
                Ok(())
            });
            yield_now().await;
            s.spawn(async { Err::<(), _>("disk full") });
            Ok(())
        },
    )
    .await;
    assert_eq!(out, Err("disk full"));
    assert!(cleaned.load(Ordering::SeqCst));
}

/// What ignores the request is dropped when the grace ends.
pub(super) async fn a_soft_failure_drops_what_is_left_after_the_grace() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_millis(10)),
        |s| async move {
            s.spawn(pending_forever::<Result<(), &str>>(dropped_ref));
            yield_now().await;
            s.spawn(async { Err::<(), _>("boom") });
            Ok(())
        },
    )
    .await;
    assert_eq!(out, Err("boom"));
    assert_eq!(dropped.get(), 1);
}

/// An error during the soft phase joins the group, after the first; it
/// never replaces it (CPython's `test_taskgroup_19`: a task that fails
/// while being cancelled).
pub(super) async fn errors_of_the_soft_phase_join_the_group() {
    let out = open_every_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            let stop = s.stop_handle();
            s.spawn(async move {
                stop.stopped().await;
                Err::<(), _>("cleanup failed")
            });
            yield_now().await;
            s.spawn(async { Err::<(), _>("first") });
            Ok(())
        },
    )
    .await;
    assert_eq!(out.unwrap_err().into_errors(), ["first", "cleanup failed"]);
    // Without every_error the later error is dropped: the first stands.
    let out = open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            let stop = s.stop_handle();
            s.spawn(async move {
                stop.stopped().await;
                Err::<(), _>("cleanup failed")
            });
            yield_now().await;
            s.spawn(async { Err::<(), _>("first") });
            Ok(())
        },
    )
    .await;
    assert_eq!(out, Err("first"));
}

/// The body's own error under a soft failure: the body is done (never
/// polled again), the scope resolves once the children have stopped, not
/// at the grace's end, and without a grace it resolves too (the reviewer's
/// hang).
pub(super) async fn a_bodys_error_fails_softly_without_waiting_the_grace() {
    let out = open_in(Nursery::new().stop_on_failure(), |_s| async {
        Err::<(), _>("e")
    })
    .await;
    assert_eq!(out, Err("e"));
    // A grace longer than the watchdog: waiting it out fails the test.
    let out = open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(3600)),
        |s| async move {
            let s2 = s.clone();
            s.spawn(async move {
                s2.stopped().await;
                Ok(())
            });
            yield_now().await;
            Err::<(), _>("e")
        },
    )
    .await;
    assert_eq!(out, Err("e"));
}

/// The body sees the request too and winds down; the value it returns is
/// dropped (the scope failed).
pub(super) async fn the_body_sees_a_soft_failure() {
    let rounds = AtomicUsize::new(0);
    let rounds_ref = &rounds;
    let out = open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            s.spawn(async {
                yield_now().await;
                Err::<(), _>("child failed")
            });
            while !s.is_stopping() {
                rounds_ref.fetch_add(1, Ordering::SeqCst);
                yield_now().await;
            }
            Ok("the body's value")
        },
    )
    .await;
    assert_eq!(out, Err("child failed"));
    assert!(rounds.load(Ordering::SeqCst) >= 1);
}

/// Children waiting for a turn never start once the scope failed, and a
/// child spawned during the soft phase is dropped unstarted.
pub(super) async fn nothing_new_starts_in_the_soft_phase() {
    let started = AtomicUsize::new(0);
    let started_ref = &started;
    let out = open_in(
        Nursery::new()
            .max_concurrency(2)
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            let s2 = s.clone();
            s.spawn(async move {
                s2.stopped().await;
                // Spawned in the soft phase: dropped unstarted.
                let late = s2.spawn(async move {
                    started_ref.fetch_add(100, Ordering::SeqCst);
                    Ok(())
                });
                Ok(late.or_dropped().await.is_none())
            });
            s.spawn(async { Err::<(), _>("first") });
            for _ in 0..3 {
                s.spawn(async move {
                    started_ref.fetch_add(1, Ordering::SeqCst); // queued: never
                    Ok(true)
                });
            }
            Ok(())
        },
    )
    .await;
    assert_eq!(out, Err("first"));
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

/// A panic in the soft phase ends it at once: everything is dropped and
/// the panic is resumed (it outranks the first error).
pub(super) async fn a_panic_in_the_soft_phase_drops_everything() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let caught = AssertUnwindSafe(open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            s.spawn(pending_forever::<Result<(), &str>>(dropped_ref));
            let stop = s.stop_handle();
            s.spawn(async move {
                stop.stopped().await;
                panic!("cleanup blew up");
                #[allow(unreachable_code)]
                Ok::<(), &str>(())
            });
            yield_now().await;
            s.spawn(async { Err::<(), _>("first") });
            Ok(())
        },
    ))
    .catch_unwind()
    .await;
    let payload = caught.expect_err("the panic is resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"cleanup blew up"));
    assert_eq!(dropped.get(), 1);
}

/// A scope nested in a child hears the request of the failed scope.
pub(super) async fn a_nested_scope_hears_a_soft_failure() {
    let heard = AtomicBool::new(false);
    let heard_ref = &heard;
    let out = open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            s.spawn(async move {
                corral::scope(|inner| async move {
                    inner.stopped().await;
                    heard_ref.store(true, Ordering::SeqCst);
                    Ok::<_, &str>(())
                })
                .await
            });
            yield_now().await;
            s.spawn(async { Err::<(), _>("first") });
            Ok(())
        },
    )
    .await;
    assert_eq!(out, Err("first"));
    assert!(heard.load(Ordering::SeqCst));
}

/// A panic first is not softened: the siblings are dropped at once.
pub(super) async fn a_panic_first_is_not_softened() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let caught = AssertUnwindSafe(open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_secs(5)),
        |s| async move {
            s.spawn(pending_forever::<Result<(), ()>>(dropped_ref));
            yield_now().await;
            s.spawn(async {
                panic!("first");
                #[allow(unreachable_code)]
                Ok(())
            });
            Ok(())
        },
    ))
    .catch_unwind()
    .await;
    assert!(caught.is_err());
    assert_eq!(dropped.get(), 1);
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            every_error_reports_the_errors_of_one_turn,
            every_error_keeps_the_turn_not_later_failures,
            every_error_starts_nothing_after_the_failure,
            every_error_places_the_bodys_error_at_the_scope,
            a_soft_failure_lets_siblings_clean_up,
            a_soft_failure_drops_what_is_left_after_the_grace,
            errors_of_the_soft_phase_join_the_group,
            the_body_sees_a_soft_failure,
            a_bodys_error_fails_softly_without_waiting_the_grace,
            nothing_new_starts_in_the_soft_phase,
            a_panic_in_the_soft_phase_drops_everything,
            a_nested_scope_hears_a_soft_failure,
            a_panic_first_is_not_softened,
        );
    };
}
