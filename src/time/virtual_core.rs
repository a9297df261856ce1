//! A virtual clock's state, as the shards see it (`shard.rs` reads it through
//! `Clock::Virtual`): the time, which moves only when told to, and the one
//! shard that holds its timers. The public side, and everything that moves
//! the time, is in `virtual_clock.rs`.
//!
//! A virtual clock is in force where a context value of type [`InForce`]
//! is (`crate::frame`): so it follows children, local and parallel, as any
//! context value does, and a timer armed, or the time read, anywhere inside
//! it uses it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::backend::BackendSleep;
use crate::frame;

/// A virtual clock's shared state.
pub(crate) struct Core {
    /// The time, in nanoseconds since the timer epoch. Only moves forward.
    pub(crate) now: AtomicU64,
    /// Where the clock started (for `elapsed`).
    pub(crate) start: u64,
    /// Tells this clock's shard from any other owner's (never 0).
    pub(crate) serial: u64,
    /// Every `VirtualClock` handle is gone.
    pub(crate) dead: AtomicBool,
    /// The clock's shard, made at its first timer (`None` if the shard
    /// table was full).
    pub(crate) shard: OnceLock<Option<u32>>,
    /// `None`: the time moves only by hand. `Some(threshold)`: it jumps to
    /// the next timer once every task on the clock has been idle that long
    /// (real time).
    pub(crate) autojump: Option<Duration>,
    /// Tasks on the clock being polled now, plus those woken and not yet
    /// polled. Zero: every task on the clock is idle.
    pub(crate) busy: AtomicUsize,
    /// Counts the times `busy` left zero, so that a jump waiting for its
    /// threshold can tell that something ran meanwhile.
    pub(crate) activity: AtomicU64,
    /// Someone asked for a jump while another thread was jumping.
    pub(crate) want_jump: AtomicBool,
    /// A thread is jumping.
    pub(crate) jumping: AtomicBool,
    /// With a threshold: the clock went idle (set, and `idle_cv` notified,
    /// for the thread that waits out the threshold), or it is dead.
    pub(crate) idle: std::sync::Mutex<bool>,
    pub(crate) idle_cv: std::sync::Condvar,
    /// The thread that waits out the threshold has been started.
    pub(crate) jumper: AtomicBool,
}

impl Core {
    pub(crate) fn now_ns(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// The shard's backend timer: ready once the clock has reached `tick_ns`.
    /// It registers no waker: whatever moves the clock drives the shard
    /// itself (`VirtualClock::advance_to`).
    pub(crate) fn sleep_until_ns(self: &Arc<Self>, deadline_ns: u64) -> BackendSleep {
        Box::pin(VirtualSleep {
            core: Arc::clone(self),
            deadline_ns,
        })
    }
}

/// A shard's backend timer on a virtual clock.
struct VirtualSleep {
    core: Arc<Core>,
    deadline_ns: u64,
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.core.now_ns() >= self.deadline_ns {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// One task on a virtual clock: its own wakes, counted in the clock's
/// `busy`.
pub(crate) struct Task {
    pub(crate) core: Arc<Core>,
    /// Woken and not yet polled (counted in `busy`).
    pub(crate) woken: AtomicBool,
    /// The task has finished: its wakes no longer count.
    pub(crate) done: AtomicBool,
    /// The waker of the executor that runs the task, as last polled.
    pub(crate) waker: std::sync::Mutex<Option<Waker>>,
}

/// The context value that puts a virtual clock in force: the clock, and the
/// task (a `VirtualClock::run` or a parallel child spawned inside one) whose
/// polls and wakes count in its `busy`.
pub(crate) struct InForce {
    /// The clock's handle (`virtual_clock::Handle`), which keeps it alive:
    /// its drop marks the clock dead.
    pub(crate) keep: Arc<dyn std::any::Any + Send + Sync>,
    pub(crate) task: Arc<Task>,
}

/// Calls `f` with the virtual clock in force here, if any.
#[inline]
pub(crate) fn with_in_force<R>(f: impl FnOnce(Option<&InForce>) -> R) -> R {
    frame::with_context(|context| f(context.and_then(|c| c.find::<InForce>())))
}

/// The time on the virtual clock in force here, if there is one.
#[inline]
pub(crate) fn now_in_force() -> Option<u64> {
    with_in_force(|clock| clock.map(|c| c.task.core.now_ns()))
}
