//! The nursery: `scope`, `local_scope`, their handles and the child set behind them.
//!
//! A scope is a user of the engine (`crate::engine`): its child set
//! describes the body and the children to the engine's poll loop, and keeps
//! its own state ([`state::ScopeState`]) beside the engine's. The files, from
//! the bottom up (each imports only files above it in this list, plus the
//! engine and the rooms below the scope):
//!
//! - `reason.rs`: `Reason`, why a child was dropped or a scope asked to stop.
//! - `records.rs`: the task tree's records (`tree.rs` renders them).
//! - `state.rs`: what a scope keeps beside the engine's queue: the spawn
//!   stack, the parallel count, the stop state, the nesting registry, the
//!   task-tree record; built whole with the scope's settings.
//! - `child.rs`: one child's allocation, shared with its `JoinHandle`, and
//!   abort requests (`AbortHandle`).
//! - `nesting.rs`: which scope is polled on this thread, the registration
//!   of a nested scope with its parent, and the task tree's roots.
//! - `stop.rs`: graceful stop requests, `StopHandle` and `Stopped`.
//! - `parallel.rs`: a parallel child (`spawn_on`): the runtime's `Task` and
//!   the proxy that stands in for it in the scope.
//! - `set.rs`: the child set: slab, spawn stack, concurrency limit, teardown;
//!   its `ScopeChildren` is what the engine polls.
//! - `pool.rs`: a pool, one child that polls many futures of one type in
//!   place (the stream room's maps run their items in one).
//! - `start.rs`: `start`, a child that says when it is ready.
//! - `shield.rs`: `spawn_shielded`'s future: a cleanup child under its own
//!   time limit (the set keeps it through a wind-down).
//! - `supervise.rs`: `supervised`, a child whose error goes to its handle
//!   (an adapter over the child's future; nothing else knows of it).
//! - `handle.rs`: `Scope` and `LocalScope`, the handles that spawn.
//! - `future.rs`: `ScopeFuture` and `LocalScopeFuture`.
//! - `errors.rs`: `Nursery::every_error`: `ErrorGroup` and the future that
//!   gathers one.

mod arena;
mod child;
mod errors;
mod fresh;
mod future;
mod handle;
#[cfg(all(test, corral_loom))]
mod loom_tests;
pub(crate) mod member;
pub(crate) mod nesting;
mod parallel;
pub(crate) mod pool;
mod reason;
pub(crate) mod records;
mod set;
mod shield;
#[cfg(feature = "tracing")]
mod span;
mod start;
pub(crate) mod state;
mod stats;
mod stop;
mod supervise;

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

pub use child::{AbortHandle, JoinHandle, OrDropped, Outcome};
pub(crate) use child::{AbortRoute, JoinPart, release_handle_ref, take_published};
pub use errors::{ErrorGroup, EveryError, EveryErrorFuture, GroupError};
pub use future::{LocalScopeFuture, ScopeFuture};
pub(crate) use handle::{Counted, RoomWait, shared_of};
pub use handle::{LocalScope, Scope, ScopeHandle, SpawnBounded, SpawnChild};
pub use reason::Reason;
pub use start::{Ready, Start, StartError};
pub use stats::{POLL_BUCKETS, PollTimes, ScopeStats};
pub use stop::{StopHandle, Stopped};
pub use supervise::{Supervised, supervised};

use set::ChildSet;

