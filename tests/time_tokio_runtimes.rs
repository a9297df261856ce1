//! Twenty `#[tokio::test]`s, each on its own runtime (current-thread and
//! multi-thread, paused and real clocks), run together in one binary with no
//! process-wide set-up: every corral timer follows the runtime it is armed
//! in. A few follow the old advice (`set_backend(TokioBackend::current())`),
//! which must change nothing for the others.
//!
//! Paused tests guard themselves with a tokio timer set later than corral's:
//! a corral timer that did not ride the paused clock loses that race at once
//! instead of hanging. Real-clock tests wait on tokio's timer for the same
//! reason; a watchdog thread backs both up.
#![cfg(feature = "tokio")]

mod support;

use std::future::{Future, pending};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use corral::time::{Elapsed, TimeoutExt, TokioBackend, sleep, sleep_until, timeout, timeout_at};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

/// Fails the run if the test it guards has not ended within the support
/// watchdog's limit (the tests here are `async`, so the closure form does not
/// fit).
struct Watchdog(
    Option<mpsc::Sender<()>>,
    Option<std::thread::JoinHandle<()>>,
);

fn watchdog(name: &'static str) -> Watchdog {
    let (done, wait) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(support::WATCHDOG) {
            eprintln!("watchdog: test `{name}` hung; failing the run");
            std::process::exit(101);
        }
    });
    Watchdog(Some(done), Some(thread))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
        if let Some(thread) = self.1.take() {
            drop(thread.join());
        }
    }
}

/// Runs `fut` under a tokio timer `limit` long: `Ok` if it finished first.
/// On a paused runtime the limit is virtual time; corral's timers must come
/// first on the same clock.
async fn before<F: Future>(limit: Duration, fut: F) -> F::Output {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("not done within {limit:?} of tokio's clock"))
}

/// The virtual time since `start` on this runtime's clock.
fn since(start: tokio::time::Instant) -> Duration {
    tokio::time::Instant::now() - start
}

#[derive(Debug, PartialEq)]
struct TimedOut;

impl From<Elapsed> for TimedOut {
    fn from(_: Elapsed) -> Self {
        TimedOut
    }
}

// --- current-thread, real clock -------------------------------------------

#[tokio::test]
async fn current_thread_sleep_is_never_early() {
    let _w = watchdog("current_thread_sleep_is_never_early");
    before(Duration::from_secs(30), async {
        for ms in [1u32, 3, 7] {
            let start = Instant::now();
            sleep(MS * ms).await;
            assert!(start.elapsed() >= MS * ms);
        }
    })
    .await;
}

#[tokio::test]
async fn current_thread_timeout_is_never_early() {
    let _w = watchdog("current_thread_timeout_is_never_early");
    before(Duration::from_secs(30), async {
        let start = Instant::now();
        assert_eq!(timeout(5 * MS, pending::<()>()).await, Err(Elapsed));
        assert!(start.elapsed() >= 5 * MS);
    })
    .await;
}

#[tokio::test]
async fn current_thread_ready_futures_arm_nothing() {
    let _w = watchdog("current_thread_ready_futures_arm_nothing");
    assert_eq!(timeout(Duration::ZERO, async { 1 }).await, Ok(1));
    let past = Instant::now() - MS;
    assert_eq!(timeout_at(past, async { 2 }).await, Ok(2));
    assert_eq!(async { 3 }.timeout(HOUR).await, Ok(3));
}

#[tokio::test]
async fn current_thread_old_advice_changes_nothing() {
    let _w = watchdog("current_thread_old_advice_changes_nothing");
    // What the README used to say. It may lose the race to another test's
    // call; either way every runtime keeps its own timers.
    let _ = corral::time::set_backend(TokioBackend::current());
    before(Duration::from_secs(30), async {
        let start = Instant::now();
        sleep(4 * MS).await;
        assert!(start.elapsed() >= 4 * MS);
    })
    .await;
}

// --- current-thread, paused clock ------------------------------------------

#[tokio::test(start_paused = true)]
async fn paused_an_hour_of_sleep_passes_at_once() {
    let _w = watchdog("paused_an_hour_of_sleep_passes_at_once");
    let start = tokio::time::Instant::now();
    before(HOUR + Duration::from_secs(1), sleep(HOUR)).await;
    assert!(since(start) >= HOUR);
}

#[tokio::test(start_paused = true)]
async fn paused_a_day_long_timeout_fires_in_virtual_time() {
    let _w = watchdog("paused_a_day_long_timeout_fires_in_virtual_time");
    let day = 24 * HOUR;
    let start = tokio::time::Instant::now();
    let result = before(day + Duration::from_secs(1), timeout(day, pending::<()>())).await;
    assert_eq!(result, Err(Elapsed));
    assert!(since(start) >= day);
}

