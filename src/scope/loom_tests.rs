//! loom models of the child set's atomic protocols (run with `--cfg corral_loom`, see
//! `.ci/run`):
//!
//! - the ready queue: wakes from other threads racing the owner's poll loop and
//!   its `polling` window must never be lost (each wake is either seen by a poll
//!   or reaches the parent's waker), and the shared count frees exactly once;
//! - the scope: a spawn from another thread racing the scope's completion either
//!   reaches a scope that polls the child, or is refused with a panic; a
//!   `JoinHandle` dropped on another thread frees the cell exactly once;
//! - a stop request from another thread racing the poll loop is either seen by
//!   the scope after its loop or wakes the parent (`stop.rs`).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::ready::{Children, ReadyQueue, SharedRef};

/// A parent waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Two children that are always `Pending` and count their polls.
struct TwoChildren {
    started: usize,
    polls: [usize; 2],
}

impl Children for TwoChildren {
    type Break = ();
    fn next_fresh(&mut self, _queue: &mut ReadyQueue, _late: bool) -> Option<usize> {
        (self.started < 2).then(|| {
            self.started += 1;
            self.started - 1
        })
    }
    fn poll_child(&mut self, index: usize, cx: &mut Context<'_>) -> ControlFlow<()> {
        self.polls[index] += 1;
        if index == 0 && self.polls[0] == 2 {
            // A wake from inside the poll: the owner-thread path, racing the
            // remote wakes below.
            cx.waker().wake_by_ref();
        }
        ControlFlow::Continue(())
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A queue of two [`TwoChildren`] after their first turn (each polled once,
/// the parent's waker registered), with the parent's counting waker.
fn after_first_turn() -> (ReadyQueue, TwoChildren, Arc<CountingWaker>, Waker) {
    let mut queue = ReadyQueue::new(2);
    queue.reserve(2);
    let parent = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let parent_waker = Waker::from(parent.clone());
    let mut children = TwoChildren {
        started: 0,
        polls: [0; 2],
    };
    let _ = queue.drive(&mut children, &mut Context::from_waker(&parent_waker));
    assert_eq!(children.polls, [1, 1]);
    (queue, children, parent, parent_waker)
}

#[test]
fn wakes_racing_the_poll_loop_are_never_lost() {
    model(|| {
        let (mut queue, mut children, parent, parent_waker) = after_first_turn();
        let mut cx = Context::from_waker(&parent_waker);

        let waker0 = (*queue.waker(0)).clone();
        let waker1 = (*queue.waker(1)).clone();
        let t0 = thread::spawn(move || waker0.wake());
        let t1 = thread::spawn(move || {
            waker1.wake_by_ref();
            drop(waker1);
        });
        // The owner polls concurrently with the wakes.
        let _ = queue.drive(&mut children, &mut cx);
        t0.join().unwrap();
        t1.join().unwrap();

        // Whatever the first turn missed must have woken the parent.
        while parent.0.swap(0, Ordering::SeqCst) > 0 {
            let _ = queue.drive(&mut children, &mut cx);
        }
        assert!(
            children.polls[0] >= 3, // woken remotely, then by itself
            "wake of child 0 lost: {:?}",
            children.polls
        );
        assert!(
            children.polls[1] >= 2,
            "wake of child 1 lost: {:?}",
            children.polls
        );
    });
}

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
        let (mut queue, mut children, parent, parent_waker) = after_first_turn();
        let mut cx = Context::from_waker(&parent_waker);
        // SAFETY: the queue holds a count while we take ours.
        let shared = unsafe { SharedRef::new(queue.shared_ptr()) };
        let stopper = thread::spawn(move || super::stop::request_with(&shared, None));
        // The scope future's order: the loop (which clears `polling` on its
        // way out), then a look at the epoch.
        let _ = queue.drive(&mut children, &mut cx);
        let seen = queue.shared().stop.epoch() != 0;
        stopper.join().unwrap();
        assert!(
            seen || parent.0.load(Ordering::SeqCst) > 0,
            "a stop request was neither seen nor woke the parent"
        );
    });
}
