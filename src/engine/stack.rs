//! The lock-free stack that many threads push onto and one owner empties at
//! once (a Treiber stack without a pop: the owner swaps the whole list out
//! and walks it in push order). Used twice: the engine's remote wake stack
//! (wake slots, `queue.rs`) and a scope's spawn stack (children spawned off
//! the owner's loop, `scope/set.rs`), which can also be *closed*: a closed
//! stack refuses every push, so a spawn either reaches a scope that will
//! poll the child or is told that the scope has finished.
//!
//! The stack is type-erased (a scope's spawn stack holds the links of one
//! error type, which its shared state does not name); its `unsafe` methods
//! take the node type and ask the caller to use one type per stack.
//!
//! # Orderings
//!
//! A push publishes with a `SeqCst` compare-and-swap and the owner takes with
//! a `SeqCst` swap, so each pairs with the `SeqCst` flag the engine's
//! wake-up protocol uses (`polling`, see the engine's module docs): a pusher
//! that finds the stack empty wakes the parent unless the owner is polling,
//! and the owner's last look before it goes idle reads each stack with a
//! read-modify-write: the swap of [`TakeAllStack::take`] for the remote wake
//! stack, [`TakeAllStack::is_empty_latest`] for a scope's spawn stack.

use std::ptr::{self, NonNull};

use crate::loom::{AtomicPtr, Ordering};

/// A node of a [`TakeAllStack`]: something with one link field that the
/// stack owns while the node is on it.
///
/// # Safety
/// `next` returns what the last `set_next` stored; nothing but the stack
/// writes that field while the node is on a stack.
pub(crate) unsafe trait Node {
    /// The node below this one.
    fn next(&self) -> *mut Self;
    /// Sets the node below this one.
    fn set_next(&self, next: *mut Self);
}

/// What [`TakeAllStack::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// On an empty stack: the pusher is the one to wake the owner.
    First,
    /// On top of others: their first pusher woke the owner already.
    Behind,
    /// The stack is closed; the node is still the caller's.
    Refused,
}

/// Many pushers, one owner that takes everything; see the module docs.
pub(crate) struct TakeAllStack {
    /// The top node, null when empty, [`closed`] when closed.
    head: AtomicPtr<()>,
}

/// The head of a closed stack: never a node's address.
fn closed() -> *mut () {
    ptr::without_provenance_mut(1)
}

/// What the owner leaves behind when it takes the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leave {
    /// An empty stack: pushes go on.
    Open,
    /// A closed one: every later push is refused.
    Closed,
}

