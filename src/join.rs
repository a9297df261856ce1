//! The gather family: `join_all`, `try_join_all`, `race`, `race_ok`.
//!
//! All four run on the scope's engine (the ready queue in `src/engine/`): a
//! wake polls only the future that was woken, every future gets its first poll in
//! input order, and one poll of the combinator does a bounded amount of work.
//! The futures are all of one type, so they live side by side in one boxed slice
//! (pinned there, dropped in place) rather than one allocation each.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::engine::{Children, Drained, Look, ReadyQueue};

/// The futures of one gather, polled through the ready queue.
struct Gather<F> {
    /// Pinned in place: the slice is never moved out of or reallocated; a
    /// finished future is dropped in place by setting its entry to `None`.
    futures: Box<[Option<F>]>,
    queue: ReadyQueue<()>,
    started: usize,
}

impl<F: Future> Gather<F> {
    fn new(futures: impl IntoIterator<Item = impl IntoFuture<IntoFuture = F>>) -> Self {
        let futures: Box<[Option<F>]> =
            futures.into_iter().map(|f| Some(f.into_future())).collect();
        let mut queue = ReadyQueue::new(futures.len(), ());
        queue.reserve(futures.len());
        Gather {
            futures,
            queue,
            started: 0,
        }
    }

    fn len(&self) -> usize {
        self.futures.len()
    }

    /// Polls woken futures, handing each output (with its input index) to
    /// `on_ready` until it breaks.
    fn poll_outputs<B>(
        &mut self,
        cx: &mut Context<'_>,
        on_ready: impl FnMut(usize, F::Output) -> ControlFlow<B>,
    ) -> Poll<B> {
        let mut children = GatherChildren {
            futures: &mut self.futures,
            started: &mut self.started,
            on_ready,
        };
        match self.queue.drive(&mut children, cx) {
            ControlFlow::Break(b) => {
                // Whatever is still running is dropped now, not when the
                // combinator itself is dropped.
                self.futures = Box::new([]);
                Poll::Ready(b)
            }
            ControlFlow::Continue(Drained::Idle | Drained::Budget) => Poll::Pending,
        }
    }
}

struct GatherChildren<'a, F, R> {
    futures: &'a mut [Option<F>],
    started: &'a mut usize,
    on_ready: R,
}

impl<F, R, B> Children<()> for GatherChildren<'_, F, R>
where
    F: Future,
    R: FnMut(usize, F::Output) -> ControlFlow<B>,
{
    type Break = B;

    fn next_fresh(&mut self, _queue: &mut ReadyQueue<()>, _look: Look) -> Option<usize> {
        (*self.started < self.futures.len()).then(|| {
            *self.started += 1;
            *self.started - 1
        })
    }

    fn poll_child(&mut self, index: usize, cx: &mut Context<'_>) -> ControlFlow<B> {
        // SAFETY: the boxed slice never moves its elements (see `Gather`), and a
        // finished future is only ever dropped in place through `Pin::set`.
        let mut entry = unsafe { Pin::new_unchecked(&mut self.futures[index]) };
        let Some(future) = entry.as_mut().as_pin_mut() else {
            return ControlFlow::Continue(()); // stale wake
        };
        match future.poll(cx) {
            Poll::Pending => ControlFlow::Continue(()),
            Poll::Ready(output) => {
                entry.set(None);
                (self.on_ready)(index, output)
            }
        }
    }
}

impl<F> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self.futures.iter().filter(|f| f.is_some()).count();
        f.debug_struct("Gather").field("pending", &pending).finish()
    }
}

/// Future for [`join_all`].
///
/// # Cancel safety
///
/// See [`join_all`](join_all#cancel-safety).
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct JoinAll<F: Future> {
    gather: Gather<F>,
    outputs: Vec<Option<F::Output>>,
    remaining: usize,
    done: bool,
}

