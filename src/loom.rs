//! The one facade for the synchronisation primitives of corral's atomic
//! protocols: std's (and `atomic-waker`'s), or loom's under `cfg(corral_loom)`
//! so the model tests (`src/engine/loom_tests.rs`, `src/scope/loom_tests.rs`,
//! `src/time/loom_tests.rs`, `src/semaphore/loom_tests.rs`) can explore every
//! interleaving of those protocols.
//!
//! Every protocol type goes through here: the engine's wake stack and counts,
//! a scope's spawn stack, stop epoch and parallel-child hand-over, a child
//! cell's state, the semaphore and the timer shards. What may use std
//! directly, because no protocol depends on its ordering or it must be built
//! in a `static` (loom's types have no `const` constructors):
//!
//! - global registries in `static`s: the task tree's roots
//!   (`scope/nesting.rs`), the pre-epoch deadline table (`time/slot.rs`),
//!   tokio's timer domains (`time/tokio_backend.rs`);
//! - statistics read by humans: the task tree's records (`scope/records.rs`)
//!   and the slow-poll clock (`slow_poll.rs`);
//! - each scope's nesting registry, a plain mutex around data no atomic
//!   protocol reads.

#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
#[cfg(corral_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
#[cfg(not(corral_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(not(corral_loom))]
pub(crate) use crate::util::lock;
#[cfg(not(corral_loom))]
pub(crate) use atomic_waker::AtomicWaker;

/// `atomic-waker`'s interface over loom's model of the same primitive.
#[cfg(corral_loom)]
#[derive(Default)]
pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

#[cfg(corral_loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker(loom::future::AtomicWaker::new())
    }

    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.0.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.0.wake();
    }

    pub(crate) fn take(&self) -> Option<std::task::Waker> {
        self.0.take_waker()
    }
}

/// Locks a facade `Mutex`, taking the guard even if a thread panicked while
/// it held the lock (as `crate::util::lock` does for std's).
#[cfg(corral_loom)]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