/// Runs `body` and every child it spawns as one unit, and resolves when all of
/// them have finished — or at the first error or panic.
///
/// This is asyncio's `TaskGroup` and Trio's nursery, as a plain future that any
/// executor can poll. The body receives a [`Scope`], an owned, cloneable handle
/// that spawns children. Guarantees:
///
/// - **No child outlives the scope.** When the returned future resolves, every
///   child has finished or has been dropped; when it is dropped, every child is
///   dropped before the drop returns. That is why children may borrow anything
///   that outlives the scope future (`'env`, see [Lifetimes](#lifetimes)),
///   like `std::thread::scope`.
/// - **Fail fast.** The first `Err` from a child or from the body drops every
///   other child and the body, then the scope resolves to that error. Errors
///   that children would have returned later are never observed.
/// - **Panics propagate.** A panic in a child or the body drops everything else,
///   then is resumed from the scope's poll with its original payload.
/// - **Concurrency, not parallelism.** The body and the children run
///   concurrently inside the one future; children start in spawn order.
///
/// Children must be `Send` (so the scope future is `Send` and can be spawned on
/// tokio or smol); use [`local_scope`] for `!Send` children, and
/// [`Nursery`] to limit how many run at once.
///
/// A body that ends in `Ok(())` with nothing else fixing `E` needs a type
/// annotation, as in `Ok::<_, MyError>(())`.
///
/// # Lifetimes
///
/// `'env` is the lifetime of everything the children and the body may borrow.
/// It is chosen by the caller and outlives the scope future, so what a child
/// borrows is still alive for as long as the scope can poll it: the scope does
/// not resolve, and its drop does not return, before every local child has
/// finished or been dropped. Things made inside the body live shorter than
/// `'env` (the body may finish before a child does), so a child cannot borrow
/// them; move them into the child or create them outside the scope.
///
/// The handle ([`Scope`], [`LocalScope`]) is invariant in `'env`: a handle for
/// a long `'env` cannot pass for one with a shorter `'env`, so a clone of it
/// kept past the scope cannot start a child that borrows something that has
/// died (and spawning on a finished scope panics). Parallel children
/// ([`Scope::spawn_on`]) run on another runtime and must be `'static`; they
/// borrow nothing from `'env`. The same holds for [`local_scope`] and
/// [`Nursery::scope`] / [`Nursery::local_scope`]. The compile-fail examples
/// below show both rules.
///
/// # Cancel safety
///
/// Not cancel safe: dropping the returned future before it resolves cancels
/// the whole scope. Before the drop returns, every local child (started or
/// still waiting to start) is dropped, then the body, then any value the body
/// already returned; values of children not yet taken through their
/// [`JoinHandle`]s are lost (a handle that outlives the scope then yields
/// `None` from [`or_dropped`](JoinHandle::or_dropped), and panics if awaited).
/// Parallel children ([`Scope::spawn_on`]) are asked to abort: their runtime
/// drops each one at its next poll, which may come after the drop returns
/// (they are `'static`, so nothing they could borrow dies first). If a
/// destructor panics, the others still run and the first panic is resumed
/// from the drop (unless the thread is already unwinding).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let pages = ["a", "b", "c"];
/// let mut sizes = Vec::new();
/// // The body is `async move` (it owns its handle `s`), so it captures
/// // references to what it and the children borrow.
/// let (pages_ref, sizes_ref) = (&pages, &mut sizes);
/// corral::scope(|s| async move {
///     let handles: Vec<_> = pages_ref
///         .iter()
///         .map(|p| s.spawn(async move { Ok::<_, String>(p.len()) }))
///         .collect();
///     for h in handles {
///         sizes_ref.push(h.await);
///     }
///     Ok(())
/// })
/// .await?;
/// assert_eq!(sizes, [1, 1, 1]);
/// # Ok::<_, String>(()) }).unwrap();
/// ```
///
/// The first error wins and cancels the rest:
///
/// ```
/// # futures::executor::block_on(async {
/// let result: Result<(), &str> = corral::scope(|s| async move {
///     s.spawn(async { Err::<(), _>("boom") });
///     s.spawn(std::future::pending::<Result<(), &str>>()); // dropped
///     Ok(())
/// })
/// .await;
/// assert_eq!(result, Err("boom"));
/// # });
/// ```
///
/// Children must not borrow anything that dies before the scope does:
///
/// ```compile_fail,E0597
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let local = vec![1, 2, 3];
///     let borrowed = &local;
///     // `local` lives in the body, which may finish before this child does.
///     s.spawn(async move { Ok::<_, ()>(borrowed.len()) });
///     Ok(())
/// })
/// .await
/// # .unwrap() });
/// ```
///
/// And `scope` children must be `Send`:
///
/// ```compile_fail
/// # futures::executor::block_on(async {
/// let rc = std::rc::Rc::new(1);
/// corral::scope(|s| async move {
///     s.spawn(async move { Ok::<_, ()>(*rc) });
///     Ok(())
/// })
/// .await
/// # .unwrap() });
/// ```
///
/// Nor can a handle smuggled out of the scope start a child that outlives what
/// it borrows:
///
/// ```compile_fail,E0597
/// # futures::executor::block_on(async {
/// let mut escaped = None;
/// {
///     let data = vec![1, 2, 3];
///     let (data, slot) = (&data, &mut escaped);
///     corral::scope(|s| async move {
///         *slot = Some(s.clone());
///         s.spawn(async move { Ok::<_, ()>(data.len()) });
///         Ok(())
///     })
///     .await
///     .unwrap();
/// } // `data` dies here, but the handle's `'env` says it must live on
/// let _ = escaped.unwrap().spawn(async { Ok(0) });
/// # });
/// ```
#[track_caller]
pub fn scope<'env, T, E, B, Fut>(body: B) -> ScopeFuture<'env, T, E, Fut>
where
    B: FnOnce(Scope<'env, E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: 'env,
    E: 'env,
{
    Nursery::new().scope(body)
}

/// Like [`scope`], for children that need not be `Send` (`Rc`, `RefCell`
/// borrows, thread-local handles). The returned future is `!Send`.
///
/// `'env` is as for [`scope`]: see [Lifetimes](scope#lifetimes).
///
/// # Cancel safety
///
/// As [`scope`](scope#cancel-safety): dropping the future drops every local
/// child, then the body, before the drop returns, and asks the runtimes of
/// parallel children to drop them.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
///
/// # futures::executor::block_on(async {
/// let total = RefCell::new(0);
/// let total_ref = &total;
/// corral::local_scope(|s| async move {
///     for i in 1..=4 {
///         let total = total_ref;
///         s.spawn(async move {
///             *total.borrow_mut() += i;
///             Ok::<_, ()>(())
///         });
///     }
///     Ok(())
/// })
/// .await
/// .unwrap();
/// assert_eq!(total.into_inner(), 10);
/// # });
/// ```
#[track_caller]
pub fn local_scope<'env, T, E, B, Fut>(body: B) -> LocalScopeFuture<'env, T, E, Fut>
where
    B: FnOnce(LocalScope<'env, E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: 'env,
    E: 'env,
{
    Nursery::new().local_scope(body)
}

/// A builder for scopes with limits: `scope(f)` is `Nursery::new().scope(f)`.
///
/// `Nursery` is `Copy`: build one configuration and open many scopes with it.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// # futures::executor::block_on(async {
/// let running = AtomicUsize::new(0);
/// let peak = AtomicUsize::new(0);
/// let (running, peak_ref) = (&running, &peak);
/// corral::Nursery::new()
///     .max_concurrency(2)
///     .scope(|s| async move {
///         for _ in 0..10 {
///             s.spawn(async {
///                 let now = running.fetch_add(1, Ordering::SeqCst) + 1;
///                 peak_ref.fetch_max(now, Ordering::SeqCst);
///                 smol::future::yield_now().await;
///                 running.fetch_sub(1, Ordering::SeqCst);
///                 Ok::<_, ()>(())
///             });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap();
/// assert_eq!(peak.into_inner(), 2);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nursery {
    max_concurrency: usize,
    slow_poll: Option<Duration>,
    grace: Option<Duration>,
    stop_at: Option<future::StopAt>,
    stop_on_failure: bool,
    inherit_span: bool,
    name: Option<&'static str>,
    collect_stats: bool,
}

impl Default for Nursery {
    fn default() -> Self {
        Nursery::new()
    }
}

impl Nursery {
    /// A nursery with no limits.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let v = corral::Nursery::new().scope(|_s| async { Ok::<_, ()>(7) }).await;
    /// assert_eq!(v, Ok(7));
    /// # });
    /// ```
    pub const fn new() -> Self {
        Nursery {
            max_concurrency: usize::MAX,
            slow_poll: None,
            grace: None,
            stop_at: None,
            stop_on_failure: false,
            inherit_span: true,
            name: None,
            collect_stats: false,
        }
    }

    /// Runs at most `n` children at once. Children spawned beyond the limit wait
    /// in spawn order and start as running ones finish. The body does not count.
    ///
    /// [`spawn`](Scope::spawn) never waits: a child beyond the limit is
    /// queued, allocated, its future held until its turn, so a body that
    /// spawns a million children holds a million futures. To feed a large
    /// or endless input, spawn with [`spawn_bounded`](Scope::spawn_bounded),
    /// which waits for room instead, or use a [`JoinSet`](crate::JoinSet)
    /// or the [`stream`](crate::stream) adapters.
    ///
    /// A running child that awaits the `JoinHandle` of a sibling still waiting
    /// for a place cannot finish before that sibling starts: if all `n` running
    /// children do that, the scope never finishes. Await waiting siblings from
    /// the body, or size `n` for the nesting.
    ///
    /// This is not a [`Semaphore`](crate::Semaphore) inside: a child waiting
    /// here has not started at all (its future has not been polled), and the
    /// count lives in the scope's own child set, touched only by the thread
    /// polling the scope, so it costs no atomics or locks. Use a `Semaphore`
    /// to bound a section of work shared across scopes or tasks.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0, since no child could ever start.
    ///
    /// # Examples
    ///
    /// ```
    /// let nursery = corral::Nursery::new().max_concurrency(8);
    /// ```
    ///
    /// ```should_panic
    /// corral::Nursery::new().max_concurrency(0); // panics: no child could start
    /// ```
    #[track_caller]
    pub const fn max_concurrency(mut self, n: usize) -> Self {
        assert!(
            n > 0,
            "corral: max_concurrency(0) would never start a child; use at least 1"
        );
        self.max_concurrency = n;
        self
    }

    /// Reports every child poll in this scope that takes longer than
    /// `threshold`: the mark of a child that blocks its executor (a
    /// `std::thread::sleep`, blocking I/O, a long computation). See
    /// [`SlowPoll`](crate::SlowPoll) for what is reported and where.
    /// Overrides the process-wide [`warn_slow_polls`](crate::warn_slow_polls).
    ///
    /// # Examples
    ///
    /// ```
    /// let nursery = corral::Nursery::new()
    ///     .warn_slow_polls(std::time::Duration::from_millis(10));
    /// # drop(nursery);
    /// ```
    pub const fn warn_slow_polls(mut self, threshold: Duration) -> Self {
        self.slow_poll = Some(threshold);
        self
    }

    /// How long children may run on after a stop request before they are
    /// dropped: the second phase of a graceful stop (see [`Scope::stop`]).
    ///
    /// Without a grace (the default), a stop request only asks: the scope
    /// waits for its children however long they take. `Duration::ZERO` drops
    /// them at the scope's next poll. The grace runs on corral's timers
    /// ([`time`](crate::time)), so it needs a timer backend, like any sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let finished = corral::Nursery::new()
    ///     .grace(Duration::from_millis(20))
    ///     .scope(|s| async move {
    ///         let stuck = s.spawn(std::future::pending::<Result<(), ()>>());
    ///         s.stop(); // the child ignores the request...
    ///         Ok(stuck.or_dropped().await) // ...and is dropped after 20 ms
    ///     })
    ///     .await;
    /// assert_eq!(finished, Ok(None));
    /// # });
    /// ```
    pub const fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// A soft phase on the failure path: at the first error (of the body or
    /// a child), the scope asks itself to stop, exactly as [`Scope::stop`]
    /// would, instead of dropping its children at once. The running
    /// children (and nested scopes, and the body if it still runs) see the
    /// request and get the nursery's [`grace`](Self::grace) to finish;
    /// whatever is left when it ends is dropped, then the scope returns the
    /// first error. Children not started yet (spawned and not polled, or
    /// waiting for their turn under
    /// [`max_concurrency`](Self::max_concurrency)) are dropped at once:
    /// they have nothing to clean up; a child spawned after the failure is
    /// dropped unstarted (a shielded one starts). The body, if the error
    /// was its own, is done; otherwise it runs on and sees the request.
    ///
    /// Errors during that phase never replace the first: they are dropped,
    /// or kept in the [`ErrorGroup`] with [`every_error`](Self::every_error).
    /// A value the body returns then is dropped. A panic (the first failure,
    /// or one during the phase) still drops everything at once and is
    /// resumed: a panic is a bug, not an outcome to wind down from.
    ///
    /// Without a grace the scope waits for its children to finish on their
    /// own, as after [`Scope::stop`]; set one to bound the wait. Dropping the
    /// scope future drops everything at once, as always.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let flushed = AtomicBool::new(false);
    /// let flushed_ref = &flushed;
    /// let out = corral::Nursery::new()
    ///     .stop_on_failure()
    ///     .grace(Duration::from_secs(1))
    ///     .scope(|s| async move {
    ///         let stop = s.stop_handle();
    ///         s.spawn(async move {
    ///             stop.stopped().await; // asked to stop by the sibling's failure
    ///             flushed_ref.store(true, Ordering::SeqCst); // async cleanup
    ///             Ok(())
    ///         });
    ///         s.spawn(async { Err::<(), _>("disk full") });
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert_eq!(out, Err("disk full"));
    /// assert!(flushed.load(Ordering::SeqCst));
    /// # });
    /// ```
    pub const fn stop_on_failure(mut self) -> Self {
        self.stop_on_failure = true;
        self
    }

    /// Every error, not only the first: the scope's error becomes an
    /// [`ErrorGroup`] holding the first error, then those of started
    /// children that failed in the same turn (the scope polls once more the
    /// children already woken when the first failed, and starts none: it
    /// runs nothing a plain scope would not), and those of the soft phase
    /// of [`stop_on_failure`](Self::stop_on_failure) and of shielded
    /// children, in order, each with where its child was spawned (the
    /// scope's opening for the body's). asyncio's `ExceptionGroup`, Trio's
    /// `MultiError`.
    ///
    /// Returns a builder with this nursery's settings, so call it last; its
    /// [`scope`](EveryError::scope) and
    /// [`local_scope`](EveryError::local_scope) open the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let out = corral::Nursery::new()
    ///     .every_error()
    ///     .scope(|s| async move {
    ///         for e in ["first", "second"] {
    ///             s.spawn(async move {
    ///                 corral::yield_now().await; // both started...
    ///                 Err::<(), _>(e) // ...and failing in the same turn
    ///             });
    ///         }
    ///         Ok(())
    ///     })
    ///     .await;
    /// let errors = out.unwrap_err();
    /// assert_eq!(errors.first(), &"first");
    /// assert_eq!(errors.iter().map(|e| *e.error()).collect::<Vec<_>>(), ["first", "second"]);
    /// # });
    /// ```
    pub const fn every_error(self) -> EveryError {
        EveryError { nursery: self }
    }

    /// Whether each child runs inside the `tracing` span that was current
    /// where it was spawned (with the `tracing` feature; without it this
    /// setting does nothing). On by default: a child's events and spans
    /// are then children of its spawn site's span, local or parallel, as if
    /// every spawn were `.instrument(Span::current())`. Off, a child runs in
    /// whatever span is current where its scope is polled (a parallel child:
    /// none), as with a plain `FuturesUnordered`.
    ///
    /// A child spawned in the very span its scope is polled in takes no span
    /// of its own (it is polled in that span anyway: this keeps the common
    /// case at 1.27× a child without inheritance instead of 2.4×); should a
    /// later poll of the scope come from another span (a loop that opens a
    /// new span around each poll of the same scope), such a child runs in
    /// that one. A child spawned in any other span, and every parallel
    /// child, keeps its spawn site's span: a `Span` clone per child, an
    /// enter and an exit per poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// // A scope whose children should not be attributed to the caller's
    /// // request span (say, a long-lived pool started inside a request).
    /// let out = corral::Nursery::new()
    ///     .inherit_span(false)
    ///     .scope(|s| async move { Ok::<_, ()>(s.spawn(async { Ok(1) }).await) })
    ///     .await;
    /// assert_eq!(out, Ok(1));
    /// # });
    /// ```
    pub const fn inherit_span(mut self, on: bool) -> Self {
        self.inherit_span = on;
        self
    }

    /// Names the scopes opened with this nursery: the name shows wherever
    /// the scope's opening does (the task tree, slow-poll reports of its
    /// children, the reason its children were dropped when its body
    /// failed). A `&'static str`, as for
    /// [`Scope::spawn_named`](crate::Scope::spawn_named); unnamed scopes
    /// pay nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::track_tasks(true);
    /// let out = corral::Nursery::new()
    ///     .name("crawler")
    ///     .scope(|_s| async {
    ///         Ok::<_, ()>(corral::task_tree().to_string().contains("scope `crawler` opened at"))
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok(true));
    /// # corral::track_tasks(false);
    /// # });
    /// ```
    pub const fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Scopes opened with this nursery keep statistics: children spawned,
    /// running, queued, the peak running at once, finished, failed,
    /// dropped, polls, and a histogram of poll times (one poll in 32
    /// timed), read with [`Scope::stats`](crate::Scope::stats) from the
    /// body, a child or any thread. Off by default; on, a child costs a few
    /// counter updates more (see `docs/benchmarks.md`).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let stats = corral::Nursery::new()
    ///     .collect_stats()
    ///     .scope(|s| async move {
    ///         s.spawn(async { Ok(()) });
    ///         corral::yield_now().await;
    ///         Ok::<_, ()>(s.stats().unwrap())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!((stats.spawned, stats.finished, stats.polls), (1, 1, 1));
    /// # });
    /// ```
    pub const fn collect_stats(mut self) -> Self {
        self.collect_stats = true;
        self
    }

    /// A deadline with a soft edge: at `deadline` the scope asks itself to
    /// stop, exactly as [`Scope::stop`] would. The body sees the request
    /// ([`Scope::is_stopping`], [`Scope::stopped`],
    /// [`StopHandle::current`](crate::StopHandle::current)), so do the
    /// children and nested scopes; with a [`grace`](Self::grace), the
    /// children still running when it ends are dropped. The body is not
    /// dropped: it decides what the scope returns (typically what it has so
    /// far). To bound the body too, put the scope inside
    /// [`time::timeout`](crate::time::timeout) with the deadline plus the
    /// grace: a timeout with a soft edge and a hard one.
    ///
    /// A scope that finishes first never asks. A deadline already passed
    /// asks at the first poll. [`current_deadline`](crate::time::current_deadline)
    /// does not report it (it is a stop request, not a timeout). The timer
    /// runs on corral's timers ([`time`](crate::time)), armed at the scope's
    /// first poll. A later call replaces an earlier one, and
    /// [`stop_after`](Self::stop_after) likewise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let deadline = std::time::Instant::now() + Duration::from_millis(20);
    /// let pages = corral::Nursery::new()
    ///     .stop_at(deadline)
    ///     .grace(Duration::from_millis(50))
    ///     .scope(|s| async move {
    ///         let mut fetched = 0;
    ///         while !s.is_stopping() {
    ///             corral::time::sleep(Duration::from_millis(5)).await; // a page
    ///             fetched += 1;
    ///         }
    ///         Ok::<_, ()>(fetched) // what it has at the deadline
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert!(pages >= 1);
    /// # });
    /// ```
    pub const fn stop_at(mut self, deadline: std::time::Instant) -> Self {
        self.stop_at = Some(future::StopAt::At(deadline));
        self
    }

    /// [`stop_at`](Self::stop_at) `after` the scope's first poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let out = corral::Nursery::new()
    ///     .stop_after(Duration::from_millis(10))
    ///     .grace(Duration::ZERO)
    ///     .scope(|s| async move {
    ///         // A child that ignores the request is dropped at once (no grace).
    ///         let stuck = s.spawn(std::future::pending::<Result<(), ()>>());
    ///         s.stopped().await;
    ///         Ok(stuck.or_dropped().await)
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok(None));
    /// # });
    /// ```
    pub const fn stop_after(mut self, after: Duration) -> Self {
        self.stop_at = Some(future::StopAt::After(after));
        self
    }

    /// Where a scope opened here is opened, with the nursery's name.
    #[track_caller]
    fn opened_at(&self) -> &'static Location<'static> {
        let at = Location::caller();
        match self.name {
            None => at,
            Some(name) => crate::names::named(name, at),
        }
    }

    /// The task-tree record of a scope opened here now, if tracking is on.
    #[track_caller]
    fn tree(&self, kind: records::ScopeKind) -> Option<records::ScopeInfo> {
        let opened_at = self.opened_at(); // (not inside the closure below)
        records::tracking().then(|| records::ScopeInfo::new(opened_at, kind, self.max_concurrency))
    }

    /// Opens a [`scope`] with this nursery's limits.
    ///
    /// `'env` is as for [`scope`]: see [Lifetimes](scope#lifetimes).
    ///
    /// # Cancel safety
    ///
    /// As [`scope`](scope#cancel-safety): dropping the future drops every
    /// local child, then the body, before the drop returns, and asks the
    /// runtimes of parallel children to drop them.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let n = corral::Nursery::new()
    ///     .max_concurrency(4)
    ///     .scope(|s| async move { Ok::<_, ()>(s.spawn(async { Ok(1) }).await) })
    ///     .await;
    /// assert_eq!(n, Ok(1));
    /// # });
    /// ```
    #[track_caller]
    pub fn scope<'env, T, E, B, Fut>(self, body: B) -> ScopeFuture<'env, T, E, Fut>
    where
        B: FnOnce(Scope<'env, E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: 'env,
        E: 'env,
    {
        self.open_scope(body, false)
    }

    /// `scope`, keeping every error if `every` (`every_error`).
    #[track_caller]
    fn open_scope<'env, T, E, B, Fut>(self, body: B, every: bool) -> ScopeFuture<'env, T, E, Fut>
    where
        B: FnOnce(Scope<'env, E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: 'env,
        E: 'env,
    {
        let set = self.child_set(records::ScopeKind::Scope, every);
        let body = body(Scope::new(set.queue.shared_ptr()));
        ScopeFuture::new(body, set, self.stop_at, self.stop_on_failure)
    }

    /// The child set of a scope opened here now with this nursery's
    /// settings, keeping every error if `every`. (Errors besides the first
    /// are looked at only with `every` or `stop_on_failure`: a plain set has
    /// no record of them, and its first error ends the turn.)
    #[track_caller]
    fn child_set<'env, E, K>(&self, kind: records::ScopeKind, every: bool) -> ChildSet<'env, E, K> {
        let opened_at = self.opened_at();
        let watch = crate::slow_poll::watch_for(self.slow_poll, opened_at);
        let errors = (every || self.stop_on_failure).then_some(every);
        let state =
            state::ScopeState::new(self.max_concurrency, watch, self.grace, self.tree(kind))
                .inherit_span(self.inherit_span)
                .collect_stats(self.collect_stats);
        ChildSet::new(state, self.max_concurrency, opened_at, errors)
    }

    /// Opens a [`local_scope`] with this nursery's limits.
    ///
    /// `'env` is as for [`scope`]: see [Lifetimes](scope#lifetimes).
    ///
    /// # Cancel safety
    ///
    /// As [`scope`](scope#cancel-safety): dropping the future drops every
    /// local child, then the body, before the drop returns, and asks the
    /// runtimes of parallel children to drop them.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let rc = std::rc::Rc::new(3);
    /// let n = corral::Nursery::new()
    ///     .max_concurrency(1)
    ///     .local_scope(|s| async move { Ok::<_, ()>(s.spawn(async move { Ok(*rc) }).await) })
    ///     .await;
    /// assert_eq!(n, Ok(3));
    /// # });
    /// ```
    #[track_caller]
    pub fn local_scope<'env, T, E, B, Fut>(self, body: B) -> LocalScopeFuture<'env, T, E, Fut>
    where
        B: FnOnce(LocalScope<'env, E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: 'env,
        E: 'env,
    {
        self.open_local_scope(body, false)
    }

    /// `local_scope`, keeping every error if `every` (`every_error`).
    #[track_caller]
    fn open_local_scope<'env, T, E, B, Fut>(
        self,
        body: B,
        every: bool,
    ) -> LocalScopeFuture<'env, T, E, Fut>
    where
        B: FnOnce(LocalScope<'env, E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: 'env,
        E: 'env,
    {
        let set = self.child_set(records::ScopeKind::Local, every);
        let body = body(LocalScope::new(set.queue.shared_ptr()));
        LocalScopeFuture::new(body, set, self.stop_at, self.stop_on_failure)
    }
}
