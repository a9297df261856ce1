//! The child set: what `scope`, `local_scope` and `Nursery` run on the engine.
//!
//! It keeps the running children in a slab indexed like the ready queue (index 0
//! is the scope's body, index `k + 1` is slab entry `k`), the children spawned but
//! not started yet in spawn order, and the concurrency limit. Spawning never
//! touches the slab: a handle pushes the new child onto the `incoming` stack in
//! the shared state (lock-free, so a handle on another thread, or a child being
//! polled right now, can spawn), and the owner moves it into the slab just before
//! its first poll. Closing the stack (`TakeAllStack`, in the engine) is
//! atomic with respect to those pushes: a spawn either reaches a scope that will
//! poll it, or is told that the scope has finished.

use std::any::Any;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::child::{
    Child, SpawnLink, dropped_unfinished, is_aborted, is_shielded, release_scope_ref,
};
use super::nesting::Root;
use super::reason::Reason;
use super::records::DoneBy;
use super::state::{ParallelCount, ScopeShared, ScopeState};
use crate::engine::{Children, Drained, Leave, Look, Pushed, ReadyQueue};
use crate::loom::Ordering;
use crate::slow_poll::Placement;
use crate::slow_poll::Watch;
use crate::util::slab::Slab;

/// Slots in the first chunk of a scope's ready queue.
const FIRST_CHUNK: usize = 32;

/// Why a scope stops early.
pub(crate) enum Failure<E> {
    /// A child or the body returned `Err`.
    Error(E),
    /// A child or the body panicked; the payload is resumed in the parent.
    Panic(Payload),
}

/// A panic's payload, caught to be resumed later.
pub(crate) type Payload = Box<dyn Any + Send>;

/// An error, with where its child was spawned (or the scope opened, for
/// the body's): a member of an [`ErrorGroup`](crate::ErrorGroup).
pub(crate) type Located<E> = (E, &'static Location<'static>);

/// What the set does with errors besides the first (`Nursery::every_error`,
/// `Nursery::stop_on_failure`).
pub(crate) struct Errors<E> {
    /// Every error after the first, in order, when the caller asked for them
    /// all (`Nursery::every_error`); `None`: they are dropped.
    later: Option<Vec<Located<E>>>,
    /// The first error of this turn, kept while the rest of the turn goes
    /// on (collecting only: the rest of the turn's errors join `later`).
    first: Option<E>,
    /// With `first`: the polls left in the rest of the turn (the children
    /// woken when it failed).
    left: usize,
    /// The scope has failed: no new child starts, and an error is kept (or
    /// dropped), never a failure of its own.
    failing: bool,
}

/// Runs `f` (a drop), catching its panic.
pub(crate) fn catch_drop(f: impl FnOnce()) -> Option<Payload> {
    panic::catch_unwind(AssertUnwindSafe(f)).err()
}

/// Keeps the first panic of a teardown: `later` is discarded when one is
/// already kept. Discarding runs the payload's destructor, which may itself
/// panic; that third panic is leaked rather than let out early (a payload's
/// destructor is user code too).
pub(crate) fn keep_first(first: &mut Option<Payload>, later: Option<Payload>) {
    match (first.is_some(), later) {
        (_, None) => {}
        (false, later) => *first = later,
        (true, Some(later)) => discard(later),
    }
}

/// The end of a teardown run from a destructor: resumes its first panic,
/// unless the thread is unwinding already (a second panic would abort), in
/// which case the payload is discarded.
pub(crate) fn resume_from_drop(first: Option<Payload>) {
    if let Some(payload) = first {
        if std::thread::panicking() {
            discard(payload);
        } else {
            panic::resume_unwind(payload);
        }
    }
}

/// Drops a value nobody will see, never letting its destructor's panic out.
pub(crate) fn discard<X>(value: X) {
    if let Some(payload) = catch_drop(|| drop(value)) {
        std::mem::forget(payload);
    }
}

