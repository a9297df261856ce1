//! The tests of `tests/reason.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

fn line_of(reason: Result<(), Reason>) -> u32 {
    match reason {
        Err(Reason::Failed(at) | Reason::Panicked(at) | Reason::Stopped(at)) => at.line(),
        other => panic!("no place in {other:?}"),
    }
}

/// An aborted child says so.
pub(super) async fn an_aborted_child_says_aborted() {
    let out = open(|s| async move {
        let h = s.spawn(std::future::pending::<Result<(), ()>>());
        h.abort();
        Ok(h.outcome().await)
    })
    .await;
    assert_eq!(out, Ok(Err(Reason::Aborted)));
}

/// A child dropped by a sibling's error names where the sibling was
/// spawned; the sibling's own handle names itself.
pub(super) async fn a_siblings_failure_names_the_sibling() {
    let (tx, rx) = futures::channel::oneshot::channel();
    let line = line!() + 4;
    let out = open(|s| async move {
        let victim = s.spawn(std::future::pending::<Result<(), &str>>());
        yield_now().await;
        let culprit = s.spawn(async { Err::<(), _>("boom") });
        tx.send((victim, culprit)).ok().unwrap();
        std::future::pending::<Result<(), &str>>().await
    })
    .await;
    assert_eq!(out, Err("boom"));
    let (victim, culprit) = rx.await.unwrap();
    assert_eq!(line_of(victim.outcome().await), line);
    assert_eq!(line_of(culprit.outcome().await), line);
}

/// The body's error names where the scope was opened.
pub(super) async fn the_bodys_failure_names_the_scope() {
    let (tx, rx) = futures::channel::oneshot::channel();
    let line = line!() + 1;
    let out = open(|s| async move {
        tx.send(s.spawn(std::future::pending::<Result<(), &str>>()))
            .ok()
            .unwrap();
        yield_now().await;
        Err::<(), _>("body")
    })
    .await;
    assert_eq!(out, Err("body"));
    let victim = rx.await.unwrap();
    assert_eq!(line_of(victim.outcome().await), line);
}

/// A sibling's panic is a `Panicked` reason.
pub(super) async fn a_siblings_panic_is_panicked() {
    let (tx, rx) = futures::channel::oneshot::channel();
    let caught = AssertUnwindSafe(open(|s| async move {
        tx.send(s.spawn(std::future::pending::<Result<(), ()>>()))
            .ok()
            .unwrap();
        yield_now().await;
        s.spawn(async {
            panic!("boom");
            #[allow(unreachable_code)]
            Ok(())
        });
        std::future::pending::<Result<(), ()>>().await
    }))
    .catch_unwind()
    .await;
    assert!(caught.is_err());
    let victim = rx.await.unwrap();
    assert!(matches!(victim.outcome().await, Err(Reason::Panicked(_))));
}

/// A child dropped at the end of a stop's grace names where the stop was
/// asked; so do the stop handle and a `Stopped` future; a nested scope's
/// child carries its parent's request.
pub(super) async fn a_stop_names_where_it_was_asked() {
    let out = open_graceful(Duration::ZERO, |s| async move {
        let stop = s.stop_handle();
        assert_eq!(stop.reason(), None);
        let stuck = s.spawn(std::future::pending::<Result<(), ()>>());
        let (tx, rx) = futures::channel::oneshot::channel();
        let s2 = s.clone();
        s.spawn(async move {
            corral::scope(|inner| async move {
                tx.send(inner.spawn(std::future::pending::<Result<(), ()>>()))
                    .ok()
                    .unwrap();
                s2.stopped().await;
                Ok::<_, ()>(())
            })
            .await
            .ok();
            Ok(())
        });
        yield_now().await;
        let line = line!() + 1;
        s.stop();
        assert!(matches!(stop.reason(), Some(Reason::Stopped(at)) if at.line() == line));
        assert_eq!(s.stopped().reason(), stop.reason());
        let nested = rx.await.unwrap();
        Ok((line_of(stuck.outcome().await), line, nested.outcome().await))
    })
    .await;
    let (got, line, nested) = out.unwrap();
    assert_eq!(got, line);
    assert_eq!(line_of(nested), line);
}

