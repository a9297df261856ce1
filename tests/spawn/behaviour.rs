//! The tests of `tests/spawn.rs` that run on both scope flavours, as plain
//! items that rustfmt formats. `tests/spawn.rs` includes this file twice, in
//! `scope_flavour` and in `local_flavour`, whose `open` (and `open_limited`,
//! `open_graceful`, from `support::flavour`) builds a `scope` or a
//! `local_scope`; `each_test!` at the end names the tests for the runners.

use super::*;

/// Two children that meet at a barrier: only parallelism gets them past it.
pub(super) async fn children_run_in_parallel<S: Spawn + Sync>(rt: &S) {
    let barrier = Arc::new(Barrier::new(2));
    let result = open(|s| async move {
        let a = {
            let barrier = barrier.clone();
            s.spawn_on(rt, async move { Ok::<_, ()>(barrier.wait().is_leader()) })
        };
        let b = s.spawn_on(rt, async move { Ok(barrier.wait().is_leader()) });
        Ok(a.await as u8 + b.await as u8)
    })
    .await;
    assert_eq!(result, Ok(1), "exactly one leader: both met at the barrier");
}

/// A local child fails: every parallel child is aborted, and their
/// destructors have all run by the time the scope returns its error.
pub(super) async fn a_failing_sibling_aborts_parallel_children<S: Spawn + Sync>(rt: &S) {
    let dropped = DropCounter::new();
    let started = Arc::new(AtomicUsize::new(0));
    let dropped_ref = &dropped;
    let result = open(|s| async move {
        for _ in 0..8 {
            let guard = dropped_ref.guard();
            let started = started.clone();
            s.spawn_on(rt, async move {
                let _guard = guard;
                started.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), &str>>().await
            });
        }
        s.spawn(async {
            yield_now().await;
            Err::<(), _>("local failure")
        });
        Ok(())
    })
    .await;
    assert_eq!(result, Err("local failure"));
    assert_eq!(
        dropped.get(),
        8,
        "every aborted child was dropped before the scope returned"
    );
}

/// The parallel child's own error fails the scope.
pub(super) async fn a_parallel_error_fails_the_scope<S: Spawn + Sync>(rt: &S) {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let result = open(|s| async move {
        s.spawn(pending_forever::<Result<(), String>>(dropped_ref));
        s.spawn_on(rt, async { Err::<(), _>("remote failure".to_string()) });
        Ok(())
    })
    .await;
    assert_eq!(result, Err("remote failure".to_string()));
    assert_eq!(dropped.get(), 1, "the local sibling was dropped");
}

/// Dropping the scope future asks the runtime to drop its parallel children,
/// which it does at its next chance.
pub(super) async fn dropping_the_scope_aborts_parallel_children<S: Spawn + Sync>(rt: &S) {
    let dropped = DropCounter::new();
    {
        let dropped = &dropped;
        let scope = open(|s| async move {
            for _ in 0..4 {
                let guard = dropped.guard();
                s.spawn_on(rt, async move {
                    let _guard = guard;
                    std::future::pending::<Result<(), ()>>().await
                });
            }
            std::future::pending::<Result<(), ()>>().await
        });
        let mut scope = Box::pin(scope);
        assert!(support::poll_once(&mut scope).is_pending());
    }
    wait_for(&dropped, 4);
    yield_now().await;
}

/// A parallel child's panic reaches the parent with its original payload.
pub(super) async fn a_parallel_panic_reaches_the_parent<S: Spawn + Sync>(rt: &S) {
    use futures::FutureExt;
    let scope = open(|s| async move {
        s.spawn_on(rt, async {
            if true {
                std::panic::panic_any(42_u32);
            }
            Ok::<(), ()>(())
        });
        Ok(())
    });
    let payload = std::panic::AssertUnwindSafe(scope)
        .catch_unwind()
        .await
        .expect_err("the scope panics");
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
}

/// A child panics; as the scope tears down, the body's destructor panics
/// too. The caller gets the first panic, and only once the parallel child
/// has been dropped on its runtime: no child outlives its scope.
pub(super) async fn a_teardown_panic_waits_for_parallel_children<S: Spawn + Sync>(rt: &S) {
    use futures::FutureExt;
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (dropped_ref, started_ref) = (&dropped, &started);
    let scope = open(|s| async move {
        let (guard, started) = (SlowDrop(dropped_ref.clone()), started_ref.clone());
        s.spawn_on(rt, async move {
            let _guard = guard;
            started.store(true, Ordering::SeqCst);
            std::future::pending::<Result<(), ()>>().await
        });
        s.spawn(async move {
            while !started_ref.load(Ordering::SeqCst) {
                yield_now().await;
            }
            if true {
                panic!("first: a child");
            }
            Ok(())
        });
        let _bomb = PanicOnDrop("second: the body's destructor");
        std::future::pending::<Result<(), ()>>().await
    });
    let payload = std::panic::AssertUnwindSafe(scope)
        .catch_unwind()
        .await
        .expect_err("the scope panics");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"first: a child"));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the parallel child was dropped on its runtime before the panic reached the caller"
    );
}

/// Owned semaphore permits bound the parallel children.
pub(super) async fn owned_permits_bound_parallel_children<S: Spawn + Sync>(rt: &S) {
    let sem = Arc::new(Semaphore::new(3));
    let held = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (sem_ref, held_ref, peak_ref) = (&sem, &held, &peak);
    open(|s| async move {
        for _ in 0..support::scaled(100) {
            let (sem, held, peak) = (sem_ref.clone(), held_ref.clone(), peak_ref.clone());
            s.spawn_on(rt, async move {
                let _permit = sem.acquire_owned().await;
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                yield_now().await;
                held.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert_eq!(sem.available_permits(), 3);
}

/// Ten thousand parallel children all complete, with their values.
pub(super) async fn ten_thousand_parallel_children_complete<S: Spawn + Sync>(rt: &S) {
    let n = support::scaled(10_000);
    let sum = open(|s| async move {
        let handles: Vec<_> = (0..n)
            .map(|i| s.spawn_on(rt, async move { Ok::<_, ()>(i) }))
            .collect();
        Ok(corral::join_all(handles).await.into_iter().sum::<usize>())
    })
    .await;
    assert_eq!(sum, Ok(n * (n - 1) / 2));
}

/// With a concurrency limit, parallel children wait for their place.
pub(super) async fn the_limit_holds_for_parallel_children<S: Spawn + Sync>(rt: &S) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (running_ref, peak_ref) = (&running, &peak);
    open_limited(2, |s| async move {
        for _ in 0..20 {
            let (running, peak) = (running_ref.clone(), peak_ref.clone());
            s.spawn_on(rt, async move {
                peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "{} ran at once",
        peak.load(Ordering::SeqCst)
    );
}

/// Every test above, for the runners: `each_test!(on_every_runtime)`. A test
/// left out of the list is never run, and `dead_code` says so.
macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            children_run_in_parallel,
            a_failing_sibling_aborts_parallel_children,
            a_parallel_error_fails_the_scope,
            dropping_the_scope_aborts_parallel_children,
            a_parallel_panic_reaches_the_parent,
            a_teardown_panic_waits_for_parallel_children,
            owned_permits_bound_parallel_children,
            ten_thousand_parallel_children_complete,
            the_limit_holds_for_parallel_children,
        );
    };
}
