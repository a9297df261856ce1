//! `Scope` and `LocalScope`: the cheap, cloneable handles a body uses to spawn.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;

use super::child::{JoinHandle, discard_unspawned, new_child};
use super::parallel::split;
use super::records::RecordRef;
use super::set::push_incoming;
use super::state::{ScopeRef, ScopeShared};
use super::stop::{self, StopHandle, Stopped};
use crate::slow_poll::Placement;
use crate::spawn::Spawn;

/// What both handles share: a counted pointer to the scope's shared state.
struct Handle<'env, E> {
    shared: ScopeRef,
    /// Invariant in `'env`: a handle for a long `'env` must not pass for one with
    /// a shorter `'env`, or a child could borrow something that dies while the
    /// scope still polls it.
    _env: PhantomData<fn(&'env ()) -> &'env ()>,
    _error: PhantomData<fn(E) -> E>,
}

impl<'env, E> Handle<'env, E> {
    fn new(shared: *const ScopeShared) -> Self {
        Handle {
            // SAFETY: the caller (the scope's constructor) holds a count, so
            // the pointer is live.
            shared: unsafe { ScopeRef::new(shared) },
            _env: PhantomData,
            _error: PhantomData,
        }
    }

    #[track_caller]
    fn spawn<F, U>(&self, future: F) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        let spawned_at = Location::caller();
        let info = self
            .shared
            .user()
            .tree
            .as_ref()
            .map(|t| t.spawned(spawned_at, Placement::Local));
        self.spawn_tracked(future, spawned_at, info)
    }

    /// Spawns with a task-tree record made by the caller (or none).
    fn spawn_tracked<F, U>(
        &self,
        future: F,
        spawned_at: &'static Location<'static>,
        info: Option<RecordRef>,
    ) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        let (link, handle) = new_child::<'env, E, F, U>(future, spawned_at, info);
        if !push_incoming(&self.shared, link) {
            // SAFETY: the push failed, so the child never reached the scope.
            unsafe { discard_unspawned(link) };
            drop(handle);
            panic!(
                "corral: spawn on a scope that has already finished \
                 (the scope future resolved, failed or was dropped)"
            );
        }
        handle
    }

    fn stop_handle(&self) -> StopHandle {
        StopHandle::new(self.shared.clone())
    }

    fn stop(&self) {
        stop::request(&self.shared);
    }

    fn is_stopping(&self) -> bool {
        self.shared.user().stop.is_stopping()
    }

    fn stopped(&self) -> Stopped {
        Stopped::new(self.shared.clone())
    }
}

impl<'env, E> Handle<'env, E> {
    #[track_caller]
    fn spawn_on<S, F, U>(&self, spawner: &S, future: F) -> JoinHandle<U>
    where
        S: Spawn + ?Sized,
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Send + 'static,
    {
        let shared = &self.shared;
        let spawned_at = Location::caller(); // (not inside the closure below)
        let watch = shared.user().watch.as_ref().map(|w| (*w, spawned_at));
        let info = shared
            .user()
            .tree
            .as_ref()
            .map(|t| t.spawned(spawned_at, Placement::Parallel));
        let (task, proxy) = split(
            future,
            self.shared.clone(),
            shared.user().start,
            watch,
            info,
        );
        // The proxy first: on a finished scope this panics, and the task,
        // dropped unpolled on the way out, drops the future with it.
        let handle = self.spawn_tracked(proxy, spawned_at, info);
        spawner.spawn_task(task);
        handle
    }
}

impl<E> Clone for Handle<'_, E> {
    fn clone(&self) -> Self {
        Handle::new(self.shared.as_ptr())
    }
}

/// A handle to a running [`scope`](crate::scope): spawns children that may
/// borrow from the environment (`'env`) and run concurrently with the body.
///
/// `Scope` is cheap to clone (one atomic increment) and is `Send + Sync`, so
/// a child that spawns siblings captures its own clone, on any thread. Its
/// children (their futures, outputs and errors) must be `Send`; use
/// [`local_scope`](crate::local_scope) for `!Send` children.
///
/// `'env` is the lifetime of everything the children may borrow; see
/// [Lifetimes](crate::scope#lifetimes).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let mut hits = vec![0; 3];
/// let hits_ref = &mut hits; // borrowed from outside: lives for `'env`
/// corral::scope(|s| async move {
///     for (i, slot) in hits_ref.iter_mut().enumerate() {
///         let s2 = s.clone();
///         s.spawn(async move {
///             *slot = i;
///             // A child may spawn siblings through its own clone.
///             s2.spawn(async { Ok(()) });
///             Ok::<_, ()>(())
///         });
///     }
///     Ok(())
/// })
/// .await
/// .unwrap();
/// assert_eq!(hits, [0, 1, 2]);
/// # });
/// ```
pub struct Scope<'env, E> {
    handle: Handle<'env, E>,
}

