//! The time base of every timer: nanoseconds since corral's epoch, kept in
//! 62 bits so a timer's whole state fits in one word. Nothing here reads a
//! backend; `shard.rs` and the backends convert through these functions.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Nanosecond counts at or above this mean "never": deadlines and durations
/// are kept in 62 bits (146 years) so a timer's whole state fits in one word.
pub(crate) const NEVER_NS: u64 = 1 << 62;

/// The instant all timer arithmetic counts from: decades before the first
/// timer where the platform's `Instant` can go back that far, so any instant
/// a program names lies after it.
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = Instant::now();
        [73 * 365 * 86_400, 365 * 86_400, 86_400, 3_600, 60, 1, 0]
            .into_iter()
            .find_map(|secs| now.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(now)
    })
}

/// Nanoseconds from the epoch to `t`: 0 for an instant before it, [`NEVER_NS`]
/// for one too far after it.
pub(crate) fn to_ns(t: Instant) -> u64 {
    let d = t.saturating_duration_since(epoch());
    duration_ns(d)
}

/// A duration in nanoseconds, [`NEVER_NS`] if it is that long or longer.
pub(crate) const fn duration_ns(d: Duration) -> u64 {
    if d.as_secs() >= NEVER_NS / 1_000_000_000 {
        return NEVER_NS;
    }
    let ns = d.as_secs() * 1_000_000_000 + d.subsec_nanos() as u64;
    if ns >= NEVER_NS { NEVER_NS } else { ns }
}

/// The instant `ns` nanoseconds after the epoch.
pub(crate) fn from_ns(ns: u64) -> Instant {
    epoch() + Duration::from_nanos(ns)
}

/// A deadline in the timers' nanoseconds, for the task tree (`u64::MAX`
/// for none).
pub(crate) fn deadline_ns(deadline: Option<Instant>) -> u64 {
    deadline.map_or(u64::MAX, to_ns)
}
