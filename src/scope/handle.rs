//! `Scope` and `LocalScope`: the cheap, cloneable handles a body uses to spawn.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::Duration;

use event_listener::EventListener;

use super::child::{
    JoinHandle, JoinPart, Lone, Member, discard_unspawned, mark_shielded, new_cell,
    release_handle_ref,
};
use super::member::SetMember;
use super::parallel::split;
use super::pool::Pool;
use super::reason::Reason;
use super::records::RecordRef;
use super::set::push_incoming;
use super::shield::Shielded;
use super::start::{self, Ready, Start};
use super::state::{ScopeRef, ScopeShared};
use super::stats::ScopeStats;
use super::stop::{self, StopHandle, Stopped};
use crate::context::InContext;
use crate::frame;
use crate::slow_poll::Placement;
use crate::spawn::{Spawn, Task};
use crate::wait_point::{Wait, note};

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
    #[inline]
    fn spawn<F, U>(&self, future: F) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        self.spawn_at(future, Location::caller())
    }

    /// Spawns a child named `name` (`crate::names`).
    #[track_caller]
    #[inline]
    fn spawn_named<F, U>(&self, name: &'static str, future: F) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        self.spawn_at(future, crate::names::named(name, Location::caller()))
    }

    /// A task-tree record for a local child spawned at `spawned_at`, if the
    /// scope is tracked.
    #[inline]
    fn record(&self, spawned_at: &'static Location<'static>) -> Option<RecordRef> {
        let tree = self.shared.user().tree.as_ref()?;
        Some(tree.spawned(spawned_at, Placement::Local))
    }

    /// Spawns a child recorded as spawned at `spawned_at`.
    #[inline]
    fn spawn_at<F, U>(&self, future: F, spawned_at: &'static Location<'static>) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        let info = self.record(spawned_at);
        self.spawn_tracked(future, spawned_at, info)
    }

    /// Spawns a shielded child (`spawn_shielded`): `future` under a limit of
    /// `within`, which a grace's end or a failure of the scope does not drop.
    #[track_caller]
    #[inline]
    fn spawn_shielded<F, U>(&self, within: Duration, future: F) -> JoinHandle<Option<U>>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        let spawned_at = Location::caller();
        let info = self.record(spawned_at);
        self.spawn_lone(Shielded::new(within, future), spawned_at, info, true)
    }

    /// Spawns a child nobody joins (its outcome reaches the scope only).
    #[inline]
    fn spawn_unjoined<F>(&self, future: F, spawned_at: &'static Location<'static>)
    where
        F: Future<Output = Result<(), E>> + 'env,
        E: 'env,
    {
        drop(self.spawn_at(future, spawned_at));
    }

    /// Spawns a started child (`start`), unjoined; its task-tree record, if
    /// any, says "not ready yet" until it sends its value.
    #[inline]
    fn start<B, F, R>(&self, body: B, spawned_at: &'static Location<'static>) -> Start<R, E>
    where
        B: FnOnce(Ready<R>) -> F,
        F: Future<Output = Result<(), E>> + 'env,
        R: 'env,
        E: 'env,
    {
        let info = self.record(spawned_at);
        let (child, starter) = start::start(body, info, spawned_at);
        drop(self.spawn_tracked(child, spawned_at, info));
        starter
    }

    /// Spawns with a task-tree record made by the caller (or none).
    #[inline]
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
        self.spawn_lone(future, spawned_at, info, false)
    }

    /// Spawns a lone child (one with a `JoinHandle`), shielded or not.
    #[inline]
    fn spawn_lone<F, U>(
        &self,
        future: F,
        spawned_at: &'static Location<'static>,
        info: Option<RecordRef>,
        shielded: bool,
    ) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        match self.launch(
            future,
            Lone::new(),
            spawned_at,
            info,
            Counted::NotYet,
            shielded,
        ) {
            // SAFETY: a lone child's join part, whose handle reference we hold.
            Some(join) => unsafe { JoinHandle::from_part(join, self.shared.as_ptr()) },
            None => finished_scope(),
        }
    }

    /// Allocates a child and hands it to the scope; `None` (the child
    /// dropped unpolled, its count given back) if the scope has finished.
    /// The child takes along what is in force here: the `tracing` span
    /// (unless the nursery said not to) and the context.
    #[inline]
    fn launch<F, U, M>(
        &self,
        future: F,
        member: M,
        spawned_at: &'static Location<'static>,
        info: Option<RecordRef>,
        counted: Counted,
        shielded: bool,
    ) -> Option<NonNull<JoinPart<U, M>>>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
        M: Member + 'env,
    {
        #[cfg(feature = "tracing")]
        if let Some(span) = self.span_here(false) {
            use tracing::Instrument;
            let future = future.instrument(span);
            return self.launch_in_context(future, member, spawned_at, info, counted, shielded);
        }
        self.launch_in_context(future, member, spawned_at, info, counted, shielded)
    }

    /// The `tracing` span a child spawned here must take along, if any
    /// (`span.rs`).
    #[cfg(feature = "tracing")]
    #[inline]
    fn span_here(&self, parallel: bool) -> Option<tracing::Span> {
        let user = self.shared.user();
        if !user.inherit_span {
            return None;
        }
        user.poll_span.for_child(parallel)
    }

    /// `launch`, past the span: the context in force here goes with the
    /// child (`crate::context`); a child spawned where none is carries
    /// nothing.
    #[inline]
    fn launch_in_context<F, U, M>(
        &self,
        future: F,
        member: M,
        spawned_at: &'static Location<'static>,
        info: Option<RecordRef>,
        counted: Counted,
        shielded: bool,
    ) -> Option<NonNull<JoinPart<U, M>>>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
        M: Member + 'env,
    {
        match frame::capture() {
            None => self.launch_cell(future, member, spawned_at, info, counted, shielded),
            Some(context) => self.launch_cell(
                InContext::new(context, future),
                member,
                spawned_at,
                info,
                counted,
                shielded,
            ),
        }
    }

    /// `launch`, past the span and the context.
    #[inline]
    fn launch_cell<F, U, M>(
        &self,
        future: F,
        member: M,
        spawned_at: &'static Location<'static>,
        info: Option<RecordRef>,
        counted: Counted,
        shielded: bool,
    ) -> Option<NonNull<JoinPart<U, M>>>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
        M: Member + 'env,
    {
        let room = self.shared.user().room.as_ref();
        if let (Some(room), Counted::NotYet) = (room, counted) {
            // Before the push: the scope may finish the child at once.
            room.add();
        }
        if let Some(stats) = &self.shared.user().stats {
            // Before the push, as the room.
            stats.spawned();
        }
        // On the scope's thread, inside its poll, the cell may be carved from
        // the scope's arena (owner-only).
        let owned_here = self.shared.owned_here();
        // SAFETY: `owned_here` holds for the borrow, which ends with the call
        // and runs no user code (the future is only moved into the cell).
        let arena = owned_here.then(|| unsafe { &mut self.shared.user_local().arena });
        let (link, join) = new_cell::<E, F, U, M>(future, spawned_at, info, member, arena);
        if shielded {
            mark_shielded(link);
        }
        // SAFETY: `owned_here` was read above, and nothing since ran user
        // code or left the loop.
        if !unsafe { push_incoming(&self.shared, link, owned_here) } {
            // SAFETY: the push failed, so the child never reached the scope;
            // the handle side's reference is ours to give up. Handle side
            // first: the discard's cancel then tells no set about a child it
            // never had (and frees the cell).
            unsafe {
                release_handle_ref(join);
                discard_unspawned(link, self.shared.as_ptr());
            }
            if let Some(room) = room {
                room.release();
            }
            return None;
        }
        Some(join)
    }

    /// Spawns a set's child (`stream::JoinSet`), local or parallel.
    #[inline]
    fn spawn_member<F, U, M>(
        &self,
        future: F,
        member: M,
        spawned_at: &'static Location<'static>,
        counted: Counted,
    ) -> Option<NonNull<JoinPart<U, M>>>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
        M: Member + 'env,
    {
        let info = self.record(spawned_at);
        self.launch(future, member, spawned_at, info, counted, false)
    }

    fn stats(&self) -> Option<ScopeStats> {
        self.shared
            .user()
            .stats
            .as_ref()
            .map(|stats| stats.snapshot())
    }

    fn stop_handle(&self) -> StopHandle {
        StopHandle::new(self.shared.clone())
    }

    #[track_caller]
    fn stop(&self) {
        stop::request(&self.shared, Reason::Stopped(Location::caller()));
    }

    fn is_stopping(&self) -> bool {
        self.shared.user().stop.is_stopping()
    }

    #[track_caller]
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
        match self.spawn_on_member(
            spawner,
            future,
            Lone::new(),
            Location::caller(),
            Counted::NotYet,
        ) {
            // SAFETY: a lone child's join part, whose handle reference we hold.
            Some(join) => unsafe { JoinHandle::from_part(join, self.shared.as_ptr()) },
            None => finished_scope(),
        }
    }

    fn spawn_on_member<S, F, U, M>(
        &self,
        spawner: &S,
        future: F,
        member: M,
        spawned_at: &'static Location<'static>,
        counted: Counted,
    ) -> Option<NonNull<JoinPart<U, M>>>
    where
        S: Spawn + ?Sized,
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Send + 'static,
        M: Member + 'env,
    {
        let shared = &self.shared;
        let watch = shared.user().watch.as_ref().map(|w| (*w, spawned_at));
        let info = shared
            .user()
            .tree
            .as_ref()
            .map(|t| t.spawned(spawned_at, Placement::Parallel));
        // The span goes with the future to its runtime (the context goes in
        // the split's shared part); the proxy, polled here, needs neither.
        #[cfg(feature = "tracing")]
        if let Some(span) = self.span_here(true) {
            use tracing::Instrument;
            let future = future.instrument(span);
            let (task, proxy) = split(
                future,
                self.shared.clone(),
                shared.user().start,
                watch,
                info,
            );
            return self.launch_parallel(spawner, task, proxy, member, spawned_at, info, counted);
        }
        let (task, proxy) = split(
            future,
            self.shared.clone(),
            shared.user().start,
            watch,
            info,
        );
        self.launch_parallel(spawner, task, proxy, member, spawned_at, info, counted)
    }

    /// Hands a parallel child's proxy to the scope, then its task to its
    /// runtime.
    #[allow(clippy::too_many_arguments)]
    fn launch_parallel<S, F, U, M>(
        &self,
        spawner: &S,
        task: Task,
        proxy: F,
        member: M,
        spawned_at: &'static Location<'static>,
        info: Option<RecordRef>,
        counted: Counted,
    ) -> Option<NonNull<JoinPart<U, M>>>
    where
        S: Spawn + ?Sized,
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
        M: Member + 'env,
    {
        // The proxy first: on a finished scope the task, dropped unpolled on
        // the way out, drops the future with it.
        let join = self.launch_cell(proxy, member, spawned_at, info, counted, false)?;
        spawner.spawn_task(task);
        Some(join)
    }
}

