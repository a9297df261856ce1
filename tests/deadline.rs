//! `corral::time::current_deadline`: the tightest deadline of the enclosing
//! timeouts, seen by the code they wrap, by a scope's children and by
//! parallel children. Each test runs on smol and on the minimal executor.
#![cfg(feature = "async-io")]

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use corral::time::{current_deadline, timeout, timeout_at};
use support::yield_now;

const SEC: Duration = Duration::from_secs(1);

/// Outside any timeout there is none; inside one, its deadline, on every poll.
async fn the_enclosing_deadline_is_seen_on_every_poll() {
    assert_eq!(current_deadline(), None);
    let deadline = Instant::now() + 60 * SEC;
    let seen = timeout_at(deadline, async {
        let first = current_deadline();
        yield_now().await; // the timer is armed now: its deadline lives in the wheel
        (first, current_deadline())
    })
    .await
    .unwrap();
    assert_eq!(seen, (Some(deadline), Some(deadline)));
    assert_eq!(current_deadline(), None, "gone once the timeout is done");
}

/// Nested timeouts: the tightest wins, whichever is inside.
async fn nested_timeouts_give_the_tightest() {
    let near = Instant::now() + 10 * SEC;
    let far = near + 50 * SEC;
    let inner_tighter = timeout_at(far, timeout_at(near, async { current_deadline() })).await;
    assert_eq!(inner_tighter, Ok(Ok(Some(near))));
    let outer_tighter = timeout_at(near, timeout_at(far, async { current_deadline() })).await;
    assert_eq!(outer_tighter, Ok(Ok(Some(near))));
    let between = timeout_at(near, async {
        let inside = timeout_at(far, async { current_deadline() }).await;
        (inside, current_deadline())
    })
    .await;
    assert_eq!(between, Ok((Ok(Some(near)), Some(near))));
}

/// A timeout whose clock has not started counts from now: never later than
/// the deadline it will fix.
async fn an_unstarted_timeout_counts_from_now() {
    let before = Instant::now();
    let seen = timeout(30 * SEC, async { current_deadline() })
        .await
        .unwrap();
    let after = Instant::now();
    let seen = seen.expect("a deadline");
    assert!(seen >= before + 30 * SEC && seen <= after + 30 * SEC);
}

/// A scope's local children see the deadlines around the scope.
async fn scope_children_inherit_the_deadline() {
    let deadline = Instant::now() + 20 * SEC;
    let seen = timeout_at(deadline, async {
        corral::local_scope(|s| async move {
            let child = s.spawn(async {
                yield_now().await;
                Ok::<_, ()>(current_deadline())
            });
            let tighter = s.spawn(async {
                timeout(SEC, async { current_deadline() })
                    .await
                    .map_err(|_| ())
            });
            Ok((child.await, tighter.await))
        })
        .await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen.0, Some(deadline));
    assert!(
        seen.1.is_some_and(|d| d < deadline),
        "a child's own timeout is tighter"
    );
}

/// A parallel child carries the deadline in force where it was spawned.
async fn parallel_children_carry_the_deadline() {
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(1)
        .create()
        .unwrap();
    let pool = &pool;
    let deadline = Instant::now() + 20 * SEC;
    let seen = timeout_at(deadline, async {
        corral::scope(|s| async move {
            let child = s.spawn_on(pool, async {
                yield_now().await;
                Ok::<_, ()>(current_deadline())
            });
            Ok(child.await)
        })
        .await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen, Some(deadline));
    // Spawned outside any timeout: none.
    let free = corral::scope(|s| async move {
        Ok::<_, ()>(s.spawn_on(pool, async { Ok(current_deadline()) }).await)
    })
    .await;
    assert_eq!(free, Ok(None));
}

/// A deadline that can never fire is no deadline.
async fn a_never_firing_timeout_is_no_deadline() {
    let seen = timeout(Duration::MAX, async { current_deadline() }).await;
    assert_eq!(seen, Ok(None));
}

/// Zero and past deadlines are seen as they are: a zero timeout's is now
/// (its clock starts at once), a past one's is that instant, and one from
/// before corral's time epoch (decades before the first timer) is exact too.
async fn zero_and_past_deadlines_are_seen_exactly() {
    let before = Instant::now();
    let zero = timeout(Duration::ZERO, async { current_deadline() }).await;
    let zero = zero.unwrap().expect("a deadline");
    assert!(before <= zero && zero <= Instant::now());
    let past = Instant::now() - SEC;
    assert_eq!(
        timeout_at(past, async { current_deadline() }).await,
        Ok(Some(past))
    );
    // Linux's `Instant` can go back centuries; elsewhere nothing lies before
    // the epoch.
    if let Some(ancient) = Instant::now().checked_sub(Duration::from_secs(300 * 365 * 86_400)) {
        let seen = timeout_at(past, timeout_at(ancient, async { current_deadline() })).await;
        assert_eq!(seen, Ok(Ok(Some(ancient))));
        let seen = timeout_at(ancient, timeout_at(past, async { current_deadline() })).await;
        assert_eq!(seen, Ok(Ok(Some(ancient))), "the tightest, wherever it is");
    }
}

on_both_executors!(
    the_enclosing_deadline_is_seen_on_every_poll,
    nested_timeouts_give_the_tightest,
    an_unstarted_timeout_counts_from_now,
    scope_children_inherit_the_deadline,
    parallel_children_carry_the_deadline,
    a_never_firing_timeout_is_no_deadline,
    zero_and_past_deadlines_are_seen_exactly,
);

/// A panic inside a timeout's future does not leave its deadline behind.
#[test]
fn a_panic_inside_a_timeout_unwinds_its_frame() {
    let deadline = Instant::now() + 5 * SEC;
    let caught = std::panic::catch_unwind(|| {
        let mut t = Box::pin(timeout_at(deadline, async {
            if true {
                panic!("inside");
            }
        }));
        let _ = support::poll_once(&mut t);
    });
    assert!(caught.is_err());
    assert_eq!(current_deadline(), None);
}
