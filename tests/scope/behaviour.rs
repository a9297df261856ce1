//! The tests of `tests/scope.rs` that run on both scope flavours, as plain
//! items that rustfmt formats. `tests/scope.rs` includes this file twice, in
//! `scope_flavour` and in `local_flavour`, whose `open` (and `open_limited`,
//! `open_graceful`, from `support::flavour`) builds a `scope` or a
//! `local_scope`; `each_test!` at the end names the tests for the runners.

use super::*;

/// A ping-pong between the body and a child: only concurrency can finish it.
pub(super) async fn body_and_children_run_concurrently() {
    let (mut ping_tx, mut ping_rx) = mpsc::channel::<u32>(0);
    let (mut pong_tx, mut pong_rx) = mpsc::channel::<u32>(0);
    let rounds = open(|s| async move {
        s.spawn(async move {
            while let Some(n) = ping_rx.next().await {
                pong_tx.send(n + 1).await.unwrap();
            }
            Ok::<_, ()>(())
        });
        let mut n = 0;
        for _ in 0..100 {
            ping_tx.send(n).await.unwrap();
            n = pong_rx.next().await.unwrap();
        }
        Ok(n)
    })
    .await;
    assert_eq!(rounds, Ok(100));
}

pub(super) async fn scope_waits_for_every_child() {
    let finished = AtomicUsize::new(0);
    let finished = &finished;
    open(|s| async move {
        for i in 0..50 {
            s.spawn(async move {
                yield_times(i % 7).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 50);
}

pub(super) async fn children_borrow_and_mutate_locals() {
    let mut cells = vec![0u64; 16];
    let total = AtomicUsize::new(0);
    let (cells_ref, total_ref) = (&mut cells, &total);
    open(|s| async move {
        for (i, cell) in cells_ref.iter_mut().enumerate() {
            s.spawn(async move {
                yield_now().await;
                *cell = i as u64 * 10;
                total_ref.fetch_add(i, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(cells, (0..16).map(|i| i * 10).collect::<Vec<_>>());
    assert_eq!(total.into_inner(), (0..16).sum::<usize>());
}

pub(super) async fn children_spawn_siblings_through_a_cloned_handle() {
    let count = AtomicUsize::new(0);
    let count = &count;
    open(|s| async move {
        for _ in 0..4 {
            let s2 = s.clone();
            s.spawn(async move {
                for _ in 0..3 {
                    let s3 = s2.clone();
                    s2.spawn(async move {
                        yield_now().await;
                        s3.spawn(async move {
                            count.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, ()>(())
                        });
                        count.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    });
                }
                Ok(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 4 * 3 * 2);
}

pub(super) async fn join_handles_return_values_in_any_order() {
    let out = open(|s| async move {
        let handles: Vec<_> = (0..10u64)
            .map(|i| {
                s.spawn(async move {
                    yield_times((10 - i) as usize).await;
                    Ok::<_, ()>(i * i)
                })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles.into_iter().rev() {
            out.push(h.await);
        }
        Ok(out)
    })
    .await
    .unwrap();
    assert_eq!(out, (0..10u64).rev().map(|i| i * i).collect::<Vec<_>>());
}

pub(super) async fn a_child_awaits_a_sibling_handle() {
    let v = open(|s| async move {
        let first = s.spawn(async {
            yield_times(3).await;
            Ok::<_, ()>(20)
        });
        let second = s.spawn(async move { Ok(first.await + 22) });
        Ok(second.await)
    })
    .await;
    assert_eq!(v, Ok(42));
}

pub(super) async fn first_child_error_cancels_siblings_before_the_scope_resolves() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let mut fut = pin!(open(move |s| async move {
        for _ in 0..5 {
            s.spawn(pending_forever::<Result<(), &str>>(&d));
        }
        s.spawn(async {
            yield_times(2).await;
            Err::<(), _>("child failed")
        });
        let _body_guard = d.guard();
        std::future::pending::<()>().await;
        Ok(())
    }));
    let result = fut.as_mut().await;
    // The scope future is still alive here: the drops happened before it resolved.
    assert_eq!(result, Err("child failed"));
    assert_eq!(dropped.get(), 6, "5 siblings and the body are dropped");
}

pub(super) async fn body_error_cancels_children_before_the_scope_resolves() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let mut fut = pin!(open(move |s| async move {
        for _ in 0..5 {
            s.spawn(pending_forever::<Result<(), &str>>(&d));
        }
        yield_times(3).await;
        Err::<(), _>("body failed")
    }));
    let result = fut.as_mut().await;
    assert_eq!(result, Err("body failed"));
    assert_eq!(dropped.get(), 5);
}

pub(super) async fn earliest_error_wins() {
    let result: Result<(), u32> = open(|s| async move {
        s.spawn(async {
            yield_times(5).await;
            Err::<(), u32>(5)
        });
        s.spawn(async {
            yield_times(1).await;
            Err::<(), u32>(1)
        });
        s.spawn(async {
            yield_times(3).await;
            Err::<(), u32>(3)
        });
        Ok(())
    })
    .await;
    assert_eq!(result, Err(1));
}

pub(super) async fn child_panic_drops_siblings_then_resumes_the_payload() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let mut fut = pin!(open(move |s| async move {
        for _ in 0..3 {
            s.spawn(pending_forever::<Result<(), ()>>(&d));
        }
        s.spawn(async {
            yield_now().await;
            std::panic::panic_any(String::from("child exploded"));
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        });
        Ok(())
    }));
    // `fut` is borrowed, not moved: unwinding cannot drop the scope, so the
    // count below proves the siblings were dropped before the panic resumed.
    let caught = AssertUnwindSafe(fut.as_mut()).catch_unwind().await;
    let payload = caught.expect_err("the child's panic reaches the parent");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("child exploded")
    );
    assert_eq!(dropped.get(), 3);
}

pub(super) async fn body_panic_drops_children_then_resumes_the_payload() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let mut fut = pin!(open(move |s| async move {
        for _ in 0..3 {
            s.spawn(pending_forever::<Result<(), ()>>(&d));
        }
        yield_now().await;
        std::panic::panic_any(7u32);
        #[allow(unreachable_code)]
        Ok(())
    }));
    let caught = AssertUnwindSafe(fut.as_mut()).catch_unwind().await;
    assert_eq!(caught.expect_err("panics").downcast_ref::<u32>(), Some(&7));
    assert_eq!(dropped.get(), 3);
}

pub(super) async fn dropping_the_scope_future_drops_every_started_child() {
    let dropped = DropCounter::new();
    let started = std::sync::Arc::new(AtomicUsize::new(0));
    let (d, st) = (dropped.clone(), started.clone());
    let mut fut = Box::pin(open(move |s| async move {
        for _ in 0..10 {
            let guard = d.guard();
            let st = st.clone();
            s.spawn(async move {
                let _guard = guard;
                st.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), ()>>().await
            });
        }
        std::future::pending::<()>().await;
        Ok(())
    }));
    for _ in 0..3 {
        assert!(support::poll_once(&mut fut).is_pending());
    }
    assert_eq!(
        started.load(Ordering::SeqCst),
        10,
        "every child has started"
    );
    assert_eq!(dropped.get(), 0);
    drop(fut);
    assert_eq!(
        dropped.get(),
        10,
        "every child dropped before the drop returned"
    );
}

pub(super) async fn nested_scopes_propagate_errors_outward() {
    let inner_dropped = DropCounter::new();
    let d = inner_dropped.clone();
    let result: Result<u32, &str> = open(move |s| async move {
        let d2 = d.clone();
        let h = s.spawn(async move {
            open(move |inner| async move {
                inner.spawn(pending_forever::<Result<(), &str>>(&d2));
                inner.spawn(async {
                    yield_now().await;
                    Err::<(), _>("inner failed")
                });
                Ok(1u32)
            })
            .await
        });
        Ok(h.await)
    })
    .await;
    assert_eq!(result, Err("inner failed"));
    assert_eq!(inner_dropped.get(), 1);
}

pub(super) async fn nested_scopes_return_values() {
    let v = open(|s| async move {
        let h = s.spawn(async {
            open(|inner| async move {
                let a = inner.spawn(async { Ok::<_, ()>(2) });
                let b = inner.spawn(async {
                    yield_now().await;
                    Ok(3)
                });
                Ok(a.await * b.await)
            })
            .await
        });
        Ok(h.await + 1)
    })
    .await;
    assert_eq!(v, Ok(7));
}

/// Children woken from plain threads: no wake-up may be lost.
pub(super) async fn wakeups_from_other_threads_are_never_lost() {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..200).map(|_| oneshot::channel::<usize>()).unzip();
    let thread = std::thread::spawn(move || {
        for (i, tx) in senders.into_iter().enumerate() {
            if i % 16 == 0 {
                std::thread::yield_now();
            }
            tx.send(i).unwrap();
        }
    });
    let sum = open(|s| async move {
        let handles: Vec<_> = receivers
            .into_iter()
            .map(|rx| s.spawn(async move { Ok::<_, ()>(rx.await.unwrap()) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        Ok(sum)
    })
    .await;
    thread.join().unwrap();
    assert_eq!(sum, Ok((0..200).sum()));
}

pub(super) async fn max_concurrency_bounds_running_children_and_keeps_spawn_order() {
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let order = Mutex::new(Vec::new());
    let (running, peak, order_ref) = (&running, &peak, &order);
    open_limited(3, |s| async move {
        for i in 0..20usize {
            s.spawn(async move {
                order_ref.lock().unwrap().push(i);
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                yield_times(1 + i % 4).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(order.into_inner().unwrap(), (0..20).collect::<Vec<_>>());
}

pub(super) async fn children_are_first_polled_in_spawn_order() {
    let order = Mutex::new(Vec::new());
    let order_ref = &order;
    open(|s| async move {
        for i in 0..100usize {
            s.spawn(async move {
                order_ref.lock().unwrap().push(i);
                Ok::<_, ()>(())
            });
            if i % 10 == 0 {
                yield_now().await; // some start while the body still spawns
            }
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(order.into_inner().unwrap(), (0..100).collect::<Vec<_>>());
}

pub(super) async fn a_hundred_thousand_children() {
    let done = AtomicUsize::new(0);
    let done = &done;
    let n = support::scaled(100_000);
    open(|s| async move {
        for _ in 0..n {
            s.spawn(async move {
                yield_now().await;
                done.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(done.load(Ordering::Relaxed), n);
}

/// A child that never stops yielding must not starve its neighbours: the
/// scope's poll budget hands control back to the executor.
pub(super) async fn a_busy_child_does_not_starve_the_executor() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let busy = open(move |s| async move {
        s.spawn(async move {
            while !stop2.load(Ordering::SeqCst) {
                yield_now().await;
            }
            Ok::<_, ()>(())
        });
        Ok(())
    });
    let other = async move {
        yield_times(3).await; // needs polls of its own
        stop.store(true, Ordering::SeqCst);
        Ok::<_, ()>(())
    };
    let (a, b) = futures::join!(busy, other);
    assert_eq!((a, b), (Ok(()), Ok(())));
}

pub(super) async fn an_empty_scope_resolves_to_the_body_value() {
    assert_eq!(open(|_s| async { Ok::<_, ()>("done") }).await, Ok("done"));
}

pub(super) async fn spawning_after_the_scope_finished_panics_and_never_polls_the_child() {
    let polled = std::sync::Arc::new(AtomicUsize::new(0));
    let escaped = open(|s| async move { Ok::<_, ()>(s.clone()) })
        .await
        .unwrap();
    let p = polled.clone();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
        drop(escaped.spawn(async move {
            p.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        }));
    }));
    let payload = caught.expect_err("spawn on a finished scope panics");
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(
        message.contains("scope that has already finished"),
        "{message}"
    );
    assert_eq!(polled.load(Ordering::SeqCst), 0);
}

pub(super) async fn awaiting_the_handle_of_a_cancelled_child_panics_clearly() {
    let (tx, rx) = oneshot::channel();
    let result = open(move |s| async move {
        let h = s.spawn(std::future::pending::<Result<u8, &str>>());
        tx.send(h).ok().unwrap();
        yield_now().await;
        Err::<(), _>("stop")
    })
    .await;
    assert_eq!(result, Err("stop"));
    let handle = rx.await.unwrap();
    assert!(handle.is_finished());
    let caught = AssertUnwindSafe(handle).catch_unwind().await;
    let payload = caught.expect_err("a cancelled child's handle panics");
    assert!(
        payload
            .downcast_ref::<&str>()
            .unwrap()
            .contains("dropped before it finished")
    );
}

pub(super) async fn a_dropped_handle_does_not_cancel_its_child() {
    let ran = AtomicUsize::new(0);
    let ran = &ran;
    open(|s| async move {
        drop(s.spawn(async move {
            yield_times(2).await;
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        }));
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

pub(super) async fn handle_escaping_a_successful_scope_yields_its_value() {
    let h = open(|s| async move {
        Ok::<_, ()>(s.spawn(async {
            yield_now().await;
            Ok(9)
        }))
    })
    .await
    .unwrap();
    assert!(h.is_finished());
    assert_eq!(h.await, 9);
}

/// A spawn that went through the remote path (here: made inside a nested
/// gather's poll loop) still starts before a later spawn on the fast path.
pub(super) async fn spawn_order_holds_across_nested_loops() {
    let order = Mutex::new(Vec::new());
    let order_ref = &order;
    open(|s| async move {
        let s2 = s.clone();
        corral::join_all([async move {
            s2.spawn(async move {
                order_ref.lock().unwrap().push("first");
                Ok::<_, ()>(())
            });
        }])
        .await;
        s.spawn(async move {
            order_ref.lock().unwrap().push("second");
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(order.into_inner().unwrap(), ["first", "second"]);
}

/// A body whose destructor panics: the children are dropped before the
/// panic is resumed, as for any other panic.
pub(super) async fn a_panicking_body_destructor_drops_children_first() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let mut fut = pin!(open(move |s| {
        s.spawn(pending_forever::<Result<(), ()>>(&d));
        ReadyThenPanicOnDrop(OnDrop(Some(|| panic!("body destructor"))))
    }));
    let caught = AssertUnwindSafe(fut.as_mut()).catch_unwind().await;
    let payload = caught.expect_err("the destructor's panic reaches the parent");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body destructor"));
    assert_eq!(dropped.get(), 1);
}

/// A scope future dropped while a child's destructor and the body's
/// destructor both panic: each destructor runs, and the drop resumes the
/// first panic (the child's: children are dropped first) instead of
/// aborting the process on a panic during unwinding.
pub(super) async fn a_dropped_scope_runs_every_destructor_and_resumes_the_first_panic() {
    let body_dropped = DropCounter::new();
    let b = body_dropped.clone();
    let mut fut = Box::pin(open(move |s| async move {
        s.spawn(async {
            let _bomb = OnDrop(Some(|| panic!("first: a child's destructor")));
            std::future::pending::<Result<(), ()>>().await
        });
        let _count = b.guard();
        let _bomb = OnDrop(Some(|| panic!("second: the body's destructor")));
        std::future::pending::<Result<(), ()>>().await
    }));
    assert!(support::poll_once(&mut fut).is_pending());
    yield_now().await;
    assert!(support::poll_once(&mut fut).is_pending());
    let caught = std::panic::catch_unwind(AssertUnwindSafe(move || drop(fut)));
    let payload = caught.expect_err("the drop resumes a panic");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"first: a child's destructor")
    );
    assert_eq!(body_dropped.get(), 1, "the body was dropped too");
}

/// A child fails with an error and the body's destructor panics as the
/// scope tears down: the panic outranks the error (as any destructor
/// panic does), and it comes out of the scope's poll, not early.
pub(super) async fn a_body_destructor_panic_on_the_error_path_outranks_the_error() {
    let fut = open(|s| async move {
        s.spawn(async {
            yield_now().await;
            Err::<(), _>("a child's error")
        });
        let _bomb = OnDrop(Some(|| panic!("the body's destructor")));
        std::future::pending::<Result<(), &str>>().await
    });
    let caught = AssertUnwindSafe(fut).catch_unwind().await;
    let payload = caught.expect_err("the destructor's panic");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the body's destructor")
    );
}

/// While a scope tears down, a destructor that spawns is refused with the
/// documented panic, and its child never runs.
pub(super) async fn spawning_from_a_destructor_during_teardown_is_refused() {
    let ran = std::sync::Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let mut fut = pin!(open(move |s| async move {
        let s2 = s.clone();
        s.spawn(async move {
            let _guard = OnDrop(Some(move || {
                let ran = ran2.clone();
                drop(s2.spawn(async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }));
            }));
            std::future::pending::<Result<(), &str>>().await
        });
        yield_now().await;
        Err::<(), _>("stop")
    }));
    let caught = AssertUnwindSafe(fut.as_mut()).catch_unwind().await;
    let payload = caught.expect_err("the refused spawn panics");
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("already finished"), "{message}");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

pub(super) async fn a_child_is_dropped_as_soon_as_it_finishes() {
    let dropped = DropCounter::new();
    let d = dropped.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let observed = open(move |s| async move {
        let guard = d.guard();
        let h = s.spawn(async move {
            let _g = guard;
            Ok::<_, ()>(())
        });
        h.await;
        let seen = d.get();
        tx.send(()).unwrap();
        Ok(seen)
    })
    .await;
    rx.await.unwrap();
    assert_eq!(
        observed,
        Ok(1),
        "the child's future was dropped before the body resumed"
    );
    assert_eq!(dropped.get(), 1);
}

/// A child's waker and its clone are the same waker to `will_wake`, so
/// the wakers a timer or a semaphore keeps are not replaced at every poll;
/// so are the wakers of two polls of one child.
pub(super) async fn a_childs_wakers_will_wake_each_other() {
    open(|s| async move {
        s.spawn(async {
            let mut first: Option<std::task::Waker> = None;
            std::future::poll_fn(|cx| {
                let waker = cx.waker();
                assert!(waker.will_wake(&waker.clone()), "a waker and its clone");
                match &first {
                    None => {
                        first = Some(waker.clone());
                        waker.wake_by_ref();
                        std::task::Poll::Pending
                    }
                    Some(kept) => {
                        assert!(kept.will_wake(waker), "the wakers of two polls");
                        std::task::Poll::Ready(())
                    }
                }
            })
            .await;
            Ok::<_, ()>(())
        });
        Ok(())
    })
    .await
    .unwrap();
}

/// A child of `N` bytes of state that yields once, then returns a guard
/// counted when its output is dropped.
async fn sized_child<const N: usize>(
    counter: DropCounter,
    seed: u8,
) -> Result<(support::DropGuard, u8), ()> {
    let state = [seed; N];
    yield_now().await;
    Ok((counter.guard(), state[N - 1]))
}

/// Cells of many sizes (some carved from the scope's chunks, one class
/// beyond them from the global allocator): handles taken inside the body,
/// dropped unawaited, kept past the scope and read there, or dropped on
/// another thread after it; abort handles kept past all of it. Every
/// output is dropped exactly once and every value is the child's own (Miri
/// runs this on the minimal executor: no cell overlaps another or outlives
/// its chunk).
pub(super) async fn cells_outlive_their_scope_in_any_order() {
    let outputs = DropCounter::new();
    let n = if cfg!(miri) { 12 } else { 200 };
    let (escaped, aborts) = open(|s| {
        let outputs = outputs.clone();
        async move {
            let mut escaped = Vec::new();
            let mut aborts = Vec::new();
            for i in 0..n {
                let seed = i as u8;
                let c = outputs.clone();
                let handle = match i % 4 {
                    0 => s.spawn(sized_child::<8>(c, seed)),
                    1 => s.spawn(sized_child::<200>(c, seed)),
                    2 => s.spawn(sized_child::<700>(c, seed)),
                    _ => s.spawn(sized_child::<3000>(c, seed)),
                };
                if i % 5 == 0 {
                    aborts.push(handle.abort_handle());
                }
                match i % 3 {
                    0 => escaped.push((seed, handle)),
                    1 => drop(handle),
                    _ => {
                        let (guard, got) = handle.await;
                        assert_eq!(got, seed);
                        drop(guard);
                    }
                }
            }
            Ok::<_, ()>((escaped, aborts))
        }
    })
    .await
    .unwrap();
    let (here, there): (Vec<_>, Vec<_>) = escaped.into_iter().partition(|(seed, _)| seed % 2 == 0);
    for (seed, handle) in here {
        assert!(handle.is_finished());
        let (guard, got) = handle.await;
        assert_eq!(got, seed);
        drop(guard);
    }
    std::thread::spawn(move || {
        for (i, (seed, handle)) in there.into_iter().enumerate() {
            if i % 2 == 0 {
                drop(handle);
            } else {
                let (_guard, got) = futures::executor::block_on(handle);
                assert_eq!(got, seed);
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(outputs.get(), n);
    for abort in &aborts {
        assert!(abort.is_finished());
        abort.abort();
    }
    drop(aborts);
    assert_eq!(outputs.get(), n);
}

/// Many children in turns (spawn a batch, await it, again): cells given
/// back by finished children leave the scope's memory flat, and children
/// spawned from inside children carve from the same arena.
pub(super) async fn children_spawned_in_turns_and_from_children() {
    let n = if cfg!(miri) { 3 } else { 50 };
    let total = open(|s| async move {
        let mut total = 0usize;
        for turn in 0..n {
            let handles: Vec<_> = (0..40usize)
                .map(|i| {
                    let s2 = s.clone();
                    s.spawn(async move {
                        let inner = s2.spawn(async move { Ok::<_, ()>(i) });
                        yield_now().await;
                        Ok::<_, ()>(inner.await + turn)
                    })
                })
                .collect();
            for handle in handles {
                total += handle.await;
            }
        }
        Ok::<_, ()>(total)
    })
    .await
    .unwrap();
    assert_eq!(
        total,
        n * (0..40).sum::<usize>() + 40 * (0..n).sum::<usize>()
    );
}

/// Every test above, for the runners: `each_test!(on_both_executors)`. A test
/// left out of the list is never run, and `dead_code` says so.
macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            a_childs_wakers_will_wake_each_other,
            body_and_children_run_concurrently,
            scope_waits_for_every_child,
            children_borrow_and_mutate_locals,
            children_spawn_siblings_through_a_cloned_handle,
            join_handles_return_values_in_any_order,
            a_child_awaits_a_sibling_handle,
            first_child_error_cancels_siblings_before_the_scope_resolves,
            body_error_cancels_children_before_the_scope_resolves,
            earliest_error_wins,
            child_panic_drops_siblings_then_resumes_the_payload,
            body_panic_drops_children_then_resumes_the_payload,
            dropping_the_scope_future_drops_every_started_child,
            nested_scopes_propagate_errors_outward,
            nested_scopes_return_values,
            wakeups_from_other_threads_are_never_lost,
            max_concurrency_bounds_running_children_and_keeps_spawn_order,
            children_are_first_polled_in_spawn_order,
            a_hundred_thousand_children,
            a_busy_child_does_not_starve_the_executor,
            an_empty_scope_resolves_to_the_body_value,
            spawning_after_the_scope_finished_panics_and_never_polls_the_child,
            awaiting_the_handle_of_a_cancelled_child_panics_clearly,
            a_dropped_handle_does_not_cancel_its_child,
            handle_escaping_a_successful_scope_yields_its_value,
            spawn_order_holds_across_nested_loops,
            a_panicking_body_destructor_drops_children_first,
            a_dropped_scope_runs_every_destructor_and_resumes_the_first_panic,
            a_body_destructor_panic_on_the_error_path_outranks_the_error,
            spawning_from_a_destructor_during_teardown_is_refused,
            a_child_is_dropped_as_soon_as_it_finishes,
            cells_outlive_their_scope_in_any_order,
            children_spawned_in_turns_and_from_children,
        );
    };
}
