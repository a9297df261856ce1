//! Bounded concurrent processing of a stream, inside a scope:
//! `map_unordered` and `map_ordered`.
//!
//! The items run in a pool (`scope/pool.rs`): one child of the scope that
//! polls them in place, spawned when the first item is handed over and gone
//! whenever none is left. The input is pulled only while fewer than `limit`
//! items are held (running, or finished and not yet yielded, or waiting for
//! an earlier one in the ordered form), and the pool is polled by the
//! scope, not by whoever reads the output: a consumer busy with one value
//! never stalls the items in flight.

use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;

use futures_core::TryFuture;

use crate::Stopped;
use crate::scope::pool::Feed;
use crate::scope::{ScopeHandle, SpawnChild};
use crate::wait_point::{Wait, note};

#[track_caller]
fn check_limit(limit: usize, what: &str) {
    assert!(
        limit > 0,
        "corral: {what} with a limit of 0 would never start an item; use at least 1"
    );
}

/// Winds the map down on a stop request (its input is dropped), then pulls
/// at most `room` items from `input` (which becomes `None` when it ends) and
/// starts each. Stops at the input's `Pending`, which holds `cx`'s waker.
fn pull<St: Stream>(
    stopping: bool,
    mut input: Pin<&mut Option<St>>,
    cx: &mut Context<'_>,
    mut room: usize,
    mut start: impl FnMut(St::Item),
) {
    if stopping {
        input.set(None);
    }
    while room > 0 {
        let Some(stream) = input.as_mut().as_pin_mut() else {
            return;
        };
        match stream.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                start(item);
                room -= 1;
            }
            Poll::Ready(None) => input.set(None),
            Poll::Pending => return,
        }
    }
}

/// A map that holds no item and whose input is pending (with `cx`'s waker)
/// waits for a stop request too: nothing else would wake it to close the
/// input. `true`: the request is there. The watch is made the first time
/// a map is idle on its input, and kept.
fn stop_came<S: ScopeHandle>(scope: &S, watch: &mut Option<Stopped>, cx: &mut Context<'_>) -> bool {
    let watch = watch.get_or_insert_with(|| scope.stop_watch());
    Pin::new(watch).poll(cx).is_ready()
}

/// Hands `feed`'s new items to its pool, spawning one into `scope` if none
/// runs.
fn hand_over<S, Fut, U>(feed: &mut Feed<Fut, U>, scope: &S, spawned_at: &'static Location<'static>)
where
    S: SpawnChild<Fut, U>,
{
    feed.hand_over(|pool| scope.spawn_pool(pool, spawned_at));
}

/// A map's size hint: nothing is certain (an item may be dropped by a
/// stop's grace); at most the input's upper bound plus the items held.
fn size_hint<St: Stream>(input: Option<&St>, held: usize) -> (usize, Option<usize>) {
    match input {
        None => (0, Some(held)),
        Some(input) => (0, input.size_hint().1.and_then(|u| u.checked_add(held))),
    }
}

pin_project_lite::pin_project! {
    /// The stream of [`map_unordered`]: each item's value as soon as it is
    /// ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     // The last parameter is the items' future type.
    ///     let doubled: corral::stream::MapUnordered<_, _, _, _> =
    ///         corral::stream::map_unordered(&s, futures::stream::iter([1, 2]), 2, |x| async move {
    ///             Ok::<u32, ()>(x * 2)
    ///         });
    ///     let mut all: Vec<u32> = doubled.collect().await;
    ///     all.sort();
    ///     assert_eq!(all, [2, 4]);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct MapUnordered<S: ScopeHandle, St, F, Fut: TryFuture> {
        #[pin]
        input: Option<St>,
        feed: Feed<Fut, Fut::Ok>,
        scope: S,
        f: F,
        limit: usize,
        stop: Option<Stopped>,
        spawned_at: &'static Location<'static>,
    }
}

