//! Rate limits: a [`Quota`] of cells per period with a burst, checked without
//! waiting ([`RateLimiter::try_acquire`]) or awaited ([`RateLimiter::acquire`])
//! in arrival order, for one stream of work or one per key
//! ([`KeyedRateLimiter`], one per host, say).
//!
//! # The cells: governor's GCRA
//!
//! Whether a cell is free is governor's decision, not ours: each limiter
//! (each key's, for the keyed one) holds a `governor::RateLimiter` over an
//! `InMemoryState`, one atomic word holding the GCRA's "theoretical arrival
//! time". A check is governor's `check`/`check_n`, a compare-and-swap on
//! that word, lock-free. governor reads the time through its `Clock` trait;
//! ours, [`CorralClock`], reads [`crate::time::now`], the clock a timer armed
//! here would use (a paused tokio runtime's, a virtual clock), so a limiter
//! counts time as the timers that it waits on do.
//!
//! # The queue: fairness governor does not give
//!
//! governor alone is not fair: a fresh `check` may take the cell a sleeping
//! waiter was waiting for. So each limiter keeps a FIFO of waiters (a slab
//! of [`Node`]s linked in arrival order, behind a mutex) and a `queued` flag:
//!
//! - **Only the head takes cells.** While anyone is queued, `try_acquire`
//!   and new `acquire`s stand aside (they read `queued`) and a new waiter
//!   joins the tail. The head checks governor under the queue's lock; refused,
//!   it sleeps on corral's timers until governor's earliest instant (the
//!   only timer a limiter has armed, however many wait); served, it leaves
//!   the queue and wakes the next, which becomes the head.
//! - **A cell is taken in the poll that returns `Ready`.** So a waiter
//!   dropped anywhere holds nothing to give back: it unlinks its node, and if
//!   it was the head, wakes the next one to take its turn.
//! - **The flag is a hint, the lock the truth.** A check that reads
//!   `queued` clear just before a waiter joins takes its cell first, as if
//!   it had come first, which it did (the waiter then waits for the next
//!   cell); once the flag is seen set, nobody barges.
//!
//! # Keys
//!
//! [`KeyedRateLimiter`] maps each key to an `Arc` of the same limiter core.
//! A key is *idle* once nothing holds its core but the map (no waiter) and
//! its cells have all come back (a fresh core would decide the same): then
//! it can be forgotten. The map sweeps idle keys when it grows to twice what
//! the last sweep left (and at least [`KeyedRateLimiter::SWEEP_MIN`]), so it
//! holds at most `max(SWEEP_MIN, 2 × busy keys at the last sweep)` entries,
//! at an amortized O(1) per new key.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::ops::{Add, Deref};
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};

use crate::time::{Sleep, sleep_until};
use crate::util::lock;
use crate::util::slab::{NIL, Slab};
use crate::wait_point::{Wait, note};
use crate::wake_list::WakeList;

/// How many cells a limiter lets through, and how fast they come back.
///
/// A quota is a *burst* (cells available at once, to a limiter that has
/// been idle) and a *replenish interval* (one cell comes back per
/// interval). `Quota::per_second(10)` is 10 a second, all 10 at once if
/// they have been saved up; `.allow_burst(1)` spaces them out evenly, one
/// every 100 ms. The same as governor's `Quota`, with plain integers.
///
/// # Panics
///
/// The constructors panic on a quota that lets nothing through (0 cells, a
/// burst of 0), on a zero interval (no limit at all), and on one whose
/// burst takes longer than [`Quota::MAX_REFILL`] to come back.
///
/// # Examples
///
/// ```
/// use corral::resilience::Quota;
/// use std::time::Duration;
/// let quota = Quota::per_second(10);
/// assert_eq!(quota.burst_size(), 10);
/// assert_eq!(quota.replenish_interval(), Duration::from_millis(100));
/// // Evenly spaced: never two within 100 ms.
/// assert_eq!(quota.allow_burst(1).burst_size(), 1);
/// // One every 2 seconds, up to 5 saved up.
/// let slow = Quota::with_period(Duration::from_secs(2)).allow_burst(5);
/// assert_eq!(slow.replenish_interval(), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    interval: Duration,
    burst: u32,
}

