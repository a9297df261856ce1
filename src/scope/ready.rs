//! The ready queue: the part of the child set that wakers touch.
//!
//! Every child owns a *wake slot*. A child's waker is a pointer to its slot, so
//! building, cloning or waking a waker never allocates: all slots share one
//! reference count, the one on [`Shared`]. Slots live in chunks that never move
//! (chunk `k` holds `first << k` slots), so a slot pointer stays valid for as long
//! as any waker holds the shared count, even while the owner adds chunks.
//!
//! A wake takes one of two paths:
//!
//! - **On the owner's thread, inside its poll loop** (a child waking itself or a
//!   sibling, the common case), the thread-local [`OWNER`] names this queue and
//!   the wake appends the child's index to the owner-only `ready` FIFO. No atomic
//!   operation at all; the slot's `local_queued` flag keeps duplicates out.
//! - **Anywhere else** (another thread, or outside the loop), the wake pushes the
//!   slot onto a lock-free stack (`Shared::head`), guarded by the atomic `queued`
//!   flag so a slot is on the stack at most once. Before each pop the owner moves
//!   the whole stack into `ready` (reversed, so remote wakes keep their order too)
//!   and clears each `queued` flag with a full barrier: a wake that comes after
//!   that point queues the child again, so none is lost (store-buffering; see the
//!   comment in `ReadyQueue::take_remote`).
//!
//! The parent (whoever polls the scope) is woken only when a remote push finds
//! the stack empty *and* the owner is not inside its poll loop (`polling`).
//! Pushes that land while the owner is polling are picked up by the loop itself:
//! before it returns `Pending`, the owner clears `polling` and looks at the stack
//! once more. Both sides use `SeqCst` for that flag/stack pair, so at least one
//! of them sees the other (the store-buffering argument of Dekker's algorithm).
//! `src/scope/loom_tests.rs` model-checks this protocol.
//!
//! # A slot's flags
//!
//! | field          | set                                       | cleared                                  | read by | what it rules out |
//! |----------------|-------------------------------------------|------------------------------------------|---------|-------------------|
//! | `queued`       | by a wake off the owner's loop (`schedule`: `swap(true)`), before the push | by the owner (`take_remote`: `swap(false)`, `SeqCst`), after it took the slot off the stack | the waking side: the old value of its swap | a slot on the remote stack twice (which would make a cycle) |
//! | `next`         | by the pusher, before its `SeqCst` CAS; by the owner, reversing the stack it took | never (stale values are never read) | the owner, after its swap of `head` | nothing by itself: it is only meaningful while `queued` is true, and then it is the stack's |
//! | `local_queued` | by a wake on the owner's loop, and by `take_remote` (owner thread only, a plain `Cell`) | by `pop`, just before the child is polled | the same two setters | an index in the `ready` FIFO twice |
//!
//! The two queue flags are independent: a slot may be in `ready` (a local
//! wake) and on the remote stack (a later wake from another thread) at once;
//! `take_remote` then clears `queued` and, seeing `local_queued`, does not
//! queue the index a second time. Each flag is cleared *before* the poll its
//! wake asked for (`queued` in `take_remote`, `local_queued` in `pop`), so a
//! wake that comes during or after that poll queues the child again: no wake
//! is lost.
//!
//! Only [`ReadyQueue::drive`] polls children, with a budget: after [`BUDGET`]
//! child polls it wakes its own parent and returns, so a scope full of busy
//! children cannot starve the executor, and a poll never does more than a bounded
//! amount of work (no rescans, hence no quadratic behaviour).

use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::ops::ControlFlow;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use atomic_waker::AtomicWaker;

use super::parallel::Tracker;
use crate::loom::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// Child polls allowed in one call to [`ReadyQueue::drive`] before it yields.
pub(crate) const BUDGET: usize = 128;

/// Slots in the first chunk of a growing set (a scope).
pub(crate) const FIRST_CHUNK: usize = 32;

#[cfg(not(corral_loom))]
std::thread_local! {
    /// The queue whose poll loop is running on this thread (innermost one).
    static OWNER: Cell<*const Shared> = const { Cell::new(ptr::null()) };
}
#[cfg(corral_loom)]
loom::thread_local! {
    static OWNER: Cell<*const Shared> = Cell::new(ptr::null());
}

