//! A slab: values kept in a `Vec`, addressed by `u32` index, whose vacant
//! slots are chained into a free list so that a freed index is reused before
//! the table grows.
//!
//! The semaphore's waiter queue, each timer wheel, the table of deadlines
//! before the timer epoch, a scope's running children, its nested scopes
//! and the task tree's roots keep their values in one. Their users thread lists
//! of their own (a FIFO, a wheel slot) through the occupied nodes by index;
//! the free list is the slab's alone, kept in the vacant slots, so a node's
//! own links never double as free-list links.
//!
//! # Layout
//!
//! A slot is a [`Slot`]: the value, or the index of the next vacant slot. For
//! a value type with a niche (a `NonNull`, a `NonZero*`, an `Instant`) the
//! enum is no larger than the value: the vacant slot's link sits beside the
//! niche, which marks it vacant. The users give their nodes one for that
//! reason (their tests pin the sizes); without one, a slot would cost a tag
//! word more than its value (8 bytes a node for the semaphore's and the
//! wheel's).
//!
//! # Checked and unchecked access
//!
//! An index that comes from outside the user's structure (a handle that a
//! future keeps) goes through `slab[index]` or [`Slab::remove`], which check
//! that the slot is in bounds and occupied: a stale index panics instead of
//! reading a vacant slot. An index the structure keeps itself (a list head, a
//! node's `prev`/`next`) names an occupied slot by the structure's own
//! invariant, which its safe code maintains; it goes through
//! [`Slab::get_unchecked_mut`] or [`Slab::remove_unchecked`], which check
//! nothing in release builds. That keeps the hot paths (handing permits down
//! a queue, walking a wheel slot) at the cost of a bare `Vec` index. Checking
//! every link instead costs 7% more instructions on a contended semaphore
//! and 2% on a timer workload (callgrind), mostly because the panic paths
//! stop the callers' small functions from being inlined.

use std::ops::{Index, IndexMut};

/// The index that names no slot: the end of the free list, and of any list
/// the users thread through their nodes. No slot has it: [`Slab::insert`]
/// stops one short of it.
pub(crate) const NIL: u32 = u32::MAX;

/// One slot of a [`Slab`].
enum Slot<T> {
    /// In use, holding a value.
    Occupied(T),
    /// On the free list; the next vacant slot, or [`NIL`].
    Vacant(u32),
}

/// Values addressed by `u32` index, with a free list of vacant slots.
///
/// # Invariants
///
/// `free` is [`NIL`] or the index of a vacant slot; each vacant slot holds
/// the index of the next one (or [`NIL`]), and every vacant slot is on that
/// chain exactly once. `live` counts the occupied slots.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// The first vacant slot, or [`NIL`].
    free: u32,
    /// Occupied slots.
    live: u32,
}