/// Hands a spawned child to its scope. On the scope's own thread, inside its
/// poll loop (the body or a child spawning), that is a push onto the owner's
/// FIFO; anywhere else, a lock-free push onto the `incoming` stack that wakes the
/// scope if it is idle. Returns `false` (and leaves `link` to the caller) if the
/// scope has finished.
///
/// # Safety
/// `owned_here` is `shared.owned_here()`, read by the caller with no user
/// code run since (a spawn reads it once, for its cell and its push): if it
/// says `true` off the owner's loop, the owner-only FIFO is written from the
/// wrong thread.
pub(crate) unsafe fn push_incoming<E>(
    shared: &ScopeShared,
    link: NonNull<SpawnLink<'_, E>>,
    owned_here: bool,
) -> bool {
    debug_assert_eq!(owned_here, shared.owned_here());
    if owned_here {
        // The scope is inside its own poll, so it cannot have finished. Remote
        // spawns that happened before this one (from a nested gather's loop, or
        // another thread we synchronised with) go first, to keep spawn order.
        debug_assert!(
            !shared.user().incoming.is_closed(),
            "a scope closed inside its poll"
        );
        if !shared.user().incoming.is_empty() {
            // SAFETY: `owned_here` holds.
            unsafe { take_incoming::<E>(shared, Leave::Open) };
        }
        // SAFETY: `owned_here` holds; this borrow ends here and runs no user
        // code. The link is a live child's, on no list yet.
        unsafe { shared.user_local().fresh.push_back(link.cast()) };
        return true;
    }
    // SAFETY: the scope's spawn stack holds `SpawnLink<'_, E>`s only (one
    // scope, one error type), and the link lives until the owner takes it.
    match unsafe { shared.user().incoming.push(link) } {
        Pushed::Refused => false,
        Pushed::First => {
            shared.notify();
            true
        }
        Pushed::Behind => true,
    }
}

/// Takes a scope's `incoming` stack, leaving it open or closed (to refuse
/// later spawns), and appends it to the owner's FIFO in spawn order.
///
/// # Safety
/// As for `Shared::user_local`: the caller is the owner, or on the owner's thread
/// inside its poll loop.
unsafe fn take_incoming<E>(shared: &ScopeShared, leave: Leave) {
    // SAFETY: the caller is the owner (or on its loop's thread); the stack
    // holds `SpawnLink<'_, E>`s only.
    let Some(taken) = (unsafe { shared.user().incoming.take_chain::<SpawnLink<'_, E>>(leave) })
    else {
        return;
    };
    // SAFETY: per this function's contract; no user code runs while borrowed.
    // The chain's links are live children on no other list.
    unsafe { shared.user_local().fresh.append(taken) };
}

/// The children of one scope, as seen by its owner. `K` says which handle
/// spawned them: [`SendChildren`] or [`LocalChildren`].
pub(crate) struct ChildSet<'env, E, K> {
    pub(crate) queue: ReadyQueue<ScopeState>,
    roster: Roster<'env, E>,
    _flavour: PhantomData<K>,
}

/// The flavour of a [`Scope`](crate::Scope)'s child set: every child came
/// through `Scope::spawn`, which demands a `Send` future, output and error.
pub(crate) struct SendChildren;

/// The flavour of a [`LocalScope`](crate::LocalScope)'s child set: children
/// may be `!Send`, so the set stays on its thread (it holds raw pointers, so
/// it is `!Send` without further ado).
pub(crate) struct LocalChildren;

// SAFETY: the set owns its children (type-erased pointers to their cells) and
// its ready queue (whose shared state is `Send + Sync`, see `crate::engine`). A
// `SendChildren` set is only ever filled through a `Scope`, whose `spawn`
// takes `F: Send, U: Send, E: Send` (and `spawn_on`, whose children live on
// their runtime), so moving the set to another thread moves only `Send`
// values. `Nursery::scope` is the one place that pairs a `SendChildren` set
// with a `Scope` handle.
unsafe impl<E: Send> Send for ChildSet<'_, E, SendChildren> {}

struct Roster<'env, E> {
    /// Running children, by entry (a freed entry is reused first: it is the
    /// warmest).
    slab: Slab<NonNull<dyn Child<E> + 'env>>,
    /// At most this many children run at once.
    limit: usize,
    /// Slow-poll reporting, if on.
    watch: Option<Watch>,
    /// With a watch, the end of the last child poll of this turn (its clock).
    clock: Option<u64>,
    body_started: bool,
    /// The grace of a stop request has passed: children are dropped, and
    /// children spawned later are dropped instead of started.
    expired: bool,
    /// The first panic of a destructor run by `next_fresh` (an expired scope
    /// dropping a new child), for `drive` to report.
    drop_panic: Option<Payload>,
    /// The registration with the enclosing scope, made at the first poll.
    link: Option<super::nesting::Registration>,
    linked: bool,
    /// The scope keeps a task-tree record (`records.rs`).
    tracked: bool,
    /// The scope keeps a task-tree record or statistics: its child polls
    /// take the cold path (`poll_instrumented`).
    instrumented: bool,
    /// Errors besides the first, if the scope keeps them or fails softly;
    /// `None` for a plain scope (the first error ends the turn).
    errors: Option<Box<Errors<E>>>,
    /// Where the scope was opened: the place of the body's failures.
    opened_at: &'static Location<'static>,
    /// Where the first failing child was spawned (the scope's opening for
    /// the body), once one failed.
    failed_at: Option<&'static Location<'static>>,
    /// Why a child spawned past a grace or a failure is dropped unstarted.
    drop_reason: Reason,
    /// Its place among the tree's roots, if it has no tracked parent.
    root: Option<Root>,
    /// `'env` must be invariant: see `Scope`.
    _env: PhantomData<fn(&'env ()) -> &'env ()>,
}

impl<E> Roster<'_, E> {
    /// Children started and not finished: the occupied slab entries.
    fn running(&self) -> usize {
        self.slab.live()
    }
}

