//! `yield_now`: a checkpoint that always gives the executor a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to whoever polls the current task, then resumes: a
/// checkpoint, like Trio's `trio.lowlevel.checkpoint()`, asyncio's
/// `await asyncio.sleep(0)` and tokio's `task::yield_now()`.
///
/// The first poll wakes the task and returns `Pending`; the second returns
/// `Ready`. A task polled by an executor goes to the back of its queue. A
/// child polled by a scope goes to the back of its scope's ready queue, so
/// every sibling that is ready runs first; the scope polls it again in the
/// same turn unless its budget (128 child polls a turn) is spent, and only
/// then yields to its executor. So a child's `yield_now` is a checkpoint for
/// its siblings at once, and for the rest of the program within 128 polls.
///
/// In corral, cancellation is drop, so every `Pending` is a point where a
/// child can be cancelled; a loop that never returns `Pending` is never
/// cancelled, and it keeps its siblings waiting. A busy loop that calls
/// `yield_now().await` lets them run. Neither [`sleep`](crate::time::sleep)
/// with a zero duration nor an uncontended
/// [`Semaphore::acquire`](crate::Semaphore::acquire) does this: each
/// returns at once when there is nothing to wait for (see
/// `docs/semantics.md`).
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
///
/// # futures::executor::block_on(async {
/// let order = Mutex::new(Vec::new());
/// let order = &order;
/// corral::scope(|s| async move {
///     s.spawn(async move {
///         order.lock().unwrap().push("a1");
///         corral::yield_now().await; // lets `b` run
///         order.lock().unwrap().push("a2");
///         Ok::<_, ()>(())
///     });
///     s.spawn(async move {
///         order.lock().unwrap().push("b");
///         Ok(())
///     });
///     Ok(())
/// })
/// .await
/// .unwrap();
/// assert_eq!(*order.lock().unwrap(), ["a1", "b", "a2"]);
/// # });
/// ```
///
/// # Cancel safety
///
/// Cancel safe: dropping it has no effect.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future [`yield_now`] returns.
///
/// # Cancel safety
///
/// Cancel safe: dropping it has no effect.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
///
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut y = pin!(corral::yield_now());
/// assert_eq!(y.as_mut().poll(&mut cx), Poll::Pending);
/// assert_eq!(y.as_mut().poll(&mut cx), Poll::Ready(()));
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Woken before returning: the executor (or the scope) queues the task
        // behind whatever is ready already, which is the point.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
