//! The poll loop: [`ReadyQueue::drive`] polls the user's children, new ones
//! first, then the woken ones in wake order, within a budget: its own
//! ([`BUDGET`] child polls) and, with the `tokio` feature, tokio's.
//!
//! # tokio's budget
//!
//! tokio gives each task poll a budget of 128 units; its resources (a
//! channel receive, a timer, a socket read, a `JoinHandle`) spend one per
//! value they return, and once it is spent they return `Pending` whatever
//! their readiness, their wake deferred until the runtime has looked at its
//! drivers. A child polled after that point can only return `Pending`. So,
//! with the `tokio` feature, before each child poll (the first included) the
//! loop asks tokio whether budget is left
//! (`tokio::task::coop::has_budget_remaining`: one thread-local read; `true`
//! outside a tokio task and under `tokio::task::coop::unconstrained`), and if
//! none is, it yields as a tokio resource does: tokio takes the parent's
//! waker to wake after its drivers (`poll_proceed`), and `drive` returns
//! `Drained::Budget`. The next child stays first in line. Only a poll that
//! began with budget left stops so. One that began with it spent came from
//! a parent that does not respect it (a `block_on` nested inside a tokio
//! task, a `select!` whose other branch spent it, a loop re-polling within
//! one task poll): stopping there would poll no child, ever, and a `block_on`
//! blocked inside the task's poll would never receive the deferred wake (a
//! hang the outside review found). Such a poll runs as without the feature,
//! within `BUDGET`. Without the feature the check is a constant `false`.
//!
//! Without the check (measured with `benches/examples/coop.rs` and
//! `tests/coop.rs`): once one child drained the budget, every other ready
//! child was polled for nothing until `BUDGET` ran out, 127 wasted polls a
//! turn; a scope nested in a scope, woken through the remote stack by its
//! own `BUDGET` wake, was polled again in the same turn until its queue was
//! empty, so every ready child was polled each turn; and a child that wakes
//! itself at once when the budget is spent (tokio before 1.44, hand-written
//! cooperative futures) was polled again and again in the same turn,
//! `BUDGET` times per level of nesting: 128³ polls a turn three scopes
//! deep.

use std::ops::ControlFlow;
use std::ptr::NonNull;
use std::task::Context;

use super::budget::TokioBudget;
use super::queue::ReadyQueue;
use super::shared::{OwnerGuard, Slot, UserState};
use crate::loom::Ordering;

/// Child polls allowed in one call to [`ReadyQueue::drive`] before it yields.
pub(crate) const BUDGET: usize = 128;

/// What the owner polls: one child per index, plus the children never polled
/// yet. The engine knows nothing else of them.
pub(crate) trait Children<S: UserState> {
    /// Why polling stopped early (a failure, a winner, a panic...).
    type Break;

    /// The next child that has never been polled, in spawn order, if one may
    /// start now. Called before every ready child, so new children start first.
    /// `look` tells the last look before the loop goes idle, when anything
    /// published remotely must be read with a read-modify-write (see `drive`).
    fn next_fresh(&mut self, queue: &mut ReadyQueue<S>, look: Look) -> Option<usize>;

    /// Polls the child at `index` (which may be vacant after a stale wake).
    fn poll_child(&mut self, index: usize, cx: &mut Context<'_>) -> ControlFlow<Self::Break>;
}

/// When [`Children::next_fresh`] is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Before each child poll, while the loop runs.
    Busy,
    /// The last look before the loop goes idle: anything published remotely
    /// must be read with a read-modify-write.
    Last,
}

/// Why `drive` returned without a `Break`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing is ready: the parent is woken when something is.
    Idle,
    /// A budget ran out, `BUDGET` or tokio's: the parent has been woken (or,
    /// for tokio's, its wake handed to tokio, which wakes it after looking
    /// at its drivers) to continue.
    Budget,
}

impl<S: UserState> ReadyQueue<S> {
    /// The next child to poll, new ones first, and its slot: a new child's
    /// is looked up by its index, a woken one's comes from the ready FIFO,
    /// which holds slots.
    #[inline(always)]
    fn next_child<C: Children<S>>(
        &mut self,
        children: &mut C,
        look: Look,
    ) -> Option<(usize, NonNull<Slot<S>>)> {
        match children.next_fresh(self, look) {
            Some(index) => Some((index, NonNull::from(self.slot(index)))),
            None => self.pop(),
        }
    }

    /// Polls ready children until none is left (`Idle`), a budget runs out
    /// (`Budget`, parent already woken; tokio's is checked before each child
    /// poll, even the first) or a child asks to stop (`Break`).
    pub(crate) fn drive<C: Children<S>>(
        &mut self,
        children: &mut C,
        cx: &mut Context<'_>,
    ) -> ControlFlow<C::Break, Drained> {
        let shared = self.shared();
        shared.parent.register(cx.waker());
        shared.polling.store(true, Ordering::SeqCst);
        // SAFETY: the owner's count keeps the shared state alive for the whole
        // call; the guard borrows it independently of `self`.
        let _owner = OwnerGuard::enter(unsafe { &*self.shared_ptr() });
        let mut polls = 0;
        // tokio's, respected only if this poll began with some left.
        let tokio_budget = TokioBudget::at_start();
        loop {
            if tokio_budget.spent() {
                TokioBudget::defer_wake(cx);
                return ControlFlow::Continue(Drained::Budget);
            }
            let (index, slot) = match self.next_child(children, Look::Busy) {
                Some(woken) => woken,
                None => {
                    // Close the window, then look once more: a remote wake or
                    // spawn that saw `polling == true` skipped the parent and
                    // relies on this look. Read-modify-writes (the swap in
                    // `take_remote`, a CAS for spawns) read the latest value of
                    // each stack, which plain `SeqCst` loads would also do but
                    // loom cannot check. This runs once per idle exit, not per child.
                    self.shared().polling.store(false, Ordering::SeqCst);
                    self.take_remote();
                    match self.next_child(children, Look::Last) {
                        Some(late) => {
                            self.shared().polling.store(true, Ordering::SeqCst);
                            late
                        }
                        None => return ControlFlow::Continue(Drained::Idle),
                    }
                }
            };
            let waker = self.slot_waker(slot);
            let mut child_cx = Context::from_waker(&waker);
            // On every return below, `_owner` clears `polling` as it drops.
            if let ControlFlow::Break(reason) = children.poll_child(index, &mut child_cx) {
                return ControlFlow::Break(reason);
            }
            polls += 1;
            if polls == BUDGET {
                cx.waker().wake_by_ref();
                return ControlFlow::Continue(Drained::Budget);
            }
        }
    }
}