/// One child's wake slot. Its flags are tabled in the module docs
/// ("A slot's flags").
pub(crate) struct Slot {
    /// Link in the remote stack. Written by the pusher before its CAS, read
    /// by the owner after its swap; meaningful only while `queued` is true.
    next: AtomicPtr<Slot>,
    /// True from the push that put this slot on the remote stack until the owner
    /// takes it off.
    queued: AtomicBool,
    /// True while the index is in the owner's `ready` FIFO. Owner thread only.
    local_queued: Cell<bool>,
    /// The child's index in its set.
    index: u32,
    /// The shared state this slot belongs to (and whose count its wakers hold).
    shared: *const Shared,
}

/// Owner-only state that wakers and spawners reach on the owner's thread while
/// its poll loop runs (see [`Shared::owned_here`]).
#[derive(Default)]
pub(crate) struct Local {
    /// Children to poll, in wake order.
    ready: VecDeque<u32>,
    /// A scope's children spawned but not started yet, in spawn order
    /// (type-erased `Link` pointers, see `set.rs`).
    pub(crate) fresh: VecDeque<NonNull<()>>,
}

/// State shared by the owner and every waker (and, for scopes, every handle).
pub(crate) struct Shared {
    /// Wakers, handles and the owner each hold one count.
    refs: AtomicUsize,
    /// Top of the stack of slots woken remotely.
    head: AtomicPtr<Slot>,
    /// True while the owner is inside `drive`.
    polling: AtomicBool,
    /// The waker of whoever polls the owner.
    parent: AtomicWaker,
    /// The chunks of slots: `(pointer, len)`. Touched only by the owner (while it
    /// holds its count) and by the final release, which cannot overlap the owner.
    chunks: OwnerOnly<Vec<(NonNull<Slot>, usize)>>,
    /// log2 of the first chunk's length.
    first_shift: u32,
    /// The owner's queues; see [`Shared::local`].
    local: OwnerOnly<Local>,
    /// A scope's stack of children spawned remotely and not yet moved to
    /// `Local::fresh`, type-erased (see `set.rs`). Unused by the gather family.
    pub(crate) incoming: AtomicPtr<()>,
    /// A scope's count of live parallel children (`spawn_on`). Unused by the
    /// gather family.
    pub(crate) parallel: Tracker,
    /// Set once, before any handle exists, for a scope with a concurrency
    /// limit: its parallel children wait for their turn before they start.
    pub(crate) parallel_waits_its_turn: std::sync::atomic::AtomicBool,
    /// A scope's slow-poll watch, set once before any handle exists, for its
    /// parallel children. Unused by the gather family.
    pub(crate) watch: OnceLock<crate::slow_poll::Watch>,
    /// A scope's stop request (see `stop.rs`). Unused by the gather family.
    pub(crate) stop: super::stop::StopState,
    /// A scope's nested scopes (see `nesting.rs`). Unused by the gather
    /// family.
    pub(crate) nesting: super::nesting::Nesting,
    /// A scope's task-tree record, if it is tracked. Unused by the gather
    /// family.
    pub(crate) tree: OnceLock<super::records::ScopeInfo>,
}

/// A field of [`Shared`] that only the queue's owner touches.
///
/// # Ground rules
///
/// Every other field of `Shared` is a thread-safe primitive, so `Shared` is
/// `Send + Sync` by itself; these rules are what make that true of the two
/// `OwnerOnly` fields as well:
///
/// - `chunks` is read and written only through the [`ReadyQueue`] (the
///   owner, reached through `&mut` or `&` of that unique value, so one thread
///   at a time), and by the final [`Shared::release`], which runs after every
///   other count, the owner's included, has been given up.
/// - `local` is used only by the owner or, while the owner's poll loop runs,
///   on that loop's thread ([`Shared::owned_here`]), for a short push or pop
///   that never spans a child poll; never from two threads at once.
///
/// Wakers, handles and stop requests on other threads never read either
/// field: they use the atomics. The values inside are indices, chunk pointers
/// and type-erased child links; whether the children behind those links may
/// cross threads is decided by the child set's flavour (`set.rs`), not here.
struct OwnerOnly<T>(UnsafeCell<T>);

impl<T> OwnerOnly<T> {
    fn new(value: T) -> Self {
        OwnerOnly(UnsafeCell::new(value))
    }

