//! corral's timers on a tokio multi-thread runtime (`--features tokio`), with
//! no set-up: timers ride the runtime's driver, fire never early, work inside
//! scopes spawned on tokio, and survive being moved between worker threads.
#![cfg(feature = "tokio")]

mod support;

use std::future::pending;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use corral::time::{AsyncIoBackend, Elapsed, sleep, timeout, timeout_at};
use tokio::runtime::Runtime;

const MS: Duration = Duration::from_millis(1);

/// One runtime for the whole binary.
fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap()
    })
}

fn on_tokio<F: std::future::Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send + 'static,
{
    let rt = runtime();
    support::watchdog(|| rt.block_on(rt.spawn(f)).unwrap())
}

#[test]
fn set_backend_after_the_first_timer_is_refused() {
    // A timer armed inside the runtime fixes the choice, as one armed
    // anywhere else does.
    on_tokio(sleep(MS));
    assert!(corral::time::set_backend(AsyncIoBackend).is_err());
}

#[test]
fn sleeps_and_timeouts_fire_never_early() {
    on_tokio(async {
        for ms in [1u32, 4, 12] {
            let start = Instant::now();
            sleep(MS * ms).await;
            assert!(start.elapsed() >= MS * ms);
            let start = Instant::now();
            assert_eq!(timeout(MS * ms, pending::<()>()).await, Err(Elapsed));
            assert!(start.elapsed() >= MS * ms);
        }
        assert_eq!(timeout(MS, async { 3 }).await, Ok(3));
    });
}

#[test]
fn thousands_of_timeouts_across_worker_threads() {
    on_tokio(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..2_000u64)
            .map(|i| {
                let deadline = start + Duration::from_micros(i * 37 % 60_000);
                tokio::spawn(async move {
                    // Hop threads between arming and firing.
                    tokio::task::yield_now().await;
                    let result = timeout_at(deadline, pending::<()>()).await;
                    (result, Instant::now() >= deadline)
                })
            })
            .collect();
        for task in tasks {
            let (result, on_time) = task.await.unwrap();
            assert_eq!(result, Err(Elapsed));
            assert!(on_time, "fired early");
        }
    });
}

#[derive(Debug, PartialEq)]
struct TimedOut;

impl From<Elapsed> for TimedOut {
    fn from(_: Elapsed) -> Self {
        TimedOut
    }
}

#[test]
fn a_scope_spawned_on_tokio_fails_on_a_child_timeout() {
    on_tokio(async {
        let result = corral::scope(|s| async move {
            s.spawn(async { pending::<Result<(), TimedOut>>().await });
            s.spawn(async {
                timeout(5 * MS, pending::<()>()).await?;
                Ok(())
            });
            Ok(())
        })
        .await;
        assert_eq!(result, Err(TimedOut));
    });
}

#[test]
fn a_timeout_armed_on_one_task_finishes_on_another() {
    on_tokio(async {
        let mut t = Box::pin(timeout(10 * MS, pending::<()>()));
        assert!(
            support::poll_once(&mut t).is_pending(),
            "armed on this worker"
        );
        let start = Instant::now();
        let result = tokio::spawn(t).await.unwrap();
        assert_eq!(result, Err(Elapsed));
        assert!(start.elapsed() >= MS);
        // And one dropped on another task while armed.
        let mut t = Box::pin(timeout(Duration::from_secs(60), pending::<()>()));
        assert!(support::poll_once(&mut t).is_pending());
        tokio::spawn(async move { drop(t) }).await.unwrap();
    });
}
