//! A `JoinSet`'s children: the completion stack they publish to.
//!
//! A child spawned through a set carries a [`SetMember`] in its cell
//! (`child.rs`'s `JoinPart::member`), between the header and the output.
//! When the scope publishes the child's outcome it pushes the cell onto the
//! set's [`SetShared::done`] stack (lock-free, `crate::engine::TakeAllStack`)
//! and wakes the set: no allocation, no lock, and the set learns *which*
//! child finished without looking at the others. The set takes the whole
//! stack at once, in completion order.
//!
//! The stack holds the cells as [`SetNode`]s (the header and the member, a
//! `repr(C)` prefix of every set child's join part, whatever its output
//! type). A pushed node points at the cell with the provenance of the whole
//! cell (`Member::published`), so the set reaches the cell, takes the value
//! and frees it through the node itself. Once taken, a node stays on the
//! set's own list of finished children, linked through the same `next` field
//! (the child never pushes again); its `index` names the set's entry for
//! the child (its id, and the cell for `abort_all` and the set's drop),
//! which the set rewrites when it compacts its table.
//!
//! The member is three words, as a lone child's `Lone` is, so a set's child
//! costs the allocator what a lone child does.
//!
//! When the set is dropped it closes the stack (`Leave::Closed`): a child
//! that finishes later is refused and publishes nothing, so a closed set's
//! stack is never walked again. Each member holds a count on the set's
//! shared part, so a child that outlives its set never pushes onto freed
//! memory.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;

use super::child::{Header, Member};
use crate::engine::{Chain, Leave, Node, Pushed, TakeAllStack};
use crate::loom::AtomicWaker;

/// What a set shares with its children: their completion stack and the
/// set's waker.
pub(crate) struct SetShared {
    done: TakeAllStack,
    waker: AtomicWaker,
}

impl SetShared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(SetShared {
            done: TakeAllStack::new(),
            waker: AtomicWaker::new(),
        })
    }

    /// The children that finished since the last take, as one chain in the
    /// order they finished (linked through their members' `next`), or
    /// `None`. `leave` closes the stack for good.
    ///
    /// # Safety
    /// Only the set calls this (it is the stack's one owner).
    #[inline]
    pub(crate) unsafe fn take_done(&self, leave: Leave) -> Option<Chain<SetNode>> {
        // SAFETY: the set is the owner; every node is a `SetNode`.
        unsafe { self.done.take_chain::<SetNode>(leave) }
    }

    /// Registers the set's waker, for the next finished child.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// True if a child finished since the last take.
    #[inline]
    pub(crate) fn has_done(&self) -> bool {
        !self.done.is_empty()
    }
}

/// The set's part of a set child's cell.
pub struct SetMember {
    /// The link on the completion stack, then on the set's list of finished
    /// children.
    next: Cell<*mut SetNode>,
    /// The set's entry for this child (`stream/set.rs`'s `Held`); the set
    /// moves it when it compacts its table.
    index: Cell<u32>,
    /// The set's shared part (an `Arc`'s pointer). Once in its cell
    /// (`attach`) the member holds one count on it, given back when the cell
    /// is freed (`detach`): a child that outlives its set never pushes onto
    /// freed memory. A member dropped before it reached a cell held none.
    set: NonNull<SetShared>,
}

impl SetMember {
    /// The member of the child at entry `index` of the set that owns `set`.
    #[inline]
    pub(crate) fn new(set: &Arc<SetShared>, index: u32) -> Self {
        SetMember {
            next: Cell::new(std::ptr::null_mut()),
            index: Cell::new(index),
            // SAFETY: `Arc::as_ptr` is never null.
            set: unsafe { NonNull::new_unchecked(Arc::as_ptr(set).cast_mut()) },
        }
    }

    fn set(&self) -> &SetShared {
        // SAFETY: an attached member holds a count on the set's shared part,
        // and only an attached member (in its cell) publishes.
        unsafe { self.set.as_ref() }
    }
}

impl Member for SetMember {
    #[inline]
    fn published(&self, header: &Header, part: NonNull<()>) {
        // Nobody to tell: the set is gone, or the child never reached the
        // scope (a refused spawn lets go of the handle side first).
        if header.handle_gone() {
            return;
        }
        // SAFETY: every set child's join part starts with a `SetNode`; a
        // child publishes once, so it is on no stack; the set keeps the
        // cell alive until it takes it (or, once closed, refuses it).
        if unsafe { self.set().done.push(part.cast::<SetNode>()) } == Pushed::First {
            self.set().waker.wake();
        }
    }

    #[inline]
    fn attach(&self) {
        // SAFETY: `set` came from `Arc::as_ptr` of the set's `Arc`, which the
        // set holds while it spawns (the member is attached inside the spawn).
        unsafe { Arc::increment_strong_count(self.set.as_ptr().cast_const()) }
    }

    #[inline]
    unsafe fn detach(&self) {
        // SAFETY: `attach` took this count; the cell is being freed, so
        // nothing uses the member again.
        unsafe { Arc::decrement_strong_count(self.set.as_ptr().cast_const()) }
    }
}

/// The prefix of every set child's join part that the stack sees.
#[repr(C)]
pub(crate) struct SetNode {
    header: Header,
    member: SetMember,
}

impl SetNode {
    /// The set's entry for this child.
    #[inline]
    pub(crate) fn index(&self) -> u32 {
        self.member.index.get()
    }

    /// Moves the set's entry for this child (the set's alone to call).
    #[inline]
    pub(crate) fn set_index(&self, index: u32) {
        self.member.index.set(index);
    }

    /// The next child on the set's list of finished children (after a take).
    #[inline]
    pub(crate) fn next_done(&self) -> *mut SetNode {
        self.member.next.get()
    }

    /// Appends `next` after this node on the set's list of finished children.
    #[inline]
    pub(crate) fn set_next_done(&self, next: *mut SetNode) {
        self.member.next.set(next);
    }
}

// SAFETY: `next` is the member's link field, written only through
// `set_next` while the node is on the stack (the set rewrites it only once
// it has taken the node, and the child never pushes it again).
unsafe impl Node for SetNode {
    fn next(&self) -> *mut Self {
        self.member.next.get()
    }

    fn set_next(&self, next: *mut Self) {
        self.member.next.set(next);
    }
}
