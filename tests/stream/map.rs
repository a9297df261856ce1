//! Bounded processing of a stream: `map_unordered`, `map_ordered` and the
//! `ScopedStreamExt` methods. Included once per scope flavour by
//! `tests/stream.rs`; `open` is `corral::scope` or `corral::local_scope`.

use super::*;

/// Item `i` of `0..n`: takes a few turns (`i * 7 % 5`), then is `i`.
async fn item(i: usize) -> Result<usize, ()> {
    yield_times(i * 7 % 5).await;
    Ok(i)
}

/// Both forms yield every value once; the ordered one in input order.
pub(super) async fn maps_yield_every_value() {
    let out = open(|s| async move {
        let input = || futures::stream::iter(0..under_miri(100, 30));
        let mut unordered: Vec<usize> = map_unordered(&s, input(), 8, item).collect().await;
        unordered.sort_unstable();
        let ordered: Vec<usize> = map_ordered(&s, input(), 8, item).collect().await;
        // The same through the extension trait.
        let mut ext_unordered: Vec<usize> = input().map_unordered(&s, 3, item).collect().await;
        ext_unordered.sort_unstable();
        let ext_ordered: Vec<usize> = input().map_ordered(&s, 3, item).collect().await;
        Ok((unordered, ordered, ext_unordered, ext_ordered))
    })
    .await;
    let all: Vec<usize> = (0..under_miri(100, 30)).collect();
    assert_eq!(out, Ok((all.clone(), all.clone(), all.clone(), all)));
}

/// `map_unordered` yields values as they finish; `map_ordered` holds an
/// early one back until those before it are out.
pub(super) async fn unordered_yields_in_completion_order_and_ordered_in_input_order() {
    let out = open(|s| async move {
        // Item i takes 10 * (5 - i) turns: the last finishes first.
        let slow_first = |i: usize| async move {
            yield_times(10 * (5 - i)).await;
            Ok::<_, ()>(i)
        };
        let unordered: Vec<usize> = map_unordered(&s, futures::stream::iter(0..5), 5, slow_first)
            .collect()
            .await;
        let ordered: Vec<usize> = map_ordered(&s, futures::stream::iter(0..5), 5, slow_first)
            .collect()
            .await;
        Ok((unordered, ordered))
    })
    .await;
    assert_eq!(out, Ok((vec![4, 3, 2, 1, 0], vec![0, 1, 2, 3, 4])));
}

/// The ordered window is bounded: while the first item is stuck, the items
/// after it finish but the input is pulled no further than `limit` items.
pub(super) async fn the_ordered_window_is_bounded() {
    let gate = Semaphore::new(0);
    let pulled = AtomicUsize::new(0);
    let (gate, pulled) = (&gate, &pulled);
    let out = open(|s| async move {
        let input = futures::stream::iter(0..20usize).inspect(|_| {
            pulled.fetch_add(1, Ordering::SeqCst);
        });
        let mut values = pin!(map_ordered(&s, input, 3, |i| async move {
            if i == 0 {
                drop(gate.acquire().await);
            }
            Ok::<_, ()>(i)
        }));
        for _ in 0..10 {
            assert!(futures::poll!(values.next()).is_pending());
            yield_now().await; // items 1 and 2 finish; they wait in the window
        }
        assert_eq!(pulled.load(Ordering::SeqCst), 3);
        gate.add_permits(1);
        let mut out = Vec::new();
        while let Some(v) = values.next().await {
            assert!(pulled.load(Ordering::SeqCst) <= v + 1 + 3);
            out.push(v);
        }
        Ok(out)
    })
    .await;
    assert_eq!(out, Ok((0..20).collect::<Vec<_>>()));
}

