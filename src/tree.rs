//! The task tree: what every live scope is running, printable from any thread.
//!
//! With tracking on ([`track_tasks`]), each scope opened afterwards keeps a
//! [`ScopeInfo`] (where it was opened, when, its limit) and gives each child
//! a [`ChildInfo`] record (where it was spawned, when, and whether it is
//! queued, waiting, being polled right now, or running on a runtime). The
//! records live in chunks owned by the scope that never move, and are reused
//! once their child is done, so tracking allocates nothing per child. Top-level
//! scopes sit in a global list; nested ones hang off their parent scope (the
//! same registration a stop request travels down, `scope/stop.rs`), under the
//! child they run in. [`task_tree`] walks all that under short locks that no
//! user code ever holds, so a watchdog thread can print it while every
//! executor thread is stuck.
//!
//! Off, a spawn costs one load and a branch, and a child poll a branch. On, a
//! spawn takes its scope's lock once to fill a record (its time is the start
//! of its scope's turn, read once per turn); a poll stores the child's state
//! twice and names the child current.

use std::fmt::{self, Write};
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::scope::SharedRef;
use crate::scope::ready::{Shared, chunk_position};

static TRACKING: AtomicBool = AtomicBool::new(false);

/// Turns task tracking on or off for scopes opened from now on (scopes
/// already open keep their setting). With it on, [`task_tree`] shows those
/// scopes, their children and their nested scopes.
///
/// Tracking costs each spawn an uncontended lock, each scope poll a clock
/// read, and each child poll two relaxed stores and a thread-local swap; off,
/// it costs nothing measurable. See `docs/benchmarks.md`.
///
/// # Examples
///
/// ```
/// corral::track_tasks(true);
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     s.spawn(async { Ok::<_, ()>(()) });
///     let tree = corral::task_tree().to_string();
///     assert!(tree.contains("not started yet"), "{tree}");
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// corral::track_tasks(false);
/// ```
pub fn track_tasks(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
}

/// True if scopes opened now are tracked.
pub(crate) fn tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No user code runs under these locks: a poisoned one is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A child not polled yet.
const NEW: u8 = 0;
/// Polled, returned `Pending`.
const WAITING: u8 = 1;
/// Being polled right now (by its scope, or by its runtime if parallel).
const RUNNING: u8 = 2;
/// Finished or dropped: the record may be reused.
const DONE: u8 = 3;

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
    pub(crate) fn done(&self, by_runtime: bool) {
        if by_runtime || !self.is_parallel() {
            self.state.store(DONE, Ordering::Release);
        }
    }

    /// Which record, and which use of it: what a nested scope remembers of
    /// the child it runs in.
    pub(crate) fn id(&self) -> (u32, u64) {
        (self.index, self.seq.load(Ordering::Relaxed))
    }
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
        // also holds the scope's state alive (the owner, or a `SharedRef`).
        unsafe { self.0.as_ref() }
    }
}

/// One tracked scope.
pub(crate) struct ScopeInfo {
    opened_at: &'static Location<'static>,
    since: Instant,
    /// Nanoseconds from `since` to the start of the scope's latest turn: a
    /// child's spawn time, read without a clock read per spawn.
    turn: AtomicU64,
    local: bool,
    limit: usize,
    /// The parent's child this scope runs in (`id()`), if known.
    in_child: OnceLock<(u32, u64)>,
    /// The local child being polled right now (null between polls): one
    /// store before and after each poll, on the scope's own cache line.
    polling: AtomicPtr<ChildInfo>,
    records: Mutex<Records>,
}

/// log2 of the first chunk of child records (32).
const FIRST_CHUNK_SHIFT: u32 = 5;

/// A scope's child records: chunks of 32, 64, 128... that never move.
struct Records {
    chunks: Vec<Box<[ChildInfo]>>,
    capacity: usize,
    /// Records never used yet start here.
    fresh: usize,
    /// Records given back (found `DONE` by a sweep).
    free: Vec<u32>,
    next_seq: u64,
}

impl Records {
    fn get(&self, index: u32) -> &ChildInfo {
        let (k, offset) = chunk_position(index as usize, FIRST_CHUNK_SHIFT);
        &self.chunks[k][offset]
    }

    /// A free record's index: a reused one, a fresh one, or one of a new chunk.
    fn take(&mut self) -> u32 {
        if let Some(index) = self.free.pop() {
            return index;
        }
        if self.fresh == self.capacity {
            // Sweep: records whose child is done go back. Grow instead if
            // fewer than half come back, so sweeps stay rare (amortised O(1)).
            for index in 0..self.capacity as u32 {
                if self.get(index).state.load(Ordering::Acquire) == DONE {
                    self.free.push(index);
                }
            }
            if self.free.is_empty() || self.free.len() < self.capacity / 2 {
                self.grow();
            } else {
                return self.free.pop().expect("a swept record");
            }
        }
        self.fresh += 1;
        (self.fresh - 1) as u32
    }

