//! The tests of `tests/checkpoints.rs` that run on both scope flavours, as
//! plain items that rustfmt formats. `tests/checkpoints.rs` includes this file
//! twice, in `scope_flavour` and in `local_flavour`, whose `open` (and
//! `open_limited`, `open_graceful`, from `support::flavour`) builds a `scope`
//! or a `local_scope`; `each_test!` at the end names the tests for the runners.

use super::*;

/// A child that yields goes behind every sibling that is ready.
pub(super) async fn yield_now_lets_ready_siblings_run_first() {
    let order = Mutex::new(Vec::new());
    let order = &order;
    open(|s| async move {
        s.spawn(async move {
            order.lock().unwrap().push("a1");
            corral::yield_now().await;
            order.lock().unwrap().push("a2");
            Ok::<_, ()>(())
        });
        s.spawn(async move {
            order.lock().unwrap().push("b");
            Ok(())
        });
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(*order.lock().unwrap(), ["a1", "b", "a2"]);
}

/// A busy loop that checks a flag only a sibling sets: without a
/// checkpoint it would spin forever (the watchdog fails the test).
pub(super) async fn a_busy_loop_with_yield_now_lets_its_sibling_run() {
    let flag = AtomicBool::new(false);
    let flag = &flag;
    let spins = open(|s| async move {
        let spinner = s.spawn(async move {
            let mut spins = 0u64;
            while !flag.load(Ordering::SeqCst) {
                spins += 1;
                corral::yield_now().await;
            }
            Ok::<_, ()>(spins)
        });
        s.spawn(async move {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        });
        Ok(spinner.await)
    })
    .await
    .unwrap();
    assert!(spins >= 1);
}

/// A scope whose body and children all finish in its first poll is
/// ready on that poll, so a timeout around it returns `Ok` even when its
/// deadline has passed: the ready-future rule, applied to a whole scope.
pub(super) async fn a_scope_ready_on_its_first_poll_beats_a_past_deadline() {
    let past = Instant::now() - Duration::from_secs(1);
    let result = timeout_at(
        past,
        open(|s| async move {
            let h = s.spawn(async { Ok::<_, ()>(20) });
            drop(h);
            Ok(22)
        }),
    )
    .await;
    assert_eq!(result, Ok(Ok(22)));
    // A child's `yield_now` is a checkpoint for its siblings, but the
    // scope polls the child again in the same turn (within its budget of
    // 128 child polls): the scope is still ready on its first poll.
    let result = timeout_at(
        past,
        open(|s| async move {
            s.spawn(async {
                corral::yield_now().await;
                Ok::<_, ()>(())
            });
            Ok(1)
        }),
    )
    .await;
    assert_eq!(result, Ok(Ok(1)));
    // A child that waits for something outside the scope makes the scope
    // return `Pending`, and the deadline wins.
    let result = timeout_at(
        past,
        open(|s| async move {
            s.spawn(async {
                sleep(Duration::from_millis(1)).await;
                Ok::<_, ()>(())
            });
            Ok(())
        }),
    )
    .await;
    assert!(result.is_err());
}

/// Every test above, for the runners: `each_test!(on_both_executors)`. A test
/// left out of the list is never run, and `dead_code` says so.
macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            yield_now_lets_ready_siblings_run_first,
            a_busy_loop_with_yield_now_lets_its_sibling_run,
            a_scope_ready_on_its_first_poll_beats_a_past_deadline,
        );
    };
}