/// At most `limit` items are held (pulled and not yet yielded), however slow
/// the consumer, and at most `limit` item futures are alive; both forms.
pub(super) async fn at_most_limit_items_are_held() {
    for ordered in [false, true] {
        let live = Live::default();
        let pulled = AtomicUsize::new(0);
        let yielded = AtomicUsize::new(0);
        let most_held = AtomicUsize::new(0);
        let (live, pulled, yielded, most_held) = (&live, &pulled, &yielded, &most_held);
        let out = open(|s| async move {
            let input = futures::stream::iter(0..under_miri(200, 50)).inspect(|_| {
                let held =
                    pulled.fetch_add(1, Ordering::SeqCst) + 1 - yielded.load(Ordering::SeqCst);
                most_held.fetch_max(held, Ordering::SeqCst);
            });
            let f = |i: usize| {
                let guard = live.guard();
                async move {
                    let _guard = guard;
                    yield_times(i % 5).await;
                    Ok::<_, ()>(i)
                }
            };
            let mut values = if ordered {
                map_ordered(&s, input, 4, f).boxed_local()
            } else {
                map_unordered(&s, input, 4, f).boxed_local()
            };
            let mut count = 0;
            while values.next().await.is_some() {
                yielded.fetch_add(1, Ordering::SeqCst);
                count += 1;
                yield_times(count % 4).await; // a consumer busy now and then
            }
            Ok(count)
        })
        .await;
        assert_eq!(out, Ok(under_miri(200, 50)));
        assert!(most_held.load(Ordering::SeqCst) <= 4, "ordered: {ordered}");
        assert!(live.peak() <= 4, "ordered: {ordered}, peak {}", live.peak());
        assert_eq!(live.now(), 0);
    }
}

/// The input is pulled lazily: nothing before the first poll, `limit` items
/// at it, and no more while the items held have not been yielded, even once
/// they have all finished.
pub(super) async fn the_input_is_pulled_only_when_there_is_room() {
    for ordered in [false, true] {
        let gate = Semaphore::new(0);
        let pulled = AtomicUsize::new(0);
        let (gate, pulled) = (&gate, &pulled);
        let out = open(|s| async move {
            let input = futures::stream::iter(0..10usize).inspect(|_| {
                pulled.fetch_add(1, Ordering::SeqCst);
            });
            let f = |i: usize| async move {
                drop(gate.acquire().await);
                Ok::<_, ()>(i)
            };
            let mut values = if ordered {
                map_ordered(&s, input, 3, f).boxed_local()
            } else {
                map_unordered(&s, input, 3, f).boxed_local()
            };
            yield_times(3).await;
            assert_eq!(pulled.load(Ordering::SeqCst), 0, "nothing before a poll");
            assert!(futures::poll!(values.next()).is_pending());
            assert_eq!(pulled.load(Ordering::SeqCst), 3);
            gate.add_permits(1); // each item passes the permit on
            yield_times(10).await; // the three finish, unread
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                3,
                "finished values hold room"
            );
            let first = values.next().await;
            assert!(pulled.load(Ordering::SeqCst) <= 4);
            let rest = values.count().await;
            Ok((first.is_some(), rest, pulled.load(Ordering::SeqCst)))
        })
        .await;
        assert_eq!(out, Ok((true, 9, 10)), "ordered: {ordered}");
    }
}

/// Items may borrow from the caller: the input, what `f` captures, and what
/// the item futures write to.
pub(super) async fn items_borrow_from_the_caller() {
    let words: Vec<String> = ["alpha", "be", "gamma", "d"].map(String::from).to_vec();
    let log = Mutex::new(Vec::new());
    let prefix = String::from("len:");
    let (words_ref, log_ref, prefix_ref) = (&words, &log, &prefix);
    let out = open(|s| async move {
        let lens: Vec<String> = futures::stream::iter(words_ref.iter())
            .map_ordered(&s, 2, |w| async move {
                yield_times(w.len() % 3).await;
                log_ref.lock().unwrap().push(w.as_str());
                Ok::<_, ()>(format!("{prefix_ref}{}", w.len()))
            })
            .collect()
            .await;
        let total: usize = futures::stream::iter(words_ref.iter())
            .map_unordered(&s, 2, |w| async move { Ok(w.len()) })
            .fold(0, |a, b| async move { a + b })
            .await;
        Ok((lens, total))
    })
    .await;
    assert_eq!(
        out,
        Ok((
            vec![
                "len:5".into(),
                "len:2".into(),
                "len:5".into(),
                "len:1".into()
            ],
            13
        ))
    );
    let mut log = log.into_inner().unwrap();
    log.sort_unstable();
    assert_eq!(log, ["alpha", "be", "d", "gamma"]);
}