// No `unsafe impl`: `Scope` is `Send + Sync` because `Handle` is (a counted
// pointer to `Send + Sync` shared state, and markers). That is sound because
// `Scope::spawn` takes only `Send` children, outputs and errors, so moving or
// sharing the handle never moves a `!Send` value across threads. `LocalScope`,
// whose `spawn` does take `!Send` children, opts out with a marker.

impl<'env, E> Scope<'env, E> {
    pub(crate) fn new(shared: *const ScopeShared) -> Self {
        Scope {
            handle: Handle::new(shared),
        }
    }

    /// Spawns a child into the scope and returns a handle to its `Ok` value.
    ///
    /// The child starts at the scope's next turn (after the current poll of the
    /// body or child that spawned it), in spawn order, or later if the scope's
    /// [`max_concurrency`](crate::Nursery::max_concurrency) is reached. If it
    /// returns `Err`, every other child and the body are dropped and the scope
    /// resolves to that error; if it panics, they are dropped and the panic is
    /// resumed from the scope's poll.
    ///
    /// # Panics
    ///
    /// Panics if the scope has already finished (resolved, failed or been
    /// dropped) or is tearing down (a destructor of one of its children or of
    /// its body spawning while the scope drops them). The future is dropped
    /// without being polled.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let words = ["a", "bb", "ccc"];
    /// let words = &words;
    /// let total = corral::scope(|s| async move {
    ///     let handles: Vec<_> = words
    ///         .iter()
    ///         .map(|w| s.spawn(async move { Ok::<_, ()>(w.len()) }))
    ///         .collect();
    ///     let mut total = 0;
    ///     for h in handles {
    ///         total += h.await;
    ///     }
    ///     Ok(total)
    /// })
    /// .await;
    /// assert_eq!(total, Ok(6));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F, U>(&self, future: F) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + Send + 'env,
        U: Send + 'env,
        E: Send + 'env,
    {
        self.handle.spawn(future)
    }
    /// Spawns a child that runs in parallel, on `spawner`'s runtime, and
    /// returns a handle to its `Ok` value.
    ///
    /// The child stays inside the scope's structure: the scope waits for it,
    /// its error fails the scope, and its panic is resumed in the parent with
    /// the original payload. If the scope fails or panics, the child is
    /// **aborted** (its future dropped on its runtime at its next poll), never
    /// detached, and the scope does not resolve until that drop has run. If
    /// the scope future is dropped, the abort is requested and the runtime
    /// drops the child at its next chance. In a scope with
    /// [`max_concurrency`](crate::Nursery::max_concurrency), a parallel child
    /// counts toward the limit and starts when it gets its place.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn), if the scope has finished; and, from the
    /// scope's poll, if the runtime drops the child unfinished (for example
    /// because it shut down): the scope fails loudly rather than wait forever.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = futures::executor::ThreadPool::new().unwrap();
    /// # futures::executor::block_on(async {
    /// let sums = corral::scope(|s| async move {
    ///     let halves = [(0u64..500_000), (500_000..1_000_000)];
    ///     let handles: Vec<_> = halves
    ///         .into_iter()
    ///         .map(|range| s.spawn_on(&pool, async move { Ok::<_, ()>(range.sum::<u64>()) }))
    ///         .collect();
    ///     Ok(corral::join_all(handles).await)
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(sums.iter().sum::<u64>(), 499_999_500_000);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_on<S, F, U>(&self, spawner: &S, future: F) -> JoinHandle<U>
    where
        S: Spawn + ?Sized,
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Send + 'static,
    {
        self.handle.spawn_on(spawner, future)
    }

