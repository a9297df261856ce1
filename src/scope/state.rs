//! A scope's part of the engine's shared state: what its handles, stop
//! requests, nested scopes and parallel children reach from any thread, and
//! its owner-only queue of children spawned but not started yet.
//!
//! The engine (`crate::engine`) keeps a [`ScopeState`] beside its ready queue
//! and never looks inside. It is built whole, with its final settings, when
//! the scope's child set is made, before any handle or waker exists; after
//! that everything in it is either immutable or a thread-safe primitive, so
//! it is `Send + Sync` from its fields (no `unsafe impl`). Each part's
//! protocol is told in the file that runs it:
//!
//! | field         | what it is                                          | run by |
//! |---------------|-----------------------------------------------------|--------|
//! | `incoming`    | the stack of children spawned off the owner's loop  | `set.rs` (push, take, close) |
//! | `parallel`    | how many parallel children are alive                | `parallel.rs` |
//! | `start`       | whether parallel children wait for a turn (a limit is set) | `handle.rs` (`spawn_on`) |
//! | `watch`       | the slow-poll watch, for parallel children          | `handle.rs`, `parallel.rs` |
//! | `stop`        | the stop request's epoch, grace and waiters         | `stop.rs` |
//! | `nesting`     | the scopes nested in this one, and the grace end    | `nesting.rs`, `stop.rs` |
//! | `tree`        | the task tree's record, if tracked                  | `records.rs`, `set.rs` |
//! | `room`        | with a limit: children not finished yet, and who waits for fewer | `handle.rs` (spawn, `spawn_bounded`), `set.rs` (a child gone) |
//! | `aborted`     | an abort request found a child not started yet (its `ABORT` bit) | `child.rs` (`AbortRoute::request`), `set.rs` (the scan of the queue) |
//!
//! Owner-only ([`UserState::Local`], an `OwnerPart`): `fresh`, the children
//! spawned and not started, in spawn order, as type-erased `SpawnLink`
//! pointers (`child.rs`); `arena`, the chunks the cells of children spawned
//! on the owner's thread are carved from (`arena.rs`).

use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::Event;

use super::arena::Arena;
use super::reason::Reason;
use super::records::ScopeInfo;

use crate::engine::{Shared, SharedRef, TakeAllStack, UserState};
use crate::loom::{AtomicBool, AtomicUsize, AtomicWaker, Ordering};
use crate::slow_poll::Watch;
use crate::util::slab::Slab;

/// When a parallel child's future may start on its runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// As soon as the runtime polls it (a scope without a limit).
    AtOnce,
    /// Once its proxy is first polled: its place under the scope's
    /// concurrency limit.
    AtItsTurn,
}

/// A scope's engine state: the engine's fields and a [`ScopeState`].
pub(crate) type ScopeShared = Shared<ScopeState>;

/// A counted pointer to a scope's engine state: what handles, stop handles,
/// nested-scope registrations and parallel children hold.
pub(crate) type ScopeRef = SharedRef<ScopeState>;

pub(crate) use super::fresh::Fresh;

/// What a scope keeps beside its ready queue; see the module docs.
pub(crate) struct ScopeState {
    /// The stack of children spawned off the owner's loop and not yet moved
    /// to [`Fresh`], type-erased (see `set.rs`).
    pub(crate) incoming: TakeAllStack,
    /// The count of live parallel children (`spawn_on`).
    pub(crate) parallel: ParallelCount,
    /// When its parallel children start: at once, or (with a concurrency
    /// limit) at their turn.
    pub(crate) start: Start,
    /// The slow-poll watch, for parallel children.
    pub(crate) watch: Option<Watch>,
    /// The stop request (see `stop.rs`).
    pub(crate) stop: StopState,
    /// The nested scopes (see `nesting.rs`).
    pub(crate) nesting: Nesting,
    /// The task-tree record, if the scope is tracked.
    pub(crate) tree: Option<ScopeInfo>,
    pub(crate) room: Option<Room>,
    pub(crate) aborted: AtomicBool,
    /// Children run inside the `tracing` span current at their spawn
    /// (`Nursery::inherit_span`).
    #[cfg(feature = "tracing")]
    pub(crate) inherit_span: bool,
    /// The span current where the scope was last polled.
    #[cfg(feature = "tracing")]
    pub(crate) poll_span: super::span::PollSpan,
    /// Its statistics, if it collects them (`Nursery::collect_stats`).
    pub(crate) stats: Option<Box<super::stats::Counters>>,
}

