//! A fair, weighted, cancellation-safe async semaphore.

use std::fmt;
use std::future::Future;
use std::marker::PhantomPinned;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::loom::{AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::wait_point::{Wait, note};
use crate::wake_list::WakeList;

#[cfg(all(test, corral_loom))]
mod loom_tests;
mod waiters;

use waiters::{ONE, QUEUED, WaitState, Waiters};

/// A counting semaphore: at most N permits are out at once; the rest wait.
///
/// asyncio's `Semaphore(n)` around each request, as a plain future that needs
/// no runtime. Acquiring returns a [`Permit`] that gives its permits back when
/// dropped.
///
/// - **FIFO-fair and weighted.** Waiters are served in arrival order, each
///   with the number of permits it asked for. A waiter for many permits at
///   the head of the queue collects them as they come back; later waiters for
///   fewer do not overtake it. While anyone waits, nobody else takes permits:
///   not a new `acquire`, not [`try_acquire`](Semaphore::try_acquire).
/// - **Cancellation-safe.** Dropping an acquire future at any point (before
///   its first poll, while queued, or after its permits were handed to it but
///   before it saw them) gives back every permit it held and lets the next
///   waiters through. Permits are never lost and never duplicated.
/// - **Cheap when uncontended.** Acquiring and releasing without waiters is a
///   compare-and-swap and an add on one atomic word; the lock is taken only
///   while someone waits.
///
/// # Compared with tokio's and async-lock's
///
/// tokio's `Semaphore` is fair and weighted too (`acquire_many` takes a
/// `u32`), but lives in tokio. async-lock's `Semaphore` is runtime-agnostic
/// and fast, but unfair (a new acquirer may take a permit a waiter was about
/// to get, so a large waiter can starve) and acquires one permit at a time.
/// corral's is runtime-agnostic, fair, and weighted, with no `close`: a
/// waiter for more permits than exist waits (more may be added).
///
/// # Examples
///
/// At most two requests at once, out of five:
///
/// ```
/// use corral::Semaphore;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// # futures::executor::block_on(async {
/// let limit = Semaphore::new(2);
/// let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
/// let (limit, now, peak) = (&limit, &now, &peak);
/// corral::scope(|s| async move {
///     for _ in 0..5 {
///         s.spawn(async move {
///             let _permit = limit.acquire().await;
///             peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
///             corral::time::sleep(std::time::Duration::from_millis(1)).await;
///             now.fetch_sub(1, Ordering::SeqCst);
///             Ok::<_, ()>(())
///         });
///     }
///     Ok(())
/// })
/// .await
/// .unwrap();
/// assert_eq!(peak.load(Ordering::SeqCst), 2);
/// # });
/// ```
pub struct Semaphore {
    /// Free permits times [`ONE`], plus the [`QUEUED`] bit.
    state: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl Semaphore {
    /// The most permits a semaphore can hold: `usize::MAX >> 3`.
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// If `permits` is above [`MAX_PERMITS`](Semaphore::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// static LIMIT: corral::Semaphore = corral::Semaphore::new(8);
    /// assert_eq!(LIMIT.available_permits(), 8);
    /// ```
    #[cfg(not(corral_loom))]
    pub const fn new(permits: usize) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "Semaphore::new: more permits than Semaphore::MAX_PERMITS"
        );
        Self {
            state: AtomicUsize::new(permits * ONE),
            waiters: Mutex::new(Waiters::new()),
        }
    }

    /// (loom's atomics and locks cannot be built in a `const fn`.)
    #[cfg(corral_loom)]
    pub fn new(permits: usize) -> Self {
        assert!(permits <= Self::MAX_PERMITS);
        Self {
            state: AtomicUsize::new(permits * ONE),
            waiters: Mutex::new(Waiters::new()),
        }
    }

    /// Waits for one permit.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future before it completes gives back any
    /// permit handed to it and loses its place in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem = corral::Semaphore::new(1);
    /// let permit = sem.acquire().await;
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    #[track_caller]
    #[inline]
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, taken together.
    ///
    /// `acquire_many(0)` completes at once with an empty permit. Asking for
    /// more permits than the semaphore has waits (until
    /// [`add_permits`](Semaphore::add_permits) makes them exist).
    ///
    /// # Panics
    ///
    /// If `n` is above [`MAX_PERMITS`](Semaphore::MAX_PERMITS): such a
    /// request could never be met.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future before it completes gives back every
    /// permit handed to it so far (a request at the head of the queue collects
    /// permits as they come back) and lets the next waiters through.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem = corral::Semaphore::new(10);
    /// let big = sem.acquire_many(7).await;
    /// assert_eq!(big.num_permits(), 7);
    /// assert!(sem.try_acquire_many(4).is_none());
    /// # });
    /// ```
    #[track_caller]
    #[inline]
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        check_request(n);
        Acquire {
            semaphore: self,
            waiter: Waiter::new(n),
        }
    }

    /// Takes one permit if one is free and nobody is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corral::Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(permit);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is queued (no barging:
    /// a queued waiter is served first, even if `n` permits are free).
    /// `try_acquire_many(0)` always succeeds.
    ///
    /// # Panics
    ///
    /// If `n` is above [`MAX_PERMITS`](Semaphore::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corral::Semaphore::new(3);
    /// let two = sem.try_acquire_many(2).unwrap();
    /// assert!(sem.try_acquire_many(2).is_none());
    /// assert_eq!(two.num_permits(), 2);
    /// ```
    #[track_caller]
    #[inline]
    pub fn try_acquire_many(&self, n: usize) -> Option<Permit<'_>> {
        check_request(n);
        // (`then`, not `then_some`: an eagerly built `Permit` would be
        // dropped on failure and give back permits it never took.)
        self.try_take(n).then(|| Permit {
            semaphore: self,
            permits: n,
        })
    }

    /// Waits for one permit, for a semaphore in an [`Arc`]: the permit owns a
    /// reference to the semaphore, so it is `'static` and can move to other
    /// tasks and threads.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(corral::Semaphore::new(1));
    /// let permit = sem.clone().acquire_owned().await;
    /// std::thread::spawn(move || drop(permit)).join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    #[track_caller]
    #[inline]
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// Waits for `n` permits, for a semaphore in an [`Arc`]; see
    /// [`acquire_many`](Semaphore::acquire_many) and
    /// [`acquire_owned`](Semaphore::acquire_owned).
    ///
    /// # Panics
    ///
    /// If `n` is above [`MAX_PERMITS`](Semaphore::MAX_PERMITS).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`acquire_many`](Semaphore::acquire_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(corral::Semaphore::new(4));
    /// let permit = sem.clone().acquire_many_owned(3).await;
    /// assert_eq!(permit.num_permits(), 3);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    #[track_caller]
    #[inline]
    pub fn acquire_many_owned(self: Arc<Self>, n: usize) -> AcquireOwned {
        check_request(n);
        AcquireOwned {
            semaphore: Some(self),
            waiter: Waiter::new(n),
        }
    }

    /// Adds `n` permits, serving queued waiters first.
    ///
    /// # Panics
    ///
    /// If the free permits would exceed [`MAX_PERMITS`](Semaphore::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corral::Semaphore::new(0);
    /// assert!(sem.try_acquire().is_none());
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let free = state / ONE;
            assert!(
                n <= Self::MAX_PERMITS - free,
                "Semaphore::add_permits: {free} free + {n} added is more than Semaphore::MAX_PERMITS"
            );
            match self.state.compare_exchange_weak(
                state,
                state + n * ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if state & QUEUED != 0 {
            self.hand_over();
        }
    }

    /// The permits free right now: none while anyone is queued (free permits
    /// go to the head of the queue at once).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corral::Semaphore::new(3);
    /// let _one = sem.try_acquire();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[inline]
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) / ONE
    }

    /// The lock-free fast path: takes `n` permits if free and nobody queued.
    #[inline]
    fn try_take(&self, n: usize) -> bool {
        if n == 0 {
            return true; // nothing to take, so nobody to pass
        }
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & QUEUED != 0 || state / ONE < n {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state - n * ONE,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Gives `n` permits back: to the counter, and to the queue if anyone
    /// waits.
    #[inline]
    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        if self.state.load(Ordering::Relaxed) & QUEUED != 0 {
            // Someone waits: hand the permits over directly, sparing the
            // counter a round trip.
            let mut wake = WakeList::new();
            self.lock().give(&self.state, n, &mut wake);
            return;
        }
        if self.state.fetch_add(n * ONE, Ordering::AcqRel) & QUEUED != 0 {
            self.hand_over();
        }
    }

    /// Hands free permits to the queue and wakes the waiters served.
    fn hand_over(&self) {
        let mut wake = WakeList::new();
        self.lock().hand_over(&self.state, &mut wake);
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Nothing foreign runs under this lock (wakers are woken and dropped
        // after it), so poisoning can only follow a bug in the queue itself.
        crate::loom::lock(&self.waiters)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Ordering::Acquire);
        f.debug_struct("Semaphore")
            .field("available_permits", &(state / ONE))
            .field("waiters", &(state & QUEUED != 0))
            .finish()
    }
}