/// Whether a spawn's child is already counted in the scope's room (by
/// [`RoomWait`]) or is to be counted by the spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Counted by [`RoomWait`].
    Already,
    /// To be counted by the spawn.
    NotYet,
}

#[cold]
#[track_caller]
fn finished_scope() -> ! {
    panic!(
        "corral: spawn on a scope that has already finished \
         (the scope future resolved, failed or was dropped)"
    )
}

/// Waits for a place under a limited scope's limit and takes it.
#[derive(Debug, Default)]
pub(crate) struct RoomWait {
    listener: Option<EventListener>,
}

impl RoomWait {
    /// Ready with how the child is counted once there is room (at once in a
    /// scope without a limit).
    pub(crate) fn poll_reserve(
        &mut self,
        shared: &ScopeShared,
        cx: &mut Context<'_>,
    ) -> Poll<Counted> {
        let Some(room) = &shared.user().room else {
            return Poll::Ready(Counted::NotYet);
        };
        loop {
            if room.try_reserve() {
                self.listener = None;
                return Poll::Ready(Counted::Already);
            }
            match &mut self.listener {
                // Listen, then look again: a child that finished between the
                // look and the listen notifies this listener.
                None => self.listener = Some(room.listen()),
                Some(listener) => {
                    std::task::ready!(Pin::new(listener).poll(cx));
                    self.listener = None;
                }
            }
        }
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

    /// Spawns a child that says when it is ready, and waits for that: the
    /// [`Start`] future resolves with the value the child passes to its
    /// [`Ready`] sender, while the child runs on in the scope (Trio's
    /// `nursery.start`; "tell me when the server is listening").
    ///
    /// Until it is ready the child answers to its starter: if it returns an
    /// error first, the error goes to the starter
    /// ([`StartError::Failed`](crate::StartError::Failed)) and the scope is not affected; if it
    /// returns `Ok(())` first, the starter gets [`StartError::Ended`](crate::StartError::Ended); if the
    /// starter gives up (drops the `Start`, say under a timeout), the child
    /// is dropped at its next poll. Once ready it is an ordinary child: its
    /// error fails the scope, a stop request reaches it, the scope waits for
    /// it. A panic, before or after, fails the scope as any child's does.
    /// A child that never sends keeps its starter waiting as long as it runs.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn): if the scope has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let (tx, rx) = async_channel::bounded::<u32>(1);
    ///     // The "server" binds, says where, then serves until the scope ends.
    ///     let addr = s
    ///         .start(|ready| async move {
    ///             let _ = ready.send("127.0.0.1:4000");
    ///             while let Ok(n) = rx.recv().await {
    ///                 assert_eq!(n, 7);
    ///             }
    ///             Ok(())
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(addr, "127.0.0.1:4000");
    ///     tx.send(7).await.unwrap(); // the server is running
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn start<B, F, R>(&self, body: B) -> Start<R, E>
    where
        B: FnOnce(Ready<R>) -> F,
        F: Future<Output = Result<(), E>> + Send + 'env,
        R: Send + 'env,
        E: Send + 'env,
    {
        self.handle.start(body, Location::caller())
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

    /// Spawns a child named `name`, as [`spawn`](Self::spawn) does.
    ///
    /// The name shows wherever the child's spawn site does: the task tree
    /// ([`task_tree`](crate::task_tree)), slow-poll reports
    /// ([`SlowPoll::name`](crate::SlowPoll)), the reason it was dropped
    /// ([`Reason`](crate::Reason)'s `Display`) and an error group's
    /// members. A name says what kind of child this is, as a thread's name
    /// does, so it is a `&'static str`: naming costs a look-up in the
    /// spawning thread's table of names per spawn (the first spawn of a
    /// name at a site on a thread also takes a process-wide lock), and
    /// unnamed children pay nothing.
    /// For per-item identity (a URL, a request id), put the item in a
    /// [`context`](crate::context) value or a `tracing` span: children carry
    /// both.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn): if the scope has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::track_tasks(true);
    /// let out = corral::scope(|s| async move {
    ///     let (tx, rx) = futures::channel::oneshot::channel::<()>();
    ///     let fetch = s.spawn_named("fetch", async move {
    ///         rx.await.ok();
    ///         Ok(200)
    ///     });
    ///     corral::yield_now().await; // the child has started and waits
    ///     assert!(corral::task_tree().to_string().contains("child `fetch` spawned at"));
    ///     tx.send(()).unwrap();
    ///     Ok::<_, ()>(fetch.await)
    /// })
    /// .await;
    /// assert_eq!(out, Ok(200));
    /// # corral::track_tasks(false);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F, U>(&self, name: &'static str, future: F) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + Send + 'env,
        U: Send + 'env,
        E: Send + 'env,
    {
        self.handle.spawn_named(name, future)
    }

    /// Spawns a **shielded** child: async cleanup (a flush, a goodbye, a
    /// close) that the scope's wind-down does not interrupt, bounded by its
    /// own limit instead (anyio's shielded cancel scope with
    /// `move_on_after`).
    ///
    /// The child runs like any other (it sees stop requests through
    /// [`is_stopping`](Self::is_stopping) and [`stopped`](Self::stopped),
    /// its error fails the scope, its panic is resumed), except that:
    ///
    /// - the end of a stop request's [`grace`](crate::Nursery::grace) does
    ///   not drop it, nor does the scope's failure (an error or a panic of a
    ///   sibling or the body): the scope waits for it, then returns its
    ///   failure (a shielded child's own error then joins the
    ///   [`ErrorGroup`](crate::ErrorGroup) or is dropped; its panic is
    ///   resumed instead);
    /// - it starts even after a grace has ended or the scope has failed
    ///   softly ([`stop_on_failure`](crate::Nursery::stop_on_failure)),
    ///   when other new children are dropped unstarted;
    /// - `within`, counted from its first poll, bounds it: once it passes,
    ///   the future is dropped and the handle yields `None` (`Some(value)`
    ///   if it finished in time).
    ///
    /// It never outlives the scope, and it never delays a dropped scope
    /// future: dropping the scope future drops every child at once,
    /// shielded or not. [`abort`](JoinHandle::abort) drops it too.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn): if the scope has already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let said_goodbye = AtomicBool::new(false);
    /// let said = &said_goodbye;
    /// let out = corral::Nursery::new()
    ///     .grace(Duration::ZERO)
    ///     .scope(|s| async move {
    ///         let s2 = s.clone();
    ///         s.spawn(async move {
    ///             s2.stopped().await;
    ///             // The grace is zero: this child is dropped at once, and a
    ///             // plain child spawned now would be dropped unstarted.
    ///             s2.spawn_shielded(Duration::from_secs(1), async move {
    ///                 corral::yield_now().await; // send a goodbye
    ///                 said.store(true, Ordering::SeqCst);
    ///                 Ok(())
    ///             });
    ///             std::future::pending::<Result<(), ()>>().await
    ///         });
    ///         corral::yield_now().await;
    ///         s.stop();
    ///         Ok::<_, ()>(())
    ///     })
    ///     .await;
    /// assert_eq!(out, Ok(()));
    /// assert!(said_goodbye.load(Ordering::SeqCst));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_shielded<F, U>(&self, within: Duration, future: F) -> JoinHandle<Option<U>>
    where
        F: Future<Output = Result<U, E>> + Send + 'env,
        U: Send + 'env,
        E: Send + 'env,
    {
        self.handle.spawn_shielded(within, future)
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
    /// **A runtime that never runs the child hangs the scope.** corral hands
    /// the child to `spawner` and waits for it: an `async_executor::Executor`
    /// that no thread runs, a tokio `Handle` of a runtime whose threads are
    /// all blocked, or a pool shut down without dropping its tasks never
    /// polls it, and the scope waits for ever (there is nothing to fail
    /// with: the runtime still holds the child). The task tree
    /// ([`task_tree`](crate::task_tree)) marks such a child: "spawned on a
    /// runtime 10 s ago and never started". Run the executor (smol's
    /// `Executor::run`, a `LocalExecutor` on this thread does not count),
    /// or bound the wait with [`time::timeout`](crate::time::timeout).
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
    #[track_caller]
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
    #[track_caller]
    pub fn stopped(&self) -> Stopped {
        self.handle.stopped()
    }

    /// The scope's statistics now, if its nursery collects them
    /// ([`Nursery::collect_stats`](crate::Nursery::collect_stats)); `None`
    /// otherwise. See [`ScopeStats`](crate::ScopeStats).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let out = corral::Nursery::new()
    ///     .max_concurrency(2)
    ///     .collect_stats()
    ///     .scope(|s| async move {
    ///         let handles: Vec<_> = (0..5)
    ///             .map(|_| s.spawn(async { Ok(corral::yield_now().await) }))
    ///             .collect();
    ///         let before = s.stats().unwrap();
    ///         corral::join_all(handles).await;
    ///         Ok::<_, ()>((before.queued, s.stats().unwrap()))
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out.0, 5); // spawned, none started yet
    /// assert_eq!((out.1.finished, out.1.peak_running, out.1.queued), (5, 2, 0));
    /// assert_eq!(corral::scope(|s| async move { Ok::<_, ()>(s.stats()) }).await, Ok(None));
    /// # });
    /// ```
    pub fn stats(&self) -> Option<ScopeStats> {
        self.handle.stats()
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

    /// Spawns a child once the scope has room for it: the back-pressure
    /// form of [`spawn`](Self::spawn).
    ///
    /// In a scope with a [`max_concurrency`](crate::Nursery::max_concurrency)
    /// of `n`, the returned future waits while `n` children (or more) have
    /// not finished — running, waiting for a turn, or just spawned — then
    /// spawns `future` and resolves to its [`JoinHandle`]. A body that feeds
    /// a million items this way holds at most `n` children at once, where
    /// [`spawn`](Self::spawn) would queue every one of them (allocated, not
    /// started). A child counts until its future is gone: its value, if its
    /// handle has not taken it, does not hold a place. So a body that waits
    /// here never waits for itself: the children run (and finish) without
    /// the body's help. Several waiters are served as places free up, though
    /// not strictly first come, first served. In a scope without a limit it
    /// spawns at once. A stop request does not end the wait: the child is
    /// spawned when a place frees, and sees the request. A handle kept
    /// unawaited keeps its child's cell (sized by its future) after the
    /// child finishes, until the value is taken or the handle dropped: await
    /// or drop handles as you go, or memory grows with the input.
    ///
    /// Only the body should wait here. A *child* that awaits
    /// `spawn_bounded` holds a place while it waits: if every place is held
    /// by children waiting for a place, none ever frees, and the scope hangs
    /// (as a task that acquires a second permit of a semaphore while holding
    /// one can). Children that feed more work use [`spawn`](Self::spawn), or
    /// hand items to the body through a channel. There is no bounded form of
    /// [`spawn_on`](Self::spawn_on) yet: a parallel child spawned beyond the
    /// limit waits unstarted on its runtime (allocated, as a queued `spawn`)
    /// until it has a place.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn), when it spawns: if the scope has finished
    /// by then.
    ///
    /// The child is spawned when the returned future completes: it takes
    /// the [`context`](crate::context) values and the `tracing` span in
    /// force where that future is polled (usually where it is awaited).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it resolves drops `future`
    /// unpolled and spawns nothing; a place it was woken for goes to the next
    /// waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # futures::executor::block_on(async {
    /// let alive = AtomicUsize::new(0);
    /// let alive = &alive;
    /// let total = corral::Nursery::new()
    ///     .max_concurrency(4)
    ///     .scope(|s| async move {
    ///         let mut handles = Vec::new();
    ///         for i in 0..100 {
    ///             // Never more than 4 children exist at once.
    ///             handles.push(s.spawn_bounded(async move {
    ///                 assert!(alive.fetch_add(1, Ordering::SeqCst) < 4);
    ///                 smol::future::yield_now().await;
    ///                 alive.fetch_sub(1, Ordering::SeqCst);
    ///                 Ok::<_, ()>(i)
    ///             }).await);
    ///         }
    ///         let mut total = 0;
    ///         for h in handles {
    ///             total += h.await;
    ///         }
    ///         Ok(total)
    ///     })
    ///     .await;
    /// assert_eq!(total, Ok(4950));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_bounded<F, U>(&self, future: F) -> SpawnBounded<'_, Self, F>
    where
        F: Future<Output = Result<U, E>> + Send + 'env,
        U: Send + 'env,
        E: Send + 'env,
    {
        SpawnBounded::new(self, future)
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

    /// Spawns a child, which may be `!Send`, that says when it is ready, and
    /// waits for that. Same semantics as [`Scope::start`].
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn): if the scope has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     let shared = Rc::new(3);
    ///     let got = s.start(|ready| async move {
    ///         let _ = ready.send(Rc::clone(&shared));
    ///         Ok(())
    ///     });
    ///     assert_eq!(*got.await.unwrap(), 3);
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn start<B, F, R>(&self, body: B) -> Start<R, E>
    where
        B: FnOnce(Ready<R>) -> F,
        F: Future<Output = Result<(), E>> + 'env,
        R: 'env,
        E: 'env,
    {
        self.handle.start(body, Location::caller())
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

    /// Spawns a child named `name`, which may be `!Send`: as
    /// [`Scope::spawn_named`].
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn): if the scope has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let rc = std::rc::Rc::new(5);
    /// let out = corral::local_scope(|s| async move {
    ///     Ok::<_, ()>(s.spawn_named("reader", async move { Ok(*rc) }).await)
    /// })
    /// .await;
    /// assert_eq!(out, Ok(5));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F, U>(&self, name: &'static str, future: F) -> JoinHandle<U>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        self.handle.spawn_named(name, future)
    }

    /// Spawns a shielded child, which may be `!Send`: cleanup that the
    /// scope's wind-down does not interrupt, bounded by `within`. Same
    /// semantics as [`Scope::spawn_shielded`].
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    /// let log2 = log.clone();
    /// let out = corral::local_scope(|s| async move {
    ///     s.spawn_shielded(Duration::from_secs(1), async move {
    ///         log2.borrow_mut().push("flushed");
    ///         Ok(())
    ///     });
    ///     Err::<(), _>("failed") // the shielded child still runs
    /// })
    /// .await;
    /// assert_eq!(out, Err("failed"));
    /// assert_eq!(*log.borrow(), ["flushed"]);
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_shielded<F, U>(&self, within: Duration, future: F) -> JoinHandle<Option<U>>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        self.handle.spawn_shielded(within, future)
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
    /// **A runtime that never runs the child hangs the scope.** corral hands
    /// the child to `spawner` and waits for it: an `async_executor::Executor`
    /// that no thread runs, a tokio `Handle` of a runtime whose threads are
    /// all blocked, or a pool shut down without dropping its tasks never
    /// polls it, and the scope waits for ever (there is nothing to fail
    /// with: the runtime still holds the child). The task tree
    /// ([`task_tree`](crate::task_tree)) marks such a child: "spawned on a
    /// runtime 10 s ago and never started". Run the executor (smol's
    /// `Executor::run`, a `LocalExecutor` on this thread does not count),
    /// or bound the wait with [`time::timeout`](crate::time::timeout).
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
    #[track_caller]
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
    #[track_caller]
    pub fn stopped(&self) -> Stopped {
        self.handle.stopped()
    }

    /// The scope's statistics now, if its nursery collects them: as
    /// [`Scope::stats`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let rc = std::rc::Rc::new(1);
    /// let stats = corral::Nursery::new()
    ///     .collect_stats()
    ///     .local_scope(|s| async move {
    ///         s.spawn(async move { Ok(*rc) });
    ///         corral::yield_now().await;
    ///         Ok::<_, ()>(s.stats().unwrap())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!((stats.spawned, stats.finished), (1, 1));
    /// # });
    /// ```
    pub fn stats(&self) -> Option<ScopeStats> {
        self.handle.stats()
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

    /// Spawns a child, which may be `!Send`, once the scope has room for it.
    /// Same semantics as [`Scope::spawn_bounded`].
    ///
    /// Besides `Send`, as for the scope's handle:
    ///
    /// In a scope with a [`max_concurrency`](crate::Nursery::max_concurrency)
    /// of `n`, the returned future waits while `n` children (or more) have
    /// not finished — running, waiting for a turn, or just spawned — then
    /// spawns `future` and resolves to its [`JoinHandle`]. A body that feeds
    /// a million items this way holds at most `n` children at once, where
    /// [`spawn`](Self::spawn) would queue every one of them (allocated, not
    /// started). A child counts until its future is gone: its value, if its
    /// handle has not taken it, does not hold a place. So a body that waits
    /// here never waits for itself: the children run (and finish) without
    /// the body's help. Several waiters are served as places free up, though
    /// not strictly first come, first served. In a scope without a limit it
    /// spawns at once. A stop request does not end the wait: the child is
    /// spawned when a place frees, and sees the request. A handle kept
    /// unawaited keeps its child's cell (sized by its future) after the
    /// child finishes, until the value is taken or the handle dropped: await
    /// or drop handles as you go, or memory grows with the input.
    ///
    /// Only the body should wait here. A *child* that awaits
    /// `spawn_bounded` holds a place while it waits: if every place is held
    /// by children waiting for a place, none ever frees, and the scope hangs
    /// (as a task that acquires a second permit of a semaphore while holding
    /// one can). Children that feed more work use [`spawn`](Self::spawn), or
    /// hand items to the body through a channel. There is no bounded form of
    /// [`spawn_on`](Self::spawn_on) yet: a parallel child spawned beyond the
    /// limit waits unstarted on its runtime (allocated, as a queued `spawn`)
    /// until it has a place.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn), when it spawns: if the scope has finished
    /// by then.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it resolves drops `future`
    /// unpolled and spawns nothing; a place it was woken for goes to the next
    /// waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # futures::executor::block_on(async {
    /// let alive = AtomicUsize::new(0);
    /// let alive = &alive;
    /// let total = corral::Nursery::new()
    ///     .max_concurrency(4)
    ///     .local_scope(|s| async move {
    ///         let mut handles = Vec::new();
    ///         for i in 0..100 {
    ///             // Never more than 4 children exist at once.
    ///             handles.push(s.spawn_bounded(async move {
    ///                 assert!(alive.fetch_add(1, Ordering::SeqCst) < 4);
    ///                 smol::future::yield_now().await;
    ///                 alive.fetch_sub(1, Ordering::SeqCst);
    ///                 Ok::<_, ()>(i)
    ///             }).await);
    ///         }
    ///         let mut total = 0;
    ///         for h in handles {
    ///             total += h.await;
    ///         }
    ///         Ok(total)
    ///     })
    ///     .await;
    /// assert_eq!(total, Ok(4950));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_bounded<F, U>(&self, future: F) -> SpawnBounded<'_, Self, F>
    where
        F: Future<Output = Result<U, E>> + 'env,
        U: 'env,
        E: 'env,
    {
        SpawnBounded::new(self, future)
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

pin_project_lite::pin_project! {
    /// The future of [`Scope::spawn_bounded`] and [`LocalScope::spawn_bounded`]
    /// (`S` is the scope's handle type): waits for room under the scope's
    /// limit, then spawns and resolves to the child's [`JoinHandle`].
    ///
    /// It borrows the handle, so it is `Send` only for a [`Scope`] (and a
    /// `Send` future): a [`LocalScope`] cannot be spawned into from another
    /// thread, not even through this future.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::Nursery::new()
    ///     .max_concurrency(1)
    ///     .scope(|s| async move {
    ///         let spawn: corral::SpawnBounded<'_, corral::Scope<'_, ()>, _> =
    ///             s.spawn_bounded(async { Ok(1) });
    ///         assert_eq!(spawn.await.await, 1);
    ///         Ok::<_, ()>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct SpawnBounded<'a, S, F> {
        scope: &'a S,
        future: Option<F>,
        wait: RoomWait,
        spawned_at: &'static Location<'static>,
    }
}

impl<'a, S, F> SpawnBounded<'a, S, F> {
    #[track_caller]
    fn new(scope: &'a S, future: F) -> Self {
        SpawnBounded {
            scope,
            future: Some(future),
            wait: RoomWait::default(),
            spawned_at: Location::caller(),
        }
    }
}

/// `SpawnBounded`'s poll, for either handle: waits for room, then launches.
fn poll_spawn_bounded<'env, E, F, U>(
    handle: &Handle<'env, E>,
    wait: &mut RoomWait,
    future: &mut Option<F>,
    spawned_at: &'static Location<'static>,
    cx: &mut Context<'_>,
) -> Poll<JoinHandle<U>>
where
    F: Future<Output = Result<U, E>> + 'env,
    U: 'env,
    E: 'env,
{
    let Poll::Ready(counted) = wait.poll_reserve(&handle.shared, cx) else {
        note(Wait::SpawnBounded, spawned_at);
        return Poll::Pending;
    };
    let future = future
        .take()
        .expect("corral: SpawnBounded polled after it resolved");
    let info = handle.record(spawned_at);
    match handle.launch(future, Lone::new(), spawned_at, info, counted, false) {
        // SAFETY: a lone child's join part, whose handle reference we hold.
        Some(join) => Poll::Ready(unsafe { JoinHandle::from_part(join, handle.shared.as_ptr()) }),
        None => finished_scope(),
    }
}

impl<'env, E, F, U> Future for SpawnBounded<'_, Scope<'env, E>, F>
where
    F: Future<Output = Result<U, E>> + Send + 'env,
    U: Send + 'env,
    E: Send + 'env,
{
    type Output = JoinHandle<U>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JoinHandle<U>> {
        let this = self.project();
        let handle = &this.scope.handle;
        poll_spawn_bounded(handle, this.wait, this.future, this.spawned_at, cx)
    }
}

impl<'env, E, F, U> Future for SpawnBounded<'_, LocalScope<'env, E>, F>
where
    F: Future<Output = Result<U, E>> + 'env,
    U: 'env,
    E: 'env,
{
    type Output = JoinHandle<U>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JoinHandle<U>> {
        let this = self.project();
        let handle = &this.scope.handle;
        poll_spawn_bounded(handle, this.wait, this.future, this.spawned_at, cx)
    }
}

impl<S, F> fmt::Debug for SpawnBounded<'_, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnBounded")
            .field("spawned", &self.future.is_none())
            .finish_non_exhaustive()
    }
}

/// A scope's handle: [`Scope`] or [`LocalScope`]. Sealed; what
/// [`JoinSet`](crate::stream::JoinSet) and the [`stream`](crate::stream)
/// helpers take to spawn into a scope.
///
/// # Examples
///
/// ```
/// fn in_any_scope<S: corral::ScopeHandle>(scope: &S) -> bool {
///     scope.is_stopping()
/// }
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move { Ok::<_, ()>(assert!(!in_any_scope(&s))) }).await.unwrap();
/// # });
/// ```
pub trait ScopeHandle: Clone + sealed::Sealed {
    /// As [`Scope::is_stopping`].
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::ScopeHandle;
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     s.stop();
    ///     Ok::<_, ()>(assert!(ScopeHandle::is_stopping(&s)))
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    fn is_stopping(&self) -> bool;
}