impl Quota {
    /// The longest a quota's whole burst may take to come back: 100 years.
    /// governor counts in 64-bit nanoseconds (584 years) and corral's timers
    /// in 62 bits (146 years); a century leaves room for the sums on top.
    pub const MAX_REFILL: Duration = Duration::from_secs(100 * 365 * 86_400);

    /// `n` cells a second, all `n` at once after a second's rest.
    ///
    /// The interval is `1 s / n` in whole nanoseconds (at least 1 ns: more
    /// than 10⁹ a second is 10⁹ a second).
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Quota;
    /// assert_eq!(Quota::per_second(4).replenish_interval().as_millis(), 250);
    /// ```
    pub const fn per_second(n: u32) -> Quota {
        if n == 0 {
            panic!("Quota::per_second(0): a rate of 0 lets nothing through; ask for at least 1");
        }
        Quota::spread(Duration::from_secs(1), n)
    }

    /// `n` cells a minute, all `n` at once after a minute's rest.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Quota;
    /// assert_eq!(Quota::per_minute(30).replenish_interval().as_secs(), 2);
    /// ```
    pub const fn per_minute(n: u32) -> Quota {
        if n == 0 {
            panic!("Quota::per_minute(0): a rate of 0 lets nothing through; ask for at least 1");
        }
        Quota::spread(Duration::from_secs(60), n)
    }

    /// `n` cells an hour, all `n` at once after an hour's rest.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Quota;
    /// assert_eq!(Quota::per_hour(60).replenish_interval().as_secs(), 60);
    /// ```
    pub const fn per_hour(n: u32) -> Quota {
        if n == 0 {
            panic!("Quota::per_hour(0): a rate of 0 lets nothing through; ask for at least 1");
        }
        Quota::spread(Duration::from_secs(3600), n)
    }

    /// One cell every `interval`, with a burst of 1 (raise it with
    /// [`allow_burst`](Quota::allow_burst)).
    ///
    /// # Panics
    ///
    /// If `interval` is zero, or longer than [`Quota::MAX_REFILL`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Quota;
    /// use std::time::Duration;
    /// let quota = Quota::with_period(Duration::from_millis(50));
    /// assert_eq!(quota.burst_size(), 1);
    /// ```
    pub const fn with_period(interval: Duration) -> Quota {
        if interval.is_zero() {
            panic!(
                "Quota::with_period(0s): a cell every 0 seconds is no limit; ask for a positive period"
            );
        }
        Quota::checked(Quota { interval, burst: 1 })
    }

    /// The same rate with a burst of `burst` cells: how many a limiter that
    /// has rested lets through at once.
    ///
    /// # Panics
    ///
    /// If `burst` is 0, or if `burst` intervals are longer than
    /// [`Quota::MAX_REFILL`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Quota;
    /// let quota = Quota::per_second(2).allow_burst(10);
    /// assert_eq!((quota.burst_size(), quota.replenish_interval().as_millis()), (10, 500));
    /// ```
    pub const fn allow_burst(self, burst: u32) -> Quota {
        if burst == 0 {
            panic!("Quota::allow_burst(0): a burst of 0 lets nothing through; the smallest is 1");
        }
        Quota::checked(Quota { burst, ..self })
    }

    /// How long one cell takes to come back.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Quota;
    /// assert_eq!(Quota::per_second(1).replenish_interval().as_secs(), 1);
    /// ```
    pub const fn replenish_interval(&self) -> Duration {
        self.interval
    }

    /// How many cells a rested limiter lets through at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Quota;
    /// assert_eq!(Quota::per_minute(3).burst_size(), 3);
    /// ```
    pub const fn burst_size(&self) -> u32 {
        self.burst
    }

    /// `n` cells per `period`, burst `n`.
    const fn spread(period: Duration, n: u32) -> Quota {
        let ns = period.as_nanos() / n as u128;
        let ns = if ns == 0 { 1 } else { ns as u64 };
        Quota::checked(Quota {
            interval: Duration::from_nanos(ns),
            burst: n,
        })
    }

