//! The tests of `tests/supervise.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// One supervised child fails; its siblings (supervised and plain) run on
/// and finish, and the scope returns `Ok` with every outcome read from the
/// handles, in spawn order. Ports Kotlin's
/// `SupervisorTest.testSupervisorScopeIsolation` (a failing child leaves
/// its sibling active) and CPython's `test_tasks.py`
/// `FutureGatherTests.test_return_exceptions` (errors and values side by
/// side, in argument order).
pub(super) async fn a_failing_supervised_child_leaves_its_siblings_running() {
    let out = open(|s| async move {
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let failing = s.spawn(supervised(async {
            yield_now().await;
            Err::<u32, _>("refused")
        }));
        // Finishes only after the body has read its sibling's error.
        let waiting = s.spawn(supervised(async move {
            go_rx.await.unwrap();
            Ok::<_, &str>(2)
        }));
        let plain = s.spawn(async {
            yield_times(3).await;
            Ok(3)
        });
        let failed = failing.await;
        go_tx.send(()).unwrap();
        Ok::<_, std::convert::Infallible>((failed, waiting.await, plain.await))
    })
    .await;
    assert_eq!(out, Ok((Err("refused"), Ok(2), 3)));
}

/// Many failing supervised children in a `JoinSet`: `join_next` yields each
/// `Err` and each `Ok` in completion order, and the scope succeeds. Ports
/// Kotlin's `SupervisorTest.testSupervisorScope` (two failing children, the
/// scope's value is still "OK"), with tokio's `JoinSet` order.
pub(super) async fn a_join_set_of_supervised_children_yields_every_outcome_in_completion_order() {
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..6usize {
            // Child i needs 10 * (6 - i) turns: the last spawned ends first.
            set.spawn(supervised(async move {
                yield_times(10 * (6 - i)).await;
                if i % 2 == 0 { Err(i) } else { Ok(i) }
            }));
        }
        let mut outcomes = Vec::new();
        while let Some(outcome) = set.join_next().await {
            outcomes.push(outcome);
        }
        Ok::<_, ()>(outcomes)
    })
    .await;
    assert_eq!(out, Ok(vec![Ok(5), Err(4), Ok(3), Err(2), Ok(1), Err(0)]));
}

/// The body's own error still fails the scope and drops the supervised
/// children. Ports Kotlin's `SupervisorTest.testThrowingSupervisorScope` and
/// `testSupervisorThrows`, and CPython's `test_taskgroup_09`/`_10` (the
/// body's error cancels the tasks).
pub(super) async fn the_bodys_error_fails_the_scope_and_drops_supervised_children() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open(|s| async move {
        s.spawn(supervised(pending_forever::<Result<(), u8>>(drops_ref)));
        s.spawn(supervised(pending_forever::<Result<(), u8>>(drops_ref)));
        yield_now().await;
        Err::<(), _>("the body failed")
    })
    .await;
    assert_eq!(out, Err("the body failed"));
    assert_eq!(drops.get(), 2, "both supervised children were dropped");
}

/// A supervised child's panic is not an outcome: it fails the scope, drops
/// the siblings and is resumed with its payload. Ports CPython's
/// `test_taskgroup_20` (a `KeyboardInterrupt`, unlike an ordinary error,
/// escapes the group as itself).
pub(super) async fn a_supervised_childs_panic_fails_the_scope() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let caught = AssertUnwindSafe(open(|s| async move {
        s.spawn(supervised(pending_forever::<Result<(), u8>>(drops_ref)));
        let h = s.spawn(supervised(async {
            yield_now().await;
            panic!("a bug, not an outcome");
            #[allow(unreachable_code)]
            Ok::<(), u8>(())
        }));
        let _ = h.await;
        Ok::<_, ()>(())
    }))
    .catch_unwind()
    .await;
    let payload = caught.expect_err("the panic reaches the scope's caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"a bug, not an outcome")
    );
    assert_eq!(drops.get(), 1, "the supervised sibling was dropped");
}

/// Supervised and plain children mixed: a plain child's error still fails
/// fast, dropping the supervised siblings, even one whose own error was
/// already read. Ports CPython's `test_taskgroup_04` and
/// `test_cancel_children_on_child_error` (a child's error cancels the
/// rest).
pub(super) async fn a_plain_childs_error_still_fails_fast_and_drops_supervised_siblings() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open(|s| async move {
        let failed = s.spawn(supervised(async { Err::<(), _>(7u8) }));
        assert_eq!(failed.await, Err(7));
        s.spawn(supervised(pending_forever::<Result<(), u8>>(drops_ref)));
        s.spawn(supervised(pending_forever::<Result<(), u8>>(drops_ref)));
        s.spawn(async {
            yield_now().await;
            Err::<(), _>("plain child failed")
        });
        std::future::pending::<()>().await;
        Ok(())
    })
    .await;
    assert_eq!(out, Err("plain child failed"));
    assert_eq!(drops.get(), 2, "the supervised siblings were dropped");
}

