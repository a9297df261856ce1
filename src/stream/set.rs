//! `JoinSet`: a scope's children whose values come out as they finish.
//!
//! The set holds the handle side of each child it spawned, in a table
//! (`Held`) that a spawn appends to; each child's cell carries a
//! `SetMember` (`scope/member.rs`) that pushes the cell onto the set's
//! completion stack when the scope publishes its outcome. `join_next` takes that stack (in completion order) onto a list
//! of its own, linked through the cells, and reads the values through the
//! nodes themselves; it never looks at an unfinished child.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::engine::Leave;
use crate::scope::member::{SetMember, SetNode, SetShared};
use crate::scope::{
    AbortRoute, Counted, JoinPart, RoomWait, ScopeHandle, SpawnChild, release_handle_ref,
    shared_of, take_published,
};
use crate::spawn::Spawn;
use crate::util::slab::NIL;
use crate::wait_point::{Wait, note};

/// What the set records of a child it holds.
struct Entry<U> {
    /// The child's join part: the handle side's reference.
    join: NonNull<JoinPart<U, SetMember>>,
    id: JoinId,
}

impl<U> Clone for Entry<U> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<U> Copy for Entry<U> {}

/// The children a set holds: one entry each, at the index its member names
/// (`SetMember::index`). A spawn appends; taking a value empties the entry
/// in place. When the table is full, the spawn that finds it so moves the
/// entries still held to the front (telling each member its new index) if
/// at most half are, and grows the table otherwise: a spawn costs a push and
/// a value taken a store, and the table stays within four times the most
/// children held at once.
struct Held<U> {
    entries: Vec<Option<Entry<U>>>,
    /// Entries that are `Some`.
    live: usize,
}

impl<U> Held<U> {
    const fn new() -> Self {
        Held {
            entries: Vec::new(),
            live: 0,
        }
    }

    #[inline]
    fn live(&self) -> usize {
        self.live
    }

    /// The index the next [`push`](Self::push) takes, making room for it
    /// first. The table's entries move only here.
    ///
    /// # Panics
    ///
    /// If the set would hold more than `u32::MAX - 1` children.
    #[inline]
    fn reserve(&mut self) -> u32 {
        if self.entries.len() == self.entries.capacity() {
            self.make_room();
        }
        self.entries.len() as u32
    }

    #[inline(never)]
    fn make_room(&mut self) {
        let len = self.entries.len();
        if self.live * 2 <= len && len > 0 {
            // Compact: the entries held keep their order, at the front.
            let mut to = 0;
            for from in 0..len {
                if let Some(entry) = self.entries[from] {
                    if from != to {
                        self.entries[to] = Some(entry);
                        // SAFETY: the set holds this child (its cell is
                        // alive); the member's index is the set's alone.
                        unsafe { (*entry.join.cast::<SetNode>().as_ptr()).set_index(to as u32) };
                    }
                    to += 1;
                }
            }
            self.entries.truncate(to);
        } else {
            assert!(
                len < NIL as usize,
                "corral: more than 4 billion children in one JoinSet"
            );
            self.entries.reserve(1);
        }
    }

    /// Records a child at the index [`reserve`](Self::reserve) returned.
    #[inline]
    fn push(&mut self, entry: Entry<U>) {
        debug_assert!(self.entries.len() < self.entries.capacity());
        self.entries.push(Some(entry));
        self.live += 1;
    }

    /// Forgets the child at `index`; returns its id.
    ///
    /// # Safety
    ///
    /// The entry at `index` holds a child (a held child's member names it).
    #[inline]
    unsafe fn remove(&mut self, index: u32) -> JoinId {
        debug_assert!((index as usize) < self.entries.len());
        // SAFETY: in bounds and `Some`, as the caller promises.
        let entry = unsafe { self.entries.get_unchecked_mut(index as usize).take() };
        self.live -= 1;
        match entry {
            Some(entry) => entry.id,
            // SAFETY: as above.
            None => unsafe { std::hint::unreachable_unchecked() },
        }
    }

    /// The children held, in spawn order.
    fn iter(&self) -> impl Iterator<Item = Entry<U>> + '_ {
        self.entries.iter().flatten().copied()
    }
}

/// Which child of a [`JoinSet`] a value came from: returned by the set's
/// spawns, yielded by [`JoinSet::join_next_with_id`]. Unique within one set,
/// in spawn order.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let mut set = corral::JoinSet::new(&s);
///     let a = set.spawn(async { Ok::<_, ()>("a") });
///     let b = set.spawn(async { Ok("b") });
///     assert!(a < b);
///     let (id, value) = set.join_next_with_id().await.unwrap();
///     assert_eq!((id, value), (a, Some("a")));
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JoinId(u64);

