//! loom models of a timer shard's cross-thread paths (run with
//! `--cfg corral_loom`, see `.ci/run`):
//!
//! - a timer released (its `Timeout` dropped) on one thread while the backend
//!   fires the shard on another: the entry is freed exactly once and its task
//!   is woken at most once;
//! - an arm that must move the backend timer earlier, racing a backend wake-up
//!   on another thread while the timer is out being re-armed: afterwards a
//!   live backend timer is armed no later than the earliest filed slot (no
//!   lost wake-up), whichever thread ends up holding it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use loom::sync::Mutex;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::backend::{BackendSleep, TimerBackend};
use super::shard::{Armed, Clock, Shard, epoch, to_ns};
use super::wheel::TICK_NS;

/// A backend with a hand-set clock whose timers record their registrations.
struct FakeBackend {
    now_ns: AtomicU64,
    next_id: StdAtomicUsize,
    /// (timer id, deadline, waker) of every live, polled timer.
    registered: Arc<Mutex<Vec<(usize, Instant, Waker)>>>,
}

struct FakeTimer {
    id: usize,
    deadline: Instant,
    backend: &'static FakeBackend,
}

impl Future for FakeTimer {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.backend.now() >= self.deadline {
            return Poll::Ready(());
        }
        let mut registered = self.backend.registered.lock().unwrap();
        registered.retain(|(id, ..)| *id != self.id);
        registered.push((self.id, self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for FakeTimer {
    fn drop(&mut self) {
        let mut registered = self.backend.registered.lock().unwrap();
        registered.retain(|(id, ..)| *id != self.id);
    }
}

impl TimerBackend for &'static FakeBackend {
    fn now(&self) -> Instant {
        epoch() + Duration::from_nanos(self.now_ns.load(StdOrdering::SeqCst))
    }
    fn sleep_until(&self, deadline: Instant) -> BackendSleep {
        Box::pin(FakeTimer {
            id: self.next_id.fetch_add(1, StdOrdering::SeqCst),
            deadline,
            backend: self,
        })
    }
}

impl FakeBackend {
    fn now(&self) -> Instant {
        epoch() + Duration::from_nanos(self.now_ns.load(StdOrdering::SeqCst))
    }
}

/// A fresh shard on a fresh fake backend whose clock reads `now_ms`, 1 s
/// after the epoch (leaked: a model iteration is short and the shard must be
/// `'static` like the real ones).
fn shard(now_ms: u64) -> (Arc<Shard>, &'static FakeBackend) {
    let backend: &'static FakeBackend = Box::leak(Box::new(FakeBackend {
        now_ns: AtomicU64::new(to_ns(epoch() + Duration::from_secs(1)) + now_ms * TICK_NS),
        next_id: StdAtomicUsize::new(0),
        registered: Arc::new(Mutex::new(Vec::new())),
    }));
    let backend_obj: &'static dyn TimerBackend = Box::leak(Box::new(backend));
    let clock: &'static Clock = Box::leak(Box::new(Clock::new(backend_obj)));
    (Arc::new(Shard::new(clock)), backend)
}

/// Arms a timer as `TimerSlot` does: file it, then re-arm the backend.
fn arm(shard: &Arc<Shard>, deadline_ns: u64, now_ns: u64, waker: &Waker) -> u32 {
    match shard.arm(deadline_ns, now_ns, waker) {
        Armed::At { index, kick } => {
            if kick {
                shard.kick();
            }
            index
        }
        Armed::Due => panic!("due at arm"),
    }
}

fn ms(backend: &FakeBackend, ms_from_now: u64) -> u64 {
    backend.now_ns.load(StdOrdering::SeqCst) + ms_from_now * TICK_NS
}

/// A task waker that counts its wakes.
struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

fn registered_wakers(backend: &FakeBackend) -> Vec<(Instant, Waker)> {
    let registered = backend.registered.lock().unwrap();
    registered.iter().map(|(_, d, w)| (*d, w.clone())).collect()
}

#[test]
fn release_on_one_thread_racing_a_fire_on_another() {
    model(|| {
        let (shard, backend) = shard(0);
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let task_waker = Waker::from(task.clone());
        let now = ms(backend, 0);
        let index = arm(&shard, ms(backend, 1), now, &task_waker);
        let fire = registered_wakers(backend);
        assert_eq!(fire.len(), 1, "one backend timer for the shard");
        // Time passes the deadline; the backend fires on its own thread.
        backend.now_ns.fetch_add(2 * TICK_NS, StdOrdering::SeqCst);
        let (_, backend_waker) = fire.into_iter().next().unwrap();
        let firing = thread::spawn(move || backend_waker.wake());
        // Meanwhile the Timeout is dropped on another thread.
        let releasing = {
            let shard = shard.clone();
            thread::spawn(move || {
                shard.release(index);
            })
        };
        firing.join().unwrap();
        releasing.join().unwrap();
        assert!(task.0.load(Ordering::SeqCst) <= 1, "woken at most once");
        assert!(!shard.has_pending());
        // The slot was freed exactly once: re-arming reuses it.
        let again = arm(&shard, ms(backend, 5), ms(backend, 0), &task_waker);
        assert_eq!(again, index);
        shard.release(again);
    });
}

