//! `JoinSet`: values in completion order, ids, `try_join_next`, the
//! `Stream` impl, the counts, dropping and `abort_all`, failures by the
//! scope's rules, `with_limit`, parallel children, a finished scope; and
//! the scenarios of tokio's `tests/task_join_set.rs` that apply to a set
//! that lives in a scope. Included once per scope flavour by
//! `tests/stream.rs`; `open` is `corral::scope` or `corral::local_scope`.

use super::*;

/// Children that finish in the reverse of their spawn order come out of
/// `join_next` in the order they finished.
pub(super) async fn values_come_out_in_completion_order() {
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..5usize {
            // Child i needs 10 * (5 - i) turns: the last spawned ends first.
            set.spawn(async move {
                yield_times(10 * (5 - i)).await;
                Ok::<_, ()>(i)
            });
        }
        let mut order = Vec::new();
        while let Some(i) = set.join_next().await {
            order.push(i);
        }
        Ok(order)
    })
    .await;
    assert_eq!(out, Ok(vec![4, 3, 2, 1, 0]));
}

/// The same, with the body deciding who finishes: whichever child it lets
/// go is the next value, whatever the spawn order.
pub(super) async fn the_child_that_finishes_is_the_next_value() {
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        let mut gates = Vec::new();
        for i in 0..5usize {
            let (tx, rx) = oneshot::channel::<()>();
            gates.push(Some(tx));
            set.spawn(async move {
                rx.await.unwrap();
                Ok::<_, ()>(i)
            });
        }
        let mut order = Vec::new();
        for i in [3, 0, 4, 1, 2] {
            gates[i].take().unwrap().send(()).unwrap();
            order.push(set.join_next().await.unwrap());
        }
        assert_eq!(set.join_next().await, None);
        Ok(order)
    })
    .await;
    assert_eq!(out, Ok(vec![3, 0, 4, 1, 2]));
}

/// An empty set yields `None` at once, before any spawn and after the last
/// value; and it can be filled again (tokio's `test_with_sleep`).
pub(super) async fn join_next_is_none_when_empty_and_the_set_is_reusable() {
    let out = open(|s| async move {
        let mut set = JoinSet::<_, usize>::new(&s);
        assert_eq!(set.join_next().await, None);
        assert_eq!(set.join_next_with_id().await, None);
        for round in 0..3usize {
            for i in 0..10 {
                set.spawn(async move {
                    yield_times(i % 4).await;
                    Ok::<_, ()>(round * 100 + i)
                });
                assert_eq!(set.len(), i + 1);
            }
            let mut seen = Vec::new();
            while let Some(v) = set.join_next().await {
                seen.push(v);
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..10).map(|i| round * 100 + i).collect::<Vec<_>>());
            assert_eq!(set.join_next().await, None);
            assert!(set.is_empty());
        }
        Ok(())
    })
    .await;
    assert_eq!(out, Ok(()));
}

/// `join_next_with_id` names the child each value came from: the id its
/// spawn returned.
pub(super) async fn join_next_with_id_names_the_spawned_child() {
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        let mut spawned = Vec::new();
        for i in 0..20u32 {
            let id = set.spawn(async move {
                yield_times((i * 7 % 5) as usize).await;
                Ok::<_, ()>(i)
            });
            spawned.push((id, i));
        }
        let mut joined = Vec::new();
        while let Some((id, value)) = set.join_next_with_id().await {
            joined.push((id, value.expect("no child was dropped")));
        }
        joined.sort();
        Ok(joined == spawned)
    })
    .await;
    assert_eq!(out, Ok(true));
}

