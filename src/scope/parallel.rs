//! A parallel child: its future runs as a [`Task`] on a runtime, and a small
//! local child (the [`Proxy`]) stands in for it inside the scope.
//!
//! Both halves share one allocation, a [`Remote`]: the child's future, the
//! slot for its outcome, an abort flag and two wakers. The proxy is an
//! ordinary child of the scope, so the scope's own machinery does the rest:
//! the proxy yields the child's value or error, resumes its panic, counts
//! toward the scope's completion, and is dropped on teardown, which asks the
//! runtime task to drop the future (abort, never detach).
//!
//! The scope's shared state also holds a [`ParallelCount`]: how many parallel
//! futures have not been dropped yet. On the error and panic paths, and after
//! a stop's grace, the scope waits for it to reach zero before it resolves,
//! so every aborted child's destructor has run.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::nesting::CurrentScope;
use super::records::DoneBy;
use super::records::RecordRef;
use super::state::{ScopeRef, Start};
use crate::frame::{self, ContextRef, Deadline};
use crate::loom::{AtomicBool, AtomicWaker, Mutex, Ordering, lock};
use crate::slow_poll::Placement;
use crate::slow_poll::Watch;
use crate::spawn::{Run, Task};

/// How a parallel child ended, as seen by its proxy.
enum Outcome<U, E> {
    Running,
    Done(Result<U, E>),
    Panicked(Box<dyn Any + Send>),
    /// The runtime dropped the task before it finished.
    Lost,
    /// The proxy took the outcome.
    Taken,
}

/// The state both halves share.
struct Remote<F, U, E> {
    /// The child's future; `None` once it is dropped. Only the runtime task
    /// polls or drops it (pinned in place: the `Arc`'s contents never move).
    future: Mutex<Option<F>>,
    outcome: Mutex<Outcome<U, E>>,
    abort: AtomicBool,
    /// The proxy has had its first poll: the scope's concurrency limit lets
    /// the child run. (Set from the start in a scope without a limit.)
    started: AtomicBool,
    /// The deadline in force where the child was spawned (ns since the timer
    /// epoch, or never), for `current_deadline` inside it.
    deadline: u64,
    /// The context in force where the child was spawned (`crate::context`).
    context: Option<ContextRef>,
    /// The scope's slow-poll watch and the child's spawn location, if on.
    watch: Option<(Watch, &'static Location<'static>)>,
    /// The runtime task's waker, for abort requests and the start.
    task: AtomicWaker,
    /// The proxy's waker, for the outcome.
    proxy: AtomicWaker,
    /// The scope: its count of live parallel futures, and named current
    /// around each poll so that nested scopes and `StopHandle::current` find
    /// it.
    scope: ScopeRef,
    /// The child's task-tree record, if its scope is tracked.
    info: Option<RecordRef>,
}

impl<F, U, E> Remote<F, U, E>
where
    F: Future<Output = Result<U, E>>,
{
    /// Drops the child's future (under its lock), then counts it dropped.
    /// Returns the panic of its destructor, if any.
    fn drop_future(&self, future: &mut Option<F>) -> Option<Box<dyn Any + Send>> {
        // Its destructor runs with what its polls had (`carried`).
        let drop = || self.carried(|| *future = None);
        let panicked = panic::catch_unwind(AssertUnwindSafe(drop)).err();
        crate::time::finish_in(self.context.as_ref());
        if let Some(info) = &self.info {
            info.done(DoneBy::Runtime); // the last touch of the record
        }
        self.scope.user().parallel.one_dropped();
        panicked
    }

    /// Runs `f` (a poll of the child, or its drop) with what the child
    /// carried from its spawn in force again: the deadline and the context.
    #[inline]
    fn carried<R>(&self, f: impl FnOnce() -> R) -> R {
        let context = self.context.as_ref();
        if self.deadline < crate::time::NEVER_NS {
            frame::push(Deadline::Fixed(self.deadline), context, f)
        } else if context.is_some() {
            frame::push(Deadline::None, context, f)
        } else {
            f()
        }
    }

    /// The scope gave up on this child: drop it here, on its runtime, and
    /// end the task. (A panic in its destructor has nobody left to go to.)
    fn drop_aborted(&self, future: &mut Option<F>) -> Poll<()> {
        drop(self.drop_future(future));
        Poll::Ready(())
    }

    fn finish(&self, outcome: Outcome<U, E>) {
        *lock(&self.outcome) = outcome;
        self.proxy.wake();
    }
}

impl<F, U, E> Run for Remote<F, U, E>
where
    F: Future<Output = Result<U, E>> + Send,
    U: Send,
    E: Send,
{
    fn run(&self, cx: &mut Context<'_>) -> Poll<()> {
        // On a virtual clock, the whole turn counts as the child's poll, and
        // the wakers it registers (an abort's too) count its wakes: so the
        // clock cannot jump while it is to be dropped, nor before a finished
        // child's future (and its timers) is gone.
        crate::time::poll_in(self.context.as_ref(), cx, |cx| self.turn(cx))
    }

    fn abandon(&self) {
        let mut future = lock(&self.future);
        if future.is_some() {
            let aborted = self.abort.load(Ordering::Acquire);
            drop(self.drop_future(&mut future));
            drop(future);
            if !aborted {
                self.finish(Outcome::Lost);
            }
        }
    }
}

