//! The owner's FIFO of children spawned and not started yet, linked through
//! their own spawn links.
//!
//! A child waits for its first poll in one of two places: the scope's
//! `incoming` stack (spawned off the owner's loop) or this queue (spawned
//! inside it, or moved here from `incoming`). While it waits, its link's
//! `next` field is free — the stack is done with it and the wake slot is
//! written only at the first poll (`child.rs`, `STARTED`) — so the queue
//! threads itself through that field: a push or a pop is a few pointer
//! moves, and a waiting child costs the queue no memory of its own (a
//! `VecDeque` of pointers took 8 bytes a child and copied itself as it grew).
//!
//! The queue does not know the scope's error type: every `SpawnLink` is
//! `repr(C)` with `next` first, and `next` is a `Cell` of a pointer, so the
//! queue reads and writes it as a `Cell<*mut ()>`.

use std::cell::Cell;
use std::ptr::{self, NonNull};

use crate::engine::Chain;

/// The children spawned and not started yet, in spawn order (type-erased
/// `SpawnLink` pointers). Owner-only.
pub(crate) struct Fresh {
    /// The oldest link, null when empty.
    head: *mut (),
    /// The newest link, null when empty.
    tail: *mut (),
}

impl Default for Fresh {
    fn default() -> Self {
        Fresh {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        }
    }
}

/// A link's `next` field, erased over the scope's error type.
///
/// # Safety
/// `link` points at a live `SpawnLink` (`repr(C)`, `next` first) that the
/// caller owns: no one else reads or writes its `next` meanwhile.
#[inline]
unsafe fn next_of<'a>(link: *mut ()) -> &'a Cell<*mut ()> {
    // SAFETY: the caller's contract; `Cell<*mut SpawnLink<'_, E>>` and
    // `Cell<*mut ()>` have the same layout.
    unsafe { &*link.cast::<Cell<*mut ()>>() }
}

impl Fresh {
    /// Whether no child waits.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Appends a child's link.
    ///
    /// # Safety
    /// `link` is a live `SpawnLink` on no stack or queue; it stays allocated
    /// and is left alone (its `next` is the queue's) until it is popped from
    /// this queue, or from the [`Drain`] of a queue taken whole.
    #[inline]
    pub(crate) unsafe fn push_back(&mut self, link: NonNull<()>) {
        let link = link.as_ptr();
        // SAFETY: the caller's contract.
        unsafe { next_of(link) }.set(ptr::null_mut());
        // SAFETY: a chain of one link, its `next` null.
        unsafe { self.link_behind(link, link) };
    }

    /// Appends a chain taken off the `incoming` stack, in its order.
    ///
    /// # Safety
    /// As for `push_back`, for every link of the chain; the last one's `next`
    /// is null (as `TakeAllStack::take_chain` leaves it).
    #[inline]
    pub(crate) unsafe fn append<N>(&mut self, chain: Chain<N>) {
        // SAFETY: the caller's contract.
        unsafe { self.link_behind(chain.first.as_ptr().cast(), chain.last.as_ptr().cast()) };
    }

    /// Links the chain `first ..= last` behind the queue's tail.
    ///
    /// # Safety
    /// As for `append`.
    #[inline]
    unsafe fn link_behind(&mut self, first: *mut (), last: *mut ()) {
        if self.tail.is_null() {
            self.head = first;
        } else {
            // SAFETY: the tail is a link the queue holds.
            unsafe { next_of(self.tail) }.set(first);
        }
        self.tail = last;
    }

    /// Takes the oldest child's link off the queue.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<()>> {
        let link = NonNull::new(self.head)?;
        // SAFETY: the links the queue holds are live and its own.
        self.head = unsafe { next_of(link.as_ptr()) }.get();
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        Some(link)
    }

    /// The links, oldest first, without taking them off. Each link's
    /// successor is read before the link is handed out, but the queue must
    /// not change during the walk.
    pub(crate) fn iter(&self) -> impl Iterator<Item = NonNull<()>> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let link = NonNull::new(at)?;
            // SAFETY: the links the queue holds are live and its own.
            at = unsafe { next_of(link.as_ptr()) }.get();
            Some(link)
        })
    }
}

impl IntoIterator for Fresh {
    type Item = NonNull<()>;
    type IntoIter = Drain;

    /// Walks the links taken with the queue, oldest first. Each link's
    /// successor is read before the link is handed out, so the caller may
    /// free it, or push it onto a queue again, at once.
    fn into_iter(self) -> Drain {
        Drain(self)
    }
}

/// The links of a queue taken whole, oldest first (see `IntoIterator`).
pub(crate) struct Drain(Fresh);

