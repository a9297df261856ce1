//! Parallel children (`spawn_on`) on every runtime corral adapts: smol's
//! `Executor` on 2 threads, futures' `ThreadPool`, the minimal std-only pool
//! in `support/pool.rs`, and (with the `tokio` feature) a tokio multi-thread
//! runtime. Each test's scope is itself polled by smol and by the minimal
//! `block_on`.

#[macro_use]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, OnceLock};
use std::time::Duration;

use corral::{Semaphore, Spawn};
use support::pool::Pool;
use support::{DropCounter, pending_forever, smol_executor, yield_now};

fn thread_pool() -> &'static futures::executor::ThreadPool {
    static POOL: OnceLock<futures::executor::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        futures::executor::ThreadPool::builder()
            .pool_size(2)
            .create()
            .unwrap()
    })
}

fn minimal_pool() -> &'static Arc<Pool> {
    static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(2))
}

#[cfg(feature = "tokio")]
fn tokio_handle() -> &'static tokio::runtime::Handle {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
    .handle()
}

/// Waits (without sleeping) until `counter` reaches `n`, by polling it
/// between short condvar waits; the watchdog bounds the whole test.
fn wait_for(counter: &DropCounter, n: usize) {
    let pair = (Mutex::new(()), Condvar::new());
    let mut guard = pair.0.lock().unwrap();
    while counter.get() < n {
        guard = pair
            .1
            .wait_timeout(guard, Duration::from_millis(1))
            .unwrap()
            .0;
    }
}

/// Two children that meet at a barrier: only parallelism gets them past it.
async fn children_run_in_parallel<S: Spawn + Sync>(rt: &S) {
    let barrier = Arc::new(Barrier::new(2));
    let result = corral::scope(|s| async move {
        let a = {
            let barrier = barrier.clone();
            s.spawn_on(rt, async move { Ok::<_, ()>(barrier.wait().is_leader()) })
        };
        let b = s.spawn_on(rt, async move { Ok(barrier.wait().is_leader()) });
        Ok(a.await as u8 + b.await as u8)
    })
    .await;
    assert_eq!(result, Ok(1), "exactly one leader: both met at the barrier");
}

/// A local child fails: every parallel child is aborted, and their
/// destructors have all run by the time the scope returns its error.
async fn a_failing_sibling_aborts_parallel_children<S: Spawn + Sync>(rt: &S) {
    let dropped = DropCounter::new();
    let started = Arc::new(AtomicUsize::new(0));
    let dropped_ref = &dropped;
    let result = corral::scope(|s| async move {
        for _ in 0..8 {
            let guard = dropped_ref.guard();
            let started = started.clone();
            s.spawn_on(rt, async move {
                let _guard = guard;
                started.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), &str>>().await
            });
        }
        s.spawn(async {
            yield_now().await;
            Err::<(), _>("local failure")
        });
        Ok(())
    })
    .await;
    assert_eq!(result, Err("local failure"));
    assert_eq!(
        dropped.get(),
        8,
        "every aborted child was dropped before the scope returned"
    );
}

/// The parallel child's own error fails the scope.
async fn a_parallel_error_fails_the_scope<S: Spawn + Sync>(rt: &S) {
    let dropped = DropCounter::new();
    let dropped_ref = &dropped;
    let result = corral::scope(|s| async move {
        s.spawn(pending_forever::<Result<(), String>>(dropped_ref));
        s.spawn_on(rt, async { Err::<(), _>("remote failure".to_string()) });
        Ok(())
    })
    .await;
    assert_eq!(result, Err("remote failure".to_string()));
    assert_eq!(dropped.get(), 1, "the local sibling was dropped");
}

/// Dropping the scope future asks the runtime to drop its parallel children,
/// which it does at its next chance.
async fn dropping_the_scope_aborts_parallel_children<S: Spawn + Sync>(rt: &S) {
    let dropped = DropCounter::new();
    {
        let dropped = &dropped;
        let scope = corral::scope(|s| async move {
            for _ in 0..4 {
                let guard = dropped.guard();
                s.spawn_on(rt, async move {
                    let _guard = guard;
                    std::future::pending::<Result<(), ()>>().await
                });
            }
            std::future::pending::<Result<(), ()>>().await
        });
        let mut scope = Box::pin(scope);
        assert!(support::poll_once(&mut scope).is_pending());
    }
    wait_for(&dropped, 4);
    yield_now().await;
}

