//! The tests of `tests/hedge.rs` that run on both executors.

use std::cell::Cell;
use std::time::{Duration, Instant};

use corral::time::VirtualClock;

use corral::resilience::hedge;

use crate::support::{DropCounter, pending_forever, poll_once, yield_now, yield_times};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

/// A first attempt that finishes before `after` is the answer; no second
/// attempt is made.
pub(crate) async fn no_hedge_when_the_first_attempt_finishes_in_time() {
    let made = Cell::new(0);
    let out = hedge(HOUR, || {
        made.set(made.get() + 1);
        async {
            yield_times(3).await;
            "first"
        }
    })
    .await;
    assert_eq!((out, made.get()), ("first", 1));
}

/// A first attempt that fails before `after` is returned as it is: a
/// failure is not hedged.
pub(crate) async fn a_failure_before_the_delay_is_returned_not_hedged() {
    let made = Cell::new(0);
    let out = hedge(HOUR, || {
        made.set(made.get() + 1);
        async {
            yield_now().await;
            Err::<(), _>(503)
        }
    })
    .await;
    assert_eq!((out, made.get()), (Err(503), 1));
}

/// A stuck first attempt: the hedge starts after `after`, answers, and the
/// first attempt is dropped before the hedge returns.
pub(crate) async fn the_hedge_wins_and_the_first_attempt_is_dropped() {
    let dropped = DropCounter::new();
    let made = Cell::new(0);
    let out = hedge(MS, || {
        made.set(made.get() + 1);
        let stuck = (made.get() == 1).then(|| pending_forever::<&str>(&dropped));
        async move {
            match stuck {
                Some(stuck) => stuck.await,
                None => "hedge",
            }
        }
    })
    .await;
    assert_eq!((out, made.get()), ("hedge", 2));
    assert_eq!(dropped.get(), 1, "the first attempt was dropped in place");
}

/// The hedge started (the first attempt waits until it has), but the first
/// attempt answers first: its output wins and the hedge is dropped.
pub(crate) async fn the_first_attempt_wins_after_the_hedge_started() {
    let dropped = DropCounter::new();
    let made = Cell::new(0);
    let made = &made;
    let out = hedge(MS, || {
        made.set(made.get() + 1);
        let second = (made.get() == 2).then(|| pending_forever::<&str>(&dropped));
        async move {
            match second {
                Some(second) => second.await,
                None => {
                    while made.get() < 2 {
                        yield_now().await;
                    }
                    "first"
                }
            }
        }
    })
    .await;
    assert_eq!((out, made.get()), ("first", 2));
    assert_eq!(dropped.get(), 1, "the hedge was dropped in place");
}

/// Once both run, the first output wins whatever it is: an error too.
pub(crate) async fn after_the_hedge_started_a_failure_wins_too() {
    let made = Cell::new(0);
    let made = &made;
    let out = hedge(MS, || {
        made.set(made.get() + 1);
        let n = made.get();
        async move {
            if n == 1 {
                while made.get() < 2 {
                    yield_now().await;
                }
                Err("first failed")
            } else {
                std::future::pending::<Result<(), &str>>().await
            }
        }
    })
    .await;
    assert_eq!((out, made.get()), (Err("first failed"), 2));
}

/// A hedge is a future: no attempt is made until it is polled.
pub(crate) async fn nothing_runs_before_the_first_poll() {
    let made = Cell::new(0);
    let h = hedge(Duration::ZERO, || {
        made.set(made.get() + 1);
        std::future::ready(())
    });
    yield_now().await;
    assert_eq!(made.get(), 0);
    drop(h);
    assert_eq!(made.get(), 0);
}

/// Dropping the hedge drops both attempts in place.
pub(crate) async fn dropping_the_hedge_drops_both_attempts() {
    let dropped = DropCounter::new();
    let made = Cell::new(0);
    let mut h = Box::pin(hedge(Duration::ZERO, || {
        made.set(made.get() + 1);
        pending_forever::<()>(&dropped)
    }));
    assert!(poll_once(&mut h).is_pending());
    assert_eq!((made.get(), dropped.get()), (2, 0));
    drop(h);
    assert_eq!(dropped.get(), 2);
}

/// With a zero delay both attempts race from the start: the faster one
/// (here the second) wins.
pub(crate) async fn a_zero_delay_races_both_from_the_first_poll() {
    let made = Cell::new(0);
    let out = hedge(Duration::ZERO, || {
        made.set(made.get() + 1);
        let n = made.get();
        async move {
            yield_times(if n == 1 { 10 } else { 1 }).await;
            n
        }
    })
    .await;
    assert_eq!((out, made.get()), (2, 2));
}

/// Virtual milliseconds since `start` on `clock`.
fn at(clock: &VirtualClock, start: Instant) -> u64 {
    (clock.now() - start).as_millis() as u64
}

/// Attempt `n` of a hedge on `clock` takes `took[n - 1]` ms and returns
/// `(n, when it was made)`; counts its drops.
async fn timed_hedge(after: Duration, took: [u64; 2]) -> ((usize, u64), u64, usize) {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let dropped = DropCounter::new();
    let made = Cell::new(0);
    let out = clock
        .run(hedge(after, || {
            made.set(made.get() + 1);
            let (n, made_at, guard) = (made.get(), at(&clock, start), dropped.guard());
            async move {
                let _guard = guard;
                corral::time::sleep(Duration::from_millis(took[n - 1])).await;
                (n, made_at)
            }
        }))
        .await;
    (out, at(&clock, start), dropped.get())
}

/// On a virtual clock, exactly: the hedge is made at `after` (250 ms) and
/// answers 100 ms later, at 350 ms, while the first would take 1 s.
pub(crate) async fn the_hedge_starts_at_exactly_after() {
    let (out, ended, dropped) = timed_hedge(250 * MS, [1_000, 100]).await;
    assert_eq!((out, ended, dropped), ((2, 250), 350, 2));
}

/// The hedge made at 250 ms, the first attempt answers at 300 ms and wins.
pub(crate) async fn the_first_attempt_answers_at_its_own_time() {
    let (out, ended, dropped) = timed_hedge(250 * MS, [300, 1_000]).await;
    assert_eq!((out, ended, dropped), ((1, 0), 300, 2));
}

/// A first attempt done at 249 ms of a 250 ms delay: no hedge, ever, and
/// the run ends at 249 ms (the hedge's timer, still armed in the finished
/// `Hedge` until the run drops it, never fires).
pub(crate) async fn a_first_attempt_done_just_before_after_is_not_hedged() {
    let (out, ended, dropped) = timed_hedge(250 * MS, [249, 1]).await;
    assert_eq!((out, ended, dropped), ((1, 0), 249, 1));
}
