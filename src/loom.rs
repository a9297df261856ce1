//! The atomics the child set is built on: std's, or loom's under `cfg(loom)` so the
//! model tests in `tests/loom_ready.rs` can explore every interleaving of the protocol.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};
