//! corral's timers follow tokio's paused clock, with no set-up: under a
//! paused runtime an hour of corral sleeps and timeouts pass in virtual time,
//! at once, and two paused runtimes at once each keep their own clock.
#![cfg(feature = "tokio")]

mod support;

use std::future::pending;
use std::time::Duration;

use corral::time::{Elapsed, sleep, timeout};

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn corral_timers_follow_tokios_paused_clock() {
    // Were the hour real, the watchdog would fail the test.
    support::watchdog(|| {
        paused().block_on(async {
            let start = tokio::time::Instant::now();
            sleep(Duration::from_secs(3600)).await;
            assert!(start.elapsed() >= Duration::from_secs(3600));
            let day = Duration::from_secs(86_400);
            assert_eq!(timeout(day, pending::<()>()).await, Err(Elapsed));
            assert!(start.elapsed() >= Duration::from_secs(3600) + day);
        })
    });
}

#[test]
fn two_paused_runtimes_at_once_keep_their_own_clocks() {
    support::watchdog(|| {
        // Each runtime sleeps its own virtual span on its own thread, at the
        // same time; a timer filed on the other's clock would fire at the
        // wrong virtual time, or wait for real.
        let on_own_clock = |hours: u64| {
            std::thread::spawn(move || {
                paused().block_on(async move {
                    let start = tokio::time::Instant::now();
                    for _ in 0..hours {
                        sleep(Duration::from_secs(3600)).await;
                    }
                    start.elapsed()
                })
            })
        };
        let (short, long) = (on_own_clock(1), on_own_clock(24));
        let (short, long) = (short.join().unwrap(), long.join().unwrap());
        let hour = Duration::from_secs(3600);
        assert!(
            (hour..hour + Duration::from_secs(1)).contains(&short),
            "{short:?}"
        );
        assert!(
            (24 * hour..24 * hour + Duration::from_secs(1)).contains(&long),
            "{long:?}"
        );
    });
}
