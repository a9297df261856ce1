//! The scope futures: the body and the child set, polled together.

use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::ready::Drained;
use super::set::{
    ChildSet, Failure, LocalChildren, Payload, SendChildren, catch_drop, discard, keep_first,
};
use crate::time::Sleep;

pin_project! {
    /// What `ScopeFuture` and `LocalScopeFuture` share.
    #[project = CoreProj]
    struct Core<'env, T, E, Fut, K> {
        #[pin]
        body: Option<Fut>,
        set: ChildSet<'env, E, K>,
        output: Option<T>,
        // A failure waiting for the scope's aborted parallel children to be
        // dropped on their runtimes before it is returned or resumed.
        failed: Option<Failure<E>>,
        // The stop-request epoch this future has acted on (0: none yet).
        stop_seen: usize,
        // A stop request's grace, running: when it fires, the children still
        // running are dropped.
        grace: Option<Sleep>,
        // Everything finished; waiting for parallel children dropped at the
        // grace to be gone from their runtimes before returning the output.
        closed: bool,
        done: bool,
    }
    impl<'env, T, E, Fut, K> PinnedDrop for Core<'env, T, E, Fut, K> {
        fn drop(this: Pin<&mut Self>) {
            // Children first, then the body and its output: every child is
            // gone before the scope's drop returns, on every executor. Each
            // destructor runs even if an earlier one panicked (a panic let
            // out between them would drop the rest during unwinding, where a
            // second panic aborts); the first panic is resumed at the end.
            let mut this = this.project();
            let mut first = this.set.cancel_all();
            keep_first(&mut first, Core::drop_body_and_output(&mut this));
            match this.failed.take() {
                // A failure still waiting for parallel children: it came first.
                Some(Failure::Panic(payload)) => {
                    let later = first.replace(payload);
                    keep_first(&mut first, later);
                }
                Some(Failure::Error(error)) => discard(error),
                None => {}
            }
            if let Some(payload) = first {
                if std::thread::panicking() {
                    discard(payload);
                } else {
                    panic::resume_unwind(payload);
                }
            }
        }
    }
}

impl<'env, T, E, Fut, K> Core<'env, T, E, Fut, K>
where
    Fut: Future<Output = Result<T, E>>,
{
    fn new(body: Fut, set: ChildSet<'env, E, K>) -> Self {
        Core {
            body: Some(body),
            set,
            output: None,
            failed: None,
            stop_seen: 0,
            grace: None,
            closed: false,
            done: false,
        }
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        assert!(
            !*this.done,
            "corral: scope future polled after it completed"
        );
        if this.failed.is_some() {
            return Self::fail(this, cx);
        }
        if *this.closed {
            return Self::close(this, cx);
        }
        Self::watch_stop(&mut this);
        if let Some(grace) = this.grace.as_mut() {
            if Pin::new(grace).poll(cx).is_ready() {
                *this.grace = None;
                if let Some(payload) = this.set.expire() {
                    return Self::fail_with(this, Failure::Panic(payload), cx);
                }
            }
        }
        let flow = {
            let mut body = this.body.as_mut();
            let output = &mut *this.output;
            let mut poll_body = |cx: &mut Context<'_>| -> ControlFlow<Failure<E>> {
                // A stale wake after the body finished finds `None`.
                let Some(fut) = body.as_mut().as_pin_mut() else {
                    return ControlFlow::Continue(());
                };
                match panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                    Ok(Poll::Pending) => ControlFlow::Continue(()),
                    Ok(Poll::Ready(Ok(value))) => {
                        *output = Some(value);
                        // The body's own destructor may panic too: that is a
                        // panic like any other, resumed after the children drop.
                        match panic::catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                            Ok(()) => ControlFlow::Continue(()),
                            Err(payload) => ControlFlow::Break(Failure::Panic(payload)),
                        }
                    }
                    Ok(Poll::Ready(Err(error))) => ControlFlow::Break(Failure::Error(error)),
                    Err(payload) => ControlFlow::Break(Failure::Panic(payload)),
                }
            };
            this.set.drive(&mut poll_body, cx)
        };
        if this.set.stop_epoch() != *this.stop_seen {
            // A request arrived while the children ran: act on it next turn.
            cx.waker().wake_by_ref();
        }
        match flow {
            ControlFlow::Break(failure) => Self::fail_with(this, failure, cx),
            ControlFlow::Continue(Drained::Idle) if this.body.is_none() && this.set.try_close() => {
                *this.closed = true;
                Self::close(this, cx)
            }
            ControlFlow::Continue(Drained::Idle)
                if this.body.is_none() && this.set.running() == 0 =>
            {
                // A spawn from another thread arrived just now: take another turn.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            ControlFlow::Continue(_) => Poll::Pending,
        }
    }
}

impl<'env, T, E, Fut, K> Core<'env, T, E, Fut, K> {
    /// Acts on a new stop request: starts (or moves earlier) the grace timer.
    fn watch_stop(this: &mut CoreProj<'_, 'env, T, E, Fut, K>) {
        let epoch = this.set.stop_epoch();
        if epoch == *this.stop_seen {
            return;
        }
        *this.stop_seen = epoch;
        if let Some(end) = this.set.grace_end() {
            match this.grace.as_mut() {
                Some(grace) => Pin::new(grace).reset(end),
                None => *this.grace = Some(crate::time::sleep_until(end)),
            }
        }
    }

