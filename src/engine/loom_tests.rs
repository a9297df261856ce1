//! loom model of the engine's wake protocol (run with `--cfg corral_loom`, see
//! `.ci/run`): wakes from other threads racing the owner's poll loop and its
//! `polling` window must never be lost (each wake is either seen by a poll or
//! reaches the parent's waker), and the shared count frees exactly once.
//!
//! The harness (`after_first_turn`) is shared with the scope's models, which
//! race scope-level work (spawns, stop requests) against the same loop.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::{Children, Look, ReadyQueue, UserState};

/// A parent waker that counts its wakes.
pub(crate) struct CountingWaker(pub(crate) AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Two children that are always `Pending` and count their polls.
pub(crate) struct TwoChildren {
    started: usize,
    polls: [usize; 2],
}

impl<S: UserState> Children<S> for TwoChildren {
    type Break = ();
    fn next_fresh(&mut self, _queue: &mut ReadyQueue<S>, _look: Look) -> Option<usize> {
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

pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A queue of two [`TwoChildren`] after their first turn (each polled once,
/// the parent's waker registered), with the parent's counting waker.
pub(crate) fn after_first_turn<S: UserState>(
    user: S,
) -> (ReadyQueue<S>, TwoChildren, Arc<CountingWaker>, Waker) {
    let mut queue = ReadyQueue::new(2, user);
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
        let (mut queue, mut children, parent, parent_waker) = after_first_turn(());
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
