//! The scope futures: the body and the child set, polled together.
//!
//! # Phases
//!
//! A scope future is always in one [`Phase`]; each transition is made in one
//! place, commented there.
//!
//! | phase         | holds                  | body          | children                 | left when                                                                                     |
//! |---------------|------------------------|---------------|--------------------------|-----------------------------------------------------------------------------------------------|
//! | `Running`     | —                      | running       | running                  | the body returns `Ok(value)` and is dropped → `Draining`; a failure → `Failing`; an error with `stop_on_failure` → `Stopping` |
//! | `Draining`    | the body's value       | dropped       | running                  | the last child finishes and the set closes → `Closing`; a failure → `Failing` (or `Stopping`) |
//! | `Stopping`    | the first error        | running, if it was (a value it returns is dropped) | running (a stop was requested); none starts | the body and every child are done → `Failing`; the grace ends, or a panic → `Failing` (`fail_with`) |
//! | `Closing`     | the body's value       | dropped       | finished, or dropped at a grace | every parallel child is gone from its runtime → `Done`, returning the value              |
//! | `Failing`     | the error or panic     | dropped       | dropped (`cancel_all`), but shielded ones, which run to their end (`finish_shielded`) | every shielded child has finished and every aborted parallel child is gone from its runtime → `Done`, returning the error or resuming the panic |
//! | `Done`        | —                      | dropped       | gone                     | never: polling again panics                                                                    |
//!
//! A failure is the first `Err` or panic of the body or a child, a panic of a
//! destructor the scope runs (the body's, a child's at a grace), including
//! a panic in the body's own destructor right after it returned `Ok`.
//!
//! What is not a phase stays a field of [`Core`]: the body itself (an
//! `Option`, pinned in place, so it cannot move into a variant; it is `None`
//! exactly from the `Draining` phase on, and the phase, not the `Option`, is
//! what the code asks), the stop-request epoch already acted on, and the
//! grace timer, which runs across `Running` and `Draining` and is dropped on
//! the way out, and the soft deadline's timer (`Nursery::stop_at`), armed at
//! the first poll, which requests a stop when it fires and is dropped on the
//! way out too.
//!
//! # Teardown
//!
//! Dropping the future in any phase drops the children first, then the body,
//! then whatever the phase holds, each under `catch_unwind`; the first panic
//! (a `Failing` phase's panic counts as first) is resumed at the end, unless
//! the thread is already unwinding.

use std::fmt;
use std::future::Future;
use std::mem;
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::reason::Reason;
use super::set::{
    ChildSet, Failure, LocalChildren, Located, Payload, SendChildren, catch_drop, discard,
    keep_first, resume_from_drop,
};
use crate::engine::Drained;
use crate::time::Sleep;

/// When a scope asks itself to stop ([`Nursery::stop_at`](crate::Nursery::stop_at),
/// [`Nursery::stop_after`](crate::Nursery::stop_after)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopAt {
    At(std::time::Instant),
    /// Measured from the scope's first poll.
    After(std::time::Duration),
}

/// A scope future's soft deadline: not set, not armed yet (no poll yet),
/// armed, or done with (fired, or the scope left `Running`/`Draining`).
enum Deadline {
    None,
    Unarmed(StopAt),
    Armed(Sleep),
}

/// `Stopping` -> `Done`, for the caller to move on to `Failing` with the
/// soft failure's error.
fn end_stopping<T, E>(phase: &mut Phase<T, E>) -> Failure<E> {
    match mem::replace(phase, Phase::Done) {
        Phase::Stopping(error) => Failure::Error(error),
        _ => unreachable!("end_stopping outside the Stopping phase"),
    }
}

