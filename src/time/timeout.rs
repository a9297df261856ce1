//! `Timeout`: a future with a deadline, and the `TimeoutExt` shorthand.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::clock::deadline_ns;
use super::deadline::with_timer;
use super::error::Elapsed;
use super::slot::TimerSlot;
use crate::wait_point::{Wait, note_until};

/// Runs `future`, giving up once `duration` has passed since its first
/// `Pending` (asyncio's `async with asyncio.timeout(...)`).
///
/// The future is polled first: one that is ready on its first poll returns
/// `Ok` without reading the clock or touching a timer, whatever the duration
/// (so `timeout(Duration::ZERO, ready)` is `Ok`). When the deadline passes,
/// the future is dropped and the result is `Err(Elapsed)`. Timers are never
/// early and at most 1 ms late plus the backend's lateness; a duration too
/// long to represent (such as [`Duration::MAX`]) never fires.
///
/// # Cancel safety
///
/// As cancel safe as `future`: dropping the [`Timeout`] drops `future` (in
/// place, before the drop returns) and frees the timer; whatever `future`
/// loses by being dropped is lost, nothing more. A timeout never takes an
/// output only to drop it (see below), so around a cancel-safe future
/// (`JoinSet::join_next`, a channel's `recv`) no value is lost: it is either
/// returned or left where it was.
///
/// # Late polls and late completion
///
/// Once the clock has started (after the first `Pending`), a timeout polled
/// at or after its deadline reports `Err(Elapsed)` *without polling its
/// future again*, even if the timer has not fired yet (a wake that came in
/// late, a thread blocked past the deadline). So when timeouts nest and
/// several have expired, the outermost one reports, whatever the inner ones
/// would have made of their own expiry, as with asyncio's `timeout` and
/// Trio's cancel scopes. A future that completes in a poll that began
/// before the deadline keeps its output, even if that poll ran past it:
/// those two, too, let a block that ends without suspending keep its
/// result. The check costs one clock read per poll, and only for a timeout
/// whose clock has started: a future ready on its first poll reads none.
///
/// # Examples
///
/// ```
/// use corral::time::timeout;
/// use std::time::Duration;
/// # futures::executor::block_on(async {
/// assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
/// let slow = std::future::pending::<()>();
/// assert!(timeout(Duration::from_millis(5), slow).await.is_err());
/// # });
/// ```
///
/// The outermost expired timeout wins over an inner one's fallback:
///
/// ```
/// use corral::time::timeout;
/// use futures::FutureExt;
/// use std::time::Duration;
/// # futures::executor::block_on(async {
/// let op = async {
///     corral::time::sleep(Duration::from_millis(1)).await; // both clocks start
///     std::thread::sleep(Duration::from_millis(30)); // both deadlines pass
///     std::future::pending::<u32>().await
/// };
/// let with_fallback = timeout(Duration::from_millis(20), op).map(|r| r.unwrap_or(0));
/// assert!(timeout(Duration::from_millis(10), with_fallback).await.is_err());
/// # });
/// ```
#[inline]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(future.into_future(), TimerSlot::after(duration))
}

/// Runs `future`, giving up at `deadline`.
///
/// As [`timeout`], with a fixed instant: a deadline in the past still lets a
/// future that is ready at once return `Ok`. Any past instant is kept
/// exactly, however long ago; one more than 73 years after the first timer
/// of the process may be beyond corral's clock, and then never fires (see
/// [`sleep_until`](super::sleep_until#range)).
///
/// # Cancel safety
///
/// As [`timeout`](timeout#cancel-safety): as cancel safe as `future`.
///
/// # Examples
///
/// ```
/// use corral::time::timeout_at;
/// use std::time::{Duration, Instant};
/// # futures::executor::block_on(async {
/// let deadline = Instant::now() + Duration::from_millis(5);
/// let slow = corral::time::sleep(Duration::from_secs(60));
/// assert!(timeout_at(deadline, slow).await.is_err());
/// assert!(Instant::now() >= deadline);
/// # });
/// ```
#[inline]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(future.into_future(), TimerSlot::at(deadline))
}

pin_project! {
    /// The future [`timeout`], [`timeout_at`] and [`TimeoutExt`] return.
    ///
    /// One word bigger than the future it wraps, plus alignment padding: its
    /// timer lives in corral's wheel only while it is armed, and dropping the
    /// `Timeout` (from any thread) frees that entry at once.
    /// `size_of::<Timeout<Ready<()>>>()` is 16 bytes on 64-bit targets.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as the inner future: dropping it drops the inner future
    /// (in place, before the drop returns) and frees its timer; whatever the
    /// inner future loses by being dropped is lost, nothing more.
    ///
    /// # Panics
    ///
    /// Polling it again after it returned `Ready`.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        inner: Inner<F>,
        timer: TimerSlot,
    }
}

