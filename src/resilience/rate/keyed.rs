//! [`KeyedRateLimiter`]: one limiter core per key, in a map that forgets
//! idle keys (see the parent module's `# Keys`).

use super::*;

/// A [`RateLimiter`] per key (per host, per user): each key gets the whole
/// [`Quota`], independently of the others, with the same fairness and cancel
/// safety; memory for idle keys is bounded.
///
/// A key is *idle* when no [`Acquire`] holds it and its whole burst is
/// back: forgetting it then changes nothing, since a key seen afresh starts
/// with its burst free. Idle keys are swept when a new key arrives and the
/// map has grown to twice what the last sweep left (and to at least
/// [`SWEEP_MIN`](Self::SWEEP_MIN)); so the map holds at most
/// `max(SWEEP_MIN, 2 × keys that were busy at the last sweep)` keys, and
/// sweeping costs O(1) per new key, amortized. [`retain_recent`]
/// (governor's name) sweeps now.
///
/// The map is behind one lock, held for a lookup and governor's check; the
/// waiting itself happens outside it, on the key's own queue.
///
/// [`retain_recent`]: Self::retain_recent
///
/// # Examples
///
/// ```
/// use corral::resilience::{KeyedRateLimiter, Quota};
/// let per_host = KeyedRateLimiter::new(Quota::per_hour(1));
/// assert!(per_host.try_acquire(&"a.example").is_ok());
/// assert!(per_host.try_acquire(&"a.example").is_err(), "a.example's hour is spent");
/// assert!(per_host.try_acquire(&"b.example").is_ok(), "b.example has its own");
/// ```
pub struct KeyedRateLimiter<K> {
    quota: Quota,
    keys: Mutex<Keys<K>>,
}

/// The keys' cores, and when to sweep them.
struct Keys<K> {
    map: HashMap<K, Arc<Core>>,
    /// A new key finding this many sweeps the idle ones first.
    sweep_at: usize,
}

impl<K: Hash + Eq> Keys<K> {
    /// Forgets the idle keys; the next sweep comes when the map has doubled.
    fn sweep(&mut self) {
        self.map.retain(|_, core| !core.is_idle());
        self.sweep_at = KeyedRateLimiter::<K>::SWEEP_MIN.max(2 * self.map.len());
        // Give back what a burst of keys made the table grow to.
        self.map.shrink_to(self.sweep_at);
    }
}

