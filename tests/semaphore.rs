//! Behaviour of `corral::Semaphore`: fairness, weights, cancellation and bad
//! input. Each test runs on smol and on the minimal executor; the contention
//! test also on both scope flavours.

#[macro_use]
mod support;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use corral::Semaphore;

use support::{counting_waker, poll_once, poll_with, yield_now, yield_times};

/// The tests of `semaphore/behaviour.rs` on `corral::scope`.
#[path = "semaphore"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `semaphore/behaviour.rs` on `corral::local_scope`.
#[path = "semaphore"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

mod plain {
    use super::*;

    /// `try_acquire` and `try_acquire_many` take what is free, and nothing
    /// while someone is queued, even when enough is free for them.
    async fn try_acquire_never_barges_past_a_queued_waiter() {
        let sem = Semaphore::new(3);
        let one = sem.try_acquire().expect("free");
        let two = sem.try_acquire_many(2).expect("free");
        assert!(sem.try_acquire().is_none());
        drop(two);
        // A waiter for 3 queues behind the 1 still held.
        let mut big = pin!(sem.acquire_many(3));
        assert!(poll_once(&mut big).is_pending());
        assert_eq!(sem.available_permits(), 0, "free permits went to the head");
        assert!(
            sem.try_acquire().is_none(),
            "no barging past the queued waiter"
        );
        assert!(sem.try_acquire_many(0).is_some(), "zero permits never wait");
        drop(one);
        let big = big.await;
        assert_eq!(big.num_permits(), 3);
        drop(big);
        assert_eq!(sem.try_acquire_many(3).map(|p| p.num_permits()), Some(3));
    }

    /// A waiter for 4 at the head collects permits one at a time as they are
    /// released; waiters for 1 behind it wait until it is served.
    async fn a_big_waiter_at_the_head_is_served_before_later_small_ones() {
        let sem = Semaphore::new(4);
        let held: Vec<_> = (0..4).map(|_| sem.try_acquire().unwrap()).collect();
        let (_, waker) = counting_waker();
        let mut big = Box::pin(sem.acquire_many(4));
        assert!(poll_with(&mut big, &waker).is_pending());
        let mut small: Vec<_> = (0..3).map(|_| Box::pin(sem.acquire())).collect();
        for s in &mut small {
            assert!(poll_with(s, &waker).is_pending());
        }
        let mut held = held.into_iter();
        for _ in 0..3 {
            drop(held.next());
            for s in &mut small {
                assert!(
                    poll_with(s, &waker).is_pending(),
                    "a small waiter overtook the big one"
                );
            }
            assert!(poll_with(&mut big, &waker).is_pending());
        }
        drop(held.next());
        let Poll::Ready(big_permit) = poll_with(&mut big, &waker) else {
            panic!("the big waiter was not served with all 4 permits back");
        };
        for s in &mut small {
            assert!(poll_with(s, &waker).is_pending());
        }
        drop(big_permit);
        for s in &mut small {
            assert!(
                poll_with(s, &waker).is_ready(),
                "then the small ones, in order"
            );
        }
        yield_now().await;
    }