    /// The value, for the owner (see the ground rules).
    fn get(&self) -> *mut T {
        self.0.get()
    }

    fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

// SAFETY: by the ground rules above, one thread at a time uses the value, and
// a move of the whole `Shared` (its final release) happens after every other
// user is gone.
unsafe impl<T> Send for OwnerOnly<T> {}
// SAFETY: as for `Send`: sharing `&OwnerOnly` across threads gives no thread
// but the owner's access to the value.
unsafe impl<T> Sync for OwnerOnly<T> {}

/// `Shared` is `Send + Sync` from its fields alone (the `unsafe impl`s of
/// [`SharedRef`] and [`ReadyQueue`] rely on it).
const _: () = {
    const fn thread_safe<T: Send + Sync>() {}
    thread_safe::<Shared>();
};

impl Shared {
    /// Gives up one count; the last one frees the chunks and the shared state.
    ///
    /// # Safety
    /// `this` must point to a live `Shared` and the caller must own one count.
    pub(crate) unsafe fn release(this: *const Shared) {
        // SAFETY: the caller owns a count, so `this` is live.
        let shared = unsafe { &*this };
        if shared.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Synchronises with the release decrement of every other holder (each
        // heads a release sequence that our decrement, read here, continues),
        // so all their accesses happen before the memory is freed. A load, not
        // `fence(Acquire)`: ThreadSanitizer does not see fences and reports the
        // frees below as races (std's `Arc` makes the same switch under TSan).
        // On x86 it is a plain load, and it runs once per shared state.
        shared.refs.load(Ordering::Acquire);
        // SAFETY: that was the last count: nobody else can reach `this`. It was
        // made by `Box::into_raw` in `ReadyQueue::new`.
        let mut shared = unsafe { Box::from_raw(this as *mut Shared) };
        for &(chunk, len) in shared.chunks.get_mut().iter() {
            // SAFETY: each chunk came from `Box::<[Slot]>::into_raw` with this length.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(chunk.as_ptr(), len)) });
        }
    }

    /// Takes one more count (for a waker or a handle).
    pub(crate) fn acquire(&self) {
        // Relaxed is enough for an increment: the new holder got its pointer from
        // an existing holder, which keeps the memory alive meanwhile (as in `Arc`).
        if self.refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Wakes the parent unless the owner is polling right now (it will see the
    /// new work before it returns). Call after publishing the work with `SeqCst`.
    pub(crate) fn notify(&self) {
        if !self.polling.load(Ordering::SeqCst) {
            self.parent.wake();
        }
    }

    /// True if this thread is inside this queue's poll loop, so `local` may be
    /// used (between child polls, never across one).
    pub(crate) fn owned_here(&self) -> bool {
        OWNER.with(|owner| ptr::eq(owner.get(), self))
    }

    /// The owner's queues.
    ///
    /// # Safety
    /// Only on the owner's thread while its loop runs (`owned_here`) or by the
    /// owner itself, and the reference must not be held across a child poll.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local(&self) -> &mut Local {
        // SAFETY: per the contract, accesses are confined to one thread and never
        // overlap (each is a short push or pop with no call-outs).
        unsafe { &mut *self.local.get() }
    }
}

/// Where item `index` sits in storage made of chunks that never move, chunk
/// `k` holding `1 << (first_shift + k)` items: `(k, offset in chunk k)`.
/// (The wake slots here, and the task tree's child records.)
#[inline]
pub(crate) fn chunk_position(index: usize, first_shift: u32) -> (usize, usize) {
    // Chunk k starts at first * (2^k - 1).
    let k = ((index >> first_shift) + 1).ilog2() as usize;
    (k, index - (((1usize << k) - 1) << first_shift))
}

/// A counted pointer to a [`Shared`]: what stop handles, nested scopes and
/// parallel children hold to reach their scope's state after it may have
/// finished.
pub(crate) struct SharedRef(NonNull<Shared>);

// SAFETY: `Shared` is `Send + Sync`, and the count is atomic.
unsafe impl Send for SharedRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedRef {}

impl SharedRef {
    /// Takes a new count on `shared`.
    ///
    /// # Safety
    /// `shared` must be live: the caller holds a count, or a borrow of an
    /// owner that does.
    pub(crate) unsafe fn new(shared: *const Shared) -> Self {
        // SAFETY: live per the contract.
        unsafe { (*shared).acquire() };
        // SAFETY: a live pointer is non-null.
        SharedRef(unsafe { NonNull::new_unchecked(shared as *mut Shared) })
    }

    pub(crate) fn as_ptr(&self) -> *const Shared {
        self.0.as_ptr()
    }
}

impl std::ops::Deref for SharedRef {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        // SAFETY: our count keeps it alive.
        unsafe { self.0.as_ref() }
    }
}

impl Clone for SharedRef {
    fn clone(&self) -> Self {
        // SAFETY: our count keeps it live.
        unsafe { SharedRef::new(self.as_ptr()) }
    }
}

impl Drop for SharedRef {
    fn drop(&mut self) {
        // SAFETY: each `SharedRef` owns one count.
        unsafe { Shared::release(self.as_ptr()) }
    }
}

impl Slot {
    /// Queues this child for a poll unless it is queued already.
    fn schedule(&self) {
        // SAFETY: a slot is only reachable through a waker or the owner, and both
        // hold a count on `shared`.
        let shared = unsafe { &*self.shared };
        if shared.owned_here() {
            // The owner's own thread, between its child polls: no atomics needed.
            // `local_queued`: false -> true, with the push into `ready`.
            if !self.local_queued.replace(true) {
                // SAFETY: `owned_here` holds and this borrow ends here.
                unsafe { shared.local().ready.push_back(self.index) };
            }
            return;
        }
        // `queued`: false -> true; whoever flips it pushes. Already true: the
        // slot is on the stack and the owner has not taken it yet, so it will
        // poll the child after this wake (its clear comes before the poll).
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self as *const Slot as *mut Slot;
        let mut head = shared.head.load(Ordering::Relaxed);
        loop {
            self.next.store(head, Ordering::Relaxed);
            match shared
                .head
                .compare_exchange_weak(head, this, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        // Only the push that finds the stack empty needs to wake the parent: the
        // others know that push (or the owner's own loop) will see theirs.
        if head.is_null() {
            shared.notify();
        }
    }
}

static SLOT_WAKER: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a slot pointer made by `ReadyQueue::waker`; the waker being
    // cloned holds a count on its shared state, so both are live.
    unsafe { (*(*(data as *const Slot)).shared).acquire() };
    RawWaker::new(data, &SLOT_WAKER)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: as in `waker_clone`; `wake` consumes the waker's count afterwards.
    unsafe {
        waker_wake_by_ref(data);
        waker_drop(data);
    }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: as in `waker_clone`.
    unsafe { (*(data as *const Slot)).schedule() }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the dropped waker owned one count on the slot's shared state.
    unsafe { Shared::release((*(data as *const Slot)).shared) }
}

/// What the owner polls: one child per index, plus the children never polled yet.
pub(crate) trait Children {
    /// Why polling stopped early (a failure, a winner, a panic...).
    type Break;