impl<T> Slab<T> {
    /// An empty slab; allocates nothing.
    pub(crate) const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: NIL,
            live: 0,
        }
    }

    /// Stores `value` in the most recently freed slot, or in a new one, and
    /// returns its index; `None` (dropping `value`) if the slab already holds
    /// `u32::MAX` slots and none is vacant.
    #[inline]
    #[must_use]
    pub(crate) fn insert(&mut self, value: T) -> Option<u32> {
        let index = if self.free == NIL {
            let index = u32::try_from(self.slots.len()).ok().filter(|&i| i != NIL)?;
            self.slots.push(Slot::Occupied(value));
            index
        } else {
            let index = self.free;
            // SAFETY: `free` names a vacant slot (the invariants).
            let slot = unsafe { self.slots.get_unchecked_mut(index as usize) };
            let Slot::Vacant(next) = *slot else {
                // SAFETY: as above: the slot is vacant.
                unsafe { unreachable_slot() }
            };
            self.free = next;
            *slot = Slot::Occupied(value);
            index
        };
        self.live += 1;
        Some(index)
    }

    /// Takes the value out of slot `index` and puts the slot on the free
    /// list.
    ///
    /// # Panics
    ///
    /// If the slot is vacant (freed already) or out of bounds.
    #[inline]
    pub(crate) fn remove(&mut self, index: u32) -> T {
        if !matches!(self.slots.get(index as usize), Some(Slot::Occupied(_))) {
            stale(index);
        }
        // SAFETY: occupied, just checked.
        unsafe { self.remove_unchecked(index) }
    }

    /// [`remove`](Self::remove) without its check in release builds.
    ///
    /// # Safety
    ///
    /// Slot `index` must be occupied (so in bounds too).
    #[inline]
    pub(crate) unsafe fn remove_unchecked(&mut self, index: u32) -> T {
        debug_assert!((index as usize) < self.slots.len());
        // SAFETY: in bounds, as the caller promises.
        let slot = unsafe { self.slots.get_unchecked_mut(index as usize) };
        let Slot::Occupied(value) = std::mem::replace(slot, Slot::Vacant(self.free)) else {
            // SAFETY: occupied, as the caller promises.
            unsafe { unreachable_slot() }
        };
        self.free = index;
        self.live -= 1;
        value
    }

    /// The value in slot `index`, without the check of `slab[index]` in
    /// release builds.
    ///
    /// # Safety
    ///
    /// Slot `index` must be occupied (so in bounds too).
    #[inline]
    pub(crate) unsafe fn get_unchecked_mut(&mut self, index: u32) -> &mut T {
        debug_assert!((index as usize) < self.slots.len());
        // SAFETY: in bounds, as the caller promises.
        match unsafe { self.slots.get_unchecked_mut(index as usize) } {
            Slot::Occupied(value) => value,
            // SAFETY: occupied, as the caller promises.
            Slot::Vacant(_) => unsafe { unreachable_slot() },
        }
    }

    /// The value in slot `index`, or `None` if the slot is vacant or out of
    /// bounds (for an index that may be stale, such as a late wake's).
    #[inline]
    pub(crate) fn get(&self, index: u32) -> Option<&T> {
        match self.slots.get(index as usize) {
            Some(Slot::Occupied(value)) => Some(value),
            _ => None,
        }
    }

    /// The values, in index order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Occupied(value) => Some(value),
            Slot::Vacant(_) => None,
        })
    }

    /// Takes every value out, in index order, leaving the slab empty (its
    /// memory given back).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        std::mem::replace(self, Self::new())
            .slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Occupied(value) => Some(value),
                Slot::Vacant(_) => None,
            })
    }

    /// Removes the values `pred` picks, leaving the others where they are
    /// (their indices stay valid), and returns them in index order.
    pub(crate) fn take_where(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut taken = Vec::new();
        for index in 0..self.slots.len() {
            if matches!(&self.slots[index], Slot::Occupied(value) if pred(value)) {
                taken.push(self.remove(index as u32));
            }
        }
        taken
    }

    /// How many slots are occupied.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.live as usize
    }

    /// Gives the table's memory back if nothing is stored and it holds more
    /// than `keep` slots, so an idle user does not keep its peak; the next
    /// insert starts a new table.
    #[inline]
    pub(crate) fn release_if_idle(&mut self, keep: usize) {
        if self.live == 0 && self.slots.capacity() > keep {
            *self = Self::new();
        }
    }
}

impl<T> Index<u32> for Slab<T> {
    type Output = T;

    /// The value in slot `index`; panics if the slot is vacant or out of
    /// bounds.
    #[inline]
    fn index(&self, index: u32) -> &T {
        match self.slots.get(index as usize) {
            Some(Slot::Occupied(value)) => value,
            _ => stale(index),
        }
    }
}

impl<T> IndexMut<u32> for Slab<T> {
    /// The value in slot `index`; panics if the slot is vacant or out of
    /// bounds.
    #[inline]
    fn index_mut(&mut self, index: u32) -> &mut T {
        match self.slots.get_mut(index as usize) {
            Some(Slot::Occupied(value)) => value,
            _ => stale(index),
        }
    }
}

/// The panic of a checked access through a stale index: out of line, so that
/// the check at each access is a compare and a branch never taken.
#[cold]
#[inline(never)]
#[track_caller]
fn stale(index: u32) -> ! {
    panic!("corral: slab slot {index} is not in use (a stale index)")
}

