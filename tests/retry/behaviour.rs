//! The tests of `tests/retry.rs` that run on both executors.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corral::resilience::{Backoff, retry};
use corral::time::{VirtualClock, timeout};

use crate::support::{DropCounter, poll_once, yield_now};

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

/// What went wrong with one crawl request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Failure {
    Status(u16),
    Connect,
}

/// Fails with `errors` in turn, then succeeds with the attempt's number;
/// counts the attempts made.
fn scripted<E: Copy>(
    errors: &[E],
    made: &Cell<usize>,
) -> impl FnMut() -> std::future::Ready<Result<usize, E>> {
    move || {
        made.set(made.get() + 1);
        let n = made.get();
        std::future::ready(match errors.get(n - 1) {
            Some(&error) => Err(error),
            None => Ok(n),
        })
    }
}

/// Two failures then a success: three attempts, two delays announced.
pub(crate) async fn retries_until_an_attempt_succeeds() {
    let made = Cell::new(0);
    let seen = RefCell::new(Vec::new());
    let out = retry(
        Backoff::constant(MS).max_attempts(5),
        scripted(&["a", "b"], &made),
    )
    .notify(|error, delay| seen.borrow_mut().push((*error, delay)))
    .await;
    assert_eq!(out, Ok(3));
    assert_eq!(made.get(), 3);
    assert_eq!(*seen.borrow(), [("a", MS), ("b", MS)]);
}

/// An error the predicate calls permanent is returned without a retry.
pub(crate) async fn a_permanent_error_is_returned_at_once() {
    let made = Cell::new(0);
    let out = retry(Backoff::constant(HOUR), scripted(&[404u16], &made))
        .when(|status| *status >= 500)
        .await;
    assert_eq!((out, made.get()), (Err(404), 1));
}

/// The crawl's rule: 503 and connect errors again, a 404 never.
pub(crate) async fn the_crawls_predicate_retries_503_and_connect_errors_only() {
    let retryable = |f: &Failure| matches!(f, Failure::Status(503) | Failure::Connect);
    let made = Cell::new(0);
    let script = [Failure::Status(503), Failure::Connect, Failure::Status(404)];
    let out = retry(
        Backoff::constant(MS).max_attempts(10),
        scripted(&script, &made),
    )
    .when(retryable)
    .await;
    assert_eq!((out, made.get()), (Err(Failure::Status(404)), 3));
    let made = Cell::new(0);
    let script = [Failure::Connect, Failure::Status(503)];
    let out = retry(
        Backoff::constant(MS).max_attempts(10),
        scripted(&script, &made),
    )
    .when(retryable)
    .await;
    assert_eq!((out, made.get()), (Ok(3), 3));
}

/// With every attempt failing, exactly `max_attempts` are made and the last
/// error comes back.
pub(crate) async fn the_last_error_is_returned_when_the_attempts_are_used_up() {
    let made = Cell::new(0);
    let out = retry(Backoff::exponential(MS).max_attempts(4), || {
        made.set(made.get() + 1);
        std::future::ready(Err::<(), _>(made.get()))
    })
    .await;
    assert_eq!((out, made.get()), (Err(4), 4));
}

/// A delay the clock cannot reach is a retry that never starts: the error
/// comes back at once instead of a wait forever (an uncapped exponential
/// policy saturates to `Duration::MAX`; found by an outside review).
pub(crate) async fn a_delay_past_the_clocks_range_returns_the_error() {
    let made = Cell::new(0);
    let attempt = || {
        made.set(made.get() + 1);
        std::future::ready(Err::<(), _>(made.get()))
    };
    let out = retry([Duration::MAX], attempt).await;
    assert_eq!((out, made.get()), (Err(1), 1));
    let two_centuries = Duration::from_secs(200 * 365 * 86_400);
    made.set(0);
    let out = retry([MS, two_centuries], attempt).await;
    assert_eq!((out, made.get()), (Err(2), 2));
    // Uncapped and doubling: 1 ms, 2 ms, ... until past the range.
    made.set(0);
    let policy = Backoff::exponential(Duration::from_secs(1 << 20)).max_attempts(u32::MAX);
    let out = corral::time::VirtualClock::autojump()
        .run(retry(policy, attempt))
        .await;
    assert!(out.is_err());
    assert!(
        made.get() < 64,
        "gave up once the delay left the range: {}",
        made.get()
    );
}