    /// `quota`, if its burst comes back within [`Quota::MAX_REFILL`].
    const fn checked(quota: Quota) -> Quota {
        if quota.interval.as_nanos() * quota.burst as u128 > Quota::MAX_REFILL.as_nanos() {
            panic!(
                "Quota: the burst would take longer than Quota::MAX_REFILL (100 years) to come back"
            );
        }
        quota
    }

    /// The same quota in governor's terms.
    fn to_governor(self) -> governor::Quota {
        let burst = NonZeroU32::new(self.burst).expect("a quota's burst is at least 1");
        governor::Quota::with_period(self.interval)
            .expect("a quota's interval is positive")
            .allow_burst(burst)
    }
}

/// A refusal: no cell is free now.
///
/// # Examples
///
/// ```
/// use corral::resilience::{Quota, RateLimiter};
/// let limiter = RateLimiter::new(Quota::per_hour(1));
/// assert!(limiter.try_acquire().is_ok());
/// let refused = limiter.try_acquire().unwrap_err();
/// assert!(refused.wait_time() > std::time::Duration::from_secs(3000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    earliest: Instant,
}

impl RateLimited {
    /// No cell is free before this instant (by corral's clock, see
    /// [`crate::time`]). Asking again then may still be refused where others
    /// wait in the queue ahead, or asked meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_hour(1));
    /// limiter.try_acquire().unwrap();
    /// let refused = limiter.try_acquire().unwrap_err();
    /// assert!(refused.earliest_possible() > std::time::Instant::now());
    /// ```
    pub fn earliest_possible(&self) -> Instant {
        self.earliest
    }

    /// How long from now until [`earliest_possible`](Self::earliest_possible),
    /// zero if it has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_hour(1));
    /// limiter.try_acquire().unwrap();
    /// let wait = limiter.try_acquire().unwrap_err().wait_time();
    /// assert!(wait <= std::time::Duration::from_secs(3600));
    /// ```
    pub fn wait_time(&self) -> Duration {
        self.earliest.saturating_duration_since(crate::time::now())
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rate limited: no cell free yet")
    }
}

impl std::error::Error for RateLimited {}

/// governor's clock trait over corral's clock ([`crate::time::now`]).
#[derive(Debug, Clone, Copy, Default)]
struct CorralClock;

/// A reading of [`CorralClock`]: an `Instant`, with the arithmetic governor
/// asks of its instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Reading(Instant);

impl Clock for CorralClock {
    type Instant = Reading;

    #[inline]
    fn now(&self) -> Reading {
        Reading(crate::time::now())
    }
}

impl Add<Nanos> for Reading {
    type Output = Reading;

    /// Never past the process's clock range: governor adds at most the time
    /// since the limiter began plus a burst ([`Quota::MAX_REFILL`]).
    #[inline]
    fn add(self, nanos: Nanos) -> Reading {
        Reading(self.0 + Duration::from_nanos(nanos.as_u64()))
    }
}

impl Reference for Reading {
    /// Capped at 2⁶² ns (146 years, corral's timer range), so governor's
    /// sums on top stay inside 64 bits however far a virtual clock jumps.
    #[inline]
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(crate::time::duration_ns(
            self.0.saturating_duration_since(earlier.0),
        ))
    }

    /// governor's own rule for instants: `self` if the result would not
    /// exist.
    #[inline]
    fn saturating_sub(&self, nanos: Nanos) -> Self {
        let back = Duration::from_nanos(nanos.as_u64());
        Reading(self.0.checked_sub(back).unwrap_or(self.0))
    }
}

/// One queued waiter.
struct Node {
    /// Its task, to wake when it becomes the head. Taken by that wake; the
    /// waiter sets it again as it polls.
    waker: Option<Waker>,
    /// The node queued before this one, or [`NIL`].
    prev: u32,
    /// The node queued after this one, or [`NIL`].
    next: u32,
}

/// The waiters of one limiter, in arrival order.
///
/// # Invariants
///
/// `head`, `tail` and every node's `prev`/`next` are [`NIL`] or the index of
/// a node in `nodes`; every node in `nodes` is linked. A node is linked as it
/// is inserted ([`push`](Queue::push)) and unlinked as it is removed
/// ([`remove`](Queue::remove)); its waiter is the only one that removes it,
/// so the index a waiter keeps names its own node until then.
struct Queue {
    nodes: Slab<Node>,
    head: u32,
    tail: u32,
    /// The instant the head sleeps until, once it has checked: what a
    /// refused `try_acquire` reports while the queue is in the way.
    head_until: Option<Instant>,
}