/// A child that a stop's grace drops before it finished comes out of
/// `join_next_with_id` as `(id, None)`, and `join_next` skips it.
pub(super) async fn a_child_dropped_by_the_grace_yields_its_id_and_none() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open_graceful(std::time::Duration::ZERO, |s| async move {
        let mut set = JoinSet::new(&s);
        let stuck = set.spawn(pending_forever::<Result<u32, ()>>(dropped_ref));
        let quick = set.spawn(async { Ok(7) });
        let stuck_too = set.spawn(pending_forever(dropped_ref));
        assert_eq!(set.join_next_with_id().await, Some((quick, Some(7))));
        s.stop();
        let mut rest = vec![
            set.join_next_with_id().await.unwrap(),
            set.join_next_with_id().await.unwrap(),
        ];
        rest.sort();
        assert_eq!(rest, [(stuck, None), (stuck_too, None)]);
        assert_eq!(set.join_next_with_id().await, None);
        // Through `join_next`: nothing, since neither has a value.
        let mut again = JoinSet::new(&s);
        again.spawn(pending_forever::<Result<u32, ()>>(dropped_ref));
        Ok(again.join_next().await)
    })
    .await;
    assert_eq!(out, Ok(None));
    assert_eq!(dropped.get(), 3);
}

/// `try_join_next` takes what has finished without waiting: `None` before
/// the children ran, every value once they have (tokio's `try_join_next`
/// and `join_set_coop`, with a gate that lets them all go at once).
pub(super) async fn try_join_next_takes_only_what_has_finished() {
    let n = scaled(1000);
    let gate = Semaphore::new(0);
    let gate = &gate;
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        let mut spawned = std::collections::HashSet::new();
        for i in 0..n {
            spawned.insert(set.spawn(async move {
                drop(gate.acquire().await);
                Ok::<_, ()>(i)
            }));
        }
        assert_eq!(set.try_join_next(), None, "nothing ran yet");
        yield_now().await;
        assert_eq!(set.try_join_next(), None, "all wait at the gate");
        assert_eq!(set.unfinished(), n);
        gate.add_permits(1); // each passes the permit on
        while set.unfinished() > 0 {
            yield_now().await;
        }
        // Every value is there now: take them without waiting, through the
        // poll with ids and `try_join_next` in turn.
        let mut joined = std::collections::HashSet::new();
        let mut plain = 0;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            match set.poll_join_next_with_id(&mut cx) {
                Poll::Ready(Some((id, Some(_)))) => assert!(joined.insert(id)),
                Poll::Ready(None) => break,
                other => panic!("every child finished with a value: {other:?}"),
            }
            plain += usize::from(set.try_join_next().is_some());
        }
        Ok((
            joined.is_subset(&spawned),
            joined.len() + plain,
            set.is_empty(),
        ))
    })
    .await;
    assert_eq!(out, Ok((true, n, true)));
}

/// The set is a `Stream` of its values: `next`, `collect`, the size hint.
pub(super) async fn the_set_is_a_stream_of_values() {
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..10u32 {
            set.spawn(async move {
                yield_times(i as usize % 3).await;
                Ok::<_, ()>(i)
            });
        }
        assert_eq!(set.size_hint(), (0, Some(10)));
        let first = set.next().await.unwrap();
        let mut rest: Vec<u32> = (&mut set).collect().await;
        rest.push(first);
        rest.sort_unstable();
        assert_eq!(set.next().await, None);
        assert_eq!(set.size_hint(), (0, Some(0)));
        // tokio's `join_all`: collect a whole set.
        for _ in 0..5 {
            set.spawn(async { Ok(1) });
        }
        let ones: Vec<u32> = set.collect().await;
        Ok((rest, ones))
    })
    .await;
    assert_eq!(out, Ok(((0..10).collect(), vec![1; 5])));
}

