//! Wakers collected under a lock and woken after it is released.
//!
//! A waker's `wake` and `drop` are foreign code (an executor's), so the timer
//! shards and the semaphore never run them while holding their locks. They
//! collect the wakers to wake in a [`WakeList`], which wakes them when it is
//! dropped, after the lock guard. The first waker is kept inline (the common
//! case: one waiter served); more go to a buffer reused per thread, so waking
//! does not allocate in steady state.

use std::cell::Cell;
use std::task::Waker;

thread_local! {
    /// A spare buffer. `take` leaves an empty Vec behind, so a nested use
    /// (a waker that re-enters corral) simply gets a fresh one.
    static SPARE: Cell<Vec<Waker>> = const { Cell::new(Vec::new()) };
}

/// Wakers to wake once the lock is released (at drop, or [`wake_all`]).
///
/// [`wake_all`]: WakeList::wake_all
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker to wake later.
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            if self.rest.capacity() == 0 {
                self.rest = SPARE.with(Cell::take);
            }
            self.rest.push(waker);
        }
    }

    /// How many wakers wait to be woken (for tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Wakes every waker pushed so far, keeping the list for more.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        if let Some(waker) = self.first.take() {
            waker.wake();
        }
        if !self.rest.is_empty() {
            for waker in self.rest.drain(..) {
                waker.wake();
            }
        }
    }
}

impl Extend<Waker> for WakeList {
    fn extend<I: IntoIterator<Item = Waker>>(&mut self, wakers: I) {
        for waker in wakers {
            self.push(waker);
        }
    }
}

impl Drop for WakeList {
    #[inline]
    fn drop(&mut self) {
        self.wake_all();
        if self.rest.capacity() != 0 {
            SPARE.with(|spare| spare.set(std::mem::take(&mut self.rest)));
        }
    }
}