    /// Asks the scope to stop, gracefully: the first phase of a shutdown.
    ///
    /// From now on [`is_stopping`](Self::is_stopping) is true and
    /// [`stopped`](Self::stopped) resolves, for this scope and every scope
    /// nested in it (in its body, its children, or its parallel children), so
    /// the body and the children can finish what they are doing and return.
    /// Nothing is cancelled yet, and children spawned from now on still start
    /// (they see the request at once). If the nursery has a
    /// [`grace`](crate::Nursery::grace), the second phase comes when it has
    /// passed: every child still running is dropped, and children spawned
    /// after that are dropped unstarted. The body is never dropped by a stop:
    /// it is what gives the scope its value, so it should end when asked
    /// (typically by selecting on [`stopped`](Self::stopped)).
    ///
    /// A stop is not an error: the scope resolves with what the body returns,
    /// or with the first real error or panic, as usual. Awaiting the
    /// [`JoinHandle`] of a child dropped at the grace panics; use
    /// [`JoinHandle::or_dropped`] where that can happen. A second request
    /// changes nothing, unless it brings an earlier grace deadline (from an
    /// enclosing scope, or [`StopHandle::stop_within`]). Stopping a finished
    /// scope does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::FutureExt;
    ///
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = corral::sync::channel::unbounded::<u32>();
    /// let handled = corral::Nursery::new()
    ///     .grace(Duration::from_secs(10))
    ///     .scope(|s| async move {
    ///         let worker = s.clone();
    ///         let total = s.spawn(async move {
    ///             let mut total = 0;
    ///             // Work until asked to stop, then finish cleanly.
    ///             loop {
    ///                 futures::select! {
    ///                     job = rx.recv().fuse() => total += job.unwrap(),
    ///                     () = worker.stopped().fuse() => break,
    ///                 }
    ///             }
    ///             while let Ok(job) = rx.try_recv() {
    ///                 total += job; // drain what is queued
    ///             }
    ///             Ok::<_, ()>(total)
    ///         });
    ///         tx.send(1).await.unwrap();
    ///         tx.send(2).await.unwrap();
    ///         s.stop();
    ///         Ok(total.await)
    ///     })
    ///     .await;
    /// assert_eq!(handled, Ok(3));
    /// # });
    /// ```
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// True once a stop request has reached this scope (its own, or an
    /// enclosing scope's): one atomic load, cheap enough for every loop turn.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     assert!(!s.is_stopping());
    ///     s.stop();
    ///     assert!(s.is_stopping());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn is_stopping(&self) -> bool {
        self.handle.is_stopping()
    }

    /// A future that resolves once a stop request has reached this scope:
    /// what a child or the body selects on beside its work. It is `'static`
    /// and `Send`, and does not hold the scope open.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the [`Stopped`] loses nothing; a new one
    /// resolves as soon as the request is there.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let s2 = s.clone();
    ///     s.spawn(async move {
    ///         s2.stopped().await;
    ///         Ok(())
    ///     });
    ///     s.stop();
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn stopped(&self) -> Stopped {
        self.handle.stopped()
    }

    /// A handle that requests or watches a stop of this scope from anywhere:
    /// another thread, a signal handler, a parallel child.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let stop = s.stop_handle();
    ///     std::thread::spawn(move || stop.stop()).join().unwrap();
    ///     assert!(s.is_stopping());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        self.handle.stop_handle()
    }
}

impl<E> Clone for Scope<'_, E> {
    fn clone(&self) -> Self {
        Scope {
            handle: self.handle.clone(),
        }
    }
}

impl<E> fmt::Debug for Scope<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

/// A handle to a running [`local_scope`](crate::local_scope): like [`Scope`],
/// but its children need not be `Send` (they may hold `Rc`s or `RefCell`
/// borrows), and the handle itself stays on its thread. `'env` is as for
/// [`Scope`]: see [Lifetimes](crate::scope#lifetimes).
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// # futures::executor::block_on(async {
/// let log = Rc::new(RefCell::new(Vec::new()));
/// corral::local_scope(|s| async move {
///     for i in 0..3 {
///         let log = log.clone();
///         s.spawn(async move {
///             log.borrow_mut().push(i);
///             Ok::<_, ()>(())
///         });
///     }
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
///
/// # Threads
///
/// A `LocalScope` is neither `Send` nor `Sync`: its children may hold
/// `!Send` values, so spawning one from another thread would move such a
/// value across threads. Like async-executor's `LocalExecutor`, the handle
/// cannot leave the thread it was made on (a `Scope`, whose children must be
/// `Send`, can):
///
/// ```compile_fail,E0277
/// # futures::executor::block_on(async {
/// corral::local_scope(|s| async move {
///     let s2 = s.clone();
///     std::thread::spawn(move || {
///         s2.spawn(async { Ok(()) }); // error: `LocalScope` cannot be sent
///     })
///     .join()
///     .unwrap();
///     Ok::<_, ()>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
pub struct LocalScope<'env, E> {
    handle: Handle<'env, E>,
    /// `!Send + !Sync`: `spawn` below accepts `!Send` children, which the
    /// scope polls on the thread that owns it, so the handle must stay there
    /// (`Handle` alone is `Send + Sync`; see `Scope`).
    _not_send: PhantomData<*const ()>,
}

