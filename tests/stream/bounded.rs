//! Back-pressure: `Scope::spawn_bounded` / `LocalScope::spawn_bounded`, and
//! a set's `spawn_bounded` under the scope's limit. Included once per scope
//! flavour by `tests/stream.rs`; `open_limited(n, ..)` is the flavour's scope
//! with `Nursery::max_concurrency(n)`.

use super::*;

/// The scope never holds more than its limit of children spawned this way,
/// and reaches it; the futures waiting to be spawned add at most one.
pub(super) async fn spawn_bounded_holds_at_most_the_limit() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let live = Live::default();
    let (running, peak, live) = (&running, &peak, &live);
    let out = open_limited(3, |s| async move {
        let mut handles = Vec::new();
        for i in 0..50usize {
            let guard = live.guard();
            handles.push(
                s.spawn_bounded(async move {
                    let _guard = guard;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    yield_times(1 + i % 4).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(i)
                })
                .await,
            );
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        Ok(sum)
    })
    .await;
    assert_eq!(out, Ok((0..50).sum()));
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert!(live.peak() <= 3 + 1, "peak {}", live.peak());
}

/// A full scope: `spawn_bounded` stays pending, however often it is polled,
/// until a child finishes; then it spawns.
pub(super) async fn spawn_bounded_waits_while_full_and_resumes_when_a_child_finishes() {
    let out = open_limited(2, |s| async move {
        let (tx_a, rx_a) = oneshot::channel::<()>();
        let (tx_b, rx_b) = oneshot::channel::<()>();
        let a = s
            .spawn_bounded(async move { Ok::<_, ()>(rx_a.await.is_ok()) })
            .await;
        let b = s.spawn_bounded(async move { Ok(rx_b.await.is_ok()) }).await;
        let mut third = pin!(s.spawn_bounded(async { Ok(true) }));
        for _ in 0..5 {
            assert!(futures::poll!(third.as_mut()).is_pending());
            yield_now().await; // a and b run, and wait
        }
        tx_a.send(()).unwrap();
        let third = third.await; // a finished: its place is free
        assert!(a.is_finished());
        assert!(!b.is_finished());
        tx_b.send(()).unwrap();
        Ok((a.await, b.await, third.await))
    })
    .await;
    assert_eq!(out, Ok((true, true, true)));
}

/// Without a limit `spawn_bounded` spawns at its first poll.
pub(super) async fn spawn_bounded_without_a_limit_spawns_at_once() {
    let out = open(|s| async move {
        let mut handles = Vec::new();
        for i in 0..100u32 {
            let mut spawn = pin!(s.spawn_bounded(async move { Ok::<_, ()>(i) }));
            match futures::poll!(spawn.as_mut()) {
                Poll::Ready(h) => handles.push(h),
                Poll::Pending => panic!("an unlimited scope always has room"),
            }
        }
        Ok(corral::join_all(handles).await.into_iter().sum::<u32>())
    })
    .await;
    assert_eq!(out, Ok(4950));
}

/// Cancel safety: dropping a waiting `spawn_bounded` drops its future,
/// unpolled, and spawns nothing.
pub(super) async fn dropping_a_waiting_spawn_bounded_drops_its_future_and_spawns_nothing() {
    let dropped = DropCounter::new();
    let polled = AtomicUsize::new(0);
    let (dropped_ref, polled_ref) = (&dropped, &polled);
    let out = open_limited(1, |s| async move {
        let (tx, rx) = oneshot::channel::<()>();
        let first = s
            .spawn_bounded(async move { Ok::<_, ()>(rx.await.is_ok()) })
            .await;
        {
            let guard = dropped_ref.guard();
            let mut waiting = pin!(s.spawn_bounded(async move {
                let _guard = guard;
                polled_ref.fetch_add(1, Ordering::SeqCst);
                Ok(false)
            }));
            assert!(futures::poll!(waiting.as_mut()).is_pending());
        }
        assert_eq!(dropped_ref.get(), 1, "dropped with the waiting spawn");
        tx.send(()).unwrap();
        Ok(first.await)
    })
    .await;
    assert_eq!(out, Ok(true));
    assert_eq!(polled.load(Ordering::SeqCst), 0, "never spawned");
}

