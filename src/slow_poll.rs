//! Slow-poll warnings: finding the child that blocks its executor.
//!
//! A future that calls `std::thread::sleep`, blocking I/O or a long
//! computation inside `poll` stalls everything its executor thread runs, the
//! rest of its scope included. Turn the watch on for one scope
//! ([`Nursery::warn_slow_polls`](crate::Nursery::warn_slow_polls)) or for every
//! scope created afterwards ([`warn_slow_polls`]), and every child poll that
//! takes longer than the threshold is reported: where the child was spawned,
//! how long the poll took, and which scope it belongs to. Reports go to the
//! hook set with [`on_slow_poll`], or by default to `tracing` (feature
//! `tracing`, target `corral::slow_poll`) or standard error.
//!
//! Off, the watch costs a branch per child poll. On, it reads the clock once
//! per child poll (a poll's end is the next one's start within one turn of
//! the scope), plus once per turn. For thresholds well above the kernel's tick
//! (20 times its resolution, so 20 ms or more with a 1 ms tick, 80 ms with a
//! 4 ms one), on Linux and Android it reads `CLOCK_MONOTONIC_COARSE`, which
//! costs a few nanoseconds instead of tens; those reports are accurate to the
//! tick. Smaller thresholds, and other systems, use `Instant`.

use std::fmt;
use std::panic::Location;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One child poll that took longer than its scope's threshold.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// corral::on_slow_poll(move |report: &corral::SlowPoll| {
///     sink.lock().unwrap().push((report.spawned_at.line(), report.took));
/// });
/// # futures::executor::block_on(async {
/// corral::Nursery::new()
///     .warn_slow_polls(Duration::from_millis(5))
///     .scope(|s| async move {
///         s.spawn(async {
///             std::thread::sleep(Duration::from_millis(20)); // blocks the executor
///             Ok::<_, ()>(())
///         });
///         Ok(())
///     })
///     .await
///     .unwrap();
/// # });
/// let seen = seen.lock().unwrap();
/// assert_eq!(seen.len(), 1);
/// assert!(seen[0].1 >= Duration::from_millis(20));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SlowPoll {
    /// Where the child was spawned (`spawn` or `spawn_on`).
    pub spawned_at: &'static Location<'static>,
    /// Where its scope was opened.
    pub scope_at: &'static Location<'static>,
    /// How long the poll took: to the nanosecond for thresholds under 20
    /// kernel ticks, to within a tick for larger ones (see
    /// [`warn_slow_polls`]).
    pub took: Duration,
    /// The child runs on a runtime (`spawn_on`), not in its scope's poll.
    pub parallel: bool,
    /// The child's name, if it was spawned with one
    /// ([`Scope::spawn_named`](crate::Scope::spawn_named)).
    pub name: Option<&'static str>,
    /// The scope's name, if its nursery gave it one
    /// ([`Nursery::name`](crate::Nursery::name)).
    pub scope_name: Option<&'static str>,
}

impl fmt::Display for SlowPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "slow poll: {} child ",
            if self.parallel { "a parallel" } else { "a" }
        )?;
        if let Some(name) = self.name {
            write!(f, "`{}` ", name.escape_debug())?;
        }
        write!(f, "spawned at {} (scope ", self.spawned_at)?;
        if let Some(name) = self.scope_name {
            write!(f, "`{}` ", name.escape_debug())?;
        }
        write!(f, "opened at {}) took {:?}", self.scope_at, self.took)
    }
}

/// A scope's watch: its threshold and where it was opened.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watch {
    pub(crate) threshold: Duration,
    pub(crate) scope_at: &'static Location<'static>,
    /// Read the coarse clock (the threshold dwarfs its resolution).
    coarse: bool,
}

/// Nanoseconds on a monotonic clock: the virtual clock in force, else the
/// kernel's coarse one, or `Instant`'s.
#[inline]
fn now_ns(coarse: bool) -> u64 {
    if let Some(ns) = crate::time::virtual_now_ns() {
        return ns;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if coarse {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        return (t.tv_sec as u64).wrapping_mul(1_000_000_000) + t.tv_nsec as u64;
    }
    let _ = coarse;
    precise_ns()
}

/// Nanoseconds since the first call, by `Instant`.
fn precise_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    start.elapsed().as_nanos() as u64
}

/// The coarse clock's resolution, if there is one.
fn coarse_resolution() -> Option<Duration> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        static RES: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
        Some(*RES.get_or_init(|| {
            let r = rustix::time::clock_getres(rustix::time::ClockId::MonotonicCoarse);
            Duration::new(r.tv_sec as u64, r.tv_nsec as u32)
        }))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    None
}

