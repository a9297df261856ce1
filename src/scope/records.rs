//! The task tree's records, kept by the scopes: what `tree.rs` renders.
//!
//! With tracking on ([`track_tasks`](crate::track_tasks)), each scope opened
//! afterwards keeps a [`ScopeInfo`] (where it was opened, when, its limit)
//! and gives each child a [`ChildInfo`] record (where it was spawned, when,
//! whether it is queued, waiting, being polled right now, or running on a
//! runtime, and, for a child of `start`, whether it has said it is ready). The records live in chunks owned by the scope that never move,
//! and are reused once their child is done, so tracking allocates nothing per
//! child. Top-level scopes sit in a global list ([`roots`]); nested ones hang
//! off their parent scope (the same registration a stop request travels down,
//! `nesting.rs`), under the child they run in. Everything here is written by
//! the scopes and read, under short locks that no user code ever holds, by
//! `tree.rs`.
//!
//! Off, a spawn costs one load and a branch, and a child poll a branch. On, a
//! spawn takes its scope's lock once to fill a record (its time is the start
//! of its scope's turn, read once per turn); a poll stores the child's state
//! twice and names the child current.

use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::slow_poll::Placement;
use crate::util::lock;
use crate::wait_point::{Wait, WaitAt, WaitSlot};
use std::time::{Duration, Instant};

use crate::util::chunks::Chunks;

static TRACKING: AtomicBool = AtomicBool::new(false);

/// Turns tracking on or off for scopes opened from now on: what
/// [`track_tasks`](crate::track_tasks) does.
pub(crate) fn set_tracking(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
}

/// True if scopes opened now are tracked.
pub(crate) fn tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// A child not polled yet.
pub(crate) const NEW: u8 = 0;
/// Polled, returned `Pending`.
pub(crate) const WAITING: u8 = 1;
/// Being polled right now (by its scope, or by its runtime if parallel).
pub(crate) const RUNNING: u8 = 2;
/// Finished or dropped: the record may be reused.
pub(crate) const DONE: u8 = 3;

/// One tracked child's record. Every field is atomic: the spawner fills it
/// under its scope's lock, the scope (or the runtime, for a parallel child)
/// updates `state` without it, and `task_tree` reads it under the lock.
#[derive(Debug)]
pub(crate) struct ChildInfo {
    spawned_at: AtomicPtr<Location<'static>>,
    /// Nanoseconds from the scope's start to the turn it was spawned in.
    since_ns: AtomicU64,
    /// Spawn order in the scope, which also tells a reused record apart.
    seq: AtomicU64,
    parallel: AtomicBool,
    state: AtomicU8,
    /// A started child (`Scope::start`) that has not sent its ready value:
    /// set at the spawn, cleared by its `Starting` wrapper (polled by the
    /// scope) once it sees the value sent.
    not_ready: AtomicBool,
    /// What the child waits on, noted by corral's leaf future that
    /// returned `Pending` in its last poll (`wait_point.rs`).
    pub(crate) wait: WaitSlot,
    /// The record's place in its scope's storage.
    index: u32,
}

impl ChildInfo {
    /// True for a parallel child: its state is kept by its runtime task.
    #[inline]
    pub(crate) fn is_parallel(&self) -> bool {
        self.parallel.load(Ordering::Relaxed)
    }

    /// Its scope starts a (local) child: from now on it is waiting between
    /// polls, and running while the scope names it as the child it polls.
    #[inline]
    pub(crate) fn started(&self) {
        if !self.is_parallel() {
            self.state.store(WAITING, Ordering::Relaxed);
        }
    }

    /// The child is a started one that has not said it is ready yet.
    #[inline]
    pub(crate) fn not_ready(&self) {
        self.not_ready.store(true, Ordering::Relaxed);
    }

    /// The started child has sent its ready value.
    #[inline]
    pub(crate) fn ready(&self) {
        self.not_ready.store(false, Ordering::Relaxed);
    }

    /// Where the child was spawned.
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        // SAFETY: only ever set from a `&'static Location` (at the record's
        // first use, before any `RecordRef` to it exists).
        unsafe { &*self.spawned_at.load(Ordering::Relaxed) }
    }

    /// A parallel child's runtime starts polling it.
    #[inline]
    pub(crate) fn running(&self) {
        self.state.store(RUNNING, Ordering::Relaxed);
    }

    /// A parallel child's poll returned `Pending`.
    #[inline]
    pub(crate) fn waiting(&self) {
        self.state.store(WAITING, Ordering::Relaxed);
    }

    /// The child finished or was dropped; the record is free from now on.
    /// A parallel child's record is freed by its runtime task, which may
    /// still be polling it when its scope lets go.
    #[inline]
    pub(crate) fn done(&self, by: DoneBy) {
        if by == DoneBy::Runtime || !self.is_parallel() {
            self.state.store(DONE, Ordering::Release);
        }
    }

    /// Which record, and which use of it: what a nested scope remembers of
    /// the child it runs in.
    pub(crate) fn id(&self) -> ChildId {
        ChildId {
            index: self.index,
            seq: self.seq.load(Ordering::Relaxed),
        }
    }
}

