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

/// The tests of `checkpoints/behaviour.rs` on `corral::scope`.
#[path = "checkpoints"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `checkpoints/behaviour.rs` on `corral::local_scope`.
#[path = "checkpoints"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
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
