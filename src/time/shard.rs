//! Shards: a wheel behind a lock, plus the one backend timer that wakes it.
//!
//! Each thread arms its timers in "its" shard of the clock it arms on (threads
//! are dealt shards round robin; a clock has as many shards as cores, rounded
//! up to a power of two, at most 64), so arming and cancelling take an
//! uncontended lock. A timer keeps the shard it was armed in: polling or
//! dropping it on another thread locks that shard, which is what makes the
//! cross-thread paths correct.
//!
//! There is one set of shards for the process-wide backend (the default one or
//! `set_backend`'s), made at its first timer and kept for good, and one per
//! tokio runtime that arms timers (`tokio_backend.rs`), made as its threads
//! first arm. Every shard has an id in one table, which is what a timer's word
//! holds. A runtime's shards outlive it only as long as its timers do: once
//! the runtime has shut down and a shard's last timer is released, the shard
//! is closed and waits in a pool for the next runtime, under the same id. Its
//! `owner` says whose it is now, so an arm that raced the hand-over notices.
//!
//! A shard keeps at most one backend timer, armed for its earliest slot. It is
//! replaced only when a new deadline comes before it; a cancelled earliest timer
//! leaves it armed, and the spurious wake-up that follows just re-arms it.
//!
//! Foreign code (a backend's timer future, a task's waker, the clock) never
//! runs under the shard lock: the backend timer is taken out of the shard while
//! it is created and polled (`timer_out`), and anyone who needs it re-armed
//! meanwhile leaves a note (`rearm`) for the thread that has it. So a backend
//! that wakes synchronously, or fires on another thread mid-arm, cannot
//! deadlock or lose a wake-up. `loom_tests.rs` models this.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Wake, Waker};
use std::time::Instant;

use super::backend::{self, BackendSleep, Choice, TimerBackend};
pub(crate) use super::clock::{NEVER_NS, duration_ns, epoch, from_ns, to_ns};
#[cfg(feature = "tokio")]
use super::runtime_clock::RuntimeClock;
use super::virtual_core::{self, Core};
use super::wheel::{Inserted, TICK_NS, Wheel};
use crate::loom::{Mutex, MutexGuard};
use crate::wake_list::WakeList;

/// Where a shard reads the time and gets its backend timer.
#[derive(Clone)]
pub(crate) enum Clock {
    /// A process-wide backend: the default one, or `set_backend`'s.
    Backend(&'static dyn TimerBackend),
    /// One tokio runtime's driver, and the default backend once it is gone.
    #[cfg(feature = "tokio")]
    Runtime(Arc<RuntimeClock>),
    /// A virtual clock (`virtual_clock.rs`): time moves when told to.
    Virtual(Arc<Core>),
}

impl Clock {
    /// A clock on `backend` (for the loom models).
    #[cfg(corral_loom)]
    pub(crate) const fn new(backend: &'static dyn TimerBackend) -> Self {
        Self::Backend(backend)
    }

    pub(crate) fn now_ns(&self) -> u64 {
        match self {
            Self::Backend(backend) => to_ns(backend.now()),
            #[cfg(feature = "tokio")]
            Self::Runtime(runtime) => runtime.now_ns(),
            Self::Virtual(core) => core.now_ns(),
        }
    }

    fn sleep_until_tick(&self, tick: u64) -> BackendSleep {
        let deadline = from_ns(tick.saturating_mul(TICK_NS));
        match self {
            Self::Backend(backend) => backend.sleep_until(deadline),
            #[cfg(feature = "tokio")]
            Self::Runtime(runtime) => runtime.sleep_until(deadline),
            Self::Virtual(core) => core.sleep_until_ns(tick.saturating_mul(TICK_NS)),
        }
    }

    /// Whether this clock's runtime has shut down.
    fn is_dead(&self) -> bool {
        match self {
            Self::Backend(_) => false,
            #[cfg(feature = "tokio")]
            Self::Runtime(runtime) => runtime.is_dead(),
            Self::Virtual(core) => core.is_dead(),
        }
    }
}

/// `armed_at` when no backend timer is armed.
const UNARMED: u64 = u64::MAX;

/// `State::owner` of a shard kept for life (the process-wide backend's).
const FIXED: u64 = 0;
/// `State::owner` of a shard waiting in the pool.
const CLOSED: u64 = u64::MAX;

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
    /// The clock of the shard's present owner.
    clock: Clock,
    /// Whose shard it is: [`FIXED`], a runtime's serial, or [`CLOSED`].
    owner: u64,
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
    /// The clock of a shard kept for life, read without the lock; `None` for
    /// a runtime's shard, whose clock changes with its owner.
    fixed: Option<Clock>,
    /// Its id in the shard table.
    id: u32,
    state: Mutex<State>,
}