impl TakeAllStack {
    /// An empty, open stack.
    pub(crate) fn new() -> Self {
        TakeAllStack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `node` unless the stack is closed.
    ///
    /// # Safety
    /// Every node ever pushed onto this stack is an `N`; `node` stays
    /// allocated until the owner takes it (or, if refused, is the caller's);
    /// and `node` is on no stack now, nor in an [`InPushOrder`] not yet
    /// walked past it (its link would be overwritten: the engine's `queued`
    /// flag rules that out for slots, and a spawn link is pushed once).
    #[inline]
    pub(crate) unsafe fn push<N: Node>(&self, node: NonNull<N>) -> Pushed {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head == closed() {
                return Pushed::Refused;
            }
            // SAFETY: until the CAS succeeds the node is ours alone.
            unsafe { node.as_ref() }.set_next(head.cast());
            match self.head.compare_exchange_weak(
                head,
                node.as_ptr().cast(),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) if head.is_null() => return Pushed::First,
                Ok(_) => return Pushed::Behind,
                Err(actual) => head = actual,
            }
        }
    }

    /// True if nothing is waiting (closed counts as empty). A `SeqCst` load:
    /// a plain load on x86.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.head.load(Ordering::SeqCst);
        head.is_null() || head == closed()
    }

    /// True once the stack is closed (for debug assertions).
    pub(crate) fn is_closed(&self) -> bool {
        self.head.load(Ordering::Relaxed) == closed()
    }

    /// As [`is_empty`](Self::is_empty), with a read-modify-write, which reads
    /// the latest value: for the owner's last look before it goes idle. (A
    /// `SeqCst` load would too in the real memory model; loom cannot check
    /// that.) Only for an open stack.
    pub(crate) fn is_empty_latest(&self) -> bool {
        let null = ptr::null_mut();
        self.head
            .compare_exchange(null, null, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Closes an empty stack; false (and nothing changed) if a node is on
    /// it or it is closed already.
    pub(crate) fn close_if_empty(&self) -> bool {
        self.head
            .compare_exchange(
                ptr::null_mut(),
                closed(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// Takes every node, leaving the stack open or closed, and returns them
    /// in push order.
    ///
    /// # Safety
    /// The caller is the stack's owner, and every node on it is an `N`. The
    /// returned walk must be run to its end: the nodes it has not handed out
    /// yet are on no stack, and a slot left there would never be queued
    /// again.
    #[inline]
    pub(crate) unsafe fn take<N: Node>(&self, leave: Leave) -> InPushOrder<N> {
        // SAFETY: as this function's contract.
        let (first, _) = unsafe { reverse::<N>(self.swap_out(leave)) };
        InPushOrder { next: first }
    }
}

impl TakeAllStack {
    /// Empties the stack, leaving it open or closed; returns its top (null if
    /// it held nothing or was closed).
    #[inline]
    fn swap_out<N>(&self, leave: Leave) -> *mut N {
        let leave = match leave {
            Leave::Open => ptr::null_mut(),
            Leave::Closed => closed(),
        };
        let top = self.head.swap(leave, Ordering::SeqCst);
        if top == closed() {
            ptr::null_mut()
        } else {
            top.cast()
        }
    }
}

/// Reverses the chain below `top` (the stack is LIFO), so that it runs in
/// push order; returns its new first node (null if `top` was) and its length.
///
/// # Safety
/// The nodes from `top` down were taken off a stack by its owner and are
/// allocated `N`s; their links are the owner's to rewrite.
#[inline]
unsafe fn reverse<N: Node>(mut top: *mut N) -> (*mut N, usize) {
    let mut first: *mut N = ptr::null_mut();
    let mut len = 0;
    while !top.is_null() {
        // SAFETY: the caller's contract.
        let node = unsafe { &*top };
        let below = node.next();
        node.set_next(first);
        first = top;
        top = below;
        len += 1;
    }
    (first, len)
}

/// The nodes taken off a [`TakeAllStack`] as one chain, oldest push first,
/// linked through their `next` fields (the last one's is null): for an owner
/// that keeps them on a list of its own instead of walking them at once.
pub(crate) struct Chain<N> {
    /// The oldest push.
    pub(crate) first: NonNull<N>,
    /// The newest push.
    pub(crate) last: NonNull<N>,
    /// How many nodes the chain holds.
    pub(crate) len: usize,
}

impl TakeAllStack {
    /// As [`take`](Self::take), but hands the nodes over as one [`Chain`]
    /// (`None` if there were none), each node's link pointing at the next
    /// push.
    ///
    /// # Safety
    /// The caller is the stack's owner, and every node on it is an `N`. The
    /// nodes are on no stack once taken: the caller keeps track of them.
    #[inline]
    pub(crate) unsafe fn take_chain<N: Node>(&self, leave: Leave) -> Option<Chain<N>> {
        // The newest push ends the chain once it is reversed.
        let last = NonNull::new(self.swap_out::<N>(leave))?;
        // SAFETY: as this function's contract.
        let (first, len) = unsafe { reverse(last.as_ptr()) };
        Some(Chain {
            // SAFETY: the loop ran at least once (`last` is not null).
            first: unsafe { NonNull::new_unchecked(first) },
            last,
            len,
        })
    }
}

/// The nodes taken off a [`TakeAllStack`], oldest push first. Each node's
/// link is read before the node is handed out, so the caller may push it
/// again at once. Walk it to its end (see [`TakeAllStack::take`]).
#[must_use = "the nodes taken must all be handed on"]
pub(crate) struct InPushOrder<N> {
    next: *mut N,
}

impl<N: Node> Iterator for InPushOrder<N> {
    type Item = NonNull<N>;

    #[inline]
    fn next(&mut self) -> Option<NonNull<N>> {
        let node = NonNull::new(self.next)?;
        // SAFETY: taken nodes stay allocated while the owner walks them.
        self.next = unsafe { node.as_ref() }.next();
        Some(node)
    }
}