impl Queue {
    const fn new() -> Self {
        Self {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            head_until: None,
        }
    }

    /// Queues a waiter at the tail; returns its node.
    fn push(&mut self, waker: &Waker) -> u32 {
        let node = Node {
            waker: Some(waker.clone()),
            prev: self.tail,
            next: NIL,
        };
        let index = self
            .nodes
            .insert(node)
            .expect("more than u32::MAX - 1 waiters on one rate limiter");
        match self.tail {
            NIL => self.head = index,
            tail => self.nodes[tail].next = index,
        }
        self.tail = index;
        index
    }

    /// Unlinks and frees node `index`. If it was the head, the new head's
    /// waker goes into `wake`: the turn passes to it.
    fn remove(&mut self, index: u32, wake: &mut WakeList) {
        let node = self.nodes.remove(index);
        match node.prev {
            NIL => {
                self.head = node.next;
                self.head_until = None;
                if node.next != NIL {
                    if let Some(waker) = self.nodes[node.next].waker.take() {
                        wake.push(waker);
                    }
                }
            }
            prev => self.nodes[prev].next = node.next,
        }
        match node.next {
            NIL => self.tail = node.prev,
            next => self.nodes[next].prev = node.prev,
        }
        // An idle limiter keeps no table of its busy past.
        self.nodes.release_if_idle(64);
    }

