//! The chunks a scope carves its children's cells from.
//!
//! A scope that spawns many children on its own thread takes their cells
//! (`child.rs`) from chunks it allocates a few kilobytes at a time, one
//! chunk per size class in use, instead of asking the global allocator once
//! per child. Carving is owner-only and touches no atomic: a bump of a
//! pointer. Freeing a cell is one atomic decrement of its chunk's count,
//! from whichever thread lets go of the cell last (the scope, a
//! `JoinHandle`, an `AbortHandle`); the decrement that reaches zero frees
//! the chunk. A cell finds its chunk by its slot's offset in the chunk, a
//! `u16` the cell keeps (in what is usually padding after its phase byte).
//! Chunks are allocated with the alignment of their slots (16), not their
//! size: glibc's allocator serves a 4 KiB-aligned request from about twice
//! the memory and leaves the rest in fragments, so a million children
//! all alive at once took 284 MB instead of 151 MB (`profile_scope`).
//!
//! # The count
//!
//! A chunk is born counting every slot it has (`live = capacity`), carved
//! or not, so carving needs no atomic. Each carved cell gives back one when
//! it is freed; when the arena lets go of a chunk with `left` slots never
//! carved (the scope's state is dropped: the arena only moves to a fresh
//! chunk once the last one is full), it gives back `left` at once. A chunk
//! whose every slot was carved is never touched by the arena again: its
//! last cell frees it. So
//! the count reaches zero exactly once, after every carved cell is gone and
//! the arena has let go.
//!
//! | step | who | count |
//! |---|---|---|
//! | new chunk | the arena (owner) | `capacity` (a plain store before the chunk is shared) |
//! | carve a slot | the arena | unchanged; `left -= 1` in the arena's own table |
//! | a cell freed | any thread | `-1` (`Release`; `Acquire` before the free) |
//! | the arena lets go | the owner, or the state's final release | `-left`, only if `left > 0` |
//!
//! # What it costs
//!
//! Memory is given back a chunk at a time: one long-lived child keeps its
//! whole chunk (4 KiB, 16 KiB for the large classes) alive after its
//! neighbours finished. A scope carves only after its first
//! [`WARM_UP`] children, so a scope of a few children allocates
//! nothing beyond their cells, as before. Cells above [`MAX_CELL`] bytes or
//! aligned above 16 come from the global allocator, as does every cell
//! spawned off the scope's thread (the arena is owner-only).

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::{self, NonNull};

use crate::loom::{AtomicUsize, Ordering};

/// The largest cell carved from a chunk.
pub(crate) const MAX_CELL: usize = 1024;
/// Children a scope spawns on its thread before it carves their cells.
pub(crate) const WARM_UP: u32 = 4;
/// The alignment of every carved slot (slot sizes are multiples of it).
const ALIGN: usize = 16;
/// Size classes: every 16 bytes up to 256 (16 classes), then every 64
/// bytes up to 1024 (12 more).
const CLASSES: usize = 28;

/// A chunk's head: the count of slots not yet freed (see the module docs).
struct ChunkHead {
    live: AtomicUsize,
}

/// Where the first slot of a chunk starts: past its head, aligned.
const HEAD: usize = (size_of::<ChunkHead>() + ALIGN - 1) & !(ALIGN - 1);

/// The class of a cell of `layout`, or `None` if it is not carved.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if layout.align() > ALIGN || size > MAX_CELL || size == 0 {
        return None;
    }
    Some(if size <= 256 {
        (size - 1) / 16
    } else {
        16 + (size - 257) / 64
    })
}

/// The slot size of `class`.
#[inline]
fn slot_size(class: usize) -> usize {
    if class < 16 {
        (class + 1) * 16
    } else {
        256 + (class - 15) * 64
    }
}

/// The size (and alignment) of a chunk of `class`.
#[inline]
fn chunk_size(class: usize) -> usize {
    if class < 16 { 4096 } else { 16384 }
}

/// The layout of a chunk of `class`, aligned for its slots.
#[inline]
fn chunk_layout(class: usize) -> Layout {
    // SAFETY: a power of two, and the size is a multiple of it.
    unsafe { Layout::from_size_align_unchecked(chunk_size(class), ALIGN) }
}