/// What only a scope's owner touches (the engine's `UserState::Local`).
#[derive(Default)]
pub(crate) struct OwnerPart {
    /// The children spawned and not started yet.
    pub(crate) fresh: Fresh,
    /// The chunks the cells of children spawned on the owner's thread are
    /// carved from (`arena.rs`).
    pub(crate) arena: Arena,
}

// SAFETY: `Fresh` holds type-erased pointers to spawn links (linked through
// the links themselves), and nothing else; whether the children behind them
// may cross threads is the child set's to decide (its flavour), and dropping
// the queue drops no child (the set cancels its children before the state's
// last count goes). The arena holds pointers into chunks whose counts are
// atomic; dropping it on any thread gives back its uncarved slots, and frees
// a chunk only once its count says no cell is left in it.
unsafe impl UserState for ScopeState {
    type Local = OwnerPart;
}

impl ScopeState {
    /// A scope's state with its settings: the concurrency `limit`
    /// (`usize::MAX`: none), its slow-poll `watch`, its nursery's `grace`
    /// and its task-tree record.
    pub(crate) fn new(
        limit: usize,
        watch: Option<Watch>,
        grace: Option<Duration>,
        tree: Option<ScopeInfo>,
    ) -> Self {
        ScopeState {
            incoming: TakeAllStack::new(),
            parallel: ParallelCount::default(),
            start: if limit == usize::MAX {
                Start::AtOnce
            } else {
                Start::AtItsTurn
            },
            watch,
            stop: StopState::new(grace),
            nesting: Nesting::new(),
            tree,
            room: (limit != usize::MAX).then(|| Room::new(limit)),
            aborted: AtomicBool::new(false),
            #[cfg(feature = "tracing")]
            inherit_span: true,
            #[cfg(feature = "tracing")]
            poll_span: Default::default(),
            stats: None,
        }
    }

    /// Collecting statistics, or not.
    pub(crate) fn collect_stats(mut self, on: bool) -> Self {
        self.stats = on.then(Default::default);
        self
    }

    /// With children run inside their spawn site's `tracing` span, or not.
    #[cfg_attr(not(feature = "tracing"), allow(unused_mut))]
    pub(crate) fn inherit_span(mut self, _on: bool) -> Self {
        #[cfg(feature = "tracing")]
        {
            self.inherit_span = _on;
        }
        self
    }
}

/// How many parallel futures of one scope are still alive, and who to wake
/// when the last one is dropped.
/// A limited scope's count of children not finished yet (running, waiting
/// for a turn, or spawned and not yet seen by the scope), and the spawns
/// that wait for it to fall under the limit (`Scope::spawn_bounded`).
///
/// Every spawn adds one before its child can reach the scope (so the count
/// never goes below the truth), and the scope takes one off after the
/// child's future is gone. `spawn_bounded` adds its one with a
/// compare-and-swap that fails at the limit, so waiters never overshoot it;
/// a plain `spawn` adds unconditionally (it may overshoot; its child waits
/// in the scope's queue).
pub(crate) struct Room {
    pub(crate) limit: usize,
    unfinished: AtomicUsize,
    event: Event,
}

impl Room {
    fn new(limit: usize) -> Self {
        Room {
            limit,
            unfinished: AtomicUsize::new(0),
            event: Event::new(),
        }
    }

