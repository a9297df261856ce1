//! Per-scope statistics (`Nursery::collect_stats`): counts of children by
//! what became of them, the peak of those running at once, and a sampled
//! histogram of child poll times.
//!
//! The scope's owner keeps every count (a load and a store, one writer)
//! but `spawned`, which spawns from any thread add to; a reader on any
//! thread derives the gauges from them. A scope that does not collect pays
//! one branch where a child is spawned, starts, is polled or ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One in this many child polls is timed (a clock read on each side).
const SAMPLE: u64 = 32;

/// Buckets of the poll-time histogram: under 1 µs, under 2 µs, ... under
/// 2^(BUCKETS - 2) µs, and the rest.
pub const POLL_BUCKETS: usize = 16;

/// What a scope counts (owner-written, read anywhere).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    spawned: AtomicU64,
    started: AtomicU64,
    finished: AtomicU64,
    failed: AtomicU64,
    dropped_started: AtomicU64,
    dropped_waiting: AtomicU64,
    peak: AtomicU64,
    polls: AtomicU64,
    timed: [AtomicU64; POLL_BUCKETS],
}

/// A count only the owner writes: a load and a store, no read-modify-write.
#[inline]
fn bump(count: &AtomicU64) {
    count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl Counters {
    /// A child was handed to the scope (from any thread).
    #[inline]
    pub(crate) fn spawned(&self) {
        self.spawned.fetch_add(1, Ordering::Relaxed);
    }

    /// A child started; `running` are running now, itself included.
    #[inline]
    pub(crate) fn started(&self, running: usize) {
        bump(&self.started);
        let running = running as u64;
        if running > self.peak.load(Ordering::Relaxed) {
            self.peak.store(running, Ordering::Relaxed);
        }
    }

    /// A started child returned `Ok`.
    #[inline]
    pub(crate) fn finished(&self) {
        bump(&self.finished);
    }

    /// A started child returned `Err` or panicked.
    #[inline]
    pub(crate) fn failed(&self) {
        bump(&self.failed);
    }

    /// A child was dropped unfinished, started or still waiting for its
    /// turn.
    #[inline]
    pub(crate) fn dropped(&self, started: bool) {
        bump(if started {
            &self.dropped_started
        } else {
            &self.dropped_waiting
        });
    }

    /// Runs a child's `poll`, timing one in `SAMPLE`.
    #[inline]
    pub(crate) fn poll<R>(&self, poll: impl FnOnce() -> R) -> R {
        let polls = self.polls.load(Ordering::Relaxed);
        self.polls.store(polls + 1, Ordering::Relaxed);
        if polls % SAMPLE != 0 {
            return poll();
        }
        let start = Instant::now();
        let out = poll();
        bump(&self.timed[bucket(start.elapsed())]);
        out
    }

    /// What they say now.
    pub(crate) fn snapshot(&self) -> ScopeStats {
        let load = |count: &AtomicU64| count.load(Ordering::Relaxed);
        let (spawned, started) = (load(&self.spawned), load(&self.started));
        let (finished, failed) = (load(&self.finished), load(&self.failed));
        let (dropped_started, dropped_waiting) =
            (load(&self.dropped_started), load(&self.dropped_waiting));
        ScopeStats {
            spawned,
            running: started.saturating_sub(finished + failed + dropped_started),
            queued: spawned.saturating_sub(started + dropped_waiting),
            peak_running: load(&self.peak),
            finished,
            failed,
            dropped: dropped_started + dropped_waiting,
            polls: load(&self.polls),
            poll_times: PollTimes {
                buckets: std::array::from_fn(|i| load(&self.timed[i])),
            },
        }
    }
}

/// The bucket of a poll that took `took`.
fn bucket(took: Duration) -> usize {
    let us = took.as_micros() as u64;
    // Under 1 µs: bucket 0; under 2^k µs: bucket k.
    ((u64::BITS - us.leading_zeros()) as usize).min(POLL_BUCKETS - 1)
}

/// A scope's statistics at one moment: [`Scope::stats`](crate::Scope::stats)
/// with [`Nursery::collect_stats`](crate::Nursery::collect_stats).
///
/// Children of the scope only (a nested scope keeps its own); a stream
/// map's items run inside one child, a pool, and are not counted one by
/// one. `spawned = queued + running + finished + failed + dropped`, up to
/// spawns on other threads racing the read.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let stats = corral::Nursery::new()
///     .collect_stats()
///     .scope(|s| async move {
///         for _ in 0..3 {
///             s.spawn(async { Ok(()) });
///         }
///         s.spawn(std::future::pending::<Result<(), ()>>()).abort();
///         corral::yield_now().await; // the scope's turn: three finish, one is dropped
///         Ok::<_, ()>(s.stats().unwrap())
///     })
///     .await
///     .unwrap();
/// assert_eq!((stats.spawned, stats.finished, stats.dropped), (4, 3, 1));
/// assert_eq!((stats.running, stats.queued, stats.failed), (0, 0, 0));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeStats {
    /// Children spawned into the scope.
    pub spawned: u64,
    /// Started (polled once) and not ended yet.
    pub running: u64,
    /// Spawned and not started yet (waiting for their turn under the limit,
    /// or for the scope's next turn).
    pub queued: u64,
    /// The most children running at once.
    pub peak_running: u64,
    /// Children that returned `Ok`.
    pub finished: u64,
    /// Children that returned `Err` or panicked.
    pub failed: u64,
    /// Children dropped unfinished (aborted, past a grace, after a failure),
    /// started or not.
    pub dropped: u64,
    /// Child polls.
    pub polls: u64,
    /// How long child polls took, one in 32 timed.
    pub poll_times: PollTimes,
}

/// A histogram of child poll times, sampled (one poll in 32 is timed):
/// bucket 0 counts polls under 1 µs, bucket `k` those from 2^(k-1) µs to
/// under 2^k µs, the last one everything longer.
///
/// # Examples
///
/// ```
/// let times = corral::PollTimes::default();
/// assert_eq!(times.sampled(), 0);
/// assert_eq!(times.buckets().len(), corral::POLL_BUCKETS);
/// assert_eq!(corral::PollTimes::upper_bound(0), Some(std::time::Duration::from_micros(1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollTimes {
    buckets: [u64; POLL_BUCKETS],
}

impl PollTimes {
    /// The count of each bucket.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(corral::PollTimes::default().buckets().iter().all(|&n| n == 0));
    /// ```
    pub fn buckets(&self) -> &[u64; POLL_BUCKETS] {
        &self.buckets
    }

    /// Polls timed.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::PollTimes::default().sampled(), 0);
    /// ```
    pub fn sampled(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The time under which the polls of bucket `i` took (`None` for the
    /// last bucket, and past it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(corral::PollTimes::upper_bound(3), Some(Duration::from_micros(8)));
    /// assert_eq!(corral::PollTimes::upper_bound(corral::POLL_BUCKETS - 1), None);
    /// ```
    pub fn upper_bound(i: usize) -> Option<Duration> {
        (i < POLL_BUCKETS - 1).then(|| Duration::from_micros(1 << i))
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_double() {
        assert_eq!(bucket(Duration::from_nanos(999)), 0);
        assert_eq!(bucket(Duration::from_micros(1)), 1);
        assert_eq!(bucket(Duration::from_micros(3)), 2);
        assert_eq!(bucket(Duration::from_micros(4)), 3);
        assert_eq!(bucket(Duration::from_secs(10)), POLL_BUCKETS - 1);
    }
}
