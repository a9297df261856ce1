//! A counting global allocator for the benches: `System`, plus two relaxed
//! counters (bytes requested, allocations made) that count only inside
//! [`count_allocs`]. During timed runs an allocation costs one extra relaxed
//! load, so contenders that allocate are not charged atomic read-modify-writes
//! that others would escape.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// The allocator: install it with `#[global_allocator]` in the bench.
pub struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated minus bytes freed while counting.
static NET: AtomicIsize = AtomicIsize::new(0);
/// The highest `NET` reached while counting.
static PEAK: AtomicIsize = AtomicIsize::new(0);

impl Counting {
    fn record(size: usize) {
        if COUNTING.load(Relaxed) {
            BYTES.fetch_add(size, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
            let net = NET.fetch_add(size as isize, Relaxed) + size as isize;
            PEAK.fetch_max(net, Relaxed);
        }
    }

    fn release(size: usize) {
        if COUNTING.load(Relaxed) {
            NET.fetch_sub(size as isize, Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` unchanged; the counters only add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::record(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::record(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    /// A reallocation counts as one allocation of `new_size` bytes.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::record(new_size);
        Self::release(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Self::release(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns (bytes allocated, allocations made) while it ran.
/// Only meaningful while no other thread allocates.
pub fn count_allocs(f: impl FnOnce()) -> (usize, usize) {
    let (bytes, allocs) = (BYTES.load(Relaxed), ALLOCS.load(Relaxed));
    COUNTING.store(true, Relaxed);
    f();
    COUNTING.store(false, Relaxed);
    (BYTES.load(Relaxed) - bytes, ALLOCS.load(Relaxed) - allocs)
}

/// Runs `f` and returns how much the heap grew while it ran (bytes allocated
/// minus bytes freed). Only meaningful while no other thread allocates.
pub fn net_heap(f: impl FnOnce()) -> isize {
    let before = NET.load(Relaxed);
    COUNTING.store(true, Relaxed);
    f();
    COUNTING.store(false, Relaxed);
    NET.load(Relaxed) - before
}

/// Runs `f` and returns the most its heap use rose above the start at any
/// moment while it ran (bytes; allocations minus frees, reallocations
/// counted as a new block before the old one is freed). Only meaningful
/// while no other thread allocates.
pub fn peak_heap(f: impl FnOnce()) -> isize {
    let before = NET.load(Relaxed);
    PEAK.store(before, Relaxed);
    COUNTING.store(true, Relaxed);
    f();
    COUNTING.store(false, Relaxed);
    PEAK.load(Relaxed) - before
}
