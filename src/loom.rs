//! The atomics the child set is built on: std's, or loom's under `cfg(corral_loom)` so the
//! model tests in `src/scope/loom_tests.rs` can explore every interleaving of the protocol.

#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};
#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, fence};