/// A parallel child's panic reaches the parent with its original payload.
async fn a_parallel_panic_reaches_the_parent<S: Spawn + Sync>(rt: &S) {
    use futures::FutureExt;
    let scope = corral::scope(|s| async move {
        s.spawn_on(rt, async {
            if true {
                std::panic::panic_any(42_u32);
            }
            Ok::<(), ()>(())
        });
        Ok(())
    });
    let payload = std::panic::AssertUnwindSafe(scope)
        .catch_unwind()
        .await
        .expect_err("the scope panics");
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
}

/// Records, after a pause, that its destructor ran: a parallel child that
/// takes a while to be dropped on its runtime.
struct SlowDrop(Arc<AtomicBool>);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(50));
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Panics when dropped.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// A child panics; as the scope tears down, the body's destructor panics
/// too. The caller gets the first panic, and only once the parallel child
/// has been dropped on its runtime: no child outlives its scope. Declared
/// once per scope flavour.
macro_rules! first_panic_after_parallel_children {
    ($($name:ident: $open:path;)*) => {$(
        async fn $name<S: Spawn + Sync>(rt: &S) {
            use futures::FutureExt;
            let dropped = Arc::new(AtomicBool::new(false));
            let started = Arc::new(AtomicBool::new(false));
            let (dropped_ref, started_ref) = (&dropped, &started);
            let scope = $open(|s| async move {
                let (guard, started) = (SlowDrop(dropped_ref.clone()), started_ref.clone());
                s.spawn_on(rt, async move {
                    let _guard = guard;
                    started.store(true, Ordering::SeqCst);
                    std::future::pending::<Result<(), ()>>().await
                });
                s.spawn(async move {
                    while !started_ref.load(Ordering::SeqCst) {
                        yield_now().await;
                    }
                    if true {
                        panic!("first: a child");
                    }
                    Ok(())
                });
                let _bomb = PanicOnDrop("second: the body's destructor");
                std::future::pending::<Result<(), ()>>().await
            });
            let payload = std::panic::AssertUnwindSafe(scope)
                .catch_unwind()
                .await
                .expect_err("the scope panics");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"first: a child"));
            assert!(
                dropped.load(Ordering::SeqCst),
                "the parallel child was dropped on its runtime before the panic reached the caller"
            );
        }
    )*};
}

first_panic_after_parallel_children! {
    a_teardown_panic_waits_for_parallel_children_scope: corral::scope;
    a_teardown_panic_waits_for_parallel_children_local_scope: corral::local_scope;
}