/// `max_attempts(1)`: the first attempt and no retry.
pub(crate) async fn one_attempt_never_retries() {
    let made = Cell::new(0);
    let out = retry(
        Backoff::constant(MS).max_attempts(1),
        scripted(&["x"], &made),
    )
    .await;
    assert_eq!((out, made.get()), (Err("x"), 1));
}

/// Any `IntoIterator<Item = Duration>` is a policy; an empty one retries
/// nothing, a `repeat_n(d, n)` retries `n` times.
pub(crate) async fn an_empty_policy_makes_one_attempt() {
    let made = Cell::new(0);
    let out = retry(std::iter::empty(), scripted(&["x"], &made)).await;
    assert_eq!((out, made.get()), (Err("x"), 1));
    let made = Cell::new(0);
    let out = retry(std::iter::repeat_n(MS, 2), scripted(&["x"; 5], &made)).await;
    assert_eq!((out, made.get()), (Err("x"), 3));
}

/// A retry is a future: no attempt is made (and no policy built) until it
/// is polled.
pub(crate) async fn nothing_runs_before_the_first_poll() {
    let made = Cell::new(0);
    let r = retry(Backoff::constant(MS), scripted(&["x"], &made));
    yield_now().await;
    assert_eq!(made.get(), 0);
    drop(r);
    assert_eq!(made.get(), 0);
}

/// A failed attempt's future is gone before the next one is made (no two
/// attempts of one retry ever live at once).
pub(crate) async fn each_failed_attempt_is_dropped_before_the_next_is_made() {
    let dropped = DropCounter::new();
    let made = Cell::new(0);
    let out = retry(Backoff::constant(MS).max_attempts(4), || {
        assert_eq!(
            dropped.get(),
            made.get(),
            "the last attempt was dropped first"
        );
        made.set(made.get() + 1);
        let guard = dropped.guard();
        async move {
            let _guard = guard;
            yield_now().await;
            Err::<(), _>("busy")
        }
    })
    .await;
    assert_eq!((out, made.get(), dropped.get()), (Err("busy"), 4, 4));
}

/// Dropping the retry drops the attempt in flight, in place.
pub(crate) async fn dropping_the_retry_drops_the_attempt_in_flight() {
    let dropped = DropCounter::new();
    let mut r = Box::pin(retry(Backoff::constant(MS), || {
        crate::support::pending_forever::<Result<(), ()>>(&dropped)
    }));
    assert!(poll_once(&mut r).is_pending());
    assert_eq!(dropped.get(), 0);
    drop(r);
    assert_eq!(dropped.get(), 1);
}

/// The deadline rule: inside a 60 s timeout, a retry that would start an
/// hour later is not started; the last error comes back at once (the
/// timeout does not fire), and `notify` hears of no retry.
pub(crate) async fn a_retry_that_would_start_past_the_deadline_is_not_started() {
    let made = Cell::new(0);
    let notified = Cell::new(0);
    let start = Instant::now();
    let out = timeout(
        Duration::from_secs(60),
        retry(
            Backoff::constant(HOUR).max_attempts(10),
            scripted(&["down"; 10], &made),
        )
        .notify(|_, _| notified.set(notified.get() + 1)),
    )
    .await;
    assert_eq!(out, Ok(Err("down")), "the last error, not a timeout");
    assert_eq!((made.get(), notified.get()), (1, 0));
    // The rule compares against the deadline, not against a guess: one
    // that could fit an hour's delay lets it start (checked without
    // sleeping it: the first poll ends in the sleep).
    let made = Cell::new(0);
    let mut long = pin!(timeout(
        2 * HOUR,
        retry(Backoff::constant(HOUR), scripted(&["down"; 10], &made)),
    ));
    assert!(poll_once(&mut long).is_pending(), "sleeping the hour");
    assert_eq!(made.get(), 1);
    assert!(
        Instant::now() < start + Duration::from_secs(59),
        "never slept the hour"
    );
}

