//! The semaphore's queue of waiters: a FIFO of weighted requests kept in a
//! slab behind the semaphore's lock, and the hand-over of permits to it.
//!
//! Permits go to the head of the queue only, a few at a time as they come
//! back, until its request is met; then it leaves the queue (its task is
//! woken) and the next waiter becomes the head. So a large request at the head
//! is never overtaken by later, smaller ones, and no one takes permits while
//! anyone is queued: the `QUEUED` bit of the state word keeps the lock-free
//! fast paths away from the counter until the queue is empty again.
//!
//! A node that is granted leaves the slab at once: the grant is announced
//! through a flag inside the waiting future itself (`grant`), which the future
//! reads without the lock. That keeps the common wake-up path (granted, woken,
//! polled) down to one atomic load.
//!
//! # A waiter's states
//!
//! An acquire future (`Waiter` in `semaphore.rs`) is in one [`WaitState`],
//! which only the future itself reads and writes; beside it, its grant flag,
//! which the queue sets (under the lock) and the future reads (without it).
//!
//! | state       | grant flag | meaning                                                           | next                                                                                   |
//! |-------------|------------|-------------------------------------------------------------------|----------------------------------------------------------------------------------------|
//! | `Idle`      | clear      | never polled: nothing queued, nothing held                         | the fast path takes the permits → `Done`; else `enqueue` → `Queued`, or `Done` if met at once |
//! | `Queued(n)` | clear      | node `n` holds the request, its waker, the flag's address and the permits handed to it so far | the queue grants it (below); a poll re-registers the waker; a drop `cancel`s the node (under the lock), giving back what it was handed → `Done` |
//! | `Queued(n)` | set        | granted: the queue freed node `n` (the index is stale, maybe reused) and woke the task; the permits are the future's | a poll collects them → `Done`; a drop gives them back with a plain release → `Done` |
//! | `Done`      | either     | the permits were collected, or the request was cancelled          | none: polling again panics, dropping does nothing                                      |
//!
//! The flag is set once, by `grant`, under the lock, while the request has a
//! node in the queue (inside `enqueue` too, when the request is met as it is
//! queued: the future then goes from `Idle` straight to `Done`). So a future
//! that reads it clear *under the lock* knows its node is still queued, and
//! may cancel it or re-register its waker; read clear without the lock, it
//! only means "not yet".
//!
//! Every node in the slab is queued (linked by `prev`/`next`); it leaves
//! the slab in `grant` and in `cancel`, both under the lock, so no node
//! points at a future that is gone. The slab keeps its free list to itself.
//!
//! # Invariants
//!
//! `head`, `tail` and every node's `prev` and `next` are [`NIL`] or the
//! index of a node in the slab: a node is linked as it is inserted
//! (`enqueue`) and unlinked as it is removed (`grant`, `cancel`), and nothing
//! else inserts or removes. The queue walks those links with unchecked slab
//! access on the strength of this; an index from outside (a future's
//! `Queued(n)`) goes through a checked one.

use std::ptr::NonNull;
use std::task::Waker;

use crate::loom::{AtomicBool, AtomicUsize, Ordering};
use crate::util::slab::{NIL, Slab};
use crate::wake_list::WakeList;

/// State-word bit: someone is queued; the counter's permits belong to the
/// queue and only the lock holder may take them.
pub(super) const QUEUED: usize = 1;
/// The counter of free permits sits above the flag bit.
pub(super) const ONE: usize = 2;

/// Where an acquire future is; see the module docs' table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WaitState {
    /// Not queued yet: the next poll tries the fast path, then queues.
    Idle,
    /// Queued at this node, or granted since (the grant flag tells which).
    Queued(u32),
    /// The permits were collected, or the request was cancelled.
    Done,
}

/// One queued request.
struct Node {
    wanted: usize,
    /// Permits handed to it so far (only the head is ever handed any).
    assigned: usize,
    waker: Option<Waker>,
    /// The waiting future's grant flag. (Non-null: its niche marks a vacant
    /// slab slot, so a slot is no larger than a node.)
    grant: NonNull<AtomicBool>,
    /// The node queued before this one, or [`NIL`].
    prev: u32,
    /// The node queued after this one, or [`NIL`].
    next: u32,
}

/// The queue: a slab of nodes linked in arrival order.
pub(super) struct Waiters {
    nodes: Slab<Node>,
    head: u32,
    tail: u32,
}

// SAFETY: the only non-`Send` field is `Node::grant`, a pointer into a pinned
// acquire future. It is dereferenced only under the semaphore's lock, while
// the node is queued; the future removes its node under that same lock before
// it is dropped (`Waiter::cancel`), and a granted node leaves the slab as the
// flag is set. So every dereference targets a live `AtomicBool`, whichever
// thread holds the lock.
unsafe impl Send for Waiters {}

impl Waiters {
    pub(super) const fn new() -> Self {
        Self {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
        }
    }

