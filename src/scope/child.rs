//! One child: a single cell (boxed, or carved from its scope's arena,
//! `arena.rs`) shared by its scope and its [`JoinHandle`].
//!
//! ```text
//! ChildCell<'env, E, F, U>  (repr(C))
//! ├── join: JoinPart<U, M>   what the handle may touch, at offset 0
//! │   ├── header: Header     state word, dealloc fn
//! │   ├── member: M          the handle's waker for a lone child; a `JoinSet`'s link for a set's (`member.rs`)
//! │   └── output: Option<U>  written once by the scope, taken once by the handle
//! ├── link: SpawnLink<'env, E>    the spawn-stack link (then the owner's FIFO link, then the wake slot) and the scope's `dyn Child` pointer
//! ├── phase                  fresh, running or gone (owner only)
//! ├── offset                 a carved cell's offset in its arena chunk (0 if boxed)
//! └── future: F              dropped in place by the scope, never by the handle
//! ```
//!
//! # The state word
//!
//! The header's state word holds the references (`SCOPE`, `HANDLE`, and a
//! count of `AbortHandle`s from `ABORT_REF` up), two outcome bits
//! (`COMPLETE`, `CANCELLED`), an abort request (`ABORT`) with the two bits
//! of its hand-over (`NOTIFYING`, `HANDED`), `STARTED` and `SHIELDED`; beside it, the
//! owner-only `phase` says whether the future was polled yet and whether it
//! is still there. Every transition is one atomic read-modify-write,
//! commented where it is made.
//!
//! | bit         | set                                     | cleared                                   | read by                                   | what it rules out |
//! |-------------|-----------------------------------------|-------------------------------------------|-------------------------------------------|-------------------|
//! | `SCOPE`     | at allocation (`new_cell`)             | by the scope once the future is dropped (`release_scope_ref`), unless the handle side is already gone | the handle side's drops: if clear (and no other handle-side reference is left), the last one frees the cell | the handle freeing a cell the scope still polls |
//! | `HANDLE`    | at allocation                           | by the `JoinHandle`'s drop (or the set's); never set again | the scope: on `Ok` (is anyone to read the value?) and in `release_scope_ref` (am I the last owner?) | the scope writing an output nobody can take; a second free |
//! | `ABORT_REF` count | by `JoinHandle::abort_handle` and `AbortHandle::clone` (add) | by an `AbortHandle`'s drop (subtract) | as `HANDLE`: together they are the handle side | an abort handle's cell freed under it |
//! | `COMPLETE`  | by the scope, once (`publish`): with `output` written (`Ok`, `JoinHandle` alive), or with `CANCELLED` | never | the handle (`poll_outcome`, `is_finished`); `cancel`, not to publish twice; an abort request (nothing to do) | the handle reading `output` before it is written, or the scope touching it after |
//! | `CANCELLED` | with `COMPLETE`: the child returned `Err`, or its future was dropped unfinished (`cancel`: an abort, a failed, stopped or dropped scope, a panic in `poll`), or only abort handles were left to learn of its value | never | the handle, after `COMPLETE`               | the handle reading an `output` that was never written |
//! | `ABORT`     | by an abort request (`AbortRoute::request`: `JoinHandle::abort`, an `AbortHandle`, a dropped `JoinSet` or `abort_all`), once, only while `COMPLETE` is clear | never | the scope: at the child's first poll (`start`), at each later poll, and in the scan of the waiting children (`ScopeState::aborted`) | an aborted child polled again |
//! | `STARTED`   | by the scope at the child's first poll, once (after writing the wake slot into the link's `next`) | never | an abort request: wake the slot, or (clear) tell the scope to scan its queue | a request that wakes a slot not written yet, or misses a child that starts |
//! | `NOTIFYING` | with `ABORT`, by the request               | by the request when it is done telling the scope | the scope's `publish`: hand over a count (`hand_over`) | the scope's state freed while a request still uses it |
//! | `HANDED`    | by the scope's `publish`, only while `NOTIFYING` is set, with a count on its state taken for the request | with `NOTIFYING`, by the request, which gives the count back | the request | a handed count leaked, or given back twice |
//! | `SHIELDED`  | at the spawn (`spawn_shielded`), before the cell is shared | never | the scope's teardowns: a grace's end, a failure (only the scope future's drop drops it) | a cleanup child dropped by the wind-down it is there to finish |
//! | `phase`     | `FRESH` at allocation, `RUNNING` at the first poll (a plain `Cell<u8>`, owner only) | `GONE` by `drop_future`, before the drop runs | `poll`; `drop_future` | a second drop of the future, even when the first one panicked |
//!
//! A child that returns `Ok` after every handle-side reference was dropped
//! publishes nothing: the value is dropped at once, and `COMPLETE` stays clear
//! because no one is left to look. The combinations the handle can see are
//! therefore: nothing yet (wait), `COMPLETE` (take the value),
//! `COMPLETE | CANCELLED` (`None`).
//!
//! Whoever clears the last reference frees the cell through
//! `Header::dealloc`, which drops the output slot but never the future: by
//! then the scope has always dropped it (`phase` is `GONE`). That is what
//! lets a handle outlive `'env` even though `F` borrows from it. A value the
//! `JoinHandle` never took is dropped by the handle (or, if the handle let go
//! just before the value was published, by the scope), so the last owner may
//! be an `AbortHandle` on any thread even when `U` is `!Send`.
//!
//! # Aborting one child
//!
//! An abort request sets `ABORT | NOTIFYING` (unless the child finished or
//! was asked already). A started child is then woken through its wake slot
//! (its link's `next`, written at its first poll, before `STARTED`): its next
//! poll drops it instead of polling it, so a request costs O(1) whatever the
//! number of children. One not started yet is in the scope's spawn stack or
//! queue: the request raises the scope's `aborted` flag and wakes it, and the
//! scope drops the marked children waiting in its queue in one scan (or the
//! first poll sees `ABORT`). The request reaches the scope's state through a
//! pointer its handle was given at the spawn, uncounted: the scope publishes
//! every child before it can end, and a publish that finds `NOTIFYING` takes
//! a count on its state for the request (`HANDED`), given back when the
//! request clears `NOTIFYING`. `loom_tests.rs` models both races.

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use super::arena::{self, Arena, Slot};
use super::reason::Reason;
use super::records::RecordRef;
use super::state::{ScopeShared, ScopeState};

use crate::engine::{Shared, slot_shared, wake_slot};
use crate::loom::{AtomicUsize, AtomicWaker, Ordering};
use crate::wait_point::{Wait, note_with};

// The state word's bits; the module docs' table says who sets each one, when,
// and what it rules out.