/// `len` counts the children held (running or with a value not taken),
/// `unfinished` those still running, `is_empty` says `len == 0` (and
/// tokio's `alternating`).
pub(super) async fn len_is_empty_and_unfinished_count_the_right_children() {
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        assert!(set.is_empty());
        assert_eq!((set.len(), set.unfinished()), (0, 0));
        let (tx, rx) = oneshot::channel::<()>();
        set.spawn(async move {
            rx.await.unwrap();
            Ok::<_, ()>(0)
        });
        set.spawn(async { Ok(1) });
        set.spawn(async { Ok(2) });
        assert_eq!((set.len(), set.unfinished()), (3, 3));
        while set.unfinished() > 1 {
            yield_now().await;
        }
        assert_eq!(set.len(), 3, "finished values are still held");
        let v = set.join_next().await.unwrap();
        assert!(v == 1 || v == 2);
        assert_eq!((set.len(), set.unfinished()), (2, 1));
        tx.send(()).unwrap();
        set.join_next().await.unwrap();
        set.join_next().await.unwrap();
        assert!(set.is_empty());

        // Alternating: take one, spawn one.
        set.spawn(async { Ok(0) });
        set.spawn(async { Ok(0) });
        for _ in 0..16 {
            set.join_next().await.unwrap();
            assert_eq!(set.len(), 1);
            set.spawn(async { Ok(0) });
            assert_eq!(set.len(), 2);
        }
        Ok(())
    })
    .await;
    assert_eq!(out, Ok(()));
}

/// Dropping the set drops its unfinished children, running and waiting for
/// a turn alike, at the scope's next turn; the scope then ends without them
/// (tokio's `test_abort_on_drop`: each child holds a sender).
pub(super) async fn dropping_the_set_drops_running_and_queued_children() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open_limited(2, |s| async move {
        let mut set = JoinSet::new(&s);
        let mut receivers = Vec::new();
        for _ in 0..16 {
            let (tx, rx) = oneshot::channel::<()>();
            receivers.push(rx);
            let guard = dropped_ref.guard();
            set.spawn(async move {
                let _keep = (tx, guard);
                std::future::pending::<Result<(), ()>>().await
            });
        }
        yield_now().await; // two run, fourteen wait for a turn
        assert_eq!(dropped_ref.get(), 0);
        drop(set);
        let mut cancelled = 0;
        for rx in receivers {
            cancelled += usize::from(rx.await.is_err());
        }
        Ok(cancelled)
    })
    .await;
    assert_eq!(out, Ok(16));
    assert_eq!(dropped.get(), 16);
}

/// Dropping the set drops the values nobody took, and the finished
/// children's cells with them.
pub(super) async fn dropping_the_set_drops_values_not_taken() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for _ in 0..5 {
            let guard = dropped_ref.guard();
            set.spawn(async move {
                yield_now().await;
                Ok::<_, ()>(guard)
            });
        }
        while set.unfinished() > 0 {
            yield_now().await;
        }
        let taken = set.join_next().await.unwrap();
        let before = dropped_ref.get();
        drop(set);
        let after = dropped_ref.get();
        drop(taken);
        Ok((before, after, dropped_ref.get()))
    })
    .await;
    assert_eq!(out, Ok((0, 4, 5)));
}

/// A set dropped by a child (not the body) drops its children too.
pub(super) async fn a_set_dropped_in_a_child_drops_its_children() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let s2 = s.clone();
        let child = s.spawn(async move {
            let mut set = JoinSet::<_, ()>::new(&s2);
            for _ in 0..3 {
                set.spawn(pending_forever(dropped_ref));
            }
            yield_now().await;
            drop(set);
            yield_now().await;
            Ok::<_, ()>(dropped_ref.get())
        });
        Ok(child.await)
    })
    .await;
    assert_eq!(out, Ok(3));
}

/// `abort_all` drops the unfinished children and keeps the finished ones'
/// values; the set still counts the dropped ones until they are yielded as
/// `(id, None)` (tokio's `abort_all`: 5 pending, 5 done).
pub(super) async fn abort_all_drops_unfinished_and_keeps_finished_values() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        let mut stuck = Vec::new();
        for _ in 0..5 {
            stuck.push(set.spawn(pending_forever::<Result<u32, ()>>(dropped_ref)));
        }
        for i in 0..5u32 {
            set.spawn(async move {
                yield_now().await;
                Ok(i)
            });
        }
        while set.unfinished() > 5 {
            yield_now().await;
        }
        set.abort_all();
        assert_eq!(set.len(), 10);
        let mut values = Vec::new();
        let mut none = Vec::new();
        while let Some((id, value)) = set.join_next_with_id().await {
            match value {
                Some(v) => values.push(v),
                None => none.push(id),
            }
        }
        values.sort_unstable();
        none.sort();
        assert_eq!(none, stuck);
        assert!(set.is_empty());
        // The set stays usable after `abort_all`.
        set.spawn(async { Ok(9) });
        assert_eq!(set.join_next().await, Some(9));
        Ok(values)
    })
    .await;
    assert_eq!(out, Ok(vec![0, 1, 2, 3, 4]));
    assert_eq!(dropped.get(), 5);
}

