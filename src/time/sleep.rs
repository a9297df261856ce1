//! `Sleep`: a future that completes at a deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::clock::deadline_ns;
use super::slot::TimerSlot;
use crate::wait_point::{Wait, note_until};

/// Waits until `duration` has passed, counted from the first poll.
///
/// Like `await asyncio.sleep(...)`, the clock starts when the sleep is first
/// awaited, not when it is created. It is never early; it may be late by the
/// wheel's resolution (1 ms) plus the backend's own lateness. A duration too
/// long for the clock to represent (such as [`Duration::MAX`]) never elapses.
///
/// # Cancel safety
///
/// Cancel safe: dropping the [`Sleep`] frees its timer and loses nothing
/// else (a sleep dropped and made again starts its clock again, though).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # futures::executor::block_on(async {
/// let start = Instant::now();
/// corral::time::sleep(Duration::from_millis(10)).await;
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// # });
/// ```
#[inline]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        timer: TimerSlot::after(duration),
    }
}

/// Waits until `deadline`.
///
/// A deadline in the past completes on the first poll, without arming a timer.
///
/// # Range
///
/// corral counts time in nanoseconds, in 62 bits, from an epoch 73 years
/// before the first timer of the process (less far back where the
/// platform's `Instant` cannot go back so far): 146 years in all, reaching
/// at least 73 years past the first timer. A past deadline is kept exactly,
/// however long ago it was. A deadline beyond the range never fires, like
/// [`Duration::MAX`], and `deadline()` is `None`. So does every timer armed
/// while the clock reads beyond the range, which only a paused or
/// hand-driven clock can (a paused tokio clock advanced that far, a custom
/// [`TimerBackend`](super::TimerBackend)); timers armed before the clock
/// got there fire, their deadlines having passed.
///
/// # Cancel safety
///
/// Cancel safe: dropping the [`Sleep`] frees its timer and loses nothing
/// else; a new `sleep_until` with the same deadline waits for the same
/// instant.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # futures::executor::block_on(async {
/// let deadline = Instant::now() + Duration::from_millis(10);
/// corral::time::sleep_until(deadline).await;
/// assert!(Instant::now() >= deadline);
/// # });
/// ```
#[inline]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        timer: TimerSlot::at(deadline),
    }
}

/// The future [`sleep`] and [`sleep_until`] return.
///
/// It is one word: its timer lives in corral's wheel only while it is armed,
/// and dropping it frees that entry at once. Once complete it stays complete
/// (polling again returns `Ready`) until [`reset`](Sleep::reset).
///
/// # Cancel safety
///
/// Cancel safe: dropping it frees its timer and loses nothing else: a new
/// `sleep_until` with the same deadline waits for the same instant.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    timer: TimerSlot,
}

impl Sleep {
    /// Moves the deadline, earlier or later, whether or not the sleep has
    /// started or completed (a completed sleep waits again). Like
    /// `tokio::time::Sleep::reset` and asyncio's `Timeout.reschedule`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # futures::executor::block_on(async {
    /// let start = Instant::now();
    /// let mut sleep = std::pin::pin!(corral::time::sleep(Duration::from_secs(3600)));
    /// sleep.as_mut().reset(start + Duration::from_millis(5));
    /// sleep.await;
    /// assert!(start.elapsed() < Duration::from_secs(3600));
    /// # });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().timer.reset(deadline);
    }

    /// The deadline, once it is fixed: `None` for a [`sleep`] not yet polled
    /// (its clock has not started) and for one that never elapses. A zero
    /// [`sleep`] reports the instant it was first polled, and a
    /// [`sleep_until`] its instant, exactly.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(corral::time::sleep_until(at).deadline(), Some(at));
    /// assert_eq!(corral::time::sleep(Duration::from_secs(1)).deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.timer.deadline()
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let timer = &mut self.get_mut().timer;
        let polled = timer.poll_elapsed(cx);
        if polled.is_pending() {
            note_until(Wait::Sleep, || deadline_ns(timer.deadline()));
        }
        polled
    }
}
