//! `corral::resilience::hedge`: a second attempt only when the first is
//! slow, the first output wins and the other attempt is dropped. The async
//! tests in `hedge/behaviour.rs` run on smol and on the minimal executor;
//! the zero and `Duration::MAX` delays and the documented panic are plain
//! tests here. Nothing asserts lateness (2 noisy cores): where a test needs
//! the hedge to have started, the first attempt waits until it has.
#![cfg(feature = "async-io")]

#[macro_use]
mod support;

use std::cell::Cell;
use std::future::{pending, ready};
use std::time::Duration;

use corral::resilience::hedge;
use support::{DropCounter, pending_forever, poll_once};

#[path = "hedge/behaviour.rs"]
mod behaviour;

mod on_executors {
    use super::behaviour::*;

    on_both_executors!(
        no_hedge_when_the_first_attempt_finishes_in_time,
        a_failure_before_the_delay_is_returned_not_hedged,
        the_hedge_wins_and_the_first_attempt_is_dropped,
        the_first_attempt_wins_after_the_hedge_started,
        after_the_hedge_started_a_failure_wins_too,
        nothing_runs_before_the_first_poll,
        dropping_the_hedge_drops_both_attempts,
        a_zero_delay_races_both_from_the_first_poll,
        the_hedge_starts_at_exactly_after,
        the_first_attempt_answers_at_its_own_time,
        a_first_attempt_done_just_before_after_is_not_hedged,
    );
}

/// A zero delay starts the second attempt in the first poll, once the first
/// has returned `Pending`.
#[test]
fn a_zero_delay_starts_both_attempts_in_the_first_poll() {
    let made = Cell::new(0);
    let mut h = Box::pin(hedge(Duration::ZERO, || {
        made.set(made.get() + 1);
        pending::<()>()
    }));
    assert!(poll_once(&mut h).is_pending());
    assert_eq!(made.get(), 2);
}

/// Even with a zero delay, a first attempt ready at once is never hedged.
#[test]
fn a_zero_delay_never_hedges_a_first_attempt_ready_at_once() {
    let made = Cell::new(0);
    let mut h = Box::pin(hedge(Duration::ZERO, || {
        made.set(made.get() + 1);
        ready(made.get())
    }));
    assert_eq!(poll_once(&mut h), std::task::Poll::Ready(1));
    assert_eq!(made.get(), 1);
}

/// `Duration::MAX` never hedges: the first attempt runs alone however long
/// it takes (here, for ever), and a zero delay on the same attempt would
/// have hedged at once.
#[test]
fn a_delay_of_duration_max_never_hedges() {
    let dropped = DropCounter::new();
    let made = Cell::new(0);
    let mut h = Box::pin(hedge(Duration::MAX, || {
        made.set(made.get() + 1);
        pending_forever::<()>(&dropped)
    }));
    for _ in 0..100 {
        assert!(poll_once(&mut h).is_pending());
    }
    assert_eq!(made.get(), 1);
    drop(h);
    assert_eq!(dropped.get(), 1);
}

#[test]
#[should_panic(expected = "corral: hedge polled after completion")]
fn polling_a_finished_hedge_panics() {
    let mut h = Box::pin(hedge(Duration::from_secs(1), || ready(1)));
    assert!(poll_once(&mut h).is_ready());
    let _ = poll_once(&mut h);
}
