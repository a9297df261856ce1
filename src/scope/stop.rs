//! Graceful stop: a scope's stop request, how it reaches nested scopes and
//! parallel children, and the public handles that make or watch one.
//!
//! A request has two phases. Phase one is here: the scope's stop `epoch`
//! becomes non-zero, `Stopped` futures wake, and the scope future is woken.
//! Phase two lives in the scope future (`future.rs`): if the request carries
//! a grace deadline, a timer drops the children still running when it passes.
//!
//! Nesting. A scope polled for the first time registers with the scope being
//! polled on its thread, its parent (`nesting.rs`). A request walks down that
//! registry, so every nested scope sees it, with the same grace deadline, as
//! soon as the call returns. A scope that registers after its parent was
//! stopped inherits the request at once.
//!
//! Cost when nobody stops anything: that of the registry (`nesting.rs`).
//! Nothing per child.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::EventListener;

use super::nesting::{self, Registration, current_scope};
use super::reason::Reason;
use super::records::ChildId;
use super::state::{ScopeRef, ScopeShared};
use crate::loom::Ordering;
use crate::wait_point::{Wait, note};

/// True if `a` is an earlier deadline than `b` (`None` is never).
fn earlier(a: Option<Instant>, b: Option<Instant>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// When `shared`'s scope drops the children still running, for the request
/// seen now. (The deadline is kept under its nesting registry's lock.)
pub(crate) fn grace_end(shared: &ScopeShared) -> Option<Instant> {
    shared.user().nesting.lock().grace_end
}

/// The reason of the stop request that reached `shared`'s scope first, if
/// one did.
pub(crate) fn reason(shared: &ScopeShared) -> Option<Reason> {
    shared.user().nesting.lock().reason
}

/// Requests a stop of `shared`'s scope with its nursery's grace. Reads the
/// clock (the timer backend's) only if there is a grace.
pub(crate) fn request(shared: &ScopeShared, reason: Reason) {
    let grace = shared.user().stop.grace_ns;
    request_within(shared, grace, reason);
}

/// Requests a stop whose grace ends `grace_ns` from now (`NEVER_NS`: never).
fn request_within(shared: &ScopeShared, grace_ns: u64, reason: Reason) {
    let end = if grace_ns >= crate::time::NEVER_NS {
        None
    } else {
        crate::time::now().checked_add(Duration::from_nanos(grace_ns))
    };
    request_with(shared, end, reason);
}

/// Makes `end` the scope's grace deadline unless it already has an earlier
/// one, then tells everyone below. The first request's `reason` is kept.
pub(crate) fn request_with(shared: &ScopeShared, end: Option<Instant>, reason: Reason) {
    let subscopes: Vec<ScopeRef> = {
        let mut inner = shared.user().nesting.lock();
        let first = shared.user().stop.epoch.load(Ordering::Relaxed) == 0;
        if !first && !earlier(end, inner.grace_end) {
            return;
        }
        inner.grace_end = end;
        if inner.reason.is_none() {
            inner.reason = Some(reason);
        }
        // SeqCst, then `notify` reads `polling` with SeqCst; the scope future
        // clears `polling` with SeqCst, then reads the epoch with SeqCst. One
        // of the two sees the other: the scope is woken or notices by itself.
        shared.user().stop.epoch.fetch_add(1, Ordering::SeqCst);
        inner.subscopes()
    };
    shared.user().stop.event.notify(usize::MAX);
    shared.notify();
    for sub in subscopes {
        request_with(&sub, end, reason);
    }
}

/// Registers `shared`'s scope with the scope being polled on this thread, if
/// any (`nesting::link`), and inherits its stop request. Also returns the
/// tracked child being polled, if any: the one the new scope lives in.
pub(crate) fn link(shared: *const ScopeShared) -> (Option<Registration>, Option<ChildId>) {
    let linked = nesting::link(shared, |parent, registry| {
        let stopping = parent.user().stop.epoch.load(Ordering::Relaxed) != 0;
        stopping.then_some((registry.grace_end, registry.reason))
    });
    let Some(linked) = linked else {
        return (None, None);
    };
    if let Some((end, reason)) = linked.inherited {
        // SAFETY: `shared` comes from its live owner.
        request_with(
            unsafe { &*shared },
            end,
            reason.unwrap_or(Reason::ScopeDropped),
        );
    }
    (Some(linked.registration), linked.in_child)
}

/// A handle that stops a scope from anywhere: `Clone`, `Send`, `Sync` and
/// `'static`, so a signal-handling task or another thread can hold it.
///
/// Get one from [`Scope::stop_handle`](crate::Scope::stop_handle),
/// [`LocalScope::stop_handle`](crate::LocalScope::stop_handle) or, inside a
/// scope's body or children (parallel ones included), from
/// [`StopHandle::current`]. See [`Scope::stop`](crate::Scope::stop) for
/// what a stop does.
///
/// A handle keeps a little shared state alive, not the scope: stopping a
/// scope that has finished does nothing.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # futures::executor::block_on(async {
/// let served = corral::Nursery::new()
///     .grace(Duration::from_secs(5))
///     .scope(|s| async move {
///         // A signal handler would hold this; here another thread does.
///         let stop = s.stop_handle();
///         std::thread::spawn(move || stop.stop());
///         // The body serves until it is asked to stop.
///         s.stopped().await;
///         Ok::<_, ()>("drained")
///     })
///     .await;
/// assert_eq!(served, Ok("drained"));
/// # });
/// ```
#[derive(Clone)]
pub struct StopHandle {
    scope: ScopeRef,
}

impl StopHandle {
    pub(crate) fn new(scope: ScopeRef) -> Self {
        StopHandle { scope }
    }

    /// The handle of the innermost scope whose body or child (local or
    /// parallel) is being polled on this thread right now, or `None` outside
    /// any scope. This is how code that was not handed a scope (a library
    /// call, a parallel child) finds the stop request that concerns it.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::StopHandle;
    ///
    /// assert!(StopHandle::current().is_none());
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     s.stop();
    ///     s.spawn(async {
    ///         let stop = StopHandle::current().expect("inside a scope");
    ///         assert!(stop.is_stopping());
    ///         Ok(())
    ///     });
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn current() -> Option<StopHandle> {
        let current = current_scope();
        if current.is_null() {
            return None;
        }
        // SAFETY: a scope named current is live (see `link`).
        Some(StopHandle::new(unsafe { ScopeRef::new(current) }))
    }

    /// Why the scope was asked to stop, once it was: the first request's
    /// [`Reason`] ([`Reason::Stopped`] with where `stop` was called, here or
    /// on an enclosing scope; [`Reason::Deadline`] for the nursery's soft
    /// deadline; [`Reason::Failed`] for a soft failure,
    /// [`Nursery::stop_on_failure`](crate::Nursery::stop_on_failure)).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let stop = s.stop_handle();
    ///     assert_eq!(stop.reason(), None);
    ///     s.stop();
    ///     assert!(matches!(stop.reason(), Some(corral::Reason::Stopped(_))));
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn reason(&self) -> Option<Reason> {
        reason(&self.scope)
    }

    /// Asks the scope to stop, exactly like [`Scope::stop`](crate::Scope::stop).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let stop = s.stop_handle();
    ///     stop.stop();
    ///     assert!(s.is_stopping());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn stop(&self) {
        request(&self.scope, Reason::Stopped(Location::caller()));
    }

    /// Asks the scope to stop with a grace of `grace` from now, whatever its
    /// nursery's: for example a second Ctrl-C that should not wait. Like any
    /// request, it can only bring the end of the grace earlier, never later.
    /// `Duration::ZERO` drops the children at the scope's next turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let out = corral::scope(|s| async move {
    ///     // No grace in the nursery: a plain stop would wait for this child.
    ///     let stuck = s.spawn(std::future::pending::<Result<(), ()>>());
    ///     let stop = s.stop_handle();
    ///     stop.stop();
    ///     stop.stop_within(Duration::ZERO); // the second Ctrl-C
    ///     Ok(stuck.or_dropped().await)
    /// })
    /// .await;
    /// assert_eq!(out, Ok(None));
    /// # });
    /// ```
    #[track_caller]
    pub fn stop_within(&self, grace: Duration) {
        request_within(
            &self.scope,
            crate::time::duration_ns(grace),
            Reason::Stopped(Location::caller()),
        );
    }

    /// True once a stop request has reached the scope (its own, or an
    /// enclosing scope's). One atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let stop = s.stop_handle();
    ///     assert!(!stop.is_stopping());
    ///     s.stop();
    ///     assert!(stop.is_stopping());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn is_stopping(&self) -> bool {
        self.scope.user().stop.is_stopping()
    }

    /// A future that resolves once a stop request has reached the scope.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the [`Stopped`] loses nothing; a new one
    /// resolves as soon as the request is there.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let stop = s.stop_handle();
    ///     s.spawn(async move {
    ///         stop.stopped().await; // until the body asks
    ///         Ok(())
    ///     });
    ///     s.stop();
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn stopped(&self) -> Stopped {
        Stopped::new(self.scope.clone())
    }
}