    /// Keeps `waker` in node `index`, to be woken when it becomes the head.
    fn set_waker(&mut self, index: u32, waker: &Waker) {
        let slot = &mut self.nodes[index].waker;
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

/// Panics unless `n` cells of `quota` could ever be free at once.
#[track_caller]
fn check_size(quota: Quota, n: u32) {
    if n > quota.burst {
        panic!(
            "asked a rate limiter for {n} cells at once, more than its burst of {}: it could never grant them",
            quota.burst
        );
    }
}

/// One limiter: governor's cell, and the queue in front of it.
struct Core {
    cells: governor::RateLimiter<NotKeyed, InMemoryState, CorralClock, NoOpMiddleware<Reading>>,
    quota: Quota,
    /// Someone is queued: the cells are the head's (see the module docs).
    /// Written under `queue`'s lock, read without it.
    queued: AtomicBool,
    queue: Mutex<Queue>,
}

impl Core {
    fn new(quota: Quota) -> Self {
        Self {
            cells: governor::RateLimiter::new(
                quota.to_governor(),
                InMemoryState::default(),
                CorralClock,
            ),
            quota,
            queued: AtomicBool::new(false),
            queue: Mutex::new(Queue::new()),
        }
    }

    /// Takes `n` cells (1 ≤ `n` ≤ burst) if governor has them now,
    /// whoever is queued.
    #[inline]
    fn take(&self, n: u32) -> Result<(), RateLimited> {
        let refused = if n == 1 {
            self.cells.check()
        } else {
            let n = NonZeroU32::new(n).expect("take(0) is answered before");
            self.cells
                .check_n(n)
                .expect("n is within the burst (check_size)")
        };
        refused.map_err(|not_until| RateLimited {
            earliest: not_until.earliest_possible().0,
        })
    }

    /// `try_acquire_n` (`n` checked already).
    #[inline]
    fn try_take(&self, n: u32) -> Result<(), RateLimited> {
        if n == 0 {
            return Ok(());
        }
        if !self.queued.load(Ordering::Acquire) {
            return self.take(n);
        }
        let queue = lock(&self.queue);
        if queue.is_empty() {
            // Emptied since the flag was read.
            drop(queue);
            return self.take(n);
        }
        Err(RateLimited {
            earliest: queue.head_until.unwrap_or_else(crate::time::now),
        })
    }

    /// Whether the map may forget this key's core: nobody else holds it (no
    /// waiter, no acquire future) and its whole burst is back, so a fresh
    /// core would decide the same. Called under the keyed map's lock, which
    /// every new holder passes through.
    fn is_idle(self: &Arc<Self>) -> bool {
        if Arc::strong_count(self) != 1 {
            return false;
        }
        // Taking the whole burst succeeds exactly when all of it is back;
        // the cells taken go with the core, which nobody else can reach.
        let burst = NonZeroU32::new(self.quota.burst).expect("a quota's burst is at least 1");
        matches!(self.cells.check_n(burst), Ok(Ok(())))
    }
}

/// A rate limiter: lets through at most a [`Quota`] of cells, in arrival
/// order, waiting on corral's timers.
///
/// - **Fair.** [`acquire`](Self::acquire) waits in a FIFO queue: a waiter
///   that came first gets the next cell first, and while anyone waits,
///   neither a new `acquire` nor [`try_acquire`](Self::try_acquire) takes a
///   cell ahead of it. (governor's own `until_ready` is not FIFO.)
/// - **Cancel safe.** A cell is taken only in the poll that returns `Ready`;
///   an `acquire` dropped while queued leaves the queue and passes its turn
///   to the next waiter. Nothing is lost.
/// - **On any runtime, on any clock.** Waiting is a [`sleep_until`] on
///   corral's timers, for the head of the queue only (one timer per limiter
///   however many wait), and the time is read from the same clock the
///   timers use ([`crate::time`]): a paused tokio runtime's, a virtual clock.
/// - **Cheap when uncontended.** `try_acquire` is one atomic load and
///   governor's GCRA check (a clock read and a compare-and-swap); no lock,
///   no allocation.
///
/// The algorithm is governor's GCRA; the same quota in governor would
/// decide the same cells, in the order checks come. Share a limiter between
/// tasks by reference or in an `Arc`. One per key: [`KeyedRateLimiter`].
///
/// # Examples
///
/// At most 2 a second, one at a time (burst 1): the second call waits for
/// the first's cell to come back, half a second after it, and the third
/// half a second more (exactly, on a virtual clock):
///
/// ```
/// use corral::resilience::{Quota, RateLimiter};
/// use corral::time::VirtualClock;
/// use std::time::Duration;
///
/// let clock = VirtualClock::autojump();
/// # futures::executor::block_on(
/// clock.run(async {
///     let limiter = RateLimiter::new(Quota::per_second(2).allow_burst(1));
///     for _ in 0..3 {
///         limiter.acquire().await;
///     }
///     assert!(limiter.try_acquire().is_err(), "the burst is spent");
/// })
/// # );
/// assert_eq!(clock.elapsed(), Duration::from_secs(1));
/// ```
///
/// # A wait ends on a timer tick
///
/// A waiter sleeps on corral's timers, which fire on millisecond ticks
/// (never early), and governor counts the next cell from the moment it
/// grants one. So with a small burst each wait may end up to a tick late,
/// and that lateness is not made up: the quota is a ceiling, never
/// exceeded, and a burst of 1 at high rates runs below it
/// (`per_second(1000).allow_burst(1)` grants about 500 a second;
/// `per_second(3).allow_burst(1)` on a virtual clock grants at 0, 334, 668
/// ms). A burst absorbs it: `per_second(1000)` (burst 1000) keeps the
/// full rate. governor's own `until_ready` behaves the same on its timers.
pub struct RateLimiter {
    core: Core,
}

impl RateLimiter {
    /// A limiter with all of `quota`'s burst free.
    ///
    /// It reads the clock in force where it is made and where it is used:
    /// make it inside a [`VirtualClock`](crate::time::VirtualClock)'s `run`
    /// to use it there. Made on one clock and used on another, it counts
    /// the difference between their readings as time passed or to come: a
    /// limiter made on the real clock 200 ms after a virtual clock started
    /// makes its first waits 200 ms longer, until the virtual time catches
    /// up.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_second(3));
    /// assert!((0..3).all(|_| limiter.try_acquire().is_ok()));
    /// assert!(limiter.try_acquire().is_err());
    /// ```
    pub fn new(quota: Quota) -> Self {
        Self {
            core: Core::new(quota),
        }
    }

    /// The quota it enforces.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// let quota = Quota::per_minute(5);
    /// assert_eq!(RateLimiter::new(quota).quota(), quota);
    /// ```
    pub fn quota(&self) -> Quota {
        self.core.quota
    }

    /// Takes a cell if one is free now and nobody is queued; otherwise says
    /// when to ask again (governor's `check`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_hour(1));
    /// assert!(limiter.try_acquire().is_ok());
    /// assert!(limiter.try_acquire().is_err());
    /// ```
    #[doc(alias = "check")]
    #[inline]
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        self.core.try_take(1)
    }

    /// Takes `n` cells at once if they are free now and nobody is queued;
    /// otherwise says when to ask again (governor's `check_n`). Zero cells
    /// are always free.
    ///
    /// # Panics
    ///
    /// If `n` is more than the quota's burst: it could never succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_hour(5));
    /// assert!(limiter.try_acquire_n(3).is_ok());
    /// assert!(limiter.try_acquire_n(3).is_err(), "only 2 left");
    /// assert!(limiter.try_acquire_n(2).is_ok());
    /// ```
    #[doc(alias = "check_n")]
    #[track_caller]
    pub fn try_acquire_n(&self, n: u32) -> Result<(), RateLimited> {
        check_size(self.core.quota, n);
        self.core.try_take(n)
    }

    /// Waits for a cell, in arrival order, and takes it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the cell is taken in the poll that completes the future,
    /// so dropping it earlier takes nothing; it leaves the queue, and the
    /// waiter behind it gets its turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// # futures::executor::block_on(async {
    /// let limiter = RateLimiter::new(Quota::per_second(100));
    /// limiter.acquire().await;
    /// # });
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire::new(CoreRef::Borrowed(&self.core), 1)
    }

