//! The tests of `tests/stats.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// Under a limit of 2: running, queued and the peak follow the children;
/// a queued child aborted counts as dropped; at the end every child is
/// finished and nothing runs or waits.
pub(super) async fn gauges_and_counts_follow_the_children() {
    let out = open_in(
        Nursery::new().max_concurrency(2).collect_stats(),
        |s| async move {
            let mut gates = Vec::new();
            let mut handles = Vec::new();
            for _ in 0..3 {
                let (tx, rx) = oneshot::channel::<()>();
                gates.push(tx);
                handles.push(s.spawn(async move {
                    rx.await.unwrap();
                    Ok(())
                }));
            }
            s.spawn(std::future::pending::<Result<(), ()>>()).abort();
            yield_times(3).await;
            let middle = s.stats().unwrap();
            for gate in gates {
                gate.send(()).unwrap();
            }
            corral::join_all(handles).await;
            Ok::<_, ()>((middle, s.stats().unwrap()))
        },
    )
    .await;
    let (middle, end) = out.unwrap();
    assert_eq!(
        (
            middle.spawned,
            middle.running,
            middle.queued,
            middle.dropped,
            middle.peak_running
        ),
        (4, 2, 1, 1, 2),
        "{middle:?}"
    );
    assert_eq!(
        (
            end.spawned,
            end.running,
            end.queued,
            end.finished,
            end.failed,
            end.dropped
        ),
        (4, 0, 0, 3, 0, 1),
        "{end:?}"
    );
    assert_eq!(end.peak_running, 2);
    // The two that waited were polled twice, the third (started once the
    // gates were open) once; the aborted one never.
    assert_eq!(end.polls, 5, "{end:?}");
    assert!(
        end.poll_times.sampled() >= 1,
        "the first poll is timed: {end:?}"
    );
}

/// A failing child counts as failed, and the siblings the failure dropped
/// (one running, one spawned later and never started) as dropped; a handle
/// kept past the scope still reads them.
pub(super) async fn failures_and_drops_are_counted() {
    let drops = DropCounter::new();
    let drops = &drops;
    let (tx, rx) = std::sync::mpsc::channel();
    let out = open_in(
        Nursery::new().max_concurrency(2).collect_stats(),
        |s| async move {
            tx.send(s.clone()).unwrap();
            s.spawn(pending_forever::<Result<(), &str>>(drops));
            s.spawn(async {
                yield_now().await;
                Err::<(), _>("failed")
            });
            s.spawn(pending_forever::<Result<(), &str>>(drops)); // queued behind the limit
            Ok(())
        },
    )
    .await;
    assert_eq!(out, Err("failed"));
    let stats = rx.recv().unwrap().stats().unwrap();
    assert_eq!(
        (
            stats.spawned,
            stats.failed,
            stats.dropped,
            stats.finished,
            stats.running,
            stats.queued
        ),
        (3, 1, 2, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(drops.get(), 2);
}

/// Polls are counted, one in 32 timed (the first of each 32).
pub(super) async fn polls_are_sampled() {
    let out = open_in(Nursery::new().collect_stats(), |s| async move {
        let busy = s.spawn(async {
            yield_times(40).await;
            Ok(())
        });
        busy.await;
        Ok::<_, ()>(s.stats().unwrap())
    })
    .await;
    let stats = out.unwrap();
    assert_eq!(stats.polls, 41, "{stats:?}");
    assert_eq!(stats.poll_times.sampled(), 2, "polls 0 and 32: {stats:?}");
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            gauges_and_counts_follow_the_children,
            failures_and_drops_are_counted,
            polls_are_sampled,
        );
    };
}