/// tokio's `shutdown` (`spawn_then_shutdown`): `abort_all`, then drain the
/// set; every child is gone by then, and the set is empty.
pub(super) async fn abort_all_then_draining_shuts_the_set_down() {
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        let mut receivers = Vec::new();
        for _ in 0..8 {
            let (tx, rx) = oneshot::channel::<()>();
            receivers.push(rx);
            set.spawn(async move {
                let _keep = tx;
                std::future::pending::<Result<(), ()>>().await
            });
        }
        assert_eq!(set.try_join_next(), None);
        set.abort_all();
        let mut none = 0;
        while let Some((_, value)) = set.join_next_with_id().await {
            none += usize::from(value.is_none());
        }
        assert!(set.is_empty());
        let mut closed = 0;
        for mut rx in receivers {
            closed += usize::from(matches!(rx.try_recv(), Err(oneshot::Canceled)));
        }
        Ok((none, closed))
    })
    .await;
    assert_eq!(out, Ok((8, 8)));
}

/// `try_join_next` skips children dropped unfinished, as `join_next` does;
/// `len` counts them until they are reported (or skipped), `unfinished`
/// does not.
pub(super) async fn dropped_children_count_in_len_until_reported_and_are_skipped() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for _ in 0..3 {
            set.spawn(pending_forever::<Result<u32, ()>>(dropped_ref));
        }
        set.spawn(async { Ok(4) });
        yield_now().await;
        set.abort_all();
        while dropped_ref.get() < 3 {
            yield_now().await;
        }
        let counts = (set.len(), set.unfinished());
        let first = set.try_join_next();
        let second = set.try_join_next();
        Ok((counts, first, second, set.is_empty()))
    })
    .await;
    assert_eq!(out, Ok(((4, 0), Some(4), None, true)));
}

/// A child's error fails the scope as any child's would: siblings in and out
/// of the set are dropped, and the body (waiting on the set) with them.
pub(super) async fn a_childs_error_fails_the_scope() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let mut set = JoinSet::<_, ()>::new(&s);
        s.spawn(pending_forever::<Result<(), &str>>(dropped_ref));
        for _ in 0..3 {
            set.spawn(pending_forever(dropped_ref));
        }
        set.spawn(async {
            yield_times(3).await;
            Err("child failed")
        });
        let _guard = dropped_ref.guard(); // the body's
        while set.join_next().await.is_some() {}
        Ok(())
    })
    .await;
    assert_eq!(out, Err("child failed"));
    assert_eq!(dropped.get(), 5);
}

/// A child's panic fails the scope: siblings are dropped, then the scope
/// resumes the payload (tokio's `task_panics`: the other child never
/// finished).
pub(super) async fn a_childs_panic_fails_the_scope() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let (tx, mut rx) = oneshot::channel::<()>();
    let mut fut = pin!(open(move |s| async move {
        let mut set = JoinSet::new(&s);
        let guard = d.guard();
        set.spawn(async move {
            let _guard = guard;
            yield_times(20).await;
            tx.send(()).unwrap();
            Ok::<_, ()>(())
        });
        set.spawn(async {
            yield_now().await;
            std::panic::panic_any(String::from("set child exploded"));
            #[allow(unreachable_code)]
            Ok(())
        });
        while set.join_next().await.is_some() {}
        Ok(())
    }));
    let caught = AssertUnwindSafe(fut.as_mut()).catch_unwind().await;
    let payload = caught.expect_err("the child's panic reaches the parent");
    assert_eq!(panic_message(&*payload), "set child exploded");
    assert_eq!(dropped.get(), 1);
    assert!(matches!(rx.try_recv(), Err(oneshot::Canceled)));
}

