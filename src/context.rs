//! Values that children inherit: a typed context that flows from a scope's
//! body into every child it spawns, local or parallel, at any depth.
//!
//! Set a value for a future with [`with_value`] (or for a block of plain
//! code with [`run_with`]); read it anywhere inside with [`get`] or [`with`].
//! A child sees the values in force **where it was spawned** (as Python's
//! `contextvars` copy the context into a new task, and Swift's task-locals
//! flow into child tasks), whether it runs on its scope's thread or, spawned
//! with [`spawn_on`](crate::Scope::spawn_on), on a runtime's; it keeps them
//! for its whole life, even if the block that set them has finished. A child
//! may shadow a value for its own subtree with another `with_value`; the
//! shadowed value stays in force everywhere else.
//!
//! "Where it was spawned" is where the spawn call runs: inside
//! `with_value`'s future or `run_with`'s closure. A spawn made where no value
//! is in force (say from a task of another runtime holding a clone of the
//! scope's handle) carries nothing, and its child then sees the values
//! around its scope's polls. A [`spawn_bounded`](crate::Scope::spawn_bounded)
//! spawns when its future completes, so its child takes the values in
//! force where that future is polled.
//!
//! Values are looked up by type: wrap plain types in a newtype of your own
//! (`struct RequestId(u64)`), so that two libraries never read each other's
//! values. Values are immutable once set, and must be `Send + Sync`, so that
//! a parallel child can read them from another thread (put a lock or an
//! atomic inside for a value children update).
//!
//! # Cost
//!
//! Nothing for a program that never sets a value but a thread-local load at
//! each spawn and a branch at each child poll. Setting one allocates (once,
//! at the future's first poll); a spawn where values are in force adds a
//! reference count; a read walks the values set around it, innermost first.
//!
//! # Examples
//!
//! ```
//! use corral::context;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct RequestId(u64);
//!
//! # futures::executor::block_on(async {
//! let seen = context::with_value(RequestId(7), async {
//!     corral::scope(|s| async move {
//!         let child = s.spawn(async {
//!             // A grandchild, spawned by the child: it sees the value too.
//!             corral::scope(|s| async move {
//!                 let grandchild = s.spawn(async { Ok(context::get::<RequestId>()) });
//!                 Ok(grandchild.await)
//!             })
//!             .await
//!         });
//!         Ok::<_, ()>(child.await)
//!     })
//!     .await
//! })
//! .await;
//! assert_eq!(seen, Ok(Some(RequestId(7))));
//! assert_eq!(context::get::<RequestId>(), None, "only inside");
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::frame::{self, ContextRef, Deadline};

pin_project! {
    /// The future returned by [`with_value`]: `future`, with a value in
    /// force for it and for every child spawned inside it.
    ///
    /// # Auto traits
    ///
    /// `Send` and `Sync` when `F` is (the value always is); `Unpin` when
    /// `F` is (the value is never pinned). A `!Send` future stays `!Send`:
    ///
    /// ```compile_fail,E0277
    /// fn send<T: Send>(_: T) {}
    /// let not_send = std::future::ready(std::rc::Rc::new(1));
    /// send(corral::context::with_value(7u32, not_send));
    /// ```
    ///
    /// and a value must be `Send + Sync`, as a parallel child may read it
    /// on another thread:
    ///
    /// ```compile_fail,E0277
    /// let _ = corral::context::with_value(std::rc::Rc::new(1), async {});
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct WithValue<T, F> {
        value: Option<T>,
        context: Option<ContextRef>,
        #[pin]
        future: F,
    }
}

/// Runs `future` with `value` in force: [`get`] and [`with`] find it inside
/// `future`, and so does every child spawned inside it, at any depth, local
/// or parallel, for the child's whole life.
///
/// The value is linked to the context in force at the future's first poll
/// (so values set further out stay visible unless this one shadows them, by
/// being of the same type). It is dropped once the future and every child
/// that inherited it are gone.
///
/// # Examples
///
/// ```
/// use corral::context;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Tenant(&'static str);
///
/// # futures::executor::block_on(async {
/// let inner = context::with_value(Tenant("outer"), async {
///     let before = context::get::<Tenant>();
///     // Shadowed for this block only.
///     let inside = context::with_value(Tenant("inner"), async { context::get::<Tenant>() }).await;
///     (before, inside, context::get::<Tenant>())
/// })
/// .await;
/// assert_eq!(
///     inner,
///     (Some(Tenant("outer")), Some(Tenant("inner")), Some(Tenant("outer")))
/// );
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping it drops `future` (and the value, once no child holds it);
/// `WithValue` adds nothing to `future`'s own cancel safety.
pub fn with_value<T, F>(value: T, future: F) -> WithValue<T, F>
where
    T: Send + Sync + 'static,
    F: Future,
{
    WithValue {
        value: Some(value),
        context: None,
        future,
    }
}

