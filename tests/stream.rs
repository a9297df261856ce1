//! Streams of work (`corral::stream`): `JoinSet`, `spawn_bounded` and the
//! bounded maps of a stream. The tests in `stream/{set,bounded,map,deadlock}.rs`
//! are written once and included twice: on `corral::scope`
//! (`scope_flavour`) and on `corral::local_scope` (`local_flavour`); each
//! runs under smol and under the minimal executor (`on_smol`, `on_minimal`
//! in its path, so `cargo test --test stream on_minimal` picks the minimal
//! executor's half, the one Miri runs). Tests that only one flavour can
//! express (a set sent to another thread; `!Send` children) are at the end
//! of this file.
//!
//! Parallel children run on a `support::pool::Pool` made for the test and
//! shut down at its end, so no thread outlives a test (Miri checks that).

#[macro_use]
mod support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use corral::stream::{ScopedStreamExt, map_ordered, map_unordered};
use corral::{JoinId, JoinSet, Semaphore};
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, Stream, StreamExt};
use support::pool::Pool;
use support::{DropCounter, pending_forever, scaled, yield_now, yield_times};

/// The tests of `stream/*.rs` on `corral::scope`.
#[path = "stream"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod bounded;
    #[allow(clippy::duplicate_mod)]
    mod deadlock;
    #[allow(clippy::duplicate_mod)]
    mod map;
    #[allow(clippy::duplicate_mod)]
    mod set;
}

/// The tests of `stream/*.rs` on `corral::local_scope`.
#[path = "stream"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod bounded;
    #[allow(clippy::duplicate_mod)]
    mod deadlock;
    #[allow(clippy::duplicate_mod)]
    mod map;
    #[allow(clippy::duplicate_mod)]
    mod set;
}

/// The text of a panic payload (`panic!` with or without arguments).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `f`, which must panic; returns its message.
fn panics_with(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err("it panics");
    panic_message(&*payload)
}

/// `n`, or `miri` under Miri (slower still than `support::scaled`'s
/// hundredth would allow for the biggest runs, which must stay well inside
/// the watchdog's minute there).
fn under_miri(n: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { n }
}

/// Counts what is alive now and the most ever alive at once: a guard per
/// item, made where the item's future is made and moved into it, so the
/// count covers futures waiting to be spawned, queued and running.
#[derive(Default)]
struct Live {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Live {
    fn guard(&self) -> LiveGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        LiveGuard(self)
    }
    fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

struct LiveGuard<'a>(&'a Live);

impl Drop for LiveGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A turn-budget deadlock detector: polls `fut` at most `turns` times (it
/// wakes itself after each `Pending`, so it is polled again whether or not
/// anything woke it) and resolves to `None` if `fut` is still pending by
/// then. A future that can finish finishes well within the budget; one
/// that waits for something nobody will ever do uses it all up, and the
/// test ends instead of hanging.
struct WithinTurns<F> {
    fut: Pin<Box<F>>,
    turns: usize,
}

fn within_turns<F: Future>(turns: usize, fut: F) -> WithinTurns<F> {
    WithinTurns {
        fut: Box::pin(fut),
        turns,
    }
}

impl<F: Future> Future for WithinTurns<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = self.fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if self.turns == 0 {
            return Poll::Ready(None);
        }
        self.turns -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The turn budget of the deadlock tests: far more than the runs that pass
/// need (they pass with 40: the scope runs its children many times per turn
/// of its own), small enough for Miri.
const TURNS: usize = if cfg!(miri) { 300 } else { 5_000 };

/// A `Scope<'static, _>` (its body borrows nothing) can be cloned into a
/// parallel child: a set used from a child running on another thread.
async fn a_set_used_from_a_parallel_child() {
    let pool = Pool::new(2);
    let rt = pool.clone();
    let out = corral::scope(move |s: corral::Scope<'static, ()>| async move {
        let remote = s.clone();
        let pool = rt.clone();
        let sum = s.spawn_on(&*rt, async move {
            let mut set = JoinSet::new(&remote);
            for i in 0..10u64 {
                set.spawn(async move {
                    yield_now().await;
                    Ok(i)
                });
            }
            for i in 10..20u64 {
                set.spawn_on(&*pool, async move { Ok(i) });
            }
            let mut sum = 0;
            while let Some(v) = set.join_next().await {
                sum += v;
            }
            Ok(sum)
        });
        Ok(sum.await)
    })
    .await;
    pool.shutdown();
    assert_eq!(out, Ok((0..20).sum()));
}

