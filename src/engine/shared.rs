//! The engine's shared state: what the owner, every waker and every handle
//! reach through one reference count.
//!
//! [`Shared`] holds the engine's own fields (the count, the remote wake
//! stack, the `polling` flag, the parent's waker, the slot chunks and the
//! owner's queues) and, beside them, a value of the user's type `S` (see
//! [`UserState`]): a scope keeps its spawn stack, stop request and nesting
//! there; the gather family keeps nothing. The engine never looks inside it.
//!
//! Beside it, the wake slots (one per child; the wake path that uses them is
//! in `waker.rs`) and the thread-local that names the poll loop running on
//! this thread (`OWNER`).
//!
//! # A slot's flags
//!
//! | field          | set                                       | cleared                                  | read by | what it rules out |
//! |----------------|-------------------------------------------|------------------------------------------|---------|-------------------|
//! | `queued`       | by a wake off the owner's loop (`waker.rs`: `schedule`: `swap(true)`), before the push | by the owner (`take_remote`: `swap(false)`, `SeqCst`), after it took the slot off the stack | the waking side: the old value of its swap | a slot on the remote stack twice (which would make a cycle) |
//! | `next`         | by the pusher, before its `SeqCst` CAS; by the owner, reversing the stack it took | never (stale values are never read) | the owner, after its swap of the stack's head | nothing by itself: it is only meaningful while `queued` is true, and then it is the stack's |
//! | `local_queued` | by a wake on the owner's loop, and by `take_remote` (owner thread only, a plain `Cell`) | by `pop`, just before the child is polled | the same two setters | a slot in the `ready` FIFO twice |
//!
//! The two queue flags are independent: a slot may be in `ready` (a local
//! wake) and on the remote stack (a later wake from another thread) at once;
//! `take_remote` then clears `queued` and, seeing `local_queued`, does not
//! queue the slot a second time. Each flag is cleared *before* the poll its
//! wake asked for (`queued` in `take_remote`, `local_queued` in `pop`), so a
//! wake that comes during or after that poll queues the child again: no wake
//! is lost.

use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::ptr::{self, NonNull};
use std::task::RawWakerVTable;

use super::stack::{Node, TakeAllStack};
use crate::loom::{AtomicBool, AtomicPtr, AtomicUsize, AtomicWaker, Ordering};
use crate::util::chunks::Chunks;

/// What a user of the engine keeps in the shared state beside the queue.
///
/// The value itself may be reached from any thread (through [`Shared::user`]),
/// so it is `Send + Sync`; its companion [`UserState::Local`] is owner-only,
/// under the same ground rules as the engine's own queues (see [`OwnerOnly`]).
///
/// # Safety
///
/// `Local` is kept in an [`OwnerOnly`] cell, which is `Send + Sync` whatever
/// it holds: the owner may move between threads with it, and the final
/// release drops it on whichever thread gives up the last count. So an
/// implementor promises that its `Local` may be used from, and dropped on,
/// any one thread at a time (it holds no `Rc`, no thread-bound guard):
/// indices, pointers whose targets the user itself keeps in line, or `()`.
pub(crate) unsafe trait UserState: Send + Sync + Sized {
    /// Owner-only state, reached through [`Shared::user_local`] on the
    /// owner's thread while its poll loop runs, or by the owner itself.
    type Local: Default;
}

/// The gather family keeps nothing beside its queue.
// SAFETY: its `Local` is `()`.
unsafe impl UserState for () {
    type Local = ();
}

/// Owner-only state that wakers and spawners reach on the owner's thread
/// while its poll loop runs (see [`Shared::owned_here`]).
pub(crate) struct Local<L> {
    /// The slots of the children to poll, in wake order (type-erased
    /// `Slot<S>` pointers: the owner pops a slot and reads its index, with
    /// no look-up in the chunks).
    pub(super) ready: VecDeque<NonNull<()>>,
    /// The user's owner-only part.
    user: L,
}

/// State shared by the owner, every waker and every handle.
pub(crate) struct Shared<S: UserState> {
    /// Wakers, handles and the owner each hold one count.
    refs: AtomicUsize,
    /// The slots woken off the owner's loop (`stack.rs`).
    pub(super) remote: TakeAllStack,
    /// True while the owner is inside `drive`.
    pub(super) polling: AtomicBool,
    /// The waker of whoever polls the owner.
    pub(super) parent: AtomicWaker,
    /// The vtable of every waker of this state's slots: one address for all
    /// of them (see `Slot::VTABLE`).
    pub(super) vtable: &'static RawWakerVTable,
    /// The slots, in chunks that never move. Touched only by the owner
    /// (while it holds its count) and by the final release, which cannot
    /// overlap the owner.
    pub(super) chunks: OwnerOnly<Chunks<Slot<S>>>,
    /// The owner's queues; see [`Shared::local`].
    local: OwnerOnly<Local<S::Local>>,
    /// The user's part, built with its final values before any handle or
    /// waker exists.
    user: S,
}

