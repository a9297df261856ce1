//! Instruction-count workload on a fake, manually advanced clock: N rounds of
//! arming 64 sleeps, resetting 16, cancelling 16, then firing the rest.
//! usage: profile_timer N
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corral::time::{BackendSleep, TimerBackend};

static BASE: OnceLock<Instant> = OnceLock::new();
static NOW_MS: Mutex<u64> = Mutex::new(0);
static WAKERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

fn now() -> Instant {
    *BASE.get().unwrap() + Duration::from_millis(*NOW_MS.lock().unwrap())
}

struct Fake;
impl TimerBackend for Fake {
    fn now(&self) -> Instant {
        now()
    }
    fn sleep_until(&self, deadline: Instant) -> BackendSleep {
        Box::pin(std::future::poll_fn(move |cx| {
            if now() >= deadline {
                Poll::Ready(())
            } else {
                WAKERS.lock().unwrap().push(cx.waker().clone());
                Poll::Pending
            }
        }))
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    BASE.set(Instant::now()).unwrap();
    corral::time::set_backend(Fake).ok().unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    for round in 0..n as u64 {
        let mut sleeps: Vec<Pin<Box<corral::time::Sleep>>> = (0..64u64)
            .map(|i| {
                Box::pin(corral::time::sleep(Duration::from_millis(
                    1 + (i * 37 + round) % 5000,
                )))
            })
            .collect();
        for s in &mut sleeps {
            assert!(s.as_mut().poll(&mut cx).is_pending());
        }
        for s in sleeps.iter_mut().step_by(4) {
            s.as_mut().reset(now() + Duration::from_millis(3));
        }
        for i in 0..16 {
            drop(sleeps.remove(i * 2 + 1));
        }
        *NOW_MS.lock().unwrap() += 6000;
        for w in std::mem::take(&mut *WAKERS.lock().unwrap()) {
            w.wake();
        }
        for mut s in sleeps {
            assert!(s.as_mut().poll(&mut cx).is_ready());
        }
    }
}
