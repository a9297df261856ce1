//! The pool's behaviour tests, once per scope flavour (`tests/map_pool.rs`);
//! `open` is `corral::scope` or `corral::local_scope`.

use super::*;

/// Both forms of map, boxed, over `input` with `f`.
fn both<'a, S, St, F, Fut>(
    s: &S,
    ordered: bool,
    input: St,
    limit: usize,
    f: F,
) -> futures::stream::LocalBoxStream<'a, Fut::Ok>
where
    S: corral::SpawnChild<Fut, Fut::Ok> + 'a,
    St: Stream + 'a,
    F: FnMut(St::Item) -> Fut + 'a,
    Fut: futures::TryFuture + 'a,
{
    if ordered {
        map_ordered(s, input, limit, f).boxed_local()
    } else {
        map_unordered(s, input, limit, f).boxed_local()
    }
}

/// A stop request ends a map whose input waits forever and which holds no
/// item: "the stream ends after them, leaving the rest of the input
/// unread". The reader is awaiting the map when the request comes (from a
/// child); it must not wait for an input that will never yield.
pub(super) async fn a_stop_ends_a_map_whose_input_waits() {
    for ordered in [false, true] {
        let out = open(|s| async move {
            let (give_up, gave_up) = oneshot::channel::<()>();
            let s2 = s.clone();
            let _stopper = s.spawn(async move {
                yield_times(3).await;
                s2.stop();
                // Long after the request: the map has had every chance.
                yield_times(200).await;
                let _ = give_up.send(());
                Ok(())
            });
            let input = futures::stream::pending::<u32>();
            let values = both(&s, ordered, input, 2, |i| async move { Ok::<_, ()>(i) });
            Ok(ends_before(values, gave_up).await)
        })
        .await;
        assert_eq!(out, Ok(Some(0)), "ordered: {ordered}");
    }
}

/// The same when the request is made to an outer scope: it reaches the
/// map's scope (nested in a child of the outer one) and ends the map.
pub(super) async fn a_parent_stop_ends_a_map_whose_input_waits() {
    for ordered in [false, true] {
        let out = open(|s| async move {
            let (give_up, gave_up) = oneshot::channel::<()>();
            let s2 = s.clone();
            let _stopper = s.spawn(async move {
                yield_times(3).await;
                s2.stop();
                yield_times(200).await;
                let _ = give_up.send(());
                Ok(())
            });
            let ended = s.spawn(async move {
                open(|inner| async move {
                    let input = futures::stream::pending::<u32>();
                    let f = |i| async move { Ok::<_, ()>(i) };
                    Ok(if ordered {
                        ends_before(map_ordered(&inner, input, 2, f), gave_up).await
                    } else {
                        ends_before(map_unordered(&inner, input, 2, f), gave_up).await
                    })
                })
                .await
            });
            Ok(ended.await)
        })
        .await;
        assert_eq!(out, Ok(Some(0)), "ordered: {ordered}");
    }
}

/// Nested maps: each item runs a scope of its own with a map inside, whose
/// items yield (self-wakes seen through `POLLING` of the inner pool, inside
/// an outer item's poll) and hand a permit round across the outer items
/// (wakes of one outer item's inner items from another's).
pub(super) async fn nested_maps_lose_no_wake() {
    let permit = Semaphore::new(1);
    let permit = &permit;
    let n = under_miri(12, 4);
    let out = open(|s| async move {
        let total: usize = futures::stream::iter(0..n)
            .map_unordered(&s, 4, |i| async move {
                let inner = open(|s2| async move {
                    let values: Vec<usize> = futures::stream::iter(0..5usize)
                        .map_ordered(&s2, 3, |j| async move {
                            yield_times((i + j) % 3).await;
                            let _held = permit.acquire().await;
                            yield_times(j % 2).await;
                            Ok::<_, ()>(i * 10 + j)
                        })
                        .collect()
                        .await;
                    Ok(values.iter().sum::<usize>())
                })
                .await?;
                yield_now().await;
                Ok(inner)
            })
            .fold(0, |a, b| async move { a + b })
            .await;
        Ok::<_, ()>(total)
    })
    .await;
    let expected: usize = (0..n)
        .map(|i| (0..5).map(|j| i * 10 + j).sum::<usize>())
        .sum();
    assert_eq!(out, Ok(expected));
}

