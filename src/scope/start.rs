//! `start`: spawn a child and wait until it says it is ready (Trio's
//! `nursery.start`). The child gets a [`Ready`] sender; the caller's
//! [`Start`] future resolves with the value the child sends, while the
//! child runs on in the scope. Until then the child belongs to its starter
//! as much as to the scope: an error before it is ready goes to the
//! starter, not the scope, and a starter that gives up (its `Start` dropped)
//! takes the child with it.
//!
//! The child is an ordinary child of the scope from the start (the task tree
//! shows it where `start` was called), wrapped in [`Starting`], which shares
//! a small state with the `Start` future and the `Ready` sender behind a
//! mutex. Once the child is ready the wrapper stops looking (one atomic load
//! a poll), so a long-running server costs nothing more than a plain child.
//!
//! In a tracked scope the child's task-tree record says *not ready yet*
//! until the wrapper sees the value sent: at the end of the poll that sent
//! it, or at the next poll if it was sent from elsewhere. The wrapper, not
//! `Ready`, clears it, because only the wrapper is sure to run while the
//! record is the child's: a `Ready` may be kept past its child's end.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::records::RecordRef;
use crate::util::lock;
use crate::wait_point::{Wait, note};

/// Why a [`Start`] gave no ready value.
///
/// # Examples
///
/// ```
/// use corral::StartError;
///
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let refused = s.start(|_ready: corral::Ready<u16>| async { Err("no port free") }).await;
///     assert!(matches!(refused, Err(StartError::Failed("no port free"))));
///     let quit = s.start(|_ready: corral::Ready<u16>| async { Ok(()) }).await;
///     assert!(matches!(quit, Err(StartError::Ended)));
///     Ok::<_, &str>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError<E> {
    /// The child returned this error before it was ready. It went to the
    /// starter only: the scope and the child's siblings are not affected.
    Failed(E),
    /// The child finished (`Ok`) without sending a ready value.
    Ended,
}

impl<E: fmt::Display> fmt::Display for StartError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Failed(e) => write!(f, "the child failed before it was ready: {e}"),
            StartError::Ended => f.write_str("the child ended before it was ready"),
        }
    }
}

impl<E: Error + 'static> Error for StartError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StartError::Failed(e) => Some(e),
            StartError::Ended => None,
        }
    }
}

/// Where a start stands.
enum Phase<R> {
    /// The child has not said anything yet.
    Waiting,
    /// The child sent its ready value; the starter has not taken it.
    Ready(R),
    /// The child failed before it was ready (its error is in `Start`'s and
    /// `Starting`'s error slot).
    Failed,
    /// The child ended before it was ready.
    Ended,
    /// The starter took the outcome, or went away.
    Over,
}

struct State<R> {
    phase: Phase<R>,
    /// The `Start` future was dropped before it resolved.
    starter_gone: bool,
    starter: Option<Waker>,
    child: Option<Waker>,
}

/// What the child's `Ready` sender, its wrapper and its starter share (the
/// error's type stays out of it, so `Ready` names only the value's).
struct Shared<R> {
    /// Set once the child sent its value: from then on the wrapper is a
    /// plain child (it looks at nothing else).
    ready: AtomicBool,
    state: Mutex<State<R>>,
}

/// The child's error before it was ready, from the wrapper to the starter.
type ErrorSlot<E> = Arc<Mutex<Option<E>>>;

impl<R> Shared<R> {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            ready: AtomicBool::new(false),
            state: Mutex::new(State {
                phase: Phase::Waiting,
                starter_gone: false,
                starter: None,
                child: None,
            }),
        })
    }
}

/// The sender a started child uses to say it is ready, with a value for
/// whoever called [`Scope::start`](crate::Scope::start).
///
/// `send` takes the sender by value, so a child cannot report twice. A
/// child that drops it without sending keeps running; its starter waits
/// until the child ends, then gets [`StartError::Ended`].
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let port = s
///         .start(|ready: corral::Ready<u16>| async move {
///             let _ = ready.send(8080); // bound: tell the starter
///             Ok(()) // ... and serve until the scope ends
///         })
///         .await;
///     assert_eq!(port, Ok(8080));
///     Ok::<_, ()>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
pub struct Ready<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Ready<R> {
    /// Hands `value` to the starter and marks the child ready: from now on
    /// it is an ordinary child of the scope (its error fails the scope).
    /// `Err(value)` if the starter is gone (its `Start` was dropped): the
    /// child is then dropped at its next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     let v = s.start(|ready| async move {
    ///         ready.send("up").unwrap();
    ///         Ok(())
    ///     });
    ///     assert_eq!(v.await, Ok("up"));
    ///     Ok::<_, ()>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    pub fn send(self, value: R) -> Result<(), R> {
        let starter = {
            let mut state = lock(&self.shared.state);
            if state.starter_gone || !matches!(state.phase, Phase::Waiting) {
                return Err(value);
            }
            state.phase = Phase::Ready(value);
            self.shared.ready.store(true, Ordering::Release);
            state.child = None;
            state.starter.take()
        };
        if let Some(starter) = starter {
            starter.wake();
        }
        Ok(())
    }
}

impl<R> fmt::Debug for Ready<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// A started child, as its scope runs it: reports an error or an end
    /// before it was ready to the starter (and ends quietly), and is dropped
    /// if the starter went away before it was ready.
    pub(crate) struct Starting<F, R, E> {
        #[pin]
        inner: F,
        shared: Arc<Shared<R>>,
        error: ErrorSlot<E>,
        // The child's task-tree record while it says "not ready yet" (in a
        // tracked scope); taken when the wrapper sees the value sent.
        record: Option<RecordRef>,
    }
}

