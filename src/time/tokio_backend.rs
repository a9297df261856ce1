//! corral's timers on tokio's runtimes, found at arm time.
//!
//! A timer armed on a thread inside a tokio runtime goes to that runtime's
//! shards (its *domain*): their clock is the runtime's (so a paused runtime's
//! timers follow its virtual time) and their backend timers are tokio
//! `Sleep`s on its driver. The domain is made at the runtime's first corral
//! timer, found by the runtime's id, and each thread remembers the last one it
//! used, so the usual arm costs `Handle::try_current` and a comparison.
//!
//! A runtime that shuts down drops its tasks first and stops its time driver
//! after (a tokio `Sleep` polled after that panics). So each domain spawns one
//! idle task, the sentinel, whose drop marks the domain dead while the driver
//! still runs; from then on its shards read the default backend's clock and
//! take their backend timers from it (`RuntimeSleep` switches over too), and
//! each shard is re-armed there. A thread that is polling one of the
//! runtime's `Sleep`s at that moment holds `busy`, and the sentinel waits for
//! it, so no `Sleep` is polled once the driver may be stopping. The dead
//! domain's shards go back to the pool as their last timers are released.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use tokio::runtime::{Handle, Id};

#[cfg(not(feature = "async-io"))]
use super::backend::{self, Choice};
use super::runtime_clock::RuntimeClock;
use super::shard::{Clock, Local, Now, next_owner, open_shard, shard_count, thread_index};
use crate::util::lock;

/// One runtime's shards.
struct Domain {
    runtime: Id,
    clock: Arc<RuntimeClock>,
    /// Shard ids by thread index, made as threads first arm; `None` if the
    /// shard table was full (those threads use the process-wide backend).
    shards: Box<[OnceLock<Option<u32>>]>,
}

impl Domain {
    fn shard(&self, index: usize) -> Option<u32> {
        *self.shards[index]
            .get_or_init(|| open_shard(Clock::Runtime(Arc::clone(&self.clock)), self.clock.serial))
    }

    /// This thread's shard in the domain, unless the runtime has shut down
    /// (or the shard table is full).
    fn shard_here(&self) -> Option<u32> {
        let shard = self.shard(thread_index() & (self.shards.len() - 1))?;
        // Against `shut_down`'s fence: a shard made concurrently is either
        // seen there or sees `dead` here.
        fence(Ordering::SeqCst);
        if self.clock.is_dead() {
            // It shut down meanwhile: make sure the shard is closed (the
            // sentinel may not have seen it), and arm elsewhere.
            super::shard::Timers::get().shard(shard as usize).fire();
            return None;
        }
        Some(shard)
    }

    /// The runtime is shutting down (its tasks are being dropped; its time
    /// driver still runs): move every shard to the default backend.
    fn shut_down(&self) {
        self.clock.dead.store(true, Ordering::SeqCst);
        while self.clock.busy.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        lock(&DOMAINS).retain(|domain| !std::ptr::eq(&**domain, self));
        // Against `shard_here`'s fence: a shard made concurrently is either
        // seen here or sees `dead` there.
        fence(Ordering::SeqCst);
        for shard in self
            .shards
            .iter()
            .filter_map(|s| s.get().copied().flatten())
        {
            super::shard::Timers::get().shard(shard as usize).fire();
        }
    }
}

/// Lives as an idle task on the runtime; the runtime drops it when it shuts
/// down, before it stops its time driver.
struct Sentinel(Arc<Domain>);

impl Future for Sentinel {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.0.shut_down();
    }
}

/// The domains of the runtimes alive now.
static DOMAINS: Mutex<Vec<Arc<Domain>>> = Mutex::new(Vec::new());

/// The domain of `handle`'s runtime, made (with its sentinel) if need be.
fn domain_of(handle: &Handle, runtime: Id) -> Arc<Domain> {
    let made = {
        let mut domains = lock(&DOMAINS);
        if let Some(domain) = domains
            .iter()
            .find(|d| d.runtime == runtime && !d.clock.is_dead())
        {
            return Arc::clone(domain);
        }
        let domain = Arc::new(Domain {
            runtime,
            clock: Arc::new(RuntimeClock {
                handle: handle.clone(),
                serial: next_owner(),
                dead: AtomicBool::new(false),
                busy: AtomicUsize::new(0),
            }),
            shards: (0..shard_count()).map(|_| OnceLock::new()).collect(),
        });
        domains.push(Arc::clone(&domain));
        domain
    };
    // Outside the lock: on a runtime already shutting down the task is
    // dropped at once, and its drop takes the lock.
    drop(handle.spawn(Sentinel(Arc::clone(&made))));
    made
}

/// The domain and shard this thread used last.
struct Route {
    runtime: Id,
    domain: Arc<Domain>,
    shard: u32,
}

thread_local! {
    static ROUTE: RefCell<Option<Route>> = const { RefCell::new(None) };
}