/// Owned semaphore permits bound the parallel children.
async fn owned_permits_bound_parallel_children<S: Spawn + Sync>(rt: &S) {
    let sem = Arc::new(Semaphore::new(3));
    let held = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (sem_ref, held_ref, peak_ref) = (&sem, &held, &peak);
    corral::scope(|s| async move {
        for _ in 0..support::scaled(100) {
            let (sem, held, peak) = (sem_ref.clone(), held_ref.clone(), peak_ref.clone());
            s.spawn_on(rt, async move {
                let _permit = sem.acquire_owned().await;
                let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                yield_now().await;
                held.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert_eq!(sem.available_permits(), 3);
}

/// Ten thousand parallel children all complete, with their values.
async fn ten_thousand_parallel_children_complete<S: Spawn + Sync>(rt: &S) {
    let n = support::scaled(10_000);
    let sum = corral::scope(|s| async move {
        let handles: Vec<_> = (0..n)
            .map(|i| s.spawn_on(rt, async move { Ok::<_, ()>(i) }))
            .collect();
        Ok(corral::join_all(handles).await.into_iter().sum::<usize>())
    })
    .await;
    assert_eq!(sum, Ok(n * (n - 1) / 2));
}

/// With a concurrency limit, parallel children wait for their place.
async fn the_limit_holds_for_parallel_children<S: Spawn + Sync>(rt: &S) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (running_ref, peak_ref) = (&running, &peak);
    corral::Nursery::new()
        .max_concurrency(2)
        .scope(|s| async move {
            for _ in 0..20 {
                let (running, peak) = (running_ref.clone(), peak_ref.clone());
                s.spawn_on(rt, async move {
                    peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    yield_now().await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
            }
            Ok(())
        })
        .await
        .unwrap();
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "{} ran at once",
        peak.load(Ordering::SeqCst)
    );
}

/// Runs each test body on every runtime, with the scope itself polled by smol
/// and by the minimal `block_on`.
macro_rules! on_every_runtime {
    ($($name:ident),* $(,)?) => {
        mod on_smol_executor {
            use super::*;
            $(
                #[test] fn $name() {
                    support::on_smol(super::$name(&**smol_executor()));
                    support::on_minimal(super::$name(&**smol_executor()));
                }
            )*
        }
        mod on_thread_pool {
            use super::*;
            $(
                #[test] fn $name() {
                    support::on_smol(super::$name(thread_pool()));
                    support::on_minimal(super::$name(thread_pool()));
                }
            )*
        }
        mod on_minimal_pool {
            use super::*;
            $(
                #[test] fn $name() {
                    support::on_smol(super::$name(&**minimal_pool()));
                    support::on_minimal(super::$name(&**minimal_pool()));
                }
            )*
        }
        #[cfg(feature = "tokio")]
        mod on_tokio {
            use super::*;
            $(
                #[test] fn $name() {
                    support::on_smol(super::$name(tokio_handle()));
                    support::on_minimal(super::$name(tokio_handle()));
                }
            )*
        }
    };
}

on_every_runtime!(
    children_run_in_parallel,
    a_failing_sibling_aborts_parallel_children,
    a_parallel_error_fails_the_scope,
    dropping_the_scope_aborts_parallel_children,
    a_parallel_panic_reaches_the_parent,
    a_teardown_panic_waits_for_parallel_children_scope,
    a_teardown_panic_waits_for_parallel_children_local_scope,
    owned_permits_bound_parallel_children,
    ten_thousand_parallel_children_complete,
    the_limit_holds_for_parallel_children,
);

/// A runtime shut down under a running scope: the scope fails loudly with a
/// clear message instead of waiting forever.
#[test]
#[should_panic(expected = "dropped by its runtime before it finished")]
fn a_runtime_shut_down_under_a_running_scope_fails_the_scope() {
    let pool = Pool::new(1);
    let started = Arc::new(Barrier::new(2));
    let remote_started = started.clone();
    let pool_ref = &pool;
    support::on_minimal(corral::scope(|s| async move {
        s.spawn_on(&**pool_ref, async move {
            remote_started.wait();
            std::future::pending::<Result<(), ()>>().await
        });
        s.spawn(async move {
            // Shut the runtime down once the child is running on it.
            yield_now().await;
            started.wait();
            pool_ref.shutdown();
            Ok(())
        });
        Ok(())
    }))
    .unwrap();
}

/// The same with smol's executor: dropping the `Executor` drops its tasks.
#[test]
#[should_panic(expected = "dropped by its runtime before it finished")]
fn dropping_a_smol_executor_under_a_running_scope_fails_the_scope() {
    let ex = async_executor::Executor::new();
    let scope = corral::scope(|s| async move {
        s.spawn_on(&ex, std::future::pending::<Result<(), ()>>());
        s.spawn(async move {
            yield_now().await;
            drop(ex);
            Ok(())
        });
        Ok(())
    });
    support::on_minimal(scope).unwrap();
}

/// Inside tokio: parallelism, abort and timeouts within parallel children.
#[cfg(feature = "tokio")]
#[test]
fn tokio_parallel_children_with_timeouts_inside() {
    let handle = tokio_handle();
    support::watchdog(|| {
        handle.block_on(async {
            let dropped = DropCounter::new();
            let dropped_ref = &dropped;
            let result = corral::scope(|s| async move {
                for _ in 0..4 {
                    let guard = dropped_ref.guard();
                    s.spawn_on(handle, async move {
                        let _guard = guard;
                        std::future::pending::<Result<(), corral::time::Elapsed>>().await
                    });
                }
                s.spawn_on(handle, async {
                    corral::time::timeout(Duration::from_millis(5), std::future::pending::<()>())
                        .await?;
                    Ok(())
                });
                Ok(())
            })
            .await;
            assert_eq!(result, Err(corral::time::Elapsed));
            assert_eq!(
                dropped.get(),
                4,
                "aborted and dropped before the scope returned"
            );
        })
    });
}
