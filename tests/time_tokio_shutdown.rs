//! Tokio runtimes that shut down while corral timers armed in them are still
//! pending: nothing aborts, panics or hangs, and every such timer still fires,
//! no earlier than its deadline, on the default backend.
//!
//! Each test first follows the old advice, `set_backend(TokioBackend::current())`
//! inside its runtime: before corral kept timers per runtime, that made the
//! first runtime to call it the clock of the whole process, and these are the
//! ways that went wrong. Now it changes nothing.
#![cfg(feature = "tokio")]
// The point of these tests: timers armed in a runtime are handed out of it,
// unawaited, to be awaited after it is gone.
#![allow(clippy::async_yields_async)]

mod support;

use std::future::pending;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corral::time::{Elapsed, Sleep, TokioBackend, sleep, timeout};
use support::poll_once;

const MS: Duration = Duration::from_millis(1);

/// The environment variable that makes this binary act out a scenario as a
/// child process.
const CHILD: &str = "CORRAL_TOKIO_SHUTDOWN_CHILD";

/// Runs this test binary again, running only `test` with [`CHILD`] set to
/// `mode`, and returns its exit status and output. A child still running
/// after a minute is killed and reported as hung.
fn run_child(test: &str, mode: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "mode {mode}: the child hung\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// A plain thread that waits for `armed` (a timer armed in a runtime) on a
/// plain executor and reports how long after `start` it fired.
fn wait_on_a_plain_thread<F>(armed: Pin<Box<F>>, start: Instant) -> mpsc::Receiver<Duration>
where
    F: std::future::Future + Send + 'static,
{
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        futures::executor::block_on(armed);
        let _ = done.send(start.elapsed());
    });
    finished
}

/// Waits for every plain thread's report: each timer fired, none early.
fn all_fired(waiting: Vec<(mpsc::Receiver<Duration>, Duration)>) {
    for (finished, deadline) in waiting {
        let elapsed = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("a timer of the dropped runtime never fired");
        assert!(
            elapsed >= deadline,
            "fired after {elapsed:?}, before {deadline:?}"
        );
    }
}

/// A sleep armed on this thread (inside the runtime it is in), ready to move.
fn armed_sleep(d: Duration) -> Pin<Box<Sleep>> {
    let mut s = Box::pin(sleep(d));
    assert!(poll_once(&mut s).is_pending(), "armed");
    s
}

/// The body of `#[tokio::main]` in the child: a plain thread arms a corral
/// timer (inside the runtime's context or, with the old advice, on the
/// process-wide tokio backend), then main returns and the runtime shuts down
/// while that timer is pending.
#[tokio::main]
async fn tokio_main(old_advice: bool) -> JoinHandle<Duration> {
    if old_advice {
        corral::time::set_backend(TokioBackend::current()).unwrap();
    }
    let handle = tokio::runtime::Handle::current();
    let (armed, wait) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _in_runtime = (!old_advice).then(|| handle.enter());
        let start = Instant::now();
        futures::executor::block_on(async {
            let mut s = std::pin::pin!(sleep(200 * MS));
            assert!(poll_once(&mut s).is_pending(), "armed");
            armed.send(()).unwrap();
            s.await;
        });
        start.elapsed()
    });
    wait.recv().unwrap();
    thread
}

#[test]
fn a_tokio_main_that_returns_with_a_timer_pending_on_a_std_thread_exits_cleanly() {
    const NAME: &str =
        "a_tokio_main_that_returns_with_a_timer_pending_on_a_std_thread_exits_cleanly";
    if let Ok(mode) = std::env::var(CHILD) {
        // The child: main returns, its runtime is dropped, and the plain
        // thread's timer still fires (on the default backend).
        let thread = tokio_main(mode == "old-advice");
        let elapsed = thread.join().expect("the timer's thread panicked");
        assert!(elapsed >= 200 * MS, "fired early: {elapsed:?}");
        println!("child finished: the timer fired after {elapsed:?}");
        return;
    }
    for mode in ["old-advice", "entered"] {
        let (status, output) = run_child(NAME, mode);
        assert!(
            status.success(),
            "mode {mode}: the child ended with {status}\n{output}"
        );
        assert!(
            output.contains("child finished"),
            "mode {mode}: the scenario did not run\n{output}"
        );
    }
}