impl<'env, E, K> ChildSet<'env, E, K> {
    /// The set of a scope whose shared part is `state` (built with the
    /// nursery's settings, its slow-poll watch among them), under `limit`,
    /// opened at `opened_at`, keeping errors if `errors` (every one if
    /// `Some(true)`).
    pub(crate) fn new(
        state: ScopeState,
        limit: usize,
        opened_at: &'static Location<'static>,
        errors: Option<bool>,
    ) -> Self {
        let watch = state.watch;
        let tracked = state.tree.is_some();
        let collect_stats = state.stats.is_some();
        let errors = errors.map(|every| {
            Box::new(Errors {
                later: every.then(Vec::new),
                first: None,
                left: 0,
                failing: false,
            })
        });
        let queue = ReadyQueue::new(FIRST_CHUNK, state);
        ChildSet {
            queue,
            roster: Roster {
                slab: Slab::new(),
                limit,
                watch,
                clock: None,
                body_started: false,
                expired: false,
                drop_panic: None,
                link: None,
                linked: false,
                tracked,
                instrumented: tracked || collect_stats,
                errors,
                opened_at,
                failed_at: None,
                drop_reason: Reason::ScopeDropped,
                root: None,
                _env: PhantomData,
            },
            _flavour: PhantomData,
        }
    }

    /// The scope's count of live parallel children.
    pub(crate) fn parallel(&self) -> &ParallelCount {
        &self.queue.shared().user().parallel
    }

    /// At the first poll: registers with the enclosing scope, if any, and
    /// with the task tree if tracked.
    #[cold]
    fn link(&mut self) {
        self.roster.linked = true;
        let (link, in_child) = super::stop::link(self.queue.shared_ptr());
        if let Some(info) = self.queue.shared().user().tree.as_ref() {
            if let Some(child) = in_child {
                info.set_in_child(child);
            }
            let parent_tracked = link
                .as_ref()
                .is_some_and(|l| l.parent().user().tree.as_ref().is_some());
            if !parent_tracked {
                self.roster.root = Some(super::nesting::add_root(self.queue.shared_ptr()));
            }
        }
        self.roster.link = link;
    }

    /// The scope's stop-request epoch (0: none); see `stop.rs`.
    pub(crate) fn stop_epoch(&self) -> usize {
        self.queue.shared().user().stop.epoch()
    }

    /// Requests a stop of this scope, as `Scope::stop` does, for `reason`.
    pub(crate) fn request_stop(&self, reason: Reason) {
        super::stop::request(self.queue.shared(), reason);
    }

    /// When a stop request's grace ends (`None`: never).
    pub(crate) fn grace_end(&self) -> Option<std::time::Instant> {
        super::stop::grace_end(self.queue.shared())
    }

    /// Number of children started and not finished.
    pub(crate) fn running(&self) -> usize {
        self.roster.running()
    }

    /// The scope failed softly (`Nursery::stop_on_failure`): the children
    /// waiting for their turn are dropped, from now on no new child starts
    /// (it is dropped instead, as past a grace), and errors are kept
    /// (`every_error`) or dropped instead of failing the scope again; the
    /// running children run on until they finish or the grace ends. Returns
    /// the first panic of a destructor, as `cancel_all` does.
    pub(crate) fn enter_failing(&mut self, reason: Reason) -> Option<Payload> {
        self.mark_failed();
        self.roster.expired = true;
        self.roster.drop_reason = reason;
        let mut first_panic = None;
        // SAFETY: only the owner drops children.
        unsafe { take_incoming::<E>(self.queue.shared(), Leave::Open) };
        drop_waiting::<E>(&mut self.queue, &mut first_panic, reason);
        first_panic
    }