#[test]
fn an_earlier_arm_racing_a_backend_wake_never_loses_the_timer() {
    model(|| {
        let (shard, backend) = shard(0);
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let task_waker = Waker::from(task.clone());
        let late = arm(&shard, ms(backend, 50), ms(backend, 0), &task_waker);
        let (_, backend_waker) = registered_wakers(backend).into_iter().next().unwrap();
        // A wake-up from the backend (spurious: nothing is due yet) on one
        // thread, while another thread arms an earlier timer, which takes the
        // backend timer out of the shard to re-arm it.
        let waking = thread::spawn(move || backend_waker.wake());
        let arming = {
            let shard = shard.clone();
            let task_waker = task_waker.clone();
            let (at, now) = (ms(backend, 10), ms(backend, 0));
            thread::spawn(move || arm(&shard, at, now, &task_waker))
        };
        waking.join().unwrap();
        let early = arming.join().unwrap();

        let earliest = shard.next_expiration().expect("two timers filed");
        let armed = shard.armed_at().expect("a backend timer is armed");
        assert!(
            armed <= earliest,
            "backend armed at {armed}, earliest slot {earliest}"
        );
        let live = registered_wakers(backend);
        assert!(
            live.iter().any(|(d, _)| to_ns(*d) <= earliest * TICK_NS),
            "a live backend timer covers the earliest slot"
        );
        assert_eq!(task.0.load(Ordering::SeqCst), 0, "nothing was due");
        shard.release(early);
        shard.release(late);
    });
}

/// The virtual clock's busy count (`idle.rs`): a task's poll ends while a
/// wake of it comes from another thread, whose executor then polls it there
/// (so a second idle moment may come while the first one's jump runs).
/// Whatever the interleaving, the count ends at zero (nothing leaked,
/// nothing taken twice), at most one thread steps at a time, and a step runs
/// after the count last fell to zero: no idle moment is missed.
#[test]
fn loom_the_last_idle_moment_is_never_missed() {
    use super::idle::Idle;
    use loom::sync::atomic::AtomicBool;

    loom::model(|| {
        let idle = Arc::new(Idle::new());
        let task = Arc::new(idle.task());
        // (activity seen by the last step, steps so far)
        let seen = Arc::new(Mutex::new((u64::MAX, 0usize)));
        let stepping = Arc::new(AtomicBool::new(false));
        let jump = {
            let (idle, seen, stepping) = (idle.clone(), seen.clone(), stepping.clone());
            move || {
                idle.jump(|| {
                    assert!(
                        !stepping.swap(true, Ordering::SeqCst),
                        "one jumper at a time"
                    );
                    let mut seen = seen.lock().unwrap();
                    *seen = (idle.activity(), seen.1 + 1);
                    stepping.store(false, Ordering::SeqCst);
                    false // no timer: each jump is one step
                })
            }
        };
        // The executor's first poll.
        idle.poll_begin(&task);
        let waker = {
            let (idle, task, jump) = (idle.clone(), task.clone(), jump.clone());
            thread::spawn(move || {
                if idle.wake(&task) {
                    jump();
                }
                // The wake made the task runnable: its executor polls it.
                idle.poll_begin(&task);
                if idle.poll_end() {
                    jump();
                }
            })
        };
        if idle.poll_end() {
            jump();
        }
        waker.join().unwrap();
        assert!(idle.is_idle(), "the count ends at zero");
        let (last, steps) = *seen.lock().unwrap();
        assert!(steps >= 1);
        assert_eq!(last, idle.activity(), "a step after the last idle moment");
    });
}

/// A wake racing the task's end: the count ends at zero either way.
#[test]
fn loom_a_wake_racing_the_end_of_its_task_leaks_nothing() {
    use super::idle::Idle;

    loom::model(|| {
        let idle = Arc::new(Idle::new());
        let task = Arc::new(idle.task());
        idle.poll_begin(&task);
        let waker = {
            let (idle, task) = (idle.clone(), task.clone());
            thread::spawn(move || {
                let _ = idle.wake(&task);
            })
        };
        let _ = idle.poll_end();
        let _ = idle.finish(&task);
        waker.join().unwrap();
        assert!(idle.is_idle(), "nothing leaked");
    });
}