/// A scope nested in a child that the enclosing scope's grace drops: its
/// children carry the enclosing stop's reason, not "scope dropped" (the
/// reviewer's case).
pub(super) async fn a_nested_scope_dropped_at_a_grace_passes_the_stop_on() {
    let (tx, rx) = futures::channel::oneshot::channel();
    let out = open_graceful(Duration::from_millis(10), |s| async move {
        s.spawn(async move {
            corral::scope(|inner| async move {
                tx.send(inner.spawn(std::future::pending::<Result<(), ()>>()))
                    .ok()
                    .unwrap();
                std::future::pending::<Result<(), ()>>().await
            })
            .await
        });
        yield_now().await;
        let line = line!() + 1;
        s.stop();
        Ok(line)
    })
    .await;
    let line = out.unwrap();
    let nested = rx.await.unwrap();
    assert_eq!(line_of(nested.outcome().await), line);
}

/// An abort asked for before a failure drops the child is the reason.
pub(super) async fn an_abort_before_a_failure_stays_aborted() {
    let (tx, rx) = futures::channel::oneshot::channel();
    let out = open(|s| async move {
        let h = s.spawn(std::future::pending::<Result<(), &str>>());
        yield_now().await;
        h.abort();
        tx.send(h).ok().unwrap();
        Err::<(), _>("body")
    })
    .await;
    assert_eq!(out, Err("body"));
    assert_eq!(rx.await.unwrap().outcome().await, Err(Reason::Aborted));
}

/// The soft deadline is `Deadline`.
pub(super) async fn a_deadline_is_deadline() {
    let out = open_in(
        Nursery::new()
            .stop_after(Duration::ZERO)
            .grace(Duration::ZERO),
        |s| async move {
            let stuck = s.spawn(std::future::pending::<Result<(), ()>>());
            s.stopped().await;
            Ok((s.stopped().reason(), stuck.outcome().await))
        },
    )
    .await;
    assert_eq!(out, Ok((Some(Reason::Deadline), Err(Reason::Deadline))));
}

/// A soft failure's stop names the failing child; so does a child dropped
/// when its grace ends.
pub(super) async fn a_soft_failure_names_the_failing_child() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let (tx, rx) = futures::channel::oneshot::channel();
    let out = open_in(
        Nursery::new()
            .stop_on_failure()
            .grace(Duration::from_millis(5)),
        |s| async move {
            let stuck = s.spawn(pending_forever::<Result<(), (&str, u32)>>(dropped_ref));
            tx.send((stuck, s.stop_handle())).ok().unwrap();
            yield_now().await;
            let line = line!() + 1;
            s.spawn(async move { Err::<(), _>(("first", line)) });
            Ok(())
        },
    )
    .await;
    let Err(("first", line)) = out else {
        panic!("{out:?}")
    };
    let (stuck, stop) = rx.await.unwrap();
    assert!(matches!(stop.reason(), Some(Reason::Failed(at)) if at.line() == line));
    assert_eq!(line_of(stuck.outcome().await), line);
}

/// A handle that outlives its dropped scope says so.
pub(super) async fn a_dropped_scope_is_scope_dropped() {
    let (tx, rx) = futures::channel::oneshot::channel();
    let mut scope = Box::pin(open(|s| async move {
        tx.send(s.spawn(std::future::pending::<Result<(), ()>>()))
            .ok()
            .unwrap();
        std::future::pending::<Result<(), ()>>().await
    }));
    assert!(support::poll_once(&mut scope).is_pending());
    drop(scope);
    let h = rx.await.unwrap();
    assert_eq!(h.outcome().await, Err(Reason::ScopeDropped));
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            an_aborted_child_says_aborted,
            a_siblings_failure_names_the_sibling,
            the_bodys_failure_names_the_scope,
            a_siblings_panic_is_panicked,
            a_stop_names_where_it_was_asked,
            a_deadline_is_deadline,
            a_nested_scope_dropped_at_a_grace_passes_the_stop_on,
            an_abort_before_a_failure_stays_aborted,
            a_soft_failure_names_the_failing_child,
            a_dropped_scope_is_scope_dropped,
        );
    };
}
