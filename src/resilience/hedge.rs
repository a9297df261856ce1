//! `hedge`: a second attempt started only when the first is slow, the first
//! result of the two kept and the other attempt dropped in place.
//!
//! Both attempts live inline in the [`Hedge`] future, with the [`Sleep`]
//! that decides when the second starts: no task is spawned, no abort handle
//! is needed (the loser is dropped before the `Hedge` returns) and nothing is
//! allocated. The attempts are polled in the `Hedge`'s own poll, so they see
//! its context, its deadlines and its span, as any awaited future does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::time::{Sleep, sleep};

/// Runs `make_attempt()`, and if that attempt is still running after
/// `after`, a second `make_attempt()` beside it; returns the output of the
/// first of the two to finish and drops the other, in place, before it
/// returns (gRPC's and Polly's hedging with two attempts, "The Tail at
/// Scale"'s hedged requests).
///
/// Whatever the first attempt returns before `after` is returned as it is,
/// a failure included: a failure is not hedged (retry it with
/// [`retry`](super::retry) around the hedge if it should be). Once the second
/// attempt has started, the first output of either attempt wins, whatever it
/// is; when both are ready in the same poll, the first attempt's wins.
///
/// `after` counts from the first poll, when the first attempt is made. A
/// zero `after` starts the second attempt in that first poll, as soon as the
/// first attempt has returned `Pending` (a first attempt ready at once
/// still never hedges): both race from the start, like gRPC's
/// `hedgingDelay` of `0s`. An `after` too long for the clock, such as
/// [`Duration::MAX`], never hedges: the `Hedge` is then the first attempt
/// alone, without a timer, as a [`sleep`] of that length never ends; a
/// configuration can turn hedging off that way.
///
/// # Panics
///
/// Polling the future again after it resolved panics.
///
/// # Cancel safety
///
/// As cancel safe as one attempt: dropping the [`Hedge`] drops the attempts
/// still running, in place, before the drop returns. No output is lost: the
/// first one ends the hedge.
///
/// # Examples
///
/// ```
/// use corral::resilience::hedge;
/// use std::time::Duration;
/// # futures::executor::block_on(async {
/// let mut made = 0;
/// let fetched = hedge(Duration::from_millis(5), || {
///     made += 1;
///     let replica = made;
///     async move {
///         if replica == 1 {
///             std::future::pending::<()>().await; // a stuck replica
///         }
///         replica
///     }
/// })
/// .await;
/// assert_eq!(fetched, 2, "the hedge answered; the stuck attempt was dropped");
/// # });
/// ```
pub fn hedge<F, Fut>(after: Duration, make_attempt: F) -> Hedge<F, Fut>
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    Hedge {
        make_attempt,
        after: sleep(after),
        phase: Phase::Start,
        first: None,
        second: None,
    }
}

pin_project! {
    /// The future [`hedge`] returns.
    ///
    /// It holds both attempts inline (the second only once it has started)
    /// and the one-word [`Sleep`] for the delay: no allocation of its own.
    ///
    /// # Cancel safety
    ///
    /// See [`hedge`](hedge#cancel-safety).
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Hedge<F, Fut> {
        make_attempt: F,
        after: Sleep,
        phase: Phase,
        #[pin]
        first: Option<Fut>,
        #[pin]
        second: Option<Fut>,
    }
}

/// Where a [`Hedge`] is: both attempt slots are empty at `Start` and `Done`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Start,
    // The first attempt runs; the second too once `second` is `Some`.
    Running,
    Done,
}

impl<F, Fut> Future for Hedge<F, Fut>
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    type Output = Fut::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        let mut this = self.project();
        match *this.phase {
            Phase::Start => {
                this.first.set(Some((this.make_attempt)()));
                *this.phase = Phase::Running;
            }
            Phase::Running => {}
            Phase::Done => panic!("corral: hedge polled after completion"),
        }
        if let Some(first) = this.first.as_mut().as_pin_mut() {
            if let Poll::Ready(out) = first.poll(cx) {
                return Poll::Ready(finish(this.phase, this.first, this.second, out));
            }
        }
        if this.second.is_none() {
            // The timer is armed only here, once the first attempt has
            // returned `Pending`: a first attempt ready at once reads no clock.
            if Pin::new(&mut *this.after).poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.second.set(Some((this.make_attempt)()));
        }
        if let Some(second) = this.second.as_mut().as_pin_mut() {
            if let Poll::Ready(out) = second.poll(cx) {
                return Poll::Ready(finish(this.phase, this.first, this.second, out));
            }
        }
        Poll::Pending
    }
}

/// Drops both attempt slots (the loser still runs in one of them) in place,
/// then hands out the winner's output.
fn finish<Fut, T>(
    phase: &mut Phase,
    mut first: Pin<&mut Option<Fut>>,
    mut second: Pin<&mut Option<Fut>>,
    out: T,
) -> T {
    *phase = Phase::Done;
    first.set(None);
    second.set(None);
    out
}

impl<F, Fut> fmt::Debug for Hedge<F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("after", &self.after)
            .field("phase", &self.phase)
            .field("hedged", &self.second.is_some())
            .finish_non_exhaustive()
    }
}