/// Where a scope future is; see the module docs' table.
enum Phase<T, E> {
    /// The body is running; children may be too.
    Running,
    /// The body returned this value and was dropped; children still run.
    Draining(T),
    /// The scope failed with this error and fails softly
    /// (`Nursery::stop_on_failure`): a stop was requested, and the body and
    /// the running children run on until they finish or the grace ends;
    /// their errors are kept (`every_error`) or dropped.
    Stopping(E),
    /// Every child has finished and the set is closed to spawns; waiting for
    /// parallel children dropped at a grace to be gone from their runtimes
    /// before returning the value.
    Closing(T),
    /// Every child and the body have been dropped; waiting for the scope's
    /// aborted parallel children to be gone from their runtimes before the
    /// failure is returned or resumed.
    Failing(Failure<E>),
    /// The output was returned or the panic resumed.
    Done,
}

pin_project! {
    /// What `ScopeFuture` and `LocalScopeFuture` share.
    #[project = CoreProj]
    struct Core<'env, T, E, Fut, K> {
        // `Some` while the phase is `Running` (see the module docs).
        #[pin]
        body: Option<Fut>,
        set: ChildSet<'env, E, K>,
        phase: Phase<T, E>,
        // The stop-request epoch this future has acted on (0: none yet).
        stop_seen: usize,
        // A stop request's grace, running: when it fires, the children still
        // running are dropped.
        grace: Option<Sleep>,
        // The nursery's soft deadline: a stop request when it passes.
        deadline: Deadline,
        // `Nursery::stop_on_failure`: an error asks for a stop instead of
        // dropping everything at once.
        soft: bool,
    }
    impl<'env, T, E, Fut, K> PinnedDrop for Core<'env, T, E, Fut, K> {
        fn drop(this: Pin<&mut Self>) {
            // Children first, then the body and what the phase holds: every
            // child is gone before the scope's drop returns, on every
            // executor. Each destructor runs even if an earlier one panicked
            // (a panic let out between them would drop the rest during
            // unwinding, where a second panic aborts); the first panic is
            // resumed at the end.
            let mut this = this.project();
            // A scope dropped while it was stopping (an enclosing scope's
            // grace ended, say) drops its children for that stop.
            let reason = this.set.stop_reason().unwrap_or(Reason::ScopeDropped);
            let mut first = this.set.cancel_all(reason);
            keep_first(&mut first, Core::drop_body_and_output(&mut this));
            match mem::replace(this.phase, Phase::Done) {
                // A failure still waiting for parallel children: it came first.
                Phase::Failing(Failure::Panic(payload)) => {
                    let later = first.replace(payload);
                    keep_first(&mut first, later);
                }
                Phase::Failing(Failure::Error(error)) | Phase::Stopping(error) => discard(error),
                // The value went with `drop_body_and_output`.
                Phase::Running | Phase::Draining(_) | Phase::Closing(_) | Phase::Done => {}
            }
            resume_from_drop(first);
        }
    }
}

