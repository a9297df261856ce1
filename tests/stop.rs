//! Graceful stop: `Scope::stop`, `StopHandle`, `Nursery::grace`. Each test
//! runs for `scope` and `local_scope`, on smol and on the minimal executor.
#![cfg(feature = "async-io")]

#[macro_use]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corral::StopHandle;
use corral::time::sleep;
use futures::FutureExt;
use support::{DropCounter, pending_forever, yield_now};

const GRACE: Duration = Duration::from_millis(40);

/// The tests of `stop/behaviour.rs` on `corral::scope`.
#[path = "stop"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `stop/behaviour.rs` on `corral::local_scope`.
#[path = "stop"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The `Stopped` future is `Send + 'static`, and so is `StopHandle`.
#[test]
fn stop_types_are_send_and_static() {
    fn send_static<T: Send + Sync + 'static>() {}
    fn send<T: Send + 'static>() {}
    send_static::<StopHandle>();
    send::<corral::Stopped>();
}

/// Stress: stops from other threads racing children that finish on their own.
#[test]
fn stops_from_other_threads_race_completions() {
    support::watchdog(|| {
        for round in 0..support::scaled(200) {
            let finished = Arc::new(AtomicUsize::new(0));
            let f2 = finished.clone();
            let out = futures::executor::block_on(
                // A grace far longer than the children need once stopped:
                // the race under test is the request against completions,
                // not the grace (a short one expired on a loaded machine
                // and dropped the waiting children).
                corral::Nursery::new()
                    .grace(Duration::from_secs(30))
                    .scope(|s| async move {
                        let stop = s.stop_handle();
                        let thread = std::thread::spawn(move || stop.stop());
                        for i in 0..8 {
                            let s2 = s.clone();
                            let f3 = f2.clone();
                            s.spawn(async move {
                                if i % 2 == 0 {
                                    s2.stopped().await;
                                }
                                f3.fetch_add(1, Ordering::SeqCst);
                                Ok::<_, ()>(())
                            });
                        }
                        s.stopped().await;
                        thread.join().unwrap();
                        Ok(round)
                    }),
            );
            assert_eq!(out, Ok(round));
            assert_eq!(finished.load(Ordering::SeqCst), 8);
        }
    });
}
