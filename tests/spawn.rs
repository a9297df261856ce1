//! Parallel children (`spawn_on`) on every runtime corral adapts: smol's
//! `Executor` on 2 threads, futures' `ThreadPool`, the minimal std-only pool
//! in `support/pool.rs`, and (with the `tokio` feature) a tokio multi-thread
//! runtime. The tests in `spawn/behaviour.rs` run on both scope flavours
//! (`scope`, `local_scope`), and each test's scope is itself polled by smol
//! and by the minimal `block_on`.

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

/// The tests of `spawn/behaviour.rs` on `corral::scope`.
#[path = "spawn"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_every_runtime);
}

/// The tests of `spawn/behaviour.rs` on `corral::local_scope`.
#[path = "spawn"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_every_runtime);
}

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