    /// Waiters are woken and served in arrival order.
    async fn waiters_are_served_in_arrival_order() {
        let sem = Semaphore::new(1);
        let order = std::sync::Mutex::new(Vec::new());
        let (sem, order) = (&sem, &order);
        let first = sem.acquire().await;
        corral::local_scope(|s| async move {
            for i in 0..20 {
                s.spawn(async move {
                    let _p = sem.acquire().await;
                    order.lock().unwrap().push(i);
                    yield_now().await;
                    Ok::<_, ()>(())
                });
            }
            yield_times(3).await;
            drop(first);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }

    /// 200 rounds: a holder, a waiter dropped at a varying point (before its
    /// first poll, while queued, or just after its permits were handed to it
    /// but before it saw them) and a waiter behind it. The dropped waiter's
    /// permits always reach the next one, which is woken; none are lost.
    async fn dropped_acquires_give_back_every_permit() {
        let sem = Semaphore::new(3);
        for round in 0..support::scaled(200) {
            let holder = sem.try_acquire_many(3).unwrap();
            let (_, waker) = counting_waker();
            let want = 1 + round % 3;
            let mut doomed = Box::pin(sem.acquire_many(want));
            let point = round % 4;
            if point >= 1 {
                assert!(poll_with(&mut doomed, &waker).is_pending(), "queued");
            }
            let (next_wakes, next_waker) = counting_waker();
            let mut next = Box::pin(sem.acquire_many(3));
            assert!(poll_with(&mut next, &next_waker).is_pending());
            match point {
                2 => drop(sem.try_acquire()), // nothing: the queue has it
                3 => {
                    // Hand the doomed waiter its permits, partially or fully,
                    // then drop it before it polls again.
                    drop(holder);
                    drop(doomed);
                    assert!(
                        next_wakes.0.load(Ordering::SeqCst) >= 1,
                        "the next waiter was woken"
                    );
                    assert!(
                        poll_with(&mut next, &next_waker).is_ready(),
                        "round {round}"
                    );
                    assert_eq!(
                        sem.available_permits(),
                        3,
                        "round {round}: a permit was lost"
                    );
                    continue;
                }
                _ => {}
            }
            drop(doomed);
            drop(holder);
            assert!(
                next_wakes.0.load(Ordering::SeqCst) >= 1,
                "the next waiter was woken"
            );
            let Poll::Ready(permit) = poll_with(&mut next, &next_waker) else {
                panic!("round {round}: the next waiter did not get the permits");
            };
            assert_eq!(permit.num_permits(), 3);
            drop(permit);
            drop(next);
            assert_eq!(
                sem.available_permits(),
                3,
                "round {round}: a permit was lost"
            );
        }
        yield_now().await;
    }

    /// A waiter at the head holding part of its request is dropped: its part
    /// goes back, and smaller waiters behind it are served.
    async fn a_dropped_head_passes_its_partial_permits_on() {
        let sem = Semaphore::new(2);
        let a = sem.try_acquire().unwrap();
        let b = sem.try_acquire().unwrap();
        let (_, waker) = counting_waker();
        let mut big = Box::pin(sem.acquire_many(2));
        assert!(poll_with(&mut big, &waker).is_pending());
        let (small_wakes, small_waker) = counting_waker();
        let mut small = Box::pin(sem.acquire());
        assert!(poll_with(&mut small, &small_waker).is_pending());
        drop(a); // the big head now holds 1 of its 2
        assert!(poll_with(&mut small, &small_waker).is_pending());
        drop(big);
        assert_eq!(
            small_wakes.0.load(Ordering::SeqCst),
            1,
            "the small waiter was woken"
        );
        let Poll::Ready(permit) = poll_with(&mut small, &small_waker) else {
            panic!("the big waiter's partial permit was not passed on");
        };
        drop((permit, b));
        assert_eq!(sem.available_permits(), 2);
        yield_now().await;
    }

    /// `add_permits` serves and wakes queued waiters, in order.
    async fn add_permits_wakes_waiters() {
        let sem = Semaphore::new(0);
        let (wakes, waker) = counting_waker();
        let mut two = Box::pin(sem.acquire_many(2));
        let mut one = Box::pin(sem.acquire());
        assert!(poll_with(&mut two, &waker).is_pending());
        assert!(poll_with(&mut one, &waker).is_pending());
        sem.add_permits(1);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            0,
            "1 of 2 is not enough for the head"
        );
        sem.add_permits(2);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            2,
            "both served by the 3 permits"
        );
        assert!(poll_with(&mut two, &waker).is_ready());
        assert!(poll_with(&mut one, &waker).is_ready());
        // Asking for more than exist waits; adding makes it possible.
        let sem = Semaphore::new(1);
        let mut many = pin!(sem.acquire_many(5));
        assert!(poll_once(&mut many).is_pending());
        sem.add_permits(4);
        assert_eq!(many.await.num_permits(), 5);
    }

    /// `forget` keeps permits out for good.
    async fn forget_shrinks_the_semaphore() {
        let sem = Semaphore::new(3);
        sem.acquire().await.forget();
        assert_eq!(sem.available_permits(), 2);
        sem.acquire_many(2).await.forget();
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        let owned = Arc::new(Semaphore::new(2));
        owned.clone().acquire_owned().await.forget();
        assert_eq!(owned.available_permits(), 1);
    }

    /// `acquire_many(0)` completes at once, even behind a queued waiter.
    async fn acquiring_zero_permits_is_immediate() {
        let sem = Semaphore::new(0);
        let mut blocked = pin!(sem.acquire());
        assert!(poll_once(&mut blocked).is_pending());
        assert_eq!(sem.acquire_many(0).await.num_permits(), 0);
        assert_eq!(
            Arc::new(Semaphore::new(0))
                .acquire_many_owned(0)
                .await
                .num_permits(),
            0
        );
    }