/// The first error fails the whole run: the scope resolves to it, every item
/// in flight is dropped, and no more input is pulled; both forms.
pub(super) async fn the_first_error_fails_the_run_and_drops_the_rest() {
    for ordered in [false, true] {
        let live = Live::default();
        let pulled = AtomicUsize::new(0);
        let (live, pulled) = (&live, &pulled);
        let out = open(|s| async move {
            let input = futures::stream::iter(0..1000usize).inspect(|_| {
                pulled.fetch_add(1, Ordering::SeqCst);
            });
            let f = |i: usize| {
                let guard = live.guard();
                async move {
                    let _guard = guard;
                    if i == 5 {
                        yield_times(2).await;
                        return Err(format!("item {i} failed"));
                    }
                    yield_times(if i < 5 { 1 } else { 50 }).await;
                    Ok(i)
                }
            };
            let values: Vec<usize> = if ordered {
                map_ordered(&s, input, 4, f).collect().await
            } else {
                map_unordered(&s, input, 4, f).collect().await
            };
            Ok(values.len())
        })
        .await;
        assert_eq!(out, Err("item 5 failed".to_string()), "ordered: {ordered}");
        assert_eq!(live.now(), 0, "every item dropped; ordered: {ordered}");
        // Far fewer than the input's 1000: a few rounds of `limit` at most.
        assert!(pulled.load(Ordering::SeqCst) <= 16, "ordered: {ordered}");
    }
}

/// A panicking item fails the run as a panicking child does.
pub(super) async fn a_panicking_item_fails_the_run() {
    let live = Live::default();
    let live = &live;
    let mut fut = pin!(open(|s| async move {
        let values: Vec<u32> = futures::stream::iter(0..100u32)
            .map_unordered(&s, 4, |i| {
                let guard = live.guard();
                async move {
                    let _guard = guard;
                    yield_now().await;
                    if i == 3 {
                        std::panic::panic_any(format!("item {i} exploded"));
                    }
                    yield_times(20).await;
                    Ok::<_, ()>(i)
                }
            })
            .collect()
            .await;
        Ok(values)
    }));
    let caught = AssertUnwindSafe(fut.as_mut()).catch_unwind().await;
    assert_eq!(
        panic_message(&*caught.expect_err("panics")),
        "item 3 exploded"
    );
    assert_eq!(live.now(), 0);
}

/// A limit of 0 is refused with a panic that says so, for both functions and
/// both methods, before any item is pulled.
pub(super) async fn a_limit_of_zero_panics_with_a_message() {
    let out = open(|s| async move {
        let f = |i: u8| async move { Ok::<_, ()>(i) };
        let input = || futures::stream::iter([1u8]);
        let messages = [
            panics_with(|| drop(map_unordered(&s, input(), 0, f))),
            panics_with(|| drop(map_ordered(&s, input(), 0, f))),
            panics_with(|| drop(input().map_unordered(&s, 0, f))),
            panics_with(|| drop(input().map_ordered(&s, 0, f))),
        ];
        Ok(messages)
    })
    .await
    .unwrap();
    for (message, name) in out.iter().zip(["map_unordered", "map_ordered"].repeat(2)) {
        assert!(message.contains(name), "{message}");
        assert!(message.contains("limit of 0"), "{message}");
    }
}

/// A full map whose items a stop's grace drops still ends (it does not wait
/// for a wake that nobody will send) and pulls no more input: every later
/// item would be dropped unstarted. Both forms.
pub(super) async fn a_full_map_whose_items_the_grace_dropped_ends() {
    for ordered in [false, true] {
        let pulled = AtomicUsize::new(0);
        let pulled = &pulled;
        let out = open_graceful(std::time::Duration::ZERO, |s| async move {
            let input = futures::stream::iter(0..6u32).inspect(|_| {
                pulled.fetch_add(1, Ordering::SeqCst);
            });
            let stuck = |_| std::future::pending::<Result<u32, ()>>();
            let mut values = if ordered {
                map_ordered(&s, input, 2, stuck).boxed_local()
            } else {
                map_unordered(&s, input, 2, stuck).boxed_local()
            };
            assert!(futures::poll!(values.next()).is_pending()); // full
            s.stop();
            Ok(values.count().await)
        })
        .await;
        assert_eq!(out, Ok(0), "ordered: {ordered}");
        assert_eq!(pulled.load(Ordering::SeqCst), 2, "ordered: {ordered}");
    }
}

