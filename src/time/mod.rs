//! Deadlines on any runtime: [`sleep`], [`timeout`] and their `_until`/`_at`
//! forms, asyncio's `asyncio.sleep` and `asyncio.timeout`.
//!
//! ```
//! use corral::time::{TimeoutExt, sleep, timeout};
//! use std::time::Duration;
//! # futures::executor::block_on(async {
//! // Give up on a slow operation:
//! let slow = sleep(Duration::from_secs(60));
//! assert!(timeout(Duration::from_millis(10), slow).await.is_err());
//! // A fast one is untouched, and never even reads the clock:
//! assert_eq!(async { 42 }.timeout(Duration::from_millis(10)).await, Ok(42));
//! # });
//! ```
//!
//! # How timers work
//!
//! - **Lazy.** A [`Timeout`] polls its future first. If the future is ready on
//!   its first poll, no clock is read and no timer armed. A duration starts
//!   counting at the first `Pending` (for [`Sleep`], at the first poll).
//! - **Coalesced.** Armed timers go into a hierarchical timing wheel owned by
//!   the arming thread's shard of its clock (one shard per core, at most 64),
//!   not into the runtime's timer map. Arming and cancelling are O(1) under an uncontended
//!   lock, however many timers are pending; each shard keeps one backend timer
//!   armed, for its earliest deadline. A cancelled timer's entry is freed at
//!   once (and a shard with no timers left frees its table).
//! - **A late poll takes nothing.** Once its clock has started, a
//!   [`Timeout`] polled at or after its deadline returns `Err(Elapsed)`
//!   without polling its future again, so a value that arrived late stays
//!   where it was (a channel, a `JoinSet`), and of nested expired timeouts
//!   the outermost one reports (as in asyncio and Trio).
//! - **Never early, at most 1 ms late.** The wheel ticks in milliseconds and
//!   fires a timer at the first tick boundary at or after its deadline; the
//!   backend's own lateness (the OS waking its thread) comes on top.
//! - **Any thread.** A timer armed on one thread may be polled, reset or
//!   dropped on another: it keeps a handle to the shard that holds it.
//! - **Small.** A [`Sleep`] is one word; a [`Timeout`] adds one word (plus
//!   alignment) to the future it wraps.
//!
//! The clock and the one-shot timers come from where the timer is armed, with
//! no set-up: inside a tokio runtime (with the `tokio` feature), that
//! runtime's driver and clock, paused or not; anywhere else, async-io's; or,
//! after [`set_backend`], a clock of your own everywhere. A runtime that shuts
//! down hands the timers still pending on it to the default backend. See
//! [`TimerBackend`].
//!
//! Inside a scope, a child's `timeout(..).await?` fails the scope like any
//! other error (given `E: From<Elapsed>`), and a whole scope under `timeout`
//! drops every child when the deadline passes.

mod backend;
mod clock;
mod deadline;
mod error;
mod idle;
#[cfg(all(test, corral_loom))]
mod loom_tests;
mod route;
#[cfg(feature = "tokio")]
mod runtime_clock;
mod shard;
mod sleep;
mod slot;
mod timeout;
#[cfg(feature = "tokio")]
mod tokio_backend;
mod virtual_clock;
mod virtual_core;
mod wheel;

#[cfg(feature = "async-io")]
pub use backend::AsyncIoBackend;
#[cfg(feature = "tokio")]
pub use backend::TokioBackend;
pub use backend::{BackendAlreadySet, BackendSleep, TimerBackend, set_backend};
pub use deadline::current_deadline;
pub(crate) use deadline::current_deadline_ns;
pub use error::Elapsed;
pub(crate) use shard::{NEVER_NS, duration_ns};

/// How long from now (by the timers' clock) until the deadline `ns`, in
/// the timers' nanoseconds; zero if it has passed.
pub(crate) fn until_ns(ns: u64) -> std::time::Duration {
    clock::from_ns(ns).saturating_duration_since(now())
}

/// Whether `t` lies past the end of corral's time range (a timer for it
/// would never fire).
pub(crate) fn beyond_range(t: std::time::Instant) -> bool {
    clock::to_ns(t) >= NEVER_NS
}

/// The time now, by the clock a timer armed here would use (a paused tokio
/// runtime's, say).
pub(crate) fn now() -> std::time::Instant {
    shard::now()
}
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Timeout, TimeoutExt, timeout, timeout_at};
pub use virtual_clock::{OnClock, VirtualClock};
pub(crate) use virtual_clock::{finish_in, poll_in, spawn_context};
pub(crate) use virtual_core::now_in_force as virtual_now_ns;