    /// Drops every child and the body, then returns `failure` (see `fail`).
    fn fail_with(
        mut this: CoreProj<'_, 'env, T, E, Fut, K>,
        failure: Failure<E>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, E>> {
        // Every destructor runs, and none lets its panic out before the
        // parallel children are gone: `fail` resumes the first panic only
        // after that wait.
        let mut drop_panic = this.set.cancel_all();
        keep_first(&mut drop_panic, Self::drop_body_and_output(&mut this));
        *this.grace = None;
        // A destructor's panic outranks an error, not a first panic.
        *this.failed = Some(match (failure, drop_panic) {
            (Failure::Error(error), Some(payload)) => {
                discard(error);
                Failure::Panic(payload)
            }
            (failure, later) => {
                discard(later);
                failure
            }
        });
        Self::fail(this, cx)
    }

    /// Drops the body and any output it gave, catching their destructors'
    /// panics (the first one is returned).
    fn drop_body_and_output(this: &mut CoreProj<'_, 'env, T, E, Fut, K>) -> Option<Payload> {
        let mut first = catch_drop(|| this.body.set(None));
        let output = this.output.take();
        keep_first(&mut first, catch_drop(|| drop(output)));
        first
    }

    /// Returns the body's output once every parallel child is gone from its
    /// runtime (only those dropped at a grace can still be there).
    fn close(this: CoreProj<'_, 'env, T, E, Fut, K>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        if this.set.parallel().poll_all_dropped(cx).is_pending() {
            return Poll::Pending;
        }
        *this.done = true;
        *this.grace = None;
        Poll::Ready(Ok(this
            .output
            .take()
            .expect("body output is set when it finishes")))
    }

    /// Returns the scope's failure, once every aborted parallel child has
    /// been dropped on its runtime (local children are gone already).
    fn fail(this: CoreProj<'_, 'env, T, E, Fut, K>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        if this.set.parallel().poll_all_dropped(cx).is_pending() {
            return Poll::Pending;
        }
        *this.done = true;
        match this.failed.take().expect("a failure to report") {
            Failure::Panic(payload) => panic::resume_unwind(payload),
            Failure::Error(error) => Poll::Ready(Err(error)),
        }
    }
}

pin_project! {
    /// The future returned by [`scope`](crate::scope) and
    /// [`Nursery::scope`](crate::Nursery::scope).
    ///
    /// It resolves when the body and every child have finished (`Ok` with the
    /// body's value), or at the first error (`Err`, after every other child and
    /// the body have been dropped). It is `Send` whenever the body future, `T`
    /// and `E` are, so it can itself be spawned on a multi-threaded runtime.
    ///
    /// Dropping it drops every child before the drop returns.
    ///
    /// # Panics
    ///
    /// Polling resumes the panic of a child or of the body, after every other
    /// child has been dropped. Polling again after it resolved panics.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ScopeFuture<'env, T, E, Fut> {
        #[pin]
        core: Core<'env, T, E, Fut, SendChildren>,
    }
}

// No `unsafe impl`: a `ScopeFuture` is `Send` exactly when its body future, `T`
// and `E` are, because its child set is (`ChildSet<_, _, SendChildren>`, whose
// `unsafe impl Send` in `set.rs` carries the argument).

impl<'env, T, E, Fut> ScopeFuture<'env, T, E, Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    pub(crate) fn new(body: Fut, set: ChildSet<'env, E, SendChildren>) -> Self {
        ScopeFuture {
            core: Core::new(body, set),
        }
    }
}

impl<T, E, Fut> Future for ScopeFuture<'_, T, E, Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().core.poll(cx)
    }
}

impl<T, E, Fut> fmt::Debug for ScopeFuture<'_, T, E, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture")
            .field("running", &self.core.set.running())
            .field("body_done", &self.core.body.is_none())
            .finish()
    }
}

pin_project! {
    /// The future returned by [`local_scope`](crate::local_scope) and
    /// [`Nursery::local_scope`](crate::Nursery::local_scope): a
    /// [`ScopeFuture`] whose children may be `!Send`, so it is `!Send` itself.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct LocalScopeFuture<'env, T, E, Fut> {
        #[pin]
        core: Core<'env, T, E, Fut, LocalChildren>,
    }
}

impl<'env, T, E, Fut> LocalScopeFuture<'env, T, E, Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    pub(crate) fn new(body: Fut, set: ChildSet<'env, E, LocalChildren>) -> Self {
        LocalScopeFuture {
            core: Core::new(body, set),
        }
    }
}

impl<T, E, Fut> Future for LocalScopeFuture<'_, T, E, Fut>
where
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().core.poll(cx)
    }
}

impl<T, E, Fut> fmt::Debug for LocalScopeFuture<'_, T, E, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalScopeFuture")
            .field("running", &self.core.set.running())
            .field("body_done", &self.core.body.is_none())
            .finish()
    }
}