impl Shard {
    /// A shard kept for life on `clock` (for the loom models).
    #[cfg(corral_loom)]
    pub(crate) fn new(clock: &'static Clock) -> Self {
        Self::build(Some(clock.clone()), u32::MAX, clock.clone(), FIXED)
    }

    fn build(fixed: Option<Clock>, id: u32, clock: Clock, owner: u64) -> Self {
        Self {
            fixed,
            id,
            state: Mutex::new(State {
                wheel: Wheel::new(),
                timer: None,
                armed_at: UNARMED,
                timer_out: false,
                rearm: false,
                clock,
                owner,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is never held across foreign code, so a poisoned lock can
        // only come from a bug in the wheel; its data is still consistent
        // enough to keep timers firing rather than to cascade the panic.
        crate::loom::lock(&self.state)
    }

    /// Locks the shard, with a clock reading taken (outside the lock) from the
    /// clock of the owner the shard still has under it.
    fn lock_at_now(&self) -> (MutexGuard<'_, State>, u64) {
        if let Some(clock) = &self.fixed {
            let now_ns = clock.now_ns();
            return (self.lock(), now_ns);
        }
        loop {
            let (clock, owner) = {
                let state = self.lock();
                (state.clock.clone(), state.owner)
            };
            let now_ns = clock.now_ns();
            let state = self.lock();
            if state.owner == owner {
                return (state, now_ns);
            }
        }
    }

    /// Files a timer due at `deadline_ns` (`now_ns` was read for this arm).
    /// If the backend timer must move earlier, says so: the caller records
    /// its handle first and then calls [`kick`](Self::kick), so that a
    /// backend that panics while re-arming cannot orphan the entry.
    #[cfg(corral_loom)]
    pub(crate) fn arm(&self, deadline_ns: u64, now_ns: u64, waker: &Waker) -> Armed {
        self.arm_for(FIXED, deadline_ns, now_ns, waker)
            .expect("a shard kept for life")
    }

    /// [`arm`](Self::arm), if the shard still belongs to `owner`; `None` if it
    /// has changed hands since the caller picked it.
    fn arm_for(&self, owner: u64, deadline_ns: u64, now_ns: u64, waker: &Waker) -> Option<Armed> {
        let mut state = self.lock();
        if state.owner != owner {
            return None;
        }
        Some(match state.wheel.insert(deadline_ns, now_ns, waker) {
            Inserted::Due => Armed::Due,
            Inserted::Armed { index, tick } => Armed::At {
                index,
                kick: tick < state.armed_at,
            },
        })
    }

    /// The earliest tick the wheel needs processed, if any (a virtual
    /// clock's next jump).
    pub(crate) fn next_tick(&self) -> Option<u64> {
        self.lock().wheel.next_expiration()
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
        let (fired, old, closed) = if state.wheel.fired(index) {
            let deadline = state.wheel.deadline_ns(index);
            let old = state.wheel.remove(index);
            (Some(deadline), old, self.try_close(&mut state))
        } else {
            (None, state.wheel.set_waker(index, waker), None)
        };
        drop(state);
        drop(old);
        drop(closed);
        fired
    }

    /// Frees entry `index` (cancelling it if it has not fired); returns its
    /// deadline.
    pub(crate) fn release(&self, index: u32) -> u64 {
        self.release_locked(self.lock(), index)
    }

    /// Frees entry `index` as [`release`](Self::release) does, and says
    /// whether its deadline has passed by this shard's own clock (a paused
    /// runtime's virtual time for its shards): `(deadline, passed)`.
    pub(crate) fn release_passed(&self, index: u32) -> (u64, bool) {
        let (state, now_ns) = self.lock_at_now();
        let deadline = self.release_locked(state, index);
        (deadline, deadline <= now_ns)
    }

    /// As [`poll_entry`](Self::poll_entry), but an entry whose deadline has
    /// passed by this shard's own clock (a paused runtime's virtual time for
    /// its shards) counts as fired too: the wheel learns of a passed deadline
    /// only when it is driven. One lock, one clock read.
    pub(crate) fn poll_entry_passed(&self, index: u32, waker: &Waker) -> Option<u64> {
        let (mut state, now_ns) = self.lock_at_now();
        let deadline = state.wheel.deadline_ns(index);
        let (fired, old, closed) = if state.wheel.fired(index) || deadline <= now_ns {
            let old = state.wheel.remove(index);
            (Some(deadline), old, self.try_close(&mut state))
        } else {
            (None, state.wheel.set_waker(index, waker), None)
        };
        drop(state);
        drop(old);
        drop(closed);
        fired
    }

    fn release_locked(&self, mut state: MutexGuard<'_, State>, index: u32) -> u64 {
        let deadline = state.wheel.deadline_ns(index);
        let old = state.wheel.remove(index);
        let closed = self.try_close(&mut state);
        drop(state);
        drop(old);
        drop(closed);
        deadline
    }

    /// Entry `index`'s deadline in nanoseconds since the epoch.
    pub(crate) fn deadline_ns(&self, index: u32) -> u64 {
        self.lock().wheel.deadline_ns(index)
    }

    /// Moves entry `index` to `deadline_ns`.
    pub(crate) fn reschedule(self: &Arc<Self>, index: u32, deadline_ns: u64) {
        let (mut state, now_ns) = self.lock_at_now();
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

    /// The backend timer fired (or may have), or the clock's runtime shut
    /// down: process the wheel and arm a backend timer afresh.
    pub(crate) fn fire(self: &Arc<Self>) {
        let (state, now_ns) = self.lock_at_now();
        self.drive(state, Some(now_ns / TICK_NS));
    }

    /// Brings the wheel and the backend timer up to date, consuming the lock.
    ///
    /// With `fire` (the present, in ticks, read before the lock: the clock is
    /// foreign code too), the backend timer is known to have fired: the wheel
    /// is advanced to the present and the entries due are woken. Then, if the
    /// earliest filed slot comes before the armed backend timer, a new one is
    /// created and polled outside the lock, unless another thread has the
    /// timer out, in which case it is told to look again. A runtime's shard
    /// left empty after its runtime is gone is closed on the way out.
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
                    rearm = Some((state.timer.take(), state.clock.clone()));
                }
            }
            let closed = match rearm {
                None => self.try_close(&mut state),
                Some(_) => None,
            };
            drop(state);
            wake.wake_all();
            drop(closed);
            // The owner (and so the clock) cannot change while the timer is
            // out: a shard is closed only when no one has it out.
            let Some((old, clock)) = rearm else { break };
            let out = TimerOut(self);
            drop(old);
            let mut timer = clock.sleep_until_tick(want);
            let waker = Waker::from(Arc::clone(self));
            let ready = timer
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            fire = ready.then(|| clock.now_ns() / TICK_NS);
            std::mem::forget(out);
            state = self.lock();
            state.timer_out = false;
            state.timer = Some(timer);
            let rearm = std::mem::take(&mut state.rearm);
            if fire.is_none() && !rearm {
                let closed = self.try_close(&mut state);
                drop(state);
                drop(closed);
                break;
            }
        }
    }