/// Three levels of maps, each item yielding before and after its inner
/// scope: `POLLING` is saved and restored around each inner pool's polls.
pub(super) async fn maps_nested_three_deep() {
    async fn leaf(i: usize) -> Result<usize, ()> {
        yield_now().await;
        Ok(i)
    }
    async fn middle(i: usize) -> Result<usize, ()> {
        yield_now().await;
        let sum = open(|s| async move {
            let values: Vec<usize> = futures::stream::iter(0..3usize)
                .map_unordered(&s, 2, leaf)
                .collect()
                .await;
            Ok(values.iter().sum::<usize>())
        })
        .await?;
        yield_now().await;
        Ok(sum + i)
    }
    async fn top(i: usize) -> Result<usize, ()> {
        yield_now().await;
        let sum = open(|s| async move {
            let values: Vec<usize> = futures::stream::iter(0..3usize)
                .map_unordered(&s, 2, middle)
                .collect()
                .await;
            Ok(values.iter().sum::<usize>())
        })
        .await?;
        yield_now().await;
        Ok(sum + i)
    }
    let out = open(|s| async move {
        let values: Vec<usize> = futures::stream::iter(0..3usize)
            .map_ordered(&s, 3, top)
            .collect()
            .await;
        Ok::<_, ()>(values)
    })
    .await;
    // leaf(i) = i; middle(i) = 3 + i; top(i) = (3+0)+(3+1)+(3+2) + i.
    assert_eq!(out, Ok(vec![12, 13, 14]));
}

/// Items woken from plain threads while the pool sleeps: every value comes.
pub(super) async fn items_woken_from_other_threads() {
    let n = under_miri(60, 8);
    for ordered in [false, true] {
        let threads = Mutex::new(Vec::new());
        let threads = &threads;
        let out = open(|s| async move {
            let f = |i: usize| {
                let (tx, rx) = oneshot::channel::<usize>();
                threads.lock().unwrap().push(std::thread::spawn(move || {
                    for _ in 0..(i % 3) {
                        std::thread::yield_now();
                    }
                    let _ = tx.send(i);
                }));
                async move { Ok::<_, ()>(rx.await.unwrap()) }
            };
            let values: Vec<usize> = both(&s, ordered, futures::stream::iter(0..n), 6, f)
                .collect()
                .await;
            Ok(values)
        })
        .await;
        for thread in threads.lock().unwrap().drain(..) {
            thread.join().unwrap();
        }
        let mut values = out.unwrap();
        if !ordered {
            values.sort_unstable();
        }
        assert_eq!(values, (0..n).collect::<Vec<_>>(), "ordered: {ordered}");
    }
}

/// Stale wakers (left by finished items) woken from another thread all
/// along, while later items reuse their slots and the pool exits and is
/// spawned again between batches: every value comes, once.
pub(super) async fn stale_wakes_from_another_thread_while_slots_are_reused() {
    let left: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let stop = Arc::new(AtomicUsize::new(0));
    let waker_thread = {
        let (left, stop) = (left.clone(), stop.clone());
        std::thread::spawn(move || {
            while stop.load(Ordering::SeqCst) == 0 {
                for w in left.lock().unwrap().iter() {
                    w.wake_by_ref();
                }
                std::thread::yield_now();
            }
        })
    };
    let n = under_miri(400, 20);
    let left2 = left.clone();
    let out = open(|s| async move {
        let mut sum = 0;
        for batch in 0..4 {
            let left = left2.clone();
            let values = map_unordered(
                &s,
                futures::stream::iter(batch * n..(batch + 1) * n),
                7,
                move |i: usize| {
                    let left = left.clone();
                    async move {
                        std::future::poll_fn(|cx| {
                            let mut left = left.lock().unwrap();
                            if left.len() < 64 {
                                left.push(cx.waker().clone());
                            }
                            Poll::Ready(())
                        })
                        .await;
                        yield_times(i % 3).await;
                        Ok::<_, ()>(i)
                    }
                },
            );
            sum += values.fold(0, |a, b| async move { a + b }).await;
            yield_times(2).await; // the pool exits; the next batch spawns one
        }
        Ok::<_, ()>(sum)
    })
    .await;
    stop.store(1, Ordering::SeqCst);
    waker_thread.join().unwrap();
    left.lock().unwrap().clear();
    assert_eq!(out, Ok((0..4 * n).sum()));
}

