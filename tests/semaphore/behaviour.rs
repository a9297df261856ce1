//! The tests of `tests/semaphore.rs` that run on both scope flavours, as plain
//! items that rustfmt formats. `tests/semaphore.rs` includes this file twice,
//! in `scope_flavour` and in `local_flavour`, whose `open` (and `open_limited`,
//! `open_graceful`, from `support::flavour`) builds a `scope` or a
//! `local_scope`; `each_test!` at the end names the tests for the runners.

use super::*;

/// 500 children asking for 1 to 3 of 8 permits: the permits held at any
/// moment never exceed 8, and every child gets its turn.
pub(super) async fn holders_never_exceed_the_permits() {
    let sem = Semaphore::new(8);
    let held = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let (sem, held, peak, done) = (&sem, &held, &peak, &done);
    open(|s| async move {
        for i in 0..support::scaled(500) {
            s.spawn(async move {
                let k = 1 + i % 3;
                let permit = sem.acquire_many(k).await;
                let now = held.fetch_add(k, Ordering::SeqCst) + k;
                peak.fetch_max(now, Ordering::SeqCst);
                assert!(now <= 8, "{now} permits held out of 8");
                yield_times(i % 4).await;
                held.fetch_sub(k, Ordering::SeqCst);
                drop(permit);
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(done.load(Ordering::SeqCst), support::scaled(500));
    if !cfg!(miri) {
        assert!(peak.load(Ordering::SeqCst) >= 6, "the permits were shared");
    }
    assert_eq!(sem.available_permits(), 8, "every permit came back");
}

/// Every test above, for the runners: `each_test!(on_both_executors)`. A test
/// left out of the list is never run, and `dead_code` says so.
macro_rules! each_test {
    ($runners:ident) => {
        $runners!(holders_never_exceed_the_permits,);
    };
}
