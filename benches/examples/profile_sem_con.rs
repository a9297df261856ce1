//! Instruction-count workload: N rounds of a queue of 16 waiters on one
//! permit (queue, cancel two, hand over one by one, one weighted request).
//! usage: profile_sem_con N
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let sem = corral::Semaphore::new(2);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..n {
        let held = sem.try_acquire_many(2).unwrap();
        let mut waiters: Vec<Pin<Box<corral::Acquire<'_>>>> = (0..16)
            .map(|i| {
                Box::pin(if i == 5 {
                    sem.acquire_many(2)
                } else {
                    sem.acquire()
                })
            })
            .collect();
        for w in &mut waiters {
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        drop(waiters.remove(9));
        drop(waiters.remove(2));
        drop(held);
        for mut w in waiters {
            match w.as_mut().poll(&mut cx) {
                Poll::Ready(p) => drop(p),
                Poll::Pending => panic!("not granted in order"),
            }
        }
        assert_eq!(sem.available_permits(), 2);
    }
}