/// A set whose children the scope polls, drained by a plain thread: the
/// scope's thread runs them, the other thread takes their values.
async fn a_set_drained_from_another_thread() {
    let n = scaled(200) as u64;
    let out = corral::scope(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..n {
            set.spawn(async move {
                yield_times((i % 3) as usize).await;
                Ok::<_, ()>(i)
            });
        }
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let values: Vec<u64> = futures::executor::block_on(set.collect());
            tx.send(values).unwrap();
        });
        let mut values = rx.await.unwrap();
        thread.join().unwrap();
        values.sort_unstable();
        Ok(values)
    })
    .await;
    assert_eq!(out, Ok((0..n).collect::<Vec<_>>()));
}

/// The same set dropped on the other thread: its unfinished children are
/// dropped at the scope's next turn, and the scope ends.
async fn a_set_dropped_on_another_thread_drops_its_children() {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let out = corral::scope(|s| async move {
        let mut set = JoinSet::<_, ()>::new(&s);
        for _ in 0..4 {
            set.spawn(pending_forever(dropped_ref));
        }
        yield_now().await; // they start
        std::thread::spawn(move || drop(set)).join().unwrap();
        Ok::<_, ()>(())
    })
    .await;
    // The scope ended: the pending children were dropped, not waited for.
    assert_eq!(out, Ok(()));
    assert_eq!(dropped.get(), 4);
}

/// A local scope's set takes `!Send` children (tokio's `spawn_local` into a
/// set), and dropping it drops them (tokio's `spawn_then_drop`).
async fn a_local_set_takes_non_send_children() {
    use std::rc::Rc;
    let out = corral::local_scope(|s| async move {
        let mut set = JoinSet::new(&s);
        for i in 0..8usize {
            let rc = Rc::new(i);
            set.spawn(async move {
                yield_now().await;
                Ok::<_, ()>(*rc)
            });
        }
        let mut seen = [false; 8];
        while let Some(i) = set.join_next().await {
            seen[i] = true;
        }
        assert!(seen.iter().all(|b| *b));

        let mut receivers = Vec::new();
        for _ in 0..8 {
            let (tx, rx) = oneshot::channel::<()>();
            receivers.push(rx);
            let rc = Rc::new(tx);
            set.spawn(async move {
                let _keep = rc;
                std::future::pending::<Result<usize, ()>>().await
            });
        }
        assert_eq!(set.try_join_next(), None);
        drop(set);
        let mut cancelled = 0;
        for rx in receivers {
            cancelled += usize::from(rx.await.is_err());
        }
        Ok(cancelled)
    })
    .await;
    assert_eq!(out, Ok(8));
}

/// A local scope's maps take `!Send` items.
async fn local_maps_take_non_send_items() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let log = Rc::new(RefCell::new(Vec::new()));
    let out = corral::local_scope(|s| {
        let log = log.clone();
        async move {
            let values: Vec<u32> = futures::stream::iter(0..10u32)
                .map_ordered(&s, 3, |i| {
                    let log = log.clone();
                    async move {
                        yield_times((10 - i) as usize).await;
                        log.borrow_mut().push(i);
                        Ok::<_, ()>(i)
                    }
                })
                .collect()
                .await;
            Ok(values)
        }
    })
    .await;
    assert_eq!(out, Ok((0..10).collect::<Vec<_>>()));
    assert_eq!(log.borrow().len(), 10);
}

mod one_flavour {
    use super::*;

    on_both_executors!(
        a_set_used_from_a_parallel_child,
        a_set_drained_from_another_thread,
        a_set_dropped_on_another_thread_drops_its_children,
        a_local_set_takes_non_send_children,
        local_maps_take_non_send_items,
    );
}

/// A `Scope`'s set is `Send` (a `LocalScope`'s is not; `tests/auto_traits.rs`
/// and the compile-fail doctests pin the negative side).
#[test]
fn a_scopes_set_is_send() {
    fn send<T: Send>(_: &T) {}
    support::on_minimal(corral::scope(|s| async move {
        let set = JoinSet::<_, u8>::new(&s);
        send(&set);
        send(&set.len());
        Ok::<_, ()>(())
    }))
    .unwrap();
}

/// `JoinId`s count a set's spawns from 0 and order like them.
#[test]
fn join_ids_count_spawns_from_zero_on_minimal() {
    support::on_minimal(corral::scope(|s| async move {
        let mut set = JoinSet::new(&s);
        let ids: Vec<JoinId> = (0..5u8)
            .map(|i| set.spawn(async move { Ok::<_, ()>(i) }))
            .collect();
        assert_eq!(
            ids.iter().map(|id| id.as_u64()).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ids[3].to_string(), "3");
        while set.join_next().await.is_some() {}
        Ok(())
    }))
    .unwrap();
}