/// Waits for every future and returns their outputs in input order (asyncio's
/// `gather`). The futures run concurrently inside the returned future.
///
/// An empty input resolves at once to an empty `Vec`.
///
/// # Panics
///
/// Polling the future again after it resolved panics.
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future drops every input future still
/// running, in place, before the drop returns, and the outputs of those that
/// already finished are dropped with it (lost).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let squares = corral::join_all((1..=3).map(|i| async move { i * i })).await;
/// assert_eq!(squares, [1, 4, 9]);
/// # });
/// ```
pub fn join_all<I>(futures: I) -> JoinAll<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let gather = Gather::new(futures);
    let n = gather.len();
    JoinAll {
        gather,
        outputs: (0..n).map(|_| None).collect(),
        remaining: n,
        done: false,
    }
}

// The outputs are never pinned (the futures live in their own boxed slice).
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "corral: join_all polled after completion");
        if this.remaining > 0 {
            let (outputs, remaining) = (&mut this.outputs, &mut this.remaining);
            let all_done = this.gather.poll_outputs(cx, |i, out| {
                outputs[i] = Some(out);
                *remaining -= 1;
                if *remaining == 0 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if all_done.is_pending() {
                return Poll::Pending;
            }
        }
        this.done = true;
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(
            outputs
                .into_iter()
                .map(|o| o.expect("join_all polled after completion"))
                .collect(),
        )
    }
}

/// Future for [`try_join_all`].
///
/// # Cancel safety
///
/// See [`try_join_all`](try_join_all#cancel-safety).
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct TryJoinAll<F, T> {
    gather: Gather<F>,
    outputs: Vec<Option<T>>,
    remaining: usize,
    done: bool,
}

/// Waits for every future to return `Ok` and returns the values in input order;
/// the first `Err` drops every other future and is returned at once.
///
/// An empty input resolves at once to `Ok(vec![])`.
///
/// # Panics
///
/// Polling the future again after it resolved panics.
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future drops every input future still
/// running, in place, before the drop returns, and the `Ok` values already
/// collected are dropped with it (lost).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let ok = corral::try_join_all((1..=2).map(|i| async move { Ok::<_, &str>(i) })).await;
/// assert_eq!(ok, Ok(vec![1, 2]));
///
/// let failing = corral::try_join_all((0..2).map(|i| async move {
///     if i == 0 {
///         Err("bad")
///     } else {
///         std::future::pending::<Result<i32, &str>>().await // dropped at the error
///     }
/// }));
/// assert_eq!(failing.await, Err("bad"));
/// # });
/// ```
pub fn try_join_all<I, T, E>(futures: I) -> TryJoinAll<<I::Item as IntoFuture>::IntoFuture, T>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T, E>>,
{
    let gather = Gather::new(futures);
    let n = gather.len();
    TryJoinAll {
        gather,
        outputs: (0..n).map(|_| None).collect(),
        remaining: n,
        done: false,
    }
}

impl<F, T> Unpin for TryJoinAll<F, T> {}

impl<F, T, E> Future for TryJoinAll<F, T>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "corral: try_join_all polled after completion");
        if this.remaining > 0 {
            let (outputs, remaining) = (&mut this.outputs, &mut this.remaining);
            let done = this.gather.poll_outputs(cx, |i, out| match out {
                Ok(value) => {
                    outputs[i] = Some(value);
                    *remaining -= 1;
                    if *remaining == 0 {
                        ControlFlow::Break(None)
                    } else {
                        ControlFlow::Continue(())
                    }
                }
                Err(error) => ControlFlow::Break(Some(error)),
            });
            match done {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(error)) => {
                    this.done = true;
                    this.outputs = Vec::new();
                    return Poll::Ready(Err(error));
                }
                Poll::Ready(None) => {}
            }
        }
        this.done = true;
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(Ok(outputs
            .into_iter()
            .map(|o| o.expect("try_join_all polled after completion"))
            .collect()))
    }
}