    /// Owned permits move to other threads and come back from there.
    async fn owned_permits_cross_threads() {
        let sem = Arc::new(Semaphore::new(2));
        let permits = vec![
            sem.clone().acquire_owned().await,
            sem.clone().acquire_many_owned(1).await,
        ];
        assert_eq!(sem.available_permits(), 0);
        let mut waiting = pin!(sem.clone().acquire_many_owned(2));
        assert!(poll_once(&mut waiting).is_pending());
        let threads: Vec<_> = permits
            .into_iter()
            .map(|p| std::thread::spawn(move || drop(p)))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let both = waiting.await;
        assert_eq!(both.num_permits(), 2);
        std::thread::spawn(move || drop(both)).join().unwrap();
        assert_eq!(sem.available_permits(), 2);
    }

    on_both_executors!(
        try_acquire_never_barges_past_a_queued_waiter,
        a_big_waiter_at_the_head_is_served_before_later_small_ones,
        waiters_are_served_in_arrival_order,
        dropped_acquires_give_back_every_permit,
        a_dropped_head_passes_its_partial_permits_on,
        add_permits_wakes_waiters,
        forget_shrinks_the_semaphore,
        acquiring_zero_permits_is_immediate,
        owned_permits_cross_threads,
    );
}

/// Owned permits held by tasks on a 4-thread smol executor: never more out
/// than the semaphore has, and all back at the end.
#[test]
fn owned_permits_on_a_multi_threaded_executor() {
    support::watchdog(|| {
        let ex = Arc::new(smol::Executor::new());
        let (stop, shutdown) = smol::channel::unbounded::<()>();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (ex, shutdown) = (ex.clone(), shutdown.clone());
                std::thread::spawn(move || smol::block_on(ex.run(shutdown.recv())))
            })
            .collect();
        let sem = Arc::new(Semaphore::new(3));
        let held = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..support::scaled(200))
            .map(|i| {
                let (sem, held) = (sem.clone(), held.clone());
                ex.spawn(async move {
                    let permit = sem.acquire_many_owned(1 + i % 2).await;
                    let k = permit.num_permits();
                    assert!(held.fetch_add(k, Ordering::SeqCst) + k <= 3);
                    yield_now().await;
                    held.fetch_sub(k, Ordering::SeqCst);
                    // Released from wherever the task runs now.
                    drop(permit);
                })
            })
            .collect();
        smol::block_on(async {
            for t in tasks {
                t.await;
            }
        });
        drop(stop);
        for t in threads {
            let _ = t.join();
        }
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
#[should_panic(expected = "more permits than Semaphore::MAX_PERMITS")]
fn too_many_permits_at_creation_panics() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
#[should_panic(expected = "more than Semaphore::MAX_PERMITS could ever provide")]
fn asking_for_more_than_max_permits_panics() {
    let sem = Semaphore::new(1);
    drop(sem.acquire_many(Semaphore::MAX_PERMITS + 1));
}

#[test]
#[should_panic(expected = "more than Semaphore::MAX_PERMITS could ever provide")]
fn trying_for_more_than_max_permits_panics() {
    let sem = Semaphore::new(1);
    let _ = sem.try_acquire_many(Semaphore::MAX_PERMITS + 1);
}

#[test]
#[should_panic(expected = "is more than Semaphore::MAX_PERMITS")]
fn add_permits_overflow_panics() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    sem.add_permits(2);
}

#[test]
fn max_permits_is_usable() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    let all = sem.try_acquire_many(Semaphore::MAX_PERMITS).unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(all);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

#[test]
#[should_panic(expected = "polled after completion")]
fn polling_a_completed_acquire_panics() {
    let sem = Semaphore::new(1);
    let mut acquire = pin!(sem.acquire());
    let Poll::Ready(_permit) = poll_once(&mut acquire) else {
        panic!("free permit")
    };
    let _ = poll_once(&mut acquire);
}

/// The acquire futures and permits are `Send`, for `scope` and `spawn_on`.
#[test]
fn acquire_futures_and_permits_are_send() {
    fn send<T: Send>(_: &T) {}
    let sem = Arc::new(Semaphore::new(1));
    send(&sem.acquire());
    send(&sem.clone().acquire_owned());
    send(&sem.try_acquire());
    fn send_static<T: Send + 'static>(_: T) {}
    send_static(sem.clone().acquire_owned());
    send_static(sem.try_acquire_many(0).map(|p| p.num_permits()));
}