/// Under a generous deadline, retries go on as the policy says.
pub(crate) async fn retries_that_fit_before_the_deadline_go_on() {
    let made = Cell::new(0);
    let out = timeout(
        Duration::from_secs(60),
        retry(
            Backoff::constant(MS).max_attempts(5),
            scripted(&["a", "b", "c"], &made),
        ),
    )
    .await;
    assert_eq!((out, made.get()), (Ok(Ok(4)), 4));
}

/// A retry in a scope's child sees the timeout around the scope.
pub(crate) async fn a_child_of_a_scope_under_a_timeout_keeps_to_its_deadline() {
    let out = timeout(
        Duration::from_secs(60),
        corral::scope(|s| async move {
            let child = s.spawn(async {
                let made = AtomicUsize::new(0);
                let out = retry(Backoff::constant(HOUR), || {
                    made.fetch_add(1, Ordering::SeqCst);
                    std::future::ready(Err::<(), _>(7u8))
                })
                .await;
                Ok::<_, ()>((out, made.into_inner()))
            });
            Ok(child.await)
        }),
    )
    .await;
    assert_eq!(out, Ok(Ok((Err(7), 1))));
}

/// `max_elapsed(ZERO)`: no retry ever fits.
pub(crate) async fn a_zero_budget_never_retries() {
    let made = Cell::new(0);
    let out = retry(
        Backoff::constant(Duration::ZERO),
        scripted(&["x"; 3], &made),
    )
    .max_elapsed(Duration::ZERO)
    .await;
    assert_eq!((out, made.get()), (Err("x"), 1));
}

/// A delay that would end past the budget is not slept; one within it is.
pub(crate) async fn a_retry_past_the_elapsed_budget_is_not_started() {
    let made = Cell::new(0);
    let out = retry(
        Backoff::constant(HOUR).max_attempts(10),
        scripted(&["x"; 10], &made),
    )
    .max_elapsed(Duration::from_secs(60))
    .await;
    assert_eq!((out, made.get()), (Err("x"), 1));
    let made = Cell::new(0);
    let out = retry(
        Backoff::constant(MS).max_attempts(10),
        scripted(&["x"; 2], &made),
    )
    .max_elapsed(Duration::from_secs(60))
    .await;
    assert_eq!((out, made.get()), (Ok(3), 3));
}

/// The budget runs from the first attempt's start, attempts included:
/// attempts that each take 20 ms leave no room for a third under a 30 ms
/// budget, whatever the (zero) delays (earliness only: on a slow machine
/// even the second may not start).
pub(crate) async fn the_budget_counts_the_time_spent_in_attempts() {
    let made = Cell::new(0);
    let out = retry(Backoff::constant(Duration::ZERO).max_attempts(100), || {
        made.set(made.get() + 1);
        async {
            std::thread::sleep(20 * MS);
            Err::<(), _>("slow")
        }
    })
    .max_elapsed(30 * MS)
    .await;
    assert_eq!(out, Err("slow"));
    assert!((1..=2).contains(&made.get()), "{} attempts", made.get());
}

/// The delays a retry sleeps are the policy's, jittered within its bounds.
pub(crate) async fn jittered_delays_stay_within_the_policy() {
    let delays = RefCell::new(Vec::new());
    let out = retry(Backoff::exponential(MS).max_attempts(6).jitter(), || {
        std::future::ready(Err::<(), _>(()))
    })
    .notify(|_, delay| delays.borrow_mut().push(delay))
    .await;
    assert_eq!(out, Err(()));
    let delays = delays.into_inner();
    assert_eq!(delays.len(), 5);
    for (delay, bound) in delays.iter().zip([1, 2, 4, 8, 16]) {
        assert!(*delay <= bound * MS, "{delay:?} > {bound} ms");
    }
}

/// Virtual milliseconds since `start` on `clock`.
fn at(clock: &VirtualClock, start: Instant) -> u64 {
    (clock.now() - start).as_millis() as u64
}