/// The same with some values ready when the grace runs out: those come out,
/// then the map ends.
pub(super) async fn a_map_stopped_midway_yields_what_finished_then_ends() {
    for ordered in [false, true] {
        let out = open_graceful(std::time::Duration::ZERO, |s| async move {
            let f = |i: u32| async move {
                if i % 2 == 1 {
                    std::future::pending::<()>().await;
                }
                Ok::<_, ()>(i)
            };
            let input = futures::stream::iter(0..100u32);
            let mut values = if ordered {
                map_ordered(&s, input, 4, f).boxed_local()
            } else {
                map_unordered(&s, input, 4, f).boxed_local()
            };
            let first = values.next().await;
            s.stop();
            let rest: Vec<u32> = values.collect().await;
            Ok((first, rest))
        })
        .await;
        let (first, rest) = out.unwrap();
        assert_eq!(first, Some(0));
        assert!(rest.len() <= 4, "ordered: {ordered}: {rest:?}");
        assert!(rest.iter().all(|v| v % 2 == 0 && *v < 8), "{rest:?}");
    }
}

/// A stop request (no grace) winds a map down: no more input is read, the
/// items in flight run on, see the request and yield their values, and the
/// stream ends with the rest of the input unread. Both forms.
pub(super) async fn a_stop_request_winds_a_map_down() {
    for ordered in [false, true] {
        let pulled = AtomicUsize::new(0);
        let pulled = &pulled;
        let out = open(|s| async move {
            let input = futures::stream::iter(0..100u32).inspect(|_| {
                pulled.fetch_add(1, Ordering::SeqCst);
            });
            let s2 = s.clone();
            let f = move |i: u32| {
                let s2 = s2.clone();
                async move {
                    s2.stopped().await; // runs until the request
                    yield_times(i as usize % 3).await; // and a little after
                    Ok::<_, ()>(i * 10)
                }
            };
            let mut values = if ordered {
                map_ordered(&s, input, 3, f).boxed_local()
            } else {
                map_unordered(&s, input, 3, f).boxed_local()
            };
            assert!(futures::poll!(values.next()).is_pending());
            yield_now().await;
            s.stop();
            let mut got: Vec<u32> = values.collect().await;
            if !ordered {
                got.sort_unstable();
            }
            Ok(got)
        })
        .await;
        assert_eq!(out, Ok(vec![0, 10, 20]), "ordered: {ordered}");
        assert_eq!(pulled.load(Ordering::SeqCst), 3, "ordered: {ordered}");
    }
}

/// Both maps are `FusedStream`s: terminated once the input has ended (or a
/// stop closed it) and every item held is out.
pub(super) async fn maps_are_fused() {
    use futures::stream::FusedStream;
    let out = open(|s| async move {
        let mut unordered = futures::stream::iter(0..5u32).map_unordered(&s, 2, |i| async move {
            yield_now().await;
            Ok::<_, ()>(i)
        });
        let mut ordered = futures::stream::iter(0..5u32).map_ordered(&s, 2, |i| async move {
            yield_now().await;
            Ok(i)
        });
        assert!(!unordered.is_terminated() && !ordered.is_terminated());
        assert!(unordered.next().await.is_some() && ordered.next().await.is_some());
        assert!(!unordered.is_terminated() && !ordered.is_terminated());
        let rest = (&mut unordered).count().await + (&mut ordered).count().await;
        let done = unordered.is_terminated() && ordered.is_terminated();
        // Polled again once done: still the end.
        Ok((rest, done, unordered.next().await, ordered.next().await))
    })
    .await;
    assert_eq!(out, Ok((8, true, None, None)));
}

/// A map that escaped its scope (returned by the body, never polled there)
/// panics with the scope's message when it is polled and would spawn, and
/// drops cleanly after.
pub(super) async fn a_map_polled_after_its_scope_finished_panics_cleanly() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let mut escaped = open(move |s| async move {
        let input = futures::stream::iter(0..10u32).inspect(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        });
        let f = move |i: u32| {
            let guard = d.guard();
            async move {
                let _guard = guard;
                Ok::<_, ()>(i)
            }
        };
        Ok(map_unordered(&s, input, 2, f))
    })
    .await
    .unwrap();
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    let caught = AssertUnwindSafe(escaped.next()).catch_unwind().await;
    let message = panic_message(&*caught.expect_err("polling it spawns, and panics"));
    assert!(
        message.contains("scope that has already finished"),
        "{message}"
    );
    // The map fills its room (2), then spawns the pool that would run them.
    assert_eq!(pulled.load(Ordering::SeqCst), 2, "the room's items pulled");
    assert_eq!(dropped.get(), 2, "their futures dropped, unpolled");
    drop(escaped);
    assert_eq!(dropped.get(), 2);
}