impl<'env, T, E, Fut, K> Core<'env, T, E, Fut, K>
where
    Fut: Future<Output = Result<T, E>>,
{
    fn new(body: Fut, set: ChildSet<'env, E, K>, stop_at: Option<StopAt>, soft: bool) -> Self {
        Core {
            body: Some(body),
            set,
            phase: Phase::Running,
            stop_seen: 0,
            grace: None,
            deadline: stop_at.map_or(Deadline::None, Deadline::Unarmed),
            soft,
        }
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        #[cfg(feature = "tracing")]
        {
            // Only a scope whose children inherit spans compares them.
            let user = this.set.queue.shared().user();
            if user.inherit_span {
                user.poll_span.note();
            }
        }
        match this.phase {
            Phase::Running | Phase::Draining(_) | Phase::Stopping(_) => {}
            Phase::Closing(_) => return Self::close(this, cx),
            Phase::Failing(_) => return Self::fail(this, cx),
            Phase::Done => panic!("corral: scope future polled after it completed"),
        }
        Self::watch_deadline(&mut this, cx);
        Self::watch_stop(&mut this);
        if let Some(grace) = this.grace.as_mut() {
            if Pin::new(grace).poll(cx).is_ready() {
                *this.grace = None;
                if let Phase::Stopping(_) = this.phase {
                    // A soft failure's grace is over: drop what is left.
                    let failure = end_stopping(this.phase);
                    return Self::fail_with(this, failure, cx);
                }
                let reason = this.set.stop_reason().unwrap_or(Reason::Deadline);
                if let Some(payload) = this.set.expire(reason) {
                    return Self::fail_with(this, Failure::Panic(payload), cx);
                }
            }
        }
        let flow = {
            let mut body = this.body.as_mut();
            let phase = &mut *this.phase;
            let mut poll_body = |cx: &mut Context<'_>| -> ControlFlow<Failure<E>> {
                // A stale wake after the body finished (`Draining`) finds `None`.
                let Some(fut) = body.as_mut().as_pin_mut() else {
                    return ControlFlow::Continue(());
                };
                match panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                    Ok(Poll::Pending) => ControlFlow::Continue(()),
                    Ok(Poll::Ready(Ok(value))) => {
                        if let Phase::Stopping(_) = phase {
                            // The scope has failed already: the value goes.
                            discard(value);
                        } else {
                            // `Running` -> `Draining`, the value kept until
                            // the children are done.
                            *phase = Phase::Draining(value);
                        }
                        // The body's own destructor may panic too: that is a
                        // panic like any other, resumed after the children drop.
                        match panic::catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                            Ok(()) => ControlFlow::Continue(()),
                            Err(payload) => ControlFlow::Break(Failure::Panic(payload)),
                        }
                    }
                    Ok(Poll::Ready(Err(error))) => {
                        // A finished body is never polled again: dropped now
                        // (a soft failure's phase goes on without it). Its
                        // destructor's panic outranks the error.
                        match panic::catch_unwind(AssertUnwindSafe(|| body.set(None))) {
                            Ok(()) => ControlFlow::Break(Failure::Error(error)),
                            Err(payload) => {
                                discard(error);
                                ControlFlow::Break(Failure::Panic(payload))
                            }
                        }
                    }
                    Err(payload) => ControlFlow::Break(Failure::Panic(payload)),
                }
            };
            this.set.drive(&mut poll_body, cx)
        };
        if this.set.stop_epoch() != *this.stop_seen {
            // A request arrived while the children ran: act on it next turn.
            cx.waker().wake_by_ref();
        }
        let draining = matches!(this.phase, Phase::Draining(_));
        let stopping = matches!(this.phase, Phase::Stopping(_));
        match flow {
            ControlFlow::Break(Failure::Error(error)) if *this.soft && !stopping => {
                Self::stop_softly(this, error, cx)
            }
            ControlFlow::Break(failure) => Self::fail_with(this, failure, cx),
            ControlFlow::Continue(Drained::Idle)
                if stopping && this.body.is_none() && this.set.try_close() =>
            {
                // `Stopping` -> `Failing`: everything stopped within the grace.
                let failure = end_stopping(this.phase);
                Self::fail_with(this, failure, cx)
            }
            ControlFlow::Continue(Drained::Idle)
                if stopping && this.body.is_none() && this.set.running() == 0 =>
            {
                // A spawn arrived just now (it is dropped): another turn.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            ControlFlow::Continue(Drained::Idle) if draining && this.set.try_close() => {
                // `Draining` -> `Closing`: the set accepts no more spawns.
                if let Phase::Draining(value) = mem::replace(this.phase, Phase::Done) {
                    *this.phase = Phase::Closing(value);
                }
                Self::close(this, cx)
            }
            ControlFlow::Continue(Drained::Idle) if draining && this.set.running() == 0 => {
                // A spawn from another thread arrived just now: take another turn.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            ControlFlow::Continue(_) => Poll::Pending,
        }
    }
}

impl<'env, T, E, Fut, K> Core<'env, T, E, Fut, K> {
    /// Arms the soft deadline at the first poll; once it passes, requests a
    /// stop (with the nursery's grace), as `Scope::stop` would.
    fn watch_deadline(this: &mut CoreProj<'_, 'env, T, E, Fut, K>, cx: &mut Context<'_>) {
        let timer = match this.deadline {
            Deadline::None => return,
            Deadline::Armed(timer) => timer,
            Deadline::Unarmed(at) => {
                *this.deadline = Deadline::Armed(match *at {
                    StopAt::At(instant) => crate::time::sleep_until(instant),
                    StopAt::After(duration) => crate::time::sleep(duration),
                });
                let Deadline::Armed(timer) = this.deadline else {
                    unreachable!()
                };
                timer
            }
        };
        if Pin::new(timer).poll(cx).is_ready() {
            *this.deadline = Deadline::None;
            this.set.request_stop(Reason::Deadline);
        }
    }

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

