//! The tests of `tests/time.rs` that run on both scope flavours, as plain items
//! that rustfmt formats. `tests/time.rs` includes this file twice, in
//! `scope_flavour` and in `local_flavour`, whose `open` (and `open_limited`,
//! `open_graceful`, from `support::flavour`) builds a `scope` or a
//! `local_scope`; `each_test!` at the end names the tests for the runners.

use super::*;

/// A child's `timeout(..).await?` fails the scope and drops its siblings.
pub(super) async fn a_child_timeout_fails_the_scope() {
    let dropped = DropCounter::new();
    let dropped = &dropped;
    let start = Instant::now();
    let result = open(|s| async move {
        for _ in 0..5 {
            s.spawn(pending_forever::<Result<(), Failed>>(dropped));
        }
        s.spawn(async {
            timeout(20 * MS, pending::<()>()).await?;
            Ok(())
        });
        Ok(())
    })
    .await;
    assert_eq!(result, Err(Failed::TimedOut));
    assert!(start.elapsed() >= 20 * MS, "the scope failed early");
    assert_eq!(dropped.get(), 5, "siblings dropped when the scope failed");
}

/// A whole scope under a deadline is dropped, every child with it.
pub(super) async fn a_scope_under_a_deadline_drops_every_child() {
    let dropped = DropCounter::new();
    let dropped = &dropped;
    let start = Instant::now();
    let result = timeout(
        20 * MS,
        open(|s| async move {
            for _ in 0..10 {
                s.spawn(pending_forever::<Result<(), ()>>(dropped));
            }
            pending::<Result<(), ()>>().await
        }),
    )
    .await;
    assert_eq!(result, Err(Elapsed));
    assert!(start.elapsed() >= 20 * MS);
    assert_eq!(dropped.get(), 10);
}

/// Children that finish in time are untouched by the deadline around them.
pub(super) async fn a_scope_that_finishes_in_time_is_ok() {
    let result = timeout(
        Duration::from_secs(30),
        open(|s| async move {
            let handles: Vec<_> = (0..10u64)
                .map(|i| {
                    s.spawn(async move {
                        sleep(MS * i as u32).await;
                        Ok::<_, ()>(i)
                    })
                })
                .collect();
            Ok(corral::join_all(handles).await.into_iter().sum::<u64>())
        }),
    )
    .await;
    assert_eq!(result, Ok(Ok(45)));
}

/// An expired timeout around a scope wins over a child's own fallback:
/// the child's inner timeout fired and it fell back, but by the time the
/// scope finished, the outer deadline had passed too.
pub(super) async fn an_expired_timeout_around_a_scope_wins_over_a_childs_fallback() {
    let result = timeout(
        10 * MS,
        open(|s| async move {
            // The sleep makes the scope return `Pending`, which starts the
            // outer clock; a scope re-polls a child that merely yields
            // within the same poll.
            let op = async {
                sleep(MS).await;
                blocks_then_waits(60 * MS).await
            };
            let child = s.spawn(timeout(20 * MS, op).map(|r| Ok::<_, ()>(r.unwrap_or(FALLBACK))));
            Ok(child.await)
        }),
    )
    .await;
    assert_eq!(result, Err(Elapsed));
}

/// Every test above, for the runners: `each_test!(on_both_executors)`. A test
/// left out of the list is never run, and `dead_code` says so.
macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            a_child_timeout_fails_the_scope,
            a_scope_under_a_deadline_drops_every_child,
            a_scope_that_finishes_in_time_is_ok,
            an_expired_timeout_around_a_scope_wins_over_a_childs_fallback,
        );
    };
}