/// A place that a waiting `spawn_bounded` was woken for, and that it never
/// took (it was dropped), goes to the next waiter.
pub(super) async fn a_place_not_taken_by_a_dropped_waiter_goes_to_the_next() {
    let out = open_limited(1, |s| async move {
        let (tx, rx) = oneshot::channel::<()>();
        let first = s
            .spawn_bounded(async move { Ok::<_, ()>(rx.await.is_ok()) })
            .await;
        let mut one = Box::pin(s.spawn_bounded(async { Ok(false) }));
        let mut two = pin!(s.spawn_bounded(async { Ok(true) }));
        assert!(futures::poll!(one.as_mut()).is_pending());
        assert!(futures::poll!(two.as_mut()).is_pending());
        tx.send(()).unwrap();
        assert!(first.await);
        // One of them was told about the place; drop the first unpolled.
        drop(one);
        Ok(two.await.await)
    })
    .await;
    assert_eq!(out, Ok(true));
}

/// Several bounded spawns waiting at once (joined in the body) are all
/// served as places free, and the limit holds throughout.
pub(super) async fn several_waiting_spawns_are_all_served() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let (running, peak) = (&running, &peak);
    let out = open_limited(2, |s| async move {
        let spawns = (0..20u32).map(|i| {
            s.spawn_bounded(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                yield_times(1 + i as usize % 3).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(i)
            })
        });
        let handles = futures::future::join_all(spawns).await;
        Ok(corral::join_all(handles).await.into_iter().sum::<u32>())
    })
    .await;
    assert_eq!(out, Ok(190));
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

/// "Spawn while draining results": a body that spawns with `spawn_bounded`
/// and takes values only now and then (or only at the end) never waits for
/// itself, since a value not taken holds no place. Through the scope's
/// handles, a set without a limit (the scope's room) and a set with one.
pub(super) async fn spawn_while_draining_results_never_deadlocks() {
    let n = 60u32;
    let expected: u32 = (0..n).sum();
    let out = open_limited(2, |s| async move {
        // Handles taken only at the end.
        let mut handles = Vec::new();
        for i in 0..n {
            handles.push(s.spawn_bounded(async move { Ok::<_, ()>(i) }).await);
        }
        let a: u32 = corral::join_all(handles).await.into_iter().sum();

        // A set on the scope's room, drained every third spawn.
        let mut set = JoinSet::new(&s);
        let mut b = 0;
        for i in 0..n {
            set.spawn_bounded(async move {
                yield_times(i as usize % 2).await;
                Ok(i)
            })
            .await;
            if i % 3 == 0 {
                b += set.join_next().await.unwrap();
            }
        }
        while let Some(v) = set.join_next().await {
            b += v;
        }

        // A set with its own limit, never drained until the end.
        let mut limited = JoinSet::with_limit(&s, 2);
        for i in 0..n {
            limited.spawn_bounded(async move { Ok(i) }).await;
        }
        let c: u32 = limited.collect::<Vec<_>>().await.into_iter().sum();
        Ok((a, b, c))
    })
    .await;
    assert_eq!(out, Ok((expected, expected, expected)));
}

/// A body feeding 100k items (500 under Miri) through `spawn_bounded` holds
/// at most `limit` children plus the one being spawned: counted by a drop
/// counter on every item, whatever state it is in.
pub(super) async fn a_body_feeding_100k_items_holds_at_most_the_limit() {
    let n = under_miri(100_000, 500);
    let live = Live::default();
    let live = &live;
    let out = open_limited(64, |s| async move {
        for i in 0..n {
            let guard = live.guard();
            // The handle is dropped at once: the child runs on, unawaited.
            drop(
                s.spawn_bounded(async move {
                    let _guard = guard;
                    yield_times(i % 3).await;
                    Ok::<_, ()>(())
                })
                .await,
            );
        }
        Ok(())
    })
    .await;
    assert_eq!(out, Ok(()));
    assert_eq!(live.now(), 0);
    assert!(live.peak() <= 64 + 1, "peak {}", live.peak());
}