    /// `Running` or `Draining` -> `Stopping` (`Nursery::stop_on_failure`):
    /// requests a stop with the nursery's grace instead of dropping the
    /// children; the children waiting for a turn are dropped, and the body's
    /// value, if it returned one, goes.
    fn stop_softly(
        this: CoreProj<'_, 'env, T, E, Fut, K>,
        error: E,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, E>> {
        let reason = this.set.failure_reason(false);
        let mut drop_panic = this.set.enter_failing(reason);
        let value = mem::replace(this.phase, Phase::Stopping(error));
        keep_first(&mut drop_panic, catch_drop(|| drop(value)));
        if let Some(payload) = drop_panic {
            // `fail_with` drops the error kept in `Stopping`: the panic
            // outranks it.
            return Self::fail_with(this, Failure::Panic(payload), cx);
        }
        this.set.request_stop(reason);
        // The next turn arms the grace (`watch_stop`) and goes on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The errors besides the first, in order, and where the first came from
    /// (`Nursery::every_error`).
    pub(crate) fn take_errors(
        this: CoreProj<'_, 'env, T, E, Fut, K>,
    ) -> (
        Option<&'static std::panic::Location<'static>>,
        Vec<Located<E>>,
    ) {
        (this.set.first_at(), this.set.take_later())
    }

    /// Drops every child and the body, then returns `failure` (see `fail`).
    fn fail_with(
        mut this: CoreProj<'_, 'env, T, E, Fut, K>,
        failure: Failure<E>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, E>> {
        // Every destructor runs, and none lets its panic out before the
        // parallel children are gone: `fail` resumes the first panic only
        // after that wait. Shielded children run on (`fail` waits for them);
        // without any, the set closes to spawns at once, so a destructor that
        // spawns is refused.
        let reason = this
            .set
            .failure_reason(matches!(failure, Failure::Panic(_)));
        let mut drop_panic = if this.set.has_shielded() {
            this.set.cancel_unshielded(reason)
        } else {
            this.set.cancel_all(reason)
        };
        this.set.mark_failed();
        keep_first(&mut drop_panic, Self::drop_body_and_output(&mut this));
        *this.grace = None;
        *this.deadline = Deadline::None;
        // `Running`, `Draining` or `Stopping` -> `Failing`. A destructor's
        // panic outranks an error, not a first panic. (A soft failure's error
        // was taken out of `Stopping` by the caller, or is outranked by this
        // panic: dropped here.)
        if let Phase::Stopping(earlier) = mem::replace(this.phase, Phase::Done) {
            discard(earlier);
        }
        *this.phase = Phase::Failing(match (failure, drop_panic) {
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

    /// Drops the body and any value it returned, catching their destructors'
    /// panics (the first one is returned). A phase that held the value is
    /// left `Done`, for the caller to replace; any other is left as it is.
    fn drop_body_and_output(this: &mut CoreProj<'_, 'env, T, E, Fut, K>) -> Option<Payload> {
        let mut first = catch_drop(|| this.body.set(None));
        if let Phase::Draining(_) | Phase::Closing(_) = this.phase {
            let phase = mem::replace(this.phase, Phase::Done);
            keep_first(&mut first, catch_drop(|| drop(phase)));
        }
        first
    }

    /// In `Failing`: runs the shielded children left (`spawn_shielded`, each
    /// within its own limit) until none is. Their errors join the group or
    /// are dropped; a panic outranks the failure and drops them all.
    #[cold]
    fn finish_shielded(
        this: &mut CoreProj<'_, 'env, T, E, Fut, K>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let set = &mut *this.set;
        let flow = set.drive(&mut |_cx: &mut Context<'_>| ControlFlow::Continue(()), cx);
        match flow {
            ControlFlow::Break(Failure::Panic(payload)) => {
                let mut first = Some(payload);
                let reason = set.failure_reason(true);
                keep_first(&mut first, set.cancel_all(reason));
                if let Phase::Failing(failure) = &mut *this.phase {
                    match failure {
                        Failure::Panic(_) => discard(first),
                        Failure::Error(_) => {
                            let earlier = mem::replace(failure, Failure::Panic(first.unwrap()));
                            discard(earlier);
                        }
                    }
                }
                Poll::Ready(())
            }
            ControlFlow::Break(Failure::Error(error)) => {
                discard(error);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            ControlFlow::Continue(Drained::Idle) if set.try_close() => Poll::Ready(()),
            ControlFlow::Continue(Drained::Idle) if set.running() == 0 => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            ControlFlow::Continue(_) => Poll::Pending,
        }
    }

    /// `Closing` -> `Done`: returns the body's value once every parallel
    /// child is gone from its runtime (only those dropped at a grace can
    /// still be there).
    fn close(this: CoreProj<'_, 'env, T, E, Fut, K>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        *this.deadline = Deadline::None;
        if this.set.parallel().poll_all_dropped(cx).is_pending() {
            return Poll::Pending;
        }
        *this.grace = None;
        match mem::replace(this.phase, Phase::Done) {
            Phase::Closing(value) => Poll::Ready(Ok(value)),
            _ => unreachable!("close outside the Closing phase"),
        }
    }

    /// `Failing` -> `Done`: returns the scope's failure, once every aborted
    /// parallel child has been dropped on its runtime (local children are
    /// gone already).
    fn fail(
        mut this: CoreProj<'_, 'env, T, E, Fut, K>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, E>> {
        if this.set.has_children() && Self::finish_shielded(&mut this, cx).is_pending() {
            return Poll::Pending;
        }
        if this.set.parallel().poll_all_dropped(cx).is_pending() {
            return Poll::Pending;
        }
        match mem::replace(this.phase, Phase::Done) {
            Phase::Failing(Failure::Panic(payload)) => panic::resume_unwind(payload),
            Phase::Failing(Failure::Error(error)) => Poll::Ready(Err(error)),
            _ => unreachable!("fail outside the Failing phase"),
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
    /// `'env` is as for [`scope`](crate::scope): see
    /// [Lifetimes](crate::scope#lifetimes).
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops every local child, then the body, before the drop
    /// returns, and asks the runtimes of parallel children to drop them; see
    /// [`scope`](crate::scope#cancel-safety).
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
    pub(crate) fn new(
        body: Fut,
        set: ChildSet<'env, E, SendChildren>,
        stop_at: Option<StopAt>,
        soft: bool,
    ) -> Self {
        ScopeFuture {
            core: Core::new(body, set, stop_at, soft),
        }
    }
}

impl<'env, T, E, Fut> ScopeFuture<'env, T, E, Fut> {
    /// The errors after the first and where the first came from, once it
    /// returned its first error (`Nursery::every_error`).
    pub(crate) fn take_errors(
        self: Pin<&mut Self>,
    ) -> (
        Option<&'static std::panic::Location<'static>>,
        Vec<Located<E>>,
    ) {
        Core::take_errors(self.project().core.project())
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
    ///
    /// # Cancel safety
    ///
    /// As [`ScopeFuture`]; see [`scope`](crate::scope#cancel-safety).
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
    pub(crate) fn new(
        body: Fut,
        set: ChildSet<'env, E, LocalChildren>,
        stop_at: Option<StopAt>,
        soft: bool,
    ) -> Self {
        LocalScopeFuture {
            core: Core::new(body, set, stop_at, soft),
        }
    }
}

impl<'env, T, E, Fut> LocalScopeFuture<'env, T, E, Fut> {
    /// As [`ScopeFuture::take_errors`].
    pub(crate) fn take_errors(
        self: Pin<&mut Self>,
    ) -> (
        Option<&'static std::panic::Location<'static>>,
        Vec<Located<E>>,
    ) {
        Core::take_errors(self.project().core.project())
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