    /// Queues a request for `wanted` permits at the tail, then hands over
    /// whatever the counter holds. Returns the node, or `None` if the request
    /// was met at once (then `grant` is set and nothing stays queued for it).
    ///
    /// # Safety
    ///
    /// `grant` must stay valid until the node is granted (the flag is set) or
    /// [`cancel`](Self::cancel)led: it must point into a pinned future whose
    /// drop cancels the node first.
    pub(super) unsafe fn enqueue(
        &mut self,
        state: &AtomicUsize,
        wanted: usize,
        waker: &Waker,
        grant: NonNull<AtomicBool>,
        wake: &mut WakeList,
    ) -> Option<u32> {
        // From here on the counter is the queue's: fast paths stand aside.
        state.fetch_or(QUEUED, Ordering::AcqRel);
        let node = Node {
            wanted,
            assigned: 0,
            waker: Some(waker.clone()),
            grant,
            prev: self.tail,
            next: NIL,
        };
        let index = self
            .nodes
            .insert(node)
            .expect("corral::Semaphore: more than 4 billion queued acquires");
        if self.tail == NIL {
            self.head = index;
        } else {
            // SAFETY: the tail is in the slab (the invariants).
            unsafe { self.nodes.get_unchecked_mut(self.tail) }.next = index;
        }
        self.tail = index;
        self.hand_over(state, wake);
        // SAFETY: `grant` is valid for this call (the caller's contract).
        if unsafe { grant.as_ref() }.load(Ordering::Relaxed) {
            // Met at once. (Its waker, woken needlessly, is a clone of the
            // caller's: waking it only re-polls a task that is running.)
            return None;
        }
        Some(index)
    }

    /// Makes `waker` the one node `index`'s grant wakes; returns the waker
    /// it replaces, to drop after the lock. The node must still be queued.
    pub(super) fn set_waker(&mut self, index: u32, waker: &Waker) -> Option<Waker> {
        let node = &mut self.nodes[index];
        match &node.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => node.waker.replace(waker.clone()),
        }
    }

    /// Abandons node `index` (its acquire was dropped before being granted):
    /// leaves the queue and gives back the permits handed to it so far, which
    /// may let the next waiters through. Returns its waker, to drop after the
    /// lock.
    pub(super) fn cancel(
        &mut self,
        state: &AtomicUsize,
        index: u32,
        wake: &mut WakeList,
    ) -> Option<Waker> {
        let Node {
            assigned: give_back,
            waker,
            prev,
            next,
            ..
        } = self.nodes.remove(index);
        // SAFETY: the links of the node just removed.
        unsafe { self.unlink(prev, next) };
        if give_back > 0 {
            state.fetch_add(give_back * ONE, Ordering::AcqRel);
        }
        self.hand_over(state, wake);
        waker
    }

    /// Gives `n` returned permits straight to the queue, head first (the
    /// counter is only touched for what the queue does not need), then hands
    /// over as [`hand_over`](Self::hand_over) does.
    pub(super) fn give(&mut self, state: &AtomicUsize, mut n: usize, wake: &mut WakeList) {
        while n > 0 && self.head != NIL {
            let head = self.head;
            // SAFETY: the head, not NIL, is in the slab (the invariants).
            let node = unsafe { self.nodes.get_unchecked_mut(head) };
            let take = n.min(node.wanted - node.assigned);
            node.assigned += take;
            n -= take;
            if node.assigned < node.wanted {
                break;
            }
            self.grant(head, wake);
        }
        if n > 0 {
            state.fetch_add(n * ONE, Ordering::AcqRel);
        }
        self.hand_over(state, wake);
    }

    /// Hands the counter's permits to the queue, head first, waking every
    /// waiter whose request is met; clears `QUEUED` once the queue is empty.
    pub(super) fn hand_over(&mut self, state: &AtomicUsize, wake: &mut WakeList) {
        loop {
            if self.head == NIL {
                state.fetch_and(!QUEUED, Ordering::AcqRel);
                return;
            }
            let head = self.head;
            // SAFETY: the head, not NIL, is in the slab (the invariants).
            let node = unsafe { self.nodes.get_unchecked_mut(head) };
            let missing = node.wanted - node.assigned;
            // Only lock holders take from the counter while QUEUED is set, and
            // releases only add, so what we read is there to take.
            let take = (state.load(Ordering::Acquire) / ONE).min(missing);
            if take > 0 {
                state.fetch_sub(take * ONE, Ordering::AcqRel);
                node.assigned += take;
            }
            if take < missing {
                return; // the head still waits; FIFO: no one behind it may pass
            }
            self.grant(head, wake);
        }
    }

    /// The head's request is met: tell its future, queue its waker, free it.
    fn grant(&mut self, head: u32, wake: &mut WakeList) {
        // SAFETY: the head is in the slab (the invariants).
        let node = unsafe { self.nodes.remove_unchecked(head) };
        // SAFETY: the links of the node just removed.
        unsafe { self.unlink(node.prev, node.next) };
        // SAFETY: a queued node's flag is live (see `unsafe impl Send`).
        unsafe { node.grant.as_ref() }.store(true, Ordering::Release);
        wake.extend(node.waker);
    }

    /// Closes the gap a node just removed from the slab leaves in the queue.
    ///
    /// # Safety
    ///
    /// `prev` and `next` are the links of a node just removed from the slab:
    /// its neighbours, which are still in it (the invariants; a node is not
    /// its own neighbour).
    unsafe fn unlink(&mut self, prev: u32, next: u32) {
        if prev == NIL {
            self.head = next;
        } else {
            // SAFETY: in the slab (the caller's promise).
            unsafe { self.nodes.get_unchecked_mut(prev) }.next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            // SAFETY: as for `prev`.
            unsafe { self.nodes.get_unchecked_mut(next) }.prev = prev;
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use crate::util::slab::slot_size;

    /// The grant pointer's niche marks a vacant slot: a slot is no larger
    /// than a node.
    #[test]
    fn a_slab_slot_is_no_larger_than_a_node() {
        assert_eq!(slot_size::<Node>(), size_of::<Node>());
        assert_eq!(size_of::<Node>(), 48);
    }
}