    /// Why the scope failed, for the children its failure drops: where the
    /// first failing child was spawned (or the scope opened, for the body).
    pub(crate) fn failure_reason(&self, panic: bool) -> Reason {
        let at = self.roster.failed_at.unwrap_or(self.roster.opened_at);
        if panic {
            Reason::Panicked(at)
        } else {
            Reason::Failed(at)
        }
    }

    /// The reason of the stop request that reached the scope, if any.
    pub(crate) fn stop_reason(&self) -> Option<Reason> {
        super::stop::reason(self.queue.shared())
    }

    /// The scope has failed: a later error (of a shielded child) is kept or
    /// dropped, never a failure of its own.
    pub(crate) fn mark_failed(&mut self) {
        if let Some(errors) = self.roster.errors.as_mut() {
            errors.failing = true;
        }
    }

    /// Whether a child is left: running, waiting for its turn, or on its way.
    /// (Past a failure only shielded children can be.)
    pub(crate) fn has_children(&self) -> bool {
        self.roster.running() != 0
            || !self.queue.shared().user().incoming.is_empty()
            // SAFETY: the owner, between polls.
            || !unsafe { &self.queue.shared().user_local().fresh }.is_empty()
    }

    /// The errors after the first, in order (`Nursery::every_error`).
    pub(crate) fn take_later(&mut self) -> Vec<Located<E>> {
        self.roster
            .errors
            .as_mut()
            .and_then(|errors| errors.later.take())
            .unwrap_or_default()
    }

    /// Where the first failure came from: its child's spawn, or the scope's
    /// opening for the body's.
    pub(crate) fn first_at(&self) -> Option<&'static Location<'static>> {
        self.roster.failed_at
    }