/// The scope still holds the cell (its reference).
const SCOPE: usize = 1 << 0;
/// The `JoinHandle` still exists (its reference). Once clear, never set again.
const HANDLE: usize = 1 << 1;
/// The outcome is published: either `output` is written or `CANCELLED` is set.
/// Set once, by the scope, and never cleared.
const COMPLETE: usize = 1 << 2;
/// Set with `COMPLETE` when no value will ever be written: the child returned
/// `Err` (its error goes to the scope, not to the handle), or its future was
/// dropped before it finished (its scope failed, was stopped past its grace or
/// was dropped, or the child panicked).
const CANCELLED: usize = 1 << 3;
/// The handle side asked for the child to be dropped. Set once, only while
/// `COMPLETE` is clear; never cleared.
const ABORT: usize = 1 << 4;
/// The scope started the child (its first poll): its link's `next` names its
/// wake slot. Set once, by the owner; if `ABORT` was there first, the child
/// is dropped unpolled instead (the request saw `STARTED` clear and told the
/// scope the other way).
const STARTED: usize = 1 << 5;
/// An abort request is telling the scope right now (set with `ABORT`,
/// cleared when it is done): the scope's state must outlive it.
const NOTIFYING: usize = 1 << 6;
/// The scope published while `NOTIFYING` was set and handed the requester a
/// count on its state, which the requester gives back.
const HANDED: usize = 1 << 7;
/// A shielded child (`spawn_shielded`): a grace's end and a failure of its
/// scope do not drop it (only the scope future's drop does). Set before the
/// cell is shared, never cleared.
const SHIELDED: usize = 1 << 8;
/// Why the child was dropped unfinished (`Reason::kind`, 0: not dropped),
/// set with `CANCELLED`; the reason's place, if it has one, is then in the
/// spawn link's `spawned_at`.
const REASON_SHIFT: u32 = 9;
const REASON_MASK: usize = 0b111 << REASON_SHIFT;
/// One `AbortHandle`: the bits from here up count them. Each is a
/// reference to the cell, like `HANDLE`.
const ABORT_REF: usize = 1 << 12;
/// The abort handles' count.
const REFS: usize = !(ABORT_REF - 1);
/// Every reference of the handle side: the `JoinHandle` (or the set) and the
/// abort handles. Once all are gone none comes back.
const HANDLE_SIDE: usize = HANDLE | REFS;

/// The part of a cell every side can read without knowing `F` or `U`.
pub(crate) struct Header {
    state: AtomicUsize,
    /// Frees the whole cell (and the output, if still there), never the future.
    dealloc: unsafe fn(NonNull<Header>),
}

impl Header {
    /// True once the handle side let go (for a set's child: the set).
    #[inline]
    pub(crate) fn handle_gone(&self) -> bool {
        self.state.load(Ordering::Acquire) & HANDLE_SIDE == 0
    }