    /// The next child that has never been polled, in spawn order, if one may
    /// start now. Called before every ready child, so new children start first.
    /// `late` marks the last look before the loop goes idle: anything published
    /// remotely must then be read with a read-modify-write (see `drive`).
    fn next_fresh(&mut self, queue: &mut ReadyQueue, late: bool) -> Option<usize>;

    /// Polls the child at `index` (which may be vacant after a stale wake).
    fn poll_child(&mut self, index: usize, cx: &mut Context<'_>) -> ControlFlow<Self::Break>;
}

/// Why `drive` returned without a `Break`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing is ready: the parent is woken when something is.
    Idle,
    /// The budget ran out; the parent has been woken to continue.
    Budget,
}

/// Marks this thread as inside a queue's poll loop. On drop, panics included,
/// restores the previous owner (an enclosing scope's) and clears `polling`, so
/// a loop that unwinds never leaves remote wakes skipping the parent forever.
struct OwnerGuard<'a> {
    shared: &'a Shared,
    previous: *const Shared,
}

impl<'a> OwnerGuard<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let previous = OWNER.with(|owner| owner.replace(shared));
        OwnerGuard { shared, previous }
    }
}

impl Drop for OwnerGuard<'_> {
    fn drop(&mut self) {
        self.shared.polling.store(false, Ordering::SeqCst);
        OWNER.with(|owner| owner.set(self.previous));
    }
}

