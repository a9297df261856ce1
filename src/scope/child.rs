//! One child: a single allocation shared by its scope and its [`JoinHandle`].
//!
//! ```text
//! ChildCell<'env, E, F, U>  (repr(C))
//! ├── join: JoinPart<U, M>   what the handle may touch, at offset 0
//! │   ├── header: Header     state word, dealloc fn, the handle's waker
//! │   ├── member: M          `()` for a lone child; a `JoinSet`'s link for a set's (`member.rs`)
//! │   └── output: Option<U>  written once by the scope, taken once by the handle
//! ├── link: SpawnLink<'env, E>    the spawn-stack link and the scope's `dyn Child` pointer
//! └── future: F              dropped in place by the scope, never by the handle
//! ```
//!
//! # The state word
//!
//! The header's state word holds two reference bits (`SCOPE`, `HANDLE`),
//! two outcome bits (`COMPLETE`, `CANCELLED`) and a request (`ABORT`); beside it, the owner-only
//! `live` flag says whether the future is still there. Every transition is
//! one atomic read-modify-write, commented where it is made.
//!
//! | bit         | set                                     | cleared                                   | read by                                   | what it rules out |
//! |-------------|-----------------------------------------|-------------------------------------------|-------------------------------------------|-------------------|
//! | `SCOPE`     | at allocation (`new_cell`)             | by the scope once the future is dropped (`release_scope_ref`), unless the handle is already gone | the handle's drop: if clear, the handle frees the cell | the handle freeing a cell the scope still polls |
//! | `HANDLE`    | at allocation                           | by the handle's drop; never set again     | the scope: on `Ok` (is anyone to read the value?) and in `release_scope_ref` (am I the last owner?) | the scope writing an output nobody can take; a second free |
//! | `COMPLETE`  | by the scope, once: with `output` written (`Ok`, handle alive), or with `CANCELLED` | never | the handle (`poll_outcome`, `is_finished`); `cancel`, not to publish twice | the handle reading `output` before it is written, or the scope touching it after |
//! | `CANCELLED` | with `COMPLETE`: the child returned `Err`, or its future was dropped unfinished (`cancel`: a failed, stopped or dropped scope, a panic in `poll`) | never | the handle, after `COMPLETE`               | the handle reading an `output` that was never written |
//! | `ABORT`     | by the holder of the handle side (a dropped `JoinSet`), before it tells the scope (`ScopeState::aborted`) | never | the scope: before it starts a child, and when it scans its running children after `aborted` | a child of a dropped set being polled again once the scope has seen the request |
//! | `live`      | at allocation (a plain `Cell<bool>`, owner only) | by `drop_future`, before the drop runs | `drop_future`; `poll` (debug assertion) | a second drop of the future, even when the first one panicked |
//!
//! A child that returns `Ok` after its handle was dropped publishes nothing:
//! the value is dropped at once, and `COMPLETE` stays clear because no one is
//! left to look. The combinations the handle can see are therefore: nothing
//! yet (wait), `COMPLETE` (take the value), `COMPLETE | CANCELLED` (`None`).
//!
//! Whoever clears the last reference bit frees the cell through
//! `Header::dealloc`, which drops the output slot (a value the handle never
//! took included) but never the future: by then the scope has always dropped
//! it (`live` is false). That is what lets a handle outlive `'env` even though
//! `F` borrows from it.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use super::records::RecordRef;

use crate::loom::{AtomicUsize, AtomicWaker, Ordering};

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
const ABORT: usize = 1 << 4;

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
        self.state.load(Ordering::Acquire) & HANDLE == 0
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
pub(crate) struct SpawnLink<'env, E> {
    /// Next link in the spawn stack (see `engine/stack.rs`).
    pub(crate) next: Cell<*mut SpawnLink<'env, E>>,
    /// The cell itself, as the scope sees it.
    pub(crate) this: NonNull<dyn Child<E> + 'env>,
    /// Where the child was spawned, for slow-poll reports.
    pub(crate) spawned_at: &'static Location<'static>,
    /// The child's task-tree record, if its scope is tracked.
    pub(crate) info: Option<RecordRef>,
}