/// Where a timer armed on this thread goes, if a tokio runtime takes it: the
/// runtime this thread is in (or, without the `async-io` feature, the one
/// `set_backend` was given).
#[inline]
pub(crate) fn route() -> Option<Local> {
    let Ok(handle) = Handle::try_current() else {
        return outside();
    };
    let runtime = handle.id();
    let cached = ROUTE
        .try_with(|route| {
            let route = route.borrow();
            let route = route.as_ref()?;
            (route.runtime == runtime && !route.domain.clock.is_dead())
                .then(|| (route.shard, route.domain.clock.serial))
        })
        .ok()
        .flatten();
    if let Some((shard, serial)) = cached {
        return Some(Local::new(shard, serial, Now::InRuntime));
    }
    let (shard, serial) = open_route(&handle, runtime)?;
    Some(Local::new(shard, serial, Now::InRuntime))
}

/// The slow path of [`route`]: finds or makes the domain and this thread's
/// shard in it, and remembers them.
#[cold]
fn open_route(handle: &Handle, runtime: Id) -> Option<(u32, u64)> {
    let domain = domain_of(handle, runtime);
    let shard = domain.shard_here()?;
    let serial = domain.clock.serial;
    // (The route it replaces is dropped after the borrow ends.)
    let replaced = ROUTE.try_with(|route| {
        route.borrow_mut().replace(Route {
            runtime,
            domain,
            shard,
        })
    });
    drop(replaced);
    Some((shard, serial))
}

/// Outside any runtime: without the `async-io` feature, the runtime passed to
/// `set_backend` (corral's old advice) serves, while it lives.
#[cfg(not(feature = "async-io"))]
fn outside() -> Option<Local> {
    let Choice::Tokio(tokio) = backend::choice() else {
        return None;
    };
    let domain = domain_of(&tokio.handle, tokio.handle.id());
    let shard = domain.shard_here()?;
    Some(Local::new(
        shard,
        domain.clock.serial,
        Now::Runtime(Arc::clone(&domain.clock)),
    ))
}

#[cfg(feature = "async-io")]
#[inline]
fn outside() -> Option<Local> {
    None
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use crate::time::shard::{Timers, pool_size};
    use std::sync::Mutex as StdMutex;
    use std::task::{Wake, Waker};
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);

    fn paused() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    /// Records the virtual time of each wake.
    struct Record(StdMutex<Vec<tokio::time::Instant>>);
    impl Wake for Record {
        fn wake(self: Arc<Self>) {
            self.0.lock().unwrap().push(tokio::time::Instant::now());
        }
    }

    /// A shard's backend timer is polled from whichever task armed a corral
    /// timer. Polled by a task that has spent its co-operative budget, it is
    /// still registered with the driver: it wakes at its deadline, not only
    /// spuriously when the task yields.
    #[test]
    fn a_runtime_sleep_registers_with_the_task_budget_spent() {
        paused().block_on(async {
            let start = tokio::time::Instant::now();
            let domain = domain_of(&Handle::current(), Handle::current().id());
            let record = Arc::new(Record(StdMutex::new(Vec::new())));
            let waker = Waker::from(record.clone());
            let mut sleep = domain.clock.sleep_until(start.into_std() + HOUR);
            std::future::poll_fn(|cx| {
                while std::pin::pin!(tokio::task::coop::consume_budget())
                    .poll(cx)
                    .is_ready()
                {}
                let polled = sleep.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(polled.is_pending());
                Poll::Ready(())
            })
            .await;
            tokio::time::sleep(2 * HOUR).await;
            let wakes = record.0.lock().unwrap().clone();
            assert!(
                wakes.iter().any(|&at| at - start >= HOUR),
                "never woken by the driver: {wakes:?}"
            );
        });
    }

    /// A shard of a runtime that shut down while one of its timers was still
    /// held stays open until that timer goes, then waits in the pool, and the
    /// next runtimes take shards from the pool rather than making new ones.
    #[test]
    fn shards_of_runtimes_that_are_gone_are_closed_and_reused() {
        let rt = paused();
        let (mut held, shard) = rt.block_on(async {
            let mut held = Box::pin(crate::time::sleep(HOUR));
            let noop = &mut Context::from_waker(Waker::noop());
            assert!(held.as_mut().poll(noop).is_pending(), "armed");
            let shard = route().expect("inside a runtime").shard();
            (held, shard)
        });
        let shard = Timers::get().shard(shard as usize);
        drop(rt);
        assert!(!shard.is_closed(), "a timer still holds it");
        // The timer fires on the default backend's clock now: an hour off.
        let noop = &mut Context::from_waker(Waker::noop());
        assert!(held.as_mut().poll(noop).is_pending());
        drop(held);
        assert!(shard.is_closed(), "its last timer is gone");

        let before = pool_size();
        for i in 0..40 {
            let rt = if i % 2 == 0 {
                paused()
            } else {
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap()
            };
            rt.block_on(crate::time::sleep(Duration::from_millis(1)));
        }
        // Other tests may hold a few shards meanwhile; without reuse this
        // would have made forty.
        assert!(
            pool_size() - before < 8,
            "{} new shards for 40 runtimes in turn",
            pool_size() - before
        );
    }
}