/// Runs `f` on each item of `input` inside `scope`, at most `limit` at
/// once, and yields their values as they finish.
///
/// This is the seed's bounded-concurrency pattern (a `Semaphore` around
/// each task of a `gather`) as a stream, without its cost in memory: the
/// input is pulled only when fewer than `limit` items are held (running, or
/// finished with a value not yet yielded), so a million-item input holds at
/// most `limit` of them. The items run in one child of the scope, a pool
/// that polls them in place (spawned when the first item is handed over,
/// gone whenever none is left): `f`'s futures may borrow what the scope's
/// children may, the first `Err` or panic fails the scope (dropping the rest
/// of the items, the stream and whoever reads it), and the scope polls them
/// even while the reader is busy with a value — the reader may await
/// something an item in flight must release first.
/// (`futures::StreamExt::buffer_unordered` polls its items only when read,
/// and deadlocks there.) The pool is one child to the scope: its
/// [`max_concurrency`](crate::Nursery::max_concurrency) counts it once, and
/// the task tree and slow-poll reports show it at the map's call site, its
/// poll time the sum of its items' polls in that turn.
///
/// A stop request ([`Scope::stop`](crate::Scope::stop), a
/// [`StopHandle`](crate::StopHandle)) winds the map down: it pulls no more
/// input, the items in flight run on (and see the request) and yield their
/// values, and the stream ends after them, leaving the rest of the input
/// unread; a map waiting on its input with no item in flight ends at the
/// request, without waiting for the input. A stop's grace that runs out
/// drops the items still in flight; they yield nothing. Dropping the stream
/// drops the items it holds, at the pool's next poll (the scope's next
/// turn).
///
/// # Panics
///
/// Panics if `limit` is 0 (no item could ever start). Polling the stream
/// after its scope has finished (a map that escaped the scope's body)
/// panics as [`Scope::spawn`](crate::Scope::spawn) does, when it spawns.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// # futures::executor::block_on(async {
/// let pages = ["a", "bb", "ccc", "dddd"];
/// let pages = &pages;
/// let total = corral::scope(|s| async move {
///     let sizes = corral::stream::map_unordered(
///         &s,
///         futures::stream::iter(pages.iter()),
///         2,
///         |page| async move { Ok::<_, ()>(page.len()) },
///     );
///     Ok(sizes.fold(0, |sum, n| async move { sum + n }).await)
/// })
/// .await;
/// assert_eq!(total, Ok(10));
/// # });
/// ```
///
/// ```should_panic
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let input = futures::stream::iter([1]);
///     let _ = corral::stream::map_unordered(&s, input, 0, |x| async move { Ok::<_, ()>(x) });
///     Ok::<_, ()>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[track_caller]
pub fn map_unordered<S, St, F, Fut>(
    scope: &S,
    input: St,
    limit: usize,
    f: F,
) -> MapUnordered<S, St, F, Fut>
where
    S: SpawnChild<Fut, Fut::Ok>,
    St: Stream,
    F: FnMut(St::Item) -> Fut,
    Fut: TryFuture,
{
    check_limit(limit, "map_unordered");
    MapUnordered {
        input: Some(input),
        feed: Feed::new(limit),
        scope: scope.clone(),
        f,
        limit,
        stop: None,
        spawned_at: Location::caller(),
    }
}

impl<S, St, F, Fut> Stream for MapUnordered<S, St, F, Fut>
where
    S: SpawnChild<Fut, Fut::Ok>,
    St: Stream,
    F: FnMut(St::Item) -> Fut,
    Fut: TryFuture,
{
    type Item = Fut::Ok;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Fut::Ok>> {
        let mut this = self.project();
        let room = this.limit.saturating_sub(this.feed.held());
        let stopping = this.scope.is_stopping() || this.feed.lost();
        pull(stopping, this.input.as_mut(), cx, room, |item| {
            this.feed.push((this.f)(item));
        });
        hand_over(this.feed, this.scope, this.spawned_at);
        if let Some((_, value)) = this.feed.take(cx) {
            return Poll::Ready(Some(value));
        }
        if this.feed.lost() {
            // A stop's grace dropped the items in flight (the stop closed
            // the input already).
            this.input.set(None);
        }
        // Nothing held and the input open: the fill above polled the input
        // (it had room) and it is pending, with our waker; a stop request
        // wakes us too, and closes it. Items held: the take above left our
        // waker for their values (they see a request and finish).
        if this.feed.held() == 0 && this.input.is_some() && stop_came(this.scope, this.stop, cx) {
            this.input.set(None);
        }
        if this.input.is_none() && this.feed.held() == 0 {
            Poll::Ready(None)
        } else {
            note(Wait::Stream, this.spawned_at);
            Poll::Pending
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        size_hint(self.input.as_ref(), self.feed.held())
    }
}

/// Done once the input has ended (or a stop closed it) and every item held
/// was yielded or accounted for.
impl<S, St, F, Fut> FusedStream for MapUnordered<S, St, F, Fut>
where
    S: SpawnChild<Fut, Fut::Ok>,
    St: Stream,
    F: FnMut(St::Item) -> Fut,
    Fut: TryFuture,
{
    fn is_terminated(&self) -> bool {
        self.input.is_none() && self.feed.held() == 0
    }
}

impl<S: ScopeHandle, St, F, Fut: TryFuture> fmt::Debug for MapUnordered<S, St, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("limit", &self.limit)
            .field("held", &self.feed.held())
            .field("input_done", &self.input.is_none())
            .finish_non_exhaustive()
    }
}