/// The same through a set with its own limit in an unlimited scope, taking
/// the values as they come: the set stays small too.
pub(super) async fn a_set_fed_100k_items_holds_at_most_its_limit() {
    let n = under_miri(100_000, 500);
    let live = Live::default();
    let live = &live;
    let out = open(|s| async move {
        let mut set = JoinSet::with_limit(&s, 64);
        let mut sum = 0usize;
        let mut most = 0;
        for i in 0..n {
            let guard = live.guard();
            set.spawn_bounded(async move {
                let _guard = guard;
                yield_times(i % 3).await;
                Ok::<_, ()>(i)
            })
            .await;
            while let Some(v) = set.try_join_next() {
                sum += v;
            }
            most = most.max(set.len());
        }
        while let Some(v) = set.join_next().await {
            sum += v;
        }
        Ok((sum, most))
    })
    .await;
    let (sum, most) = out.unwrap();
    assert_eq!(sum, n * (n - 1) / 2);
    assert!(most <= 64, "the set held {most}");
    assert!(live.peak() <= 64 + 1, "peak {}", live.peak());
}

/// What `spawn_bounded` avoids: a plain `spawn` under `max_concurrency`
/// queues every child, allocated and unstarted (the behaviour that stays
/// available, documented as such).
pub(super) async fn plain_spawn_under_a_limit_queues_every_child() {
    let n = scaled(1000);
    let live = Live::default();
    let live = &live;
    let out = open_limited(4, |s| async move {
        for _ in 0..n {
            let guard = live.guard();
            s.spawn(async move {
                let _guard = guard;
                yield_now().await;
                Ok::<_, ()>(())
            });
        }
        Ok(live.now())
    })
    .await;
    assert_eq!(out, Ok(n));
    assert_eq!(live.peak(), n);
}

/// A child's error while the body waits in `spawn_bounded` fails the scope:
/// the waiting future is dropped with the body, and its child never runs.
pub(super) async fn an_error_while_the_body_waits_fails_the_scope() {
    let dropped = DropCounter::new();
    let polled = AtomicUsize::new(0);
    let (dropped_ref, polled_ref) = (&dropped, &polled);
    let out = open_limited(1, |s| async move {
        drop(
            s.spawn_bounded(async {
                yield_times(3).await;
                Err::<(), _>("child failed")
            })
            .await,
        );
        let guard = dropped_ref.guard();
        drop(
            s.spawn_bounded(async move {
                let _guard = guard;
                polled_ref.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await,
        );
        Ok(())
    })
    .await;
    assert_eq!(out, Err("child failed"));
    assert_eq!(dropped.get(), 1);
    assert_eq!(polled.load(Ordering::SeqCst), 0);
}

/// A set without a limit waits for the scope's room: its children count
/// against `max_concurrency` like any other.
pub(super) async fn a_set_without_a_limit_waits_for_the_scopes_room() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let live = Live::default();
    let (running, peak, live) = (&running, &peak, &live);
    let out = open_limited(3, |s| async move {
        let (tx, rx) = oneshot::channel::<()>();
        // A plain child of the scope holds one of the three places.
        let other = s.spawn(async move { Ok::<_, ()>(rx.await.is_ok() as u32) });
        let mut set = JoinSet::new(&s);
        for i in 0..30u32 {
            let guard = live.guard();
            set.spawn_bounded(async move {
                let _guard = guard;
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                yield_times(1 + i as usize % 3).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(i)
            })
            .await;
        }
        tx.send(()).unwrap();
        let sum: u32 = (&mut set).collect::<Vec<_>>().await.into_iter().sum();
        Ok(sum + other.await)
    })
    .await;
    assert_eq!(out, Ok(435 + 1));
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "the plain child held a place"
    );
    assert!(live.peak() <= 2 + 1, "peak {}", live.peak());
}