/// `with_limit(n)` with `spawn_bounded`: never more than `n` of the set's
/// children run at once, and the limit is reached.
pub(super) async fn with_limit_never_runs_more_than_the_limit() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let (running, peak) = (&running, &peak);
    let out = open(|s| async move {
        let mut set = JoinSet::with_limit(&s, 3);
        let mut sum = 0;
        for i in 0..30usize {
            set.spawn_bounded(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                yield_times(1 + i % 4).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(i)
            })
            .await;
            assert!(set.unfinished() <= 3);
            if i % 7 == 0 {
                sum += set.join_next().await.unwrap();
            }
        }
        while let Some(i) = set.join_next().await {
            sum += i;
        }
        Ok(sum)
    })
    .await;
    assert_eq!(out, Ok((0..30).sum()));
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}

/// A set's limit counts only its own children, and plain `spawn` ignores it.
pub(super) async fn a_sets_limit_counts_only_its_bounded_room() {
    let out = open(|s| async move {
        let mut set = JoinSet::with_limit(&s, 2);
        let mut gates = Vec::new();
        for _ in 0..4 {
            let (tx, rx) = oneshot::channel::<()>();
            gates.push(tx);
            set.spawn(async move { Ok::<_, ()>(rx.await.is_ok()) });
        }
        assert_eq!(set.unfinished(), 4, "plain spawns never wait");
        // Other children of the scope do not count against the set.
        let mut other = JoinSet::with_limit(&s, 1);
        {
            let mut spawn_other = pin!(other.spawn_bounded(async { Ok(true) }));
            assert!(futures::poll!(spawn_other.as_mut()).is_ready());
        }
        // The set is over its limit: a bounded spawn waits.
        {
            let mut spawn = pin!(set.spawn_bounded(async { Ok(true) }));
            assert!(futures::poll!(spawn.as_mut()).is_pending());
            drop(gates.pop()); // one child ends (its gate is gone)
            drop(gates.pop());
            drop(gates.pop()); // three of four: one unfinished, room for one
            spawn.await;
        }
        drop(gates);
        let mut n = 0;
        while set.join_next().await.is_some() {
            n += 1;
        }
        Ok((n, other.join_next().await))
    })
    .await;
    assert_eq!(out, Ok((5, Some(true))));
}

/// `with_limit(_, 0)` panics at once, with a message that says why.
pub(super) async fn with_limit_zero_panics_with_a_message() {
    let out = open(|s| async move {
        let message = panics_with(|| drop(JoinSet::<_, ()>::with_limit(&s, 0)));
        Ok::<_, ()>(message)
    })
    .await
    .unwrap();
    assert!(out.contains("with_limit(_, 0)"), "{out}");
}

/// Parallel children through `spawn_on` come out of the set like local
/// ones, mixed with them.
pub(super) async fn parallel_children_come_out_of_the_set() {
    let pool = Pool::new(2);
    let rt = &*pool;
    let here = std::thread::current().id();
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..8u32 {
            set.spawn_on(rt, async move {
                Ok::<_, ()>((i, std::thread::current().id() != here))
            });
            set.spawn(async move {
                yield_now().await;
                Ok((100 + i, false))
            });
        }
        let mut values = Vec::new();
        while let Some(v) = set.join_next().await {
            values.push(v);
        }
        values.sort_unstable();
        Ok(values)
    })
    .await;
    pool.shutdown();
    let values = out.unwrap();
    assert_eq!(values.len(), 16);
    assert!(values[..8].iter().all(|(_, remote)| *remote));
    assert_eq!(
        values.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..8).chain(100..108).collect::<Vec<_>>()
    );
}