/// An item of the ordered form's window.
enum Slot<U> {
    Running,
    Ready(U),
    /// Dropped before it finished: nothing to yield.
    Skipped,
}

pin_project_lite::pin_project! {
    /// The stream of [`map_ordered`]: each item's value, in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     // The last parameter is the items' future type.
    ///     let doubled: corral::stream::MapOrdered<_, _, _, _> =
    ///         corral::stream::map_ordered(&s, futures::stream::iter([1, 2]), 2, |x| async move {
    ///             Ok::<u32, ()>(x * 2)
    ///         });
    ///     assert_eq!(doubled.collect::<Vec<u32>>().await, [2, 4]);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct MapOrdered<S: ScopeHandle, St, F, Fut: TryFuture> {
        #[pin]
        input: Option<St>,
        feed: Feed<Fut, Fut::Ok>,
        scope: S,
        f: F,
        limit: usize,
        // The window: the item at the front is the next to yield; its index
        // in the input is `base`.
        window: VecDeque<Slot<Fut::Ok>>,
        base: u64,
        stop: Option<Stopped>,
        spawned_at: &'static Location<'static>,
    }
}

/// As [`map_unordered`], yielding the values in input order: a value that
/// finishes early waits for the ones before it. The window is bounded: at
/// most `limit` items are held, running or waiting for their turn to be
/// yielded, so a slow item holds back the input (as `futures`'
/// `buffered(limit)`, without its deadlock).
///
/// # Panics
///
/// Panics if `limit` is 0 (no item could ever start). Polling the stream
/// after its scope has finished (a map that escaped the scope's body)
/// panics as [`Scope::spawn`](crate::Scope::spawn) does, when it spawns.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
///
/// # futures::executor::block_on(async {
/// let out = corral::scope(|s| async move {
///     let delays = futures::stream::iter([30u64, 10, 20]);
///     let values = corral::stream::map_ordered(&s, delays, 3, |ms| async move {
///         corral::time::sleep(Duration::from_millis(ms)).await;
///         Ok::<_, ()>(ms)
///     });
///     Ok(values.collect::<Vec<_>>().await)
/// })
/// .await;
/// assert_eq!(out, Ok(vec![30, 10, 20])); // input order, not finishing order
/// # });
/// ```
///
/// ```should_panic
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let input = futures::stream::iter([1]);
///     let _ = corral::stream::map_ordered(&s, input, 0, |x| async move { Ok::<_, ()>(x) });
///     Ok::<_, ()>(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[track_caller]
pub fn map_ordered<S, St, F, Fut>(
    scope: &S,
    input: St,
    limit: usize,
    f: F,
) -> MapOrdered<S, St, F, Fut>
where
    S: SpawnChild<Fut, Fut::Ok>,
    St: Stream,
    F: FnMut(St::Item) -> Fut,
    Fut: TryFuture,
{
    check_limit(limit, "map_ordered");
    MapOrdered {
        input: Some(input),
        feed: Feed::new(limit),
        scope: scope.clone(),
        f,
        limit,
        window: VecDeque::new(),
        base: 0,
        stop: None,
        spawned_at: Location::caller(),
    }
}