/// One child's wake slot. Its flags are tabled in the module docs.
pub(crate) struct Slot<S: UserState> {
    /// Link in the remote stack. Written by the pusher before its CAS, read
    /// by the owner after its swap; meaningful only while `queued` is true.
    pub(super) next: AtomicPtr<Slot<S>>,
    /// True from the push that put this slot on the remote stack until the
    /// owner takes it off.
    pub(super) queued: AtomicBool,
    /// True while the slot is in the owner's `ready` FIFO. Owner thread only.
    pub(super) local_queued: Cell<bool>,
    /// The child's index in its set.
    pub(super) index: u32,
    /// The shared state this slot belongs to (and whose count its wakers hold).
    pub(super) shared: *const Shared<S>,
}

// SAFETY: `next` is the link field, written only through `set_next`, and
// only the remote stack uses it (while `queued` is set).
unsafe impl<S: UserState> Node for Slot<S> {
    fn next(&self) -> *mut Self {
        self.next.load(Ordering::Relaxed)
    }

    fn set_next(&self, next: *mut Self) {
        self.next.store(next, Ordering::Relaxed);
    }
}

impl<S: UserState> Slot<S> {
    /// A fresh slot for child `index` of `shared`.
    pub(super) fn new(index: u32, shared: *const Shared<S>) -> Self {
        Slot {
            next: AtomicPtr::new(std::ptr::null_mut()),
            queued: AtomicBool::new(false),
            local_queued: Cell::new(false),
            index,
            shared,
        }
    }
}

/// The shared state that child `slot` (a slot waker's data pointer, as for
/// [`wake_slot`](super::wake_slot)) belongs to.
///
/// # Safety
/// `slot` is a slot of a queue with user state `S` whose shared state is
/// alive.
pub(crate) unsafe fn slot_shared<S: UserState>(slot: *const ()) -> *const Shared<S> {
    // SAFETY: a live slot, per the contract; `shared` never changes.
    unsafe { (*(slot as *const Slot<S>)).shared }
}

/// A field of [`Shared`] that only the queue's owner touches.
///
/// # Ground rules
///
/// Every other field of `Shared` is a thread-safe primitive or the user's
/// `Send + Sync` value, so `Shared` is `Send + Sync` by itself; these rules
/// are what make that true of the two `OwnerOnly` fields as well:
///
/// - `chunks` is read and written only through the
///   [`ReadyQueue`](super::ReadyQueue) (the owner, reached through `&mut` or
///   `&` of that unique value, so one thread at a time), and by the final
///   [`Shared::release`], which runs after every other count, the owner's
///   included, has been given up.
/// - `local` is used only by the owner or, while the owner's poll loop runs,
///   on that loop's thread ([`Shared::owned_here`]), for a short push or pop
///   that never spans a child poll; never from two threads at once.
///
/// Wakers, handles and stop requests on other threads never read either
/// field: they use the atomics. The values inside are slot pointers (the
/// ready FIFO), chunk pointers and whatever the user keeps owner-only (a
/// scope: type-erased links to children not started yet); whether the
/// children behind those links may cross threads is decided by the user (a
/// scope's child set and its flavour), not here.
pub(super) struct OwnerOnly<T>(UnsafeCell<T>);

impl<T> OwnerOnly<T> {
    fn new(value: T) -> Self {
        OwnerOnly(UnsafeCell::new(value))
    }

