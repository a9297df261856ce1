//! The tests of `tests/start.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// The starter gets the ready value while the child runs on in the scope,
/// which waits for it.
pub(super) async fn the_ready_value_reaches_the_starter_and_the_child_runs_on() {
    let out = open(|s| async move {
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let port = s
            .start(|ready| async move {
                ready.send(5).unwrap();
                let got = rx.await.unwrap();
                assert_eq!(got, 9);
                Ok(())
            })
            .await;
        tx.send(9).unwrap();
        Ok::<_, ()>(port)
    })
    .await;
    assert_eq!(out, Ok(Ok(5)));
}

/// An error before the child is ready goes to the starter only: the scope
/// and a sibling are not affected.
pub(super) async fn an_error_before_ready_goes_to_the_starter_only() {
    let out = open(|s| async move {
        let sibling = s.spawn(async {
            yield_now().await;
            Ok(1)
        });
        let refused = s
            .start(|_ready: Ready<u16>| async {
                yield_now().await;
                Err("address in use")
            })
            .await;
        Ok((refused, sibling.await))
    })
    .await;
    assert_eq!(out, Ok((Err(StartError::Failed("address in use")), 1)));
}

/// A child that ends before it is ready is reported as such.
pub(super) async fn an_end_before_ready_is_reported() {
    let out = open(|s| async move {
        let ended = s.start(|_ready: Ready<u16>| async { Ok(()) }).await;
        Ok::<_, ()>(ended)
    })
    .await;
    assert_eq!(out, Ok(Err(StartError::Ended)));
}

/// A child that drops its sender keeps its starter waiting until it ends.
pub(super) async fn a_child_that_drops_its_sender_is_waited_for() {
    let out = open(|s| async move {
        let ended = s
            .start(|ready: Ready<u16>| async move {
                drop(ready);
                for _ in 0..3 {
                    yield_now().await;
                }
                Ok(())
            })
            .await;
        Ok::<_, ()>(ended)
    })
    .await;
    assert_eq!(out, Ok(Err(StartError::Ended)));
}

/// Once ready, the child is an ordinary child: its error fails the scope.
pub(super) async fn an_error_after_ready_fails_the_scope() {
    let out = open(|s| async move {
        let ready = s
            .start(|ready| async move {
                ready.send(()).unwrap();
                yield_now().await;
                Err("lost the listener")
            })
            .await;
        assert_eq!(ready, Ok(()));
        std::future::pending::<()>().await;
        Ok(())
    })
    .await;
    assert_eq!(out, Err("lost the listener"));
}

/// A starter that gives up (its `Start` dropped) takes a child not ready
/// yet with it: the child is dropped and the scope does not wait for it.
pub(super) async fn a_starter_that_gives_up_drops_the_child() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open(|s| async move {
        let mut start = s.start(|_ready: Ready<u16>| pending_forever(drops_ref));
        assert!(futures::poll!(&mut start).is_pending());
        drop(start);
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(out, Ok(()));
    assert_eq!(drops.get(), 1, "the child was dropped");
}

/// A sender used after its starter left gets its value back; the child,
/// not ready, is dropped at its next poll.
pub(super) async fn sending_after_the_starter_left_returns_the_value() {
    let drops = DropCounter::new();
    let drops_ref = &drops;
    let out = open(|s| async move {
        let (hand_tx, hand_rx) = futures::channel::oneshot::channel::<Ready<u16>>();
        let start = s.start(|ready: Ready<u16>| async move {
            let _guard = drops_ref.guard();
            // Hands its sender out, then waits to be dropped.
            let _ = hand_tx.send(ready);
            std::future::pending::<Result<(), ()>>().await
        });
        let ready = hand_rx.await.unwrap();
        drop(start);
        Ok::<_, ()>(ready.send(1))
    })
    .await;
    assert_eq!(out, Ok(Err(1)));
    assert_eq!(drops.get(), 1, "the child was dropped");
}

/// A stop request reaches a started child like any other.
pub(super) async fn a_stop_reaches_a_started_child() {
    let out = open(|s| async move {
        let s2 = s.clone();
        let up = s
            .start(|ready| async move {
                ready.send("up").unwrap();
                s2.stopped().await;
                Ok(())
            })
            .await;
        s.stop();
        Ok::<_, ()>(up)
    })
    .await;
    assert_eq!(out, Ok(Ok("up")));
}

/// A panic before the child is ready fails the scope, as any child's does.
pub(super) async fn a_panic_before_ready_fails_the_scope() {
    let caught = AssertUnwindSafe(open(|s| async move {
        let _ = s
            .start(|_ready: Ready<u16>| async {
                yield_now().await;
                panic!("bind blew up");
                #[allow(unreachable_code)]
                Ok::<_, ()>(())
            })
            .await;
        Ok::<_, ()>(())
    }))
    .catch_unwind()
    .await;
    let payload = caught.expect_err("the panic reaches the scope's caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"bind blew up"));
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            the_ready_value_reaches_the_starter_and_the_child_runs_on,
            an_error_before_ready_goes_to_the_starter_only,
            an_end_before_ready_is_reported,
            a_child_that_drops_its_sender_is_waited_for,
            an_error_after_ready_fails_the_scope,
            a_starter_that_gives_up_drops_the_child,
            sending_after_the_starter_left_returns_the_value,
            a_stop_reaches_a_started_child,
            a_panic_before_ready_fails_the_scope,
        );
    };
}
