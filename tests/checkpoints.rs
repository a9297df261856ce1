//! Where corral yields to the executor and where it does not: `yield_now`,
//! and the operations that return at once when there is nothing to wait for
//! (documented in docs/semantics.md, "Checkpoints"). Each test runs on smol and
//! on the minimal executor; those about scopes on both scope flavours too.

#[macro_use]
mod support;

use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use corral::Semaphore;
use corral::time::{sleep, sleep_until, timeout, timeout_at};

use support::poll_once;

behaviour_tests! {
    /// A child that yields goes behind every sibling that is ready.
    async fn yield_now_lets_ready_siblings_run_first() {
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
    async fn a_busy_loop_with_yield_now_lets_its_sibling_run() {
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
    async fn a_scope_ready_on_its_first_poll_beats_a_past_deadline() {
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
}

async fn yield_now_is_pending_exactly_once() {
    let mut y = pin!(corral::yield_now());
    assert_eq!(poll_once(&mut y), Poll::Pending);
    assert_eq!(poll_once(&mut y), Poll::Ready(()));
    // And it wakes its task, so an executor polls it again by itself.
    corral::yield_now().await;
}

/// `sleep(Duration::ZERO)` and a sleep until a past instant are ready on
/// their first poll: they are not checkpoints (asyncio's `sleep(0)` is).
async fn a_zero_sleep_is_not_a_checkpoint() {
    let mut zero = pin!(sleep(Duration::ZERO));
    assert_eq!(poll_once(&mut zero), Poll::Ready(()));
    let mut past = pin!(sleep_until(Instant::now() - Duration::from_millis(5)));
    assert_eq!(poll_once(&mut past), Poll::Ready(()));
}

/// An acquire with a free permit and nobody queued is ready on its first
/// poll: not a checkpoint (Trio's `acquire` always is).
async fn an_uncontended_acquire_is_not_a_checkpoint() {
    let sem = Semaphore::new(1);
    let mut acquire = pin!(sem.acquire());
    let Poll::Ready(permit) = poll_once(&mut acquire) else {
        panic!("a free permit is taken on the first poll");
    };
    assert_eq!(sem.available_permits(), 0);
    drop(permit);
    // With `yield_now` first, the same code becomes a checkpoint.
    let mut both = pin!(async {
        corral::yield_now().await;
        sem.acquire().await
    });
    assert!(poll_once(&mut both).is_pending());
    assert!(poll_once(&mut both).is_ready());
}

/// A released permit belongs to the first waiter at once, before its task
/// is polled again: nobody can take it meanwhile. The order in which
/// granted waiters *resume* is the executor's: here the later waiter is
/// polled, and resumes, first.
async fn a_granted_permit_waits_for_its_waiter_while_later_tasks_resume() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut first = pin!(sem.acquire());
    let mut second = pin!(sem.acquire());
    assert!(poll_once(&mut first).is_pending());
    assert!(poll_once(&mut second).is_pending());
    drop(held); // handed to `first`, which has not run yet
    assert!(sem.try_acquire().is_none(), "no barging past the grant");
    sem.add_permits(1); // handed to `second`
    let Poll::Ready(later) = poll_once(&mut second) else {
        panic!("`second` was granted its permit");
    };
    let Poll::Ready(earlier) = poll_once(&mut first) else {
        panic!("`first` kept its permit while `second` resumed");
    };
    drop((later, earlier));
    assert_eq!(sem.available_permits(), 2);
    // Under a timeout whose deadline passed, a ready acquire still wins.
    let past = Instant::now() - Duration::from_secs(1);
    assert!(timeout_at(past, sem.acquire()).await.is_ok());
    assert!(timeout(Duration::ZERO, sem.acquire()).await.is_ok());
}

on_both_executors!(
    yield_now_is_pending_exactly_once,
    a_zero_sleep_is_not_a_checkpoint,
    an_uncontended_acquire_is_not_a_checkpoint,
    a_granted_permit_waits_for_its_waiter_while_later_tasks_resume,
);