/// Future for [`race`].
///
/// # Cancel safety
///
/// See [`race`](race#cancel-safety).
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Race<F> {
    gather: Gather<F>,
}

/// Returns the output of the first future to finish and drops the others.
///
/// Futures are polled in input order, so among futures that are ready on their
/// first poll, the earliest in the input wins.
///
/// # Panics
///
/// Panics at once if `futures` is empty: there would be nothing to wait for.
/// Polling the future again after it resolved panics.
///
/// # Cancel safety
///
/// Dropping the future drops every input future, in place, before the drop
/// returns; it is as cancel safe as the least cancel-safe input (no input has
/// finished yet, so no output is lost).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let first = corral::race([
///     Box::pin(std::future::pending()) as std::pin::Pin<Box<dyn Future<Output = u8>>>,
///     Box::pin(async { 7 }),
/// ])
/// .await;
/// assert_eq!(first, 7);
/// # });
/// ```
#[track_caller]
pub fn race<I>(futures: I) -> Race<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let gather = Gather::new(futures);
    assert!(
        gather.len() > 0,
        "corral: race of no futures would never resolve"
    );
    Race { gather }
}

impl<F: Future> Future for Race<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            this.gather.len() > 0,
            "corral: race polled after completion"
        );
        this.gather
            .poll_outputs(cx, |_, out| ControlFlow::Break(out))
    }
}

/// Future for [`race_ok`].
///
/// # Cancel safety
///
/// See [`race_ok`](race_ok#cancel-safety).
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct RaceOk<F, E> {
    gather: Gather<F>,
    errors: Vec<Option<E>>,
    remaining: usize,
    done: bool,
}

/// Returns the first `Ok` and drops the others; if every future fails, returns
/// all the errors in input order.
///
/// This is the shape of a hedged request or happy eyeballs: try several ways,
/// keep the first that works. An empty input resolves at once to `Err(vec![])`.
///
/// # Panics
///
/// Polling the future again after it resolved panics.
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future drops every input future still
/// running, in place, before the drop returns, and the errors already
/// collected are dropped with it (lost). No `Ok` is lost: the first one ends
/// the race.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let attempt = |name: &'static str| async move {
///     if name == "good" { Ok(name.len()) } else { Err(name) }
/// };
/// assert_eq!(corral::race_ok([attempt("bad"), attempt("good")]).await, Ok(4));
/// assert_eq!(corral::race_ok([attempt("a"), attempt("b")]).await, Err(vec!["a", "b"]));
/// # });
/// ```
pub fn race_ok<I, T, E>(futures: I) -> RaceOk<<I::Item as IntoFuture>::IntoFuture, E>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T, E>>,
{
    let gather = Gather::new(futures);
    let n = gather.len();
    RaceOk {
        gather,
        errors: (0..n).map(|_| None).collect(),
        remaining: n,
        done: false,
    }
}

impl<F, E> Unpin for RaceOk<F, E> {}

impl<F, T, E> Future for RaceOk<F, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Vec<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "corral: race_ok polled after completion");
        if this.remaining > 0 {
            let (errors, remaining) = (&mut this.errors, &mut this.remaining);
            let done = this.gather.poll_outputs(cx, |i, out| match out {
                Ok(value) => ControlFlow::Break(Some(value)),
                Err(error) => {
                    errors[i] = Some(error);
                    *remaining -= 1;
                    if *remaining == 0 {
                        ControlFlow::Break(None)
                    } else {
                        ControlFlow::Continue(())
                    }
                }
            });
            match done {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(value)) => {
                    this.done = true;
                    this.errors = Vec::new();
                    return Poll::Ready(Ok(value));
                }
                Poll::Ready(None) => {}
            }
        }
        this.done = true;
        let errors = std::mem::take(&mut this.errors);
        Poll::Ready(Err(errors.into_iter().flatten().collect()))
    }
}
