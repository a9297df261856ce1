//! The auto traits of every public type, pinned at compile time (the positive
//! cases; the negative ones are `compile_fail` doctests in
//! `docs/threads.md`, checked for error E0277 on nightly). A change that
//! makes one of these types lose `Send` or `Sync` fails to compile here.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn send<T: Send>(_: &T) {}
fn send_sync<T: Send + Sync>(_: &T) {}
fn send_static<T: Send + 'static>(_: &T) {}
fn send_sync_static<T: Send + Sync + 'static>(_: &T) {}
fn send_sync_type<T: Send + Sync>() {}

/// A future that is `Send` but not `Sync`.
fn send_only_future() -> impl Future<Output = Result<u8, String>> + Send {
    let cell = std::cell::Cell::new(1u8);
    async move { Ok(cell.get()) }
}

#[test]
fn scope_types_are_send_and_sync_where_their_parts_are() {
    // `Scope` itself, for any error type (it only spawns `Send` children).
    send_sync_type::<corral::Scope<'static, String>>();
    send_sync_type::<corral::Scope<'static, std::rc::Rc<u8>>>();
    // `ScopeFuture` is `Send` when its body, value and error are; a body that
    // holds the handle and spawns `Send` children counts.
    let fut = corral::scope(|s| async move {
        let h = s.spawn(send_only_future());
        let s2 = s.clone();
        s.spawn(async move {
            s2.spawn(async { Ok(1u8) });
            Ok(2)
        });
        Ok::<_, String>(h.await)
    });
    send(&fut);
    let limited = corral::Nursery::new()
        .max_concurrency(2)
        .grace(Duration::from_secs(1))
        .scope(|_s| async { Ok::<_, String>(()) });
    send_static(&limited);
    // `JoinHandle<U>` and `OrDropped<U>` for `U: Send`.
    let done = futures::executor::block_on(corral::scope(|s| async move {
        let h = s.spawn(async { Ok::<_, ()>(String::new()) });
        send_sync(&h);
        let o = s.spawn(async { Ok(1u32) }).or_dropped();
        send_sync(&o);
        h.await;
        o.await;
        Ok(())
    }));
    assert_eq!(done, Ok(()));
    // The builder, stop handles and stop futures.
    send_sync_static(&corral::Nursery::new());
    let done = futures::executor::block_on(corral::scope(|s| async move {
        let stop = s.stop_handle();
        send_sync_static(&stop);
        let stopped = s.stopped();
        send_sync_static(&stopped);
        Ok::<_, ()>(())
    }));
    assert_eq!(done, Ok(()));
}

#[test]
fn context_types_cross_threads_where_their_futures_do() {
    let fut = corral::context::with_value(7u32, send_only_future());
    send(&fut);
    let sync = corral::context::with_value(String::new(), async { 1u8 });
    send_sync_static(&sync);
}

#[test]
fn failure_policy_types_cross_threads_where_their_errors_do() {
    send_sync_static(&corral::Nursery::new().every_error());
    let fut = corral::Nursery::new()
        .every_error()
        .scope(|s| async move { Ok::<_, String>(s.spawn(send_only_future()).await.to_string()) });
    send(&fut);
    let errors = futures::executor::block_on(
        corral::Nursery::new()
            .every_error()
            .scope(|_s| async { Err::<(), _>(String::from("e")) }),
    )
    .unwrap_err();
    let member = errors.iter().next().unwrap().clone();
    send_sync_static(&member);
    send_sync_static(&errors);
    send_sync_static(&corral::Reason::Aborted);
    let outcome = futures::executor::block_on(corral::scope(|s| async move {
        let o = s.spawn(async { Ok::<_, ()>(String::new()) }).outcome();
        send_sync(&o);
        Ok(o.await)
    }));
    assert_eq!(outcome, Ok(Ok(String::new())));
}