    #[cold]
    fn grow(&mut self) {
        let len = 1usize << (FIRST_CHUNK_SHIFT as usize + self.chunks.len());
        let base = self.capacity;
        assert!(
            base + len <= u32::MAX as usize,
            "corral: too many tracked children"
        );
        let chunk: Box<[ChildInfo]> = (base..base + len)
            .map(|index| ChildInfo {
                spawned_at: AtomicPtr::new(std::ptr::null_mut()),
                since_ns: AtomicU64::new(0),
                seq: AtomicU64::new(0),
                parallel: AtomicBool::new(false),
                state: AtomicU8::new(DONE),
                index: index as u32,
            })
            .collect();
        self.chunks.push(chunk);
        self.capacity += len;
    }
}

impl ScopeInfo {
    pub(crate) fn new(opened_at: &'static Location<'static>, local: bool, limit: usize) -> Self {
        ScopeInfo {
            opened_at,
            since: Instant::now(),
            turn: AtomicU64::new(0),
            local,
            limit,
            in_child: OnceLock::new(),
            polling: AtomicPtr::new(std::ptr::null_mut()),
            records: Mutex::new(Records {
                chunks: Vec::new(),
                capacity: 0,
                fresh: 0,
                free: Vec::new(),
                next_seq: 0,
            }),
        }
    }

    /// Records a new child of this scope.
    pub(crate) fn spawned(
        &self,
        spawned_at: &'static Location<'static>,
        parallel: bool,
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
        record.parallel.store(parallel, Ordering::Relaxed);
        record.state.store(NEW, Ordering::Relaxed);
        RecordRef(NonNull::from(record))
    }

    /// The scope starts a turn (a poll): one clock read dates every child
    /// spawned during it.
    pub(crate) fn turn(&self) {
        let ns = self.since.elapsed().as_nanos().min(u64::MAX as u128) as u64;
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

    /// Notes the parent's child this scope runs in.
    pub(crate) fn set_in_child(&self, child: (u32, u64)) {
        let _ = self.in_child.set(child);
    }

    /// The live children, in spawn order.
    fn live(&self) -> Vec<Snapshot> {
        let records = lock(&self.records);
        let polling = self.polling.load(Ordering::Relaxed);
        let mut live: Vec<Snapshot> = (0..records.fresh as u32)
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
                    since: self.since + Duration::from_nanos(r.since_ns.load(Ordering::Relaxed)),
                    parallel: r.is_parallel(),
                    state,
                })
            })
            .collect();
        live.sort_by_key(|c| c.id.1);
        live
    }
}

/// A child as `task_tree` saw it.
struct Snapshot {
    id: (u32, u64),
    spawned_at: &'static Location<'static>,
    since: Instant,
    parallel: bool,
    state: u8,
}

/// Top-level tracked scopes (and tracked scopes whose parent is not tracked).
static ROOTS: Mutex<Roots> = Mutex::new(Roots {
    list: Vec::new(),
    free: Vec::new(),
});

struct Roots {
    list: Vec<Option<SharedRef>>,
    free: Vec<usize>,
}

/// A scope's place in [`ROOTS`], given up when dropped.
pub(crate) struct Root(usize);

/// Lists `shared`'s scope among the roots of the tree.
pub(crate) fn add_root(shared: *const Shared) -> Root {
    // SAFETY: called by the scope's owner, which holds a count.
    let scope = unsafe { SharedRef::new(shared) };
    let mut roots = lock(&ROOTS);
    match roots.free.pop() {
        Some(index) => {
            roots.list[index] = Some(scope);
            Root(index)
        }
        None => {
            roots.list.push(Some(scope));
            Root(roots.list.len() - 1)
        }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let scope = {
            let mut roots = lock(&ROOTS);
            roots.free.push(self.0);
            roots.list[self.0].take()
        };
        drop(scope); // released outside the lock
    }
}

/// Children shown per scope; the rest are counted by state.
const SHOWN: usize = 32;

/// A snapshot of every tracked scope: see [`task_tree`]. Print it with `{}`.
///
/// # Examples
///
/// ```
/// let tree = corral::task_tree();
/// println!("{tree}");
/// ```
#[derive(Debug, Clone)]
pub struct TaskTree {
    text: String,
    scopes: usize,
    children: usize,
}