    /// Closes a runtime's shard once its runtime is gone and nothing is left
    /// in it: the returned [`Closed`], dropped after the lock, puts it in the
    /// pool.
    fn try_close(&self, state: &mut State) -> Option<Closed> {
        if self.fixed.is_some()
            || state.wheel.live() != 0
            || state.timer_out
            || state.owner == CLOSED
            || !state.clock.is_dead()
        {
            return None;
        }
        state.owner = CLOSED;
        Some(Closed {
            timer: state.timer.take(),
            // Let the runtime's handle go (it keeps the runtime's drivers'
            // resources) while the shard waits in the pool.
            _clock: std::mem::replace(&mut state.clock, Clock::Backend(&Idle)),
            id: self.id,
        })
    }

    /// Hands a closed shard from the pool to a new owner.
    fn reopen(&self, clock: Clock, owner: u64) {
        let mut state = self.lock();
        debug_assert!(state.owner == CLOSED && state.wheel.live() == 0 && !state.timer_out);
        // The old owner's clock may have run ahead of the new one (a paused
        // runtime): start the wheel afresh.
        state.wheel = Wheel::new();
        state.armed_at = UNARMED;
        state.clock = clock;
        state.owner = owner;
    }

    /// Entries allocated, fired or not (for tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn live(&self) -> usize {
        self.lock().wheel.live()
    }

    /// Whether the shard still belongs to `owner` (for tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn belongs_to(&self, owner: u64) -> bool {
        self.lock().owner == owner
    }

    /// Whether the shard waits in the pool (for tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().owner == CLOSED
    }

    /// Whether any timer is waiting in this shard (for the loom models).
    #[cfg(corral_loom)]
    pub(crate) fn has_pending(&self) -> bool {
        self.lock().wheel.has_pending()
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

/// A shard just closed: its last backend timer and its old clock, dropped
/// outside the lock, and its id, given back to the pool after that.
struct Closed {
    timer: Option<BackendSleep>,
    _clock: Clock,
    id: u32,
}

impl Drop for Closed {
    fn drop(&mut self) {
        drop(self.timer.take());
        give_back(self.id);
    }
}

/// The clock of a shard in the pool: only a stray wake-up from a backend
/// timer it had can reach it, and finds its wheel empty.
struct Idle;

impl TimerBackend for Idle {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, _: Instant) -> BackendSleep {
        Box::pin(std::future::ready(()))
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

const CHUNK: usize = 64;
const CHUNKS: usize = 4096;

/// [`CHUNK`] slots of the shard table.
type Chunk = [OnceLock<Arc<Shard>>; CHUNK];

/// Every shard ever made, by id, in chunks made as needed. A slot is filled
/// once and never emptied (a closed shard serves its next owner under the
/// same id), so a timer's id always finds its shard without a lock.
static TABLE: [OnceLock<Box<Chunk>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];

/// Ids handed out so far, and the closed shards waiting for an owner.
struct Pool {
    next: u32,
    closed: Vec<u32>,
}

static POOL: std::sync::Mutex<Pool> = std::sync::Mutex::new(Pool {
    next: 0,
    closed: Vec::new(),
});

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    crate::util::lock(&POOL)
}

/// A shard for `owner` on `clock`, from the pool or new (kept for life if
/// `owner` is [`FIXED`]). `None` once the table is full, which takes a
/// quarter of a million shards in use at once.
pub(crate) fn open_shard(clock: Clock, owner: u64) -> Option<u32> {
    let mut pool = pool();
    if owner != FIXED {
        if let Some(id) = pool.closed.pop() {
            table(id).reopen(clock, owner);
            return Some(id);
        }
    }
    let id = pool.next;
    if id as usize >= CHUNK * CHUNKS {
        return None;
    }
    pool.next += 1;
    let chunk =
        TABLE[id as usize / CHUNK].get_or_init(|| Box::new([const { OnceLock::new() }; CHUNK]));
    let fixed = (owner == FIXED).then(|| clock.clone());
    let shard = Arc::new(Shard::build(fixed, id, clock, owner));
    assert!(chunk[id as usize % CHUNK].set(shard).is_ok(), "a fresh id");
    Some(id)
}

/// A fresh owner for shards that are not kept for life (a tokio runtime's,
/// a virtual clock's): never [`FIXED`] nor [`CLOSED`].
pub(crate) fn next_owner() -> u64 {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// How many shard ids were ever handed out (for tests).
#[cfg(all(test, not(corral_loom)))]
pub(crate) fn pool_size() -> u32 {
    pool().next
}

/// Puts closed shard `id` in the pool.
fn give_back(id: u32) {
    if id != u32::MAX {
        pool().closed.push(id);
    }
}

/// The shard with id `id`.
fn table(id: u32) -> &'static Arc<Shard> {
    TABLE[id as usize / CHUNK]
        .get()
        .and_then(|chunk| chunk[id as usize % CHUNK].get())
        .expect("corral::time: a timer's shard id names a shard")
}

/// How many shards a clock has: cores rounded up to a power of two, at most
/// 64.
pub(crate) fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .next_power_of_two()
            .min(64)
    })
}

