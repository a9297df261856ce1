//! [`Reason`]: why a child was dropped before it finished, or why a scope
//! was asked to stop. Kept where it is needed: a scope's stop request in its
//! nesting registry (`state.rs`, `stop.rs`), a dropped child's in its cell
//! (its kind in the state word, its place in the spawn link, `child.rs`).

use std::fmt;
use std::panic::Location;

use crate::names::Quoted;

/// Why a child was dropped before it finished ([`JoinHandle::outcome`]), or
/// why a scope was asked to stop ([`StopHandle::reason`]).
///
/// A child dropped at the end of a stop's grace carries the stop's reason
/// (a request, a deadline, a soft failure); one dropped by its scope's
/// failure carries the failure, with where the failing child was spawned
/// (or where the scope was opened, for the body's failure).
///
/// [`JoinHandle::outcome`]: crate::JoinHandle::outcome
/// [`StopHandle::reason`]: crate::StopHandle::reason
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let h = s.spawn(std::future::pending::<Result<(), ()>>());
///     h.abort();
///     assert_eq!(h.outcome().await, Err(corral::Reason::Aborted));
///     Ok::<_, ()>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// [`JoinHandle::abort`](crate::JoinHandle::abort) or an
    /// [`AbortHandle`](crate::AbortHandle).
    Aborted,
    /// An error: of the child itself, or of a sibling or the body, which
    /// failed the scope. Where the failing child was spawned; for the
    /// body's error, where the scope was opened.
    Failed(&'static Location<'static>),
    /// A panic, as for [`Failed`](Self::Failed).
    Panicked(&'static Location<'static>),
    /// A stop request ([`Scope::stop`](crate::Scope::stop), a
    /// [`StopHandle`](crate::StopHandle), or an enclosing scope's), and its
    /// grace ended: where the request was made.
    Stopped(&'static Location<'static>),
    /// The nursery's soft deadline
    /// ([`stop_at`](crate::Nursery::stop_at),
    /// [`stop_after`](crate::Nursery::stop_after)) passed, and the grace
    /// after it ended.
    Deadline,
    /// The scope future was dropped.
    ScopeDropped,
}

impl Reason {
    /// The kind, as a number from 1 to 6 (0 is "no reason"), for the state
    /// word of a cell.
    pub(crate) fn kind(self) -> usize {
        match self {
            Reason::Aborted => 1,
            Reason::Failed(_) => 2,
            Reason::Panicked(_) => 3,
            Reason::Stopped(_) => 4,
            Reason::Deadline => 5,
            Reason::ScopeDropped => 6,
        }
    }

    /// The place, for the kinds that have one.
    pub(crate) fn location(self) -> Option<&'static Location<'static>> {
        match self {
            Reason::Failed(at) | Reason::Panicked(at) | Reason::Stopped(at) => Some(at),
            Reason::Aborted | Reason::Deadline | Reason::ScopeDropped => None,
        }
    }

    /// The reason of `kind` (from [`kind`](Self::kind)) with the place `at`;
    /// `None` for 0 (no reason recorded).
    pub(crate) fn from_parts(kind: usize, at: &'static Location<'static>) -> Option<Self> {
        Some(match kind {
            1 => Reason::Aborted,
            2 => Reason::Failed(at),
            3 => Reason::Panicked(at),
            4 => Reason::Stopped(at),
            5 => Reason::Deadline,
            6 => Reason::ScopeDropped,
            _ => return None,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Aborted => f.write_str("aborted"),
            Reason::Failed(at) => write!(f, "an error ({})", Origin(at)),
            Reason::Panicked(at) => write!(f, "a panic ({})", Origin(at)),
            Reason::Stopped(at) => write!(f, "a stop requested at {at}"),
            Reason::Deadline => f.write_str("the scope's deadline"),
            Reason::ScopeDropped => f.write_str("the scope future was dropped"),
        }
    }
}

impl std::error::Error for Reason {}

/// Whose failure: the place of a failing child's spawn or of the scope's
/// opening, with its name if it was given one (`crate::names`).
struct Origin(&'static Location<'static>);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::names::name_of(self.0) {
            Some(name) => write!(f, "of {}, spawned or opened at {}", Quoted(name), self.0),
            None => write!(
                f,
                "of the child spawned, or the scope opened, at {}",
                self.0
            ),
        }
    }
}
