//! The wake path: what a child's waker does. Its data is a pointer to the
//! child's [`Slot`]; building, cloning or waking one never allocates (all
//! slots share the count on their [`Shared`](super::shared::Shared)).
//!
//! A wake on the owner's thread, inside its poll loop, appends to the
//! owner-only `ready` FIFO; anywhere else it pushes the slot onto the remote
//! stack and, if the stack was empty and the owner is not polling, wakes the
//! parent. The slot's flags are tabled in `shared.rs`.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable};

use super::shared::{Shared, Slot, UserState};
use super::stack::Pushed;
use crate::loom::Ordering;

/// Queues child `slot` for a poll, as its waker would, without a waker: what
/// asks for a child to be dropped uses it. `slot` is the data pointer of one
/// of the child's wakers (the waker a child is polled with is its slot's).
///
/// # Safety
/// `slot` is a slot of a queue with user state `S`, and the caller keeps
/// that queue's shared state alive for the call (it holds a count, or knows
/// the owner does).
pub(crate) unsafe fn wake_slot<S: UserState>(slot: *const ()) {
    // SAFETY: a live slot of a `Shared<S>`, per the contract.
    unsafe { (*(slot as *const Slot<S>)).schedule() }
}

impl<S: UserState> Slot<S> {
    /// The wakers of this kind of slot. Read once per shared state (its
    /// `vtable` field), never at each waker: a constant's address may differ
    /// between codegen units, and `Waker::will_wake` compares addresses, so
    /// the wakers of one child must all carry the same one.
    pub(super) const VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::waker_clone,
        Self::waker_wake,
        Self::waker_wake_by_ref,
        Self::waker_drop,
    );

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
                unsafe { shared.local().ready.push_back(NonNull::from(self).cast()) };
            }
            return;
        }
        // `queued`: false -> true; whoever flips it pushes. Already true: the
        // slot is on the stack and the owner has not taken it yet, so it will
        // poll the child after this wake (its clear comes before the poll).
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: the remote stack holds slots of this shared state only, and
        // slots live as long as the shared state (our count keeps it).
        let pushed = unsafe { shared.remote.push(NonNull::from(self)) };
        // Only the push that finds the stack empty needs to wake the parent: the
        // others know that push (or the owner's own loop) will see theirs. (The
        // remote stack is never closed.)
        if pushed == Pushed::First {
            shared.notify();
        }
    }

    unsafe fn waker_clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is a slot pointer made by `ReadyQueue::waker`; the waker
        // being cloned holds a count on its shared state, so both are live.
        let shared = unsafe { &*(*(data as *const Self)).shared };
        shared.acquire();
        RawWaker::new(data, shared.vtable)
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