/// The error of a supervised child whose handle was dropped is dropped with
/// it; the scope neither fails nor waits for anyone to read it. (tokio's
/// `JoinSet` drops the `JoinError` of a task nobody joins the same way.)
pub(super) async fn an_unread_error_is_dropped_with_its_handle() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open(|s| async move {
        let guard = drops_ref.guard();
        drop(s.spawn(supervised(async move {
            yield_now().await;
            Err::<(), _>(guard)
        })));
        let sibling = s.spawn(async {
            yield_times(3).await;
            Ok(1)
        });
        Ok::<_, ()>(sibling.await)
    })
    .await;
    assert_eq!(out, Ok(1));
    assert_eq!(drops.get(), 1, "the unread error was dropped");
}

/// Under `max_concurrency`, supervised children spawned with
/// `spawn_bounded` wait for room, never run more than the limit at once,
/// and their errors reach their handles. Ports CPython's
/// `test_return_exceptions` of bounded gathers (a semaphore-limited
/// `gather(return_exceptions=True)`).
pub(super) async fn supervised_children_wait_for_room_under_the_limit() {
    let running = AtomicUsize::new(0);
    let most = AtomicUsize::new(0);
    let (running, most) = (&running, &most);
    let out = open_limited(2, |s| async move {
        let mut handles = Vec::new();
        for i in 0..6u32 {
            let h = s
                .spawn_bounded(supervised(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    yield_times(3).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    if i % 2 == 1 { Err(i) } else { Ok(i) }
                }))
                .await;
            handles.push(h);
        }
        Ok::<_, ()>(corral::join_all(handles).await)
    })
    .await;
    assert_eq!(out, Ok(vec![Ok(0), Err(1), Ok(2), Err(3), Ok(4), Err(5)]));
    assert_eq!(most.load(Ordering::SeqCst), 2, "the limit held");
}

/// Parallel supervised children (`spawn_on`, and a set's `spawn_on`) fail
/// on their runtime's threads; their errors come back through the handles
/// and the set, and the scope succeeds. Ports Kotlin's
/// `SupervisorTest.testSupervisorJob` (children failing on a dispatcher,
/// the supervisor unaffected).
pub(super) async fn parallel_supervised_children_report_their_errors() {
    let ex = support::smol_executor();
    let out = open(|s| async move {
        let handles: Vec<_> = (0..4u32)
            .map(|i| {
                s.spawn_on(
                    ex,
                    supervised(async move { if i % 2 == 0 { Err(i) } else { Ok(i) } }),
                )
            })
            .collect();
        let mut set = JoinSet::new(&s);
        for i in 4..8u32 {
            set.spawn_on(
                ex,
                supervised(async move { if i % 2 == 0 { Err(i) } else { Ok(i) } }),
            );
        }
        let from_handles = corral::join_all(handles).await;
        let mut from_set = Vec::new();
        while let Some(outcome) = set.join_next().await {
            from_set.push(outcome);
        }
        from_set.sort_by_key(|o| match o {
            Ok(i) | Err(i) => *i,
        });
        Ok::<_, &str>((from_handles, from_set))
    })
    .await;
    assert_eq!(
        out,
        Ok((
            vec![Err(0), Ok(1), Err(2), Ok(3)],
            vec![Err(4), Ok(5), Err(6), Ok(7)]
        ))
    );
}

/// A started child (a server) supervises the children it spawns for its
/// connections: one connection's error reaches the server, which serves
/// on, and the scope succeeds. (`start` itself takes a child of
/// `Result<(), E>`: the server handles its connections' outcomes.) Our own
/// scenario, the common shape of a server under Trio's `nursery.start`.
pub(super) async fn a_started_server_supervises_its_connections() {
    let out = open(|s| async move {
        let s2 = s.clone();
        let (report_tx, report_rx) = oneshot::channel();
        let up = s
            .start(|ready: Ready<&str>| async move {
                ready.send("listening").unwrap();
                let connections: Vec<_> = (0..3u32)
                    .map(|i| {
                        s2.spawn(supervised(async move {
                            yield_now().await;
                            if i == 1 {
                                Err("connection reset")
                            } else {
                                Ok(i)
                            }
                        }))
                    })
                    .collect();
                let mut outcomes = Vec::new();
                for connection in connections {
                    outcomes.push(connection.await);
                }
                report_tx.send(outcomes).unwrap();
                Ok(())
            })
            .await;
        Ok::<_, ()>((up, report_rx.await.unwrap()))
    })
    .await;
    assert_eq!(
        out,
        Ok((Ok("listening"), vec![Ok(0), Err("connection reset"), Ok(2)]))
    );
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            a_failing_supervised_child_leaves_its_siblings_running,
            a_join_set_of_supervised_children_yields_every_outcome_in_completion_order,
            the_bodys_error_fails_the_scope_and_drops_supervised_children,
            a_supervised_childs_panic_fails_the_scope,
            a_plain_childs_error_still_fails_fast_and_drops_supervised_siblings,
            an_unread_error_is_dropped_with_its_handle,
            supervised_children_wait_for_room_under_the_limit,
            parallel_supervised_children_report_their_errors,
            a_started_server_supervises_its_connections,
        );
    };
}
