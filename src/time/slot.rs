//! The one word a `Sleep` or `Timeout` keeps for its timer.
//!
//! The two high bits say what the other 62 hold:
//!
//! | tag      | low 62 bits                         | meaning                                |
//! |----------|-------------------------------------|----------------------------------------|
//! | `AFTER`  | a duration in ns                    | not started: the clock starts at the first `Pending` |
//! | `AT`     | a deadline in ns since the epoch    | deadline fixed, nothing armed          |
//! | `ARMED`  | shard index << 32 \| entry index    | filed in a shard's wheel               |
//! | `NEVER`  | all ones                            | no deadline (too far off to represent) |
//! | `BEFORE` | an index into `BEFORE_EPOCH`        | a deadline before the epoch, kept exact |
//!
//! `NEVER` and `BEFORE` share the tag: `NEVER` is the one word with all 62
//! low bits set, which no `BEFORE` word has (its index is a `u32`).
//!
//! So a timer that is never armed costs one word and no clock read, and an
//! armed one points at its wheel entry, which lives in the shard's slab.
//!
//! # The window
//!
//! Nanoseconds in 62 bits span 146 years: from the epoch (73 years before
//! the first timer use, or less far back where the platform's `Instant`
//! cannot go back so far; see `shard::epoch`) to at least 73 years after
//! the first timer use. A deadline past the window's end is `NEVER`. A
//! deadline before the epoch has certainly passed (every clock reading comes
//! after the epoch), so it only needs keeping for `deadline()`: it goes into
//! a side table, whose lock only a program naming an instant decades in the
//! past ever takes. A clock that reads past the window's end (a paused tokio
//! clock advanced that far) reads as the end: a timer armed then has no
//! representable deadline and never fires (pinned in `tests/time_custom.rs`).
//! Lifting that would take a second word per timer or coarser deadlines; see
//! docs/semantics.md.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::shard::{Armed, NEVER_NS, Timers, duration_ns, epoch, from_ns};
use crate::util::slab::Slab;

const TAG: u64 = 3 << 62;
const AFTER: u64 = 0;
const AT: u64 = 1 << 62;
const ARMED: u64 = 2 << 62;
const NEVER: u64 = u64::MAX;

/// The deadlines of `BEFORE` words, each at the index its word holds.
///
/// std's lock, not the loom facade's: no protocol lives here for loom to
/// explore (a slot takes the lock alone, for one short step), and a loom
/// lock cannot be a `static`.
static BEFORE_EPOCH: std::sync::Mutex<Slab<Instant>> = std::sync::Mutex::new(Slab::new());

/// Whether every `BEFORE` entry has been given back (for tests).
#[cfg(all(test, not(corral_loom)))]
pub(crate) fn before_epoch_is_empty() -> bool {
    before_epoch().live() == 0
}

/// The table of `BEFORE` deadlines, locked.
fn before_epoch() -> std::sync::MutexGuard<'static, Slab<Instant>> {
    // Whatever panics under the lock (an index overflow, a stale index,
    // before any change) leaves the slab consistent.
    crate::util::lock(&BEFORE_EPOCH)
}

/// What a timer's deadline is, without arming anything.
pub(crate) enum Bound {
    /// Fixed, in nanoseconds since the epoch.
    At(u64),
    /// Fixed, before the epoch: passed.
    Before(Instant),
    /// Not started: this many nanoseconds after it starts.
    After(u64),
    Never,
}

/// A lazily armed timer handle. Dropping it cancels the timer.
#[derive(Debug)]
pub(crate) struct TimerSlot(u64);

impl TimerSlot {
    /// A timer due `d` after it is first armed.
    #[inline]
    pub(crate) const fn after(d: Duration) -> Self {
        match duration_ns(d) {
            NEVER_NS => Self(NEVER),
            ns => Self(AFTER | ns),
        }
    }

    /// A timer due at `deadline`.
    #[inline]
    pub(crate) fn at(deadline: Instant) -> Self {
        match deadline.checked_duration_since(epoch()) {
            Some(since) => Self::at_ns(duration_ns(since)),
            None => Self::before_epoch(deadline),
        }
    }