/// Dropping a set drops its parallel children on their runtime before the
/// scope ends; `abort_all` yields them as `(id, None)`.
pub(super) async fn a_sets_parallel_children_are_aborted_with_it() {
    let pool = Pool::new(2);
    let rt = &*pool;
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = open(|s| async move {
        let mut set = JoinSet::<_, ()>::new(&s);
        for _ in 0..4 {
            set.spawn_on(rt, pending_forever(dropped_ref));
        }
        set.abort_all();
        let mut none = 0;
        while let Some((_, value)) = set.join_next_with_id().await {
            none += usize::from(value.is_none());
        }
        for _ in 0..4 {
            set.spawn_on(rt, pending_forever(dropped_ref));
        }
        drop(set);
        Ok::<_, ()>(none)
    })
    .await;
    pool.shutdown();
    assert_eq!(out, Ok(4));
    assert_eq!(dropped.get(), 8, "all dropped before the scope returned");
}

/// tokio's `runtime_gone`: a set's parallel child whose runtime shuts down
/// under it fails the scope with a clear message (tokio reports the task as
/// cancelled; a scope cannot lose a child quietly).
pub(super) async fn a_parallel_child_whose_runtime_is_gone_fails_the_scope() {
    let pool = Pool::new(1);
    let rt = &*pool;
    let mut fut = pin!(open(|s| async move {
        let mut set = JoinSet::<_, ()>::new(&s);
        let (tx, rx) = oneshot::channel::<()>();
        set.spawn_on(rt, async move {
            tx.send(()).unwrap();
            std::future::pending().await
        });
        rx.await.unwrap(); // it runs on the pool
        rt.shutdown();
        set.join_next().await;
        Ok::<_, ()>(())
    }));
    let caught = AssertUnwindSafe(fut.as_mut()).catch_unwind().await;
    let message = panic_message(&*caught.expect_err("the scope fails loudly"));
    assert!(message.contains("dropped by its runtime"), "{message}");
}

/// A set that outlives its scope (returned by the body) still yields the
/// values its children finished with, then `None`.
pub(super) async fn a_set_outliving_its_scope_yields_the_values_left() {
    let mut set = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..3u32 {
            set.spawn(async move { Ok::<_, ()>(i) });
        }
        Ok(set)
    })
    .await
    .unwrap();
    assert_eq!(set.unfinished(), 0);
    let mut values: Vec<u32> = (&mut set).collect().await;
    values.sort_unstable();
    assert_eq!(values, [0, 1, 2]);
    assert_eq!(set.join_next().await, None);
}

/// A spawn into a set whose scope has finished panics with the scope's
/// message, never polls the child (it is dropped, once) and leaves the set
/// whole: the values it held are still there, and it drops cleanly. Through
/// `spawn`, `spawn_bounded` (with and without a limit) and `spawn_on`.
/// Run it under Miri too (see the report of `tests/stream.rs`).
pub(super) async fn a_spawn_into_a_set_on_a_finished_scope_panics_cleanly() {
    let pool = Pool::new(1);
    let rt = &*pool;
    let dropped = DropCounter::new();
    let polled = Arc::new(AtomicUsize::new(0));
    let (mut set, mut limited) = open(|s| async move {
        let mut set = JoinSet::new(&s);
        set.spawn(async { Ok::<_, ()>(1u32) });
        let limited = JoinSet::with_limit(&s, 1);
        Ok((set, limited))
    })
    .await
    .unwrap();
    let child = |polled: &Arc<AtomicUsize>| {
        let guard = dropped.guard();
        let polled = polled.clone();
        async move {
            let _guard = guard;
            polled.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(2u32)
        }
    };
    let messages = [
        panics_with(|| {
            set.spawn(child(&polled));
        }),
        panics_with(|| {
            set.spawn_on(rt, child(&polled));
        }),
        panics_with(|| {
            let _ = set.spawn_bounded(child(&polled)).now_or_never();
        }),
        panics_with(|| {
            let _ = limited.spawn_bounded(child(&polled)).now_or_never();
        }),
    ];
    for message in &messages {
        assert!(
            message.contains("scope that has already finished"),
            "{message}"
        );
    }
    assert_eq!(dropped.get(), 4, "each refused child dropped once");
    assert_eq!(polled.load(Ordering::SeqCst), 0, "and never polled");
    assert_eq!(set.len(), 1, "the set holds what it held");
    assert!(limited.is_empty());
    assert_eq!(set.join_next().await, Some(1));
    assert_eq!(set.join_next().await, None);
    assert_eq!(limited.try_join_next(), None);
    drop((set, limited));
    pool.shutdown();
}