impl<S, St, F, Fut> Stream for MapOrdered<S, St, F, Fut>
where
    S: SpawnChild<Fut, Fut::Ok>,
    St: Stream,
    F: FnMut(St::Item) -> Fut,
    Fut: TryFuture,
{
    type Item = Fut::Ok;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Fut::Ok>> {
        let mut this = self.project();
        let room = this.limit.saturating_sub(this.window.len());
        let stopping = this.scope.is_stopping() || this.feed.lost();
        pull(stopping, this.input.as_mut(), cx, room, |item| {
            this.feed.push((this.f)(item));
            this.window.push_back(Slot::Running);
        });
        hand_over(this.feed, this.scope, this.spawned_at);
        loop {
            match this.window.front() {
                Some(Slot::Ready(_)) => {
                    *this.base += 1;
                    let Some(Slot::Ready(value)) = this.window.pop_front() else {
                        unreachable!()
                    };
                    return Poll::Ready(Some(value));
                }
                // Dropped unfinished (a stop's grace ran out, after the stop
                // closed the input): nothing to yield, no room to refill.
                Some(Slot::Skipped) => {
                    *this.base += 1;
                    this.window.pop_front();
                    continue;
                }
                Some(Slot::Running) => {}
                None if this.input.is_none() => return Poll::Ready(None),
                // The fill above polled the input (the window had room) and
                // it is pending, with our waker; a stop request wakes us
                // too, and closes it.
                None if stop_came(this.scope, this.stop, cx) => {
                    this.input.set(None);
                    return Poll::Ready(None);
                }
                None => {
                    note(Wait::Stream, this.spawned_at);
                    return Poll::Pending;
                }
            }
            match this.feed.take(cx) {
                Some((seq, value)) => {
                    let at = (seq - *this.base) as usize;
                    this.window[at] = Slot::Ready(value);
                }
                None if this.feed.lost() => {
                    this.input.set(None);
                    for slot in this.window.iter_mut() {
                        if let Slot::Running = slot {
                            *slot = Slot::Skipped;
                        }
                    }
                }
                // The take left our waker for the next value.
                None => {
                    note(Wait::Stream, this.spawned_at);
                    return Poll::Pending;
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        size_hint(self.input.as_ref(), self.window.len())
    }
}

/// Done once the input has ended (or a stop closed it) and the window is
/// empty.
impl<S, St, F, Fut> FusedStream for MapOrdered<S, St, F, Fut>
where
    S: SpawnChild<Fut, Fut::Ok>,
    St: Stream,
    F: FnMut(St::Item) -> Fut,
    Fut: TryFuture,
{
    fn is_terminated(&self) -> bool {
        self.input.is_none() && self.window.is_empty()
    }
}

impl<S: ScopeHandle, St, F, Fut: TryFuture> fmt::Debug for MapOrdered<S, St, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapOrdered")
            .field("limit", &self.limit)
            .field("held", &self.window.len())
            .field("input_done", &self.input.is_none())
            .finish_non_exhaustive()
    }
}

/// [`map_unordered`] and [`map_ordered`] as methods of any [`Stream`].
///
/// # Examples
///
/// ```
/// use corral::stream::ScopedStreamExt;
/// use futures::StreamExt;
///
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     let squares: Vec<u64> = futures::stream::iter(1..=4u64)
///         .map_ordered(&s, 2, |x| async move { Ok::<_, ()>(x * x) })
///         .collect()
///         .await;
///     assert_eq!(squares, [1, 4, 9, 16]);
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// ```
pub trait ScopedStreamExt: Stream + Sized {
    /// [`map_unordered`]`(scope, self, limit, f)`.
    ///
    /// # Panics
    ///
    /// Panics if `limit` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::stream::ScopedStreamExt;
    /// use futures::StreamExt;
    ///
    /// # futures::executor::block_on(async {
    /// corral::local_scope(|s| async move {
    ///     let n = futures::stream::iter(0..100)
    ///         .map_unordered(&s, 8, |x| async move { Ok::<_, ()>(x) })
    ///         .count()
    ///         .await;
    ///     assert_eq!(n, 100);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    fn map_unordered<S, F, Fut>(
        self,
        scope: &S,
        limit: usize,
        f: F,
    ) -> MapUnordered<S, Self, F, Fut>
    where
        S: SpawnChild<Fut, Fut::Ok>,
        F: FnMut(Self::Item) -> Fut,
        Fut: TryFuture,
    {
        map_unordered(scope, self, limit, f)
    }

    /// [`map_ordered`]`(scope, self, limit, f)`.
    ///
    /// # Panics
    ///
    /// Panics if `limit` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::stream::ScopedStreamExt;
    /// use futures::StreamExt;
    ///
    /// # futures::executor::block_on(async {
    /// corral::scope(|s| async move {
    ///     let v: Vec<i32> = futures::stream::iter([3, 1, 2])
    ///         .map_ordered(&s, 3, |x| async move { Ok::<_, ()>(-x) })
    ///         .collect()
    ///         .await;
    ///     assert_eq!(v, [-3, -1, -2]);
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    fn map_ordered<S, F, Fut>(self, scope: &S, limit: usize, f: F) -> MapOrdered<S, Self, F, Fut>
    where
        S: SpawnChild<Fut, Fut::Ok>,
        F: FnMut(Self::Item) -> Fut,
        Fut: TryFuture,
    {
        map_ordered(scope, self, limit, f)
    }
}