impl fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopHandle")
            .field("stopping", &self.is_stopping())
            .finish()
    }
}

/// The future [`Scope::stopped`](crate::Scope::stopped) and
/// [`StopHandle::stopped`] return: resolves once a stop request has reached
/// the scope. `Send` and `'static`.
///
/// # Cancel safety
///
/// Cancel safe: dropping it loses nothing (it only listens for a request and
/// makes none); a new one resolves as soon as the request is there.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Stopped {
    scope: ScopeRef,
    listener: Option<EventListener>,
    /// Where it was made, for the task tree (`wait_point.rs`).
    at: &'static Location<'static>,
}

impl Stopped {
    /// Why the scope was asked to stop, once it was; see
    /// [`StopHandle::reason`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let out = corral::Nursery::new()
    ///     .stop_after(std::time::Duration::ZERO)
    ///     .scope(|s| async move {
    ///         let stopped = s.stopped();
    ///         corral::yield_now().await;
    ///         Ok::<_, ()>(stopped.reason())
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok(Some(corral::Reason::Deadline)));
    /// # });
    /// ```
    pub fn reason(&self) -> Option<Reason> {
        reason(&self.scope)
    }

    #[track_caller]
    pub(crate) fn new(scope: ScopeRef) -> Self {
        Stopped {
            scope,
            listener: None,
            at: Location::caller(),
        }
    }
}