    /// A `BEFORE` word for `deadline`, which precedes the epoch.
    #[cold]
    fn before_epoch(deadline: Instant) -> Self {
        let index = before_epoch()
            .insert(deadline)
            .expect("corral::time: more than 4 billion deadlines before the epoch");
        Self(TAG | u64::from(index))
    }

    /// The deadline of a `BEFORE` word.
    #[cold]
    fn before_epoch_deadline(&self) -> Instant {
        before_epoch()[self.before_epoch_index()]
    }

    fn before_epoch_index(&self) -> u32 {
        debug_assert!(self.is_before_epoch());
        self.0 as u32
    }

    #[inline]
    fn is_before_epoch(&self) -> bool {
        self.0 & TAG == TAG && self.0 != NEVER
    }

    /// Gives a `BEFORE` word's index back; the caller overwrites the word
    /// next. (Each `BEFORE` word owns its index alone: `TimerSlot` is neither
    /// `Clone` nor `Copy`, and every path out of the state calls this once.)
    #[cold]
    fn free_before_epoch(&mut self) {
        let index = self.before_epoch_index();
        let mut table = before_epoch();
        table.remove(index);
        // All given back: free the memory, as an idle wheel does.
        table.release_if_idle(0);
    }

    fn at_ns(ns: u64) -> Self {
        if ns >= NEVER_NS {
            Self(NEVER)
        } else {
            Self(AT | ns)
        }
    }

    /// The state word, without running `Drop`.
    fn into_raw(self) -> u64 {
        std::mem::ManuallyDrop::new(self).0
    }

    /// `Ready` once the deadline has passed; arms the timer on the first call.
    /// After `Ready`, keeps answering `Ready` without arming anything.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.0 & TAG {
            ARMED => {
                let (shard, index) = self.armed();
                match Timers::get().shard(shard).poll_entry(index, cx.waker()) {
                    Some(deadline) => {
                        self.0 = AT | deadline;
                        Poll::Ready(())
                    }
                    None => Poll::Pending,
                }
            }
            TAG if self.0 == NEVER => Poll::Pending,
            // BEFORE: a deadline before the epoch, so before now.
            TAG => Poll::Ready(()),
            // A zero duration too: its deadline is now, read and kept for
            // `deadline()`.
            _ => self.arm(cx),
        }
    }

    fn arm(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // The clock and shards of the tokio runtime this thread is in, or the
        // process-wide backend's.
        let local = super::route::local();
        let now = local.now_ns();
        let deadline = match self.0 & TAG {
            AFTER => now + (self.0 & !TAG), // both < 2^62: no overflow
            _ => self.0 & !TAG,
        };
        if deadline >= NEVER_NS {
            self.0 = NEVER;
            return Poll::Pending;
        }
        self.0 = AT | deadline;
        if deadline <= now {
            return Poll::Ready(());
        }
        match local.arm(deadline, now, cx.waker()) {
            (shard, Armed::At { index, kick }) => {
                self.0 = ARMED | u64::from(shard) << 32 | u64::from(index);
                if kick {
                    Timers::get().shard(shard as usize).kick();
                }
                Poll::Pending
            }
            (_, Armed::Due) => Poll::Ready(()),
        }
    }

    /// Moves the deadline to `deadline`, re-arming an armed timer (even one
    /// that has fired) and leaving a lazy one lazy.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        let ns = deadline.checked_duration_since(epoch()).map(duration_ns);
        if self.is_armed() {
            let (shard, index) = self.armed();
            let shard = Timers::get().shard(shard);
            if let Some(ns @ ..NEVER_NS) = ns {
                shard.reschedule(index, ns);
                return;
            }
            shard.release(index);
        } else if self.is_before_epoch() {
            self.free_before_epoch();
        }
        // (Not `*self = ..`: that would drop, and so release, the old value.)
        self.0 = match ns {
            Some(ns) => Self::at_ns(ns),
            None => Self::before_epoch(deadline),
        }
        .into_raw();
    }

    /// The deadline, once fixed; `None` while a duration waits for its first
    /// poll and when there is none.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.bound() {
            Bound::At(ns) => Some(from_ns(ns)),
            Bound::Before(deadline) => Some(deadline),
            Bound::After(_) | Bound::Never => None,
        }
    }

    /// The deadline as it stands: fixed, lazy or none.
    pub(crate) fn bound(&self) -> Bound {
        match self.0 & TAG {
            TAG if self.0 == NEVER => Bound::Never,
            TAG => Bound::Before(self.before_epoch_deadline()),
            AFTER => Bound::After(self.0 & !TAG),
            AT => Bound::At(self.0 & !TAG),
            _ => {
                let (shard, index) = self.armed();
                Bound::At(Timers::get().shard(shard).deadline_ns(index))
            }
        }
    }

    /// For an armed timer: `Some(Ready)` if its deadline has passed by its
    /// shard's clock (fired or not; the timer is then done), else
    /// `Some(Pending)` with `cx`'s waker registered, under one lock and one
    /// clock read. `None` for a timer not armed yet: a timer is armed once
    /// its owner has returned `Pending`, so work that finishes in its first
    /// poll never pays for this. (One moved off `NEVER` by `reset` after its
    /// first `Pending` is not armed until its next one.)
    #[inline]
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        if !self.is_armed() {
            return None;
        }
        let (shard, index) = self.armed();
        let passed = Timers::get()
            .shard(shard)
            .poll_entry_passed(index, cx.waker());
        Some(match passed {
            Some(deadline) => {
                self.0 = AT | deadline;
                Poll::Ready(())
            }
            None => Poll::Pending,
        })
    }

    /// The timed work finished: cancels an armed timer now rather than at
    /// drop, keeping its deadline for `bound`; with `judge`, says whether the
    /// deadline had passed by then (one clock read, armed timers only).
    #[inline]
    pub(crate) fn finish(&mut self, judge: bool) -> bool {
        if !self.is_armed() {
            return false;
        }
        let (shard, index) = self.armed();
        let shard = Timers::get().shard(shard);
        let (deadline, passed) = if judge {
            shard.release_passed(index)
        } else {
            (shard.release(index), false)
        };
        self.0 = AT | deadline;
        passed
    }

    #[inline]
    fn is_armed(&self) -> bool {
        self.0 & TAG == ARMED
    }

    fn armed(&self) -> (usize, u32) {
        (((self.0 & !TAG) >> 32) as usize, self.0 as u32)
    }
}

