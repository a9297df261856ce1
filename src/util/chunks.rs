//! A store of items in chunks that never move: chunk `k` holds
//! `first << k` items, so an item's address stays valid for the store's
//! whole life while the store grows. The engine keeps its wake slots in
//! one (a waker is a pointer to a slot), and a tracked scope its task-tree
//! records (a `RecordRef` is a pointer to one).

use std::ptr::{self, NonNull};

/// Items addressed by index, in chunks that never move; see the module docs.
pub(crate) struct Chunks<T> {
    /// Each chunk's first item and length; made by `Box::<[T]>::into_raw`.
    chunks: Vec<(NonNull<T>, usize)>,
    /// Items in all chunks so far.
    capacity: usize,
    /// log2 of the first chunk's length.
    first_shift: u32,
}

// SAFETY: the store owns its items, as a `Vec<Box<[T]>>` would; the raw
// pointers only keep the chunks from being moved or aliased through a `Box`.
unsafe impl<T: Send> Send for Chunks<T> {}
// SAFETY: as for `Send`: `&Chunks<T>` gives out only `&T`.
unsafe impl<T: Sync> Sync for Chunks<T> {}

/// Where item `index` sits: `(chunk, offset in it)`, for a first chunk of
/// `1 << first_shift` items.
#[inline]
fn position(index: usize, first_shift: u32) -> (usize, usize) {
    // Chunk k starts at first * (2^k - 1).
    let k = ((index >> first_shift) + 1).ilog2() as usize;
    (k, index - (((1usize << k) - 1) << first_shift))
}

impl<T> Chunks<T> {
    /// An empty store whose first chunk will hold `first` items (rounded up
    /// to a power of two). Allocates nothing.
    pub(crate) const fn new(first: usize) -> Self {
        let first = if first <= 1 {
            1
        } else {
            first.next_power_of_two()
        };
        Chunks {
            chunks: Vec::new(),
            capacity: 0,
            first_shift: first.trailing_zeros(),
        }
    }

    /// Items allocated so far (all of them initialised).
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds the next chunk, making item `i` with `make(i)`.
    ///
    /// # Panics
    ///
    /// If the store would hold more than `u32::MAX` items (indices are kept
    /// in 32 bits by its users), with `what` in the message.
    #[cold]
    pub(crate) fn grow(&mut self, what: &str, make: impl FnMut(usize) -> T) {
        let len = 1usize << (self.first_shift + self.chunks.len() as u32);
        let base = self.capacity;
        assert!(
            base + len <= u32::MAX as usize,
            "corral: more than 4 billion {what}"
        );
        let items: Box<[T]> = (base..base + len).map(make).collect();
        let raw = Box::into_raw(items) as *mut T;
        // SAFETY: `Box::into_raw` never returns null.
        self.chunks
            .push((unsafe { NonNull::new_unchecked(raw) }, len));
        self.capacity += len;
    }

    /// Item `index`, which must be below [`capacity`](Self::capacity).
    ///
    /// # Safety
    ///
    /// `index < self.capacity()`.
    #[inline]
    pub(crate) unsafe fn get_unchecked(&self, index: usize) -> &T {
        debug_assert!(index < self.capacity);
        let (k, offset) = position(index, self.first_shift);
        // SAFETY: `index < capacity`, so chunk `k` exists and `offset` is
        // inside it; chunks live as long as the store.
        unsafe { &*self.chunks.get_unchecked(k).0.as_ptr().add(offset) }
    }

    /// Item `index`; panics if it is not below [`capacity`](Self::capacity).
    #[inline]
    pub(crate) fn get(&self, index: usize) -> &T {
        assert!(
            index < self.capacity,
            "corral: chunk store index out of range"
        );
        // SAFETY: just checked.
        unsafe { self.get_unchecked(index) }
    }
}

impl<T> Drop for Chunks<T> {
    fn drop(&mut self) {
        for &(chunk, len) in &self.chunks {
            // SAFETY: each chunk came from `Box::<[T]>::into_raw` with this
            // length, and is freed once, here.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(chunk.as_ptr(), len)) });
        }
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::{Chunks, position};

    /// Chunks of 4, 8, 16…: positions run through each chunk in turn, and
    /// items keep their addresses as the store grows.
    #[test]
    fn items_keep_their_place_as_the_store_grows() {
        assert_eq!(position(0, 2), (0, 0));
        assert_eq!(position(3, 2), (0, 3));
        assert_eq!(position(4, 2), (1, 0));
        assert_eq!(position(11, 2), (1, 7));
        assert_eq!(position(12, 2), (2, 0));
        let mut store = Chunks::new(3);
        store.grow("items", |i| i * 10);
        assert_eq!(store.capacity(), 4);
        let first: *const usize = store.get(3);
        store.grow("items", |i| i * 10);
        store.grow("items", |i| i * 10);
        assert_eq!(store.capacity(), 4 + 8 + 16);
        assert_eq!(*store.get(27), 270);
        assert!(std::ptr::eq(first, store.get(3)), "an item moved");
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn an_index_past_the_end_panics() {
        let mut store = Chunks::new(1);
        store.grow("items", |i| i);
        let _ = store.get(1);
    }
}
