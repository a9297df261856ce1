//! Wakers collected under a lock and woken after it is released.
//!
//! A waker's `wake` and `drop` are foreign code (an executor's), so the timer
//! shards and the semaphore never run them while holding their locks. They
//! push the wakers to wake onto a [`WakeList`] and call [`WakeList::wake_all`]
//! once unlocked. The list's buffer is reused per thread, so waking does not
//! allocate in steady state.

use std::cell::Cell;
use std::task::Waker;

thread_local! {
    /// A spare buffer. `take` leaves an empty Vec behind, so a nested use
    /// (a waker that re-enters corral) simply gets a fresh one.
    static SPARE: Cell<Vec<Waker>> = const { Cell::new(Vec::new()) };
}

/// Wakers to wake once the lock is released.
pub(crate) struct WakeList(Vec<Waker>);

impl WakeList {
    /// An empty list, borrowing this thread's spare buffer.
    pub(crate) fn new() -> Self {
        Self(SPARE.with(Cell::take))
    }

    /// The buffer, for code that fills it directly.
    pub(crate) fn buf(&mut self) -> &mut Vec<Waker> {
        &mut self.0
    }

    /// Wakes every waker pushed so far, keeping the list for more.
    pub(crate) fn wake_all(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        self.wake_all();
        SPARE.with(|spare| spare.set(std::mem::take(&mut self.0)));
    }
}