#[test]
fn a_local_scope_future_with_send_parts_is_still_local() {
    // Nothing to assert positively: `LocalScopeFuture` and `LocalScope` are
    // `!Send + !Sync` whatever their parts (see `docs/threads.md`). Its
    // `JoinHandle`s and stop handles may still cross threads.
    let done = futures::executor::block_on(corral::local_scope(|s| async move {
        let h = s.spawn(async { Ok::<_, ()>(1u32) });
        send_sync(&h);
        // An abort handle crosses threads whatever its child (it never
        // touches the future or the value).
        let rc = s.spawn(async { Ok(std::rc::Rc::new(1u8)) });
        send_sync_static(&rc.abort_handle());
        fn clone_unpin<T: Clone + Unpin>(_: &T) {}
        clone_unpin(&rc.abort_handle());
        drop(rc);
        send_sync_static(&s.stop_handle());
        send_sync_static(&s.stopped());
        Ok(h.await)
    }));
    assert_eq!(done, Ok(1));
}

#[test]
fn semaphore_types_are_send_and_sync() {
    let sem = Arc::new(corral::Semaphore::new(2));
    send_sync_static(&*sem);
    let acquire = sem.acquire();
    send_sync(&acquire);
    drop(acquire);
    let permit = sem.try_acquire().unwrap();
    send_sync(&permit);
    drop(permit);
    let owned = sem.clone().acquire_owned();
    send_sync_static(&owned);
    drop(owned);
    let owned_permit = futures::executor::block_on(sem.clone().acquire_owned());
    send_sync_static(&owned_permit);
}

#[test]
fn time_types_are_send_and_sync_where_their_parts_are() {
    use corral::time::{Elapsed, TimeoutExt, sleep, sleep_until, timeout};
    send_sync_static(&sleep(Duration::from_millis(1)));
    send_sync_static(&sleep_until(Instant::now()));
    send_sync_static(&Elapsed);
    // `Timeout<F>` is `Send` when `F` is (and `Sync` when `F` is).
    send(&timeout(Duration::from_secs(1), send_only_future()));
    send_sync(&async { 1 }.timeout(Duration::from_secs(1)));
    send_sync_type::<corral::time::AsyncIoBackend>();
    #[cfg(feature = "tokio")]
    send_sync_type::<corral::time::TokioBackend>();
    send_sync_type::<corral::time::BackendAlreadySet>();
    send_static(&(Box::pin(async {}) as corral::time::BackendSleep));
    // A virtual clock is shared by threads; `OnClock<F>` is `Send`/`Sync`
    // when `F` is.
    let clock = corral::time::VirtualClock::new();
    send_sync_static(&clock);
    send(&clock.run(send_only_future()));
    send_sync_static(&clock.run(async { 1 }));
}

#[test]
fn gather_family_futures_are_send_when_their_inputs_are() {
    send(&corral::join_all(vec![send_only_future()]));
    send(&corral::try_join_all(vec![send_only_future()]));
    send(&corral::race(vec![send_only_future()]));
    send(&corral::race_ok(vec![send_only_future()]));
}

#[test]
fn start_types_are_send_and_sync_where_their_parts_are() {
    let done = futures::executor::block_on(corral::scope(|s| async move {
        let start = s.start(|ready: corral::Ready<u8>| async move {
            send_sync(&ready);
            let _ = ready.send(1);
            Ok(())
        });
        send(&start);
        Ok::<_, String>(start.await.is_ok())
    }));
    assert_eq!(done, Ok(true));
    send_sync_type::<corral::StartError<String>>();
}

