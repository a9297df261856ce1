//! The error a timeout yields when its deadline passes.

use std::fmt;

/// The deadline passed before the future finished: the error of
/// [`Timeout`](super::Timeout).
///
/// It converts into [`std::io::Error`] (kind [`TimedOut`](std::io::ErrorKind::TimedOut)),
/// and any error type with a `From<Elapsed>` impl lets `?` carry it out of a
/// scope child, which then fails the scope like any other error.
///
/// # Examples
///
/// ```
/// use corral::time::{Elapsed, timeout};
/// use std::time::Duration;
/// # futures::executor::block_on(async {
/// let never = std::future::pending::<()>();
/// let err: Elapsed = timeout(Duration::from_millis(1), never).await.unwrap_err();
/// assert_eq!(err.to_string(), "deadline has elapsed");
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(elapsed: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, elapsed)
    }
}