/// A carved slot: where it is, and its offset from its chunk's start (which
/// its cell keeps, to give it back with [`free`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) ptr: NonNull<u8>,
    pub(crate) offset: u16,
}

/// The arena's place in one class: the next slot to carve and how many are
/// left in that chunk (`left == 0`: no chunk, or a full one the arena no
/// longer touches).
#[derive(Clone, Copy)]
struct Carving {
    chunk: *mut u8,
    next: usize,
    left: usize,
}

/// A scope's arena: owner-only (it lives in the scope's owner-only state).
pub(crate) struct Arena {
    spawned: u32,
    classes: [Carving; CLASSES],
}

impl Default for Arena {
    fn default() -> Self {
        Arena {
            spawned: 0,
            classes: [Carving {
                chunk: ptr::null_mut(),
                next: 0,
                left: 0,
            }; CLASSES],
        }
    }
}

impl Arena {
    /// A slot for a cell of `layout`, or `None`: the cell comes from the
    /// global allocator (too big, too aligned, or the scope is still warming
    /// up). A slot, once used, must be given back with [`free`] and the same
    /// layout.
    #[inline]
    pub(crate) fn carve(&mut self, layout: Layout) -> Option<Slot> {
        if self.spawned < WARM_UP {
            self.spawned += 1;
            return None;
        }
        let class = class_of(layout)?;
        // SAFETY: `class_of` returns an index below `CLASSES`.
        let carving = unsafe { self.classes.get_unchecked_mut(class) };
        if carving.left == 0 {
            *carving = Self::new_chunk(class);
        }
        let offset = carving.next;
        carving.left -= 1;
        carving.next += slot_size(class);
        // SAFETY: the chunk holds `left` more slots from `next` on, so the
        // slot is inside it; a pointer into a live chunk is not null.
        let ptr = unsafe { NonNull::new_unchecked(carving.chunk.add(offset)) };
        // Chunks are at most 16 KiB.
        Some(Slot {
            ptr,
            offset: offset as u16,
        })
    }

    /// A fresh chunk of `class`, counting all its slots (see the module
    /// docs), and the arena's place in it.
    #[cold]
    #[inline(never)]
    fn new_chunk(class: usize) -> Carving {
        let layout = chunk_layout(class);
        // SAFETY: the layout's size is not zero.
        let chunk = unsafe { alloc(layout) };
        if chunk.is_null() {
            handle_alloc_error(layout);
        }
        let capacity = (chunk_size(class) - HEAD) / slot_size(class);
        // SAFETY: the chunk is fresh, aligned beyond the head's alignment,
        // and large enough for it.
        unsafe {
            chunk.cast::<ChunkHead>().write(ChunkHead {
                live: AtomicUsize::new(capacity),
            })
        };
        Carving {
            chunk,
            next: HEAD,
            left: capacity,
        }
    }
}

impl Arena {
    /// Gives back the slots never carved of every chunk the arena was
    /// carving from, and forgets them. Returns how many chunks that freed
    /// (for the models: every cell carved from them was gone already).
    fn let_go(&mut self) -> usize {
        let mut freed = 0;
        for (class, carving) in self.classes.iter_mut().enumerate() {
            if carving.left > 0 {
                // SAFETY: the arena's uncarved slots keep the chunk alive
                // until this call gives them back.
                freed += usize::from(unsafe { give_back(carving.chunk, class, carving.left) });
                carving.left = 0;
            }
        }
        freed
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        self.let_go();
    }
}

/// Gives back a slot carved by [`Arena::carve`] for `layout`, whose cell
/// has been dropped; frees its chunk if that was the chunk's last slot.
///
/// # Safety
/// `slot` came from `carve` with the same `layout` (its pointer carrying
/// the provenance of its whole chunk: never narrowed through a reference),
/// and is given back once; nothing uses it after.
/// Returns whether that freed the chunk.
#[inline]
pub(crate) unsafe fn free(slot: Slot, layout: Layout) -> bool {
    // A carved slot means a carved class.
    debug_assert!(class_of(layout).is_some(), "freeing a slot never carved");
    let class = class_of(layout).unwrap_or(0);
    // SAFETY: the slot lies `offset` bytes into its chunk.
    let chunk = unsafe { slot.ptr.as_ptr().sub(usize::from(slot.offset)) };
    // SAFETY: per the contract; its chunk lives until its count reaches 0.
    unsafe { give_back(chunk, class, 1) }
}

