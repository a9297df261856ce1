//! Where a timer armed on this thread goes: the virtual clock in force
//! (`virtual_clock.rs`), else the tokio runtime this thread is
//! in (its domain, `tokio_backend.rs`), unless `set_backend` chose a clock
//! of its own, else the process-wide backend's shards (`shard.rs`). Above
//! both, so that neither needs the other's routing.

use super::backend::{self, Choice};
use super::shard::Local;
#[cfg(feature = "tokio")]
use super::tokio_backend;
use super::virtual_clock;

/// The shard a timer armed on this thread now goes to.
#[inline]
pub(crate) fn local() -> Local {
    if let Some(local) = virtual_clock::route() {
        return local;
    }
    if !matches!(backend::choice(), Choice::Custom(_)) {
        #[cfg(feature = "tokio")]
        if let Some(local) = tokio_backend::route() {
            return local;
        }
    }
    Local::global()
}
