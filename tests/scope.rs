//! Behaviour of `scope` and `local_scope`: each test runs on both flavours and
//! on both executors (smol and the minimal one in `support/exec.rs`).

#[macro_use]
mod support;

use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use futures::FutureExt;
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};

use support::{DropCounter, pending_forever, yield_now, yield_times};

/// The tests of `scope/behaviour.rs` on `corral::scope`.
#[path = "scope"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `scope/behaviour.rs` on `corral::local_scope`.
#[path = "scope"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// Children spawned from a plain thread (the lock-free `incoming` path) all run,
/// and the scope waits for them.
async fn children_spawned_from_another_thread_all_run() {
    use std::sync::Arc;
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let spawned = corral::scope(move |s: corral::Scope<'static, ()>| {
        let remote = s.clone();
        let thread = std::thread::spawn(move || {
            for i in 0..200usize {
                let ran = ran2.clone();
                remote.spawn(async move {
                    yield_times(i % 3).await;
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            tx.send(()).unwrap();
        });
        async move {
            // The body stays alive until the thread is done spawning.
            rx.await.unwrap();
            thread.join().unwrap();
            Ok(200)
        }
    })
    .await;
    assert_eq!(spawned, Ok(200));
    assert_eq!(ran.load(Ordering::SeqCst), 200);
}

mod remote_spawn {
    use super::*;
    on_both_executors!(children_spawned_from_another_thread_all_run);
}

/// Runs its closure when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A body future that is ready at once but keeps a guard, dropped only when
/// the scope drops the finished body.
struct ReadyThenPanicOnDrop<F: FnOnce()>(OnDrop<F>);

impl<F: FnOnce()> std::future::Future for ReadyThenPanicOnDrop<F> {
    type Output = Result<(), ()>;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

#[test]
#[should_panic(expected = "max_concurrency(0)")]
fn max_concurrency_zero_panics() {
    let _ = corral::Nursery::new().max_concurrency(0);
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_a_finished_scope_panics() {
    let mut fut = Box::pin(corral::scope(|_s| async { Ok::<_, ()>(()) }));
    assert!(matches!(support::poll_once(&mut fut), Poll::Ready(Ok(()))));
    let _ = support::poll_once(&mut fut);
}

#[test]
fn scope_future_is_send_and_runs_under_tokio_spawn() {
    support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let total = rt.block_on(async {
            let data: std::sync::Arc<Vec<u64>> = std::sync::Arc::new((1..=100).collect());
            let task = tokio::spawn(async move {
                let data = &data;
                corral::scope(|s| async move {
                    let handles: Vec<_> = data
                        .chunks(10)
                        .map(|chunk| {
                            s.spawn(async move {
                                tokio::task::yield_now().await;
                                Ok::<_, ()>(chunk.iter().sum::<u64>())
                            })
                        })
                        .collect();
                    Ok(corral::join_all(handles).await.into_iter().sum::<u64>())
                })
                .await
            });
            task.await.unwrap()
        });
        assert_eq!(total, Ok(5050));
    });
}

#[test]
fn scope_future_runs_under_smol_spawn_on_a_threaded_executor() {
    support::watchdog(|| {
        let ex = std::sync::Arc::new(smol::Executor::new());
        let (stop, shutdown) = async_channel_pair();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let ex = ex.clone();
                let shutdown = shutdown.clone();
                std::thread::spawn(move || smol::block_on(ex.run(shutdown.recv())))
            })
            .collect();
        let task = ex.spawn(sum_in_a_scope(0..100));
        assert_eq!(smol::block_on(task), Ok(4950));
        drop(stop);
        for t in threads {
            let _ = t.join();
        }
    });
}

#[test]
fn scope_future_runs_under_the_global_smol_spawn() {
    support::watchdog(|| {
        let task = smol::spawn(sum_in_a_scope(1..=10));
        assert_eq!(smol::block_on(task), Ok(55));
    });
}

/// A `Send + 'static` scope future for the spawn tests: one child per number,
/// each yielding once, summed through their join handles.
fn sum_in_a_scope(
    numbers: impl Iterator<Item = u32> + Send + 'static,
) -> impl std::future::Future<Output = Result<u32, ()>> + Send + 'static {
    corral::scope(|s| async move {
        let hs: Vec<_> = numbers
            .map(|i| {
                s.spawn(async move {
                    yield_now().await;
                    Ok(i)
                })
            })
            .collect();
        Ok(corral::join_all(hs).await.into_iter().sum::<u32>())
    })
}

/// A shutdown signal for the executor threads: dropping the sender ends `recv`.
fn async_channel_pair() -> (smol::channel::Sender<()>, smol::channel::Receiver<()>) {
    smol::channel::bounded(1)
}