/// A scope's handle that can spawn a child `F` with output `U`: [`Scope`]
/// for `Send` children, [`LocalScope`] for any. Sealed; the bound
/// [`JoinSet::spawn`](crate::stream::JoinSet::spawn) and the
/// [`stream`](crate::stream) helpers put on their scope.
///
/// # Examples
///
/// ```
/// use std::future::Future;
///
/// fn spawn_two<S, F>(set: &mut corral::JoinSet<S, u8>, make: impl Fn() -> F)
/// where
///     S: corral::SpawnChild<F, u8>,
/// {
///     set.spawn(make());
///     set.spawn(make());
/// }
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let mut set = corral::JoinSet::new(&s);
///     spawn_two(&mut set, || async { Ok::<_, ()>(1) });
///     assert_eq!(set.join_next().await.unwrap() + set.join_next().await.unwrap(), 2);
///     Ok::<_, ()>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
pub trait SpawnChild<F, U>: ScopeHandle {
    /// Spawns a set's child.
    #[doc(hidden)]
    fn spawn_in_set(
        &self,
        future: F,
        member: SetMember,
        spawned_at: &'static Location<'static>,
        counted: Counted,
    ) -> Option<NonNull<JoinPart<U, SetMember>>>;

    /// Spawns a pool that runs `F`s (a map's items).
    #[doc(hidden)]
    fn spawn_pool(&self, pool: Pool<F, U, Self::Error>, spawned_at: &'static Location<'static>);
}