impl<F, U, E> Remote<F, U, E>
where
    F: Future<Output = Result<U, E>> + Send,
    U: Send,
    E: Send,
{
    /// One turn of the runtime task (`Run::run`).
    fn turn(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut future = lock(&self.future);
        let Some(fut) = future.as_mut() else {
            return Poll::Ready(()); // finished or aborted already
        };
        if self.abort.load(Ordering::Acquire) {
            return self.drop_aborted(&mut future);
        }
        if !self.started.load(Ordering::Acquire) {
            // Waiting for a place under the scope's concurrency limit; the
            // proxy's first poll (or its drop) wakes us.
            self.task.register(cx.waker());
            if self.abort.load(Ordering::Acquire) {
                return self.drop_aborted(&mut future);
            }
            if !self.started.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        // SAFETY: the future lives inside the `Arc<Remote>` and is never moved
        // out of its `Option`, only dropped in place, so it stays pinned.
        let fut = unsafe { Pin::new_unchecked(fut) };
        let record = match &self.info {
            None => std::ptr::null(),
            Some(info) => {
                info.running();
                &**info as *const _
            }
        };
        let _current = CurrentScope::enter_remote(self.scope.as_ptr(), record);
        let poll = || self.carried(|| fut.poll(cx));
        let caught = || match &self.info {
            None => panic::catch_unwind(AssertUnwindSafe(poll)),
            Some(info) => crate::wait_point::noting(&info.wait, || {
                panic::catch_unwind(AssertUnwindSafe(poll))
            }),
        };
        let polled = match &self.watch {
            None => caught(),
            Some((watch, spawned_at)) => watch.time(spawned_at, Placement::Parallel, caught),
        };
        if let (Some(info), Ok(Poll::Pending)) = (&self.info, &polled) {
            info.waiting();
        }
        let outcome = match polled {
            Ok(Poll::Pending) => {
                // Only a child that waits can be aborted while it waits: the
                // waker is registered then, and the flag checked once more.
                self.task.register(cx.waker());
                if self.abort.load(Ordering::Acquire) {
                    return self.drop_aborted(&mut future);
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(result)) => match self.drop_future(&mut future) {
                None => Outcome::Done(result),
                Some(payload) => Outcome::Panicked(payload),
            },
            Err(payload) => {
                drop(self.drop_future(&mut future));
                Outcome::Panicked(payload)
            }
        };
        drop(future);
        self.finish(outcome);
        Poll::Ready(())
    }
}

/// The scope side: an ordinary local child that yields the parallel child's
/// outcome, and aborts it when dropped first.
pub(crate) struct Proxy<F, U, E> {
    remote: Arc<Remote<F, U, E>>,
}

impl<F, U, E> Future for Proxy<F, U, E> {
    type Output = Result<U, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<U, E>> {
        let remote = &self.remote;
        if !remote.started.load(Ordering::Relaxed) {
            remote.started.store(true, Ordering::Release);
            remote.task.wake();
        }
        remote.proxy.register(cx.waker());
        let mut outcome = lock(&remote.outcome);
        match std::mem::replace(&mut *outcome, Outcome::Taken) {
            Outcome::Running => {
                *outcome = Outcome::Running;
                Poll::Pending
            }
            Outcome::Done(result) => Poll::Ready(result),
            Outcome::Panicked(payload) => {
                drop(outcome);
                panic::resume_unwind(payload)
            }
            Outcome::Lost => panic!(
                "corral: a parallel child was dropped by its runtime before it finished \
                 (was the runtime shut down while the scope was running?)"
            ),
            Outcome::Taken => panic!("corral: a parallel child's outcome was taken twice"),
        }
    }
}

impl<F, U, E> Drop for Proxy<F, U, E> {
    fn drop(&mut self) {
        let remote = &self.remote;
        if matches!(*lock(&remote.outcome), Outcome::Running) {
            // Abort, never detach: the runtime task drops the future at its
            // next poll, which this wake-up brings about.
            remote.abort.store(true, Ordering::Release);
            remote.task.wake();
        }
    }
}

/// Splits a parallel child into the runtime's [`Task`] and the scope's
/// [`Proxy`], counting it alive in its scope's [`ParallelCount`]. A child that starts `AtItsTurn` waits for its
/// proxy's first poll (its place under the scope's limit) before it starts.
pub(crate) fn split<F, U, E>(
    future: F,
    scope: ScopeRef,
    start: Start,
    watch: Option<(Watch, &'static Location<'static>)>,
    info: Option<RecordRef>,
) -> (Task, Proxy<F, U, E>)
where
    F: Future<Output = Result<U, E>> + Send + 'static,
    U: Send + 'static,
    E: Send + 'static,
{
    scope.user().parallel.alive.fetch_add(1, Ordering::Relaxed);
    let remote = Arc::new(Remote {
        future: Mutex::new(Some(future)),
        outcome: Mutex::new(Outcome::Running),
        abort: AtomicBool::new(false),
        started: AtomicBool::new(start == Start::AtOnce),
        deadline: crate::time::current_deadline_ns(),
        context: crate::time::spawn_context(frame::capture()),
        watch,
        task: AtomicWaker::new(),
        proxy: AtomicWaker::new(),
        scope,
        info,
    });
    let task = Task::new(remote.clone());
    (task, Proxy { remote })
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Waker;

    /// Splits `fut` as a child of a scope's shared state standing alone,
    /// which is returned too (its `parallel` tracker counts the child).
    fn split_alone<F, U, E>(fut: F, start: Start) -> (Task, Proxy<F, U, E>, ScopeRef)
    where
        F: Future<Output = Result<U, E>> + Send + 'static,
        U: Send + 'static,
        E: Send + 'static,
    {
        let queue = crate::engine::ReadyQueue::new(
            1,
            crate::scope::state::ScopeState::new(usize::MAX, None, None, None),
        );
        // SAFETY: the queue holds a count while we take ours.
        let scope = unsafe { ScopeRef::new(queue.shared_ptr()) };
        let (task, proxy) = split(fut, scope.clone(), start, None, None);
        (task, proxy, scope)
    }

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Counts drops.
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// `child`'s `pending_first`: it returns at its first poll.
    const AT_ONCE: bool = false;
    /// `child`'s `pending_first`: it never returns.
    const NEVER: bool = true;

    fn child(
        drops: &Arc<AtomicUsize>,
        pending_first: bool,
    ) -> impl Future<Output = Result<u32, &'static str>> + Send + 'static {
        let guard = Guard(drops.clone());
        async move {
            let _guard = guard;
            if pending_first {
                std::future::pending::<()>().await;
            }
            Ok(7)
        }
    }

    #[test]
    fn the_value_travels_from_task_to_proxy_after_the_future_is_dropped() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut task, proxy, scope) = split_alone(child(&drops, AT_ONCE), Start::AtOnce);
        let mut proxy = Box::pin(proxy);
        assert!(poll(&mut task).is_ready());
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "dropped before the outcome"
        );
        assert_eq!(poll(&mut proxy), Poll::Ready(Ok(7)));
        assert!(poll(&mut task).is_ready(), "a finished task stays finished");
        drop((task, proxy));
        assert_eq!(scope.user().parallel.alive.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_dropped_proxy_aborts_the_task_at_its_next_poll() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut task, proxy, scope) = split_alone(child(&drops, NEVER), Start::AtOnce);
        assert!(poll(&mut task).is_pending());
        drop(proxy);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "dropped on the runtime, not here"
        );
        let mut cx = Context::from_waker(Waker::noop());
        assert!(scope.user().parallel.poll_all_dropped(&mut cx).is_pending());
        assert!(poll(&mut task).is_ready());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(scope.user().parallel.poll_all_dropped(&mut cx).is_ready());
    }

    #[test]
    fn a_task_dropped_unfinished_makes_the_proxy_fail_loudly() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (task, proxy, _scope) = split_alone(child(&drops, NEVER), Start::AtOnce);
        let mut proxy = Box::pin(proxy);
        drop(task); // the runtime shut down
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let lost = panic::catch_unwind(AssertUnwindSafe(|| poll(&mut proxy)));
        let message = *lost.expect_err("lost child").downcast::<&str>().unwrap();
        assert!(message.contains("dropped by its runtime"));
    }

    #[test]
    fn a_panic_travels_with_its_payload() {
        let fut = async {
            if true {
                panic::panic_any(5_u8);
            }
            Ok::<(), ()>(())
        };
        let (mut task, proxy, _scope) = split_alone(fut, Start::AtOnce);
        let mut proxy = Box::pin(proxy);
        assert!(poll(&mut task).is_ready());
        let payload = panic::catch_unwind(AssertUnwindSafe(|| poll(&mut proxy))).unwrap_err();
        assert_eq!(payload.downcast_ref::<u8>(), Some(&5));
    }

    #[test]
    fn a_gated_task_waits_for_its_proxy() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut task, proxy, _scope) = split_alone(child(&drops, AT_ONCE), Start::AtItsTurn);
        let mut proxy = Box::pin(proxy);
        assert!(poll(&mut task).is_pending(), "not started before its turn");
        assert!(poll(&mut proxy).is_pending());
        assert!(poll(&mut task).is_ready());
        assert_eq!(poll(&mut proxy), Poll::Ready(Ok(7)));
    }
}
