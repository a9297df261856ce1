//! The tests of `tests/rate.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// Children that queue on a spent limiter are served in the order they
/// arrived (spawn order: a scope polls fresh children in spawn order).
pub(super) async fn waiters_are_served_in_arrival_order() {
    let limiter = RateLimiter::new(quick());
    limiter.try_acquire().unwrap();
    let order: Order = Mutex::new(Vec::new());
    let (limiter, order) = (&limiter, &order);
    open(|s| async move {
        for i in 0..support::scaled(20) {
            s.spawn(async move {
                limiter.acquire().await;
                order.lock().unwrap().push(i);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    let order = order.lock().unwrap();
    assert_eq!(*order, (0..support::scaled(20)).collect::<Vec<_>>());
}

/// Children queue behind a head that holds them all; one in the middle is
/// aborted, then the head is dropped: the others are served in order, and
/// the aborted one never is.
pub(super) async fn an_aborted_waiter_leaves_the_others_their_turns() {
    let limiter = RateLimiter::new(quick());
    let order: Order = Mutex::new(Vec::new());
    let (limiter, order) = (&limiter, &order);
    open(|s| async move {
        let head = stuck_head(limiter);
        let handles: Vec<_> = (0..6)
            .map(|i| {
                s.spawn(async move {
                    limiter.acquire().await;
                    order.lock().unwrap().push(i);
                    Ok::<_, ()>(())
                })
            })
            .collect();
        yield_now().await; // every child has queued behind the head
        handles[3].abort();
        yield_now().await;
        assert!(order.lock().unwrap().is_empty(), "nobody passed the head");
        drop(head); // its turn passes to child 0
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 4, 5]);
}

/// Per key, children are served in arrival order; one key's queue does not
/// hold up another's.
pub(super) async fn keyed_waiters_queue_per_key() {
    let limiter = KeyedRateLimiter::new(quick());
    let order: Order = Mutex::new(Vec::new());
    let (limiter, order) = (&limiter, &order);
    // A waiter for "slow" that nobody polls again: it holds "slow" only.
    let slow = loop {
        while limiter.try_acquire(&"slow").is_ok() {}
        let mut slow = Box::pin(limiter.acquire(&"slow"));
        if support::poll_once(&mut slow).is_pending() {
            break slow;
        }
    };
    open(|s| async move {
        for i in 0..8 {
            let key = if i % 2 == 0 { "even" } else { "odd" };
            s.spawn(async move {
                limiter.acquire(&key).await;
                order.lock().unwrap().push(i);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    let order = order.lock().unwrap().clone();
    let evens: Vec<_> = order.iter().copied().filter(|i| i % 2 == 0).collect();
    let odds: Vec<_> = order.iter().copied().filter(|i| i % 2 == 1).collect();
    assert_eq!((evens, odds), (vec![0, 2, 4, 6], vec![1, 3, 5, 7]));
    slow.await; // the held-up key's waiter was never in their way
}

/// Every test above, for the runners: `each_test!(on_both_executors)`. A test
/// left out of the list is never run, and `dead_code` says so.
macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            waiters_are_served_in_arrival_order,
            an_aborted_waiter_leaves_the_others_their_turns,
            keyed_waiters_queue_per_key,
        );
    };
}
