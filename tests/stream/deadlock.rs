//! The buffered-stream deadlock of rust-lang/futures-rs#2387, ported: a
//! consumer that, for each value, takes a permit of a one-permit semaphore,
//! while an item still in flight holds that permit across an await. With
//! `futures::StreamExt::buffer_unordered` / `buffered` the item is polled
//! only when the consumer polls the stream, which it no longer does: a
//! deadlock. With `map_unordered`, `map_ordered` and a `JoinSet` the items
//! are children of the scope, polled whether or not anyone reads them: the
//! item releases the permit and the consumer goes on.
//!
//! Each run is wrapped in `within_turns` (`tests/stream.rs`): a turn budget
//! that turns a deadlock into `None` instead of a hang. Included once per
//! scope flavour; the futures runs are inside the flavour's scope too, so
//! that the scope is all that differs.

use super::*;

/// Items in the scenario.
const ITEMS: usize = 4;
/// Turns the second item holds the permit for.
const HOLD: usize = 20;

/// Item 0 is quick and needs no permit; every later item takes the permit
/// and holds it for `HOLD` turns. Item 1 takes it while item 0 is still
/// running, so it holds it when item 0's value reaches the consumer.
async fn item(i: usize, permit: &Semaphore) -> usize {
    if i == 0 {
        yield_times(2).await;
    } else {
        let _held = permit.acquire().await;
        yield_times(HOLD).await;
    }
    i
}

/// For each value, the consumer takes the permit (briefly): it waits for
/// whichever item holds it.
async fn consume(values: impl futures::Stream<Item = usize>, permit: &Semaphore) -> usize {
    let mut values = pin!(values);
    let mut n = 0;
    while values.next().await.is_some() {
        drop(permit.acquire().await);
        n += 1;
    }
    n
}

/// The reference: `buffer_unordered(2)` deadlocks.
pub(super) async fn futures_buffer_unordered_deadlocks() {
    let permit = Semaphore::new(1);
    let permit = &permit;
    let out = within_turns(
        TURNS,
        open(|_s| async move {
            let values = futures::stream::iter(0..ITEMS)
                .map(|i| item(i, permit))
                .buffer_unordered(2);
            Ok::<_, ()>(consume(values, permit).await)
        }),
    )
    .await;
    assert_eq!(out, None, "futures-rs#2387 no longer deadlocks?");
}

/// The reference: `buffered(2)` (ordered) deadlocks the same way.
pub(super) async fn futures_buffered_deadlocks() {
    let permit = Semaphore::new(1);
    let permit = &permit;
    let out = within_turns(
        TURNS,
        open(|_s| async move {
            let values = futures::stream::iter(0..ITEMS)
                .map(|i| item(i, permit))
                .buffered(2);
            Ok::<_, ()>(consume(values, permit).await)
        }),
    )
    .await;
    assert_eq!(out, None, "futures-rs#2387 no longer deadlocks?");
}

/// `map_unordered` on the same scenario finishes.
pub(super) async fn map_unordered_does_not_deadlock() {
    let permit = Semaphore::new(1);
    let permit = &permit;
    let out = within_turns(
        TURNS,
        open(|s| async move {
            let values = futures::stream::iter(0..ITEMS)
                .map_unordered(&s, 2, |i| async move { Ok::<_, ()>(item(i, permit).await) });
            Ok(consume(values, permit).await)
        }),
    )
    .await;
    assert_eq!(out, Some(Ok(ITEMS)));
}

/// `map_ordered` on the same scenario finishes.
pub(super) async fn map_ordered_does_not_deadlock() {
    let permit = Semaphore::new(1);
    let permit = &permit;
    let out = within_turns(
        TURNS,
        open(|s| async move {
            let values = futures::stream::iter(0..ITEMS)
                .map_ordered(&s, 2, |i| async move { Ok::<_, ()>(item(i, permit).await) });
            Ok(consume(values, permit).await)
        }),
    )
    .await;
    assert_eq!(out, Some(Ok(ITEMS)));
}

/// A `JoinSet` read as a stream on the same scenario finishes: with every
/// item spawned at once, and fed through `spawn_bounded` under a limit of 2
/// while the values are taken.
pub(super) async fn a_join_set_does_not_deadlock() {
    let permit = Semaphore::new(1);
    let permit = &permit;
    let out = within_turns(
        TURNS,
        open(|s| async move {
            let mut all = JoinSet::new(&s);
            for i in 0..ITEMS {
                all.spawn(async move { Ok::<_, ()>(item(i, permit).await) });
            }
            let a = consume(all, permit).await;

            let mut bounded = JoinSet::with_limit(&s, 2);
            let mut b = 0;
            for i in 0..ITEMS {
                bounded
                    .spawn_bounded(async move { Ok(item(i, permit).await) })
                    .await;
                if bounded.join_next().await.is_some() {
                    drop(permit.acquire().await);
                    b += 1;
                }
            }
            b += consume(bounded, permit).await;
            Ok((a, b))
        }),
    )
    .await;
    assert_eq!(out, Some(Ok((ITEMS, ITEMS))));
}

/// The other half of the story: while the consumer is busy with a value
/// (here, many turns of its own), the items in flight keep running and
/// finish; with `buffer_unordered` they sit still until it reads again.
/// Items 1.. wait at a gate that the consumer opens once it has item 0.
pub(super) async fn items_in_flight_progress_while_the_consumer_is_busy() {
    let gate = Semaphore::new(0);
    let finished = AtomicUsize::new(0);
    let (gate, finished) = (&gate, &finished);
    let f = |i: usize| async move {
        if i > 0 {
            drop(gate.acquire().await);
            yield_times(3).await;
        }
        finished.fetch_add(1, Ordering::SeqCst);
        i
    };
    let out = open(|s| async move {
        let mut unordered = pin!(futures::stream::iter(0..4usize).map_unordered(
            &s,
            4,
            |i| async move { Ok::<_, ()>(f(i).await) }
        ));
        assert_eq!(unordered.next().await, Some(0));
        gate.add_permits(1); // each item passes it on
        yield_times(50).await; // busy, not reading
        let meanwhile = finished.load(Ordering::SeqCst);
        let rest = unordered.count().await;
        Ok((meanwhile, rest))
    })
    .await;
    assert_eq!(out, Ok((4, 3)));

    // The reference: the same with `buffer_unordered`.
    finished.store(0, Ordering::SeqCst);
    let gate = Semaphore::new(0);
    let gate = &gate;
    let f = |i: usize| async move {
        if i > 0 {
            drop(gate.acquire().await);
            yield_times(3).await;
        }
        finished.fetch_add(1, Ordering::SeqCst);
        i
    };
    let mut buffered = pin!(futures::stream::iter(0..4usize).map(f).buffer_unordered(4));
    assert_eq!(buffered.next().await, Some(0));
    gate.add_permits(1);
    yield_times(50).await;
    assert_eq!(finished.load(Ordering::SeqCst), 1, "nothing ran meanwhile");
    assert_eq!(buffered.count().await, 3);
}

on_both_executors!(
    futures_buffer_unordered_deadlocks,
    futures_buffered_deadlocks,
    map_unordered_does_not_deadlock,
    map_ordered_does_not_deadlock,
    a_join_set_does_not_deadlock,
    items_in_flight_progress_while_the_consumer_is_busy,
);