/// This thread's place among a clock's shards (dealt round robin), before
/// masking by [`shard_count`].
pub(crate) fn thread_index() -> usize {
    thread_local! {
        static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    MINE.with(|mine| {
        let index = mine.get();
        if index != usize::MAX {
            return index;
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let index = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & (shard_count() - 1);
        mine.set(index);
        index
    })
}

/// The process-wide backend's shards, made at its first timer.
struct Global {
    backend: &'static dyn TimerBackend,
    shards: Box<[u32]>,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let backend = backend::global();
        let shards = (0..shard_count())
            .map(|_| open_shard(Clock::Backend(backend), FIXED).expect("an empty table"))
            .collect();
        Global { backend, shards }
    })
}

/// Where a timer being armed on this thread goes, and its clock.
pub(crate) struct Local {
    shard: u32,
    owner: u64,
    now: Now,
}

/// How [`Local::now_ns`] reads the clock.
pub(crate) enum Now {
    Backend(&'static dyn TimerBackend),
    /// The tokio runtime this thread is in (its clock needs no `enter`).
    #[cfg(feature = "tokio")]
    InRuntime,
    /// A tokio runtime this thread is not in.
    #[cfg(feature = "tokio")]
    #[cfg_attr(feature = "async-io", allow(dead_code))]
    Runtime(Arc<RuntimeClock>),
    /// A virtual clock.
    Virtual(Arc<Core>),
}

impl Local {
    pub(crate) fn new(shard: u32, owner: u64, now: Now) -> Self {
        Self { shard, owner, now }
    }

