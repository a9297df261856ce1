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
//! The scope also keeps a [`Tracker`]: how many parallel futures have not been
//! dropped yet. On the error and panic paths the scope waits for it to reach
//! zero before it resolves, so every aborted child's destructor has run.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// How many parallel futures of one scope are still alive, and who to wake
/// when the last one is dropped.
#[derive(Default)]
pub(crate) struct Tracker {
    alive: AtomicUsize,
    waker: AtomicWaker,
}

impl Tracker {
    /// `Ready` once every parallel future of the scope has been dropped.
    pub(crate) fn poll_all_dropped(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.alive.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.alive.load(Ordering::Acquire) == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn one_dropped(&self) {
        if self.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waker.wake();
        }
    }
}

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
    /// The runtime task's waker, for abort requests and the start.
    task: AtomicWaker,
    /// The proxy's waker, for the outcome.
    proxy: AtomicWaker,
    tracker: Arc<Tracker>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The locks are held only around our own code (a poll of the child runs
    // under `future`'s lock and its panic is caught inside), so a poisoned
    // lock still holds consistent data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<F, U, E> Remote<F, U, E>
where
    F: Future<Output = Result<U, E>>,
{
    /// Drops the child's future (under its lock), then counts it dropped.
    /// Returns the panic of its destructor, if any.
    fn drop_future(&self, future: &mut Option<F>) -> Option<Box<dyn Any + Send>> {
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| *future = None)).err();
        self.tracker.one_dropped();
        panicked
    }

    fn finish(&self, outcome: Outcome<U, E>) {
        *lock(&self.outcome) = outcome;
        self.proxy.wake();
    }
}

/// The runtime side: what a [`Task`] drives.
trait Run: Send + Sync {
    fn run(&self, cx: &mut Context<'_>) -> Poll<()>;
    /// The runtime dropped the task: drop the future if it is still there.
    fn abandon(&self);
}

impl<F, U, E> Run for Remote<F, U, E>
where
    F: Future<Output = Result<U, E>> + Send,
    U: Send,
    E: Send,
{
    fn run(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.task.register(cx.waker());
        let mut future = lock(&self.future);
        let Some(fut) = future.as_mut() else {
            return Poll::Ready(()); // finished or aborted already
        };
        if self.abort.load(Ordering::Acquire) {
            // The scope gave up on this child: drop it here, on its runtime.
            // (A panic in its destructor has nobody left to go to.)
            drop(self.drop_future(&mut future));
            return Poll::Ready(());
        }
        if !self.started.load(Ordering::Acquire) {
            // Waiting for a place under the scope's concurrency limit; the
            // proxy's first poll wakes us (the waker is registered above).
            return Poll::Pending;
        }
        // SAFETY: the future lives inside the `Arc<Remote>` and is never moved
        // out of its `Option`, only dropped in place, so it stays pinned.
        let fut = unsafe { Pin::new_unchecked(fut) };
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
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

/// A parallel child's future, ready to be run by a runtime: poll it until it
/// completes, and drop it when done (or when the runtime shuts down).
///
/// It is what [`Spawn::spawn_task`](super::Spawn::spawn_task) receives. It is
/// `Send + 'static` and `Unpin`; its output is `()`: the child's own output
/// travels to its scope by another path. Dropping it before it completes drops
/// the child's future; the scope notices and fails loudly, since its child
/// was lost.
#[must_use = "a task does nothing unless it is polled by a runtime"]
pub struct Task {
    run: Arc<dyn Run>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").finish_non_exhaustive()
    }
}

impl Future for Task {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.run.run(cx)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.run.abandon();
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
        remote.proxy.register(cx.waker());
        if !remote.started.load(Ordering::Relaxed) {
            remote.started.store(true, Ordering::Release);
            remote.task.wake();
        }
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
/// [`Proxy`], counting it alive in `tracker`. A `gated` child waits for its
/// proxy's first poll (its place under the scope's limit) before it starts.
pub(crate) fn split<F, U, E>(
    future: F,
    tracker: &Arc<Tracker>,
    gated: bool,
) -> (Task, Proxy<F, U, E>)
where
    F: Future<Output = Result<U, E>> + Send + 'static,
    U: Send + 'static,
    E: Send + 'static,
{
    tracker.alive.fetch_add(1, Ordering::Relaxed);
    let remote = Arc::new(Remote {
        future: Mutex::new(Some(future)),
        outcome: Mutex::new(Outcome::Running),
        abort: AtomicBool::new(false),
        started: AtomicBool::new(!gated),
        task: AtomicWaker::new(),
        proxy: AtomicWaker::new(),
        tracker: tracker.clone(),
    });
    let task = Task {
        run: remote.clone(),
    };
    (task, Proxy { remote })
}
