//! loom models of the semaphore's waiter protocol (run with
//! `--cfg corral_loom`, see `.ci/run`): the lock-free fast paths (the `QUEUED`
//! bit, the counter) racing the queue under its lock.
//!
//! - a queued acquire dropped on one thread while the last holder releases on
//!   another: whether the permit was handed to the dropped waiter or not, it
//!   comes back, exactly once;
//! - a head waiter for two permits cancelled while permits come back one at a
//!   time and a `try_acquire` tries to barge: the waiter behind it is served,
//!   nobody barges past it, and every permit comes back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use loom::thread;

use super::Semaphore;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_dropped_waiter_racing_the_last_release_loses_no_permit() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let holder = sem.clone().acquire_owned();
        let mut holder = Box::pin(holder);
        let Poll::Ready(held) = poll(&mut holder) else {
            panic!("free permit")
        };
        let mut waiter = Box::pin(sem.clone().acquire_owned());
        assert!(poll(&mut waiter).is_pending());

        let releasing = thread::spawn(move || drop(held));
        let dropping = thread::spawn(move || {
            // Look once more (the permit may have been handed over), then go.
            let got = poll(&mut waiter);
            drop(got);
            drop(waiter);
        });
        releasing.join().unwrap();
        dropping.join().unwrap();
        assert_eq!(
            sem.available_permits(),
            1,
            "the permit came back exactly once"
        );
        assert!(sem.try_acquire().is_some(), "and nobody is left queued");
    });
}

#[test]
fn a_cancelled_head_passes_its_permits_on_and_nobody_barges() {
    model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let a = sem.try_acquire().unwrap().forget_into_count();
        let b = sem.try_acquire().unwrap().forget_into_count();
        let mut head = Box::pin(sem.clone().acquire_many_owned(2));
        assert!(poll(&mut head).is_pending());
        let mut behind = Box::pin(sem.clone().acquire_many_owned(2));
        assert!(poll(&mut behind).is_pending());

        let giving = {
            let sem = sem.clone();
            thread::spawn(move || {
                sem.add_permits(a);
                sem.add_permits(b);
            })
        };
        let cancelling = thread::spawn(move || drop(head));
        let barging = {
            let sem = sem.clone();
            thread::spawn(move || sem.try_acquire().map(|p| p.forget_into_count()))
        };
        giving.join().unwrap();
        cancelling.join().unwrap();
        let barged = barging.join().unwrap();
        // Someone was queued the whole time (`behind` holds both permits
        // from the moment it is served until it is dropped below).
        assert_eq!(barged, None, "a try_acquire barged past a queued waiter");
        let served = poll(&mut behind);
        assert!(
            served.is_ready(),
            "the waiter behind the cancelled head was served"
        );
        drop(served);
        drop(behind);
        assert_eq!(sem.available_permits(), 2, "every permit came back");
    });
}