    /// Polls the body (index 0, through `poll_body`) and the ready children.
    pub(crate) fn drive(
        &mut self,
        poll_body: &mut dyn FnMut(&mut Context<'_>) -> ControlFlow<Failure<E>>,
        cx: &mut Context<'_>,
    ) -> ControlFlow<Failure<E>, Drained> {
        if !self.roster.linked {
            self.link();
        }
        // Children (and scopes nested in them) find their scope through this.
        let _current = super::nesting::CurrentScope::enter(self.queue.shared_ptr());
        if self.roster.tracked {
            if let Some(info) = self.queue.shared().user().tree.as_ref() {
                info.turn();
            }
        }
        // A new turn: the time since the last one was the executor's, not a
        // child's.
        self.roster.clock = None;
        let mut children = ScopeChildren {
            roster: &mut self.roster,
            scope: self.queue.shared_ptr(),
            poll_body,
        };
        let flow = self.queue.drive(&mut children, cx)?;
        if let Some(payload) = self.roster.drop_panic.take() {
            return ControlFlow::Break(Failure::Panic(payload));
        }
        // A collecting set went on with the turn after its first error: that
        // error is the failure now.
        if let Some(errors) = self.roster.errors.as_mut() {
            if let Some(first) = errors.first.take() {
                return ControlFlow::Break(Failure::Error(first));
            }
        }
        ControlFlow::Continue(flow)
    }

    /// If no child is running or waiting, closes the scope to new spawns.
    /// Returns false if there is still work (a spawn may just have arrived).
    pub(crate) fn try_close(&mut self) -> bool {
        self.roster.running() == 0
            && self.queue.user_local().fresh.is_empty()
            && self.queue.shared().user().incoming.close_if_empty()
    }

    /// Closes the scope to new spawns and drops every child, running or not,
    /// before it returns. If a destructor panics, the others are still dropped
    /// and the first such panic is returned.
    pub(crate) fn cancel_all(&mut self, reason: Reason) -> Option<Payload> {
        // Close first: a destructor below that spawns is refused (with the
        // documented panic) whether its child had started or not.
        self.drop_children(Leave::Closed, reason)
    }

    /// Whether a shielded child (`spawn_shielded`) is running, waiting or on
    /// its way. One scan, on the failure path only.
    pub(crate) fn has_shielded(&mut self) -> bool {
        // SAFETY: only the owner moves the spawn stack.
        unsafe { take_incoming::<E>(self.queue.shared(), Leave::Open) };
        self.roster.slab.values().any(|&child| is_shielded(child))
            || self.queue.user_local().fresh.iter().any(|link| {
                // SAFETY: links on the owner's FIFO are live children it owns.
                is_shielded(unsafe { link.cast::<SpawnLink<'env, E>>().as_ref().this })
            })
    }

    /// A failure: drops every child, running or not, but the shielded ones
    /// (`spawn_shielded`), which run on (each within its own limit); from
    /// now on a new child is dropped instead of started, unless shielded.
    /// Returns the first panic of a destructor, as `cancel_all` does.
    pub(crate) fn cancel_unshielded(&mut self, reason: Reason) -> Option<Payload> {
        self.expire(reason)
    }

    /// The end of a stop request's grace: drops every child, running or not,
    /// but the shielded ones, and from now on drops new children instead of
    /// starting them (unless shielded). The body runs on. Returns the first
    /// panic of a destructor, as `cancel_all` does.
    pub(crate) fn expire(&mut self, reason: Reason) -> Option<Payload> {
        self.roster.expired = true;
        self.roster.drop_reason = reason;
        let mut first_panic = None;
        // SAFETY: only the owner drops children.
        unsafe { take_incoming::<E>(self.queue.shared(), Leave::Open) };
        for child in self.roster.slab.take_where(|&child| !is_shielded(child)) {
            cancel_child(child, self.queue.shared(), &mut first_panic, reason, true);
        }
        drop_waiting::<E>(&mut self.queue, &mut first_panic, reason);
        first_panic
    }

    /// Drops every child, shielded or not, leaving the spawn stack open or
    /// closed.
    fn drop_children(&mut self, leave: Leave, reason: Reason) -> Option<Payload> {
        let mut first_panic = None;
        // SAFETY: only the owner drops children.
        unsafe { take_incoming::<E>(self.queue.shared(), leave) };
        let roster = &mut self.roster;
        for child in roster.slab.drain() {
            cancel_child(child, self.queue.shared(), &mut first_panic, reason, true);
        }
        while let Some(link) = self.queue.user_local().fresh.pop_front() {
            // SAFETY: links on the owner's FIFO are live children it owns.
            let child = unsafe { link.cast::<SpawnLink<'env, E>>().as_ref().this };
            cancel_child(child, self.queue.shared(), &mut first_panic, reason, false);
        }
        first_panic
    }
}

/// Drops the children waiting for their turn, but the shielded ones, which
/// keep their place in the queue. A destructor run here may spawn: its
/// child lands behind the scan and is dropped by the next one, never
/// started (a scan that drops nothing ends it).
fn drop_waiting<E>(
    queue: &mut ReadyQueue<ScopeState>,
    first_panic: &mut Option<Payload>,
    reason: Reason,
) {
    while drop_waiting_where::<E>(queue, first_panic, reason, |child| !is_shielded(child)) != 0 {}
}

/// Drops the children waiting for their turn that `drop` picks, for
/// `reason`, in one scan of the queue, keeping the others in order.
/// Returns how many it dropped.
fn drop_waiting_where<E>(
    queue: &mut ReadyQueue<ScopeState>,
    first_panic: &mut Option<Payload>,
    reason: Reason,
    drop: impl Fn(NonNull<dyn Child<E> + '_>) -> bool,
) -> usize {
    let mut dropped = 0;
    // Taken out first: a destructor below may spawn, which pushes onto the
    // queue (never while it is being walked).
    let waiting = std::mem::take(&mut queue.user_local().fresh);
    for link in waiting {
        // SAFETY: links on the owner's FIFO are live children it owns.
        let child = unsafe { link.cast::<SpawnLink<'_, E>>().as_ref().this };
        if drop(child) {
            cancel_child(child, queue.shared(), first_panic, reason, false);
            dropped += 1;
        } else {
            // SAFETY: a live child's link, off the taken queue (the walk read
            // its successor already).
            unsafe { queue.user_local().fresh.push_back(link) };
        }
    }
    dropped
}

/// Keeps `error` among the later ones if the set collects them, else drops
/// it (its destructor's panic leaked, as for every discarded value).
fn keep_later<E>(roster: &mut Roster<'_, E>, error: E, at: Option<&'static Location<'static>>) {
    let at = at.unwrap_or(roster.opened_at);
    match roster
        .errors
        .as_mut()
        .and_then(|errors| errors.later.as_mut())
    {
        Some(later) => later.push((error, at)),
        None => discard(error),
    }
}

/// A failure of the body (`at`: `None`) or of the child spawned at `at`.
/// In a set that keeps errors or fails softly, an error after the first
/// (or in a failing set) joins the later ones (or is dropped), and a
/// collecting set keeps its first error for `drive` to report when the rest
/// of the turn is done. Otherwise the failure ends the turn (`Break`), and
/// the set remembers where the first one came from (`failed_at`).
#[cold]
fn on_failure<E>(
    roster: &mut Roster<'_, E>,
    scope: *const ScopeShared,
    failure: Failure<E>,
    at: Option<&'static Location<'static>>,
) -> ControlFlow<Failure<E>> {
    let first_at = at.unwrap_or(roster.opened_at);
    let (error, collecting, failing) = match (failure, roster.errors.as_ref()) {
        (Failure::Error(error), Some(errors)) => (
            error,
            errors.later.is_some(),
            errors.failing || errors.first.is_some(),
        ),
        (failure, _) => {
            roster.failed_at.get_or_insert(first_at);
            return ControlFlow::Break(failure);
        }
    };
    if failing {
        keep_later(roster, error, at);
        return ControlFlow::Continue(());
    }
    roster.failed_at.get_or_insert(first_at);
    if !collecting {
        // Not collecting: the first error ends the turn.
        return ControlFlow::Break(Failure::Error(error));
    }
    let Some(errors) = roster.errors.as_mut() else {
        unreachable!("a collecting set keeps its errors")
    };
    errors.first = Some(error);
    errors.failing = true;
    // The rest of the turn: the children already woken, each polled once
    // more; none starts (a plain scope would start none either: collecting
    // errors must not run anything a plain scope would not).
    // SAFETY: in the owner's loop, between polls.
    errors.left = unsafe { (*scope).ready_len() };
    ControlFlow::Continue(())
}

/// In the rest of a turn after a collecting set's first error: counts one
/// poll, or ends the turn with that error once the polls are used up (the
/// child whose turn it was is woken again, unpolled: a shielded one runs on
/// after the failure).
#[inline]
fn rest_of_turn<E>(
    roster: &mut Roster<'_, E>,
    cx: &Context<'_>,
) -> Option<ControlFlow<Failure<E>>> {
    let errors = roster.errors.as_mut()?;
    errors.first.as_ref()?;
    if errors.left == 0 {
        let first = errors.first.take()?;
        cx.waker().wake_by_ref();
        return Some(ControlFlow::Break(Failure::Error(first)));
    }
    errors.left -= 1;
    None
}

/// What a child's poll gave: its result, or its panic.
type Polled<E> = Result<Poll<Result<(), E>>, Payload>;

/// Polls a live child, catching its panic, timed if the scope has a watch.
#[inline(always)]
fn poll_watched<'env, E>(
    child: NonNull<dyn Child<E> + 'env>,
    roster: &mut Roster<'env, E>,
    cx: &mut Context<'_>,
) -> Polled<E> {
    // SAFETY: the child is live and only its owner polls it.
    let mut poll = || panic::catch_unwind(AssertUnwindSafe(|| unsafe { child.as_ref().poll(cx) }));
    match &roster.watch {
        None => poll(),
        Some(watch) => {
            // SAFETY: as above; the child is live.
            let spawned_at = unsafe { child.as_ref() }.spawned_at();
            watch.time_from(&mut roster.clock, spawned_at, Placement::Local, poll)
        }
    }
}

/// A child's poll in a scope on the task tree or collecting statistics:
/// tracked (`poll_tracked`), and counted, sampled for its time, its end
/// counted.
#[cold]
#[inline(never)]
fn poll_instrumented<'env, E>(
    scope: *const ScopeShared,
    child: NonNull<dyn Child<E> + 'env>,
    roster: &mut Roster<'env, E>,
    cx: &mut Context<'_>,
) -> Polled<E> {
    let tracked = roster.tracked;
    // SAFETY: the owner holds its shared state.
    let Some(stats) = (unsafe { (*scope).user().stats.as_deref() }) else {
        return poll_tracked(scope, child, roster, cx);
    };
    let polled = stats.poll(|| {
        if tracked {
            poll_tracked(scope, child, roster, cx)
        } else {
            poll_watched(child, roster, cx)
        }
    });
    match &polled {
        Ok(Poll::Pending) => {}
        Ok(Poll::Ready(Ok(()))) if dropped_unfinished(child) => {
            stats.dropped(true) // aborted: its poll dropped it
        }
        Ok(Poll::Ready(Ok(()))) => stats.finished(),
        Ok(Poll::Ready(Err(_))) | Err(_) => stats.failed(),
    }
    polled
}

/// `poll_watched` for a scope on the task tree: the child's record shows it
/// running during the poll, and it is current (for scopes nested in it).
#[cold]
#[inline(never)]
fn poll_tracked<'env, E>(
    scope: *const ScopeShared,
    child: NonNull<dyn Child<E> + 'env>,
    roster: &mut Roster<'env, E>,
    cx: &mut Context<'_>,
) -> Polled<E> {
    // SAFETY: the child is live for this whole call (its caller releases it
    // afterwards, if at all).
    let info = unsafe { child.as_ref() }.info();
    // SAFETY: the owner holds its shared state.
    let tree = unsafe { (*scope).user().tree.as_ref() };
    let (Some(info), Some(tree)) = (info, tree) else {
        return poll_watched(child, roster, cx);
    };
    // A parallel child's state is its runtime's to keep.
    if info.is_parallel() {
        return poll_watched(child, roster, cx);
    }
    tree.set_polling(Some(info));
    let polled = crate::wait_point::noting(&info.wait, || poll_watched(child, roster, cx));
    tree.set_polling(None);
    if !matches!(polled, Ok(Poll::Pending)) {
        info.done(DoneBy::Scope);
    }
    polled
}

/// Drops a child the owner holds and releases the owner's reference, keeping
/// the first destructor panic in `first_panic`.
/// A child's future is gone and the scope let go of it: one more place in a
/// limited scope.
#[inline]
fn child_gone(shared: &ScopeShared) {
    if let Some(room) = &shared.user().room {
        room.release();
    }
}

/// Drops the children waiting for their turn whose handle side asked for it
/// (`ABORT`), keeping the others in order. (A started child is woken by the
/// request instead, and its poll drops it.)
#[cold]
fn drop_aborted<E>(queue: &mut ReadyQueue<ScopeState>, first_panic: &mut Option<Payload>) {
    drop_waiting_where::<E>(queue, first_panic, Reason::Aborted, is_aborted);
}

fn cancel_child<'env, E>(
    child: NonNull<dyn Child<E> + 'env>,
    shared: &ScopeShared,
    first_panic: &mut Option<Payload>,
    reason: Reason,
    started: bool,
) {
    if let Some(stats) = &shared.user().stats {
        stats.dropped(started);
    }
    // SAFETY: the owner cancels each child once, then releases it.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
        child.as_ref().cancel(shared, reason)
    }));
    // SAFETY: the child is live until released below.
    if let Some(info) = unsafe { child.as_ref() }.info() {
        info.done(DoneBy::Scope);
    }
    // SAFETY: `cancel` dropped the future even if it panicked.
    unsafe { release_scope_ref(child) };
    child_gone(shared);
    keep_first(first_panic, outcome.err());
}

