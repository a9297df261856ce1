//! The one word a `Sleep` or `Timeout` keeps for its timer.
//!
//! The two high bits say what the other 62 hold:
//!
//! | tag     | low 62 bits                         | meaning                                |
//! |---------|-------------------------------------|----------------------------------------|
//! | `AFTER` | a duration in ns                    | not started: the clock starts at the first `Pending` |
//! | `AT`    | a deadline in ns since the epoch    | deadline fixed, nothing armed          |
//! | `ARMED` | shard index << 32 \| entry index    | filed in a shard's wheel               |
//! | `NEVER` | all ones                            | no deadline (too far off to represent) |
//!
//! So a timer that is never armed costs one word and no clock read, and an
//! armed one points at its wheel entry, which lives in the shard's slab.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::shard::{Armed, NEVER_NS, Timers, duration_ns, from_ns, to_ns};

const TAG: u64 = 3 << 62;
const AFTER: u64 = 0;
const AT: u64 = 1 << 62;
const ARMED: u64 = 2 << 62;
const NEVER: u64 = u64::MAX;

/// What a timer's deadline is, without arming anything.
pub(crate) enum Bound {
    /// Fixed, in nanoseconds since the epoch.
    At(u64),
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
        Self::at_ns(to_ns(deadline))
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
            TAG => Poll::Pending,                        // NEVER
            AFTER if self.0 == AFTER => Poll::Ready(()), // a zero duration
            _ => self.arm(cx),
        }
    }

    fn arm(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // The clock and shards of the tokio runtime this thread is in, or the
        // process-wide backend's.
        let local = Timers::get().local();
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
        let ns = to_ns(deadline);
        if self.is_armed() {
            let (shard, index) = self.armed();
            let shard = Timers::get().shard(shard);
            if ns < NEVER_NS {
                shard.reschedule(index, ns);
                return;
            }
            shard.release(index);
        }
        // (Not `*self = ..`: that would drop, and so release, the old value.)
        self.0 = Self::at_ns(ns).into_raw();
    }

    /// The deadline, once fixed; `None` while a duration waits for its first
    /// poll and when there is none.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.bound() {
            Bound::At(ns) => Some(from_ns(ns)),
            Bound::After(_) | Bound::Never => None,
        }
    }

    /// The deadline as it stands: fixed, lazy or none.
    pub(crate) fn bound(&self) -> Bound {
        match self.0 & TAG {
            TAG => Bound::Never,
            AFTER => Bound::After(self.0 & !TAG),
            AT => Bound::At(self.0 & !TAG),
            _ => {
                let (shard, index) = self.armed();
                Bound::At(Timers::get().shard(shard).deadline_ns(index))
            }
        }
    }

    /// Cancels an armed timer now rather than at drop.
    #[inline]
    pub(crate) fn cancel(&mut self) {
        if self.is_armed() {
            self.release();
        }
    }

    #[inline]
    fn is_armed(&self) -> bool {
        self.0 & TAG == ARMED
    }

    fn armed(&self) -> (usize, u32) {
        (((self.0 & !TAG) >> 32) as usize, self.0 as u32)
    }

    fn release(&mut self) {
        let (shard, index) = self.armed();
        self.0 = AT | Timers::get().shard(shard).release(index);
    }
}

impl Drop for TimerSlot {
    #[inline]
    fn drop(&mut self) {
        if self.is_armed() {
            let (shard, index) = self.armed();
            Timers::get().shard(shard).release(index);
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
            .map(|i| TimerSlot::after(Duration::from_micros(i * 10)))
            .collect();
        for slot in &mut slots[1..] {
            assert!(poll(slot).is_pending(), "armed");
        }
        assert!(timers.live() >= 399);
        // Reset some, send the rest to other threads to be dropped or finished.
        slots[10].reset(Instant::now() + Duration::from_secs(500 * 365 * 86_400));
        slots[11].reset(Instant::now() - Duration::from_millis(1));
        slots[12].cancel();
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
