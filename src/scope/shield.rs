//! `spawn_shielded`: a cleanup child that a scope's wind-down does not
//! drop, bounded by its own time limit instead.
//!
//! The child set knows a shielded child by a bit in its cell (`child.rs`,
//! `SHIELDED`) and leaves it running at a grace's end and at a failure
//! (`set.rs`, `expire`); the scope future waits for it before it returns a
//! failure (`future.rs`, `finish_shielded`). This file is the child's
//! future: the future it was given, under its limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::time::{Timeout, timeout};

pin_project! {
    /// A shielded child's future: `Ok(Some(value))` if the future finished
    /// within the limit, `Ok(None)` (the future dropped) if the limit passed
    /// first, its error as it is.
    pub(crate) struct Shielded<F> {
        #[pin]
        inner: Timeout<F>,
    }
}

impl<F: Future> Shielded<F> {
    /// `future` under a limit of `within`, counted from its first poll.
    pub(crate) fn new(within: Duration, future: F) -> Self {
        Shielded {
            inner: timeout(within, future),
        }
    }
}

impl<F, U, E> Future for Shielded<F>
where
    F: Future<Output = Result<U, E>>,
{
    type Output = Result<Option<U>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match std::task::ready!(self.project().inner.poll(cx)) {
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(error)) => Err(error),
            Err(_elapsed) => Ok(None),
        })
    }
}