#[test]
fn dropping_a_current_thread_runtime_hands_its_timers_over() {
    support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let start = Instant::now();
        let (sleeps, timeouts) = rt.block_on(async {
            let _ = corral::time::set_backend(TokioBackend::current());
            let sleeps: Vec<_> = (1..=3u32).map(|i| armed_sleep(MS * 20 * i)).collect();
            let timeouts: Vec<_> = (1..=3u32)
                .map(|i| {
                    let mut t = Box::pin(timeout(MS * 15 * i, pending::<()>()));
                    assert!(poll_once(&mut t).is_pending(), "armed");
                    t
                })
                .collect();
            (sleeps, timeouts)
        });
        let mut waiting = Vec::new();
        for (i, s) in (1..).zip(sleeps) {
            waiting.push((wait_on_a_plain_thread(s, start), MS * 20 * i));
        }
        for (i, t) in (1..).zip(timeouts) {
            let checked = Box::pin(async move { assert_eq!(t.await, Err(Elapsed)) });
            waiting.push((wait_on_a_plain_thread(checked, start), MS * 15 * i));
        }
        // A plain thread inside the runtime's context arms there.
        let (armed, is_armed) = mpsc::channel();
        let (done, finished) = mpsc::channel();
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            let _in_runtime = handle.enter();
            let start = Instant::now();
            futures::executor::block_on(async {
                let mut s = std::pin::pin!(sleep(40 * MS));
                assert!(poll_once(&mut s).is_pending(), "armed");
                armed.send(()).unwrap();
                s.await;
            });
            let _ = done.send(start.elapsed());
        });
        is_armed.recv().unwrap();
        waiting.push((finished, 40 * MS));
        // Nobody drives the runtime again: its timers can only fire once it
        // is gone and they have moved to the default backend.
        drop(rt);
        all_fired(waiting);
    });
}

#[test]
fn dropping_a_multi_thread_runtime_hands_its_timers_over() {
    support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let start = Instant::now();
        let sleeps = rt.block_on(async {
            let _ = corral::time::set_backend(TokioBackend::current());
            // Armed on the workers, and one left behind in a task that the
            // shutdown drops.
            tokio::spawn(sleep(Duration::from_secs(3600)));
            let tasks: Vec<_> = (1..=4u32)
                .map(|i| tokio::spawn(async move { armed_sleep(MS * 100 * i) }))
                .collect();
            let mut sleeps = Vec::new();
            for task in tasks {
                sleeps.push(task.await.unwrap());
            }
            sleeps
        });
        let waiting = (1..)
            .zip(sleeps)
            .map(|(i, s)| (wait_on_a_plain_thread(s, start), MS * 100 * i))
            .collect();
        drop(rt);
        all_fired(waiting);
    });
}

#[test]
fn a_runtime_shut_down_in_the_background_hands_its_timers_over() {
    support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let start = Instant::now();
        let s = rt.block_on(async {
            let _ = corral::time::set_backend(TokioBackend::current());
            armed_sleep(60 * MS)
        });
        let waiting = vec![(wait_on_a_plain_thread(s, start), 60 * MS)];
        rt.shutdown_background();
        all_fired(waiting);
    });
}

#[test]
fn dropping_a_paused_runtime_hands_its_timers_over() {
    support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let start = Instant::now();
        let sleeps = rt.block_on(async {
            let _ = corral::time::set_backend(TokioBackend::current());
            vec![armed_sleep(30 * MS), armed_sleep(60 * MS)]
        });
        // The deadlines were virtual instants; on the default backend they
        // are read on the real clock, which the paused one never ran ahead of
        // here, so they are still never early by it.
        let waiting = (1..)
            .zip(sleeps)
            .map(|(i, s)| (wait_on_a_plain_thread(s, start), MS * 30 * i))
            .collect();
        drop(rt);
        all_fired(waiting);
    });
}

#[test]
fn many_runtimes_come_and_go_with_timers_pending() {
    support::watchdog(|| {
        let mut waiting = Vec::new();
        for i in 0..60u32 {
            let mut builder = match i % 3 {
                0 => tokio::runtime::Builder::new_current_thread(),
                1 => {
                    let mut b = tokio::runtime::Builder::new_current_thread();
                    b.start_paused(true);
                    b
                }
                _ => {
                    let mut b = tokio::runtime::Builder::new_multi_thread();
                    b.worker_threads(1);
                    b
                }
            };
            let rt = builder.enable_time().build().unwrap();
            let start = Instant::now();
            let left = rt.block_on(async {
                let _ = corral::time::set_backend(TokioBackend::current());
                // One that fires in the runtime, one its task still holds at
                // shutdown, and one handed out to fire after it.
                sleep(MS).await;
                tokio::spawn(sleep(Duration::from_secs(3600)));
                armed_sleep(5 * MS)
            });
            if i % 10 == 0 {
                waiting.push((wait_on_a_plain_thread(left, start), 5 * MS));
            } else {
                drop(left);
            }
            drop(rt);
        }
        all_fired(waiting);
    });
}

#[test]
fn a_runtime_without_its_time_driver_panics_as_tokio_does() {
    support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(sleep(MS));
        }))
        .expect_err("a corral timer needs the runtime's time driver, as tokio's own do");
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(message.contains("enable_time"), "{message}");
        // Outside the runtime, the default backend still serves.
        futures::executor::block_on(sleep(MS));
    });
}