impl TaskTree {
    /// How many scopes the snapshot shows.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::task_tree().scopes(), 0); // nothing tracked yet
    /// ```
    pub fn scopes(&self) -> usize {
        self.scopes
    }

    /// How many live children the snapshot counted (shown or summarised).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::task_tree().children(), 0);
    /// ```
    pub fn children(&self) -> usize {
        self.children
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Takes a snapshot of the live tracked scopes and their children, from any
/// thread: asyncio's `python -m asyncio pstree` for corral.
///
/// Each scope shows where it was opened, its age, its concurrency limit and
/// whether it is stopping; each child where it was spawned, its age and its
/// state: *not started yet*, *queued behind the limit*, *waiting* (its last
/// poll returned `Pending`), or *running* (being polled right now: a child
/// that stays running is blocking its thread). Parallel children are marked
/// and show their runtime's view. Nested scopes appear under the child (or
/// the body) they run in. At most 32 children are listed per scope; the rest
/// are counted by state.
///
/// Only scopes opened while [`track_tasks`] was on are shown. Taking the
/// snapshot takes each scope's lock briefly; it never waits for a poll.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corral::track_tasks(true);
/// # futures::executor::block_on(async {
/// corral::Nursery::new()
///     .max_concurrency(1)
///     .scope(|s| async move {
///         s.spawn(async {
///             corral::time::sleep(Duration::from_millis(50)).await;
///             Ok::<_, ()>(())
///         });
///         s.spawn(async { Ok(()) }); // queued behind the limit
///         corral::time::sleep(Duration::from_millis(10)).await;
///         let tree = corral::task_tree().to_string();
///         assert!(tree.contains("waiting") && tree.contains("queued behind the limit"), "{tree}");
///         Ok(())
///     })
///     .await
///     .unwrap();
/// # });
/// corral::track_tasks(false);
/// ```
pub fn task_tree() -> TaskTree {
    let roots: Vec<SharedRef> = lock(&ROOTS).list.iter().flatten().cloned().collect();
    let mut tree = TaskTree {
        text: String::new(),
        scopes: 0,
        children: 0,
    };
    let now = Instant::now();
    for root in &roots {
        render_scope(&mut tree, root, "", "", now);
    }
    if roots.is_empty() {
        tree.text.push_str("(no tracked scopes)\n");
    }
    tree
}

/// Formats an age compactly: `850µs`, `12ms`, `3.2s`, `4m05s`.
fn age(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{}ms", us / 1_000)
    } else if d.as_secs() < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

fn render_scope(tree: &mut TaskTree, scope: &Shared, first: &str, rest: &str, now: Instant) {
    tree.scopes += 1;
    let _ = write!(tree.text, "{first}");
    let info = scope.tree.get();
    match info {
        Some(info) => {
            let kind = if info.local { "local scope" } else { "scope" };
            let _ = write!(
                tree.text,
                "{kind} opened at {}, age {}",
                info.opened_at,
                age(now.saturating_duration_since(info.since))
            );
            if info.limit != usize::MAX {
                let _ = write!(tree.text, ", limit {}", info.limit);
            }
        }
        None => tree.text.push_str("scope (opened while tracking was off)"),
    }
    if scope.stop.is_stopping() {
        tree.text.push_str(", stopping");
    }
    tree.text.push('\n');

    let children: Vec<Snapshot> = info.map(ScopeInfo::live).unwrap_or_default();
    tree.children += children.len();
    let limited = info.is_some_and(|i| i.limit != usize::MAX);
    let mut subscopes: Vec<(SharedRef, Option<(u32, u64)>)> = scope
        .stop
        .subscopes()
        .into_iter()
        .map(|sub| {
            let parent_child = sub.tree.get().and_then(|i| i.in_child.get()).copied();
            (sub, parent_child)
        })
        .collect();

    // The lines under this scope: shown children (with their nested scopes),
    // a summary of the rest, then scopes nested in the body.
    enum Line<'a> {
        Child(&'a Snapshot),
        More(String),
        Body,
    }
    let mut lines: Vec<Line<'_>> = Vec::new();
    let (shown, hidden) = children.split_at(children.len().min(SHOWN));
    for child in shown {
        lines.push(Line::Child(child));
    }
    if !hidden.is_empty() {
        let mut counts = [0usize; 3];
        for child in hidden {
            counts[usize::from(child.state.min(2))] += 1;
        }
        let new = if limited { "queued" } else { "not started" };
        lines.push(Line::More(format!(
            "... and {} more ({} {new}, {} waiting, {} running)",
            hidden.len(),
            counts[0],
            counts[1],
            counts[2]
        )));
    }
    // Scopes nested in a hidden child, or in the body, go under "body".
    let in_shown = |c: &Option<(u32, u64)>| c.is_some_and(|c| shown.iter().any(|s| s.id == c));
    if subscopes.iter().any(|(_, c)| !in_shown(c)) {
        lines.push(Line::Body);
    }

    let count = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let (branch, indent) = drawing(i + 1 == count);
        let nested: Vec<SharedRef> = match &line {
            Line::Child(child) => {
                let _ = writeln!(
                    tree.text,
                    "{rest}{branch}{}child spawned at {}, {}, age {}",
                    if child.parallel { "parallel " } else { "" },
                    child.spawned_at,
                    state_text(child, limited),
                    age(now.saturating_duration_since(child.since))
                );
                take_where(&mut subscopes, |c| *c == Some(child.id))
            }
            Line::More(text) => {
                let _ = writeln!(tree.text, "{rest}{branch}{text}");
                Vec::new()
            }
            Line::Body => {
                let _ = writeln!(tree.text, "{rest}{branch}(in the body)");
                take_where(&mut subscopes, |_| true)
            }
        };
        let inner_rest = format!("{rest}{indent}");
        let n = nested.len();
        for (j, sub) in nested.iter().enumerate() {
            let (b, ind) = drawing(j + 1 == n);
            render_scope(
                tree,
                sub,
                &format!("{inner_rest}{b}"),
                &format!("{inner_rest}{ind}"),
                now,
            );
        }
    }
}

/// The drawing before a line, and the indent under it, for the last line
/// of a level or another one.
fn drawing(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└── ", "    ")
    } else {
        ("├── ", "│   ")
    }
}

