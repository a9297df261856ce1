//! Every error of a scope, not only the first: [`Nursery::every_error`],
//! the [`ErrorGroup`] it returns, and the future that gathers it.
//!
//! The child set keeps the errors after the first while the scope fails
//! (`set.rs`, `Errors`); the [`EveryErrorFuture`] takes them when the scope
//! returns its first error and puts them behind it.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::Nursery;
use super::future::{LocalScopeFuture, ScopeFuture};
use super::handle::{LocalScope, Scope};
use super::set::Located;
use crate::names::Quoted;

/// A [`Nursery`] that keeps every error: made by
/// [`Nursery::every_error`], it opens scopes whose error is an
/// [`ErrorGroup`].
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let out = corral::Nursery::new()
///     .every_error()
///     .scope(|s| async move {
///         s.spawn(async { Err::<(), _>(1) });
///         Ok(())
///     })
///     .await;
/// assert_eq!(out.unwrap_err().into_first(), 1);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EveryError {
    pub(super) nursery: Nursery,
}

impl EveryError {
    /// Opens a [`scope`](crate::scope) with the nursery's settings whose
    /// error is every error of the scope.
    ///
    /// `'env` is as for [`scope`](crate::scope): see
    /// [Lifetimes](crate::scope#lifetimes).
    ///
    /// # Cancel safety
    ///
    /// As [`scope`](crate::scope#cancel-safety): dropping the future drops
    /// every local child, then the body, before the drop returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let out = corral::Nursery::new()
    ///     .every_error()
    ///     .scope(|s| async move { Ok::<_, ()>(s.spawn(async { Ok(2) }).await) })
    ///     .await;
    /// assert_eq!(out.ok(), Some(2));
    /// # });
    /// ```
    #[track_caller]
    pub fn scope<'env, T, E, B, Fut>(
        self,
        body: B,
    ) -> EveryErrorFuture<ScopeFuture<'env, T, E, Fut>>
    where
        B: FnOnce(Scope<'env, E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: 'env,
        E: 'env,
    {
        EveryErrorFuture {
            inner: self.nursery.open_scope(body, true),
        }
    }

    /// Opens a [`local_scope`](crate::local_scope) with the nursery's
    /// settings whose error is every error of the scope.
    ///
    /// # Cancel safety
    ///
    /// As [`scope`](crate::scope#cancel-safety).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let rc = std::rc::Rc::new(());
    /// let out = corral::Nursery::new()
    ///     .every_error()
    ///     .local_scope(|s| async move {
    ///         s.spawn(async move { Err::<(), _>(std::rc::Rc::strong_count(&rc)) });
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert_eq!(*out.unwrap_err().first(), 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn local_scope<'env, T, E, B, Fut>(
        self,
        body: B,
    ) -> EveryErrorFuture<LocalScopeFuture<'env, T, E, Fut>>
    where
        B: FnOnce(LocalScope<'env, E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: 'env,
        E: 'env,
    {
        EveryErrorFuture {
            inner: self.nursery.open_local_scope(body, true),
        }
    }
}

pin_project! {
    /// The future of [`EveryError::scope`] and [`EveryError::local_scope`]:
    /// the scope's value, or every error it had as an [`ErrorGroup`].
    ///
    /// # Cancel safety
    ///
    /// As the scope future it wraps: dropping it drops every local child,
    /// then the body.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct EveryErrorFuture<F> {
        #[pin]
        inner: F,
    }
}

/// The group's first error, then the later ones.
fn group<E>(
    first: E,
    first_at: Option<&'static Location<'static>>,
    later: Vec<Located<E>>,
) -> ErrorGroup<E> {
    let at = first_at.expect("corral: a scope that keeps every error knows its first one's place");
    let mut errors = Vec::with_capacity(later.len() + 1);
    errors.push(GroupError { error: first, at });
    errors.extend(
        later
            .into_iter()
            .map(|(error, at)| GroupError { error, at }),
    );
    ErrorGroup { errors }
}

mod sealed {
    use std::panic::Location;
    use std::pin::Pin;

    /// A scope future that keeps every error: `ScopeFuture` and
    /// `LocalScopeFuture` (sealed: nothing else can be).
    pub trait Gathers<E> {
        /// The errors after the first and where the first came from, once
        /// the scope returned its first error.
        #[allow(clippy::type_complexity)]
        fn take_errors(
            self: Pin<&mut Self>,
        ) -> (
            Option<&'static Location<'static>>,
            Vec<(E, &'static Location<'static>)>,
        );
    }
}

impl<T, E, Fut> sealed::Gathers<E> for ScopeFuture<'_, T, E, Fut> {
    fn take_errors(self: Pin<&mut Self>) -> (Option<&'static Location<'static>>, Vec<Located<E>>) {
        ScopeFuture::take_errors(self)
    }
}