// SAFETY: `next` is the link field, written only through `set_next`, and
// only the spawn stack uses it (the owner's FIFO is a `VecDeque`).
unsafe impl<E> crate::engine::Node for SpawnLink<'_, E> {
    fn next(&self) -> *mut Self {
        self.next.get()
    }

    fn set_next(&self, next: *mut Self) {
        self.next.set(next);
    }
}

#[repr(C)]
struct ChildCell<'env, E, F, U, M> {
    join: JoinPart<U, M>,
    link: SpawnLink<'env, E>,
    /// True until the future has been dropped. Owner only, so not in the
    /// state word: nobody else ever asks (see the module docs' table).
    live: Cell<bool>,
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

    /// Drops the future if it is still there and publishes the cancellation.
    /// Called after a panic in `poll` too. Idempotent.
    ///
    /// # Safety
    /// As for `poll`.
    unsafe fn cancel(&self);
}

impl<E, F, U, M: Member> ChildCell<'_, E, F, U, M> {
    /// Drops the future in place, once, even if its destructor panics.
    ///
    /// # Safety
    /// Owner only (see `Child::poll`).
    unsafe fn drop_future(&self) {
        // `live`: true -> false, before the destructor runs, so a panicking
        // destructor is not run again by a later `cancel`.
        if self.live.replace(false) {
            // SAFETY: `live` was true, so the future is initialised and nobody
            // else touches it; clearing `live` first rules out a second drop.
            unsafe { ManuallyDrop::drop(&mut *self.future.get()) }
        }
    }

    /// Publishes the outcome (`output` already written unless cancelled) and
    /// wakes the handle. The scope's reference is released separately.
    fn publish(&self, flags: usize) {
        let header = &self.join.header;
        // `COMPLETE` (with `CANCELLED` when no value was written): the release
        // half hands `output` over to the handle's acquire load; the scope
        // never touches `output` again.
        header.state.fetch_or(flags, Ordering::AcqRel);
        // The cell's own pointer (the join part is at offset 0), not one made
        // from `&self.join`: a set frees the cell through what it is given.
        self.join.member.published(header, self.link.this.cast());
    }
}

impl<'env, E, F, U, M> Child<E> for ChildCell<'env, E, F, U, M>
where
    F: Future<Output = Result<U, E>>,
    M: Member,
{
    unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        debug_assert!(self.live.get());
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
                // `HANDLE` may be cleared right after this load: then the value
                // is written for nobody, and the last owner's `dealloc` drops it.
                if self.join.header.state.load(Ordering::Acquire) & HANDLE != 0 {
                    // SAFETY: nobody reads `output` before `COMPLETE` is set.
                    unsafe { *self.join.output.get() = Some(value) };
                    self.publish(COMPLETE);
                }
                // Else nobody can ever read the value: drop it now.
                Poll::Ready(Ok(()))
            }
            Err(error) => {
                // The error goes to the scope; the handle sees `CANCELLED`.
                self.publish(COMPLETE | CANCELLED);
                Poll::Ready(Err(error))
            }
        }
    }

    fn spawned_at(&self) -> &'static Location<'static> {
        self.link.spawned_at
    }

    fn info(&self) -> Option<RecordRef> {
        self.link.info
    }

    unsafe fn cancel(&self) {
        // Publish even if the destructor panics: the handle must not wait forever.
        struct PublishOnExit<'a, 'env, E, F, U, M: Member>(&'a ChildCell<'env, E, F, U, M>);
        impl<E, F, U, M: Member> Drop for PublishOnExit<'_, '_, E, F, U, M> {
            fn drop(&mut self) {
                // Relaxed: only the owner sets `COMPLETE`, and this is the owner.
                // Set already if the child finished (idempotence).
                if self.0.join.header.state.load(Ordering::Relaxed) & COMPLETE == 0 {
                    self.0.publish(COMPLETE | CANCELLED);
                }
            }
        }
        let _publish = PublishOnExit(self);
        // SAFETY: owner-only, per this method's contract.
        unsafe { self.drop_future() };
    }
}