impl Iterator for Drain {
    type Item = NonNull<()>;

    #[inline]
    fn next(&mut self) -> Option<NonNull<()>> {
        self.0.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a spawn link: `next` first, as in `SpawnLink`.
    #[repr(C)]
    struct Link {
        next: Cell<*mut ()>,
        id: u32,
    }

    fn links(n: u32) -> Vec<Link> {
        (0..n)
            .map(|id| Link {
                next: Cell::new(ptr::without_provenance_mut(7)),
                id,
            })
            .collect()
    }

    fn id(link: NonNull<()>) -> u32 {
        // SAFETY: every link in these tests is a live `Link`.
        unsafe { link.cast::<Link>().as_ref() }.id
    }

    fn ptr_of(link: &Link) -> NonNull<()> {
        NonNull::from(link).cast()
    }

    #[test]
    fn pops_in_push_order_and_empties() {
        let all = links(5);
        let mut fresh = Fresh::default();
        assert!(fresh.is_empty());
        for link in &all[..3] {
            // SAFETY: live links on no other queue.
            unsafe { fresh.push_back(ptr_of(link)) };
        }
        assert_eq!(fresh.pop_front().map(id), Some(0));
        // SAFETY: as above.
        unsafe { fresh.push_back(ptr_of(&all[3])) };
        let order: Vec<u32> = fresh.iter().map(id).collect();
        assert_eq!(order, [1, 2, 3]);
        assert_eq!(fresh.pop_front().map(id), Some(1));
        assert_eq!(fresh.pop_front().map(id), Some(2));
        assert_eq!(fresh.pop_front().map(id), Some(3));
        assert!(fresh.is_empty());
        assert_eq!(fresh.pop_front(), None);
        // Empty again: a push starts a new head.
        // SAFETY: as above.
        unsafe { fresh.push_back(ptr_of(&all[4])) };
        assert_eq!(fresh.iter().map(id).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn taken_queue_may_requeue_what_it_walks() {
        let all = links(4);
        let mut fresh = Fresh::default();
        for link in &all {
            // SAFETY: live links on no other queue.
            unsafe { fresh.push_back(ptr_of(link)) };
        }
        // As `drop_waiting_where` does: take the queue, keep the odd ones.
        let taken = std::mem::take(&mut fresh);
        assert!(fresh.is_empty());
        for link in taken {
            if id(link) % 2 == 1 {
                // SAFETY: the walk read its successor already.
                unsafe { fresh.push_back(link) };
            }
        }
        assert_eq!(fresh.iter().map(id).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn appends_a_taken_chain_behind_what_waits() {
        use crate::engine::{Leave, Node, TakeAllStack};

        #[repr(C)]
        struct StackLink {
            next: Cell<*mut StackLink>,
            id: u32,
        }
        // SAFETY: `next` is the link field, used by the stack and the queue only.
        unsafe impl Node for StackLink {
            fn next(&self) -> *mut Self {
                self.next.get()
            }
            fn set_next(&self, next: *mut Self) {
                self.next.set(next);
            }
        }
        let all: Vec<StackLink> = (0..4)
            .map(|id| StackLink {
                next: Cell::new(ptr::null_mut()),
                id,
            })
            .collect();
        let stack = TakeAllStack::new();
        let mut fresh = Fresh::default();
        // SAFETY: a live link on no other queue.
        unsafe { fresh.push_back(NonNull::from(&all[0]).cast()) };
        for link in &all[1..] {
            // SAFETY: live links that outlive the stack's use of them.
            let _ = unsafe { stack.push(NonNull::from(link)) };
        }
        // SAFETY: the stack's owner; every node is a `StackLink`.
        let chain = unsafe { stack.take_chain::<StackLink>(Leave::Open) }.unwrap();
        // SAFETY: the chain's links are live and on no other queue.
        unsafe { fresh.append(chain) };
        let ids: Vec<u32> = fresh
            .iter()
            // SAFETY: every link here is a live `StackLink`.
            .map(|link| unsafe { link.cast::<StackLink>().as_ref() }.id)
            .collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        // And onto an empty queue.
        let mut other = Fresh::default();
        for link in &all {
            // SAFETY: as above.
            let _ = unsafe { stack.push(NonNull::from(link)) };
        }
        // SAFETY: as above.
        unsafe { other.append(stack.take_chain::<StackLink>(Leave::Open).unwrap()) };
        assert_eq!(other.iter().count(), 4);
        assert_eq!(
            other.pop_front().map(|l| l.as_ptr()),
            Some(NonNull::from(&all[0]).as_ptr().cast())
        );
    }
}
