//! The tests of `tests/waiting.rs` that run on both scope flavours (see
//! `tests/stop/behaviour.rs` for how the file is included twice).

use super::*;

/// Each waiting child names what it waits on and where that was made; a
/// timeout around a semaphore's acquire shows the acquire, around a future
/// of another crate the timeout.
pub(super) async fn each_leaf_future_is_shown_where_it_was_made() {
    corral::track_tasks(true);
    let empty = Semaphore::new(0);
    let empty = &empty;
    let drops = DropCounter::new();
    let drops = &drops;
    let seen = std::sync::Mutex::new(None);
    let seen = &seen;
    let out = open(|s| async move {
        let mut at = Vec::new();
        let acquire = (line!() + 1, line!() + 1);
        s.spawn(then_ok(empty.acquire()));
        at.push(("Semaphore::acquire", acquire));
        let sleeping = (line!() + 1, line!() + 1);
        s.spawn(then_ok(sleep(Duration::from_secs(3600))));
        let timed = line!() + 1;
        s.spawn(async move {
            let _ = timeout(Duration::from_secs(3600), pending_forever::<()>(drops)).await;
            Ok(())
        });
        let timed_acquire = (line!() + 1, line!() + 2);
        s.spawn(async move {
            let _ = timeout(Duration::from_secs(3600), empty.acquire()).await;
            Ok(())
        });
        at.push(("Semaphore::acquire", timed_acquire));
        let stop = s.clone();
        let stopped = (line!() + 1, line!() + 1);
        s.spawn(then_ok(stop.stopped()));
        at.push(("stopped", stopped));
        let forever_at = line!() + 1;
        let forever = s.spawn(pending_forever::<Result<(), ()>>(drops));
        let joining = line!() + 1;
        s.spawn(then_ok(forever));
        at.push(("the JoinHandle of the child spawned", (joining, forever_at)));
        let starter = s.clone();
        let starting = (line!() + 1, line!() + 3);
        s.spawn(async move {
            let _ = starter
                .start(|_ready: Ready<()>| pending_forever::<Result<(), ()>>(drops))
                .await;
            Ok(())
        });
        at.push(("start", starting));
        let mut set = JoinSet::new(&s);
        set.spawn(pending_forever::<Result<(), ()>>(drops));
        let joining_next = (line!() + 1, line!() + 2);
        s.spawn(async move {
            let _ = set.join_next().await;
            Ok(())
        });
        at.push(("JoinSet::join_next", joining_next));
        let mapper = s.clone();
        let mapping = (line!() + 1, line!() + 2);
        s.spawn(async move {
            let mut mapped = corral::stream::map_unordered(
                &mapper,
                futures::stream::pending::<u8>(),
                2,
                |x| async move { Ok(x) },
            );
            mapped.next().await;
            Ok(())
        });
        at.push(("a stream helper", mapping));
        #[cfg(feature = "rate-limit")]
        {
            use corral::resilience::{Quota, RateLimiter};
            let limiter: &'static RateLimiter =
                Box::leak(Box::new(RateLimiter::new(Quota::per_hour(1))));
            limiter.try_acquire().unwrap(); // the burst is spent
            // The head (sleeping for the next cell) and one behind it.
            let head = (line!() + 1, line!() + 1);
            s.spawn(then_ok(limiter.acquire()));
            at.push(("RateLimiter::acquire", head));
            let behind = (line!() + 1, line!() + 1);
            s.spawn(then_ok(limiter.acquire()));
            at.push(("RateLimiter::acquire", behind));
        }
        yield_times(5).await;
        let tree = corral::task_tree().to_string();
        *seen.lock().unwrap() = Some((tree, at, sleeping.0, timed));
        Err::<(), ()>(())
    })
    .await;
    assert_eq!(out, Err(()));
    let (tree, at, sleeping, timed) = seen.lock().unwrap().take().unwrap();
    if std::env::var_os("SHOW_TREE").is_some() {
        println!("{tree}");
    }
    for (what, (spawned, made)) in at {
        assert_waits(&tree, spawned, what, made);
    }
    assert!(
        child_line(&tree, sleeping).contains(", on sleep ending in "),
        "{tree}"
    );
    assert!(
        child_line(&tree, timed).contains(", on timeout ending in "),
        "{tree}"
    );
}

/// A child waiting for room under its scope's limit (`spawn_bounded`)
/// says so; once it is polled again and runs, the note is gone.
pub(super) async fn a_child_waiting_for_room_says_so() {
    corral::track_tasks(true);
    let drops = DropCounter::new();
    let drops = &drops;
    let seen = std::sync::Mutex::new(None);
    let seen = &seen;
    let out = open_limited(2, |s| async move {
        s.spawn(pending_forever::<Result<(), ()>>(drops));
        let inner = s.clone();
        let bounded = (line!() + 1, line!() + 2);
        s.spawn(async move {
            drop(inner.spawn_bounded(async { Ok(()) }).await);
            Ok(())
        });
        yield_times(3).await;
        let tree = corral::task_tree().to_string();
        *seen.lock().unwrap() = Some((tree, bounded));
        Err::<(), ()>(())
    })
    .await;
    assert_eq!(out, Err(()));
    let (tree, (spawned, made)) = seen.lock().unwrap().take().unwrap();
    assert_waits(&tree, spawned, "spawn_bounded", made);
}

macro_rules! each_test {
    ($runners:ident) => {
        $runners!(
            each_leaf_future_is_shown_where_it_was_made,
            a_child_waiting_for_room_says_so,
        );
    };
}