#[inline]
#[track_caller]
fn check_request(n: usize) {
    assert!(
        n <= Semaphore::MAX_PERMITS,
        "Semaphore: {n} permits requested, more than Semaphore::MAX_PERMITS could ever provide"
    );
}

pin_project! {
    /// Where an acquire is (`state`), and the flag the queue sets when it
    /// grants the request; the table in `waiters.rs` has their combinations.
    /// Pinned, because the queue keeps a pointer to the flag while the
    /// request is queued.
    #[project = WaiterProj]
    #[derive(Debug)]
    struct Waiter {
        wanted: usize,
        state: WaitState,
        // Where the acquire was made, for the task tree (`wait_point.rs`).
        at: &'static Location<'static>,
        #[pin]
        grant: GrantFlag,
    }
}

/// The flag the queue sets when it grants a request. `!Unpin`, so that the
/// `&mut` a poll of the waiting future makes does not claim the flag as unique
/// while the queue holds a pointer to it.
#[derive(Debug)]
struct GrantFlag {
    granted: AtomicBool,
    _pinned: PhantomPinned,
}

impl Waiter {
    #[track_caller]
    #[inline]
    fn new(wanted: usize) -> Self {
        Self {
            wanted,
            state: WaitState::Idle,
            at: Location::caller(),
            grant: GrantFlag {
                granted: AtomicBool::new(false),
                _pinned: PhantomPinned,
            },
        }
    }