impl<T, F> Future for WithValue<T, F>
where
    T: Send + Sync + 'static,
    F: Future,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let context = match this.context {
            Some(context) => &*context,
            None => {
                let value = this
                    .value
                    .take()
                    .expect("corral: a WithValue polled after it panicked");
                this.context
                    .insert(ContextRef::new(frame::capture(), value))
            }
        };
        let future = this.future;
        frame::push(Deadline::None, Some(context), || future.poll(cx))
    }
}

impl<T: fmt::Debug, F> fmt::Debug for WithValue<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithValue")
            .field("started", &self.context.is_some())
            .finish_non_exhaustive()
    }
}

/// Runs `f` with `value` in force: the plain-code twin of [`with_value`],
/// for a block that spawns or reads without awaiting.
///
/// # Examples
///
/// ```
/// use corral::context;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Attempt(u32);
///
/// assert_eq!(context::run_with(Attempt(2), || context::get::<Attempt>()), Some(Attempt(2)));
/// assert_eq!(context::get::<Attempt>(), None);
/// ```
pub fn run_with<T, R>(value: T, f: impl FnOnce() -> R) -> R
where
    T: Send + Sync + 'static,
{
    let context = ContextRef::new(frame::capture(), value);
    frame::push(Deadline::None, Some(&context), f)
}

/// A copy of the innermost value of type `T` in force here, if one is.
///
/// # Examples
///
/// ```
/// use corral::context;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Locale(&'static str);
///
/// # futures::executor::block_on(async {
/// assert_eq!(context::get::<Locale>(), None);
/// let seen = context::with_value(Locale("fr"), async { context::get::<Locale>() }).await;
/// assert_eq!(seen, Some(Locale("fr")));
/// # });
/// ```
#[inline]
pub fn get<T: Clone + 'static>() -> Option<T> {
    with(|value: Option<&T>| value.cloned())
}

/// Calls `f` with the innermost value of type `T` in force here (`None` if
/// there is none), without copying it.
///
/// # Examples
///
/// ```
/// use corral::context;
///
/// struct Config {
///     retries: u32,
/// }
///
/// # futures::executor::block_on(async {
/// let retries = context::with_value(Config { retries: 3 }, async {
///     context::with(|config: Option<&Config>| config.map_or(0, |c| c.retries))
/// })
/// .await;
/// assert_eq!(retries, 3);
/// # });
/// ```
#[inline]
pub fn with<T: 'static, R>(f: impl FnOnce(Option<&T>) -> R) -> R {
    frame::with_context(|context| f(context.and_then(|c| c.find::<T>())))
}

/// A child spawned where a context was in force: its future, polled (and
/// dropped) with that context in force again. A spawn where none is spawns
/// the bare future, so a program that never sets a value pays nothing per
/// child.
pub(crate) struct InContext<F> {
    context: ContextRef,
    /// Dropped in place by `drop`, inside the context; never moved.
    future: ManuallyDrop<F>,
}

impl<F> InContext<F> {
    #[inline]
    pub(crate) fn new(context: ContextRef, future: F) -> Self {
        InContext {
            context,
            future: ManuallyDrop::new(future),
        }
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is pinned structurally: it is never moved out
        // (only dropped in place, in `drop`), and `InContext` has no `Unpin`
        // impl of its own that would let it move while `F` is pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        frame::push(Deadline::None, Some(&this.context), || future.poll(cx))
    }
}

impl<F> Drop for InContext<F> {
    fn drop(&mut self) {
        let future = &mut self.future;
        // The child's destructor runs with its context in force, as its
        // polls did.
        frame::push(Deadline::None, Some(&self.context), || {
            // SAFETY: dropped once, here, in place (it may be pinned), and
            // never used again.
            unsafe { ManuallyDrop::drop(future) }
        });
    }
}