    /// The value, for the owner (see the ground rules).
    pub(super) fn get(&self) -> *mut T {
        self.0.get()
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
/// [`SharedRef`] and [`ReadyQueue`](super::ReadyQueue) rely on it).
const _: () = {
    const fn thread_safe<T: Send + Sync>() {}
    thread_safe::<Shared<()>>();
};

impl<S: UserState> Shared<S> {
    /// A new shared state holding one count (the owner's), with no slots yet.
    pub(super) fn new(first: usize, user: S) -> Box<Self> {
        Box::new(Shared {
            refs: AtomicUsize::new(1),
            remote: TakeAllStack::new(),
            polling: AtomicBool::new(false),
            parent: AtomicWaker::new(),
            vtable: &Slot::<S>::VTABLE,
            chunks: OwnerOnly::new(Chunks::new(first)),
            local: OwnerOnly::new(Local {
                ready: VecDeque::new(),
                user: S::Local::default(),
            }),
            user,
        })
    }

    /// Gives up one count; the last one frees the chunks and the shared state.
    ///
    /// # Safety
    /// `this` must point to a live `Shared` and the caller must own one count.
    pub(crate) unsafe fn release(this: *const Self) {
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
        // made by `Box::into_raw` in `ReadyQueue::new`. Dropping it frees the
        // slot chunks too.
        drop(unsafe { Box::from_raw(this as *mut Self) });
    }

    /// Takes one more count (for a waker or a handle).
    pub(crate) fn acquire(&self) {
        // Relaxed is enough for an increment: the new holder got its pointer from
        // an existing holder, which keeps the memory alive meanwhile (as in `Arc`).
        if self.refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// The user's part (any thread).
    #[inline]
    pub(crate) fn user(&self) -> &S {
        &self.user
    }

    /// Wakes the parent unless the owner is polling right now (it will see the
    /// new work before it returns). Call after publishing the work with `SeqCst`.
    pub(crate) fn notify(&self) {
        if !self.polling.load(Ordering::SeqCst) {
            self.parent.wake();
        }
    }

    /// True if this thread is inside this queue's poll loop, so the owner-only
    /// state may be used (between child polls, never across one).
    #[inline]
    pub(crate) fn owned_here(&self) -> bool {
        is_owner(self as *const Self as *const ())
    }

    /// The owner's queues.
    ///
    /// # Safety
    /// Only on the owner's thread while its loop runs (`owned_here`) or by the
    /// owner itself, and the reference must not be held across a child poll.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn local(&self) -> &mut Local<S::Local> {
        // SAFETY: per the contract, accesses are confined to one thread and never
        // overlap (each is a short push or pop with no call-outs).
        unsafe { &mut *self.local.get() }
    }

    /// The user's owner-only part.
    ///
    /// # Safety
    /// As for [`Shared::local`]: on the owner's thread while its loop runs
    /// (`owned_here`) or by the owner itself, never held across a child poll.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn user_local(&self) -> &mut S::Local {
        // SAFETY: the caller keeps `local`'s contract.
        unsafe { &mut self.local().user }
    }

    /// How many woken children wait in the owner's FIFO.
    ///
    /// # Safety
    /// As for [`user_local`](Self::user_local).
    pub(crate) unsafe fn ready_len(&self) -> usize {
        // SAFETY: the caller keeps `local`'s contract.
        unsafe { self.local().ready.len() }
    }
}

/// A counted pointer to a [`Shared`]: what handles and other long-lived
/// holders keep to reach the state after the owner may have finished.
pub(crate) struct SharedRef<S: UserState>(NonNull<Shared<S>>);

// SAFETY: `Shared` is `Send + Sync` (its user part is, by `UserState`'s
// bound), and the count is atomic.
unsafe impl<S: UserState> Send for SharedRef<S> {}
// SAFETY: as for `Send`.
unsafe impl<S: UserState> Sync for SharedRef<S> {}

impl<S: UserState> SharedRef<S> {
    /// Takes a new count on `shared`.
    ///
    /// # Safety
    /// `shared` must be live: the caller holds a count, or a borrow of an
    /// owner that does.
    pub(crate) unsafe fn new(shared: *const Shared<S>) -> Self {
        // SAFETY: live per the contract.
        unsafe { (*shared).acquire() };
        // SAFETY: a live pointer is non-null.
        SharedRef(unsafe { NonNull::new_unchecked(shared as *mut Shared<S>) })
    }

    /// The shared state, uncounted.
    pub(crate) fn as_ptr(&self) -> *const Shared<S> {
        self.0.as_ptr()
    }
}

impl<S: UserState> std::ops::Deref for SharedRef<S> {
    type Target = Shared<S>;

    fn deref(&self) -> &Shared<S> {
        // SAFETY: our count keeps it alive.
        unsafe { self.0.as_ref() }
    }
}

impl<S: UserState> Clone for SharedRef<S> {
    fn clone(&self) -> Self {
        // SAFETY: our count keeps it live.
        unsafe { SharedRef::new(self.as_ptr()) }
    }
}

impl<S: UserState> Drop for SharedRef<S> {
    fn drop(&mut self) {
        // SAFETY: each `SharedRef` owns one count.
        unsafe { Shared::release(self.as_ptr()) }
    }
}

#[cfg(not(corral_loom))]
std::thread_local! {
    /// The shared state (type-erased) whose poll loop is running on this
    /// thread, innermost one; null outside every loop.
    static OWNER: Cell<*const ()> = const { Cell::new(ptr::null()) };
}
#[cfg(corral_loom)]
loom::thread_local! {
    static OWNER: Cell<*const ()> = Cell::new(ptr::null());
}

/// True if `shared` is the state whose poll loop runs on this thread.
#[inline]
fn is_owner(shared: *const ()) -> bool {
    OWNER.with(|owner| ptr::eq(owner.get(), shared))
}

/// Marks this thread as inside a queue's poll loop. On drop, panics included,
/// restores the previous owner (an enclosing loop's) and clears `polling`, so
/// a loop that unwinds never leaves remote wakes skipping the parent forever.
pub(super) struct OwnerGuard<'a, S: UserState> {
    shared: &'a Shared<S>,
    previous: *const (),
}

impl<'a, S: UserState> OwnerGuard<'a, S> {
    pub(super) fn enter(shared: &'a Shared<S>) -> Self {
        let me = shared as *const Shared<S> as *const ();
        let previous = OWNER.with(|owner| owner.replace(me));
        OwnerGuard { shared, previous }
    }
}

impl<S: UserState> Drop for OwnerGuard<'_, S> {
    fn drop(&mut self) {
        self.shared.polling.store(false, Ordering::SeqCst);
        OWNER.with(|owner| owner.set(self.previous));
    }
}