impl JoinId {
    /// The id as a number: 0 for the set's first child, then counting up.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     assert_eq!(set.spawn(async { Ok::<_, ()>(()) }).as_u64(), 0);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JoinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Children of a scope whose values the body takes as they finish: tokio's
/// `JoinSet`, inside a scope.
///
/// Children spawned through the set ([`spawn`](Self::spawn),
/// [`spawn_on`](Self::spawn_on), [`spawn_bounded`](Self::spawn_bounded))
/// are children of the scope `S` ([`Scope`](crate::Scope) or
/// [`LocalScope`](crate::LocalScope)) like any other: they may borrow what
/// the scope's children may borrow, cannot outlive it, and fail it by its
/// rules (the first error or panic drops everything, the set and its owner
/// included, and the scope resolves to it). What the set adds is the order
/// of their values: [`join_next`](Self::join_next) yields the next one to
/// finish, and the set is a [`Stream`] of them.
///
/// - **Dropping the set drops its unfinished children**, at the scope's next
///   turn (before any of them is polled again when the set is dropped on
///   the scope's thread, as in the body or a child); values not taken are
///   dropped with the set. [`abort_all`](Self::abort_all) does the same and
///   keeps the set.
/// - A child **dropped before it finished** (a stop's
///   [`grace`](crate::Nursery::grace) ran out, or `abort_all`) has no value:
///   [`join_next`](Self::join_next) skips it, and
///   [`join_next_with_id`](Self::join_next_with_id) yields it with `None`.
/// - **Back-pressure:** [`with_limit`](Self::with_limit) bounds how many of
///   the set's children may be unfinished at once, and
///   [`spawn_bounded`](Self::spawn_bounded) waits for a place.
/// - **Costs:** no allocation per child beyond the child's own cell (the
///   set's table grows by doubling); a finished child is found without
///   looking at the others.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # futures::executor::block_on(async {
/// let lengths = corral::scope(|s| async move {
///     let mut set = corral::JoinSet::new(&s);
///     for (i, word) in ["slow", "quick", "middling"].into_iter().enumerate() {
///         set.spawn(async move {
///             corral::time::sleep(Duration::from_millis(20 * (2 - i as u64))).await;
///             Ok::<_, ()>(word)
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(word) = set.join_next().await {
///         order.push(word);
///     }
///     Ok(order)
/// })
/// .await;
/// assert_eq!(lengths, Ok(vec!["middling", "quick", "slow"]));
/// # });
/// ```
pub struct JoinSet<S: ScopeHandle, U> {
    scope: S,
    set: Arc<SetShared>,
    /// Every child the set holds.
    children: Held<U>,
    /// The finished children taken off the stack, oldest first, linked
    /// through the members' `next`; null when empty (`done_last` is then
    /// stale).
    done_first: *mut SetNode,
    done_last: *mut SetNode,
    /// How many children are on the `done` list.
    done_len: usize,
    next_id: u64,
    limit: usize,
}

// SAFETY: the set touches its children's headers (atomics) and moves their
// values `U` out; never their futures. So it may move to another thread if
// `U` may and its scope handle may (a `LocalScope`'s may not: its set
// spawns `!Send` children).
unsafe impl<S: ScopeHandle + Send, U: Send> Send for JoinSet<S, U> {}
// SAFETY: `&JoinSet` reads only the set's own counts.
unsafe impl<S: ScopeHandle + Sync, U: Send> Sync for JoinSet<S, U> {}

impl<S: ScopeHandle, U> Unpin for JoinSet<S, U> {}

impl<S: ScopeHandle, U> JoinSet<S, U> {
    /// An empty set whose children will belong to `scope`.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     let rc = std::rc::Rc::new(5); // local scopes take `!Send` children
    ///     set.spawn(async move { Ok::<_, ()>(*rc) });
    ///     assert_eq!(set.join_next().await, Some(5));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn new(scope: &S) -> Self {
        JoinSet {
            scope: scope.clone(),
            set: SetShared::new(),
            children: Held::new(),
            done_first: std::ptr::null_mut(),
            done_last: std::ptr::null_mut(),
            done_len: 0,
            next_id: 0,
            limit: usize::MAX,
        }
    }

    /// An empty set that lets at most `limit` of its children be unfinished
    /// at once: [`spawn_bounded`](Self::spawn_bounded) waits for a place
    /// (plain [`spawn`](Self::spawn) does not count the limit).
    ///
    /// The set's limit replaces the scope's room for its own waits; the
    /// scope's [`max_concurrency`](crate::Nursery::max_concurrency) still
    /// applies to its children as to any: beyond it they wait unstarted, in
    /// spawn order. Finished values do not hold a place, but each keeps its
    /// child's cell (sized by the child's future, not its value) until it is
    /// taken: take values as you feed (`try_join_next`), or memory grows
    /// with the input.
    ///
    /// # Panics
    ///
    /// Panics if `limit` is 0: no child could ever be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::with_limit(&s, 2);
    ///     for i in 0..10 {
    ///         set.spawn_bounded(async move { Ok::<_, ()>(i) }).await;
    ///         assert!(set.unfinished() <= 2);
    ///     }
    ///     let mut sum = 0;
    ///     while let Some(i) = set.join_next().await {
    ///         sum += i;
    ///     }
    ///     assert_eq!(sum, 45);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    ///
    /// ```should_panic
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let _set = corral::JoinSet::<_, ()>::with_limit(&s, 0); // panics
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn with_limit(scope: &S, limit: usize) -> Self {
        assert!(
            limit > 0,
            "corral: JoinSet::with_limit(_, 0) would never spawn a child; use at least 1"
        );
        let mut set = JoinSet::new(scope);
        set.limit = limit;
        set
    }

    /// How many children the set holds: spawned through it and not yet
    /// yielded by `join_next` (running, waiting for a turn, finished with a
    /// value not taken yet, or dropped unfinished and not yet reported).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     assert!(set.is_empty());
    ///     set.spawn(async { Ok::<_, ()>(()) });
    ///     assert_eq!(set.len(), 1);
    ///     set.join_next().await;
    ///     assert_eq!(set.len(), 0);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn len(&self) -> usize {
        self.children.live()
    }