/// Dropping the map drops the items it holds, at the scope's next turn.
pub(super) async fn dropping_a_map_drops_its_items() {
    for ordered in [false, true] {
        let live = Live::default();
        let live = &live;
        let out = open(|s| async move {
            let f = |_: u32| {
                let guard = live.guard();
                async move {
                    let _guard = guard;
                    std::future::pending::<Result<(), ()>>().await
                }
            };
            let input = futures::stream::iter(0..100u32);
            let mut values = if ordered {
                map_ordered(&s, input, 5, f).boxed_local()
            } else {
                map_unordered(&s, input, 5, f).boxed_local()
            };
            assert!(futures::poll!(values.next()).is_pending());
            yield_now().await;
            let held = live.now();
            drop(values);
            yield_now().await;
            Ok((held, live.now()))
        })
        .await;
        assert_eq!(out, Ok((5, 0)), "ordered: {ordered}");
    }
}

/// An input that is sometimes pending (a channel fed by a sibling child):
/// no wake-up is lost, every item comes through, in order for the ordered
/// form.
pub(super) async fn an_input_that_waits_loses_no_wake() {
    for ordered in [false, true] {
        let out = open(|s| async move {
            let (mut tx, rx) = mpsc::channel::<u32>(2);
            let _producer = s.spawn(async move {
                use futures::SinkExt;
                for i in 0..50 {
                    tx.send(i).await.unwrap();
                    yield_times(i as usize % 3).await;
                }
                Ok(())
            });
            let f = |i: u32| async move {
                yield_times(i as usize % 4).await;
                Ok::<_, ()>(i)
            };
            let mut values: Vec<u32> = if ordered {
                map_ordered(&s, rx, 3, f).collect().await
            } else {
                map_unordered(&s, rx, 3, f).collect().await
            };
            if !ordered {
                values.sort_unstable();
            }
            Ok(values)
        })
        .await;
        assert_eq!(out, Ok((0..50).collect::<Vec<_>>()), "ordered: {ordered}");
    }
}

/// A map can run inside a child of the scope it spawns into.
pub(super) async fn a_map_runs_inside_a_child() {
    let out = open(|s| async move {
        let s2 = s.clone();
        let child = s.spawn(async move {
            let values: Vec<usize> = futures::stream::iter(0..30usize)
                .map_ordered(&s2, 4, item)
                .collect()
                .await;
            Ok(values)
        });
        Ok(child.await)
    })
    .await;
    assert_eq!(out, Ok((0..30).collect::<Vec<_>>()));
}

/// A hundred thousand items (300 under Miri), limit 64: every value comes
/// out, and never more than 64 item futures are alive.
pub(super) async fn a_hundred_thousand_items_with_a_limit_of_64() {
    let n = under_miri(100_000, 300);
    for ordered in [false, true] {
        let live = Live::default();
        let live = &live;
        let out = open(|s| async move {
            let input = futures::stream::iter(0..n);
            let f = |i: usize| {
                let guard = live.guard();
                async move {
                    let _guard = guard;
                    yield_times(i % 3).await;
                    Ok::<_, ()>(i)
                }
            };
            let values = if ordered {
                map_ordered(&s, input, 64, f).boxed_local()
            } else {
                map_unordered(&s, input, 64, f).boxed_local()
            };
            let (count, sum, in_order) = values
                .fold((0usize, 0usize, true), |(c, s, o), v| async move {
                    (c + 1, s + v, o && v == c)
                })
                .await;
            Ok((count, sum, in_order || !ordered))
        })
        .await;
        assert_eq!(out, Ok((n, n * (n - 1) / 2, true)), "ordered: {ordered}");
        assert!(
            live.peak() <= 64,
            "ordered: {ordered}, peak {}",
            live.peak()
        );
    }
}