impl<E, K> Drop for ChildSet<'_, E, K> {
    fn drop(&mut self) {
        // Normally a no-op (the scope cancelled or finished everything); this
        // keeps the "no child outlives its set" promise on every path.
        resume_from_drop(self.cancel_all(Reason::ScopeDropped));
    }
}

/// The body plus the children, as the ready queue polls them.
struct ScopeChildren<'a, 'env, E> {
    roster: &'a mut Roster<'env, E>,
    /// The scope's shared state, named current around tracked child polls.
    scope: *const ScopeShared,
    poll_body: &'a mut dyn FnMut(&mut Context<'_>) -> ControlFlow<Failure<E>>,
}

impl<'env, E> Children<ScopeState> for ScopeChildren<'_, 'env, E> {
    type Break = Failure<E>;

    fn next_fresh(&mut self, queue: &mut ReadyQueue<ScopeState>, look: Look) -> Option<usize> {
        // Remote spawns join the FIFO behind everything spawned before them. This
        // runs before the body's first poll too, for children spawned by the
        // body closure before the scope was ever polled.
        let incoming = &queue.shared().user().incoming;
        // A closed scope never polls again (its phase moved on).
        debug_assert!(!incoming.is_closed(), "a closed scope's loop ran");
        let remote = match look {
            Look::Busy => !incoming.is_empty(),
            Look::Last => !incoming.is_empty_latest(),
        };
        if remote {
            // SAFETY: `next_fresh` runs in the owner's loop.
            unsafe { take_incoming::<E>(queue.shared(), Leave::Open) };
        }
        let roster = &mut *self.roster;
        if !roster.body_started {
            roster.body_started = true;
            queue.reserve(1);
            return Some(0);
        }
        let state = queue.shared().user();
        let aborted = match look {
            Look::Busy => {
                state.aborted.load(Ordering::Relaxed) && state.aborted.swap(false, Ordering::SeqCst)
            }
            // The last look reads the latest value (a read-modify-write), as
            // for the spawn stack above.
            Look::Last => state
                .aborted
                .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok(),
        };
        if aborted {
            drop_aborted::<E>(queue, &mut roster.drop_panic);
        }
        if roster.expired {
            // Past a stop's grace (or a failure) nothing new starts, but a
            // shielded child (a cleanup).
            drop_waiting::<E>(queue, &mut roster.drop_panic, roster.drop_reason);
            if queue.user_local().fresh.is_empty() {
                return None;
            }
        }
        if roster.running() >= roster.limit {
            return None;
        }
        if roster
            .errors
            .as_ref()
            .is_some_and(|errors| errors.first.is_some())
        {
            // The rest of a failed turn starts nothing.
            return None;
        }
        let link = queue.user_local().fresh.pop_front()?;
        // SAFETY: links on the owner's FIFO are live children it owns.
        let link = unsafe { link.cast::<SpawnLink<'env, E>>().as_ref() };
        if let Some(info) = link.info {
            info.started();
        }
        // An abort that came before this start is seen at the child's first
        // poll (`child.rs`), which drops it unpolled.
        let entry = (roster.slab.insert(link.this))
            .expect("corral: more than 4 billion children in one set") as usize;
        if roster.instrumented {
            if let Some(stats) = &queue.shared().user().stats {
                stats.started(roster.running());
            }
        }
        queue.reserve(entry + 2);
        Some(entry + 1)
    }

    fn poll_child(&mut self, index: usize, cx: &mut Context<'_>) -> ControlFlow<Failure<E>> {
        if index == 0 {
            // The body's time is its own: the next child starts its clock anew.
            self.roster.clock = None;
            if let Some(flow) = rest_of_turn(self.roster, cx) {
                return flow;
            }
            return match (self.poll_body)(cx) {
                ControlFlow::Continue(()) => ControlFlow::Continue(()),
                ControlFlow::Break(failure) => on_failure(self.roster, self.scope, failure, None),
            };
        }
        let roster = &mut *self.roster;
        if let Some(flow) = rest_of_turn(roster, cx) {
            return flow;
        }
        let entry = index - 1;
        // A vacant or missing entry means a stale wake for a child that
        // already finished, or was dropped at a stop's grace.
        let Some(&child) = roster.slab.get(entry as u32) else {
            return ControlFlow::Continue(());
        };
        let polled = if roster.instrumented {
            poll_instrumented(self.scope, child, roster, cx)
        } else {
            poll_watched(child, roster, cx)
        };
        let failure = match polled {
            Ok(Poll::Pending) => return ControlFlow::Continue(()),
            Ok(Poll::Ready(Ok(()))) => None,
            // SAFETY: the child is live until released below.
            Ok(Poll::Ready(Err(error))) => Some((Failure::Error(error), unsafe {
                child.as_ref().spawned_at()
            })),
            Err(payload) => {
                // A panicking poll leaves the future in place: drop it now. A
                // second panic from its destructor is dropped in favour of the
                // first, like `std::thread::scope` keeps the original one.
                let scope = self.scope;
                // SAFETY: the child is live until released below.
                let at = unsafe { child.as_ref() }.spawned_at();
                let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: owner-only, once; the scope is polling, so its
                    // state is alive.
                    unsafe { child.as_ref().cancel(scope, Reason::Panicked(at)) }
                }));
                Some((Failure::Panic(payload), at))
            }
        };
        // SAFETY: the entry held `child` above, and nothing but this owner
        // frees entries (a child's poll cannot reach the roster).
        unsafe { roster.slab.remove_unchecked(entry as u32) };
        // SAFETY: the future is gone (finished or cancelled above); the scope's
        // reference is released exactly once, here.
        unsafe { release_scope_ref(child) };
        // SAFETY: the owner holds its shared state.
        child_gone(unsafe { &*self.scope });
        match failure {
            None => ControlFlow::Continue(()),
            Some((failure, at)) => on_failure(roster, self.scope, failure, Some(at)),
        }
    }
}