impl<F, R, E> Future for Starting<F, R, E>
where
    F: Future<Output = Result<(), E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let this = self.project();
        if this.shared.ready.load(Ordering::Acquire) {
            if this.record.is_some() {
                // Sent from outside the child's own poll.
                note_ready(this.record);
            }
            return this.inner.poll(cx);
        }
        {
            let mut state = lock(&this.shared.state);
            if state.starter_gone && matches!(state.phase, Phase::Waiting) {
                // Its starter gave up on it: it goes with the starter.
                return Poll::Ready(Ok(()));
            }
            match &mut state.child {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                child => *child = Some(cx.waker().clone()),
            }
        }
        let outcome = match this.inner.poll(cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                if this.record.is_some() && this.shared.ready.load(Ordering::Relaxed) {
                    // Sent during this poll: the tree shows it at once.
                    note_ready(this.record);
                }
                return Poll::Pending;
            }
        };
        let starter = {
            let mut state = lock(&this.shared.state);
            if !matches!(state.phase, Phase::Waiting) {
                // Ready during this very poll (or the starter is gone):
                // an ordinary child's outcome.
                drop(state);
                return Poll::Ready(outcome);
            }
            state.phase = match outcome {
                Ok(()) => Phase::Ended,
                Err(error) => {
                    *lock(this.error) = Some(error);
                    Phase::Failed
                }
            };
            state.starter.take()
        };
        if let Some(starter) = starter {
            starter.wake();
        }
        // The starter has the outcome; the scope sees a quiet end.
        Poll::Ready(Ok(()))
    }
}

/// The started child sent its value: its record stops saying "not ready yet".
#[cold]
fn note_ready(record: &mut Option<RecordRef>) {
    if let Some(record) = record.take() {
        record.ready();
    }
}

impl<F, R, E> fmt::Debug for Starting<F, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Starting")
            .field("ready", &self.shared.ready.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The future [`Scope::start`](crate::Scope::start) and
/// [`LocalScope::start`](crate::LocalScope::start) return: the child's
/// ready value, once it sends one.
///
/// # Cancel safety
///
/// Dropping it before it resolves gives up on the child: a child not ready
/// yet is dropped at its next poll (its `Ready::send` returns the value), as
/// Trio cancels a child whose `start` is cancelled. A child already ready
/// runs on as an ordinary child, and only its ready value is lost.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     // A child that never says it is ready, given 10 ms.
///     let slow = s.start(|_ready: corral::Ready<()>| std::future::pending::<Result<(), ()>>());
///     let gave_up = corral::time::timeout(Duration::from_millis(10), slow).await;
///     assert!(gave_up.is_err()); // and the child is dropped with it
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Start<R, E> {
    shared: Arc<Shared<R>>,
    error: ErrorSlot<E>,
    done: bool,
    /// Where `start` was called, for the task tree (`wait_point.rs`).
    at: &'static Location<'static>,
}

impl<R, E> Future for Start<R, E> {
    type Output = Result<R, StartError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "corral: `Start` polled after it completed");
        let outcome = {
            let mut state = lock(&self.shared.state);
            match std::mem::replace(&mut state.phase, Phase::Over) {
                Phase::Waiting => {
                    state.phase = Phase::Waiting;
                    match &mut state.starter {
                        Some(waker) if waker.will_wake(cx.waker()) => {}
                        starter => *starter = Some(cx.waker().clone()),
                    }
                    note(Wait::Start, self.at);
                    return Poll::Pending;
                }
                Phase::Ready(value) => Ok(value),
                Phase::Failed => Err(StartError::Failed(
                    lock(&self.error)
                        .take()
                        .expect("corral: a failed start's error is in its slot"),
                )),
                Phase::Ended => Err(StartError::Ended),
                Phase::Over => unreachable!("corral: a start's outcome taken twice"),
            }
        };
        self.done = true;
        Poll::Ready(outcome)
    }
}

impl<R, E> Drop for Start<R, E> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (child, phase) = {
            let mut state = lock(&self.shared.state);
            state.starter_gone = true;
            state.starter = None;
            // An outcome nobody will take is dropped here, outside the lock.
            let phase = match state.phase {
                Phase::Waiting => None,
                _ => Some(std::mem::replace(&mut state.phase, Phase::Over)),
            };
            (state.child.take(), phase)
        };
        drop(phase);
        drop(lock(&self.error).take());
        if let Some(child) = child {
            child.wake();
        }
    }
}

impl<R, E> fmt::Debug for Start<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start")
            .field("ready", &self.shared.ready.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The pieces of a start: the child to spawn (given `body`'s future) and
/// the starter's future. `record`, the child's task-tree record if its
/// scope is tracked, says "not ready yet" until the child sends its value.
pub(crate) fn start<B, F, R, E>(
    body: B,
    record: Option<RecordRef>,
    at: &'static Location<'static>,
) -> (Starting<F, R, E>, Start<R, E>)
where
    B: FnOnce(Ready<R>) -> F,
{
    if let Some(record) = record {
        record.not_ready();
    }
    let shared = Shared::new();
    let error = Arc::new(Mutex::new(None));
    let inner = body(Ready {
        shared: shared.clone(),
    });
    (
        Starting {
            inner,
            shared: shared.clone(),
            error: error.clone(),
            record,
        },
        Start {
            shared,
            error,
            done: false,
            at,
        },
    )
}