impl<'env, E, F, U> SpawnChild<F, U> for Scope<'env, E>
where
    F: Future<Output = Result<U, E>> + Send + 'env,
    U: Send + 'env,
    E: Send + 'env,
{
    #[inline]
    fn spawn_in_set(
        &self,
        future: F,
        member: SetMember,
        spawned_at: &'static Location<'static>,
        counted: Counted,
    ) -> Option<NonNull<JoinPart<U, SetMember>>> {
        self.handle
            .spawn_member(future, member, spawned_at, counted)
    }

    #[inline]
    fn spawn_pool(&self, pool: Pool<F, U, E>, spawned_at: &'static Location<'static>) {
        // The scope's children run where its poller is moved: `Send`, as
        // it is when `F` and `U` are.
        fn is_send<T: Send>(_: &T) {}
        is_send(&pool);
        self.handle.spawn_unjoined(pool, spawned_at);
    }
}

impl<'env, E, F, U> SpawnChild<F, U> for LocalScope<'env, E>
where
    F: Future<Output = Result<U, E>> + 'env,
    U: 'env,
    E: 'env,
{
    #[inline]
    fn spawn_in_set(
        &self,
        future: F,
        member: SetMember,
        spawned_at: &'static Location<'static>,
        counted: Counted,
    ) -> Option<NonNull<JoinPart<U, SetMember>>> {
        self.handle
            .spawn_member(future, member, spawned_at, counted)
    }

    #[inline]
    fn spawn_pool(&self, pool: Pool<F, U, E>, spawned_at: &'static Location<'static>) {
        self.handle.spawn_unjoined(pool, spawned_at);
    }
}

