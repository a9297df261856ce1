//! The tokio backend follows tokio's clock: under a paused runtime an hour of
//! corral sleeps and timeouts pass in virtual time, at once.
#![cfg(feature = "tokio")]

mod support;

use std::future::pending;
use std::time::Duration;

use corral::time::{Elapsed, TokioBackend, sleep, timeout};

/// The only test in this binary: the backend is process-wide.
#[test]
fn corral_timers_follow_tokios_paused_clock() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    // Were the hour real, the watchdog would fail the test.
    support::watchdog(|| {
        rt.block_on(async {
            corral::time::set_backend(TokioBackend::current()).unwrap();
            let start = tokio::time::Instant::now();
            sleep(Duration::from_secs(3600)).await;
            assert!(start.elapsed() >= Duration::from_secs(3600));
            let day = Duration::from_secs(86_400);
            assert_eq!(timeout(day, pending::<()>()).await, Err(Elapsed));
            assert!(start.elapsed() >= Duration::from_secs(3600) + day);
        })
    });
}