impl<'env, E> LocalScope<'env, E> {
    pub(crate) fn new(shared: *const ScopeShared) -> Self {
        LocalScope {
            handle: Handle::new(shared),
            _not_send: PhantomData,
        }
    }

    /// Spawns a child, which may be `!Send`, into the scope. Same semantics as
    /// [`Scope::spawn`].
    ///
    /// # Panics
    ///
    /// Panics if the scope has already finished, as [`Scope::spawn`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// # futures::executor::block_on(async {
    /// let shared = Rc::new(5);
    /// let doubled = corral::local_scope(|s| async move {
    ///     let h = s.spawn(async move { Ok::<_, ()>(*shared * 2) });
    ///     Ok(h.await)
    /// })
    /// .await;
    /// assert_eq!(doubled, Ok(10));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn<F, U>(&self, future: F) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        self.handle.spawn(future)
    }
    /// Spawns a child that runs in parallel, on `spawner`'s runtime, and
    /// returns a handle to its `Ok` value.
    ///
    /// The child stays inside the scope's structure: the scope waits for it,
    /// its error fails the scope, and its panic is resumed in the parent with
    /// the original payload. If the scope fails or panics, the child is
    /// **aborted** (its future dropped on its runtime at its next poll), never
    /// detached, and the scope does not resolve until that drop has run. If
    /// the scope future is dropped, the abort is requested and the runtime
    /// drops the child at its next chance. In a scope with
    /// [`max_concurrency`](crate::Nursery::max_concurrency), a parallel child
    /// counts toward the limit and starts when it gets its place.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn), if the scope has finished; and, from the
    /// scope's poll, if the runtime drops the child unfinished (for example
    /// because it shut down): the scope fails loudly rather than wait forever.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = futures::executor::ThreadPool::new().unwrap();
    /// # futures::executor::block_on(async {
    /// let sums = corral::local_scope(|s| async move {
    ///     let halves = [(0u64..500_000), (500_000..1_000_000)];
    ///     let handles: Vec<_> = halves
    ///         .into_iter()
    ///         .map(|range| s.spawn_on(&pool, async move { Ok::<_, ()>(range.sum::<u64>()) }))
    ///         .collect();
    ///     Ok(corral::join_all(handles).await)
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(sums.iter().sum::<u64>(), 499_999_500_000);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_on<S, F, U>(&self, spawner: &S, future: F) -> JoinHandle<U>
    where
        S: Spawn + ?Sized,
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Send + 'static,
    {
        self.handle.spawn_on(spawner, future)
    }

    /// Asks the scope to stop, gracefully; see [`Scope::stop`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     s.stop();
    ///     assert!(s.is_stopping());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn stop(&self) {
        self.handle.stop();
    }

    /// True once a stop request has reached this scope; see
    /// [`Scope::is_stopping`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     assert!(!s.is_stopping());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn is_stopping(&self) -> bool {
        self.handle.is_stopping()
    }

    /// Resolves once a stop request has reached this scope; see
    /// [`Scope::stopped`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the [`Stopped`] loses nothing; a new one
    /// resolves as soon as the request is there.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     s.stop();
    ///     s.stopped().await;
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn stopped(&self) -> Stopped {
        self.handle.stopped()
    }

    /// A `Send + 'static` handle that stops this scope from anywhere; see
    /// [`Scope::stop_handle`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     let stop = s.stop_handle();
    ///     std::thread::spawn(move || stop.stop()).join().unwrap();
    ///     assert!(s.is_stopping());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        self.handle.stop_handle()
    }
}

impl<E> Clone for LocalScope<'_, E> {
    fn clone(&self) -> Self {
        LocalScope {
            handle: self.handle.clone(),
            _not_send: PhantomData,
        }
    }
}

impl<E> fmt::Debug for LocalScope<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalScope").finish_non_exhaustive()
    }
}
