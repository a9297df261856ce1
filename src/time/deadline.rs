//! `current_deadline()`: the tightest deadline of every enclosing `Timeout`,
//! for the code being polled right now.
//!
//! Each `Timeout` pushes a frame (a pointer to its timer word) on the
//! per-thread frame stack (`crate::frame`) for the duration of its inner
//! future's poll, and pops it after: a thread-local swap per poll, nothing
//! else. Local children of a scope
//! are polled inside their scope's poll, so they see the frames of the
//! timeouts around the scope. A parallel child is polled on another thread, so
//! it carries the deadline in force where it was spawned as a fixed frame.
//! Nothing is computed until someone asks.

use std::time::Instant;

use super::shard::{NEVER_NS, Timers, from_ns};
use super::slot::{Bound, TimerSlot};
use crate::frame::{self, Deadline};

/// Runs `poll` with the timeout whose slot is `slot` as the innermost
/// enclosing deadline.
#[inline]
pub(crate) fn with_timer<R>(slot: *const TimerSlot, poll: impl FnOnce() -> R) -> R {
    frame::push(Deadline::Timer(slot.cast()), None, poll)
}

/// Reads a frame's timer slot.
///
/// # Safety
/// `slot` is a frame's `Deadline::Timer`: the slot of a `Timeout` whose
/// `poll` is running (it pushed the frame around its inner poll) and does
/// not touch the slot until the frame is popped.
#[inline]
unsafe fn bound(slot: *const ()) -> Bound {
    // SAFETY: per this function's contract; `with_timer` erased a
    // `*const TimerSlot`.
    unsafe { (*slot.cast::<TimerSlot>()).bound() }
}

/// The tightest enclosing deadline in nanoseconds since the epoch, or
/// [`NEVER_NS`]; one before the epoch counts as 0.
#[inline]
pub(crate) fn current_deadline_ns() -> u64 {
    let mut best = NEVER_NS;
    let mut now = None;
    frame::each_deadline(|deadline| {
        let ns = match deadline {
            Deadline::None => return,
            Deadline::Fixed(ns) => ns,
            // SAFETY: a live frame's timer (`each_deadline` walks only
            // frames still pushed).
            Deadline::Timer(slot) => match unsafe { bound(slot) } {
                Bound::At(ns) => ns,
                Bound::Before(_) => 0,
                Bound::After(duration) => {
                    // Not started yet: it starts now, at the latest.
                    let now = *now.get_or_insert_with(|| Timers::get().clock().now_ns());
                    now.saturating_add(duration).min(NEVER_NS)
                }
                Bound::Never => NEVER_NS,
            },
        };
        best = best.min(ns);
    });
    best
}

/// The earliest enclosing deadline from before the epoch, exactly, if any.
/// (Walked again only when the tightest deadline counts as 0, which it does
/// only at or before the epoch, decades ago: the common walk stays lean.)
#[cold]
fn current_deadline_before_epoch() -> Option<Instant> {
    let mut earliest: Option<Instant> = None;
    frame::each_deadline(|deadline| {
        if let Deadline::Timer(slot) = deadline {
            // SAFETY: as in `current_deadline_ns`.
            if let Bound::Before(deadline) = unsafe { bound(slot) } {
                earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
            }
        }
    });
    earliest
}

/// The tightest deadline of every [`timeout`](super::timeout) and
/// [`timeout_at`](super::timeout_at) around the code being polled right now,
/// if there is one.
///
/// A scope's children see the deadlines around their scope; a parallel child
/// ([`Scope::spawn_on`](crate::Scope::spawn_on)) sees the one in force where
/// it was spawned. So a child can hand its remaining budget to a request or a
/// query, as gRPC deadlines do. For a `timeout` whose clock has not started
/// (its future has not yet returned `Pending`), the deadline is counted from
/// now: never later than the one it will fix (the first poll may run on
/// before its first `Pending`, moving the deadline it fixes later still).
///
/// It costs nothing unless called: each `Timeout` poll pushes and pops one
/// thread-local pointer. A call walks the enclosing timeouts, reading the
/// clock if one of them has not started.
///
/// # Examples
///
/// ```
/// use corral::time::{current_deadline, timeout_at};
/// use std::time::{Duration, Instant};
/// # futures::executor::block_on(async {
/// assert_eq!(current_deadline(), None);
/// let deadline = Instant::now() + Duration::from_secs(5);
/// let seen = timeout_at(deadline, async {
///     corral::scope(|s| async move {
///         let child = s.spawn(async { Ok::<_, ()>(current_deadline()) });
///         Ok(child.await)
///     })
///     .await
/// })
/// .await;
/// assert_eq!(seen, Ok(Ok(Some(deadline))));
/// # });
/// ```
pub fn current_deadline() -> Option<Instant> {
    let ns = current_deadline_ns();
    if ns >= NEVER_NS {
        return None;
    }
    if ns == 0 {
        // At the epoch, or before it: report one from before it exactly, as
        // `deadline()` does.
        return current_deadline_before_epoch().or(Some(from_ns(0)));
    }
    Some(from_ns(ns))
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use crate::time::{timeout, timeout_at};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    /// Polls once; every future here is ready at once, so no timer is armed
    /// (which keeps this test free of I/O, for Miri).
    fn once<F: Future>(f: F) -> F::Output {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("not ready at once"),
        }
    }

    #[test]
    fn frames_nest_and_unwind() {
        assert_eq!(current_deadline(), None);
        let near = Instant::now() + Duration::from_secs(10);
        let far = near + Duration::from_secs(10);
        let seen = once(timeout_at(
            far,
            timeout_at(near, async { current_deadline() }),
        ));
        assert_eq!(seen, Ok(Ok(Some(near))));
        let fixed = frame::push(
            Deadline::Fixed(super::super::shard::to_ns(near)),
            None,
            || once(timeout_at(far, async { current_deadline() })),
        );
        assert_eq!(fixed, Ok(Some(near)));
        let lazy = once(timeout(Duration::from_secs(5), async {
            current_deadline()
        }));
        assert!(lazy.unwrap().is_some());
        let never = once(timeout(Duration::MAX, async { current_deadline() }));
        assert_eq!(never, Ok(None));
        assert_eq!(current_deadline(), None, "every frame was popped");
    }

    /// A deadline before the epoch is kept exactly, through resets away from
    /// it and back, and its table entry is given back.
    #[test]
    fn deadlines_before_the_epoch_are_exact_and_freed() {
        // Linux's `Instant` can go back centuries; elsewhere nothing lies
        // before the epoch.
        let Some(ancient) = Instant::now().checked_sub(Duration::from_secs(300 * 365 * 86_400))
        else {
            return;
        };
        let seen = once(timeout_at(ancient, async { current_deadline() }));
        assert_eq!(seen, Ok(Some(ancient)));
        {
            let mut t = pin!(timeout_at(ancient, async {}));
            assert_eq!(t.deadline(), Some(ancient));
            let later = ancient + Duration::from_secs(1);
            t.as_mut().reset(later);
            assert_eq!(t.deadline(), Some(later), "from one entry to another");
            let soon = Instant::now() + Duration::from_secs(5);
            t.as_mut().reset(soon);
            assert_eq!(t.deadline(), Some(soon), "out of the table");
            t.as_mut().reset(ancient);
            assert_eq!(t.deadline(), Some(ancient), "back into it");
            let other = timeout_at(ancient, async {});
            assert_eq!(once(t), Ok(()));
            drop(other);
        }
        assert!(
            crate::time::slot::before_epoch_is_empty(),
            "every entry given back"
        );
    }
}
