//! The child every bench uses: it returns `Pending` once (after asking to be
//! polled again), then `Ready`.
//!
//! Hand-written rather than `tokio::task::yield_now`, whose cooperative budget
//! makes it behave differently from executor to executor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future [`yield_once`] returns.
pub struct YieldOnce(bool);

/// Yields once, then completes.
pub fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