    /// True if the set holds no child (see [`len`](Self::len)).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let set = corral::JoinSet::<_, ()>::new(&s);
    ///     assert!(set.is_empty());
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.children.live() == 0
    }

    /// How many of the set's children have not finished: [`len`](Self::len)
    /// less those whose values wait to be taken. What
    /// [`with_limit`](Self::with_limit) bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     set.spawn(std::future::pending::<Result<(), ()>>());
    ///     assert_eq!(set.unfinished(), 1);
    ///     set.abort_all();
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn unfinished(&mut self) -> usize {
        self.take_done();
        self.children.live() - self.done_len
    }

    /// Drops every unfinished child of the set at the scope's next turn (see
    /// the type's docs); their values, having none, are skipped by
    /// `join_next`. Values of finished children stay to be taken. The scope
    /// is otherwise unaffected.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let first = corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     set.spawn(async { Ok::<_, ()>("fast") });
    ///     set.spawn(std::future::pending()); // never finishes
    ///     let first = set.join_next().await;
    ///     set.abort_all(); // the pending child is dropped
    ///     assert_eq!(set.join_next().await, None);
    ///     Ok(first)
    /// })
    /// .await;
    /// assert_eq!(first, Ok(Some("fast")));
    /// # });
    /// ```
    pub fn abort_all(&mut self) {
        if self.children.live() == 0 {
            return;
        }
        let shared: *const _ = shared_of(&self.scope);
        for entry in self.children.iter() {
            // SAFETY: the set holds the handle side of each of its children.
            unsafe { AbortRoute::new(entry.join, shared).request() };
        }
    }

    /// Waits for the next child to finish and yields its value; `None` once
    /// the set holds no child. A child dropped before it finished is skipped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a value is taken out of the set only in the poll that
    /// returns it, so dropping the future loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     set.spawn(async { Ok::<_, ()>(1) });
    ///     assert_eq!(set.join_next().await, Some(1));
    ///     assert_eq!(set.join_next().await, None);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn join_next(&mut self) -> JoinNext<'_, S, U> {
        JoinNext {
            set: self,
            at: Location::caller(),
        }
    }

    /// As [`join_next`](Self::join_next), with the [`JoinId`] of the child,
    /// and children dropped before they finished included (with `None`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`join_next`](Self::join_next).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     let stuck = set.spawn(std::future::pending::<Result<(), ()>>());
    ///     set.abort_all();
    ///     assert_eq!(set.join_next_with_id().await, Some((stuck, None)));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn join_next_with_id(&mut self) -> JoinNextWithId<'_, S, U> {
        JoinNextWithId {
            set: self,
            at: Location::caller(),
        }
    }

    /// The value of a child that has finished, if there is one now, without
    /// waiting. `None` also when the set is empty (see
    /// [`is_empty`](Self::is_empty)). Children dropped before they finished
    /// are skipped, as by [`join_next`](Self::join_next).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     set.spawn(async { Ok::<_, ()>(3) });
    ///     assert_eq!(set.try_join_next(), None); // not started yet
    ///     corral::yield_now().await; // the scope runs the child
    ///     assert_eq!(set.try_join_next(), Some(3));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn try_join_next(&mut self) -> Option<U> {
        self.take_done();
        while !self.done_first.is_null() {
            if let (_, Some(value)) = self.pop_done() {
                return Some(value);
            }
        }
        None
    }

    /// The poll behind [`join_next`](Self::join_next) (and the [`Stream`]
    /// impl): `Ready(Some(value))` for a finished child, `Ready(None)` once
    /// the set is empty, else `Pending` (the task is woken when a child
    /// finishes).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     set.spawn(async { Ok::<_, ()>(2) });
    ///     let two = std::future::poll_fn(|cx| set.poll_join_next(cx)).await;
    ///     assert_eq!(two, Some(2));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[inline]
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<U>> {
        // As `poll_join_next_with_id`, without the ids.
        loop {
            if self.done_first.is_null() && !self.refill(cx) {
                return match self.children.live() {
                    0 => Poll::Ready(None),
                    _ => Poll::Pending,
                };
            }
            if let (_, Some(value)) = self.pop_done() {
                return Poll::Ready(Some(value));
            }
        }
    }

    /// The poll behind [`join_next_with_id`](Self::join_next_with_id).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     let id = set.spawn(async { Ok::<_, ()>(2) });
    ///     let next = std::future::poll_fn(|cx| set.poll_join_next_with_id(cx)).await;
    ///     assert_eq!(next, Some((id, Some(2))));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[inline]
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(JoinId, Option<U>)>> {
        // A value already taken off the stack: the common case, inline. (A
        // set with one holds a child, so `None` below is right.)
        if self.done_first.is_null() && !self.refill(cx) {
            return match self.children.live() {
                0 => Poll::Ready(None),
                _ => Poll::Pending,
            };
        }
        Poll::Ready(Some(self.pop_done()))
    }

    /// Takes the finished children off the stack when the set's own list of
    /// them is empty, registering the task's waker if there are none; true
    /// if there are some now.
    #[inline(never)]
    fn refill(&mut self, cx: &mut Context<'_>) -> bool {
        if self.children.live() == 0 {
            return false;
        }
        self.take_done();
        if self.done_first.is_null() {
            self.set.register(cx.waker());
            // A child that finished before the registration pushed
            // without waking us: look again.
            self.take_done();
        }
        !self.done_first.is_null()
    }

    /// Moves the finished children off the shared stack, onto the end of
    /// the set's `done` list.
    #[inline]
    fn take_done(&mut self) {
        if !self.set.has_done() {
            return;
        }
        // SAFETY: the set is the stack's one owner.
        let Some(chain) = (unsafe { self.set.take_done(Leave::Open) }) else {
            return;
        };
        if self.done_first.is_null() {
            self.done_first = chain.first.as_ptr();
        } else {
            // SAFETY: `done_last` is the last node on a non-empty `done`
            // list: a child the set holds, off the stack for good.
            unsafe { (*self.done_last).set_next_done(chain.first.as_ptr()) };
        }
        self.done_last = chain.last.as_ptr();
        self.done_len += chain.len;
    }

    /// The oldest finished child: its id and value (`None`: dropped).
    #[inline]
    ///
    /// # Panics
    ///
    /// If the `done` list is empty (the callers look first).
    fn pop_done(&mut self) -> (JoinId, Option<U>) {
        let node = self.done_first;
        let join = NonNull::new(node.cast::<JoinPart<U, SetMember>>())
            .expect("corral: JoinSet::pop_done on an empty list");
        // SAFETY: a node on `done` is a child the set holds (its cell is
        // alive), off the stack for good.
        let (index, next) = unsafe { ((*node).index(), (*node).next_done()) };
        self.done_first = next;
        self.done_len -= 1;
        // SAFETY: a held child's member names its own entry, which holds it
        // until this removal.
        let id = unsafe { self.children.remove(index) };
        // SAFETY: the set held the handle side of this child, which
        // published (it was on the stack), and gives it up here, once: the
        // child is on none of the set's lists now. `join` is the node the
        // child pushed, a `JoinPart<U, SetMember>` with the whole cell's
        // provenance (`Member::published`).
        let value = unsafe { take_published(join) };
        (id, value)
    }

    /// Records a child: `launch` spawns it into `scope` with the member that
    /// names its slot. Panics (as `Scope::spawn`) if the scope has finished.
    #[track_caller]
    #[inline]
    fn insert(
        &mut self,
        launch: impl FnOnce(&S, SetMember) -> Option<NonNull<JoinPart<U, SetMember>>>,
    ) -> JoinId {
        let id = JoinId(self.next_id);
        self.next_id += 1;
        let index = self.children.reserve();
        match launch(&self.scope, SetMember::new(&self.set, index)) {
            Some(join) => {
                // Nothing touched the table since `reserve`: the closure
                // borrows only the scope.
                self.children.push(Entry { join, id });
                id
            }
            None => panic!(
                "corral: spawn on a scope that has already finished \
                 (the scope future resolved, failed or was dropped)"
            ),
        }
    }

    /// Spawns a child into the set's scope, as [`Scope::spawn`]
    /// (or [`LocalScope::spawn`] for a local scope's set); its value comes
    /// out of the set. Never waits: the set's limit does not apply (see
    /// [`spawn_bounded`](Self::spawn_bounded)); the scope's
    /// [`max_concurrency`](crate::Nursery::max_concurrency) does, as for any
    /// child.
    ///
    /// [`Scope::spawn`]: crate::Scope::spawn
    /// [`LocalScope::spawn`]: crate::LocalScope::spawn
    ///
    /// # Panics
    ///
    /// As [`Scope::spawn`](crate::Scope::spawn): if the scope has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let data = vec![1, 2, 3];
    /// let data = &data; // children may borrow from outside the scope
    /// let sum = corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     for x in data {
    ///         set.spawn(async move { Ok::<_, ()>(x * 10) });
    ///     }
    ///     let mut sum = 0;
    ///     while let Some(v) = set.join_next().await {
    ///         sum += v;
    ///     }
    ///     Ok(sum)
    /// })
    /// .await;
    /// assert_eq!(sum, Ok(60));
    /// # });
    /// ```
    #[track_caller]
    #[inline]
    pub fn spawn<F>(&mut self, future: F) -> JoinId
    where
        S: SpawnChild<F, U>,
    {
        let spawned_at = Location::caller();
        self.insert(|scope, member| scope.spawn_in_set(future, member, spawned_at, Counted::NotYet))
    }

    /// Spawns a child named `name` into the set: as [`spawn`](Self::spawn),
    /// with the name shown wherever the child's spawn site is (see
    /// [`Scope::spawn_named`](crate::Scope::spawn_named)).
    ///
    /// # Panics
    ///
    /// As [`Scope::spawn`](crate::Scope::spawn): if the scope has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let out = corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     set.spawn_named("resolver", async { Ok::<_, ()>(53) });
    ///     Ok(set.join_next().await)
    /// })
    /// .await;
    /// assert_eq!(out, Ok(Some(53)));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&mut self, name: &'static str, future: F) -> JoinId
    where
        S: SpawnChild<F, U>,
    {
        let spawned_at = crate::names::named(name, Location::caller());
        self.insert(|scope, member| scope.spawn_in_set(future, member, spawned_at, Counted::NotYet))
    }

    /// Spawns a parallel child on `spawner`, as
    /// [`Scope::spawn_on`](crate::Scope::spawn_on); its value comes out of
    /// the set.
    ///
    /// # Panics
    ///
    /// As [`Scope::spawn_on`](crate::Scope::spawn_on): if the scope has
    /// finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = futures::executor::ThreadPool::new().unwrap();
    /// # futures::executor::block_on(async {
    /// let here = std::thread::current().id();
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::new(&s);
    ///     for _ in 0..4 {
    ///         set.spawn_on(&pool, async { Ok::<_, ()>(std::thread::current().id()) });
    ///     }
    ///     while let Some(there) = set.join_next().await {
    ///         assert_ne!(there, here);
    ///     }
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_on<Sp, F>(&mut self, spawner: &Sp, future: F) -> JoinId
    where
        Sp: Spawn + ?Sized,
        F: Future<Output = Result<U, S::Error>> + Send + 'static,
        U: Send + 'static,
        S::Error: Send + 'static,
    {
        let spawned_at = Location::caller();
        self.insert(|scope, member| {
            scope.spawn_on_in_set(spawner, future, member, spawned_at, Counted::NotYet)
        })
    }

    /// Spawns a child once there is room: the back-pressure form of
    /// [`spawn`](Self::spawn). With a limit ([`with_limit`](Self::with_limit))
    /// it waits while that many of the set's children are unfinished; without
    /// one, it waits for the scope's room as
    /// [`Scope::spawn_bounded`](crate::Scope::spawn_bounded) does. Values
    /// waiting to be taken do not hold a place, so a body that alternates
    /// spawning and taking values never waits for itself (but each keeps
    /// its child's cell until taken: see [`with_limit`](Self::with_limit)).
    /// A stop request does not end the wait: the future waits for a place
    /// as before and spawns a child that sees the request.
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn), when it spawns.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it resolves drops `future`
    /// unpolled and spawns nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let total = corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::with_limit(&s, 8);
    ///     let mut total = 0u64;
    ///     for i in 0..1000u64 {
    ///         set.spawn_bounded(async move { Ok::<_, ()>(i) }).await;
    ///         // Take what is ready while feeding: the set stays small.
    ///         while let Some(v) = set.try_join_next() {
    ///             total += v;
    ///         }
    ///     }
    ///     while let Some(v) = set.join_next().await {
    ///         total += v;
    ///     }
    ///     Ok(total)
    /// })
    /// .await;
    /// assert_eq!(total, Ok(499_500));
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_bounded<F>(&mut self, future: F) -> SetSpawnBounded<'_, S, U, F>
    where
        S: SpawnChild<F, U>,
    {
        SetSpawnBounded {
            set: self,
            future: Some(future),
            wait: RoomWait::default(),
            spawned_at: Location::caller(),
        }
    }

    /// Ready once fewer than the limit of the set's children are unfinished.
    fn poll_set_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.limit == usize::MAX || self.unfinished() < self.limit {
            return Poll::Ready(());
        }
        self.set.register(cx.waker());
        if self.unfinished() < self.limit {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<S: ScopeHandle, U> Drop for JoinSet<S, U> {
    fn drop(&mut self) {
        // Ask first (the cells are alive while the set holds them), then let
        // go of the handle side of every child.
        self.abort_all();
        // SAFETY: the set is the stack's one owner; closed, no child pushes
        // again, so nobody walks the stack after this. The children taken
        // are all in the table, let go of below.
        let _ = unsafe { self.set.take_done(Leave::Closed) };
        if self.children.live() == 0 {
            return;
        }
        for entry in std::mem::replace(&mut self.children, Held::new()).iter() {
            // SAFETY: the set held the handle side, given up here once.
            unsafe { release_handle_ref(entry.join) };
        }
    }
}

impl<S: ScopeHandle, U> Stream for JoinSet<S, U> {
    type Item = U;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        self.get_mut().poll_join_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.len()))
    }
}