/// The owner's side of the ready queue.
pub(crate) struct ReadyQueue {
    shared: NonNull<Shared>,
    /// Slots allocated so far.
    capacity: usize,
}

// SAFETY: the owner side is a unique handle; the slots it points to are shared
// through atomics only (see `Shared`). What a set stores beside the queue decides
// whether the *set* is `Send` (see `ScopeFuture`).
unsafe impl Send for ReadyQueue {}

impl ReadyQueue {
    /// A queue whose first chunk holds at least `first` slots.
    pub(crate) fn new(first: usize) -> Self {
        let first = first.max(1).next_power_of_two();
        let shared = Box::new(Shared {
            refs: AtomicUsize::new(1),
            head: AtomicPtr::new(ptr::null_mut()),
            polling: AtomicBool::new(false),
            parent: AtomicWaker::new(),
            chunks: OwnerOnly::new(Vec::new()),
            first_shift: first.trailing_zeros(),
            local: OwnerOnly::new(Local::default()),
            incoming: AtomicPtr::new(ptr::null_mut()),
            parallel: Tracker::default(),
            parallel_waits_its_turn: std::sync::atomic::AtomicBool::new(false),
            watch: OnceLock::new(),
            stop: super::stop::StopState::new(),
            nesting: super::nesting::Nesting::new(),
            tree: OnceLock::new(),
        });
        ReadyQueue {
            // SAFETY: `Box::into_raw` never returns null.
            shared: unsafe { NonNull::new_unchecked(Box::into_raw(shared)) },
            capacity: 0,
        }
    }

    /// The shared state, for handles that take their own count.
    pub(crate) fn shared(&self) -> &Shared {
        // SAFETY: the owner holds a count for as long as it lives.
        unsafe { self.shared.as_ref() }
    }

    /// Raw pointer to the shared state (for handles).
    pub(crate) fn shared_ptr(&self) -> *const Shared {
        self.shared.as_ptr()
    }

    /// The owner's queues (the owner may always use them, between child polls).
    pub(crate) fn local(&mut self) -> &mut Local {
        // SAFETY: `&mut self` is the owner, and no child poll is running.
        unsafe { self.shared().local() }
    }

    /// Makes sure slots `0..len` exist.
    pub(crate) fn reserve(&mut self, len: usize) {
        while self.capacity < len {
            self.add_chunk();
        }
    }

    #[cold]
    fn add_chunk(&mut self) {
        let shared = self.shared.as_ptr() as *const Shared;
        // SAFETY: only the owner touches `chunks` while it lives (see `Shared`).
        let chunks = unsafe { &mut *(*shared).chunks.get() };
        let first_shift = self.shared().first_shift;
        let len = 1usize << (first_shift + chunks.len() as u32);
        let base = self.capacity;
        assert!(
            base + len <= u32::MAX as usize,
            "corral: more than 4 billion children in one set"
        );
        let slots: Box<[Slot]> = (base..base + len)
            .map(|index| Slot {
                next: AtomicPtr::new(ptr::null_mut()),
                queued: AtomicBool::new(false),
                local_queued: Cell::new(false),
                index: index as u32,
                shared,
            })
            .collect();
        let raw = Box::into_raw(slots) as *mut Slot;
        // SAFETY: `Box::into_raw` never returns null.
        chunks.push((unsafe { NonNull::new_unchecked(raw) }, len));
        self.capacity += len;
    }

    /// The slot of child `index`, which must be below the reserved capacity.
    fn slot(&self, index: usize) -> &Slot {
        debug_assert!(index < self.capacity);
        let (k, offset) = chunk_position(index, self.shared().first_shift);
        // SAFETY: owner-only access to `chunks`; `index < capacity` so chunk `k`
        // exists and `offset` is inside it; slots live as long as the owner.
        unsafe {
            let chunks = &*self.shared().chunks.get();
            &*chunks.get_unchecked(k).0.as_ptr().add(offset)
        }
    }

    /// A waker for child `index`, borrowed: it holds no count of its own, so it
    /// must not outlive this queue (cloning it takes a real count).
    pub(crate) fn waker(&self, index: usize) -> ManuallyDrop<Waker> {
        let data = self.slot(index) as *const Slot as *const ();
        // SAFETY: the vtable's contract holds for slot pointers; `ManuallyDrop`
        // keeps this count-less waker from releasing a count it never took.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &SLOT_WAKER)) })
    }