#[tokio::test(start_paused = true)]
async fn paused_timers_fire_in_deadline_order() {
    let _w = watchdog("paused_timers_fire_in_deadline_order");
    let order = std::sync::Mutex::new(Vec::new());
    let start = tokio::time::Instant::now();
    let sleeper = |secs: u64| {
        let order = &order;
        async move {
            sleep(Duration::from_secs(secs)).await;
            assert!(since(start) >= Duration::from_secs(secs));
            order.lock().unwrap().push(secs);
        }
    };
    before(
        Duration::from_secs(100),
        futures::future::join4(sleeper(40), sleeper(10), sleeper(30), sleeper(20)),
    )
    .await;
    assert_eq!(*order.lock().unwrap(), [10, 20, 30, 40]);
}

#[tokio::test(start_paused = true)]
async fn paused_corral_and_tokio_timers_share_one_clock() {
    let _w = watchdog("paused_corral_and_tokio_timers_share_one_clock");
    let order = std::sync::Mutex::new(Vec::new());
    let start = tokio::time::Instant::now();
    let corral_side = async {
        sleep(Duration::from_secs(20)).await;
        order.lock().unwrap().push("corral 20 s");
    };
    let tokio_side = async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        order.lock().unwrap().push("tokio 10 s");
        tokio::time::sleep(Duration::from_secs(20)).await;
        order.lock().unwrap().push("tokio 30 s");
    };
    before(
        Duration::from_secs(60),
        futures::future::join(corral_side, tokio_side),
    )
    .await;
    assert_eq!(
        *order.lock().unwrap(),
        ["tokio 10 s", "corral 20 s", "tokio 30 s"]
    );
    assert!(since(start) >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn paused_reset_moves_the_deadline_on_the_virtual_clock() {
    let _w = watchdog("paused_reset_moves_the_deadline_on_the_virtual_clock");
    let start = tokio::time::Instant::now();
    let mut s = std::pin::pin!(sleep(24 * HOUR));
    assert!(support::poll_once(&mut s).is_pending(), "armed");
    let at = start.into_std() + HOUR;
    s.as_mut().reset(at);
    before(2 * HOUR, s).await;
    assert!(since(start) >= HOUR);
}

#[tokio::test(start_paused = true)]
async fn paused_manual_advance_fires_corral_timers() {
    let _w = watchdog("paused_manual_advance_fires_corral_timers");
    let mut t = std::pin::pin!(timeout(Duration::from_secs(5), pending::<()>()));
    assert!(support::poll_once(&mut t).is_pending(), "armed");
    tokio::time::advance(Duration::from_secs(6)).await;
    // Time has passed the deadline without the runtime idling: the backend
    // timer fired during `advance`, and the timeout reports it now.
    assert_eq!(before(Duration::from_secs(1), t).await, Err(Elapsed));
}

#[tokio::test(start_paused = true)]
async fn paused_a_scope_under_a_deadline_drops_its_children() {
    let _w = watchdog("paused_a_scope_under_a_deadline_drops_its_children");
    let start = tokio::time::Instant::now();
    let result = before(
        2 * HOUR,
        timeout(
            HOUR,
            corral::scope(|s| async move {
                s.spawn(async { pending::<Result<(), ()>>().await });
                s.spawn(async {
                    sleep(10 * HOUR).await;
                    Ok(())
                });
                Ok::<_, ()>(())
            }),
        ),
    )
    .await;
    assert_eq!(result, Err(Elapsed));
    assert!(since(start) >= HOUR);
}

#[tokio::test(start_paused = true)]
async fn paused_old_advice_changes_nothing() {
    let _w = watchdog("paused_old_advice_changes_nothing");
    let _ = corral::time::set_backend(TokioBackend::current());
    let start = tokio::time::Instant::now();
    before(HOUR + Duration::from_secs(1), sleep(HOUR)).await;
    assert!(since(start) >= HOUR);
}

#[tokio::test(start_paused = true)]
async fn paused_sleep_until_an_instant_on_the_virtual_clock() {
    let _w = watchdog("paused_sleep_until_an_instant_on_the_virtual_clock");
    let start = tokio::time::Instant::now();
    let at = start.into_std() + 3 * HOUR;
    before(3 * HOUR + Duration::from_secs(1), sleep_until(at)).await;
    assert!(tokio::time::Instant::now().into_std() >= at);
}

// --- multi-thread, real clock ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_sleeps_and_timeouts_are_never_early() {
    let _w = watchdog("multi_thread_sleeps_and_timeouts_are_never_early");
    before(Duration::from_secs(30), async {
        for ms in [1u32, 4, 9] {
            let start = Instant::now();
            sleep(MS * ms).await;
            assert!(start.elapsed() >= MS * ms);
            let start = Instant::now();
            assert_eq!(timeout(MS * ms, pending::<()>()).await, Err(Elapsed));
            assert!(start.elapsed() >= MS * ms);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_thousands_of_timeouts_across_workers() {
    let _w = watchdog("multi_thread_thousands_of_timeouts_across_workers");
    let start = Instant::now();
    let tasks: Vec<_> = (0..2_000u64)
        .map(|i| {
            let deadline = start + Duration::from_micros(i * 37 % 40_000);
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let result = timeout_at(deadline, pending::<()>()).await;
                (result, Instant::now() >= deadline)
            })
        })
        .collect();
    before(Duration::from_secs(30), async {
        for task in tasks {
            let (result, on_time) = task.await.unwrap();
            assert_eq!(result, Err(Elapsed));
            assert!(on_time, "fired early");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_a_timeout_armed_on_one_task_finishes_on_another() {
    let _w = watchdog("multi_thread_a_timeout_armed_on_one_task_finishes_on_another");
    let mut t = Box::pin(timeout(10 * MS, pending::<()>()));
    assert!(support::poll_once(&mut t).is_pending(), "armed here");
    let start = Instant::now();
    let result = before(Duration::from_secs(30), tokio::spawn(t))
        .await
        .unwrap();
    assert_eq!(result, Err(Elapsed));
    assert!(start.elapsed() >= MS);
    let mut t = Box::pin(timeout(HOUR, pending::<()>()));
    assert!(support::poll_once(&mut t).is_pending());
    tokio::spawn(async move { drop(t) }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_a_child_timeout_fails_the_scope() {
    let _w = watchdog("multi_thread_a_child_timeout_fails_the_scope");
    let result = before(
        Duration::from_secs(30),
        corral::scope(|s| async move {
            s.spawn(async { pending::<Result<(), TimedOut>>().await });
            s.spawn(async {
                timeout(5 * MS, pending::<()>()).await?;
                Ok(())
            });
            Ok(())
        }),
    )
    .await;
    assert_eq!(result, Err(TimedOut));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_blocking_threads_use_the_runtime_too() {
    let _w = watchdog("multi_thread_blocking_threads_use_the_runtime_too");
    let done = tokio::task::spawn_blocking(|| {
        // A blocking-pool thread is inside the runtime: its timer rides the
        // runtime's driver while a plain executor waits for it.
        let start = Instant::now();
        futures::executor::block_on(sleep(3 * MS));
        start.elapsed()
    });
    let elapsed = before(Duration::from_secs(30), done).await.unwrap();
    assert!(elapsed >= 3 * MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_old_advice_changes_nothing() {
    let _w = watchdog("multi_thread_old_advice_changes_nothing");
    let _ = corral::time::set_backend(TokioBackend::current());
    let fired = AtomicUsize::new(0);
    before(Duration::from_secs(30), async {
        let sleeps = (1..=20u32).map(|i| {
            let fired = &fired;
            async move {
                sleep(MS * (i % 5)).await;
                fired.fetch_add(1, Ordering::SeqCst);
            }
        });
        futures::future::join_all(sleeps).await;
    })
    .await;
    assert_eq!(fired.load(Ordering::SeqCst), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_a_timer_armed_here_fires_on_a_plain_thread() {
    let _w = watchdog("multi_thread_a_timer_armed_here_fires_on_a_plain_thread");
    let mut s = Box::pin(sleep(5 * MS));
    assert!(
        support::poll_once(&mut s).is_pending(),
        "armed in this runtime"
    );
    let start = Instant::now();
    let waited = std::thread::spawn(move || {
        futures::executor::block_on(s);
        start.elapsed()
    });
    let elapsed = before(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || waited.join().unwrap()),
    )
    .await
    .unwrap();
    assert!(elapsed >= MS);
}

// --- tokio's co-operative budget ---------------------------------------------

#[tokio::test]
async fn a_timer_armed_with_the_task_budget_spent_still_fires() {
    let _w = watchdog("a_timer_armed_with_the_task_budget_spent_still_fires");
    let mut s = std::pin::pin!(sleep(2 * MS));
    std::future::poll_fn(|cx| {
        // Spend this task's budget in one poll, as a busy task reading a
        // channel would, then arm a corral timer in the same poll.
        while std::pin::pin!(tokio::task::coop::consume_budget())
            .poll(cx)
            .is_ready()
        {}
        assert!(s.as_mut().poll(cx).is_pending(), "armed");
        std::task::Poll::Ready(())
    })
    .await;
    before(Duration::from_secs(30), s).await;
}
