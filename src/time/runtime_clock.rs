//! One tokio runtime's clock, as the shards of its domain see it
//! (`tokio_backend.rs` makes the domains): the runtime's own time and `Sleep`s
//! while it runs, the default backend's once it has shut down. `shard.rs`
//! reads it through `Clock::Runtime`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;
use tokio::runtime::Handle;

use super::backend::{self, BackendSleep};
use super::clock::{NEVER_NS, to_ns};

/// One runtime's clock, as its shards see it: the runtime's own while it
/// runs, the default backend's once it has shut down.
pub(crate) struct RuntimeClock {
    pub(super) handle: Handle,
    /// Tells this runtime's shards from any other owner's (never 0).
    pub(super) serial: u64,
    /// The runtime has shut down (or is shutting down).
    pub(super) dead: AtomicBool,
    /// Threads polling one of this runtime's `Sleep`s right now.
    pub(super) busy: AtomicUsize,
}

impl RuntimeClock {
    pub(crate) fn now_ns(&self) -> u64 {
        if self.is_dead() {
            return fallback_now_ns();
        }
        let _in_runtime = self.handle.enter();
        to_ns(tokio::time::Instant::now().into_std())
    }

    pub(crate) fn sleep_until(self: &Arc<Self>, deadline: Instant) -> BackendSleep {
        Box::pin(RuntimeSleep {
            clock: Arc::clone(self),
            deadline,
            tokio: None,
            fallback: None,
        })
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }
}

/// The time on the default backend's clock, for a runtime that is gone; with
/// no default backend, the end of time, so that its timers all fire at once.
fn fallback_now_ns() -> u64 {
    backend::fallback().map_or(NEVER_NS - 1, |backend| to_ns(backend.now()))
}

fn fallback_sleep(deadline: Instant) -> BackendSleep {
    match backend::fallback() {
        Some(backend) => backend.sleep_until(deadline),
        None => Box::pin(std::future::ready(())),
    }
}

pin_project! {
    /// A shard's backend timer on a runtime: a tokio `Sleep` made at the first
    /// poll, or the default backend's timer once the runtime is gone.
    struct RuntimeSleep {
        clock: Arc<RuntimeClock>,
        deadline: Instant,
        // Unconstrained: the shard polls this from whichever task armed a
        // corral timer, and a task that has spent its co-operative budget
        // would get `Pending` without the `Sleep` being registered.
        #[pin]
        tokio: Option<tokio::task::coop::Unconstrained<tokio::time::Sleep>>,
        fallback: Option<BackendSleep>,
    }
}

impl Future for RuntimeSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if let Some(fallback) = this.fallback {
            return fallback.as_mut().poll(cx);
        }
        // SeqCst, against the sentinel's store of `dead` then load of `busy`:
        // either it waits for this poll, or this poll sees `dead`.
        this.clock.busy.fetch_add(1, Ordering::SeqCst);
        let _busy = Busy(&this.clock.busy);
        if this.clock.dead.load(Ordering::SeqCst) {
            this.tokio.set(None);
            return this
                .fallback
                .insert(fallback_sleep(*this.deadline))
                .as_mut()
                .poll(cx);
        }
        if this.tokio.is_none() {
            let _in_runtime = this.clock.handle.enter();
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(*this.deadline));
            this.tokio
                .set(Some(tokio::task::coop::unconstrained(sleep)));
        }
        match this.tokio.as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None => unreachable!("made above"),
        }
    }
}

/// Ends a poll counted in `busy`, on unwind too.
struct Busy<'a>(&'a AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}