impl<S: ScopeHandle, U> fmt::Debug for JoinSet<S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.len())
            .field("limit", &(self.limit != usize::MAX).then_some(self.limit))
            .finish_non_exhaustive()
    }
}

/// The future of [`JoinSet::join_next`].
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let mut set = corral::JoinSet::new(&s);
///     set.spawn(async { Ok::<_, ()>(1) });
///     let next: corral::stream::JoinNext<'_, _, i32> = set.join_next();
///     assert_eq!(next.await, Some(1));
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JoinNext<'a, S: ScopeHandle, U> {
    set: &'a mut JoinSet<S, U>,
    /// Where it was made, for the task tree (`wait_point.rs`).
    at: &'static Location<'static>,
}

impl<S: ScopeHandle, U> Future for JoinNext<'_, S, U> {
    type Output = Option<U>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        let this = self.get_mut();
        let polled = this.set.poll_join_next(cx);
        if polled.is_pending() {
            note(Wait::JoinNext, this.at);
        }
        polled
    }
}

impl<S: ScopeHandle, U> fmt::Debug for JoinNext<'_, S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNext").finish_non_exhaustive()
    }
}

/// The future of [`JoinSet::join_next_with_id`].
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let mut set = corral::JoinSet::new(&s);
///     let id = set.spawn(async { Ok::<_, ()>(1) });
///     let next: corral::stream::JoinNextWithId<'_, _, i32> = set.join_next_with_id();
///     assert_eq!(next.await, Some((id, Some(1))));
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct JoinNextWithId<'a, S: ScopeHandle, U> {
    set: &'a mut JoinSet<S, U>,
    /// Where it was made, for the task tree (`wait_point.rs`).
    at: &'static Location<'static>,
}