/// An unchecked access found a slot in the wrong state: a panic in debug
/// builds, unreachable in release builds.
///
/// # Safety
///
/// Must not be reached: the caller has a promise that the slot is in the
/// state it needs.
#[inline(always)]
#[track_caller]
unsafe fn unreachable_slot() -> ! {
    if cfg!(debug_assertions) {
        panic!("corral: an unchecked slab access found a slot in the wrong state");
    }
    // SAFETY: not reached, by the caller's promise.
    unsafe { std::hint::unreachable_unchecked() }
}

/// The size of a slot holding a `T`, for the users' layout tests.
#[cfg(all(test, not(corral_loom)))]
pub(crate) const fn slot_size<T>() -> usize {
    size_of::<Slot<T>>()
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::num::NonZeroU16;
    use std::ptr::NonNull;
    use std::time::Instant;

    #[test]
    fn freed_slots_are_reused_most_recent_first() {
        let mut slab = Slab::new();
        let a = slab.insert("a").unwrap();
        let b = slab.insert("b").unwrap();
        let c = slab.insert("c").unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(slab.remove(a), "a");
        assert_eq!(slab.remove(c), "c");
        assert_eq!(slab.live(), 1);
        assert_eq!(slab.insert("d"), Some(c));
        assert_eq!(slab.insert("e"), Some(a));
        assert_eq!(slab.insert("f"), Some(3), "grows once none is vacant");
        assert_eq!((slab[a], slab[b], slab[c]), ("e", "b", "d"));
        slab[b] = "B";
        assert_eq!(slab[b], "B");
        assert_eq!(slab.live(), 4);
    }

    #[test]
    fn unchecked_access_reads_writes_and_frees_occupied_slots() {
        let mut slab = Slab::new();
        let a = slab.insert(1).unwrap();
        let b = slab.insert(2).unwrap();
        // SAFETY: `b` is occupied.
        unsafe { *slab.get_unchecked_mut(b) += 40 };
        assert_eq!(slab[a] + slab[b], 43);
        // SAFETY: `a` is occupied.
        assert_eq!(unsafe { slab.remove_unchecked(a) }, 1);
        assert_eq!(slab.live(), 1);
        assert_eq!(slab.insert(3), Some(a), "on the free list");
    }

    #[test]
    fn an_idle_slab_gives_its_memory_back() {
        let mut slab = Slab::new();
        let indices: Vec<u32> = (0..100).map(|i| slab.insert(i).unwrap()).collect();
        slab.release_if_idle(0);
        assert!(slab.slots.capacity() >= 100, "kept while anything is live");
        for index in indices {
            slab.remove(index);
        }
        slab.release_if_idle(1024);
        assert!(slab.slots.capacity() >= 100, "kept below the threshold");
        slab.release_if_idle(0);
        assert_eq!(slab.slots.capacity(), 0);
        assert_eq!(slab.insert(7), Some(0), "starts afresh");
    }

    #[test]
    #[should_panic(expected = "slab slot 0 is not in use")]
    fn reading_a_freed_slot_panics() {
        let mut slab = Slab::new();
        let a = slab.insert(1).unwrap();
        let _ = slab.insert(2).unwrap();
        slab.remove(a);
        let _ = slab[a];
    }

    #[test]
    #[should_panic(expected = "slab slot 0 is not in use")]
    fn freeing_twice_panics() {
        let mut slab = Slab::new();
        let a = slab.insert(1).unwrap();
        slab.remove(a);
        slab.remove(a);
    }

    #[test]
    #[should_panic(expected = "slab slot 5 is not in use")]
    fn an_index_out_of_bounds_panics() {
        let mut slab = Slab::new();
        let _ = slab.insert(1).unwrap();
        slab[5] = 2;
    }

    /// A value with a niche costs no byte more in a slot than on its own;
    /// one without costs a tag word.
    #[test]
    fn a_niche_marks_the_vacant_slots() {
        #[allow(dead_code)]
        struct WithPointer(NonNull<u8>, [u64; 3]);
        #[allow(dead_code)]
        struct WithPlace(u64, u32, NonZeroU16);
        assert_eq!(slot_size::<WithPointer>(), size_of::<WithPointer>());
        assert_eq!(slot_size::<WithPlace>(), size_of::<WithPlace>());
        assert_eq!(slot_size::<Instant>(), size_of::<Instant>());
        assert_eq!(slot_size::<[u64; 2]>(), 3 * 8);
    }
}