/// The shared state of the scope behind `scope`.
pub(crate) fn shared_of<S: sealed::Sealed + ?Sized>(scope: &S) -> &ScopeShared {
    // SAFETY: both handles return their counted pointer to the scope's
    // shared state, which lives as long as the handle borrowed here.
    unsafe { &*scope.scope_ptr().cast::<ScopeShared>() }
}

pub(crate) mod sealed {
    use super::*;

    /// Keeps [`ScopeHandle`](super::ScopeHandle) to corral's two handles.
    pub trait Sealed {
        /// The error type of the scope's children.
        #[doc(hidden)]
        type Error;

        /// The scope's shared state, untyped (see `shared_of`).
        #[doc(hidden)]
        fn scope_ptr(&self) -> *const ();

        /// A watch on the scope's stop request, as `stopped` (a map idle
        /// on its input waits on it beside the input).
        #[doc(hidden)]
        fn stop_watch(&self) -> Stopped;

        /// Spawns a set's parallel child.
        #[doc(hidden)]
        fn spawn_on_in_set<S, F, U>(
            &self,
            spawner: &S,
            future: F,
            member: SetMember,
            spawned_at: &'static Location<'static>,
            counted: Counted,
        ) -> Option<NonNull<JoinPart<U, SetMember>>>
        where
            S: Spawn + ?Sized,
            F: Future<Output = Result<U, Self::Error>> + Send + 'static,
            U: Send + 'static,
            Self::Error: Send + 'static;
    }

