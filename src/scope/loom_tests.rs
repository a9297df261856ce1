//! loom models of the scope's atomic protocols on top of the engine's (run
//! with `--cfg corral_loom`, see `.ci/run`; the engine's own wake protocol is
//! modelled in `src/engine/loom_tests.rs`):
//!
//! - a spawn from another thread racing the scope's completion either reaches
//!   a scope that polls the child, or is refused with a panic; a `JoinHandle`
//!   dropped on another thread frees the cell exactly once;
//! - a stop request from another thread racing the poll loop is either seen by
//!   the scope after its loop or wakes the parent (`stop.rs`);
//! - a parallel child (`parallel.rs`): an abort racing the child's start or
//!   its finish on the runtime's thread ends the task and drops the future
//!   exactly once; the start and the outcome cross threads without a lost
//!   wake;
//! - a `JoinSet` (`member.rs`, `stream/set.rs`): dropped on another thread
//!   while the scope polls, its unfinished child is dropped and the scope
//!   finishes (each child's `ABORT` bit is seen at its start or its wake
//!   slot is woken); draining it on another thread while the scope finishes the
//!   child loses no wake and yields the value (taking it frees the cell
//!   once, whether the scope let go of it before the take, which then needs
//!   no read-modify-write, or after);
//! - an abort request (`child.rs`) from another thread racing the child's
//!   start, its polls, its finish and the scope's end: the child is dropped
//!   once and the scope ends (the request is seen at the start, by the
//!   queue's scan, or through the child's wake slot), and the scope's state
//!   outlives a request that is still telling it (the `HANDED` count).

use std::sync::Arc;
use std::task::{Context, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::state::{ScopeRef, ScopeState};
use crate::engine::loom_tests::{CountingWaker, after_first_turn, model};

#[test]
fn a_spawn_racing_completion_is_polled_or_refused() {
    model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let mut escaped = None;
        // The body closure runs at construction: the handle leaves before the
        // first poll, so the spawn below races the scope's whole life.
        let mut scope = Box::pin(crate::scope(|s: crate::Scope<'static, ()>| {
            escaped = Some(s.clone());
            async { Ok(()) }
        }));
        let s = escaped.take().unwrap();
        // Made before the thread starts: the parent waker reaches the spawner
        // through `AtomicWaker`, whose std atomics loom does not model.
        let parent = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let parent_waker = Waker::from(parent.clone());
        let mut cx = Context::from_waker(&parent_waker);
        let ran2 = ran.clone();
        let spawner = thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // The handle is dropped on this thread, maybe after the child ran.
                drop(s.spawn(async move {
                    ran2.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }));
            }))
            .is_ok()
        });
        loop {
            if scope.as_mut().poll(&mut cx).is_ready() {
                break;
            }
            // Pending: something must wake us (a lost wake spins here forever,
            // which loom reports).
            while parent.0.swap(0, Ordering::SeqCst) == 0 {
                thread::yield_now();
            }
        }
        let accepted = spawner.join().unwrap();
        let expected = usize::from(accepted);
        assert_eq!(ran.load(Ordering::SeqCst), expected, "accepted: {accepted}");
    });
}

#[test]
fn a_stop_racing_the_poll_loop_is_seen_or_wakes_the_parent() {
    model(|| {
        let (mut queue, mut children, parent, parent_waker) =
            after_first_turn(ScopeState::new(usize::MAX, None, None, None));
        let mut cx = Context::from_waker(&parent_waker);
        // SAFETY: the queue holds a count while we take ours.
        let shared = unsafe { ScopeRef::new(queue.shared_ptr()) };
        let stopper = thread::spawn(move || {
            super::stop::request_with(&shared, None, crate::Reason::Deadline)
        });
        // The scope future's order: the loop (which clears `polling` on its
        // way out), then a look at the epoch.
        let _ = queue.drive(&mut children, &mut cx);
        let seen = queue.shared().user().stop.epoch() != 0;
        stopper.join().unwrap();
        assert!(
            seen || parent.0.load(Ordering::SeqCst) > 0,
            "a stop request was neither seen nor woke the parent"
        );
    });
}

