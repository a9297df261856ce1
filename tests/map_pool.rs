//! A review of the pool that runs the items of `map_unordered` and
//! `map_ordered` (`src/scope/pool.rs`): stop requests, nested maps, wakes
//! from other threads, stale wakers, panics, a map read or dropped on
//! another thread, extreme limits. `map_pool/behaviour.rs` is written once
//! and included per scope flavour; each test runs under smol and the
//! minimal executor (`on_minimal` in its path, the half Miri runs). Tests
//! only `corral::scope` can express (a map sent to another thread) are at
//! the end of this file.

#[macro_use]
mod support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use corral::Semaphore;
use corral::stream::{ScopedStreamExt, map_ordered, map_unordered};
use futures::channel::oneshot;
use futures::{FutureExt, Stream, StreamExt};
use support::{DropCounter, scaled, yield_now, yield_times};

/// The behaviour tests on `corral::scope`.
#[path = "map_pool"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
}

/// The behaviour tests on `corral::local_scope`.
#[path = "map_pool"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
}

/// `n`, or `miri` under Miri.
fn under_miri(n: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { n }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Polls `values` until it ends, or until `give_up` resolves first (checked
/// before each poll of `values`, so a wake that only `give_up` sends cannot
/// also end the stream). `Some(n)`: it ended after `n` values; `None`: it
/// was still pending when `give_up` resolved.
async fn ends_before<S, G>(values: S, give_up: G) -> Option<usize>
where
    S: Stream,
    G: Future,
{
    let mut values = std::pin::pin!(values);
    let mut give_up = std::pin::pin!(give_up);
    let mut n = 0;
    std::future::poll_fn(move |cx| {
        if give_up.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        loop {
            match values.as_mut().poll_next(cx) {
                Poll::Ready(Some(_)) => n += 1,
                Poll::Ready(None) => return Poll::Ready(Some(n)),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// A map on a `Scope<'static, _>` read by a plain thread: the scope's
/// thread polls the pool, the other thread hands items over and takes the
/// values, each side waking the other across threads.
async fn a_map_read_on_another_thread() {
    let n = scaled(300);
    let out = corral::scope(|s| async move {
        for ordered in [false, true] {
            let f = |i: usize| async move {
                yield_times(i % 4).await;
                Ok::<_, ()>(i)
            };
            let values = if ordered {
                map_ordered(&s, futures::stream::iter(0..n), 5, f).boxed()
            } else {
                map_unordered(&s, futures::stream::iter(0..n), 5, f).boxed()
            };
            let (tx, rx) = oneshot::channel();
            let thread = std::thread::spawn(move || {
                let values: Vec<usize> = futures::executor::block_on(values.collect());
                tx.send(values).unwrap();
            });
            let mut values = rx.await.unwrap();
            thread.join().unwrap();
            if ordered {
                assert!(values.windows(2).all(|w| w[0] < w[1]));
            }
            values.sort_unstable();
            assert_eq!(values, (0..n).collect::<Vec<_>>(), "ordered: {ordered}");
        }
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(out, Ok(()));
}

/// A map read inside a parallel child (`spawn_on`): the pool is a local
/// child of the scope, the reader runs on the runtime's threads.
async fn a_map_read_from_a_parallel_child() {
    let pool = support::pool::Pool::new(2);
    let rt = pool.clone();
    let n = scaled(300);
    let out = corral::scope(move |s: corral::Scope<'static, ()>| async move {
        let remote = s.clone();
        let child = s.spawn_on(&*rt, async move {
            let permit = Arc::new(Semaphore::new(1));
            let values: Vec<usize> = futures::stream::iter(0..n)
                .map_unordered(&remote, 4, move |i| {
                    let permit = permit.clone();
                    async move {
                        // Items hand a permit round: each waits for another.
                        let _held = permit.acquire().await;
                        yield_times(i % 3).await;
                        Ok(i)
                    }
                })
                .collect()
                .await;
            Ok(values)
        });
        Ok(child.await)
    })
    .await;
    pool.shutdown();
    let mut values = out.unwrap();
    values.sort_unstable();
    assert_eq!(values, (0..n).collect::<Vec<_>>());
}

/// A map dropped on another thread while its items wait: they are dropped
/// at the pool's next poll, and the scope ends.
async fn a_map_dropped_on_another_thread_drops_its_items() {
    let dropped = DropCounter::new();
    let counter = dropped.clone();
    let out = corral::scope(|s| async move {
        let mut values = map_unordered(&s, futures::stream::iter(0..10u32), 4, move |_| {
            let guard = counter.guard();
            async move {
                let _guard = guard;
                std::future::pending::<Result<u32, ()>>().await
            }
        });
        assert!(futures::poll!(values.next()).is_pending());
        yield_now().await; // the items start
        std::thread::spawn(move || drop(values)).join().unwrap();
        yield_now().await;
        Ok::<_, ()>(())
    })
    .await;
    assert_eq!(out, Ok(()));
    assert_eq!(dropped.get(), 4);
}

mod one_flavour {
    use super::*;

    on_both_executors!(
        a_map_read_on_another_thread,
        a_map_read_from_a_parallel_child,
        a_map_dropped_on_another_thread_drops_its_items,
    );
}

/// A `Scope`'s map of `Send` items is `Send` (it can be moved to a thread,
/// above) and `Sync`.
#[test]
fn a_scopes_map_of_send_items_is_send_and_sync() {
    fn send<T: Send + Sync>(_: &T) {}
    support::on_minimal(corral::scope(|s| async move {
        let values = map_ordered(&s, futures::stream::iter(0..3u8), 2, |i| async move {
            Ok::<_, ()>(i)
        });
        send(&values);
        assert_eq!(values.collect::<Vec<_>>().await, [0, 1, 2]);
        Ok::<_, ()>(())
    }))
    .unwrap();
}