/// `width` items, at most `width` at once, each waiting until all have
/// started: every value comes out only if the map holds them all in flight
/// (a map wider than one chunk of 64 slots; one wider than its 65 536 wake
/// bits, where slots share bits).
async fn every_item_in_flight_at_once(width: usize) {
    for ordered in [false, true] {
        let started = AtomicUsize::new(0);
        let started = &started;
        let out = open(|s| async move {
            let (open_gate, gate) = oneshot::channel::<()>();
            let gate = gate.shared();
            let f = |i: usize| {
                let gate = gate.clone();
                async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    gate.await.unwrap();
                    Ok::<_, ()>(i)
                }
            };
            let input = futures::stream::iter(0..width);
            let values = if ordered {
                map_ordered(&s, input, width, f).boxed_local()
            } else {
                map_unordered(&s, input, width, f).boxed_local()
            };
            let opener = async {
                while started.load(Ordering::SeqCst) < width {
                    yield_now().await;
                }
                open_gate.send(()).unwrap();
            };
            let (values, ()) = futures::join!(values.collect::<Vec<usize>>(), opener);
            Ok::<_, ()>(values)
        })
        .await
        .unwrap();
        assert_eq!(out.len(), width);
        assert_eq!(out.iter().sum::<usize>(), width * (width - 1) / 2);
        if ordered {
            assert!(out.windows(2).all(|w| w[0] < w[1]));
        }
    }
}

/// A map wider than one chunk of slots holds every item in flight.
pub(super) async fn a_map_wider_than_a_chunk_holds_every_item_in_flight() {
    every_item_in_flight_at_once(under_miri(200, 70)).await;
}

/// A map wider than its wake bits (slots past 65 536 share them) still
/// wakes every item.
pub(super) async fn a_map_wider_than_its_wake_bits_wakes_every_item() {
    every_item_in_flight_at_once(under_miri(65_536 + 300, 70)).await;
}

/// Items that keep waking themselves (a busy loop of yields) do not hold
/// the scope's thread: a sibling child they wait for still runs.
pub(super) async fn items_that_keep_yielding_let_the_other_children_run() {
    let flag = AtomicUsize::new(0);
    let flag = &flag;
    let out = open(|s| async move {
        let sibling = s.spawn(async move {
            yield_times(3).await;
            flag.store(1, Ordering::SeqCst);
            Ok(())
        });
        let values: Vec<usize> = futures::stream::iter(0..4usize)
            .map_unordered(&s, 4, |i| async move {
                while flag.load(Ordering::SeqCst) == 0 {
                    yield_now().await;
                }
                Ok(i)
            })
            .collect()
            .await;
        sibling.await;
        Ok::<_, ()>(values.len())
    })
    .await;
    assert_eq!(out, Ok(4));
}

/// Waking an item after it finished (a waker it left behind) is harmless,
/// even when its slot already holds a later item.
pub(super) async fn a_stale_wake_of_a_finished_item_is_harmless() {
    let left: Mutex<Vec<std::task::Waker>> = Mutex::new(Vec::new());
    let left = &left;
    let out = open(|s| async move {
        let n = 8usize;
        let f = move |i: usize| async move {
            if i < n {
                std::future::poll_fn(|cx| {
                    left.lock().unwrap().push(cx.waker().clone());
                    Poll::Ready(())
                })
                .await;
            } else {
                yield_times(2).await;
            }
            Ok::<_, ()>(i)
        };
        let mut values = map_unordered(&s, futures::stream::iter(0..2 * n), n, f);
        let mut sum = 0;
        for _ in 0..n {
            sum += values.next().await.unwrap();
        }
        for waker in left.lock().unwrap().drain(..) {
            waker.wake();
        }
        sum += values.fold(0, |a, b| async move { a + b }).await;
        Ok(sum)
    })
    .await;
    assert_eq!(out, Ok((0..16).sum()));
}

on_both_executors!(
    maps_yield_every_value,
    unordered_yields_in_completion_order_and_ordered_in_input_order,
    the_ordered_window_is_bounded,
    at_most_limit_items_are_held,
    the_input_is_pulled_only_when_there_is_room,
    items_borrow_from_the_caller,
    the_first_error_fails_the_run_and_drops_the_rest,
    a_panicking_item_fails_the_run,
    a_limit_of_zero_panics_with_a_message,
    a_full_map_whose_items_the_grace_dropped_ends,
    a_map_stopped_midway_yields_what_finished_then_ends,
    a_stop_request_winds_a_map_down,
    maps_are_fused,
    a_map_polled_after_its_scope_finished_panics_cleanly,
    dropping_a_map_drops_its_items,
    an_input_that_waits_loses_no_wake,
    a_map_runs_inside_a_child,
    a_hundred_thousand_items_with_a_limit_of_64,
    a_map_wider_than_a_chunk_holds_every_item_in_flight,
    a_map_wider_than_its_wake_bits_wakes_every_item,
    items_that_keep_yielding_let_the_other_children_run,
    a_stale_wake_of_a_finished_item_is_harmless,
);