/// Polls `scope` until it resolves, waiting for a wake between polls (a
/// lost wake spins for ever, which loom reports).
fn poll_to_end<F: std::future::Future>(scope: std::pin::Pin<&mut F>) -> F::Output {
    let mut scope = scope;
    let parent = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let parent_waker = Waker::from(parent.clone());
    let mut cx = Context::from_waker(&parent_waker);
    loop {
        if let std::task::Poll::Ready(out) = scope.as_mut().poll(&mut cx) {
            return out;
        }
        while parent.0.swap(0, Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
    }
}

#[test]
fn a_set_dropped_on_another_thread_drops_its_child() {
    model(|| {
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let mut escaped = None;
        let guard = Guard(drops.clone());
        // The body closure runs at construction: the set leaves before the
        // first poll, so its drop races the scope's whole life.
        let mut scope = Box::pin(crate::scope(|s: crate::Scope<'static, ()>| {
            let mut set = crate::JoinSet::new(&s);
            set.spawn(async move {
                let _guard = guard;
                std::future::pending::<Result<(), ()>>().await
            });
            escaped = Some(set);
            async { Ok(()) }
        }));
        let set = escaped.take().unwrap();
        let dropper = thread::spawn(move || drop(set));
        assert_eq!(poll_to_end(scope.as_mut()), Ok(()));
        dropper.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_set_drained_on_another_thread_gets_the_value() {
    model(|| {
        let mut escaped = None;
        let mut scope = Box::pin(crate::scope(|s: crate::Scope<'static, ()>| {
            let mut set = crate::JoinSet::new(&s);
            set.spawn(async { Ok(7u32) });
            escaped = Some(set);
            async { Ok(()) }
        }));
        let mut set = escaped.take().unwrap();
        let drainer = thread::spawn(move || {
            let woken = Arc::new(CountingWaker(AtomicUsize::new(0)));
            let waker = Waker::from(woken.clone());
            let mut cx = Context::from_waker(&waker);
            loop {
                if let std::task::Poll::Ready(value) = set.poll_join_next(&mut cx) {
                    return value;
                }
                while woken.0.swap(0, Ordering::SeqCst) == 0 {
                    thread::yield_now();
                }
            }
        });
        assert_eq!(poll_to_end(scope.as_mut()), Ok(()));
        assert_eq!(drainer.join().unwrap(), Some(7));
    });
}

/// Counts the drops of a child's future.
struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An abort request from another thread (`child.rs`, `request_abort`)
/// racing the child's start and the scope's polls: the child was spawned
/// before the first poll, so the request finds it waiting (the start sees
/// `ABORT`, or the scan of the queue drops it) or started (its wake slot is
/// woken). Either way it is dropped once and the scope ends: a lost request
/// leaves the scope pending for ever, which loom reports.
#[test]
fn an_abort_racing_the_start_drops_the_child_once() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropGuard(drops.clone());
        let mut escaped = None;
        let mut scope = Box::pin(crate::scope(|s: crate::Scope<'static, ()>| {
            let h = s.spawn(async move {
                let _guard = guard;
                std::future::pending::<Result<(), ()>>().await
            });
            escaped = Some(h.abort_handle());
            async { Ok(()) }
        }));
        let abort = escaped.take().unwrap();
        let aborter = thread::spawn(move || abort.abort());
        assert_eq!(poll_to_end(scope.as_mut()), Ok(()));
        drop(scope);
        aborter.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// An abort request racing the child's finish and the scope's end: the
/// scope ends (and its state may be freed) while the request is telling
/// it, so the publish hands the request a count on the state (`HANDED`)
/// or sees it done. The future is dropped once, the cell freed once, by
/// whichever side lets go last (the abort handle is dropped on the other
/// thread).
#[test]
fn an_abort_racing_the_finish_and_the_scope_end() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropGuard(drops.clone());
        let mut escaped = None;
        let mut scope = Box::pin(crate::scope(|s: crate::Scope<'static, ()>| {
            let h = s.spawn(async move {
                let _guard = guard;
                Ok(7u32)
            });
            escaped = Some(h.abort_handle());
            async { Ok(()) }
        }));
        let abort = escaped.take().unwrap();
        let aborter = thread::spawn(move || {
            abort.abort();
            abort.is_finished()
        });
        assert_eq!(poll_to_end(scope.as_mut()), Ok(()));
        drop(scope);
        let _ = aborter.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// The parallel-child hand-over (`parallel.rs`): a runtime thread runs the