/// A parallel child holds a place in the scope's room while it runs on its
/// runtime: a bounded local spawn waits for it.
pub(super) async fn a_parallel_child_holds_a_place() {
    let pool = Pool::new(1);
    let rt = &*pool;
    let out = open_limited(1, |s| async move {
        let (tx, rx) = oneshot::channel::<()>();
        let remote = s.spawn_on(rt, async move { Ok::<_, ()>(rx.await.is_ok()) });
        let mut local = pin!(s.spawn_bounded(async { Ok(true) }));
        assert!(futures::poll!(local.as_mut()).is_pending());
        tx.send(()).unwrap();
        let local = local.await;
        Ok((remote.await, local.await))
    })
    .await;
    pool.shutdown();
    assert_eq!(out, Ok((true, true)));
}

/// A stop request does not end a bounded wait: the spawn still waits for a
/// place, then spawns a child that sees the request. For the scope's
/// `spawn_bounded` and a limited set's.
pub(super) async fn a_stop_does_not_end_a_bounded_wait() {
    let out = open_limited(1, |s| async move {
        let (tx, rx) = oneshot::channel::<()>();
        let first = s
            .spawn_bounded(async move { Ok::<_, ()>(rx.await.is_ok()) })
            .await;
        let s2 = s.clone();
        let mut waiting = pin!(s.spawn_bounded(async move { Ok(s2.is_stopping()) }));
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        s.stop();
        yield_now().await;
        assert!(futures::poll!(waiting.as_mut()).is_pending(), "still full");
        tx.send(()).unwrap();
        let second = waiting.await;

        let mut set = JoinSet::with_limit(&s, 1);
        let (tx, rx) = oneshot::channel::<()>();
        set.spawn(async move { Ok(rx.await.is_ok()) });
        let s3 = s.clone();
        let mut in_set = pin!(set.spawn_bounded(async move { Ok(s3.is_stopping()) }));
        assert!(futures::poll!(in_set.as_mut()).is_pending());
        tx.send(()).unwrap();
        in_set.await;
        let from_set: Vec<bool> = set.collect().await;
        Ok((first.await, second.await, from_set))
    })
    .await;
    assert_eq!(out, Ok((true, true, vec![true, true])));
}

/// `spawn_bounded` on a scope that has finished panics with the scope's
/// message when it spawns, and drops its future unpolled; with a limit and
/// without.
pub(super) async fn spawn_bounded_on_a_finished_scope_panics_cleanly() {
    let dropped = DropCounter::new();
    let polled = Arc::new(AtomicUsize::new(0));
    let unlimited = open(|s| async move { Ok::<_, ()>(s.clone()) })
        .await
        .unwrap();
    let limited = open_limited(2, |s| async move { Ok::<_, ()>(s.clone()) })
        .await
        .unwrap();
    let child = || {
        let guard = dropped.guard();
        let polled = polled.clone();
        async move {
            let _guard = guard;
            polled.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        }
    };
    for message in [
        panics_with(|| drop(unlimited.spawn_bounded(child()).now_or_never())),
        panics_with(|| drop(limited.spawn_bounded(child()).now_or_never())),
    ] {
        assert!(
            message.contains("scope that has already finished"),
            "{message}"
        );
    }
    assert_eq!(dropped.get(), 2);
    assert_eq!(polled.load(Ordering::SeqCst), 0);
}

on_both_executors!(
    spawn_bounded_holds_at_most_the_limit,
    spawn_bounded_waits_while_full_and_resumes_when_a_child_finishes,
    spawn_bounded_without_a_limit_spawns_at_once,
    dropping_a_waiting_spawn_bounded_drops_its_future_and_spawns_nothing,
    a_place_not_taken_by_a_dropped_waiter_goes_to_the_next,
    several_waiting_spawns_are_all_served,
    spawn_while_draining_results_never_deadlocks,
    a_body_feeding_100k_items_holds_at_most_the_limit,
    a_set_fed_100k_items_holds_at_most_its_limit,
    plain_spawn_under_a_limit_queues_every_child,
    an_error_while_the_body_waits_fails_the_scope,
    a_set_without_a_limit_waits_for_the_scopes_room,
    a_parallel_child_holds_a_place,
    a_stop_does_not_end_a_bounded_wait,
    spawn_bounded_on_a_finished_scope_panics_cleanly,
);