impl<T, E, Fut> sealed::Gathers<E> for LocalScopeFuture<'_, T, E, Fut> {
    fn take_errors(self: Pin<&mut Self>) -> (Option<&'static Location<'static>>, Vec<Located<E>>) {
        LocalScopeFuture::take_errors(self)
    }
}

impl<F, T, E> Future for EveryErrorFuture<F>
where
    F: Future<Output = Result<T, E>> + sealed::Gathers<E>,
{
    type Output = Result<T, ErrorGroup<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        Poll::Ready(match std::task::ready!(inner.as_mut().poll(cx)) {
            Ok(value) => Ok(value),
            Err(first) => {
                let (first_at, later) = inner.take_errors();
                Err(group(first, first_at, later))
            }
        })
    }
}

/// Every error of a scope opened with [`Nursery::every_error`], in the order
/// they happened: the first (the one a plain scope returns), then those of
/// children (or the body) that failed in the same turn, then those of the
/// soft phase of [`Nursery::stop_on_failure`]. Never empty. Each member
/// says where its child was spawned (the scope's opening for the body's).
///
/// `Display` shows the first error and how many more there are; iterate the
/// group (or [`iter`](Self::iter)) for the rest.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let errors = corral::Nursery::new()
///     .every_error()
///     .scope(|s| async move {
///         for e in ["a", "b"] {
///             s.spawn(async move {
///                 corral::yield_now().await; // both started, woken together
///                 Err::<(), _>(e)
///             });
///         }
///         Ok(())
///     })
///     .await
///     .unwrap_err();
/// assert_eq!(errors.to_string(), "a (and 1 more error)");
/// for e in &errors {
///     assert!(e.location().file().ends_with(".rs"));
/// }
/// assert_eq!(errors.into_errors(), ["a", "b"]);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorGroup<E> {
    errors: Vec<GroupError<E>>,
}

/// One error of an [`ErrorGroup`], with where its child was spawned.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let errors = corral::Nursery::new()
///     .every_error()
///     .scope(|s| async move {
///         s.spawn(async { Err::<(), _>("no route") }); // this line
///         Ok(())
///     })
///     .await
///     .unwrap_err();
/// let only = errors.iter().next().unwrap();
/// assert_eq!(*only.error(), "no route");
/// assert_eq!(only.location().line(), line!() - 7);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError<E> {
    error: E,
    at: &'static Location<'static>,
}

impl<E> GroupError<E> {
    /// The error.
    ///
    /// # Examples
    ///
    /// See [`GroupError`].
    pub fn error(&self) -> &E {
        &self.error
    }

    /// Where the child that returned it was spawned; for the body's error,
    /// where the scope was opened.
    ///
    /// # Examples
    ///
    /// See [`GroupError`].
    pub fn location(&self) -> &'static Location<'static> {
        self.at
    }

    /// The error, without its place.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let errors = corral::Nursery::new()
    ///     .every_error()
    ///     .scope(|_s| async { Err::<(), _>(7) })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(errors.into_iter().next().unwrap().into_error(), 7);
    /// # });
    /// ```
    pub fn into_error(self) -> E {
        self.error
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::names::name_of(self.at) {
            Some(name) => write!(f, "{} (of {}, at {})", self.error, Quoted(name), self.at),
            None => write!(f, "{} (at {})", self.error, self.at),
        }
    }
}

impl<E> ErrorGroup<E> {
    /// The first error: the one a plain scope would have returned.
    ///
    /// # Examples
    ///
    /// See [`Nursery::every_error`].
    pub fn first(&self) -> &E {
        &self.errors[0].error
    }

    /// The first error, the others dropped.
    ///
    /// # Examples
    ///
    /// See [`EveryError`].
    pub fn into_first(self) -> E {
        self.errors
            .into_iter()
            .next()
            .expect("an error group is never empty")
            .error
    }

    /// Every error with its place, in order.
    ///
    /// # Examples
    ///
    /// See [`GroupError`].
    pub fn iter(&self) -> std::slice::Iter<'_, GroupError<E>> {
        self.errors.iter()
    }

    /// Every error, in order, without their places.
    ///
    /// # Examples
    ///
    /// See [`ErrorGroup`].
    pub fn into_errors(self) -> Vec<E> {
        self.errors.into_iter().map(|e| e.error).collect()
    }
}

impl<E> IntoIterator for ErrorGroup<E> {
    type Item = GroupError<E>;
    type IntoIter = std::vec::IntoIter<GroupError<E>>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a, E> IntoIterator for &'a ErrorGroup<E> {
    type Item = &'a GroupError<E>;
    type IntoIter = std::slice::Iter<'a, GroupError<E>>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl<E: fmt::Display> fmt::Display for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.first(), f)?;
        match self.errors.len() - 1 {
            0 => Ok(()),
            1 => f.write_str(" (and 1 more error)"),
            more => write!(f, " (and {more} more errors)"),
        }
    }
}

/// The group is an error when its members are. It has no `source`: its
/// message already shows the first error; iterate it for the others.
impl<E: std::error::Error> std::error::Error for ErrorGroup<E> {}