impl<St: Stream> ScopedStreamExt for St {}

/// Small enough for Miri; the behaviour tests are `tests/stream.rs`.
#[cfg(all(test, not(corral_loom)))]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::ScopedStreamExt;
    use crate::test_support::block_on;

    /// A full map whose items a stop's grace drops ends, rather than waiting
    /// for a wake nobody will send, and pulls no more input (its items would
    /// be dropped unstarted). Returns (values, items pulled).
    fn grace_dropped_items(ordered: bool) -> (usize, usize) {
        block_on(
            crate::Nursery::new()
                .grace(Duration::ZERO)
                .scope(|s| async move {
                    let pulled = std::cell::Cell::new(0);
                    let pulled = &pulled;
                    let input = futures::stream::iter(0..6u32)
                        .inspect(move |_| pulled.set(pulled.get() + 1));
                    let hang = |_| std::future::pending::<Result<u32, ()>>();
                    let mut values = if ordered {
                        input.map_ordered(&s, 2, hang).boxed_local()
                    } else {
                        input.map_unordered(&s, 2, hang).boxed_local()
                    };
                    // Fill the map: two items start and never finish.
                    assert!(futures::poll!(values.next()).is_pending());
                    s.stop();
                    Ok((values.count().await, pulled.get()))
                }),
        )
        .unwrap()
    }

    /// A stop request winds a map down: the items in flight yield their
    /// values, the rest of the input is never read. Returns (values, pulled).
    fn stopped_map(ordered: bool) -> (Vec<u32>, usize) {
        block_on(crate::scope(|s| async move {
            let pulled = std::cell::Cell::new(0);
            let pulled = &pulled;
            let input =
                futures::stream::iter(0..6u32).inspect(move |_| pulled.set(pulled.get() + 1));
            let item = |i| async move {
                crate::yield_now().await;
                Ok::<_, ()>(i)
            };
            let mut values = if ordered {
                input.map_ordered(&s, 2, item).boxed_local()
            } else {
                input.map_unordered(&s, 2, item).boxed_local()
            };
            assert!(futures::poll!(values.next()).is_pending());
            s.stop();
            let mut got: Vec<u32> = values.collect().await;
            got.sort();
            Ok((got, pulled.get()))
        }))
        .unwrap()
    }

    #[test]
    fn a_drained_map_is_terminated() {
        use futures_core::stream::FusedStream;
        block_on(crate::scope(|s| async move {
            let mut unordered =
                futures::stream::iter(0..3u32).map_unordered(&s, 2, |i| async move { Ok(i) });
            let mut ordered =
                futures::stream::iter(0..3u32).map_ordered(&s, 2, |i| async move { Ok(i) });
            assert!(!unordered.is_terminated() && !ordered.is_terminated());
            while unordered.next().await.is_some() {}
            while ordered.next().await.is_some() {}
            assert!(unordered.is_terminated() && ordered.is_terminated());
            Ok::<_, ()>(())
        }))
        .unwrap();
    }

    #[test]
    fn a_stop_winds_a_map_down() {
        assert_eq!(stopped_map(false), (vec![0, 1], 2));
        assert_eq!(stopped_map(true), (vec![0, 1], 2));
    }

    #[test]
    fn a_full_unordered_map_whose_items_the_grace_dropped_still_ends() {
        assert_eq!(grace_dropped_items(false), (0, 2));
    }

    #[test]
    fn a_full_ordered_map_whose_items_the_grace_dropped_still_ends() {
        assert_eq!(grace_dropped_items(true), (0, 2));
    }
}