    /// A plain spawn: counts the child, limit or not.
    #[inline]
    pub(crate) fn add(&self) {
        self.unfinished.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a child if that keeps the count at or under the limit.
    pub(crate) fn try_reserve(&self) -> bool {
        let mut now = self.unfinished.load(Ordering::Acquire);
        while now < self.limit {
            match self.unfinished.compare_exchange_weak(
                now,
                now + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => now = actual,
            }
        }
        false
    }

    /// A child is gone (finished, dropped, or never reached the scope):
    /// wakes one more waiter.
    #[inline]
    pub(crate) fn release(&self) {
        self.unfinished.fetch_sub(1, Ordering::AcqRel);
        self.event
            .notify(event_listener::IntoNotification::additional(1));
    }

    /// Waits for room: the listener to await after a failed
    /// [`try_reserve`](Self::try_reserve) (then try again).
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.event.listen()
    }
}

#[derive(Default)]
pub(crate) struct ParallelCount {
    pub(super) alive: AtomicUsize,
    waker: AtomicWaker,
}

impl ParallelCount {
    /// `Ready` once every parallel future of the scope has been dropped.
    pub(crate) fn poll_all_dropped(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.alive.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.alive.load(Ordering::Acquire) == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// One parallel future is gone; the last one wakes the waiter.
    pub(super) fn one_dropped(&self) {
        if self.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waker.wake();
        }
    }
}

/// One scope's stop state (the protocol is in `stop.rs`).
pub(crate) struct StopState {
    /// 0 until a request reaches the scope; bumped each time the request it
    /// sees changes (a first one, or an earlier grace deadline).
    pub(super) epoch: AtomicUsize,
    /// The nursery's grace in nanoseconds (`NEVER_NS`: none, wait for ever).
    pub(super) grace_ns: u64,
    /// `Stopped` futures wait here.
    pub(super) event: Event,
}

impl StopState {
    fn new(grace: Option<Duration>) -> Self {
        StopState {
            epoch: AtomicUsize::new(0),
            grace_ns: grace.map_or(crate::time::NEVER_NS, crate::time::duration_ns),
            event: Event::new(),
        }
    }

    /// The request epoch: 0 if no stop request has reached the scope. `SeqCst`,
    /// for the scope future's half of the pairing described in `request_with`.
    pub(crate) fn epoch(&self) -> usize {
        // loom models `SeqCst` loads as acquire loads, too weak for the pairing;
        // a read-modify-write reads the latest value, which a `SeqCst` load
        // after a `SeqCst` store does as well in the real memory model.
        #[cfg(corral_loom)]
        return self.epoch.fetch_add(0, Ordering::SeqCst);
        #[cfg(not(corral_loom))]
        self.epoch.load(Ordering::SeqCst)
    }

    /// True once a stop request has reached the scope.
    pub(crate) fn is_stopping(&self) -> bool {
        self.epoch.load(Ordering::Acquire) != 0
    }
}

/// One scope's nested scopes (the registration protocol is in `nesting.rs`).
pub(crate) struct Nesting {
    inner: Mutex<Registry>,
}

/// What [`Nesting`]'s lock guards.
pub(crate) struct Registry {
    /// When the children still running are dropped (`None`: never), for the
    /// stop request seen now; meaningful once the stop epoch is non-zero.
    /// Written by `stop.rs`, here under the registry's lock: a scope that
    /// registers while a request walks down is either in the walk's list or
    /// inherits the request.
    pub(crate) grace_end: Option<Instant>,
    /// Why the first stop request that reached the scope was made.
    pub(crate) reason: Option<Reason>,
    /// Nested scopes registered here.
    pub(super) subscopes: Slab<ScopeRef>,
}

impl Registry {
    /// The nested scopes registered now.
    pub(crate) fn subscopes(&self) -> Vec<ScopeRef> {
        self.subscopes.values().cloned().collect()
    }
}

impl Nesting {
    fn new() -> Self {
        Nesting {
            inner: Mutex::new(Registry {
                grace_end: None,
                reason: None,
                subscopes: Slab::new(),
            }),
        }
    }

    /// The registry, locked. No user code runs under this lock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Registry> {
        crate::util::lock(&self.inner)
    }

    /// The nested scopes registered now (for the task tree).
    pub(crate) fn subscopes(&self) -> Vec<ScopeRef> {
        self.lock().subscopes()
    }
}