/// Takes `n` off the count of `chunk` (of `class`), freeing it at zero
/// (and then returns `true`).
///
/// # Safety
/// The caller holds `n` of the chunk's count and gives them up.
unsafe fn give_back(chunk: *mut u8, class: usize, n: usize) -> bool {
    let head = chunk.cast::<ChunkHead>();
    // SAFETY: the caller's counts keep the chunk alive.
    if unsafe { (*head).live.fetch_sub(n, Ordering::Release) } != n {
        return false;
    }
    // Synchronises with every other holder's release decrement, so all
    // their use of the chunk happens before the free. A load, not a fence,
    // for ThreadSanitizer (as `Shared::release` does).
    // SAFETY: the last counts were ours: nobody else reaches the chunk.
    unsafe {
        (*head).live.load(Ordering::Acquire);
        ptr::drop_in_place(head);
        dealloc(chunk, chunk_layout(class));
    }
    true
}

/// An arena past its warm-up, whose next carve for `layout` is a slot.
#[cfg(test)]
fn warmed_up(layout: Layout) -> Arena {
    let mut arena = Arena::default();
    for _ in 0..WARM_UP {
        assert!(arena.carve(layout).is_none());
    }
    arena
}

/// loom: cells freed on two threads while the owner lets go of the arena;
/// the chunk is freed exactly once, after every use of it.
#[cfg(all(test, corral_loom))]
mod loom_tests {
    use super::{Slot, free, warmed_up};
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::thread;
    use std::alloc::Layout;

