//! A child that never finishes: it counts its first poll in [`POLLED`], then
//! stays pending forever without waking anyone. Only an abort (or the end of
//! its scope or runtime) gets rid of it.
//!
//! The count lets a bench wait until every child has been polled once
//! (started) before it measures, on any executor: tokio's current-thread
//! runtime, for one, runs spawned tasks 61 at a time between polls of the
//! `block_on` future, so one yield is not enough.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// How many [`Parked`] futures have been polled at least once (reset by the
/// bench before each set of children; one set is alive at a time).
pub static POLLED: AtomicUsize = AtomicUsize::new(0);

/// The future [`parked`] returns.
pub struct Parked {
    counted: bool,
}

/// A future that is never ready and counts its first poll in [`POLLED`].
pub fn parked() -> Parked {
    Parked { counted: false }
}

impl Future for Parked {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.counted {
            self.counted = true;
            POLLED.fetch_add(1, Ordering::Relaxed);
        }
        Poll::Pending
    }
}

/// Yields (wakes itself and returns `Pending`) until `POLLED` reaches
/// `target`: every child spawned so far has had its first poll.
pub async fn all_polled(target: usize) {
    while POLLED.load(Ordering::Relaxed) < target {
        super::yield_once::yield_once().await;
    }
}