/// Where a child is polled: by its scope, or by a runtime (a parallel
/// child, `spawn_on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// In its scope's poll loop.
    Local,
    /// On a runtime, as a parallel child.
    Parallel,
}

impl Watch {
    /// Runs `poll`, reporting it if it took longer than the threshold.
    #[inline]
    pub(crate) fn time<R>(
        &self,
        spawned_at: &'static Location<'static>,
        placement: Placement,
        poll: impl FnOnce() -> R,
    ) -> R {
        let mut clock = None;
        self.time_from(&mut clock, spawned_at, placement, poll)
    }

    /// The clock reading `time_from` takes as a turn's start.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        now_ns(self.coarse)
    }

    /// As [`time`](Self::time), for a run of polls back to back: `clock`
    /// holds the end of the previous poll (or `None`), taken as this one's
    /// start, and receives this one's end. One clock read per poll.
    #[inline]
    pub(crate) fn time_from<R>(
        &self,
        clock: &mut Option<u64>,
        spawned_at: &'static Location<'static>,
        placement: Placement,
        poll: impl FnOnce() -> R,
    ) -> R {
        let start = clock.unwrap_or_else(|| self.now());
        let out = poll();
        let end = self.now();
        *clock = Some(end);
        let took = Duration::from_nanos(end.saturating_sub(start));
        if took >= self.threshold {
            report(&SlowPoll {
                spawned_at,
                scope_at: self.scope_at,
                took,
                parallel: placement == Placement::Parallel,
                name: crate::names::name_of(spawned_at),
                scope_name: crate::names::name_of(self.scope_at),
            });
        }
        out
    }
}

/// The process-wide threshold in nanoseconds; 0 means off.
static DEFAULT_NS: AtomicU64 = AtomicU64::new(0);

type Hook = Box<dyn Fn(&SlowPoll) + Send + Sync>;
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Watches every scope opened from now on (that does not set its own
/// threshold) for child polls longer than `threshold`; `None` turns the
/// process-wide watch off again.
///
/// Each watched child poll reads the clock once. With a threshold of at
/// least 20 kernel ticks (20 ms with a 1 ms tick, 80 ms with a 4 ms one) on
/// Linux or Android, that is the kernel's coarse clock (a few nanoseconds a
/// read, accurate to the tick); otherwise `Instant` (tens of nanoseconds on
/// some virtual machines).
///
/// # Examples
///
/// ```
/// corral::warn_slow_polls(Some(std::time::Duration::from_millis(50)));
/// // ... every scope opened now reports polls over 50 ms ...
/// corral::warn_slow_polls(None);
/// ```
pub fn warn_slow_polls(threshold: Option<Duration>) {
    let ns = threshold.map_or(0, |t| t.as_nanos().clamp(1, u128::from(u64::MAX)) as u64);
    DEFAULT_NS.store(ns, Ordering::Relaxed);
}

/// Sends every slow-poll report to `hook` instead of the default (`tracing`
/// with the `tracing` feature, else standard error). The hook runs on the
/// thread that made the slow poll, right after it: keep it short.
///
/// # Examples
///
/// ```
/// corral::on_slow_poll(|report| eprintln!("corral: {report}"));
/// ```
pub fn on_slow_poll(hook: impl Fn(&SlowPoll) + Send + Sync + 'static) {
    *HOOK
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(hook));
}

/// The watch for a scope opened at `scope_at`: its own threshold, or the
/// process-wide one.
pub(crate) fn watch_for(
    own: Option<Duration>,
    scope_at: &'static Location<'static>,
) -> Option<Watch> {
    let threshold = own.or_else(|| match DEFAULT_NS.load(Ordering::Relaxed) {
        0 => None,
        ns => Some(Duration::from_nanos(ns)),
    })?;
    let coarse = coarse_resolution().is_some_and(|res| threshold >= res * 20);
    Some(Watch {
        threshold,
        scope_at,
        coarse,
    })
}

#[cold]
fn report(slow: &SlowPoll) {
    let hook = HOOK
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match &*hook {
        Some(hook) => hook(slow),
        None => default_report(slow),
    }
}

#[cfg(feature = "tracing")]
fn default_report(slow: &SlowPoll) {
    tracing::warn!(
        target: "corral::slow_poll",
        spawned_at = %slow.spawned_at,
        scope_at = %slow.scope_at,
        took = ?slow.took,
        parallel = slow.parallel,
        name = slow.name,
        scope_name = slow.scope_name,
        "slow poll: a child blocked its executor"
    );
}

#[cfg(not(feature = "tracing"))]
fn default_report(slow: &SlowPoll) {
    eprintln!("corral: {slow}");
}