impl Drop for TimerSlot {
    #[inline]
    fn drop(&mut self) {
        if self.is_armed() {
            let (shard, index) = self.armed();
            Timers::get().shard(shard).release(index);
        } else if self.is_before_epoch() {
            self.free_before_epoch();
        }
    }
}

#[cfg(all(test, not(corral_loom), feature = "async-io"))]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll(slot: &mut TimerSlot) -> Poll<()> {
        slot.poll_elapsed(&mut Context::from_waker(Waker::noop()))
    }

    /// Every path that ends a timer frees its wheel entry: completion,
    /// cancellation, reset to never, and drops on other threads, fired or not.
    /// (The only lib test that arms timers, so the global count is its own.)
    #[test]
    fn every_path_frees_the_entry() {
        let timers = Timers::get();
        let mut slots: Vec<TimerSlot> = (0..400u64)
            // A 200 ms head start: every timer is still pending when first
            // polled, even on a loaded machine or under a sanitizer.
            .map(|i| TimerSlot::after(Duration::from_millis(200) + Duration::from_micros(i * 10)))
            .collect();
        for slot in &mut slots[1..] {
            assert!(poll(slot).is_pending(), "armed");
        }
        assert!(timers.live() >= 399);
        // Reset some, send the rest to other threads to be dropped or finished.
        slots[10].reset(Instant::now() + Duration::from_secs(500 * 365 * 86_400));
        slots[11].reset(Instant::now() - Duration::from_millis(1));
        slots[12].finish(true);
        let chunks: Vec<Vec<TimerSlot>> = {
            let mut chunks = Vec::new();
            while !slots.is_empty() {
                let at = slots.len().saturating_sub(100);
                chunks.push(slots.split_off(at));
            }
            chunks
        };
        let threads: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(k, mut chunk)| {
                std::thread::spawn(move || {
                    if k % 2 == 0 {
                        // Wait for every timer here, on another thread.
                        for slot in &mut chunk {
                            while poll(slot).is_pending() {
                                std::thread::sleep(Duration::from_micros(200));
                            }
                        }
                    } else {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    drop(chunk);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(timers.live(), 0, "an entry leaked");
    }
}