/// A set made in a child spawns the child's siblings; the child drains them.
pub(super) async fn a_set_in_a_child_spawns_siblings() {
    let out = open(|s| async move {
        let s2 = s.clone();
        let child = s.spawn(async move {
            let mut set = JoinSet::new(&s2);
            for i in 0..10u32 {
                set.spawn(async move {
                    yield_times(i as usize % 3).await;
                    Ok(i)
                });
            }
            let mut sum = 0;
            while let Some(i) = set.join_next().await {
                sum += i;
            }
            Ok::<_, ()>(sum)
        });
        Ok(child.await)
    })
    .await;
    assert_eq!(out, Ok(45));
}

/// Children of a set may borrow from outside the scope and write through
/// shared references.
pub(super) async fn set_children_borrow_from_the_caller() {
    let words = vec!["a".to_string(), "bb".to_string(), "ccc".to_string()];
    let log = Mutex::new(Vec::new());
    let (words_ref, log_ref) = (&words, &log);
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for w in words_ref {
            set.spawn(async move {
                log_ref.lock().unwrap().push(w.as_str());
                Ok::<_, ()>(w.len())
            });
        }
        Ok(set.fold(0, |a, b| async move { a + b }).await)
    })
    .await;
    assert_eq!(out, Ok(6));
    assert_eq!(log.into_inner().unwrap().len(), 3);
}

/// A hundred thousand children through one set (500 under Miri): every
/// value comes out once.
pub(super) async fn a_hundred_thousand_children_through_one_set() {
    let n = under_miri(100_000, 500) as u64;
    let out = open(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..n {
            set.spawn(async move { Ok::<_, ()>(i) });
        }
        let mut sum = 0u64;
        let mut count = 0u64;
        while let Some(v) = set.join_next().await {
            sum += v;
            count += 1;
        }
        Ok((count, sum))
    })
    .await;
    assert_eq!(out, Ok((n, n * (n - 1) / 2)));
}

on_both_executors!(
    values_come_out_in_completion_order,
    the_child_that_finishes_is_the_next_value,
    join_next_is_none_when_empty_and_the_set_is_reusable,
    join_next_with_id_names_the_spawned_child,
    a_child_dropped_by_the_grace_yields_its_id_and_none,
    try_join_next_takes_only_what_has_finished,
    the_set_is_a_stream_of_values,
    len_is_empty_and_unfinished_count_the_right_children,
    dropping_the_set_drops_running_and_queued_children,
    dropping_the_set_drops_values_not_taken,
    a_set_dropped_in_a_child_drops_its_children,
    abort_all_drops_unfinished_and_keeps_finished_values,
    abort_all_then_draining_shuts_the_set_down,
    dropped_children_count_in_len_until_reported_and_are_skipped,
    a_childs_error_fails_the_scope,
    a_childs_panic_fails_the_scope,
    with_limit_never_runs_more_than_the_limit,
    a_sets_limit_counts_only_its_bounded_room,
    with_limit_zero_panics_with_a_message,
    parallel_children_come_out_of_the_set,
    a_sets_parallel_children_are_aborted_with_it,
    a_parallel_child_whose_runtime_is_gone_fails_the_scope,
    a_set_outliving_its_scope_yields_the_values_left,
    a_spawn_into_a_set_on_a_finished_scope_panics_cleanly,
    a_set_in_a_child_spawns_siblings,
    set_children_borrow_from_the_caller,
    a_hundred_thousand_children_through_one_set,
);
