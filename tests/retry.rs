//! `corral::resilience::retry` and `Backoff`: retries until success, the
//! predicate, the attempt limit, the `max_elapsed` budget, the deadline
//! rule and jitter. The async tests in `retry/behaviour.rs` run on smol and
//! on the minimal executor; the policy's own arithmetic and the documented
//! panics are plain tests here. Nothing asserts lateness (2 noisy cores):
//! only counts, orders, values and earliness.
#![cfg(feature = "async-io")]

#[macro_use]
mod support;

use std::time::Duration;

use corral::resilience::{Backoff, retry};
use support::poll_once;

const MS: Duration = Duration::from_millis(1);

#[path = "retry/behaviour.rs"]
mod behaviour;

mod on_executors {
    use super::behaviour::*;

    on_both_executors!(
        retries_until_an_attempt_succeeds,
        a_permanent_error_is_returned_at_once,
        the_crawls_predicate_retries_503_and_connect_errors_only,
        the_last_error_is_returned_when_the_attempts_are_used_up,
        a_delay_past_the_clocks_range_returns_the_error,
        one_attempt_never_retries,
        an_empty_policy_makes_one_attempt,
        nothing_runs_before_the_first_poll,
        each_failed_attempt_is_dropped_before_the_next_is_made,
        dropping_the_retry_drops_the_attempt_in_flight,
        a_retry_that_would_start_past_the_deadline_is_not_started,
        retries_that_fit_before_the_deadline_go_on,
        a_child_of_a_scope_under_a_timeout_keeps_to_its_deadline,
        a_zero_budget_never_retries,
        a_retry_past_the_elapsed_budget_is_not_started,
        the_budget_counts_the_time_spent_in_attempts,
        jittered_delays_stay_within_the_policy,
        retries_start_at_exactly_the_policys_delays,
        jittered_delays_are_slept_exactly,
        the_deadline_rule_gives_up_at_the_last_failure,
        a_retry_due_exactly_at_the_deadline_is_not_started,
        the_elapsed_budget_counts_attempts_and_delays_exactly,
    );
}

/// 100 ms doubled is exactly 200 ms: delays are rounded to the nanosecond
/// from `f64`, not accumulated in `f32` (backon's exponential gives
/// 200.000003 ms).
#[test]
fn exponential_delays_are_exact() {
    let delays: Vec<_> = Backoff::exponential(100 * MS)
        .max_attempts(6)
        .into_iter()
        .collect();
    assert_eq!(delays, [100, 200, 400, 800, 1600].map(|ms| ms * MS));
    let delays: Vec<_> = Backoff::exponential(100 * MS)
        .factor(1.5)
        .max_attempts(5)
        .into_iter()
        .collect();
    assert_eq!(
        delays,
        [100_000, 150_000, 225_000, 337_500].map(Duration::from_micros)
    );
}

/// The cap holds before jitter; a constant policy never grows.
#[test]
fn delays_stop_growing_at_the_cap() {
    let delays: Vec<_> = Backoff::exponential(MS)
        .max_delay(5 * MS)
        .max_attempts(7)
        .into_iter()
        .collect();
    assert_eq!(delays, [1, 2, 4, 5, 5, 5].map(|ms| ms * MS));
    let delays: Vec<_> = Backoff::constant(7 * MS).into_iter().collect();
    assert_eq!(delays, [7 * MS; 3], "default: 4 attempts, 3 delays");
}

/// A policy with as good as no limit keeps going, and delays that would
/// overflow saturate at the cap (or `Duration::MAX`) without panicking.
#[test]
fn huge_policies_saturate_without_panicking() {
    let mut delays = Backoff::exponential(Duration::from_secs(1))
        .factor(1e9)
        .max_attempts(u32::MAX)
        .into_iter();
    assert_eq!(delays.len(), u32::MAX as usize - 1);
    assert_eq!(delays.next(), Some(Duration::from_secs(1)));
    assert_eq!(delays.nth(100), Some(Duration::MAX));
    let mut capped = Backoff::exponential(Duration::MAX)
        .max_delay(Duration::from_secs(60))
        .max_attempts(u32::MAX)
        .jitter()
        .into_iter();
    for _ in 0..100 {
        assert!(capped.next().unwrap() <= Duration::from_secs(60));
    }
}

/// Full jitter: every delay between zero and the delay without jitter, and
/// spread over that range (2000 draws all in one half: odds of 2^-2000).
#[test]
fn jitter_draws_between_zero_and_the_delay() {
    let plain: Vec<_> = Backoff::exponential(100 * MS)
        .max_delay(Duration::from_secs(1))
        .max_attempts(9)
        .into_iter()
        .collect();
    let (mut low, mut high) = (0, 0);
    for _ in 0..250 {
        let jittered = Backoff::exponential(100 * MS)
            .max_delay(Duration::from_secs(1))
            .max_attempts(9)
            .jitter()
            .into_iter();
        assert_eq!(jittered.len(), plain.len());
        for (delay, bound) in jittered.zip(&plain) {
            assert!(delay <= *bound, "{delay:?} > {bound:?}");
            if delay < *bound / 2 {
                low += 1;
            } else {
                high += 1;
            }
        }
    }
    assert!(low > 0 && high > 0, "spread: {low} low, {high} high");
}

#[test]
#[should_panic(expected = "corral: a retry policy needs at least 1 attempt (max_attempts(0))")]
fn zero_attempts_panic() {
    let _ = Backoff::constant(MS).max_attempts(0);
}

#[test]
#[should_panic(expected = "corral: a backoff factor must be at least 1")]
fn a_shrinking_factor_panics() {
    let _ = Backoff::exponential(MS).factor(0.5);
}

#[test]
#[should_panic(expected = "corral: a backoff factor must be at least 1")]
fn a_factor_that_is_not_a_number_panics() {
    let _ = Backoff::exponential(MS).factor(f64::NAN);
}

/// The policy is checked where it is written: a `const` policy with 0
/// attempts does not compile (checked here at run time through a `const fn`
/// call, which is the same code).
#[test]
fn policies_can_be_constants() {
    const POLICY: Backoff = Backoff::exponential(Duration::from_millis(100))
        .factor(3.0)
        .max_attempts(3);
    assert_eq!(POLICY.into_iter().collect::<Vec<_>>(), [100 * MS, 300 * MS]);
}

#[test]
#[should_panic(expected = "corral: retry polled after completion")]
fn polling_a_finished_retry_panics() {
    let mut r = Box::pin(retry(Backoff::constant(MS), || async { Ok::<_, ()>(1) }));
    assert!(poll_once(&mut r).is_ready());
    let _ = poll_once(&mut r);
}
