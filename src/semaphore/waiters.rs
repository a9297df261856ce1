//! The semaphore's queue of waiters: a FIFO of weighted requests kept in a
//! slab behind the semaphore's lock, and the hand-over of permits to it.
//!
//! Permits go to the head of the queue only, a few at a time as they come
//! back, until its request is met; then it leaves the queue (its task is
//! woken) and the next waiter becomes the head. So a large request at the head
//! is never overtaken by later, smaller ones, and no one takes permits while
//! anyone is queued: the `QUEUED` bit of the state word keeps the lock-free
//! fast paths away from the counter until the queue is empty again.

use std::task::Waker;

use crate::loom::{AtomicUsize, Ordering};
use crate::wake_list::WakeList;

/// State-word bit: someone is queued; the counter's permits belong to the
/// queue and only the lock holder may take them.
pub(super) const QUEUED: usize = 1;
/// The counter of free permits sits above the flag bit.
pub(super) const ONE: usize = 2;

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Place {
    /// In the queue, waiting for the rest of its permits.
    Queued,
    /// Out of the queue with every permit it asked for, not yet collected.
    Granted,
    /// On the free list.
    Free,
}

struct Node {
    wanted: usize,
    /// Permits handed to it so far (only the head is ever handed any).
    assigned: usize,
    waker: Option<Waker>,
    prev: u32,
    /// Next in the queue, or in the free list.
    next: u32,
    place: Place,
}

/// What a queued acquire finds when it looks at its node.
pub(super) enum Looked {
    /// Every permit is its own; the node is freed.
    Granted,
    /// Still queued; the waker it passed is the one to wake.
    Queued,
}

/// The queue: a slab of nodes linked in arrival order.
pub(super) struct Waiters {
    nodes: Vec<Node>,
    free: u32,
    head: u32,
    tail: u32,
}

impl Waiters {
    pub(super) const fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
        }
    }

    /// Queues a request for `wanted` permits at the tail, then hands over
    /// whatever the counter holds. Returns the node, or `None` if the request
    /// was met at once (then nothing stays queued for it).
    pub(super) fn enqueue(
        &mut self,
        state: &AtomicUsize,
        wanted: usize,
        waker: &Waker,
        wake: &mut WakeList,
    ) -> Option<u32> {
        // From here on the counter is the queue's: fast paths stand aside.
        state.fetch_or(QUEUED, Ordering::AcqRel);
        let node = Node {
            wanted,
            assigned: 0,
            waker: Some(waker.clone()),
            prev: self.tail,
            next: NIL,
            place: Place::Queued,
        };
        let index = if self.free == NIL {
            let index = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("corral::Semaphore: more than 4 billion queued acquires");
            self.nodes.push(node);
            index
        } else {
            let index = self.free;
            self.free = self.nodes[index as usize].next;
            self.nodes[index as usize] = node;
            index
        };
        if self.tail == NIL {
            self.head = index;
        } else {
            self.nodes[self.tail as usize].next = index;
        }
        self.tail = index;
        self.hand_over(state, wake);
        if self.nodes[index as usize].place == Place::Granted {
            // Met at once: no one will wake it, so its waker goes unused.
            self.release_node(index);
            return None;
        }
        Some(index)
    }

    /// Looks at node `index`: collects it if it was granted, otherwise makes
    /// `waker` the one its grant wakes. Returns the replaced waker too (to be
    /// dropped after the lock).
    pub(super) fn look(&mut self, index: u32, waker: &Waker) -> (Looked, Option<Waker>) {
        let node = &mut self.nodes[index as usize];
        match node.place {
            Place::Granted => (Looked::Granted, self.release_node(index)),
            Place::Queued => {
                let old = match &node.waker {
                    Some(w) if w.will_wake(waker) => None,
                    _ => node.waker.replace(waker.clone()),
                };
                (Looked::Queued, old)
            }
            Place::Free => unreachable!("a semaphore waiter looked at a freed node"),
        }
    }

    /// Abandons node `index` (its acquire was dropped): leaves the queue and
    /// gives back every permit it held or was granted, which may let the next
    /// waiters through. Returns its waker, to drop after the lock.
    pub(super) fn cancel(
        &mut self,
        state: &AtomicUsize,
        index: u32,
        wake: &mut WakeList,
    ) -> Option<Waker> {
        let node = &self.nodes[index as usize];
        let give_back = node.assigned;
        if node.place == Place::Queued {
            self.unlink(index);
        }
        let waker = self.release_node(index);
        if give_back > 0 {
            state.fetch_add(give_back * ONE, Ordering::AcqRel);
        }
        self.hand_over(state, wake);
        waker
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
            let node = &mut self.nodes[head as usize];
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
            node.place = Place::Granted;
            wake.extend(node.waker.take());
            self.unlink(head);
        }
    }

    fn unlink(&mut self, index: u32) {
        let Node { prev, next, .. } = self.nodes[index as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn release_node(&mut self, index: u32) -> Option<Waker> {
        let node = &mut self.nodes[index as usize];
        node.place = Place::Free;
        node.assigned = 0;
        node.next = self.free;
        self.free = index;
        node.waker.take()
    }
}
