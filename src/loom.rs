//! The atomics and locks the child set and the timer shards are built on:
//! std's, or loom's under `cfg(corral_loom)` so the model tests in
//! `src/scope/loom_tests.rs` and `src/time/loom_tests.rs` can explore every
//! interleaving of their protocols.

#[cfg(corral_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
#[cfg(corral_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(corral_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
#[cfg(not(corral_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