pin_project! {
    #[project = InnerProj]
    #[project_replace = InnerReplace]
    #[derive(Debug)]
    enum Inner<F> {
        Running { #[pin] future: F },
        Done,
    }
}

impl<F> Timeout<F> {
    #[inline]
    fn new(future: F, timer: TimerSlot) -> Self {
        Self {
            inner: Inner::Running { future },
            timer,
        }
    }

    /// Moves the deadline, earlier or later, before or after the first poll
    /// (asyncio's `Timeout.reschedule`). A deadline already past makes the
    /// next poll return `Err(Elapsed)` if it finds the future pending, or
    /// finished once the clock had started ([late
    /// completion](timeout#late-completion)).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::timeout;
    /// use std::time::{Duration, Instant};
    /// # futures::executor::block_on(async {
    /// let mut t = std::pin::pin!(timeout(Duration::from_secs(3600), std::future::pending::<()>()));
    /// t.as_mut().reset(Instant::now() + Duration::from_millis(5));
    /// assert!(t.await.is_err());
    /// # });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.project().timer.reset(deadline);
    }

    /// The deadline, once it is fixed: `None` for a [`timeout`] whose future
    /// has not yet returned `Pending` (its clock has not started) and for one
    /// that never fires. A zero duration that fired reports the instant its
    /// clock started (when it fired); a [`timeout_at`] reports its instant
    /// exactly, past or future.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::{timeout, timeout_at};
    /// use std::time::{Duration, Instant};
    /// # futures::executor::block_on(async {
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(timeout_at(at, async {}).deadline(), Some(at));
    /// assert_eq!(timeout(Duration::from_secs(1), async {}).deadline(), None);
    ///
    /// let before = Instant::now();
    /// let mut zero = std::pin::pin!(timeout(Duration::ZERO, std::future::pending::<()>()));
    /// assert!(zero.as_mut().await.is_err());
    /// assert!(zero.deadline().is_some_and(|at| at >= before));
    /// # });
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.timer.deadline()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let InnerProj::Running { future } = this.inner.as_mut().project() else {
            panic!("`Timeout` polled after completion");
        };
        // Past the deadline, the future is not polled again: whatever it
        // would give now stays where it is (a message in its channel, a value
        // in its set) instead of being taken only to be dropped. So of nested
        // timeouts whose deadlines have passed, the outermost reports, and a
        // late wake is `Elapsed`, not a lost value.
        // The same look registers our waker with an armed timer, so a
        // `Pending` below needs no second one.
        let armed = match this.timer.poll_passed(cx) {
            Some(Poll::Ready(())) => {
                this.inner.project_replace(Inner::Done);
                return Poll::Ready(expired());
            }
            Some(Poll::Pending) => true,
            None => false,
        };
        // The inner future sees this timeout's deadline (`current_deadline`);
        // `EXPIRED` says whether a timeout inside it reported its expiry.
        let slot: *const TimerSlot = &*this.timer;
        let outside = EXPIRED.replace(false);
        let polled = with_timer(slot, || future.poll(cx));
        let inside = EXPIRED.replace(outside);
        if let Poll::Ready(output) = polled {
            // Done in a poll that began in time: the output stands, even if
            // the poll ran past the deadline (a block that ends without
            // suspending keeps its result under asyncio and Trio too)...
            // unless it stems from an inner timeout's expiry and this
            // deadline has passed as well: then the outermost reports, and
            // what is dropped is the inner one's fallback.
            let late = this.timer.finish(inside);
            this.inner.project_replace(Inner::Done);
            return Poll::Ready(if late { expired() } else { Ok(output) });
        }
        if !armed {
            // Not armed yet (the first `Pending`, or after a `reset`): arm it.
            if let Poll::Ready(()) = this.timer.poll_elapsed(cx) {
                this.inner.project_replace(Inner::Done);
                return Poll::Ready(expired());
            }
        }
        // For the task tree, unless what it waits on said more.
        note_until(Wait::Timeout, || deadline_ns(this.timer.deadline()));
        Poll::Pending
    }
}

thread_local! {
    /// Set while a `Timeout` is polled if one inside it reported its expiry
    /// in that poll (see `Timeout::poll`).
    static EXPIRED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A timeout's `Err(Elapsed)`, recorded for the timeouts around it.
fn expired<T>() -> Result<T, Elapsed> {
    EXPIRED.set(true);
    Err(Elapsed)
}

/// `fut.timeout(duration)` and `fut.deadline(instant)`: [`timeout`] and
/// [`timeout_at`] as methods.
///
/// `Timeout` and [`Sleep`](super::Sleep) are futures too, so with this trait
/// in scope `t.deadline()` on one of them names this method, not their
/// deadline getter; write `Timeout::deadline(&t)` (or `Sleep::deadline(&s)`)
/// there.
///
/// # Examples
///
/// ```
/// use corral::time::TimeoutExt;
/// use std::time::{Duration, Instant};
/// # futures::executor::block_on(async {
/// assert_eq!(async { 1 }.timeout(Duration::from_secs(1)).await, Ok(1));
/// let never = std::future::pending::<()>();
/// assert!(never.deadline(Instant::now()).await.is_err());
/// # });
/// ```
pub trait TimeoutExt: Future + Sized {
    /// This future under a [`timeout`] of `duration`.
    ///
    /// # Cancel safety
    ///
    /// As [`timeout`](timeout#cancel-safety): as cancel safe as `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::TimeoutExt;
    /// # futures::executor::block_on(async {
    /// let r = async { "done" }.timeout(std::time::Duration::from_secs(1)).await;
    /// assert_eq!(r, Ok("done"));
    /// # });
    /// ```
    fn timeout(self, duration: Duration) -> Timeout<Self> {
        timeout(duration, self)
    }

    /// This future under a deadline, as [`timeout_at`].
    ///
    /// # Cancel safety
    ///
    /// As [`timeout`](timeout#cancel-safety): as cancel safe as `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::TimeoutExt;
    /// use std::time::{Duration, Instant};
    /// # futures::executor::block_on(async {
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(async { 2 }.deadline(deadline).await, Ok(2));
    /// # });
    /// ```
    fn deadline(self, deadline: Instant) -> Timeout<Self> {
        timeout_at(deadline, self)
    }
}

impl<F: Future> TimeoutExt for F {}
