//! Wake slots: one per child, and the waker that points at it.
//!
//! A child's waker is a pointer to its slot, so building, cloning or waking a
//! waker never allocates: all slots share one reference count, the one on
//! [`Shared`]. Slots live in chunks that never move (see
//! [`ReadyQueue`](super::ReadyQueue)), so a slot pointer stays valid for as
//! long as any waker holds the shared count.
//!
//! # A slot's flags
//!
//! | field          | set                                       | cleared                                  | read by | what it rules out |
//! |----------------|-------------------------------------------|------------------------------------------|---------|-------------------|
//! | `queued`       | by a wake off the owner's loop (`schedule`: `swap(true)`), before the push | by the owner (`take_remote`: `swap(false)`, `SeqCst`), after it took the slot off the stack | the waking side: the old value of its swap | a slot on the remote stack twice (which would make a cycle) |
//! | `next`         | by the pusher, before its `SeqCst` CAS; by the owner, reversing the stack it took | never (stale values are never read) | the owner, after its swap of `head` | nothing by itself: it is only meaningful while `queued` is true, and then it is the stack's |
//! | `local_queued` | by a wake on the owner's loop, and by `take_remote` (owner thread only, a plain `Cell`) | by `pop`, just before the child is polled | the same two setters | an index in the `ready` FIFO twice |
//!
//! The two queue flags are independent: a slot may be in `ready` (a local
//! wake) and on the remote stack (a later wake from another thread) at once;
//! `take_remote` then clears `queued` and, seeing `local_queued`, does not
//! queue the index a second time. Each flag is cleared *before* the poll its
//! wake asked for (`queued` in `take_remote`, `local_queued` in `pop`), so a
//! wake that comes during or after that poll queues the child again: no wake
//! is lost.

use std::cell::Cell;
use std::task::{RawWaker, RawWakerVTable};

use super::shared::{Shared, UserState};
use crate::loom::{AtomicBool, AtomicPtr, Ordering};

/// One child's wake slot. Its flags are tabled in the module docs.
pub(crate) struct Slot<S: UserState> {
    /// Link in the remote stack. Written by the pusher before its CAS, read
    /// by the owner after its swap; meaningful only while `queued` is true.
    pub(super) next: AtomicPtr<Slot<S>>,
    /// True from the push that put this slot on the remote stack until the
    /// owner takes it off.
    pub(super) queued: AtomicBool,
    /// True while the index is in the owner's `ready` FIFO. Owner thread only.
    pub(super) local_queued: Cell<bool>,
    /// The child's index in its set.
    pub(super) index: u32,
    /// The shared state this slot belongs to (and whose count its wakers hold).
    pub(super) shared: *const Shared<S>,
}

impl<S: UserState> Slot<S> {
    /// The wakers of this kind of slot.
    pub(super) const VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::waker_clone,
        Self::waker_wake,
        Self::waker_wake_by_ref,
        Self::waker_drop,
    );

    /// A fresh slot for child `index` of `shared`.
    pub(super) fn new(index: u32, shared: *const Shared<S>) -> Self {
        Slot {
            next: AtomicPtr::new(std::ptr::null_mut()),
            queued: AtomicBool::new(false),
            local_queued: Cell::new(false),
            index,
            shared,
        }
    }

    /// Queues this child for a poll unless it is queued already.
    fn schedule(&self) {
        // SAFETY: a slot is only reachable through a waker or the owner, and both
        // hold a count on `shared`.
        let shared = unsafe { &*self.shared };
        if shared.owned_here() {
            // The owner's own thread, between its child polls: no atomics needed.
            // `local_queued`: false -> true, with the push into `ready`.
            if !self.local_queued.replace(true) {
                // SAFETY: `owned_here` holds and this borrow ends here.
                unsafe { shared.local().ready.push_back(self.index) };
            }
            return;
        }
        // `queued`: false -> true; whoever flips it pushes. Already true: the
        // slot is on the stack and the owner has not taken it yet, so it will
        // poll the child after this wake (its clear comes before the poll).
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self as *const Self as *mut Self;
        let mut head = shared.head.load(Ordering::Relaxed);
        loop {
            self.next.store(head, Ordering::Relaxed);
            match shared
                .head
                .compare_exchange_weak(head, this, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        // Only the push that finds the stack empty needs to wake the parent: the
        // others know that push (or the owner's own loop) will see theirs.
        if head.is_null() {
            shared.notify();
        }
    }

    unsafe fn waker_clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is a slot pointer made by `ReadyQueue::waker`; the waker
        // being cloned holds a count on its shared state, so both are live.
        unsafe { (*(*(data as *const Self)).shared).acquire() };
        RawWaker::new(data, &Self::VTABLE)
    }

    unsafe fn waker_wake(data: *const ()) {
        // SAFETY: as in `waker_clone`; `wake` consumes the waker's count afterwards.
        unsafe {
            Self::waker_wake_by_ref(data);
            Self::waker_drop(data);
        }
    }

    unsafe fn waker_wake_by_ref(data: *const ()) {
        // SAFETY: as in `waker_clone`.
        unsafe { (*(data as *const Self)).schedule() }
    }

    unsafe fn waker_drop(data: *const ()) {
        // SAFETY: the dropped waker owned one count on the slot's shared state.
        unsafe { Shared::release((*(data as *const Self)).shared) }
    }
}