    /// Waits for `n` cells at once, in arrival order, and takes them. Zero
    /// cells complete at once, even behind queued waiters.
    ///
    /// # Panics
    ///
    /// If `n` is more than the quota's burst: it would wait forever.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the cells are taken in the poll that completes the
    /// future, so dropping it earlier takes nothing; it leaves the queue, and
    /// the waiter behind it gets its turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Quota, RateLimiter};
    /// # futures::executor::block_on(async {
    /// let limiter = RateLimiter::new(Quota::per_second(100).allow_burst(10));
    /// limiter.acquire_n(10).await; // a batch of 10 at once
    /// # });
    /// ```
    #[track_caller]
    pub fn acquire_n(&self, n: u32) -> Acquire<'_> {
        check_size(self.core.quota, n);
        Acquire::new(CoreRef::Borrowed(&self.core), n)
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.core.quota)
            .field("queued", &self.core.queued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

mod keyed;
pub use keyed::KeyedRateLimiter;

/// The limiter an [`Acquire`] waits on: borrowed from a [`RateLimiter`], or
/// one key's, shared with a [`KeyedRateLimiter`]'s map.
enum CoreRef<'a> {
    Borrowed(&'a Core),
    Shared(Arc<Core>),
}

impl Deref for CoreRef<'_> {
    type Target = Core;

    #[inline]
    fn deref(&self) -> &Core {
        match self {
            Self::Borrowed(core) => core,
            Self::Shared(core) => core,
        }
    }
}

/// Where an [`Acquire`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WaitState {
    /// Not polled yet: nothing queued.
    Idle,
    /// Queued at this node.
    Queued(u32),
    /// The cells were taken: polling again panics, dropping does nothing.
    Done,
}

/// The future of [`RateLimiter::acquire`], [`RateLimiter::acquire_n`] and
/// their [`KeyedRateLimiter`] twins: waits for its turn and its cells.
///
/// # Cancel safety
///
/// Cancel safe: the cells are taken in the poll that completes it; dropped
/// earlier, it leaves the queue (waking the next waiter if it was the head)
/// and takes nothing.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Acquire<'a> {
    core: CoreRef<'a>,
    cells: u32,
    state: WaitState,
    /// The head's timer, until governor's earliest instant.
    sleep: Option<Sleep>,
    /// Where it was made, for the task tree's waiting points.
    at: &'static Location<'static>,
}

impl<'a> Acquire<'a> {
    #[track_caller]
    fn new(core: CoreRef<'a>, cells: u32) -> Self {
        Self {
            core,
            cells,
            state: WaitState::Idle,
            sleep: None,
            at: Location::caller(),
        }
    }

