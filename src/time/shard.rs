//! Shards: a wheel behind a lock, plus the one backend timer that wakes it.
//!
//! Each thread arms its timers in "its" shard (threads are dealt shards round
//! robin; there are as many shards as cores, rounded up to a power of two, at
//! most 64), so arming and cancelling take an uncontended lock. A timer keeps
//! the shard it was armed in: polling or dropping it on another thread locks
//! that shard, which is what makes the cross-thread paths correct.
//!
//! A shard keeps at most one backend timer, armed for its earliest slot. It is
//! replaced only when a new deadline comes before it; a cancelled earliest timer
//! leaves it armed, and the spurious wake-up that follows just re-arms it.
//!
//! Foreign code (a backend's timer future, a task's waker) never runs under the
//! shard lock: the backend timer is taken out of the shard while it is created
//! and polled (`timer_out`), and anyone who needs it re-armed meanwhile leaves
//! a note (`rearm`) for the thread that has it. So a backend that wakes
//! synchronously, or fires on another thread mid-arm, cannot deadlock or lose
//! a wake-up. `loom_tests.rs` models this.

use std::cell::Cell;
use std::sync::{Arc, OnceLock, PoisonError};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use super::backend::{self, BackendSleep, TimerBackend};
use super::wheel::{Inserted, TICK_NS, Wheel};
use crate::loom::{Mutex, MutexGuard};
use crate::wake_list::WakeList;

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

/// A backend plus the epoch: reads the time as nanoseconds.
pub(crate) struct Clock {
    backend: &'static dyn TimerBackend,
}

impl Clock {
    pub(crate) const fn new(backend: &'static dyn TimerBackend) -> Self {
        Self { backend }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        to_ns(self.backend.now())
    }

    fn sleep_until_tick(&self, tick: u64) -> BackendSleep {
        self.backend
            .sleep_until(from_ns(tick.saturating_mul(TICK_NS)))
    }
}

/// `armed_at` when no backend timer is armed.
const UNARMED: u64 = u64::MAX;

struct State {
    wheel: Wheel,
    /// The backend timer, unless a thread has it out to re-arm it.
    timer: Option<BackendSleep>,
    /// The tick the backend timer is armed for, or [`UNARMED`].
    armed_at: u64,
    /// A thread is creating or polling the backend timer outside the lock.
    timer_out: bool,
    /// Someone needed the timer re-armed while it was out.
    rearm: bool,
}

/// What [`Shard::arm`] did.
pub(crate) enum Armed {
    /// Filed under this index; with `kick`, the backend timer must be moved
    /// earlier ([`Shard::kick`]).
    At { index: u32, kick: bool },
    /// Already due: the caller treats its timer as fired.
    Due,
}

/// One wheel and its backend timer.
pub(crate) struct Shard {
    clock: &'static Clock,
    state: Mutex<State>,
}

