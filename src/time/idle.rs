//! When every task on a virtual clock is idle: the count of its busy tasks,
//! each task's woken flag, and who jumps when the count falls to zero.
//!
//! `busy` is the polls running plus the tasks woken and not yet polled. A
//! task counts as woken from its creation to its first poll. A poll adds one
//! for itself and takes its task's flag (taking one back if it was set); a
//! wake sets the flag and adds one if it was clear; a task's end takes its
//! flag back. The move that takes `busy` to zero is the moment every task is
//! idle: its maker runs the jumps, unless another thread is jumping, in which
//! case it leaves a note (`WANT`) that the jumper reads as it lets go. The
//! note and the jumper's flag share one word, so the hand-over needs no
//! store-then-load ordering across two atomics.
//! `loom_tests.rs` models the counting and the hand-over of the jump.

use std::sync::atomic::AtomicU64;

use crate::loom::{AtomicBool, AtomicUsize, Ordering};

/// A clock's busy count and its jump hand-over.
pub(crate) struct Idle {
    busy: AtomicUsize,
    /// Counts the times `busy` left zero (for a jump that waits a threshold
    /// to tell that something ran meanwhile).
    activity: AtomicU64,
    /// [`JUMPING`] and [`WANT`]: one word, so that asking for a jump and
    /// the jumper letting go are ordered by its read-modify-writes alone.
    jump: AtomicUsize,
}

/// A thread is jumping.
const JUMPING: usize = 1;
/// A jump was asked for since the jumper last looked.
const WANT: usize = 2;

/// One task's part: woken and not yet polled; finished.
pub(crate) struct Flags {
    woken: AtomicBool,
    done: AtomicBool,
}

impl Idle {
    pub(crate) fn new() -> Self {
        Idle {
            busy: AtomicUsize::new(0),
            activity: AtomicU64::new(0),
            jump: AtomicUsize::new(0),
        }
    }

    /// Whether every task is idle now.
    pub(crate) fn is_idle(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }

    /// The count (for tests).
    #[cfg(all(test, not(corral_loom)))]
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    /// How many times the count has left zero.
    pub(crate) fn activity(&self) -> u64 {
        self.activity.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn up(&self) {
        if self.busy.fetch_add(1, Ordering::SeqCst) == 0 {
            self.activity
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Takes one off; true if that made every task idle.
    #[must_use]
    fn down(&self) -> bool {
        self.busy.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// A new task: counted as woken until its first poll.
    pub(crate) fn task(&self) -> Flags {
        self.up();
        Flags {
            woken: AtomicBool::new(true),
            done: AtomicBool::new(false),
        }
    }

    /// A wake of `task`; true if it made every task idle (a wake that
    /// raced the task's end and took its count back).
    #[must_use]
    pub(crate) fn wake(&self, task: &Flags) -> bool {
        if task.done.load(Ordering::SeqCst) || task.woken.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.up();
        // Finished meanwhile: take the count back (once, by the flag).
        task.done.load(Ordering::SeqCst) && task.woken.swap(false, Ordering::SeqCst) && self.down()
    }

    /// A poll of `task` begins: counted until [`poll_end`](Self::poll_end).
    pub(crate) fn poll_begin(&self, task: &Flags) {
        self.up();
        if task.woken.swap(false, Ordering::SeqCst) {
            // Cannot reach zero: this poll counts.
            let _ = self.down();
        }
    }

    /// A poll ends; true if that made every task idle.
    #[must_use]
    pub(crate) fn poll_end(&self) -> bool {
        self.down()
    }

    /// `task` is over (its future dropped): its wakes no longer count. True
    /// if that made every task idle.
    #[must_use]
    pub(crate) fn finish(&self, task: &Flags) -> bool {
        task.done.store(true, Ordering::SeqCst);
        task.woken.swap(false, Ordering::SeqCst) && self.down()
    }

    /// Every task went idle: calls `step` (move the clock to its next timer
    /// and fire it; false if there is none) while every task stays idle, on
    /// this thread unless another is jumping, which then does it for us.
    pub(crate) fn jump(&self, mut step: impl FnMut() -> bool) {
        if self.jump.fetch_or(WANT, Ordering::AcqRel) & JUMPING != 0 {
            return; // the jumper sees `WANT` before it lets go
        }
        // Become the jumper, taking every request made so far; if another
        // thread became it first, it takes ours.
        if self
            .jump
            .compare_exchange(WANT, JUMPING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        loop {
            while self.is_idle() {
                if !step() {
                    break;
                }
            }
            // Let go, unless a request came meanwhile: then take it and
            // look again.
            match self
                .jump
                .compare_exchange(JUMPING, 0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(_) => self.jump.store(JUMPING, Ordering::Release),
            }
        }
    }
}