    /// The queued path: `Idle` joins the queue; the head checks governor
    /// and sleeps until its earliest instant, the others wait for their
    /// turn.
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A head whose timer fired but whose check is still refused (a
        // clock that differs from the timers' by a hair) tries once more,
        // then yields rather than spin.
        for _ in 0..2 {
            let mut queue = lock(&self.core.queue);
            let index = match self.state {
                WaitState::Queued(index) => index,
                WaitState::Idle => {
                    let index = queue.push(cx.waker());
                    self.core.queued.store(true, Ordering::Release);
                    self.state = WaitState::Queued(index);
                    index
                }
                WaitState::Done => unreachable!("checked by poll"),
            };
            if queue.head != index {
                queue.set_waker(index, cx.waker());
                return Poll::Pending;
            }
            match self.core.take(self.cells) {
                Ok(()) => {
                    let mut wake = WakeList::new();
                    queue.remove(index, &mut wake);
                    if queue.is_empty() {
                        self.core.queued.store(false, Ordering::Release);
                    }
                    drop(queue);
                    self.state = WaitState::Done;
                    self.sleep = None;
                    return Poll::Ready(());
                }
                Err(refused) => {
                    queue.head_until = Some(refused.earliest);
                    queue.set_waker(index, cx.waker());
                    drop(queue);
                    let sleep = match &mut self.sleep {
                        Some(sleep) => {
                            if sleep.deadline() != Some(refused.earliest) {
                                Pin::new(&mut *sleep).reset(refused.earliest);
                            }
                            sleep
                        }
                        None => self.sleep.insert(sleep_until(refused.earliest)),
                    };
                    if Pin::new(sleep).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Future for Acquire<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.state {
            WaitState::Done => panic!("a rate limiter's acquire future polled after completion"),
            // `Idle` -> `Done`: nobody queued and governor had the cells
            // (zero cells never wait).
            WaitState::Idle
                if this.cells == 0
                    || (!this.core.queued.load(Ordering::Acquire)
                        && this.core.take(this.cells).is_ok()) =>
            {
                this.state = WaitState::Done;
                Poll::Ready(())
            }
            _ => {
                let polled = this.poll_queued(cx);
                if polled.is_pending() {
                    note(Wait::RateLimit, this.at);
                }
                polled
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let WaitState::Queued(index) = self.state {
            let mut wake = WakeList::new();
            let mut queue = lock(&self.core.queue);
            queue.remove(index, &mut wake);
            if queue.is_empty() {
                self.core.queued.store(false, Ordering::Release);
            }
            drop(queue);
            // `wake` wakes the new head, if this was the head, as it drops.
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("cells", &self.cells)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock adapter's arithmetic: governor's `start + tat` and
    /// `t0.duration_since(start)` round-trip, and a reading before the
    /// start counts as zero.
    #[test]
    fn readings_do_governors_arithmetic() {
        let start = Reading(Instant::now());
        let later = start + Nanos::from(1_500_000_000u64);
        assert_eq!(later.duration_since(start).as_u64(), 1_500_000_000);
        assert_eq!(start.duration_since(later).as_u64(), 0);
        assert_eq!(later.saturating_sub(Nanos::from(1_500_000_000u64)), start);
    }

    /// A queue passes the turn on: removing the head hands the next node's
    /// waker over, removing a middle node relinks its neighbours.
    #[test]
    fn removing_the_head_wakes_the_next() {
        let mut queue = Queue::new();
        let waker = Waker::noop();
        let (a, b, c) = (queue.push(waker), queue.push(waker), queue.push(waker));
        let mut wake = WakeList::new();
        queue.remove(b, &mut wake);
        assert_eq!(wake.len(), 0, "a middle node wakes nobody");
        assert_eq!((queue.nodes[a].next, queue.nodes[c].prev), (c, a));
        queue.remove(a, &mut wake);
        assert_eq!(wake.len(), 1, "the new head is woken");
        assert_eq!((queue.head, queue.tail), (c, c));
        queue.remove(c, &mut wake);
        assert!(queue.is_empty());
        assert_eq!(queue.tail, NIL);
    }
}