    #[test]
    fn cells_and_the_arena_let_go_on_three_threads() {
        loom::model(|| {
            let layout = Layout::from_size_align(32, 8).unwrap();
            let mut arena = warmed_up(layout);
            // Each cell's last use before it is freed, in a cell loom
            // tracks (the chunk itself is raw memory loom cannot see): the
            // thread that frees the chunk reads them all, so a free that is
            // not ordered after every cell's last use is a reported race.
            let uses = Arc::new([UnsafeCell::new(0u8), UnsafeCell::new(0u8)]);
            let read_all = |uses: &[UnsafeCell<u8>; 2]| {
                for used in uses {
                    // SAFETY: every writer is done (ordered before the
                    // free, or loom reports the race).
                    used.with(|v| unsafe { std::ptr::read(v) });
                }
            };
            // Addresses, so the slots may cross threads.
            let slots: Vec<(usize, u16)> = (0..2)
                .map(|i| {
                    let slot = arena.carve(layout).unwrap();
                    // SAFETY: a fresh slot of 32 bytes.
                    unsafe { slot.ptr.as_ptr().write_bytes(i, 32) };
                    (slot.ptr.as_ptr() as usize, slot.offset)
                })
                .collect();
            let threads: Vec<_> = slots
                .into_iter()
                .enumerate()
                .map(|(i, (addr, offset))| {
                    let uses = Arc::clone(&uses);
                    thread::spawn(move || {
                        let ptr = std::ptr::NonNull::new(addr as *mut u8).unwrap();
                        let slot = Slot { ptr, offset };
                        // SAFETY: still carved: this thread's cell.
                        assert_eq!(unsafe { *ptr.as_ptr().add(31) }, i as u8);
                        // SAFETY: this thread's cell, written by it alone.
                        uses[i].with_mut(|v| unsafe { *v = 1 });
                        // SAFETY: carved with `layout`, freed once.
                        let freed = unsafe { free(slot, layout) };
                        if freed {
                            read_all(&uses);
                        }
                        usize::from(freed)
                    })
                })
                .collect();
            let mut freed = arena.let_go();
            if freed == 1 {
                read_all(&uses);
            }
            for thread in threads {
                freed += thread.join().unwrap();
            }
            assert_eq!(freed, 1);
        });
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::{CLASSES, HEAD, MAX_CELL, chunk_size, class_of, free, slot_size, warmed_up};
    use std::alloc::Layout;

    #[test]
    fn classes_cover_every_size_once() {
        let mut last = 0;
        for size in 1..=MAX_CELL {
            let class = class_of(Layout::from_size_align(size, 8).unwrap()).unwrap();
            assert!(class < CLASSES);
            assert!(slot_size(class) >= size, "size {size} in class {class}");
            assert!(class == last || class == last + 1);
            last = class;
            assert!((chunk_size(class) - HEAD) / slot_size(class) >= 3);
        }
        assert_eq!(
            class_of(Layout::from_size_align(MAX_CELL + 1, 8).unwrap()),
            None
        );
        assert_eq!(class_of(Layout::from_size_align(64, 32).unwrap()), None);
    }

    /// Carves past several chunks, frees in a scrambled order (some after
    /// the arena is gone), and writes through every slot: Miri checks that
    /// no slot overlaps another or outlives its chunk.
    #[test]
    fn slots_are_disjoint_and_chunks_freed_once() {
        let layout = Layout::from_size_align(120, 8).unwrap();
        let mut arena = warmed_up(layout);
        let n = if cfg!(miri) { 80 } else { 500 };
        let mut slots: Vec<_> = (0..n)
            .map(|i| {
                let slot = arena.carve(layout).unwrap();
                assert_eq!(slot.ptr.as_ptr() as usize % 16, 0);
                // SAFETY: a fresh slot of 120 bytes.
                unsafe { slot.ptr.as_ptr().write_bytes(i as u8, 120) };
                slot
            })
            .collect();
        for (i, slot) in slots.iter().enumerate() {
            // SAFETY: still carved.
            assert_eq!(unsafe { *slot.ptr.as_ptr().add(119) }, i as u8);
        }
        let later = slots.split_off(n / 2);
        for slot in slots.into_iter().rev() {
            // SAFETY: carved with `layout`, freed once.
            unsafe { free(slot, layout) };
        }
        drop(arena);
        for slot in later {
            // SAFETY: as above.
            unsafe { free(slot, layout) };
        }
    }

    /// Each chunk is freed exactly once, by whoever lets go of it last:
    /// the arena when its cells were all gone first, else the last cell.
    #[test]
    fn each_chunk_is_freed_once() {
        let layout = Layout::from_size_align(64, 8).unwrap();
        let per_chunk = (4096 - HEAD) / 64;
        for carved in [1, per_chunk - 1, per_chunk, per_chunk + 1, 3 * per_chunk] {
            for arena_first in [false, true] {
                let mut arena = warmed_up(layout);
                let slots: Vec<_> = (0..carved).map(|_| arena.carve(layout).unwrap()).collect();
                let mut freed = 0;
                if arena_first {
                    freed += arena.let_go();
                }
                for slot in slots {
                    // SAFETY: carved with `layout`, freed once.
                    freed += usize::from(unsafe { free(slot, layout) });
                }
                freed += arena.let_go();
                assert_eq!(
                    freed,
                    carved.div_ceil(per_chunk),
                    "{carved} cells, arena first: {arena_first}"
                );
            }
        }
    }

    /// A 1000-byte cell takes a 1024-byte slot in a 16 KiB chunk: 15 to a
    /// chunk, each written whole (Miri checks they stay inside it).
    #[test]
    fn large_classes_use_large_chunks() {
        let layout = Layout::from_size_align(1000, 16).unwrap();
        let mut arena = warmed_up(layout);
        let slots: Vec<_> = (0..40)
            .map(|i| {
                let slot = arena.carve(layout).unwrap();
                // SAFETY: a fresh slot of 1000 bytes.
                unsafe { slot.ptr.as_ptr().write_bytes(i, 1000) };
                slot
            })
            .collect();
        let per_chunk = (16384 - HEAD) / 1024;
        assert_eq!(per_chunk, 15);
        let mut chunks: Vec<usize> = slots
            .iter()
            .map(|slot| slot.ptr.as_ptr() as usize - usize::from(slot.offset))
            .collect();
        chunks.dedup();
        assert_eq!(chunks.len(), 40usize.div_ceil(per_chunk));
        drop(arena);
        for slot in slots {
            // SAFETY: carved with `layout`, freed once.
            unsafe { free(slot, layout) };
        }
    }
}