    #[inline]
    fn poll(self: Pin<&mut Self>, semaphore: &Semaphore, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.project();
        match *this.state {
            // `Idle` -> `Done`: the lock-free fast path took the permits.
            WaitState::Idle if semaphore.try_take(*this.wanted) => {
                *this.state = WaitState::Done;
                return Poll::Ready(*this.wanted);
            }
            // Granted while we slept (the queue already freed the node):
            // `Queued` -> `Done`, collecting the permits.
            WaitState::Queued(_) if this.grant.granted.load(Ordering::Acquire) => {
                *this.state = WaitState::Done;
                return Poll::Ready(*this.wanted);
            }
            _ => {}
        }
        let at = *this.at;
        let polled = Self::poll_slow(this, semaphore, cx);
        if polled.is_pending() {
            note(Wait::Acquire, at);
        }
        polled
    }

    /// Queues the request, or re-registers the waker of a queued one.
    fn poll_slow(this: WaiterProj<'_>, semaphore: &Semaphore, cx: &mut Context<'_>) -> Poll<usize> {
        match *this.state {
            WaitState::Idle => {
                let mut wake = WakeList::new();
                let grant = NonNull::from(&this.grant.granted);
                // SAFETY: `granted` lives in this pinned future, whose drop
                // (`cancel`) removes the node under the lock unless the grant
                // already did.
                let queued = unsafe {
                    semaphore.lock().enqueue(
                        &semaphore.state,
                        *this.wanted,
                        cx.waker(),
                        grant,
                        &mut wake,
                    )
                };
                match queued {
                    // `Idle` -> `Queued`.
                    Some(node) => {
                        *this.state = WaitState::Queued(node);
                        Poll::Pending
                    }
                    // `Idle` -> `Done`: met as it was queued.
                    None => {
                        *this.state = WaitState::Done;
                        Poll::Ready(*this.wanted)
                    }
                }
            }
            WaitState::Done => panic!("a semaphore acquire future polled after completion"),
            WaitState::Queued(node) => {
                let mut waiters = semaphore.lock();
                // Under the lock the flag is final: a grant happens under it.
                if this.grant.granted.load(Ordering::Acquire) {
                    drop(waiters);
                    // `Queued` -> `Done`, granted since the fast check.
                    *this.state = WaitState::Done;
                    return Poll::Ready(*this.wanted);
                }
                // Still `Queued`, not granted: the node wakes this task now.
                let old = waiters.set_waker(node, cx.waker());
                drop(waiters);
                drop(old);
                Poll::Pending
            }
        }
    }

    /// Gives up: leaves the queue, giving back whatever it held or was granted.
    #[inline]
    fn cancel(self: Pin<&mut Self>, semaphore: &Semaphore) {
        let this = self.project();
        if let WaitState::Queued(node) = *this.state {
            Self::cancel_queued(this, semaphore, node);
        }
    }