impl<S: ScopeHandle, U> Future for JoinNextWithId<'_, S, U> {
    type Output = Option<(JoinId, Option<U>)>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.set.poll_join_next_with_id(cx);
        if polled.is_pending() {
            note(Wait::JoinNext, this.at);
        }
        polled
    }
}

impl<S: ScopeHandle, U> fmt::Debug for JoinNextWithId<'_, S, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinNextWithId").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`JoinSet::spawn_bounded`]: waits for room, then
    /// spawns and resolves to the child's [`JoinId`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let mut set = corral::JoinSet::with_limit(&s, 1);
    ///     let spawn: corral::stream::SetSpawnBounded<'_, _, i32, _> =
    ///         set.spawn_bounded(async { Ok::<_, ()>(1) });
    ///     let id = spawn.await;
    ///     assert_eq!(set.join_next_with_id().await, Some((id, Some(1))));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct SetSpawnBounded<'a, S: ScopeHandle, U, F> {
        set: &'a mut JoinSet<S, U>,
        future: Option<F>,
        wait: RoomWait,
        spawned_at: &'static Location<'static>,
    }
}

impl<S, U, F> Future for SetSpawnBounded<'_, S, U, F>
where
    S: SpawnChild<F, U>,
{
    type Output = JoinId;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JoinId> {
        let this = self.project();
        let set = &mut **this.set;
        let room = if set.limit == usize::MAX {
            this.wait.poll_reserve(shared_of(&set.scope), cx)
        } else {
            set.poll_set_room(cx).map(|()| Counted::NotYet)
        };
        let Poll::Ready(counted) = room else {
            note(Wait::SpawnBounded, this.spawned_at);
            return Poll::Pending;
        };
        let future = this
            .future
            .take()
            .expect("corral: SetSpawnBounded polled after it resolved");
        let spawned_at = *this.spawned_at;
        Poll::Ready(
            set.insert(|scope, member| scope.spawn_in_set(future, member, spawned_at, counted)),
        )
    }
}