    impl<E> Sealed for Scope<'_, E> {
        type Error = E;

        fn scope_ptr(&self) -> *const () {
            self.handle.shared.as_ptr().cast()
        }

        fn stop_watch(&self) -> Stopped {
            self.handle.stopped()
        }

        fn spawn_on_in_set<S, F, U>(
            &self,
            spawner: &S,
            future: F,
            member: SetMember,
            spawned_at: &'static Location<'static>,
            counted: Counted,
        ) -> Option<NonNull<JoinPart<U, SetMember>>>
        where
            S: Spawn + ?Sized,
            F: Future<Output = Result<U, E>> + Send + 'static,
            U: Send + 'static,
            E: Send + 'static,
        {
            self.handle
                .spawn_on_member(spawner, future, member, spawned_at, counted)
        }
    }

    impl<E> Sealed for LocalScope<'_, E> {
        type Error = E;

        fn scope_ptr(&self) -> *const () {
            self.handle.shared.as_ptr().cast()
        }

        fn stop_watch(&self) -> Stopped {
            self.handle.stopped()
        }

        fn spawn_on_in_set<S, F, U>(
            &self,
            spawner: &S,
            future: F,
            member: SetMember,
            spawned_at: &'static Location<'static>,
            counted: Counted,
        ) -> Option<NonNull<JoinPart<U, SetMember>>>
        where
            S: Spawn + ?Sized,
            F: Future<Output = Result<U, E>> + Send + 'static,
            U: Send + 'static,
            E: Send + 'static,
        {
            self.handle
                .spawn_on_member(spawner, future, member, spawned_at, counted)
        }
    }
}

impl<E> ScopeHandle for Scope<'_, E> {
    fn is_stopping(&self) -> bool {
        self.handle.is_stopping()
    }
}

impl<E> ScopeHandle for LocalScope<'_, E> {
    fn is_stopping(&self) -> bool {
        self.handle.is_stopping()
    }
}