/// Which child record, and which use of it (records are reused once their
/// child is done, so the index alone may name a later child).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChildId {
    /// The record's place in its scope's storage.
    pub(crate) index: u32,
    /// Spawn order in the scope: tells the uses of one record apart.
    pub(crate) seq: u64,
}

/// Who frees a child's record: its scope, or (for a parallel child) its
/// runtime task, which may still be polling it when the scope lets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DoneBy {
    /// The scope finished, dropped or released the child.
    Scope,
    /// A parallel child's runtime task dropped its future.
    Runtime,
}

/// Which kind of scope keeps the records (shown by the task tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScopeKind {
    /// A [`scope`](crate::scope) (or a `Nursery`'s).
    Scope,
    /// A [`local_scope`](crate::local_scope) (or a `Nursery`'s).
    Local,
}

/// A pointer to a [`ChildInfo`] in its scope's storage.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordRef(NonNull<ChildInfo>);

// SAFETY: a `ChildInfo` is all atomics.
unsafe impl Send for RecordRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for RecordRef {}

impl std::ops::Deref for RecordRef {
    type Target = ChildInfo;

    #[inline]
    fn deref(&self) -> &ChildInfo {
        // SAFETY: records live in chunks that never move and are freed only
        // with their `ScopeInfo`, inside the scope's shared state; whoever
        // holds a `RecordRef` (the child's cell, or a parallel child's task)
        // also holds the scope's state alive (the owner, or a `ScopeRef`).
        unsafe { self.0.as_ref() }
    }
}

/// One tracked scope.
pub(crate) struct ScopeInfo {
    opened_at: &'static Location<'static>,
    /// When the scope was first polled (on the clock in force there: a
    /// virtual clock's inside its `run`).
    since: OnceLock<Instant>,
    /// Nanoseconds from `since` to the start of the scope's latest turn: a
    /// child's spawn time, read without a clock read per spawn.
    turn: AtomicU64,
    kind: ScopeKind,
    limit: usize,
    /// The parent's child this scope runs in (`id()`), if known.
    in_child: OnceLock<ChildId>,
    /// The local child being polled right now (null between polls): one
    /// store before and after each poll, on the scope's own cache line.
    polling: AtomicPtr<ChildInfo>,
    records: Mutex<Records>,
}

/// Child records in the first chunk.
const FIRST_CHUNK: usize = 32;

/// A scope's child records: chunks of 32, 64, 128... that never move.
struct Records {
    chunks: Chunks<ChildInfo>,
    /// Records never used yet start here.
    untouched: usize,
    /// Records given back (found `DONE` by a sweep).
    free: Vec<u32>,
    next_seq: u64,
}

impl Records {
    fn get(&self, index: u32) -> &ChildInfo {
        self.chunks.get(index as usize)
    }

    /// A free record's index: a reused one, one never handed out, or one of a new chunk.
    fn take(&mut self) -> u32 {
        if let Some(index) = self.free.pop() {
            return index;
        }
        if self.untouched == self.chunks.capacity() {
            // Sweep: records whose child is done go back. Grow instead if
            // fewer than half come back, so sweeps stay rare (amortised O(1)).
            for index in 0..self.chunks.capacity() as u32 {
                if self.get(index).state.load(Ordering::Acquire) == DONE {
                    self.free.push(index);
                }
            }
            if self.free.is_empty() || self.free.len() < self.chunks.capacity() / 2 {
                self.grow();
            } else {
                return self.free.pop().expect("a swept record");
            }
        }
        self.untouched += 1;
        (self.untouched - 1) as u32
    }

    #[cold]
    fn grow(&mut self) {
        self.chunks.grow("tracked children", |index| ChildInfo {
            spawned_at: AtomicPtr::new(std::ptr::null_mut()),
            since_ns: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            parallel: AtomicBool::new(false),
            state: AtomicU8::new(DONE),
            not_ready: AtomicBool::new(false),
            wait: WaitSlot::new(),
            index: index as u32,
        });
    }
}

impl ScopeInfo {
    pub(crate) fn new(
        opened_at: &'static Location<'static>,
        kind: ScopeKind,
        limit: usize,
    ) -> Self {
        ScopeInfo {
            opened_at,
            since: OnceLock::new(),
            turn: AtomicU64::new(0),
            kind,
            limit,
            in_child: OnceLock::new(),
            polling: AtomicPtr::new(std::ptr::null_mut()),
            records: Mutex::new(Records {
                chunks: Chunks::new(FIRST_CHUNK),
                untouched: 0,
                free: Vec::new(),
                next_seq: 0,
            }),
        }
    }

    /// Records a new child of this scope.
    pub(crate) fn spawned(
        &self,
        spawned_at: &'static Location<'static>,
        placement: Placement,
    ) -> RecordRef {
        let turn = self.turn.load(Ordering::Relaxed);
        let mut records = lock(&self.records);
        let index = records.take();
        let seq = records.next_seq;
        records.next_seq += 1;
        let record = records.get(index);
        record
            .spawned_at
            .store(spawned_at as *const _ as *mut _, Ordering::Relaxed);
        record.since_ns.store(turn, Ordering::Relaxed);
        record.seq.store(seq, Ordering::Relaxed);
        record
            .parallel
            .store(placement == Placement::Parallel, Ordering::Relaxed);
        record.not_ready.store(false, Ordering::Relaxed);
        record.wait.forget();
        record.state.store(NEW, Ordering::Relaxed);
        RecordRef(NonNull::from(record))
    }

