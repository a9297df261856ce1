//! `supervised`: a child whose error is its own business (Kotlin's
//! `supervisorScope`, tokio's `JoinSet`, asyncio's
//! `gather(return_exceptions=True)`).
//!
//! Supervision is not a kind of scope but a way of spawning: the adapter
//! moves a child's `Err` one level in, into the value its handle yields,
//! so the scope sees `Ok` and never fails because of it. Nothing in the
//! child set knows about it, a supervised child costs what a plain one
//! does, and the one scope may hold supervised and fail-fast children side
//! by side.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// A child whose error goes to its handle instead of failing its scope:
    /// see [`supervised`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the wrapped future, and nothing else: it holds no
    /// state of its own.
    ///
    /// # Auto traits
    ///
    /// `Send`, `Sync` and `Unpin` exactly when `F` is: the scope's error
    /// type `E2` is only named. So a `!Send` child stays `!Send`:
    ///
    /// ```compile_fail,E0277
    /// fn send<T: Send>(_: T) {}
    /// let not_send = std::future::ready(Ok::<_, ()>(std::rc::Rc::new(1)));
    /// send(corral::supervised::<_, _, (), ()>(not_send));
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Supervised<F, E2> {
        #[pin]
        inner: F,
        // `fn() -> E2`: names the scope's error type without owning one, so
        // `Supervised` is `Send`, `Sync` and `Unpin` exactly when `F` is.
        _scope_error: PhantomData<fn() -> E2>,
    }
}

/// Wraps a child so that its error reaches its [`JoinHandle`](crate::JoinHandle)
/// instead of failing the scope: Kotlin's `supervisorScope`, for one child.
///
/// `supervised(fut)` turns a future of `Result<U, E>` into one of
/// `Result<Result<U, E>, E2>` that is always `Ok(fut's output)`; `E2` is the
/// scope's error type, inferred at the spawn. So
/// `s.spawn(corral::supervised(child))` gives a `JoinHandle<Result<U, E>>`:
/// a failing child ends alone, its siblings and the body run on, and the
/// error is read from its handle. It works with every way of spawning:
/// [`Scope::spawn`](crate::Scope::spawn),
/// [`spawn_on`](crate::Scope::spawn_on),
/// [`spawn_bounded`](crate::Scope::spawn_bounded), [`local_scope`](crate::local_scope)'s
/// spawns, and [`JoinSet::spawn`](crate::JoinSet::spawn), whose
/// [`join_next`](crate::JoinSet::join_next) then yields each child's
/// `Result<U, E>` as it finishes (as tokio's `JoinSet` does). The error
/// types of child and scope are independent: a scope that cannot fail
/// ([`Infallible`](std::convert::Infallible)) may supervise children that
/// can.
///
/// What stays as it was:
///
/// - **A panic still fails the scope.** A panic is a bug, not an outcome:
///   the siblings are dropped and the panic is resumed from the scope's
///   poll, as for any child. Kotlin's `supervisorScope` and Java's
///   `StructuredTaskScope.Joiner.awaitAll` are the models for errors;
///   Rust keeps panics apart from errors, and a scope resumes a child's
///   panic as `std::thread::scope` does. A child whose panics should be
///   values catches them itself, with `futures::FutureExt::catch_unwind`
///   (see the second example).
/// - **The scope's own errors still fail it.** The body's `Err`, and the
///   `Err` of a child spawned without the adapter, drop every child,
///   supervised ones included, and are returned.
/// - **An error nobody reads is dropped.** A supervised child whose handle
///   was dropped keeps running; its error, if it fails, is dropped with its
///   output. Keep the handle (or use a [`JoinSet`](crate::JoinSet)) to see it.
///
/// # Examples
///
/// One child fails, its sibling runs on, the scope succeeds:
///
/// ```
/// # futures::executor::block_on(async {
/// let outcomes = corral::scope(|s| async move {
///     let bad = s.spawn(corral::supervised(async { Err::<u32, _>("refused") }));
///     let good = s.spawn(corral::supervised(async {
///         corral::yield_now().await;
///         Ok::<u32, &str>(7)
///     }));
///     Ok::<_, std::io::Error>((bad.await, good.await))
/// })
/// .await?;
/// assert_eq!(outcomes, (Err("refused"), Ok(7)));
/// # Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
///
/// A panic is not supervised; a child that wants its panics as values
/// catches them:
///
/// ```
/// use std::panic::AssertUnwindSafe;
///
/// use futures::FutureExt;
///
/// # futures::executor::block_on(async {
/// let caught = corral::scope(|s| async move {
///     let h = s.spawn(corral::supervised(
///         AssertUnwindSafe(async {
///             if true {
///                 panic!("bug");
///             }
///             Ok::<u32, String>(1)
///         })
///         .catch_unwind()
///         .map(|caught| caught.unwrap_or_else(|_| Err("it panicked".to_string()))),
///     ));
///     Ok::<_, ()>(h.await)
/// })
/// .await;
/// assert_eq!(caught, Ok(Err("it panicked".to_string())));
/// # });
/// ```
///
/// A set of supervised children yields every outcome, in completion order:
///
/// ```
/// # futures::executor::block_on(async {
/// let (ok, failed) = corral::scope(|s| async move {
///     let mut set = corral::JoinSet::new(&s);
///     for i in 0..6u32 {
///         set.spawn(corral::supervised(async move {
///             if i % 3 == 0 { Err(i) } else { Ok(i) }
///         }));
///     }
///     let (mut ok, mut failed) = (0, 0);
///     while let Some(outcome) = set.join_next().await {
///         match outcome {
///             Ok(_) => ok += 1,
///             Err(_) => failed += 1,
///         }
///     }
///     Ok::<_, std::convert::Infallible>((ok, failed))
/// })
/// .await
/// .unwrap();
/// assert_eq!((ok, failed), (4, 2));
/// # });
/// ```
pub fn supervised<F, U, E, E2>(future: F) -> Supervised<F, E2>
where
    F: Future<Output = Result<U, E>>,
{
    Supervised {
        inner: future,
        _scope_error: PhantomData,
    }
}

impl<F, U, E, E2> Future for Supervised<F, E2>
where
    F: Future<Output = Result<U, E>>,
{
    type Output = Result<Result<U, E>, E2>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(Ok)
    }
}

impl<F, E2> fmt::Debug for Supervised<F, E2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervised").finish_non_exhaustive()
    }
}