    /// The scope published while an abort request was telling it: hands the
    /// requester a count on the scope's state, so it stays alive until the
    /// request is done, unless the request finished first. Owner only.
    #[cold]
    #[inline(never)]
    fn hand_over(&self, shared: *const ScopeShared) {
        // SAFETY: the owner holds a count on its state.
        unsafe { (*shared).acquire() };
        let mut state = self.state.load(Ordering::Acquire);
        while state & NOTIFYING != 0 {
            // `HANDED`, only while the request is still telling: it gives
            // the count back when it clears `NOTIFYING`.
            match self.state.compare_exchange_weak(
                state,
                state | HANDED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
        // The request was done first: the count is not needed.
        // SAFETY: the count taken above; the owner's own keeps the state.
        unsafe { Shared::release(shared) }
    }
}

#[repr(C)]
pub struct JoinPart<U, M> {
    pub(crate) header: Header,
    pub(crate) member: M,
    output: UnsafeCell<Option<U>>,
}

/// Who learns that a child's outcome is published: the handle's waker for a
/// lone child (`()`), the set's completion stack for a set's (`member.rs`).
pub(crate) trait Member {
    /// Called by the owner right after `COMPLETE` is set. `part` points at
    /// the cell's join part, with the provenance of the whole cell.
    fn published(&self, header: &Header, part: NonNull<()>);

    /// Called once the member is in its cell (`new_cell`), before the cell
    /// is shared: a member takes what it holds for the cell's life here
    /// rather than when it is made, so that making one has no side effect
    /// (and the cell is written straight into its allocation).
    #[inline]
    fn attach(&self) {}

    /// Called once, when the cell is freed (`dealloc`), if `attach` was:
    /// gives back what `attach` took.
    ///
    /// # Safety
    /// Called once per `attach`, and nothing uses the member after it.
    #[inline]
    unsafe fn detach(&self) {}
}

/// A lone child's member: its handle's waker, taken and woken once the
/// outcome is published. (A set's child has no waker of its own: the set's
/// member takes this place in the cell, so both cells are the same size.)
pub(crate) struct Lone {
    waker: AtomicWaker,
}

impl Lone {
    #[inline]
    pub(crate) fn new() -> Self {
        Lone {
            waker: AtomicWaker::new(),
        }
    }
}

impl Member for Lone {
    #[inline]
    fn published(&self, _header: &Header, _part: NonNull<()>) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// The link through which a spawned child travels to its scope's owner.
/// `repr(C)`, so that `next` is at the same place whatever `E` is (an abort
/// handle finds it without knowing `E`, see `AbortRoute::new`; so does the
/// owner's FIFO, `fresh.rs`).
#[repr(C)]
pub(crate) struct SpawnLink<'env, E> {
    /// Next link in the spawn stack (see `engine/stack.rs`) while the child
    /// is on it, then in the owner's FIFO of children not started yet
    /// (`fresh.rs`); once the scope has started the child (`STARTED`), its
    /// wake slot, for abort requests.
    pub(crate) next: Cell<*mut SpawnLink<'env, E>>,
    /// The cell itself, as the scope sees it.
    pub(crate) this: NonNull<dyn Child<E> + 'env>,
    /// Where the child was spawned, for slow-poll reports; once it is
    /// dropped unfinished, the place of the reason (`REASON_SHIFT`).
    pub(crate) spawned_at: Cell<&'static Location<'static>>,
    /// The child's task-tree record, if its scope is tracked.
    pub(crate) info: Option<RecordRef>,
}

// The owner's FIFO (`fresh.rs`) reads a link's `next` at offset 0, without
// knowing `E`.
const _: () = assert!(std::mem::offset_of!(SpawnLink<'static, ()>, next) == 0);

// SAFETY: `next` is the link field: the spawn stack's while the child is on
// it, then the owner's FIFO of children not started yet (`fresh.rs`, which
// writes it as a `Cell<*mut ()>` without this trait), then the wake slot.
unsafe impl<E> crate::engine::Node for SpawnLink<'_, E> {
    fn next(&self) -> *mut Self {
        self.next.get()
    }

    fn set_next(&self, next: *mut Self) {
        self.next.set(next);
    }
}

/// `ChildCell::phase`: the future is there and was never polled.
const FRESH: u8 = 1;
/// `ChildCell::phase`: the future is there and the child is started.
const RUNNING: u8 = 2;
/// `ChildCell::phase`: the future has been dropped.
const GONE: u8 = 0;

#[repr(C)]
struct ChildCell<'env, E, F, U, M> {
    join: JoinPart<U, M>,
    link: SpawnLink<'env, E>,
    /// `FRESH` until the first poll, `RUNNING` from then on, `GONE` once the
    /// future has been dropped. Owner only, so not in the state word:
    /// nobody else ever asks (see the module docs' table).
    phase: Cell<u8>,
    /// For a cell carved from its scope's arena, its slot's offset in its
    /// chunk (`arena.rs`); 0 for a boxed cell. Written once, before the
    /// cell is shared.
    offset: u16,
    future: UnsafeCell<ManuallyDrop<F>>,
}

/// The scope's view of a child, erased over the future and output types.
pub(crate) trait Child<E> {
    /// Polls the future. On `Ready`, the future has been dropped; on `Ok` its
    /// output has been handed to the `JoinHandle`, on `Err` the handle is
    /// marked cancelled.
    ///
    /// # Safety
    /// Only the owning scope calls this, from one thread at a time, and never
    /// after `Ready` or `cancel`.
    unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<(), E>>;

    /// Where the child was spawned.
    fn spawned_at(&self) -> &'static Location<'static>;

    /// The child's task-tree record, if its scope is tracked.
    fn info(&self) -> Option<RecordRef>;

    /// Drops the future if it is still there and publishes the cancellation,
    /// for `reason`. Called after a panic in `poll` too. Idempotent. `scope`
    /// is the scope's shared state (an abort request may need a count on
    /// it).
    ///
    /// # Safety
    /// As for `poll`; `scope` is alive.
    unsafe fn cancel(&self, scope: *const ScopeShared, reason: Reason);
}

impl<E, F, U, M: Member> ChildCell<'_, E, F, U, M> {
    /// Starts the child at its first poll: its link's `next` names its wake
    /// slot from now on (the one `cx`'s waker points to: the engine polls a
    /// child with its slot's waker). False if an abort came first: the
    /// child must be dropped unpolled. Owner only.
    #[inline]
    fn start(&self, cx: &Context<'_>) -> bool {
        self.phase.set(RUNNING);
        // Off the spawn stack and the owner's FIFO (`fresh.rs`), `next` is
        // free.
        self.link
            .next
            .set(cx.waker().data() as *mut SpawnLink<'_, E>);
        // `STARTED` (an add: the bit is clear, and an add returns the word
        // in one instruction where an or needs a loop): the release half
        // hands the wake slot to a request that sees it. A request that came
        // first saw it clear and took the other way (the queue's scan), and
        // the `ABORT` it left is seen here.
        let prev = self.join.header.state.fetch_add(STARTED, Ordering::Release);
        prev & ABORT == 0
    }

    /// The scope's shared state, for a child it has started (its link's
    /// `next` is its wake slot). Owner only.
    #[inline]
    fn started_scope(&self) -> *const ScopeShared {
        // SAFETY: a started child's `next` is a wake slot of its live scope,
        // written by this owner.
        unsafe { slot_shared::<ScopeState>(self.link.next.get() as *const ()) }
    }

    /// Drops the future in place, once, even if its destructor panics.
    ///
    /// # Safety
    /// Owner only (see `Child::poll`).
    unsafe fn drop_future(&self) {
        // `phase` -> `GONE`, before the destructor runs, so a panicking
        // destructor is not run again by a later `cancel`.
        if self.phase.replace(GONE) != GONE {
            // SAFETY: the future was there, so it is initialised and nobody
            // else touches it; `GONE` first rules out a second drop.
            unsafe { ManuallyDrop::drop(&mut *self.future.get()) }
        }
    }

    /// Publishes the outcome (`output` already written unless cancelled) and
    /// wakes the handle. The scope's reference is released separately.
    fn publish(&self, flags: usize, scope: Option<*const ScopeShared>) -> usize {
        let header = &self.join.header;
        // `COMPLETE` (with `CANCELLED` when no value was written): the release
        // half hands `output` over to the handle's acquire load; the scope
        // never touches `output` again (but for a value the handle let go of
        // first, in `poll`).
        // An add, as `COMPLETE` (and `CANCELLED`) are clear until here and
        // the owner publishes once (`cancel` checks): the previous word comes
        // back in one instruction.
        debug_assert!(header.state.load(Ordering::Relaxed) & (COMPLETE | CANCELLED) == 0);
        let prev = header.state.fetch_add(flags, Ordering::AcqRel);
        if prev & NOTIFYING != 0 {
            header.hand_over(scope.unwrap_or_else(|| self.started_scope()));
        }
        // The cell's own pointer (the join part is at offset 0), not one made
        // from `&self.join`: a set frees the cell through what it is given.
        self.join.member.published(header, self.link.this.cast());
        prev
    }
}

impl<'env, E, F, U, M> Child<E> for ChildCell<'env, E, F, U, M>
where
    F: Future<Output = Result<U, E>>,
    M: Member,
{
    unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let phase = self.phase.get();
        debug_assert!(phase != GONE);
        // The first poll starts the child (unless an abort came first); a
        // later one drops it instead if an abort came since. Relaxed: an
        // abort request sets `ABORT` before it wakes the child, and the wake
        // reached this poll through the queue's synchronisation.
        let aborted = if phase == FRESH {
            !self.start(cx)
        } else {
            self.join.header.state.load(Ordering::Relaxed) & ABORT != 0
        };
        if aborted {
            // SAFETY: owner-only, per this method's contract; the scope is
            // polling, so it is alive.
            unsafe { self.cancel(self.started_scope(), Reason::Aborted) };
            return Poll::Ready(Ok(()));
        }
        // SAFETY: the cell is heap-allocated and never moves; the future is
        // dropped in place (`drop_future`), so this pin is never violated.
        let future = unsafe { Pin::new_unchecked(&mut **self.future.get()) };
        let result = match future.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        // SAFETY: owner-only, per this method's contract.
        unsafe { self.drop_future() };
        match result {
            Ok(value) => {
                let state = self.join.header.state.load(Ordering::Acquire);
                if state & HANDLE != 0 {
                    // SAFETY: nobody reads `output` before `COMPLETE` is set.
                    unsafe { *self.join.output.get() = Some(value) };
                    if self.publish(COMPLETE, None) & HANDLE == 0 {
                        // The handle let go between the load and the publish:
                        // it will not take the value, so it is dropped here, on
                        // the scope's thread (an abort handle elsewhere may be
                        // the cell's last owner).
                        // SAFETY: the handle is gone, so nobody else reads
                        // `output`; the cell is ours until we release it.
                        drop(unsafe { (*self.join.output.get()).take() });
                    }
                } else if state & REFS != 0 {
                    // Only abort handles are left: they learn that it finished.
                    drop(value);
                    self.publish(COMPLETE | CANCELLED, None);
                }
                // Else nobody can ever read the value: dropped here.
                Poll::Ready(Ok(()))
            }
            Err(error) => {
                // The error goes to the scope; the handle sees `CANCELLED`,
                // for this child's own error (its place is its spawn).
                let failed = Reason::Failed(self.link.spawned_at.get()).kind() << REASON_SHIFT;
                self.publish(COMPLETE | CANCELLED | failed, None);
                Poll::Ready(Err(error))
            }
        }
    }

    fn spawned_at(&self) -> &'static Location<'static> {
        self.link.spawned_at.get()
    }

    fn info(&self) -> Option<RecordRef> {
        self.link.info
    }

    unsafe fn cancel(&self, scope: *const ScopeShared, reason: Reason) {
        // Publish even if the destructor panics: the handle must not wait forever.
        struct PublishOnExit<'a, 'env, E, F, U, M: Member>(
            &'a ChildCell<'env, E, F, U, M>,
            *const ScopeShared,
            Reason,
        );
        impl<E, F, U, M: Member> Drop for PublishOnExit<'_, '_, E, F, U, M> {
            fn drop(&mut self) {
                // Relaxed: only the owner sets `COMPLETE`, and this is the owner.
                // Set already if the child finished (idempotence).
                let state = self.0.join.header.state.load(Ordering::Relaxed);
                if state & COMPLETE == 0 {
                    // An abort asked for first is the reason, whatever
                    // teardown drops the child.
                    if state & ABORT != 0 {
                        self.2 = Reason::Aborted;
                    }
                    // The reason's place goes where the handle looks for it,
                    // before the publish hands the cell over.
                    if let Some(at) = self.2.location() {
                        self.0.link.spawned_at.set(at);
                    }
                    let reason = self.2.kind() << REASON_SHIFT;
                    self.0.publish(COMPLETE | CANCELLED | reason, Some(self.1));
                }
            }
        }
        let _publish = PublishOnExit(self, scope, reason);
        // SAFETY: owner-only, per this method's contract.
        unsafe { self.drop_future() };
    }
}

/// Frees a cell made by `new_cell` from the global allocator, a
/// `ChildCell<'env, E, F, U, M>`.
///
/// # Safety
/// `header` points to the header of such a cell whose last reference was
/// just given up, and whose future has been dropped.
unsafe fn dealloc<E, F, U, M: Member>(header: NonNull<Header>) {
    let cell = header.cast::<ChildCell<'_, E, F, U, M>>().as_ptr();
    // SAFETY: `header` is at offset 0 of the `repr(C)` cell, which came from
    // `Box::into_raw` and was attached there (`new_cell`); this is its one
    // free.
    unsafe { (*cell).join.member.detach() };
    // SAFETY: as above. Dropping the box drops the output slot and the
    // member; `future` is `ManuallyDrop` and already dropped, so nothing of
    // `'env` is touched even if `'env` has ended.
    drop(unsafe { Box::from_raw(cell) });
}

/// Frees a cell made by `new_cell` in a slot of its scope's arena
/// (`arena.rs`), a `ChildCell<'env, E, F, U, M>`.
///
/// # Safety
/// As for [`dealloc`]; the cell was written into a carved slot, and
/// `header` carries the provenance of the slot's whole chunk (every pointer
/// the sides keep is derived from the slot's, never through a reference).
unsafe fn dealloc_carved<E, F, U, M: Member>(header: NonNull<Header>) {
    let cell = header.cast::<ChildCell<'_, E, F, U, M>>().as_ptr();
    // SAFETY: as for `dealloc`: attached in `new_cell`, freed once.
    unsafe { (*cell).join.member.detach() };
    /// Gives the slot back to its chunk when dropped, so a panic in the
    /// cell's drop (a waker's, an output's) still frees it, as dropping a
    /// `Box` would.
    struct GiveBack(Slot, Layout);
    impl Drop for GiveBack {
        fn drop(&mut self) {
            // SAFETY: the slot was carved for this layout (`new_cell`), its
            // cell is dropped (or its drop unwound), and it is given back
            // once: this guard is made once, below.
            unsafe { arena::free(self.0, self.1) };
        }
    }
    let slot = Slot {
        ptr: header.cast::<u8>(),
        // SAFETY: the cell is live; `offset` was written in `new_cell`.
        offset: unsafe { (*cell).offset },
    };
    let _give_back = GiveBack(slot, Layout::new::<ChildCell<'_, E, F, U, M>>());
    // SAFETY: as for `dealloc`, dropping in place what the box would drop
    // (the output slot and the member; the future is `ManuallyDrop` and
    // gone); then the guard gives the slot back to its chunk, with the
    // layout it was carved for.
    unsafe { ptr::drop_in_place(cell) };
}

/// Gives up the scope's reference to a finished or cancelled child.
///
/// Takes the scope's own pointer to the cell (made from `Box::into_raw`, so it
/// may free the whole allocation), not one derived from a reference to a field.
///
/// # Safety
/// `child` is a live cell whose future has been dropped, and the scope has not
/// released it yet.
pub(crate) unsafe fn release_scope_ref<E>(child: NonNull<dyn Child<E> + '_>) {
    // The header is at offset 0 of every (repr(C)) cell.
    let header = child.cast::<Header>();
    // SAFETY: the scope's reference keeps the cell alive until the fetch below.
    let h = unsafe { header.as_ref() };
    let dealloc = h.dealloc;
    // A handle never comes back once dropped: if it is gone, this scope is the
    // last owner and needs no read-modify-write (the acquire load pairs with the
    // handle's release when it let go); `SCOPE` then stays set in a word that
    // is freed. Otherwise clearing `SCOPE` tells whoever clears `HANDLE` later
    // that it frees.
    if h.state.load(Ordering::Acquire) & HANDLE_SIDE == 0
        || h.state.fetch_and(!SCOPE, Ordering::AcqRel) & HANDLE_SIDE == 0
    {
        // SAFETY: both references are gone and the scope dropped the future.
        unsafe { dealloc(header) }
    }
}

/// Allocates a child's cell and returns its spawn link (the scope's side)
/// and its join part (the handle side), each holding one reference. With an
/// arena (the spawn runs on the scope's thread, inside its poll), the cell
/// may be carved from it rather than allocated on its own.
#[inline]
pub(crate) fn new_cell<'env, E, F, U, M>(
    future: F,
    spawned_at: &'static Location<'static>,
    info: Option<RecordRef>,
    member: M,
    arena: Option<&mut Arena>,
) -> (NonNull<SpawnLink<'env, E>>, NonNull<JoinPart<U, M>>)
where
    F: Future<Output = Result<U, E>> + 'env,
    U: 'env,
    E: 'env,
    M: Member + 'env,
{
    // Allocated first and written in place: the cell is never built on the
    // stack and copied (which the compiler does when the member's
    // construction has a side effect, as a set's count on its shared part).
    let carved = arena.and_then(|arena| arena.carve(Layout::new::<ChildCell<'env, E, F, U, M>>()));
    let (cell, dealloc, offset): (_, unsafe fn(NonNull<Header>), _) = match carved {
        Some(slot) => (
            slot.ptr.cast::<ChildCell<'env, E, F, U, M>>(),
            dealloc_carved::<E, F, U, M>,
            slot.offset,
        ),
        None => {
            let cell = Box::into_raw(Box::<ChildCell<'env, E, F, U, M>>::new_uninit())
                .cast::<ChildCell<'env, E, F, U, M>>();
            // SAFETY: `Box::into_raw` never returns null.
            (
                unsafe { NonNull::new_unchecked(cell) },
                dealloc::<E, F, U, M>,
                0,
            )
        }
    };
    let this: NonNull<dyn Child<E> + 'env> = cell;
    let p = cell.as_ptr();
    // SAFETY: `p` points to fresh memory for a `ChildCell` (a box, or a
    // carved slot of the cell's size and alignment), not yet shared; each
    // field is written once, in place, before anyone reads it.
    unsafe {
        ptr::addr_of_mut!((*p).join).write(JoinPart {
            header: Header {
                state: AtomicUsize::new(SCOPE | HANDLE),
                dealloc,
            },
            member,
            output: UnsafeCell::new(None),
        });
        ptr::addr_of_mut!((*p).link).write(SpawnLink {
            next: Cell::new(ptr::null_mut()),
            this,
            spawned_at: Cell::new(spawned_at),
            info,
        });
        ptr::addr_of_mut!((*p).phase).write(Cell::new(FRESH));
        ptr::addr_of_mut!((*p).offset).write(offset);
        ptr::addr_of_mut!((*p).future).write(UnsafeCell::new(ManuallyDrop::new(future)));
        (*p).join.member.attach();
    }
    // SAFETY: `link` is a field of the live cell.
    let link = unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*p).link)) };
    (link, cell.cast::<JoinPart<U, M>>())
}

/// Takes the value of a child that has published its outcome (`None`: it
/// was dropped unfinished, or failed) and lets go of the handle side's
/// reference, freeing the cell if the scope let go of its own already.
///
/// One read-modify-write at most, none when the scope is gone: a scope that
/// let go never comes back, so the handle side is then the cell's last owner
/// and frees it without clearing `HANDLE` (as `release_scope_ref` does the
/// other way round).
///
/// # Safety
/// The caller holds the handle side's reference, is its only user, and
/// gives it up here; the child has published (`COMPLETE` is set, as it is
/// for every child on a set's completion stack) and its value, if any, was
/// not taken yet.
#[inline]
pub(crate) unsafe fn take_published<U, M>(join: NonNull<JoinPart<U, M>>) -> Option<U> {
    // SAFETY: the handle side's reference keeps the cell alive.
    let part = unsafe { join.as_ref() };
    let state = part.header.state.load(Ordering::Acquire);
    debug_assert!(state & COMPLETE != 0, "a child taken before it published");
    debug_assert!(state & REFS == 0, "a set's child with abort handles");
    let value = if state & CANCELLED == 0 {
        // SAFETY: `COMPLETE` without `CANCELLED` means the scope wrote
        // `output` before its release of `COMPLETE`, which our acquire load
        // saw; the scope never touches it again, and the caller is its only
        // reader.
        unsafe { (*part.output.get()).take() }
    } else {
        None
    };
    if state & SCOPE == 0 {
        let dealloc = part.header.dealloc;
        // SAFETY: the scope let go (our acquire load pairs with its release),
        // so ours is the last reference: nobody else touches the cell again.
        unsafe { dealloc(join.cast()) }
    } else {
        // SAFETY: ours to give up, per the contract; nothing touches the cell
        // through `part` after this.
        unsafe { release_handle_ref(join) }
    }
    value
}

/// A field of the spawn link of the cell whose join part is `join`, at
/// `field` bytes into the link: the link sits at the same offset whatever
/// the error and future types (`repr(C)` cell, the join part first, the link
/// second, both independent of `E` and `F`), and its fields at the same
/// places (`repr(C)` link), so the handle side finds them knowing only `U`
/// and `M`.
fn link_field<U, M, T>(join: NonNull<JoinPart<U, M>>, field: usize) -> NonNull<T> {
    let offset = std::mem::offset_of!(ChildCell<'static, (), (), U, M>, link) + field;
    // SAFETY: `join` is at offset 0 of its cell, with the provenance of the
    // whole cell, so this stays inside the allocation.
    unsafe { NonNull::new_unchecked(join.as_ptr().cast::<u8>().add(offset)).cast() }
}

/// Where an abort request finds a child: its header, its link's `next`
/// (the wake slot once started) and its scope's shared state.
#[derive(Clone, Copy)]
pub(crate) struct AbortRoute {
    header: NonNull<Header>,
    next: NonNull<*mut ()>,
    scope: *const ScopeShared,
}

impl AbortRoute {
    /// The route to the child whose join part is `join`, spawned in `scope`.
    pub(crate) fn new<U, M>(join: NonNull<JoinPart<U, M>>, scope: *const ScopeShared) -> Self {
        let next = std::mem::offset_of!(SpawnLink<'static, ()>, next);
        AbortRoute {
            header: join.cast(),
            // `Cell<*mut SpawnLink>` has the layout of `*mut ()`.
            next: link_field(join, next),
            scope,
        }
    }

    /// Asks the scope to drop the child at its next turn, if it has not
    /// finished; true if the request was new. A started child is woken (its
    /// next poll drops it instead), one waiting for its turn is found by the
    /// scope's scan of its queue (`ScopeState::aborted`).
    ///
    /// # Safety
    /// The caller holds a reference of the handle side, so the cell is alive.
    pub(crate) unsafe fn request(self) -> bool {
        // SAFETY: alive, per the contract.
        let header = unsafe { self.header.as_ref() };
        let mut state = header.state.load(Ordering::Relaxed);
        loop {
            if state & (COMPLETE | ABORT) != 0 {
                return false;
            }
            // `ABORT | NOTIFYING`, only before the outcome: the acquire half
            // sees the wake slot the owner wrote before `STARTED`.
            match header.state.compare_exchange_weak(
                state,
                state | ABORT | NOTIFYING,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // From here until `NOTIFYING` is cleared the scope's state is alive:
        // the scope publishes every child it held before it can end, and a
        // publish that finds `NOTIFYING` hands us a count (`HANDED`).
        if state & STARTED != 0 {
            // SAFETY: once `STARTED` (which our acquire saw) nobody writes
            // `next` again: it is the wake slot, and the state is alive.
            unsafe { wake_slot::<ScopeState>(self.next.as_ptr().read() as *const ()) };
        } else {
            // Not started: the owner's start sees `ABORT` (its compare-and-
            // swap comes after ours), or the child waits in the queue, which
            // the owner scans once it sees the flag. `SeqCst`, then `notify`
            // reads `polling` with `SeqCst`: the scope is woken or sees the
            // flag in its last look.
            // SAFETY: alive, as above.
            let shared = unsafe { &*self.scope };
            shared.user().aborted.store(true, Ordering::SeqCst);
            shared.notify();
        }
        let prev = header
            .state
            .fetch_and(!(NOTIFYING | HANDED), Ordering::AcqRel);
        if prev & HANDED != 0 {
            // SAFETY: the count the owner handed over, given back once.
            unsafe { Shared::release(self.scope) };
        }
        true
    }
}

/// Lets go of the handle side's reference; frees the cell if the scope let
/// go of its own already (and no abort handle is left).
///
/// # Safety
/// The caller holds the handle side's reference and gives it up here.
pub(crate) unsafe fn release_handle_ref<U, M>(join: NonNull<JoinPart<U, M>>) {
    // SAFETY: the handle side's reference keeps the cell alive until the fetch.
    let header = unsafe { &join.as_ref().header };
    let dealloc = header.dealloc;
    // `HANDLE` cleared: from now on the scope writes no value (`poll`) and,
    // if it still holds the cell, frees it itself (`release_scope_ref`).
    let prev = header.state.fetch_and(!HANDLE, Ordering::AcqRel);
    if prev & (SCOPE | REFS) == 0 {
        // SAFETY: every reference is gone, and the scope dropped the future
        // before it released its own.
        unsafe { dealloc(join.cast()) }
    }
}

/// Marks a child shielded (`spawn_shielded`), before it is shared.
pub(crate) fn mark_shielded<E>(link: NonNull<SpawnLink<'_, E>>) {
    // SAFETY: the header is at offset 0 of every (repr(C)) cell, which the
    // caller still holds alone.
    let header = unsafe { link.as_ref().this.cast::<Header>().as_ref() };
    header.state.fetch_or(SHIELDED, Ordering::Relaxed);
}

/// True if the child is shielded (`spawn_shielded`).
pub(crate) fn is_shielded<E>(child: NonNull<dyn Child<E> + '_>) -> bool {
    // SAFETY: the header is at offset 0 of every (repr(C)) cell, and the
    // caller (the scope) holds its reference.
    let header = unsafe { child.cast::<Header>().as_ref() };
    header.state.load(Ordering::Relaxed) & SHIELDED != 0
}

/// True if the child's future was dropped unfinished (an abort at its
/// poll, a teardown): it has a reason. Owner only.
pub(crate) fn dropped_unfinished<E>(child: NonNull<dyn Child<E> + '_>) -> bool {
    // SAFETY: the header is at offset 0 of every (repr(C)) cell, and the
    // caller (the scope) holds its reference.
    let header = unsafe { child.cast::<Header>().as_ref() };
    // Relaxed: the reason is written by this owner (`cancel`).
    header.state.load(Ordering::Relaxed) & REASON_MASK != 0
}

/// True if the holder of the child's handle side asked for it to be dropped.
pub(crate) fn is_aborted<E>(child: NonNull<dyn Child<E> + '_>) -> bool {
    // SAFETY: the header is at offset 0 of every (repr(C)) cell, and the
    // caller (the scope) holds its reference.
    let header = unsafe { child.cast::<Header>().as_ref() };
    header.state.load(Ordering::Acquire) & ABORT != 0
}

/// Frees a child that never reached its scope (the scope had already finished).
///
/// # Safety
/// `link` came from `new_cell` and was never handed to a scope. If the
/// handle side was let go first (as `Handle::launch` does), this frees the
/// cell.
pub(crate) unsafe fn discard_unspawned<E>(
    link: NonNull<SpawnLink<'_, E>>,
    scope: *const ScopeShared,
) {
    // SAFETY: the cell is still exclusively ours.
    unsafe {
        let child = link.as_ref().this;
        child.as_ref().cancel(scope, Reason::ScopeDropped);
        release_scope_ref(child);
    }
}

/// An owned handle to a child's result: a future that resolves to the value the
/// child returned in `Ok`.
///
/// A handle never yields the child's error: if a child fails, its whole scope is
/// torn down and the error is returned by the scope. Dropping the handle does not
/// cancel the child; the scope still waits for it.
///
/// # Panics
///
/// Polling the handle panics if its child was dropped before it finished, and
/// if it is polled again after it returned its value. A dropped child is seen
/// from outside the scope (a handle returned from the body of a scope that then
/// failed or was dropped), or inside it after a stop request's
/// [`grace`](crate::Nursery::grace) ran out; [`or_dropped`](Self::or_dropped)
/// yields `None` in those cases instead.
///
/// # Cancel safety
///
/// Cancel safe while the handle lives: a poll through `&mut handle` (in a
/// `select!`, say) that is dropped loses nothing, and the handle can be
/// awaited again. Dropping the handle itself does not cancel the child (the
/// scope still runs it and waits for it) but gives up its value: the scope
/// drops the value when the child returns it.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let sum = corral::scope(|s| async move {
///     let a = s.spawn(async { Ok::<_, ()>(20) });
///     let b = s.spawn(async { Ok(22) });
///     Ok(a.await + b.await)
/// })
/// .await;
/// assert_eq!(sum, Ok(42));
/// # });
/// ```
pub struct JoinHandle<U> {
    join: NonNull<JoinPart<U, Lone>>,
    /// The scope's shared state, uncounted: used only by an abort request,
    /// while the child is unfinished (so the scope is alive, see
    /// `AbortRoute::request`).
    scope: *const ScopeShared,
    _owns: PhantomData<U>,
}

// SAFETY: the handle only ever touches the header (atomics) and the output `U`
// it moves out; never the child's future. So it is as thread-safe as `U`.
unsafe impl<U: Send> Send for JoinHandle<U> {}
// SAFETY: `&JoinHandle` gives no access to anything.
unsafe impl<U: Send> Sync for JoinHandle<U> {}
impl<U> Unpin for JoinHandle<U> {}

impl<U> JoinHandle<U> {
    /// The handle of a lone child, from its join part.
    ///
    /// # Safety
    /// `join` is a lone child's (`M = Lone`) spawned in `scope`, and the
    /// caller hands over the handle side's reference.
    pub(crate) unsafe fn from_part(
        join: NonNull<JoinPart<U, Lone>>,
        scope: *const ScopeShared,
    ) -> Self {
        JoinHandle {
            join,
            scope,
            _owns: PhantomData,
        }
    }

    fn part(&self) -> &JoinPart<U, Lone> {
        // SAFETY: the handle's reference keeps the cell alive.
        unsafe { self.join.as_ref() }
    }

    /// True once the child has finished (or was cancelled): awaiting the handle
    /// then returns (or panics) without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let h = s.spawn(async { Ok::<_, ()>(1) });
    ///     assert!(!h.is_finished()); // children start after the body yields
    ///     assert_eq!(h.await, 1);
    ///     Ok(())
    /// })
    /// .await
    /// # .unwrap() });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.part().header.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// Asks the scope to drop this child at its next turn, unless it has
    /// finished; see [`AbortHandle::abort`]. The handle then resolves as
    /// dropped: [`or_dropped`](Self::or_dropped) yields `None` (awaiting
    /// the handle itself panics, as for every dropped child).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let out = corral::scope(|s| async move {
    ///     let slow = s.spawn(std::future::pending::<Result<u32, ()>>());
    ///     let quick = s.spawn(async { Ok(1) });
    ///     slow.abort();
    ///     Ok((slow.or_dropped().await, quick.await))
    /// })
    /// .await;
    /// assert_eq!(out, Ok((None, 1))); // the scope is otherwise unaffected
    /// # });
    /// ```
    pub fn abort(&self) {
        // SAFETY: the handle's reference keeps the cell alive.
        unsafe { AbortRoute::new(self.join, self.scope).request() };
    }

    /// A cloneable handle that can drop this child, without the output type
    /// and usable from any thread; see [`AbortHandle`].
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let h = s.spawn(std::future::pending::<Result<(), ()>>());
    ///     let (a, b) = (h.abort_handle(), h.abort_handle());
    ///     drop(h); // the abort handles outlive it
    ///     a.abort();
    ///     b.abort(); // a second request does nothing
    ///     Ok(())
    /// })
    /// .await
    /// # .unwrap() });
    /// ```
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle::new(AbortRoute::new(self.join, self.scope))
    }

    /// Waits for the child like the handle itself does, but yields `None`
    /// instead of panicking if the child was dropped before it finished: at
    /// the end of a stop request's [`grace`](crate::Nursery::grace), or
    /// because its scope failed or was dropped.
    ///
    /// # Cancel safety
    ///
    /// As the [`JoinHandle`](JoinHandle#cancel-safety): dropping the
    /// [`OrDropped`] drops the handle, which gives up the child's value but
    /// does not cancel the child.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let outcome = corral::Nursery::new()
    ///     .grace(Duration::ZERO)
    ///     .scope(|s| async move {
    ///         let quick = s.spawn(async { Ok::<_, ()>(1) });
    ///         let stuck = s.spawn(std::future::pending::<Result<u32, ()>>());
    ///         assert_eq!(quick.await, 1);
    ///         s.stop(); // no grace: `stuck` is dropped at once
    ///         Ok(stuck.or_dropped().await)
    ///     })
    ///     .await;
    /// assert_eq!(outcome, Ok(None));
    /// # });
    /// ```
    pub fn or_dropped(self) -> OrDropped<U> {
        OrDropped { handle: self }
    }

    /// Waits for the child like the handle itself does, but yields why it
    /// was dropped, if it was, instead of panicking: `Ok(value)`, or
    /// `Err(reason)` — [`Reason::Aborted`], the scope's failure (with where
    /// the failing child was spawned), the stop or deadline whose grace
    /// ended, or the scope future's drop. A child that failed itself yields
    /// `Reason::Failed` at its own spawn site (its error went to the scope).
    ///
    /// # Cancel safety
    ///
    /// As the [`JoinHandle`](JoinHandle#cancel-safety).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # futures::executor::block_on(async {
    /// let out = corral::Nursery::new()
    ///     .grace(Duration::ZERO)
    ///     .scope(|s| async move {
    ///         let stuck = s.spawn(std::future::pending::<Result<(), ()>>());
    ///         s.stop(); // this line is the reason's place
    ///         Ok(stuck.outcome().await)
    ///     })
    ///     .await
    ///     .unwrap();
    /// match out {
    ///     Err(corral::Reason::Stopped(at)) => assert_eq!(at.line(), line!() - 6),
    ///     other => panic!("{other:?}"),
    /// }
    /// # });
    /// ```
    pub fn outcome(self) -> Outcome<U> {
        Outcome { handle: self }
    }

    /// Notes, for the task tree, that the child polling this handle waits
    /// on it (`wait_point.rs`). Out of line: it keeps `poll_outcome` small
    /// enough to inline (15 instructions a child in `profile_scope`).
    #[inline(never)]
    fn note_waiting(&self) {
        note_with(Wait::Join, || self.tracked_spawn_site());
    }

    /// Where the child was spawned, if its scope is tracked and is the one
    /// being polled on this thread: read from its task-tree record (the
    /// link's `spawned_at` is the scope's to write until the outcome is
    /// published), for the tree's waiting points. Only inside its own
    /// scope's poll is the scope, hence the record, sure to stay alive
    /// while it is read (a handle awaited elsewhere notes nothing).
    fn tracked_spawn_site(&self) -> Option<&'static Location<'static>> {
        if !std::ptr::eq(super::nesting::current_scope(), self.scope) {
            return None;
        }
        let field = std::mem::offset_of!(SpawnLink<'static, ()>, info);
        // SAFETY: the handle's reference keeps the cell alive; `info` is
        // written once, before the cell is shared, and never again.
        let info = unsafe { *link_field::<U, Lone, Option<RecordRef>>(self.join, field).as_ptr() };
        // A record read after the child finished may be another child's by
        // now: its place, a `&'static Location`, is then only out of date.
        info.map(|record| record.spawned_at())
    }

    /// Why the child was dropped, once it was (`COMPLETE | CANCELLED`).
    fn drop_reason(&self) -> Reason {
        let state = self.part().header.state.load(Ordering::Acquire);
        // The link's `spawned_at` holds the reason's place (written before
        // the publish our acquire load saw).
        let field = std::mem::offset_of!(SpawnLink<'static, ()>, spawned_at);
        // SAFETY: the handle's reference keeps the cell alive; the field is a
        // `Cell<&Location>`, written by the scope only before the publish.
        let at = unsafe {
            *link_field::<U, Lone, &'static Location<'static>>(self.join, field).as_ptr()
        };
        Reason::from_parts((state & REASON_MASK) >> REASON_SHIFT, at).unwrap_or(
            if state & ABORT != 0 {
                Reason::Aborted
            } else {
                Reason::ScopeDropped
            },
        )
    }

    /// The child's outcome: `Some(value)`, `None` if it was dropped unfinished.
    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Option<U>> {
        let part = self.part();
        let mut state = part.header.state.load(Ordering::Acquire);
        if state & COMPLETE == 0 {
            part.member.waker.register(cx.waker());
            state = part.header.state.load(Ordering::Acquire);
            if state & COMPLETE == 0 {
                self.note_waiting();
                return Poll::Pending;
            }
        }
        if state & CANCELLED != 0 {
            return Poll::Ready(None);
        }
        // SAFETY: `COMPLETE` without `CANCELLED` means the scope wrote `output`
        // before its release of `COMPLETE`, which our acquire load saw; the scope
        // never touches it again, and `&mut self` makes us its only reader.
        match unsafe { (*part.output.get()).take() } {
            Some(value) => Poll::Ready(Some(value)),
            None => panic!("corral: JoinHandle polled again after it returned its value"),
        }
    }
}

impl<U> Future for JoinHandle<U> {
    type Output = U;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<U> {
        match std::task::ready!(self.get_mut().poll_outcome(cx)) {
            Some(value) => Poll::Ready(value),
            // A `&'static str` payload, as it always was (callers downcast it).
            None => panic!(
                "corral: awaited the JoinHandle of a child that was dropped before it \
                 finished (it was aborted, its scope failed or was dropped, or a stop's \
                 grace ran out); JoinHandle::or_dropped yields None instead, and \
                 JoinHandle::outcome the reason"
            ),
        }
    }
}

/// The future [`JoinHandle::or_dropped`] returns: the child's value, or
/// `None` if the child was dropped before it finished.
///
/// # Cancel safety
///
/// As the [`JoinHandle`](JoinHandle#cancel-safety) it holds: dropping it gives
/// up the child's value but does not cancel the child.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct OrDropped<U> {
    handle: JoinHandle<U>,
}

impl<U> Future for OrDropped<U> {
    type Output = Option<U>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        self.get_mut().handle.poll_outcome(cx)
    }
}

/// The future [`JoinHandle::outcome`] returns: the child's value, or why it
/// was dropped before it finished.
///
/// # Cancel safety
///
/// As the [`JoinHandle`](JoinHandle#cancel-safety) it holds.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Outcome<U> {
    handle: JoinHandle<U>,
}

impl<U> Future for Outcome<U> {
    type Output = Result<U, Reason>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<U, Reason>> {
        let handle = &mut self.get_mut().handle;
        Poll::Ready(match std::task::ready!(handle.poll_outcome(cx)) {
            Some(value) => Ok(value),
            None => Err(handle.drop_reason()),
        })
    }
}

impl<U> Drop for JoinHandle<U> {
    fn drop(&mut self) {
        let part = self.part();
        let mut state = part.header.state.load(Ordering::Acquire);
        // A value the handle never took is taken here, on the handle's
        // thread, rather than left to the cell's last owner (which may be an
        // abort handle on another thread).
        let value = loop {
            if state & COMPLETE != 0 {
                break if state & CANCELLED == 0 {
                    // SAFETY: published, so the scope is done with `output`,
                    // and `&mut self` makes us its only reader.
                    unsafe { (*part.output.get()).take() }
                } else {
                    None
                };
            }
            // Not finished, so the scope still holds the cell: clearing
            // `HANDLE` is all there is to do. A value it publishes later is
            // dropped by the scope itself (`poll`).
            match part.header.state.compare_exchange_weak(
                state,
                state & !HANDLE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        };
        // SAFETY: the handle holds the handle side's reference, given up here.
        unsafe { release_handle_ref(self.join) };
        drop(value);
    }
}

/// A handle that drops one child: [`abort`](Self::abort) asks the child's
/// scope to drop the child's future at its next turn. Cheap to clone, it does
/// not carry the child's output type, and it may be sent to any thread (even
/// for a [`LocalScope`](crate::LocalScope)'s child: the future is always
/// dropped by its scope, on the scope's thread).
///
/// Got from [`JoinHandle::abort_handle`]; it outlives the handle and the
/// scope, and does nothing once the child has finished.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let stuck = s.spawn(std::future::pending::<Result<(), ()>>());
///     let abort = stuck.abort_handle();
///     let other_thread = std::thread::spawn(move || abort.abort());
///     other_thread.join().unwrap();
///     assert_eq!(stuck.or_dropped().await, None); // dropped, the scope goes on
///     Ok(())
/// })
/// .await
/// # .unwrap() });
/// ```
pub struct AbortHandle {
    route: AbortRoute,
}

// SAFETY: an abort handle touches only its cell's header (atomics) and, while
// `NOTIFYING` keeps it alive, the scope's shared state (`Send + Sync`). It
// never touches the future or the output: the `JoinHandle` drops a value it
// never took itself, so a cell freed by an abort handle holds none.
unsafe impl Send for AbortHandle {}
// SAFETY: as for `Send`: every method takes `&self` and uses atomics only.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// Asks the child's scope to drop the child at its next turn, unless it
    /// has finished (then this does nothing, as does a second call). The
    /// rest of the scope is unaffected: no sibling is dropped and the scope
    /// does not fail. The child's [`JoinHandle`] then resolves as dropped
    /// ([`or_dropped`](JoinHandle::or_dropped) yields `None`). A parallel
    /// child ([`spawn_on`](crate::Scope::spawn_on)) has its future dropped on
    /// its runtime, and the scope waits for that before it ends, as for
    /// every dropped parallel child.
    ///
    /// A child waiting for its turn under
    /// [`max_concurrency`](crate::Nursery::max_concurrency) never starts. A
    /// child that aborts itself runs on to the end of that poll: if the poll
    /// finishes it, it keeps its value; if not, its next poll drops it.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let done = s.spawn(async { Ok::<_, ()>(1) });
    ///     let abort = done.abort_handle();
    ///     assert_eq!(done.await, 1);
    ///     abort.abort(); // finished already: nothing happens
    ///     assert!(abort.is_finished());
    ///     Ok(())
    /// })
    /// .await
    /// # .unwrap() });
    /// ```
    pub fn abort(&self) {
        // SAFETY: our reference keeps the cell alive.
        unsafe { self.route.request() };
    }

    /// True once the child has finished, failed or was dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let h = s.spawn(std::future::pending::<Result<(), ()>>());
    ///     let abort = h.abort_handle();
    ///     assert!(!abort.is_finished());
    ///     abort.abort();
    ///     h.or_dropped().await;
    ///     assert!(abort.is_finished());
    ///     Ok(())
    /// })
    /// .await
    /// # .unwrap() });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.header().state.load(Ordering::Acquire) & COMPLETE != 0
    }

    fn header(&self) -> &Header {
        // SAFETY: our reference keeps the cell alive.
        unsafe { self.route.header.as_ref() }
    }

    /// A new abort handle on the cell whose reference the caller holds.
    fn new(route: AbortRoute) -> Self {
        // SAFETY: the caller's reference keeps the cell alive.
        let header = unsafe { route.header.as_ref() };
        // One more reference; Relaxed as for `Arc::clone` (the caller's
        // reference keeps the cell alive).
        if header.state.fetch_add(ABORT_REF, Ordering::Relaxed) > usize::MAX / 2 {
            // Billions of handles on one child: a leak, not a use.
            std::process::abort();
        }
        AbortHandle { route }
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> Self {
        AbortHandle::new(self.route)
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        let header = self.header();
        let dealloc = header.dealloc;
        let prev = header.state.fetch_sub(ABORT_REF, Ordering::AcqRel);
        if prev & (SCOPE | HANDLE) == 0 && prev & REFS == ABORT_REF {
            // SAFETY: ours was the last reference, and the scope dropped the
            // future before it let go; the output is empty (the handle
            // dropped any value it left).
            unsafe { dealloc(self.route.header) }
        }
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<U> fmt::Debug for JoinHandle<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
