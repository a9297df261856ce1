//! The owner's side of the ready queue: the slot chunks, the `ready` FIFO,
//! and taking the remote wakes into it.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, Waker};

use super::shared::{Shared, Slot, UserState};
use super::stack::Leave;
use crate::loom::Ordering;

/// The owner's side of the ready queue: a unique handle on a [`Shared`].
pub(crate) struct ReadyQueue<S: UserState> {
    shared: NonNull<Shared<S>>,
    /// Slots allocated so far (the chunk store's capacity, kept here too so
    /// that `reserve`, called at every child's start, reads no shared memory).
    capacity: usize,
}

// SAFETY: the owner side is a unique handle; the slots it points to are shared
// through atomics only (see `Shared`). What the user stores beside the queue
// decides whether the *user* is `Send` (see the scope's child set).
unsafe impl<S: UserState> Send for ReadyQueue<S> {}

impl<S: UserState> ReadyQueue<S> {
    /// A queue whose first chunk holds at least `first` slots, with the
    /// user's part `user` beside it (in its final state: handles and wakers
    /// only ever read it through `&`).
    pub(crate) fn new(first: usize, user: S) -> Self {
        let shared = Shared::new(first, user);
        ReadyQueue {
            // SAFETY: `Box::into_raw` never returns null.
            shared: unsafe { NonNull::new_unchecked(Box::into_raw(shared)) },
            capacity: 0,
        }
    }

    /// The shared state, for handles that take their own count.
    #[inline]
    pub(crate) fn shared(&self) -> &Shared<S> {
        // SAFETY: the owner holds a count for as long as it lives.
        unsafe { self.shared.as_ref() }
    }

    /// Raw pointer to the shared state (for handles).
    #[inline]
    pub(crate) fn shared_ptr(&self) -> *const Shared<S> {
        self.shared.as_ptr()
    }

    /// The user's owner-only part (the owner may always use it, between
    /// child polls).
    #[inline]
    pub(crate) fn user_local(&mut self) -> &mut S::Local {
        // SAFETY: `&mut self` is the owner, and no child poll is running.
        unsafe { self.shared().user_local() }
    }

    /// Makes sure slots `0..len` exist.
    pub(crate) fn reserve(&mut self, len: usize) {
        while self.capacity < len {
            self.add_chunk();
        }
    }

    #[cold]
    fn add_chunk(&mut self) {
        let shared = self.shared.as_ptr() as *const Shared<S>;
        // SAFETY: only the owner touches `chunks` while it lives (see `Shared`).
        let chunks = unsafe { &mut *(*shared).chunks.get() };
        chunks.grow("children in one set", |index| {
            Slot::new(index as u32, shared)
        });
        self.capacity = chunks.capacity();
    }

    /// The slot of child `index`, which must be below the reserved capacity.
    pub(super) fn slot(&self, index: usize) -> &Slot<S> {
        debug_assert!(index < self.capacity);
        // SAFETY: owner-only access to `chunks`; `index < capacity`; slots
        // live as long as the owner.
        unsafe { (*self.shared().chunks.get()).get_unchecked(index) }
    }

    /// A waker for child `index`, borrowed: it holds no count of its own, so it
    /// must not outlive this queue (cloning it takes a real count).
    #[cfg(all(test, corral_loom))]
    pub(crate) fn waker(&self, index: usize) -> ManuallyDrop<Waker> {
        self.slot_waker(NonNull::from(self.slot(index)))
    }

    /// A waker for `slot`, one of this queue's, borrowed: it holds no count
    /// of its own, so it must not outlive this queue (cloning it takes a real
    /// count).
    #[inline]
    pub(super) fn slot_waker(&self, slot: NonNull<Slot<S>>) -> ManuallyDrop<Waker> {
        let data = slot.as_ptr() as *const ();
        // SAFETY: the vtable's contract holds for slot pointers; `ManuallyDrop`
        // keeps this count-less waker from releasing a count it never took.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, self.shared().vtable)) })
    }

    /// Moves every remotely woken slot into the owner's `ready` FIFO.
    pub(super) fn take_remote(&mut self) {
        // SAFETY: `&mut self` is the owner; the stack holds this queue's
        // slots only (see `waker.rs`).
        let taken = unsafe { self.shared().remote.take::<Slot<S>>(Leave::Open) };
        // Served in wake order; each slot's link is read before it is handed
        // out, so clearing `queued` below frees the link for the next push.
        for ptr in taken {
            // SAFETY: slots stay allocated while the owner lives.
            let slot = unsafe { ptr.as_ref() };
            // A full barrier, not a release store: the child's coming check of its
            // own state must not be reordered before this clear, or a waker that
            // changes that state and then reads `queued == true` would skip the
            // push while the poll misses the change (store buffering).
            // `queued`: true -> false; from here on a wake pushes the slot again
            // and `next` is free for that push.
            slot.queued.swap(false, Ordering::SeqCst);
            // `local_queued`: false -> true, unless a local wake queued it first.
            if !slot.local_queued.replace(true) {
                // SAFETY: `&mut self` is the owner; the borrow ends here.
                unsafe { self.shared().local().ready.push_back(ptr.cast()) };
            }
        }
    }

    /// The next woken child's index and slot, FIFO over local and remote
    /// wakes. Slots live as long as the owner (`NonNull`, so that the caller
    /// may use the queue meanwhile).
    pub(super) fn pop(&mut self) -> Option<(usize, NonNull<Slot<S>>)> {
        // SeqCst: after `polling` is cleared this is the owner's half of the
        // Dekker pair (see the module docs); a plain load on x86.
        if !self.shared().remote.is_empty() {
            self.take_remote();
        }
        // SAFETY: `&mut self` is the owner; the borrow ends here.
        let slot = unsafe { self.shared().local().ready.pop_front()? }.cast::<Slot<S>>();
        // `local_queued`: true -> false, before the poll, so a wake during it
        // queues the child again.
        // SAFETY: `ready` holds this queue's slots only (pushed by its wakers
        // and `take_remote`), which live as long as the owner.
        let slot_ref = unsafe { slot.as_ref() };
        slot_ref.local_queued.set(false);
        Some((slot_ref.index as usize, slot))
    }
}

impl<S: UserState> Drop for ReadyQueue<S> {
    fn drop(&mut self) {
        // SAFETY: the owner's count, given up exactly once.
        unsafe { Shared::release(self.shared.as_ptr()) }
    }
}