impl<K> KeyedRateLimiter<K> {
    /// The fewest keys the map holds before it sweeps idle ones.
    pub const SWEEP_MIN: usize = 64;
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// A limiter that gives every key `quota`, all of its burst free.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// let per_user: KeyedRateLimiter<u64> = KeyedRateLimiter::new(Quota::per_second(5));
    /// assert!(per_user.is_empty());
    /// ```
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            keys: Mutex::new(Keys {
                map: HashMap::new(),
                sweep_at: Self::SWEEP_MIN,
            }),
        }
    }

    /// The quota each key gets.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// let quota = Quota::per_minute(10);
    /// assert_eq!(KeyedRateLimiter::<String>::new(quota).quota(), quota);
    /// ```
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Runs `f` on `key`'s core under the map's lock, making the core (and
    /// first sweeping, when it is time) if the key is new.
    fn with_core<R>(&self, key: &K, f: impl FnOnce(&Arc<Core>) -> R) -> R {
        let mut keys = lock(&self.keys);
        if let Some(core) = keys.map.get(key) {
            return f(core);
        }
        if keys.map.len() >= keys.sweep_at {
            keys.sweep();
        }
        let core = keys
            .map
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Core::new(self.quota)));
        f(core)
    }

    /// Takes a cell of `key`'s if one is free now and nobody is queued for
    /// `key`; otherwise says when to ask again (governor's `check_key`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// let limiter = KeyedRateLimiter::new(Quota::per_hour(2));
    /// assert!(limiter.try_acquire(&1).is_ok());
    /// assert!(limiter.try_acquire(&1).is_ok());
    /// assert!(limiter.try_acquire(&1).is_err());
    /// assert!(limiter.try_acquire(&2).is_ok());
    /// ```
    #[doc(alias = "check_key")]
    pub fn try_acquire(&self, key: &K) -> Result<(), RateLimited> {
        self.with_core(key, |core| core.try_take(1))
    }

    /// Takes `n` cells of `key`'s at once if they are free now and nobody is
    /// queued for `key`; otherwise says when to ask again (governor's
    /// `check_key_n`). Zero cells are always free.
    ///
    /// # Panics
    ///
    /// If `n` is more than the quota's burst: it could never succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// let limiter = KeyedRateLimiter::new(Quota::per_hour(3));
    /// assert!(limiter.try_acquire_n(&"k", 3).is_ok());
    /// assert!(limiter.try_acquire_n(&"k", 1).is_err());
    /// ```
    #[doc(alias = "check_key_n")]
    #[track_caller]
    pub fn try_acquire_n(&self, key: &K, n: u32) -> Result<(), RateLimited> {
        check_size(self.quota, n);
        self.with_core(key, |core| core.try_take(n))
    }

    /// Waits for a cell of `key`'s, in arrival order among `key`'s waiters,
    /// and takes it. The key is not forgotten while the future lives.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the cell is taken in the poll that completes the future,
    /// so dropping it earlier takes nothing; it leaves `key`'s queue, and the
    /// waiter behind it gets its turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// # futures::executor::block_on(async {
    /// let per_host = KeyedRateLimiter::new(Quota::per_second(1000).allow_burst(1));
    /// for host in ["a", "b", "a"] {
    ///     per_host.acquire(&host).await; // the 2nd "a" waits ~1 ms, "b" not at all
    /// }
    /// # });
    /// ```
    #[track_caller]
    pub fn acquire(&self, key: &K) -> Acquire<'_> {
        Acquire::new(CoreRef::Shared(self.with_core(key, Arc::clone)), 1)
    }

    /// Waits for `n` cells of `key`'s at once, in arrival order among
    /// `key`'s waiters, and takes them. Zero cells complete at once.
    ///
    /// # Panics
    ///
    /// If `n` is more than the quota's burst: it would wait forever.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the cells are taken in the poll that completes the
    /// future, so dropping it earlier takes nothing; it leaves `key`'s
    /// queue, and the waiter behind it gets its turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// # futures::executor::block_on(async {
    /// let limiter = KeyedRateLimiter::new(Quota::per_second(100).allow_burst(4));
    /// limiter.acquire_n(&"bulk", 4).await;
    /// # });
    /// ```
    #[track_caller]
    pub fn acquire_n(&self, key: &K, n: u32) -> Acquire<'_> {
        check_size(self.quota, n);
        Acquire::new(CoreRef::Shared(self.with_core(key, Arc::clone)), n)
    }

    /// How many keys the map holds now, idle ones not yet swept included.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// let limiter = KeyedRateLimiter::new(Quota::per_hour(1));
    /// limiter.try_acquire(&"a").unwrap();
    /// limiter.try_acquire(&"b").unwrap();
    /// assert_eq!(limiter.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.keys).map.len()
    }

    /// Whether the map holds no key.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// assert!(KeyedRateLimiter::<u8>::new(Quota::per_hour(1)).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        lock(&self.keys).map.is_empty()
    }

    /// Forgets every idle key now (no waiter, whole burst back), as the map
    /// does by itself when it grows; governor's `retain_recent`. For a
    /// sweep on a cadence of your own (a timer loop), or before reading
    /// [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{KeyedRateLimiter, Quota};
    /// let limiter = KeyedRateLimiter::new(Quota::per_hour(2));
    /// limiter.try_acquire(&"spent").unwrap();
    /// limiter.try_acquire_n(&"untouched", 0).unwrap();
    /// limiter.retain_recent();
    /// assert_eq!(limiter.len(), 1, "only the key with a cell out is kept");
    /// ```
    pub fn retain_recent(&self) {
        lock(&self.keys).sweep();
    }
}

impl<K> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("quota", &self.quota)
            .field("keys", &lock(&self.keys).map.len())
            .finish_non_exhaustive()
    }
}