/// Frees a cell made by `new_cell`, a `ChildCell<'env, E, F, U, M>`.
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
    if h.state.load(Ordering::Acquire) & HANDLE == 0
        || h.state.fetch_and(!SCOPE, Ordering::AcqRel) & HANDLE == 0
    {
        // SAFETY: both references are gone and the scope dropped the future.
        unsafe { dealloc(header) }
    }
}

/// Allocates a child's cell and returns its spawn link (the scope's side)
/// and its join part (the handle side), each holding one reference.
#[inline]
pub(crate) fn new_cell<'env, E, F, U, M>(
    future: F,
    spawned_at: &'static Location<'static>,
    info: Option<RecordRef>,
    member: M,
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
    let cell =
        Box::into_raw(Box::<ChildCell<'env, E, F, U, M>>::new_uninit())
            .cast::<ChildCell<'env, E, F, U, M>>();
    // SAFETY: `Box::into_raw` never returns null.
    let cell = unsafe { NonNull::new_unchecked(cell) };
    let this: NonNull<dyn Child<E> + 'env> = cell;
    let p = cell.as_ptr();
    // SAFETY: `p` points to a fresh allocation for a `ChildCell`, not yet
    // shared; each field is written once, in place, before anyone reads it.
    unsafe {
        ptr::addr_of_mut!((*p).join).write(JoinPart {
            header: Header {
                state: AtomicUsize::new(SCOPE | HANDLE),
                dealloc: dealloc::<E, F, U, M>,
            },
            member,
            output: UnsafeCell::new(None),
        });
        ptr::addr_of_mut!((*p).link).write(SpawnLink {
            next: Cell::new(ptr::null_mut()),
            this,
            spawned_at,
            info,
        });
        ptr::addr_of_mut!((*p).live).write(Cell::new(true));
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

/// Asks the scope to drop the child at its next turn, if it has not
/// finished; true if the request was new. The caller then tells the scope
/// (`ScopeState::aborted`).
///
/// # Safety
/// The caller holds the handle side's reference.
pub(crate) unsafe fn request_abort<U, M>(join: NonNull<JoinPart<U, M>>) -> bool {
    // SAFETY: the handle side's reference keeps the cell alive.
    let header = unsafe { &join.as_ref().header };
    // `ABORT`, before the scope is told: the scope's acquire of `aborted`
    // (or of its wake) makes it visible to the scan.
    header.state.fetch_or(ABORT, Ordering::AcqRel) & (COMPLETE | ABORT) == 0
}

/// Lets go of the handle side's reference; frees the cell if the scope let
/// go of its own already.
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
    if prev & SCOPE == 0 {
        // SAFETY: both references are gone, and the scope dropped the future
        // before it released its own.
        unsafe { dealloc(join.cast()) }
    }
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
pub(crate) unsafe fn discard_unspawned<E>(link: NonNull<SpawnLink<'_, E>>) {
    // SAFETY: the cell is still exclusively ours.
    unsafe {
        let child = link.as_ref().this;
        child.as_ref().cancel();
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
    /// `join` is a lone child's (`M = Lone`), and the caller hands over the
    /// handle side's reference.
    pub(crate) unsafe fn from_part(join: NonNull<JoinPart<U, Lone>>) -> Self {
        JoinHandle {
            join,
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

    /// The child's outcome: `Some(value)`, `None` if it was dropped unfinished.
    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Option<U>> {
        let part = self.part();
        let mut state = part.header.state.load(Ordering::Acquire);
        if state & COMPLETE == 0 {
            part.member.waker.register(cx.waker());
            state = part.header.state.load(Ordering::Acquire);
            if state & COMPLETE == 0 {
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
            None => panic!(
                "corral: awaited the JoinHandle of a child that was dropped before it \
                 finished (its scope failed or was dropped, or a stop's grace ran out); \
                 JoinHandle::or_dropped yields None instead"
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

impl<U> Drop for JoinHandle<U> {
    fn drop(&mut self) {
        // SAFETY: the handle holds the handle side's reference, given up here.
        unsafe { release_handle_ref(self.join) }
    }
}

impl<U> fmt::Debug for JoinHandle<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