/// On a virtual clock, exactly: with delays of 100, 200 and 400 ms the
/// attempts start at 0, 100, 300 and 700 ms (the third retry at 700 ms).
pub(crate) async fn retries_start_at_exactly_the_policys_delays() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let starts = RefCell::new(Vec::new());
    let out = clock
        .run(retry(Backoff::exponential(100 * MS), || {
            starts.borrow_mut().push(at(&clock, start));
            std::future::ready(Err::<(), _>("down"))
        }))
        .await;
    assert_eq!(out, Err("down"));
    assert_eq!(*starts.borrow(), [0, 100, 300, 700]);
    assert_eq!(at(&clock, start), 700, "no sleep after the last attempt");
}

/// Jittered delays are slept exactly, rounded up to the timers' 1 ms tick.
pub(crate) async fn jittered_delays_are_slept_exactly() {
    let clock = VirtualClock::autojump();
    let starts = RefCell::new(Vec::new());
    let delays = RefCell::new(Vec::new());
    let _ = clock
        .run(
            retry(
                Backoff::exponential(100 * MS).max_attempts(6).jitter(),
                || {
                    starts.borrow_mut().push(clock.now());
                    std::future::ready(Err::<(), _>(()))
                },
            )
            .notify(|_, delay| delays.borrow_mut().push(delay)),
        )
        .await;
    let starts = starts.into_inner();
    let gaps: Vec<_> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // The timers' wheel ticks in milliseconds: each sleep ends at the first
    // tick at or after its deadline, and each attempt starts on a tick.
    let ticks: Vec<_> = delays
        .into_inner()
        .iter()
        .map(|d| Duration::from_millis(d.as_nanos().div_ceil(1_000_000) as u64))
        .collect();
    assert_eq!(gaps, ticks);
}

/// The deadline rule, exactly: under a 1 s timeout, attempts at 0, 100,
/// 300 and 700 ms; the next (800 ms later, at 1.5 s) is not started and the
/// last error comes back at 700 ms, not at the timeout's 1 s.
pub(crate) async fn the_deadline_rule_gives_up_at_the_last_failure() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let made = Cell::new(0);
    let out = clock
        .run(timeout(
            Duration::from_secs(1),
            retry(Backoff::exponential(100 * MS).max_attempts(10), || {
                made.set(made.get() + 1);
                std::future::ready(Err::<(), _>(at(&clock, start)))
            }),
        ))
        .await;
    assert_eq!(out, Ok(Err(700)), "the last attempt's error, at 700 ms");
    assert_eq!((made.get(), at(&clock, start)), (4, 700));
}

/// A retry that would start exactly at the deadline is not started: under
/// a 700 ms timeout the 700 ms attempt is not made.
pub(crate) async fn a_retry_due_exactly_at_the_deadline_is_not_started() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let out = clock
        .run(timeout(
            700 * MS,
            retry(Backoff::exponential(100 * MS).max_attempts(10), || {
                std::future::ready(Err::<(), _>(at(&clock, start)))
            }),
        ))
        .await;
    assert_eq!(out, Ok(Err(300)));
    assert_eq!(at(&clock, start), 300);
}

/// The elapsed budget, exactly: 50 ms attempts, 100 ms delays, a 500 ms
/// budget: attempts at 0, 150, 300 and 450 ms; the next would start at
/// 600 ms, past the budget, so the retry ends at 500 ms.
pub(crate) async fn the_elapsed_budget_counts_attempts_and_delays_exactly() {
    let clock = VirtualClock::autojump();
    let start = clock.now();
    let starts = RefCell::new(Vec::new());
    let out = clock
        .run(
            retry(Backoff::constant(100 * MS).max_attempts(100), || {
                starts.borrow_mut().push(at(&clock, start));
                async {
                    corral::time::sleep(50 * MS).await;
                    Err::<(), _>("slow")
                }
            })
            .max_elapsed(500 * MS),
        )
        .await;
    assert_eq!(out, Err("slow"));
    assert_eq!(*starts.borrow(), [0, 150, 300, 450]);
    assert_eq!(at(&clock, start), 500);
}