#[test]
fn supervised_has_its_futures_auto_traits() {
    fn send_sync_unpin<T: Send + Sync + Unpin>(_: &T) {}
    // Whatever the scope's error type: `Rc` is neither `Send` nor `Sync`.
    type ScopeError = std::rc::Rc<u8>;
    let unpin = corral::supervised::<_, u8, String, ScopeError>(std::future::ready(Ok(1)));
    send_sync_unpin(&unpin);
    let not_unpin = corral::supervised::<_, u8, String, ScopeError>(async { Ok(1) });
    send_sync(&not_unpin);
    // `Send` only, like its future.
    send(&corral::supervised::<_, _, _, ScopeError>(
        send_only_future(),
    ));
    // In a scope: the handle of a supervised child is `Send + Sync`.
    let done = futures::executor::block_on(corral::scope(|s| async move {
        let h = s.spawn(corral::supervised(send_only_future()));
        send_sync(&h);
        Ok::<_, ()>(h.await)
    }));
    assert_eq!(done, Ok(Ok(1)));
}

#[test]
fn the_rest_is_send_and_sync() {
    send_sync_static(&corral::yield_now());
    send_sync_static(&corral::task_tree());
    send_sync_type::<corral::SlowPoll>();
    send_sync_type::<corral::Task>();
}

#[test]
fn stream_types_are_send_and_sync_where_their_parts_are() {
    use corral::stream::ScopedStreamExt;
    let done = futures::executor::block_on(corral::scope(|s| async move {
        // A `Scope`'s set, for `Send` values; its futures.
        let mut set = corral::JoinSet::new(&s);
        send_sync(&set);
        set.spawn(async { Ok::<_, String>(String::new()) });
        send(&set.join_next());
        send(&set.join_next_with_id());
        send(&set.spawn_bounded(async { Ok(String::new()) }));
        let id = set.spawn(async { Ok(String::new()) });
        send_sync_static(&id);
        // The scope's awaitable spawn.
        let bounded = s.spawn_bounded(send_only_future());
        send(&bounded);
        drop(bounded);
        // The stream adapters, when their input and closure are.
        let unordered =
            futures::stream::iter(0..3u8).map_unordered(&s, 2, |x| async move { Ok(x) });
        send(&unordered);
        let ordered = futures::stream::iter(0..3u8).map_ordered(&s, 2, |x| async move { Ok(x) });
        send(&ordered);
        Ok(())
    }));
    assert_eq!(done, Ok(()));
}

#[cfg(feature = "rate-limit")]
#[test]
fn rate_limit_types_are_send_and_sync() {
    use corral::resilience::{KeyedRateLimiter, Quota, RateLimited, RateLimiter};
    let limiter = RateLimiter::new(Quota::per_second(1));
    send_sync_static(&limiter);
    send_sync(&limiter.acquire());
    let keyed = KeyedRateLimiter::<String>::new(Quota::per_second(1));
    send_sync_static(&keyed);
    send_sync(&keyed.acquire(&"a".to_string()));
    send_sync_type::<Quota>();
    send_sync_type::<RateLimited>();
}

// corral::resilience: retry and hedge (issue 17, items 3 and 4).

#[test]
fn retry_and_hedge_are_send_and_sync_where_their_parts_are() {
    use corral::resilience::{Backoff, Delays, Hedge, Retry, hedge, retry};
    send_sync_type::<Backoff>();
    send_sync_type::<Delays>();
    let policy = Backoff::exponential(Duration::from_millis(1));
    let r = retry(policy, || async { Ok::<_, String>(String::new()) });
    send_sync_static(&r);
    let r = r.when(|e: &String| e.is_empty()).notify(|_: &String, _| {});
    send_sync_static(&r);
    // A `Send` but not `Sync` attempt makes a `Send` retry.
    send(&retry(policy, send_only_future));
    let h = hedge(Duration::from_millis(1), || async { 1u8 });
    send_sync_static(&h);
    send(&hedge(Duration::from_millis(1), send_only_future));
    fn named<P, F, Fut, W, N>(_: &Retry<P, F, Fut, W, N>)
    where
        P: IntoIterator,
        Retry<P, F, Fut, W, N>: Send + Sync,
    {
    }
    named(&retry(policy, || async { Ok::<_, u8>(1) }));
    fn named_hedge<F, Fut>(_: &Hedge<F, Fut>)
    where
        Hedge<F, Fut>: Send + Sync,
    {
    }
    named_hedge(&h);
}
