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

/// On a virtual clock, to the millisecond: at 10 a second, one at a time,
/// five children queued at once complete 100 ms apart, in spawn order.
pub(super) async fn on_virtual_time_waiters_complete_a_cell_apart_in_order() {
    let clock = VirtualClock::autojump();
    let times = clock
        .clone()
        .run(async move {
            let start = clock.now();
            let limiter = RateLimiter::new(Quota::per_second(10).allow_burst(1));
            let times: Mutex<Vec<(usize, u64)>> = Mutex::new(Vec::new());
            let (limiter, times, clock) = (&limiter, &times, &clock);
            open(|s| async move {
                for i in 0..5 {
                    s.spawn(async move {
                        limiter.acquire().await;
                        times.lock().unwrap().push((i, ms(clock, start)));
                        Ok::<_, ()>(())
                    });
                }
                Ok(())
            })
            .await
            .unwrap();
            times.lock().unwrap().clone()
        })
        .await;
    assert_eq!(times, [(0, 0), (1, 100), (2, 200), (3, 300), (4, 400)]);
}

/// On a virtual clock: the head gives up at 50 ms (a timeout); the waiter
/// behind it gets the cell at 100 ms, exactly when it comes back: the
/// dropped head took nothing and cost nothing.
pub(super) async fn on_virtual_time_a_head_that_gives_up_costs_the_next_nothing() {
    let clock = VirtualClock::autojump();
    let (gave_up, next_at) = clock
        .clone()
        .run(async move {
            let start = clock.now();
            let limiter = RateLimiter::new(Quota::per_second(10).allow_burst(1));
            limiter.try_acquire().unwrap();
            let (limiter, clock) = (&limiter, &clock);
            open(|s| async move {
                let head = s.spawn(async move {
                    let out = timeout(Duration::from_millis(50), limiter.acquire()).await;
                    Ok::<_, ()>((out.is_err(), ms(clock, start)))
                });
                let next = s.spawn(async move {
                    limiter.acquire().await;
                    Ok::<_, ()>(ms(clock, start))
                });
                Ok((head.await, next.await))
            })
            .await
            .unwrap()
        })
        .await;
    assert_eq!(gave_up, (true, 50));
    assert_eq!(next_at, 100);
}

/// Every test above, for the runners: `each_test!(on_both_executors)`. A test
/// left out of the list is never run, and `dead_code` says so.
macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            waiters_are_served_in_arrival_order,
            an_aborted_waiter_leaves_the_others_their_turns,
            keyed_waiters_queue_per_key,
            on_virtual_time_waiters_complete_a_cell_apart_in_order,
            on_virtual_time_a_head_that_gives_up_costs_the_next_nothing,
        );
    };
}