/// child's [`Task`](crate::Task) while the scope polls or drops its proxy.
mod parallel {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    use super::{CountingWaker, ScopeRef, ScopeState, model};
    use crate::scope::parallel::{Proxy, split};
    use crate::scope::state::Start;

    /// Counts the drops of the child's future.
    struct Guard(Arc<AtomicUsize>);

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Whether a child waits for ever.
    #[derive(Clone, Copy, PartialEq)]
    enum Forever {
        Yes,
        No,
    }

    /// A child that returns 7, at once or never.
    fn child(
        drops: &Arc<AtomicUsize>,
        forever: Forever,
    ) -> impl Future<Output = Result<u32, ()>> + Send + 'static {
        let guard = Guard(drops.clone());
        async move {
            let _guard = guard;
            if forever == Forever::Yes {
                std::future::pending::<()>().await;
            }
            Ok(7)
        }
    }

    type Child = Proxy<std::pin::Pin<Box<dyn Future<Output = Result<u32, ()>> + Send>>, u32, ()>;

    /// A parallel child of a scope state standing alone: the task for the
    /// runtime thread, the proxy, the scope and the drop counter.
    fn parallel_child(
        start: Start,
        forever: Forever,
    ) -> (crate::Task, Child, ScopeRef, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let queue =
            crate::engine::ReadyQueue::new(1, ScopeState::new(usize::MAX, None, None, None));
        // SAFETY: the queue holds a count while we take ours.
        let scope = unsafe { ScopeRef::new(queue.shared_ptr()) };
        let future: Pin<Box<dyn Future<Output = Result<u32, ()>> + Send>> =
            Box::pin(child(&drops, forever));
        let (task, proxy) = split(future, scope.clone(), start, None, None);
        (task, proxy, scope, drops)
    }

    /// A runtime thread: polls the task until it completes, waiting for a
    /// wake between polls (a lost wake spins for ever, which loom reports).
    fn runtime(mut task: crate::Task) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let woken = Arc::new(CountingWaker(AtomicUsize::new(0)));
            let waker = Waker::from(woken.clone());
            let mut cx = Context::from_waker(&waker);
            while Pin::new(&mut task).poll(&mut cx).is_pending() {
                while woken.0.swap(0, Ordering::SeqCst) == 0 {
                    thread::yield_now();
                }
            }
        })
    }

    fn poll_once(proxy: &mut Pin<Box<Child>>, waker: &Waker) -> Poll<Result<u32, ()>> {
        proxy.as_mut().poll(&mut Context::from_waker(waker))
    }

    /// Drops the proxy (an abort, unless the child is done), waits for the
    /// runtime thread, and checks that the future was dropped exactly once
    /// and that the scope counts no parallel child left.
    fn abort_and_settle(
        proxy: Pin<Box<Child>>,
        runtime: thread::JoinHandle<()>,
        scope: &ScopeRef,
        drops: &AtomicUsize,
    ) {
        drop(proxy);
        runtime.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(scope.user().parallel.poll_all_dropped(&mut cx).is_ready());
    }

    /// Aborting a child that waits for its turn, or has just been let start,
    /// while its task runs: the task ends, and the future is dropped once,
    /// on the runtime's side.
    #[test]
    fn an_abort_racing_the_start_ends_the_task() {
        for start_first in [false, true] {
            model(move || {
                let (task, proxy, scope, drops) = parallel_child(Start::AtItsTurn, Forever::Yes);
                let runtime = runtime(task);
                let mut proxy = Box::pin(proxy);
                if start_first {
                    assert!(poll_once(&mut proxy, Waker::noop()).is_pending());
                }
                abort_and_settle(proxy, runtime, &scope, &drops);
            });
        }
    }

    /// A proxy dropped while its child finishes on the runtime: either the
    /// proxy saw the value or the abort came too late to matter; the future
    /// is dropped once either way, and the scope's count reaches zero.
    #[test]
    fn an_abort_racing_the_finish_drops_the_future_once() {
        model(|| {
            let (task, proxy, scope, drops) = parallel_child(Start::AtOnce, Forever::No);
            let runtime = runtime(task);
            let mut proxy = Box::pin(proxy);
            if let Poll::Ready(value) = poll_once(&mut proxy, Waker::noop()) {
                assert_eq!(value, Ok(7));
            }
            abort_and_settle(proxy, runtime, &scope, &drops);
        });
    }

    /// A gated child's start and its outcome cross threads without a lost
    /// wake: the proxy's first poll lets the task run, and the task's finish
    /// wakes the proxy with the value.
    #[test]
    fn the_start_and_the_outcome_are_never_lost() {
        model(|| {
            let (task, proxy, _scope, drops) = parallel_child(Start::AtItsTurn, Forever::No);
            let runtime = runtime(task);
            let mut proxy = Box::pin(proxy);
            let woken = Arc::new(CountingWaker(AtomicUsize::new(0)));
            let waker = Waker::from(woken.clone());
            let value = loop {
                if let Poll::Ready(value) = poll_once(&mut proxy, &waker) {
                    break value;
                }
                while woken.0.swap(0, Ordering::SeqCst) == 0 {
                    thread::yield_now();
                }
            };
            assert_eq!(value, Ok(7));
            runtime.join().unwrap();
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }
}

/// A map's pool (`pool.rs`): a mark racing the pool's arming is either seen
/// by the arming or wakes the pool; an item woken from another thread, with
/// the pool and the reader on this one, finishes and its value reaches the
/// reader.
mod pool {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    use super::super::pool::Hub;
    use crate::engine::loom_tests::{CountingWaker, model};

    #[test]
    fn a_mark_racing_the_arming_is_seen_or_wakes_the_pool() {
        model(|| {
            let hub = Arc::new(Hub::new(1));
            let pool = std::sync::Arc::new(CountingWaker(AtomicUsize::new(0)));
            hub.register(&Waker::from(pool.clone()));
            let marker = {
                let hub = hub.clone();
                thread::spawn(move || hub.mark_slot(0, 1))
            };
            // The pool found nothing to do and arms itself to sleep.
            let goes_on = hub.arm();
            marker.join().unwrap();
            assert!(
                goes_on || pool.0.load(Ordering::SeqCst) == 1,
                "a mark was neither seen nor woke the pool"
            );
        });
    }

    /// Pending until `open` is set; leaves its waker in `waker`.
    struct Gate {
        open: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for Gate {
        type Output = Result<u8, ()>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.open.load(Ordering::SeqCst) {
                Poll::Ready(Ok(7))
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn an_item_woken_from_another_thread_reaches_the_reader() {
        use futures::StreamExt;

        model(|| {
            let open = Arc::new(AtomicBool::new(false));
            let waker: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
            let gate = Gate {
                open: open.clone(),
                waker: waker.clone(),
            };
            let mut gate = Some(gate);
            let mut scope = Box::pin(crate::scope(move |s: crate::Scope<'static, ()>| {
                let gate = gate.take().unwrap();
                async move {
                    let mut values = crate::stream::map_unordered(
                        &s,
                        futures::stream::iter([gate]),
                        1,
                        |gate| gate,
                    );
                    let value = values.next().await;
                    Ok((value, values.next().await))
                }
            }));
            let parent = std::sync::Arc::new(CountingWaker(AtomicUsize::new(0)));
            let parent_waker = Waker::from(parent.clone());
            let mut cx = Context::from_waker(&parent_waker);
            // First turn: the item starts and leaves its waker.
            assert!(scope.as_mut().poll(&mut cx).is_pending());
            let opener = thread::spawn(move || {
                open.store(true, Ordering::SeqCst);
                let waker = waker.lock().unwrap().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
            let out = loop {
                if let Poll::Ready(out) = scope.as_mut().poll(&mut cx) {
                    break out;
                }
                while parent.0.swap(0, Ordering::SeqCst) == 0 {
                    thread::yield_now();
                }
            };
            opener.join().unwrap();
            assert_eq!(out, Ok((Some(7), None)));
        });
    }
}