impl Future for Stopped {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.scope.user().stop.is_stopping() {
                this.listener = None;
                return Poll::Ready(());
            }
            match &mut this.listener {
                // Listen first, then look again: a request between the two
                // looks notifies this listener.
                None => this.listener = Some(this.scope.user().stop.event.listen()),
                Some(listener) => {
                    if Pin::new(listener).poll(cx).is_pending() {
                        note(Wait::Stopped, this.at);
                        return Poll::Pending;
                    }
                    this.listener = None;
                }
            }
        }
    }
}

impl fmt::Debug for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopped")
            .field("stopping", &self.scope.user().stop.is_stopping())
            .finish()
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::test_support::block_on;

    /// Under Miri: registration, propagation down two levels, the current
    /// handle, and unregistration as the nested scopes drop.
    #[test]
    fn a_request_reaches_nested_scopes_and_they_unregister() {
        let reached = AtomicBool::new(false);
        let reached = &reached;
        let out = block_on(crate::scope(|s| async move {
            let inner = s.spawn(crate::scope(|mid| async move {
                mid.spawn(crate::scope(|deep| async move {
                    deep.stopped().await;
                    let current = StopHandle::current().expect("a scope is current");
                    reached.store(current.is_stopping(), Ordering::SeqCst);
                    Ok(())
                }));
                mid.stopped().await;
                Ok::<_, ()>(mid.is_stopping())
            }));
            // Let both nested scopes register, then stop from the top.
            for _ in 0..3 {
                let mut yielded = false;
                std::future::poll_fn(|cx| {
                    if yielded {
                        return Poll::Ready(());
                    }
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                })
                .await;
            }
            s.stop();
            Ok(inner.await)
        }));
        assert_eq!(out, Ok(true));
        assert!(reached.load(Ordering::SeqCst));
        assert!(
            StopHandle::current().is_none(),
            "no scope is current outside"
        );
    }
}