impl Shard {
    pub(crate) fn new(clock: &'static Clock) -> Self {
        Self {
            clock,
            state: Mutex::new(State {
                wheel: Wheel::new(),
                timer: None,
                armed_at: UNARMED,
                timer_out: false,
                rearm: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across foreign code, so a poisoned lock can
        // only come from a bug in the wheel; its data is still consistent
        // enough to keep timers firing rather than to cascade the panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Files a timer due at `deadline_ns` (`now_ns` was read for this arm).
    /// If the backend timer must move earlier, says so: the caller records
    /// its handle first and then calls [`kick`](Self::kick), so that a
    /// backend that panics while re-arming cannot orphan the entry.
    pub(crate) fn arm(&self, deadline_ns: u64, now_ns: u64, waker: &Waker) -> Armed {
        let mut state = self.lock();
        match state.wheel.insert(deadline_ns, now_ns, waker) {
            Inserted::Due => Armed::Due,
            Inserted::Armed { index, tick } => Armed::At {
                index,
                kick: tick < state.armed_at,
            },
        }
    }

    /// Re-arms the backend timer if the wheel's earliest slot needs it.
    pub(crate) fn kick(self: &Arc<Self>) {
        let state = self.lock();
        self.drive(state, None);
    }

    /// If entry `index` has fired, frees it and returns its deadline (in
    /// nanoseconds since the epoch); otherwise makes it wake `waker`.
    pub(crate) fn poll_entry(&self, index: u32, waker: &Waker) -> Option<u64> {
        let mut state = self.lock();
        let (fired, old) = if state.wheel.fired(index) {
            let deadline = state.wheel.deadline_ns(index);
            (Some(deadline), state.wheel.remove(index))
        } else {
            (None, state.wheel.set_waker(index, waker))
        };
        drop(state);
        drop(old);
        fired
    }

    /// Frees entry `index` (cancelling it if it has not fired); returns its
    /// deadline.
    pub(crate) fn release(&self, index: u32) -> u64 {
        let mut state = self.lock();
        let deadline = state.wheel.deadline_ns(index);
        let old = state.wheel.remove(index);
        drop(state);
        drop(old);
        deadline
    }

    /// Entry `index`'s deadline in nanoseconds since the epoch.
    pub(crate) fn deadline_ns(&self, index: u32) -> u64 {
        self.lock().wheel.deadline_ns(index)
    }

    /// Moves entry `index` to `deadline_ns`.
    pub(crate) fn reschedule(self: &Arc<Self>, index: u32, deadline_ns: u64) {
        let now_ns = self.clock.now_ns();
        let mut state = self.lock();
        match state.wheel.reschedule(index, deadline_ns, now_ns) {
            Ok(tick) => {
                if tick < state.armed_at {
                    self.drive(state, None);
                }
            }
            Err(waker) => {
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }

    /// The backend timer fired (or may have): process the wheel.
    fn fire(self: &Arc<Self>) {
        let now_tick = self.clock.now_ns() / TICK_NS;
        let state = self.lock();
        self.drive(state, Some(now_tick));
    }

    /// Brings the wheel and the backend timer up to date, consuming the lock.
    ///
    /// With `fire` (the present, in ticks, read before the lock: the clock is
    /// foreign code too), the backend timer is known to have fired: the wheel
    /// is advanced to the present and the entries due are woken. Then, if the
    /// earliest filed slot comes before the armed backend timer, a new one is
    /// created and polled outside the lock, unless another thread has the
    /// timer out, in which case it is told to look again.
    fn drive<'a>(self: &'a Arc<Self>, mut state: MutexGuard<'a, State>, mut fire: Option<u64>) {
        let mut wake = WakeList::new();
        loop {
            if let Some(now_tick) = fire {
                state.armed_at = UNARMED;
                state.wheel.advance(now_tick, &mut wake);
            }
            let want = state.wheel.next_expiration().unwrap_or(UNARMED);
            let mut rearm = None;
            if want < state.armed_at {
                if state.timer_out {
                    state.rearm = true;
                } else {
                    state.timer_out = true;
                    state.armed_at = want;
                    rearm = Some(state.timer.take());
                }
            }
            drop(state);
            wake.wake_all();
            let Some(old) = rearm else { break };
            let out = TimerOut(self);
            drop(old);
            let mut timer = self.clock.sleep_until_tick(want);
            let waker = Waker::from(Arc::clone(self));
            let ready = timer
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            fire = ready.then(|| self.clock.now_ns() / TICK_NS);
            std::mem::forget(out);
            state = self.lock();
            state.timer_out = false;
            state.timer = Some(timer);
            let rearm = std::mem::take(&mut state.rearm);
            if fire.is_none() && !rearm {
                break;
            }
        }
    }

    /// Whether any timer is waiting in this shard (for the loom models).
    #[cfg(corral_loom)]
    pub(crate) fn has_pending(&self) -> bool {
        self.lock().wheel.has_pending()
    }

    /// Entries allocated, fired or not (for tests).
    #[cfg(all(test, not(corral_loom), feature = "async-io"))]
    pub(crate) fn live(&self) -> usize {
        self.lock().wheel.live()
    }

    /// The tick the backend timer is armed for, if any (for the loom models).
    #[cfg(corral_loom)]
    pub(crate) fn armed_at(&self) -> Option<u64> {
        let state = self.lock();
        (state.armed_at != UNARMED).then_some(state.armed_at)
    }

    /// The earliest slot the wheel needs processed (for the loom models).
    #[cfg(corral_loom)]
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.lock().wheel.next_expiration()
    }
}

/// Puts a shard back in order if the backend panics while a thread has its
/// timer out: the next arm then arms afresh instead of leaving a note for a
/// thread that is gone, so a panicking backend cannot silently stop timers.
struct TimerOut<'a>(&'a Shard);

impl Drop for TimerOut<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.timer_out = false;
        state.armed_at = UNARMED;
    }
}

impl Wake for Shard {
    fn wake(self: Arc<Self>) {
        self.fire();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fire();
    }
}

/// The process-wide timer state: the clock and the shards.
pub(crate) struct Timers {
    clock: &'static Clock,
    shards: Box<[Arc<Shard>]>,
}

impl Timers {
    pub(crate) fn get() -> &'static Timers {
        static TIMERS: OnceLock<Timers> = OnceLock::new();
        TIMERS.get_or_init(|| {
            let clock: &'static Clock = Box::leak(Box::new(Clock::new(backend::installed())));
            let count = std::thread::available_parallelism()
                .map_or(1, usize::from)
                .next_power_of_two()
                .min(64);
            Timers {
                clock,
                shards: (0..count).map(|_| Arc::new(Shard::new(clock))).collect(),
            }
        })
    }

    /// Entries allocated across every shard (for tests).
    #[cfg(all(test, not(corral_loom), feature = "async-io"))]
    pub(crate) fn live(&self) -> usize {
        self.shards.iter().map(|s| s.live()).sum()
    }

    pub(crate) fn clock(&self) -> &'static Clock {
        self.clock
    }

    pub(crate) fn shard(&self, index: usize) -> &Arc<Shard> {
        &self.shards[index]
    }

    /// The shard this thread arms its timers in.
    pub(crate) fn local_shard(&self) -> usize {
        thread_local! {
            static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        MINE.with(|mine| {
            let index = mine.get();
            if index != usize::MAX {
                return index;
            }
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let index =
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & (self.shards.len() - 1);
            mine.set(index);
            index
        })
    }
}