    /// The scope starts a turn (a poll): one clock read dates every child
    /// spawned during it.
    pub(crate) fn turn(&self) {
        let now = crate::time::now();
        let ns = now
            .saturating_duration_since(*self.since.get_or_init(|| now))
            .as_nanos()
            .min(u64::MAX as u128) as u64;
        self.turn.store(ns, Ordering::Relaxed);
    }

    /// Names the local child being polled (or none).
    #[inline]
    pub(crate) fn set_polling(&self, child: Option<RecordRef>) {
        let ptr = child.map_or(std::ptr::null_mut(), |c| c.0.as_ptr());
        self.polling.store(ptr, Ordering::Relaxed);
    }

    /// The local child being polled right now, if any.
    pub(crate) fn polling(&self) -> Option<RecordRef> {
        NonNull::new(self.polling.load(Ordering::Relaxed)).map(RecordRef)
    }

    /// Where the scope was opened.
    pub(crate) fn opened_at(&self) -> &'static Location<'static> {
        self.opened_at
    }

    /// When the scope was first polled (now, if it has not been yet).
    pub(crate) fn since(&self) -> Instant {
        self.since.get().copied().unwrap_or_else(crate::time::now)
    }

    /// True for a `local_scope`.
    pub(crate) fn is_local(&self) -> bool {
        self.kind == ScopeKind::Local
    }

    /// The scope's concurrency limit (`usize::MAX`: none).
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The parent's child this scope runs in, if known.
    pub(crate) fn in_child(&self) -> Option<ChildId> {
        self.in_child.get().copied()
    }

    /// Notes the parent's child this scope runs in.
    pub(crate) fn set_in_child(&self, child: ChildId) {
        let _ = self.in_child.set(child);
    }

    /// The live children, in spawn order.
    pub(crate) fn live(&self) -> Vec<Snapshot> {
        let records = lock(&self.records);
        let polling = self.polling.load(Ordering::Relaxed);
        let mut live: Vec<Snapshot> = (0..records.untouched as u32)
            .map(|index| records.get(index))
            .filter_map(|r| {
                let mut state = r.state.load(Ordering::Acquire);
                if state == WAITING && std::ptr::eq(polling, r) {
                    state = RUNNING;
                }
                (state != DONE).then(|| Snapshot {
                    id: r.id(),
                    // SAFETY: set from a `&'static Location` before `state`
                    // left `DONE`, under the lock we hold.
                    spawned_at: unsafe { &*r.spawned_at.load(Ordering::Relaxed) },
                    since: self.since() + Duration::from_nanos(r.since_ns.load(Ordering::Relaxed)),
                    parallel: r.is_parallel(),
                    state,
                    not_ready: r.not_ready.load(Ordering::Relaxed),
                    wait: r.wait.get(),
                })
            })
            .collect();
        live.sort_by_key(|c| c.id.seq);
        live
    }
}

/// A live child as `task_tree` sees it.
pub(crate) struct Snapshot {
    pub(crate) id: ChildId,
    pub(crate) spawned_at: &'static Location<'static>,
    pub(crate) since: Instant,
    pub(crate) parallel: bool,
    /// `NEW`, `WAITING` or `RUNNING`.
    pub(crate) state: u8,
    /// A started child that has not sent its ready value yet.
    pub(crate) not_ready: bool,
    /// What it waits on, and where that was made, if known.
    pub(crate) wait: Option<(Wait, WaitAt)>,
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::{DoneBy, Placement};
    /// Records of finished children are reused (the storage stays small),
    /// live ones never are, and the snapshot lists the live ones in order.
    #[test]
    fn records_are_reused_once_done() {
        let at = std::panic::Location::caller();
        let info = super::ScopeInfo::new(at, super::ScopeKind::Scope, usize::MAX);
        for _ in 0..if cfg!(miri) { 100 } else { 1_000 } {
            info.spawned(at, Placement::Local).done(DoneBy::Scope);
        }
        assert!(super::lock(&info.records).chunks.capacity() <= 64);
        let live: Vec<_> = (0..40)
            .map(|_| info.spawned(at, Placement::Local))
            .collect();
        let mut indices: Vec<u32> = live.iter().map(|r| r.id().index).collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices.len(), 40, "a live record was handed out twice");
        let snapshot = info.live();
        assert_eq!(snapshot.len(), 40);
        assert!(
            snapshot.windows(2).all(|w| w[0].id.seq < w[1].id.seq),
            "spawn order"
        );
        // A parallel record is freed by its runtime's side only.
        let parallel = info.spawned(at, Placement::Parallel);
        parallel.done(DoneBy::Scope);
        assert_eq!(info.live().len(), 41);
        parallel.done(DoneBy::Runtime);
        assert_eq!(info.live().len(), 40);
    }
}