    /// The id of the shard picked (for tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn shard(&self) -> u32 {
        self.shard
    }

    /// The process-wide backend's shard for this thread.
    pub(crate) fn global() -> Self {
        let global = global();
        let shard = global.shards[thread_index() & (global.shards.len() - 1)];
        Self::new(shard, FIXED, Now::Backend(global.backend))
    }

    /// The time now on this timer's clock.
    pub(crate) fn now_ns(&self) -> u64 {
        match &self.now {
            Now::Backend(backend) => to_ns(backend.now()),
            #[cfg(feature = "tokio")]
            Now::InRuntime => to_ns(tokio::time::Instant::now().into_std()),
            #[cfg(feature = "tokio")]
            Now::Runtime(clock) => clock.now_ns(),
            Now::Virtual(core) => core.now_ns(),
        }
    }

    /// Files a timer (see [`Shard::arm`]); returns the id of the shard it
    /// went to. If the runtime's shard changed hands since it was picked (the
    /// runtime shut down meanwhile), the process-wide backend takes it.
    pub(crate) fn arm(&self, deadline_ns: u64, now_ns: u64, waker: &Waker) -> (u32, Armed) {
        if let Some(armed) = table(self.shard).arm_for(self.owner, deadline_ns, now_ns, waker) {
            return (self.shard, armed);
        }
        let global = Self::global();
        let armed = table(global.shard)
            .arm_for(FIXED, deadline_ns, now_ns, waker)
            .expect("a shard kept for life");
        (global.shard, armed)
    }
}

/// The time now by the clock a timer armed here would use, read without
/// arming anything (a virtual clock in force; else tokio's clock inside a
/// runtime, and outside one, where it is the system's, like the default
/// backend's).
pub(crate) fn now() -> Instant {
    if let Some(ns) = virtual_core::now_in_force() {
        return from_ns(ns);
    }
    match backend::choice() {
        Choice::Custom(backend) => backend.now(),
        #[cfg(feature = "tokio")]
        _ => tokio::time::Instant::now().into_std(),
        #[cfg(not(feature = "tokio"))]
        _ => backend::global().now(),
    }
}

/// The timer shards of the process: the way to them from a timer's id, and
/// to the one a timer armed here goes to.
pub(crate) struct Timers(());

/// The present clock, for reading the time (see [`now`]).
pub(crate) struct PresentClock(());

impl PresentClock {
    pub(crate) fn now_ns(&self) -> u64 {
        to_ns(now())
    }
}

impl Timers {
    pub(crate) fn get() -> &'static Timers {
        static TIMERS: Timers = Timers(());
        &TIMERS
    }

    /// The clock a timer armed here would read.
    pub(crate) fn clock(&self) -> PresentClock {
        PresentClock(())
    }

    /// The shard with id `index`.
    pub(crate) fn shard(&self, index: usize) -> &'static Arc<Shard> {
        table(index as u32)
    }

    /// Entries allocated across the process-wide backend's shards (for
    /// tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn live(&self) -> usize {
        global().shards.iter().map(|&id| table(id).live()).sum()
    }
}
