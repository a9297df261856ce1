//! `set_backend` with a clock of the program's own takes precedence over the
//! tokio runtime a timer is armed in: a custom clock serves every timer of
//! the process, inside tokio runtimes (even paused ones) too.
#![cfg(all(feature = "tokio", feature = "async-io"))]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corral::time::{AsyncIoBackend, BackendSleep, TimerBackend, sleep};

/// async-io's timers, counted.
struct Counted;

static TIMERS: AtomicUsize = AtomicUsize::new(0);

impl TimerBackend for Counted {
    fn now(&self) -> Instant {
        AsyncIoBackend.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BackendSleep {
        TIMERS.fetch_add(1, Ordering::SeqCst);
        AsyncIoBackend.sleep_until(deadline)
    }
}

/// The only test in this binary: the choice is process-wide.
#[test]
fn a_custom_backend_serves_timers_inside_tokio_runtimes() {
    corral::time::set_backend(Counted).expect("the first backend of this test binary");
    support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let (real, virtual_) = rt.block_on(async {
            let (real, virtual_) = (Instant::now(), tokio::time::Instant::now());
            sleep(Duration::from_millis(20)).await;
            (real.elapsed(), virtual_.elapsed())
        });
        assert!(
            TIMERS.load(Ordering::SeqCst) >= 1,
            "the custom backend was not asked"
        );
        // On the custom (real) clock, not the paused one: the paused clock
        // would have jumped the 20 ms at once.
        assert!(real >= Duration::from_millis(20), "{real:?}");
        assert!(virtual_ < Duration::from_millis(20), "{virtual_:?}");
    });
}