/// Removes and returns, in order, the nested scopes whose child matches.
fn take_where(
    subscopes: &mut Vec<(SharedRef, Option<(u32, u64)>)>,
    matches: impl Fn(&Option<(u32, u64)>) -> bool,
) -> Vec<SharedRef> {
    let (taken, rest): (Vec<_>, Vec<_>) = std::mem::take(subscopes)
        .into_iter()
        .partition(|(_, c)| matches(c));
    *subscopes = rest;
    taken.into_iter().map(|(scope, _)| scope).collect()
}

fn state_text(child: &Snapshot, limited: bool) -> &'static str {
    match (child.state, child.parallel) {
        (NEW, _) if limited => "queued behind the limit",
        (NEW, true) => "not started yet on its runtime",
        (NEW, false) => "not started yet",
        (WAITING, _) => "waiting",
        (RUNNING, true) => "running on its runtime now",
        (RUNNING, false) => "running (being polled now)",
        _ => "done",
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use crate::test_support::block_on;

    /// Records of finished children are reused (the storage stays small),
    /// live ones never are, and the snapshot lists the live ones in order.
    #[test]
    fn records_are_reused_once_done() {
        let at = std::panic::Location::caller();
        let info = super::ScopeInfo::new(at, false, usize::MAX);
        for _ in 0..if cfg!(miri) { 100 } else { 1_000 } {
            info.spawned(at, false).done(false);
        }
        assert!(super::lock(&info.records).capacity <= 64);
        let live: Vec<_> = (0..40).map(|_| info.spawned(at, false)).collect();
        let mut indices: Vec<u32> = live.iter().map(|r| r.id().0).collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices.len(), 40, "a live record was handed out twice");
        let snapshot = info.live();
        assert_eq!(snapshot.len(), 40);
        assert!(
            snapshot.windows(2).all(|w| w[0].id.1 < w[1].id.1),
            "spawn order"
        );
        // A parallel record is freed by its runtime's side only.
        let parallel = info.spawned(at, true);
        parallel.done(false);
        assert_eq!(info.live().len(), 41);
        parallel.done(true);
        assert_eq!(info.live().len(), 40);
    }

    /// Under Miri: a tracked scope nested in a tracked child, dumped from
    /// inside, then everything released.
    #[test]
    fn a_nested_tracked_scope_is_dumped_and_released() {
        super::track_tasks(true);
        let tree = block_on(crate::scope(|s| async move {
            let h = s.spawn(crate::scope(|inner| async move {
                let tree = inner.spawn(async { Ok(super::task_tree().to_string()) });
                Ok::<_, ()>(tree.await)
            }));
            Ok(h.await)
        }))
        .unwrap();
        super::track_tasks(false);
        assert!(tree.contains("running (being polled now)"), "{tree}");
        assert!(tree.lines().count() >= 4, "{tree}");
    }
}