/// An item that wakes another item of its own map during its poll (the
/// waker of a different slot, on the pool's thread), in a chain.
pub(super) async fn items_wake_each_other_during_their_polls() {
    let n = under_miri(40, 10);
    for ordered in [false, true] {
        let turn = AtomicUsize::new(0);
        let wakers: Mutex<Vec<Option<Waker>>> = Mutex::new(vec![None; n]);
        let (turn, wakers) = (&turn, &wakers);
        let out = open(|s| async move {
            let f = |i: usize| async move {
                // Wait for our turn: item i runs after item i - 1 finished,
                // which wakes item i from inside its own poll.
                std::future::poll_fn(|cx| {
                    if turn.load(Ordering::SeqCst) == i {
                        Poll::Ready(())
                    } else {
                        wakers.lock().unwrap()[i] = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
                turn.store(i + 1, Ordering::SeqCst);
                if i + 1 < n {
                    if let Some(w) = wakers.lock().unwrap()[i + 1].take() {
                        w.wake();
                    }
                }
                Ok::<_, ()>(i)
            };
            // In reverse: each item waits for one started after it.
            let input = futures::stream::iter(0..n);
            let values: Vec<usize> = both(&s, ordered, input, n, f).collect().await;
            Ok(values)
        })
        .await;
        let mut values = out.unwrap();
        if !ordered {
            assert_eq!(values, (0..n).collect::<Vec<_>>());
        }
        values.sort_unstable();
        assert_eq!(values, (0..n).collect::<Vec<_>>(), "ordered: {ordered}");
    }
}

/// A limit of `usize::MAX`: every value comes out, in order for the
/// ordered form.
pub(super) async fn a_limit_of_usize_max_works() {
    let n = under_miri(300, 20);
    for ordered in [false, true] {
        let out = open(|s| async move {
            let f = |i: usize| async move {
                yield_times(i % 3).await;
                Ok::<_, ()>(i)
            };
            let values: Vec<usize> = both(&s, ordered, futures::stream::iter(0..n), usize::MAX, f)
                .collect()
                .await;
            Ok(values)
        })
        .await;
        let mut values = out.unwrap();
        if ordered {
            assert_eq!(values, (0..n).collect::<Vec<_>>());
        }
        values.sort_unstable();
        assert_eq!(values, (0..n).collect::<Vec<_>>(), "ordered: {ordered}");
    }
}

/// A limit of 1 with items that wait on a sibling child: one at a time,
/// every value, in order.
pub(super) async fn a_limit_of_one_runs_one_at_a_time() {
    for ordered in [false, true] {
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let (live, peak) = (&live, &peak);
        let out = open(|s| async move {
            let gate = Arc::new(Semaphore::new(0));
            let g2 = gate.clone();
            let _feeder = s.spawn(async move {
                for _ in 0..10 {
                    yield_times(2).await;
                    g2.add_permits(1);
                }
                Ok(())
            });
            let f = |i: usize| {
                let gate = gate.clone();
                async move {
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    gate.acquire().await.forget();
                    live.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(i)
                }
            };
            let values: Vec<usize> = both(&s, ordered, futures::stream::iter(0..10), 1, f)
                .collect()
                .await;
            Ok(values)
        })
        .await;
        assert_eq!(out, Ok((0..10).collect::<Vec<_>>()), "ordered: {ordered}");
        assert_eq!(peak.load(Ordering::SeqCst), 1);
    }
}

/// A panicking item fails the run; every item future made is dropped
/// exactly once (the panicked one included), the ones not started too.
pub(super) async fn a_panicking_item_drops_every_future_once() {
    for ordered in [false, true] {
        let made = AtomicUsize::new(0);
        let dropped = DropCounter::new();
        let (made, dropped_ref) = (&made, &dropped);
        let caught = AssertUnwindSafe(open(|s| async move {
            let f = |i: usize| {
                made.fetch_add(1, Ordering::SeqCst);
                let guard = dropped_ref.guard();
                async move {
                    let _guard = guard;
                    yield_times(i % 3).await;
                    if i == 9 {
                        panic!("item 9 exploded");
                    }
                    yield_times(5).await;
                    Ok::<_, ()>(i)
                }
            };
            let n = both(&s, ordered, futures::stream::iter(0..100), 6, f)
                .count()
                .await;
            Ok(n)
        }))
        .catch_unwind()
        .await;
        let payload = caught.expect_err("the scope panics");
        assert_eq!(panic_message(&*payload), "item 9 exploded");
        assert_eq!(
            dropped.get(),
            made.load(Ordering::SeqCst),
            "ordered: {ordered}"
        );
    }
}

/// `max_concurrency(1)`: the pool is one child, so a map of four items
/// that each wait for all four to start still runs them all at once.
pub(super) async fn a_pool_counts_once_against_max_concurrency() {
    for ordered in [false, true] {
        let started = AtomicUsize::new(0);
        let started = &started;
        let out = open_limited(1, |s| async move {
            let f = |i: usize| async move {
                started.fetch_add(1, Ordering::SeqCst);
                while started.load(Ordering::SeqCst) < 4 {
                    yield_now().await;
                }
                Ok::<_, ()>(i)
            };
            let n = both(&s, ordered, futures::stream::iter(0..4), 4, f)
                .count()
                .await;
            Ok::<_, ()>(n)
        })
        .await;
        assert_eq!(out, Ok(4), "ordered: {ordered}");
    }
}

/// A reader that stops reading (busy elsewhere, for many turns) while its
/// items finish: the items are polled meanwhile, and once it reads again
/// every value is there.
pub(super) async fn a_reader_that_stops_reading_loses_nothing() {
    for ordered in [false, true] {
        let done = AtomicUsize::new(0);
        let done = &done;
        let out = open(|s| async move {
            let f = |i: usize| async move {
                yield_times(i % 4).await;
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(i)
            };
            let mut values = both(&s, ordered, futures::stream::iter(0..8), 8, f);
            // The items start (in the pool, which has not run yet).
            assert!(futures::poll!(values.next()).is_pending());
            while done.load(Ordering::SeqCst) < 8 {
                yield_now().await;
            }
            let mut got = Vec::new();
            while let Some(v) = values.next().await {
                got.push(v);
            }
            Ok::<_, ()>(got)
        })
        .await;
        let mut values = out.unwrap();
        values.sort_unstable();
        assert_eq!(values, (0..8).collect::<Vec<_>>(), "ordered: {ordered}");
    }
}

/// A map returned out of its scope's body after its pool ran (the pool
/// exited, its waker and the items' wakers left behind): waking those wakers
/// and dropping the map after the scope future is gone is harmless.
pub(super) async fn a_map_outliving_its_scope_wakes_nothing_stale() {
    let left: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let l2 = left.clone();
    let (values, escaped) = open(move |s| async move {
        let f = move |i: u32| {
            let left = l2.clone();
            async move {
                std::future::poll_fn(|cx| {
                    left.lock().unwrap().push(cx.waker().clone());
                    Poll::Ready(())
                })
                .await;
                yield_now().await;
                Ok::<_, ()>(i)
            }
        };
        let mut values = map_unordered(&s, futures::stream::iter(0..6u32), 3, f);
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(values.next().await.unwrap());
        }
        // Three more in flight: the scope waits for them, their values wait
        // in the map.
        Ok::<_, ()>((got, values))
    })
    .await
    .unwrap();
    assert_eq!(values.len(), 3);
    for waker in left.lock().unwrap().drain(..) {
        waker.wake();
    }
    drop(escaped);
}

/// An item that catches the panic of a scope of its own, whose map's item
/// panicked: the inner pool is gone, the outer pool and its other items go
/// on, every future is dropped once.
pub(super) async fn an_item_survives_a_nested_maps_panic() {
    let dropped = DropCounter::new();
    let made = AtomicUsize::new(0);
    let (dropped_ref, made) = (&dropped, &made);
    let out = open(|s| async move {
        let values: Vec<usize> = futures::stream::iter(0..4usize)
            .map_ordered(&s, 2, |i| async move {
                let inner = AssertUnwindSafe(open(|s2| async move {
                    let n = futures::stream::iter(0..3usize)
                        .map_unordered(&s2, 2, |j| {
                            made.fetch_add(1, Ordering::SeqCst);
                            let guard = dropped_ref.guard();
                            async move {
                                let _guard = guard;
                                yield_times(j).await;
                                if i % 2 == 1 && j == 1 {
                                    panic!("inner item exploded");
                                }
                                Ok::<_, ()>(j)
                            }
                        })
                        .count()
                        .await;
                    Ok(n)
                }))
                .catch_unwind()
                .await;
                yield_now().await;
                Ok::<_, ()>(match inner {
                    Ok(Ok(n)) => n,
                    Ok(Err(())) => 100,
                    Err(_) => 1000,
                })
            })
            .collect()
            .await;
        Ok::<_, ()>(values)
    })
    .await;
    assert_eq!(out, Ok(vec![3, 1000, 3, 1000]));
    assert_eq!(dropped.get(), made.load(Ordering::SeqCst));
}

/// A pool queued behind `max_concurrency` (a sibling holds the one place)
/// when a stop's grace runs out: it is dropped unstarted, its items with
/// it, and the map ends.
pub(super) async fn a_queued_pool_dropped_by_the_grace_ends_its_map() {
    for ordered in [false, true] {
        let dropped = DropCounter::new();
        let dropped_ref = &dropped;
        let nursery = corral::Nursery::new()
            .max_concurrency(1)
            .grace(std::time::Duration::ZERO);
        let out = open_in(nursery, |s| async move {
            let _hog = s.spawn(std::future::pending::<Result<(), ()>>());
            let f = |i: u32| {
                let guard = dropped_ref.guard();
                async move {
                    let _guard = guard;
                    Ok::<_, ()>(i)
                }
            };
            let mut values = both(&s, ordered, futures::stream::iter(0..10u32), 3, f);
            assert!(futures::poll!(values.next()).is_pending());
            yield_times(3).await; // the pool waits for the hog's place
            s.stop();
            Ok(values.count().await)
        })
        .await;
        assert_eq!(out, Ok(0), "ordered: {ordered}");
        assert_eq!(dropped.get(), 3, "ordered: {ordered}");
    }
}

/// Items that borrow their own locals across awaits (self-referential
/// futures, pinned in their slots) while their neighbours in the chunk are
/// polled, finish, and have their slots refilled: what Miri checks of the
/// pool's pinning.
pub(super) async fn self_referential_items_beside_busy_neighbours() {
    let n = under_miri(200, 24);
    for ordered in [false, true] {
        let out = open(|s| async move {
            let f = |i: usize| async move {
                let mine = [i; 4];
                let view = &mine;
                let mut sum = 0;
                for k in 0..(i % 4) {
                    yield_now().await;
                    sum += view[k % 4];
                }
                let text = format!("{i}");
                let text_ref = text.as_str();
                yield_now().await;
                Ok::<_, ()>((i, sum, text_ref.len()))
            };
            let values: Vec<(usize, usize, usize)> =
                both(&s, ordered, futures::stream::iter(0..n), 5, f)
                    .collect()
                    .await;
            Ok(values)
        })
        .await;
        let mut values = out.unwrap();
        values.sort_unstable();
        let want: Vec<_> = (0..n)
            .map(|i| (i, i * (i % 4), i.to_string().len()))
            .collect();
        assert_eq!(values, want, "ordered: {ordered}");
    }
}

/// Many items, each woken by one of two worker threads (a wake racing the
/// pool's arming, again and again), limit 32: every value comes out.
pub(super) async fn many_items_woken_from_worker_threads() {
    let n = scaled(20_000);
    for ordered in [false, true] {
        let (tx, rx) = std::sync::mpsc::channel::<oneshot::Sender<()>>();
        let rx = Arc::new(Mutex::new(rx));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    loop {
                        let next = rx.lock().unwrap().recv();
                        match next {
                            Ok(done) => drop(done.send(())),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        let tx = Mutex::new(tx);
        let tx = &tx;
        let out = open(|s| async move {
            let f = |i: usize| {
                let (done, wait) = oneshot::channel();
                tx.lock().unwrap().send(done).unwrap();
                async move {
                    wait.await.unwrap();
                    if i % 5 == 0 {
                        yield_now().await;
                    }
                    Ok::<_, ()>(i)
                }
            };
            let (count, sum) = both(&s, ordered, futures::stream::iter(0..n), 32, f)
                .fold((0usize, 0usize), |(c, t), v| async move { (c + 1, t + v) })
                .await;
            Ok::<_, ()>((count, sum))
        })
        .await;
        drop(std::mem::replace(
            &mut *tx.lock().unwrap(),
            std::sync::mpsc::channel().0,
        ));
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(out, Ok((n, n * (n - 1) / 2)), "ordered: {ordered}");
    }
}

/// A full map returned out of its body with items in flight: the scope
/// waits for them (the pool is not idle), and after the scope the map
/// yields a value it holds without spawning; the poll that has room again
/// pulls, spawns, and panics with the scope's message.
pub(super) async fn an_escaped_full_map_yields_what_it_holds_then_panics() {
    let mut escaped = open(|s| async move {
        let f = |i: u32| async move {
            yield_times(3).await;
            Ok::<_, ()>(i)
        };
        let mut values = map_ordered(&s, futures::stream::iter(0..6u32), 3, f);
        assert!(futures::poll!(values.next()).is_pending()); // three start
        Ok::<_, ()>(values)
    })
    .await
    .unwrap();
    assert_eq!(escaped.next().await, Some(0));
    let caught = AssertUnwindSafe(escaped.next()).catch_unwind().await;
    let message = panic_message(&*caught.expect_err("it spawns, and panics"));
    assert!(
        message.contains("scope that has already finished"),
        "{message}"
    );
}

on_both_executors!(
    a_stop_ends_a_map_whose_input_waits,
    a_parent_stop_ends_a_map_whose_input_waits,
    nested_maps_lose_no_wake,
    maps_nested_three_deep,
    items_woken_from_other_threads,
    stale_wakes_from_another_thread_while_slots_are_reused,
    items_wake_each_other_during_their_polls,
    a_limit_of_usize_max_works,
    a_limit_of_one_runs_one_at_a_time,
    a_panicking_item_drops_every_future_once,
    a_pool_counts_once_against_max_concurrency,
    a_reader_that_stops_reading_loses_nothing,
    a_map_outliving_its_scope_wakes_nothing_stale,
    an_item_survives_a_nested_maps_panic,
    a_queued_pool_dropped_by_the_grace_ends_its_map,
    self_referential_items_beside_busy_neighbours,
    many_items_woken_from_worker_threads,
    an_escaped_full_map_yields_what_it_holds_then_panics,
);