impl<S: ScopeHandle, U, F> fmt::Debug for SetSpawnBounded<'_, S, U, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetSpawnBounded")
            .field("spawned", &self.future.is_none())
            .finish_non_exhaustive()
    }
}

/// The set's unsafe paths, small enough for Miri (`.ci/run` runs `stream::`
/// under both aliasing models); the behaviour tests are `tests/stream.rs`.
#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::test_support::block_on;

    /// Counts its drops.
    struct Drops<'a>(&'a AtomicUsize);

    impl Drop for Drops<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn values_come_out_and_the_rest_is_freed() {
        let drops = AtomicUsize::new(0);
        let drops = &drops;
        let out = block_on(crate::scope(|s| async move {
            let mut set = super::JoinSet::new(&s);
            for i in 0..5u32 {
                set.spawn(async move {
                    crate::yield_now().await;
                    Ok::<_, ()>((i, Drops(drops)))
                });
            }
            let mut got = Vec::new();
            // Two values taken; three left in (or on their way to) the set.
            for _ in 0..2 {
                got.push(set.join_next().await.unwrap().0);
            }
            Ok(got)
        }));
        assert_eq!(out.map(|v| v.len()), Ok(2));
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    }

    /// A set whose table fills while most of it is taken compacts it: the
    /// children left (here the stuck ones) move to the front and keep their
    /// ids, values still come out under the right ids, and `abort_all` and
    /// the set's drop still reach every child held.
    #[test]
    fn the_table_compacts_and_keeps_every_child() {
        let drops = AtomicUsize::new(0);
        let drops = &drops;
        let out = block_on(crate::scope(|s| async move {
            let mut set = super::JoinSet::new(&s);
            let mut stuck = Vec::new();
            let mut right = true;
            for round in 0..8u32 {
                stuck.push(set.spawn(async move {
                    let _guard = Drops(drops);
                    std::future::pending::<Result<u32, ()>>().await
                }));
                let mut quick = Vec::new();
                for i in 0..(3 + round) {
                    let id = set.spawn(async move { Ok::<_, ()>(round * 100 + i) });
                    quick.push((id, round * 100 + i));
                }
                for _ in 0..quick.len() {
                    let (id, value) = set.join_next_with_id().await.unwrap();
                    right &= quick.contains(&(id, value.unwrap()));
                }
                right &= set.len() == stuck.len() && set.unfinished() == stuck.len();
            }
            // Half of the stuck ones aborted, the rest dropped with the set.
            let mut dropped_ones = super::JoinSet::new(&s);
            for _ in 0..4 {
                dropped_ones.spawn(async move {
                    let _guard = Drops(drops);
                    std::future::pending::<Result<u32, ()>>().await
                });
                dropped_ones.spawn(async { Ok::<_, ()>(0) });
                dropped_ones.join_next().await;
            }
            set.abort_all();
            let mut aborted = Vec::new();
            while let Some((id, value)) = set.join_next_with_id().await {
                right &= value.is_none();
                aborted.push(id);
            }
            aborted.sort();
            right &= aborted == stuck;
            drop(dropped_ones);
            crate::yield_now().await;
            Ok(right)
        }));
        assert_eq!(out, Ok(true));
        assert_eq!(drops.load(Ordering::SeqCst), 8 + 4);
    }

    #[test]
    fn a_dropped_set_drops_running_and_queued_children() {
        let drops = AtomicUsize::new(0);
        let drops = &drops;
        let out = block_on(
            crate::Nursery::new()
                .max_concurrency(1)
                .local_scope(|s| async move {
                    let mut set = super::JoinSet::new(&s);
                    for _ in 0..3 {
                        let guard = Drops(drops);
                        let rc = Rc::new(());
                        set.spawn(async move {
                            let _keep = (guard, rc);
                            std::future::pending::<Result<(), ()>>().await
                        });
                    }
                    crate::yield_now().await; // the first child starts
                    drop(set);
                    crate::yield_now().await;
                    Ok(drops.load(Ordering::SeqCst))
                }),
        );
        assert_eq!(out, Ok(3));
    }

    #[test]
    fn abort_all_reports_each_child_once() {
        let out = block_on(crate::scope(|s| async move {
            let mut set = super::JoinSet::new(&s);
            let a = set.spawn(async { Ok::<_, ()>(1) });
            let b = set.spawn(std::future::pending());
            let first = set.join_next_with_id().await;
            set.abort_all();
            let second = set.join_next_with_id().await;
            Ok((
                first == Some((a, Some(1))),
                second == Some((b, None)),
                set.is_empty(),
            ))
        }));
        assert_eq!(out, Ok((true, true, true)));
    }

    #[test]
    fn a_spawn_on_a_finished_scope_panics_and_leaves_the_set_whole() {
        let mut escaped = None;
        block_on(crate::scope(|s| {
            escaped = Some(super::JoinSet::<_, u8>::new(&s));
            async { Ok::<_, ()>(()) }
        }))
        .unwrap();
        let mut set = escaped.unwrap();
        let spawn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            set.spawn(async { Ok(1) });
        }));
        assert!(spawn.is_err());
        assert!(set.is_empty());
        assert_eq!(set.try_join_next(), None);
    }

    /// A value that arrives after the deadline of a `timeout` around
    /// `join_next` stays in the set: the timeout reports `Elapsed` without
    /// taking it.
    #[test]
    fn a_timeout_around_join_next_loses_no_value() {
        use std::time::Duration;
        let out = block_on(crate::scope(|s| async move {
            let mut set = super::JoinSet::new(&s);
            set.spawn(async {
                crate::yield_now().await; // after the timeout's clock starts
                std::thread::sleep(Duration::from_millis(20));
                Ok::<_, ()>(5)
            });
            let early = crate::time::timeout(Duration::from_millis(5), set.join_next()).await;
            Ok((early, set.join_next().await))
        }));
        assert_eq!(out, Ok((Err(crate::time::Elapsed), Some(5))));
    }

    #[test]
    fn ordered_and_unordered_maps_yield_every_value() {
        use crate::stream::ScopedStreamExt;
        use futures::StreamExt;
        let out = block_on(crate::scope(|s| async move {
            let ordered = futures::stream::iter(0..20u32).map_ordered(&s, 3, |i| async move {
                for _ in 0..(i % 4) {
                    crate::yield_now().await;
                }
                Ok::<_, ()>(i)
            });
            let seen: Vec<u32> = ordered.collect().await;
            let unordered =
                futures::stream::iter(0..20u32).map_unordered(&s, 3, |i| async move { Ok(i) });
            let sum = unordered.fold(0, |a, b| async move { a + b }).await;
            Ok((seen, sum))
        }));
        let (seen, sum) = out.unwrap();
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
        assert_eq!(sum, 190);
    }
}