    /// Moves every remotely woken slot into the owner's `ready` FIFO.
    fn take_remote(&mut self) {
        let mut top = self.shared().head.swap(ptr::null_mut(), Ordering::SeqCst);
        if top.is_null() {
            return;
        }
        // The stack is LIFO; reverse it so remote wakes are served in order.
        let mut fifo: *mut Slot = ptr::null_mut();
        while !top.is_null() {
            // SAFETY: slots on the stack stay allocated while the owner lives, and
            // their `next` is the owner's until their `queued` flag is cleared.
            let slot = unsafe { &*top };
            let next = slot.next.load(Ordering::Relaxed);
            slot.next.store(fifo, Ordering::Relaxed);
            fifo = top;
            top = next;
        }
        while !fifo.is_null() {
            // SAFETY: as above.
            let slot = unsafe { &*fifo };
            fifo = slot.next.load(Ordering::Relaxed);
            // A full barrier, not a release store: the child's coming check of its
            // own state must not be reordered before this clear, or a waker that
            // changes that state and then reads `queued == true` would skip the
            // push while the poll misses the change (store buffering).
            // `queued`: true -> false; from here on a wake pushes the slot again
            // and `next` is free for that push.
            slot.queued.swap(false, Ordering::SeqCst);
            // `local_queued`: false -> true, unless a local wake queued it first.
            if !slot.local_queued.replace(true) {
                self.local().ready.push_back(slot.index);
            }
        }
    }

    /// The next woken child, FIFO over local and remote wakes.
    fn pop(&mut self) -> Option<usize> {
        // SeqCst: after `polling` is cleared this is the owner's half of the
        // Dekker pair (see the module docs); a plain load on x86.
        if !self.shared().head.load(Ordering::SeqCst).is_null() {
            self.take_remote();
        }
        let index = self.local().ready.pop_front()? as usize;
        // `local_queued`: true -> false, before the poll, so a wake during it
        // queues the child again.
        self.slot(index).local_queued.set(false);
        Some(index)
    }

    /// Polls ready children until none is left (`Idle`), the budget runs out
    /// (`Budget`, parent already woken) or a child asks to stop (`Break`).
    pub(crate) fn drive<C: Children>(
        &mut self,
        children: &mut C,
        cx: &mut Context<'_>,
    ) -> ControlFlow<C::Break, Drained> {
        let shared = self.shared();
        shared.parent.register(cx.waker());
        shared.polling.store(true, Ordering::SeqCst);
        // SAFETY: the owner's count keeps the shared state alive for the whole
        // call; the guard borrows it independently of `self`.
        let _owner = OwnerGuard::enter(unsafe { &*self.shared_ptr() });
        let mut polls = 0;
        loop {
            let index = match children.next_fresh(self, false).or_else(|| self.pop()) {
                Some(index) => index,
                None => {
                    // Close the window, then look once more: a remote wake or
                    // spawn that saw `polling == true` skipped the parent and
                    // relies on this look. Read-modify-writes (the swap in
                    // `take_remote`, a CAS for spawns) read the latest value of
                    // each stack, which plain `SeqCst` loads would also do but
                    // loom cannot check. This runs once per idle exit, not per child.
                    self.shared().polling.store(false, Ordering::SeqCst);
                    self.take_remote();
                    let late = children.next_fresh(self, true).or_else(|| self.pop());
                    match late {
                        Some(index) => {
                            self.shared().polling.store(true, Ordering::SeqCst);
                            index
                        }
                        None => return ControlFlow::Continue(Drained::Idle),
                    }
                }
            };
            let waker = self.waker(index);
            let mut child_cx = Context::from_waker(&waker);
            // On every return below, `_owner` clears `polling` as it drops.
            if let ControlFlow::Break(reason) = children.poll_child(index, &mut child_cx) {
                return ControlFlow::Break(reason);
            }
            polls += 1;
            if polls == BUDGET {
                cx.waker().wake_by_ref();
                return ControlFlow::Continue(Drained::Budget);
            }
        }
    }
}

impl Drop for ReadyQueue {
    fn drop(&mut self) {
        // SAFETY: the owner's count, given up exactly once.
        unsafe { Shared::release(self.shared.as_ptr()) }
    }
}