    /// `Queued` -> `Done` without collecting.
    fn cancel_queued(this: WaiterProj<'_>, semaphore: &Semaphore, node: u32) {
        *this.state = WaitState::Done;
        if !this.grant.granted.load(Ordering::Acquire) {
            let mut wake = WakeList::new();
            let mut waiters = semaphore.lock();
            if !this.grant.granted.load(Ordering::Acquire) {
                // Still queued: unlink the node, giving back what it was
                // handed so far (which may let the next waiters through).
                let old = waiters.cancel(&semaphore.state, node, &mut wake);
                drop(waiters);
                drop(old);
                return;
            }
        }
        // Granted but never collected: the permits are ours to give back.
        semaphore.release(*this.wanted);
    }
}

pin_project! {
    /// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping it gives back every permit handed to it and
    /// leaves the queue (see [`Semaphore::acquire_many`]).
    ///
    /// # Panics
    ///
    /// Polling it again after it completed.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Acquire<'a> {
        semaphore: &'a Semaphore,
        #[pin]
        waiter: Waiter,
    }

    impl<'a> PinnedDrop for Acquire<'a> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.waiter.cancel(this.semaphore);
        }
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let this = self.project();
        let semaphore: &'a Semaphore = this.semaphore;
        this.waiter
            .poll(semaphore, cx)
            .map(|permits| Permit { semaphore, permits })
    }
}

pin_project! {
    /// The future of [`Semaphore::acquire_owned`] and
    /// [`Semaphore::acquire_many_owned`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`Acquire`].
    ///
    /// # Panics
    ///
    /// Polling it again after it completed.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct AcquireOwned {
        semaphore: Option<Arc<Semaphore>>,
        #[pin]
        waiter: Waiter,
    }

    impl PinnedDrop for AcquireOwned {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(semaphore) = this.semaphore {
                this.waiter.cancel(semaphore);
            }
        }
    }
}

impl Future for AcquireOwned {
    type Output = OwnedPermit;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedPermit> {
        let this = self.project();
        let semaphore = this
            .semaphore
            .as_ref()
            .expect("a semaphore acquire future polled after completion");
        let permits = std::task::ready!(this.waiter.poll(semaphore, cx));
        Poll::Ready(OwnedPermit {
            semaphore: this.semaphore.take().expect("checked above"),
            permits,
        })
    }
}

/// Permits taken from a [`Semaphore`]; dropping it gives them back.
///
/// # Examples
///
/// ```
/// let sem = corral::Semaphore::new(2);
/// {
///     let _permit = sem.try_acquire_many(2).unwrap();
///     assert_eq!(sem.available_permits(), 0);
/// }
/// assert_eq!(sem.available_permits(), 2);
/// ```
#[must_use = "a permit is given back as soon as it is dropped"]
#[derive(Debug)]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
    permits: usize,
}

impl Permit<'_> {
    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corral::Semaphore::new(5);
    /// assert_eq!(sem.try_acquire_many(3).unwrap().num_permits(), 3);
    /// ```
    #[inline]
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits out of the semaphore for good: its capacity shrinks
    /// by this many.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = corral::Semaphore::new(3);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[inline]
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

#[cfg(all(test, corral_loom))]
impl Permit<'_> {
    /// Forgets the permit and says how many it held (for the loom models,
    /// which give them back with `add_permits` on another thread).
    fn forget_into_count(self) -> usize {
        let n = self.permits;
        self.forget();
        n
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.semaphore.release(self.permits);
    }
}

/// Permits taken from a [`Semaphore`] in an [`Arc`]; `Send + 'static`, so it
/// can move to another task or thread. Dropping it gives them back.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # futures::executor::block_on(async {
/// let sem = Arc::new(corral::Semaphore::new(1));
/// let permit: corral::OwnedPermit = sem.clone().acquire_owned().await;
/// assert_eq!(sem.available_permits(), 0);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 1);
/// # });
/// ```
#[must_use = "a permit is given back as soon as it is dropped"]
#[derive(Debug)]
pub struct OwnedPermit {
    semaphore: Arc<Semaphore>,
    permits: usize,
}

impl OwnedPermit {
    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(corral::Semaphore::new(5));
    /// assert_eq!(sem.acquire_many_owned(2).await.num_permits(), 2);
    /// # });
    /// ```
    #[inline]
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore these permits belong to.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(corral::Semaphore::new(1));
    /// let permit = sem.clone().acquire_owned().await;
    /// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
    /// # });
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }

    /// Keeps the permits out of the semaphore for good; see
    /// [`Permit::forget`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// # futures::executor::block_on(async {
    /// let sem = Arc::new(corral::Semaphore::new(2));
    /// sem.clone().acquire_owned().await.forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    #[inline]
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for OwnedPermit {
    #[inline]
    fn drop(&mut self) {
        self.semaphore.release(self.permits);
    }
}
