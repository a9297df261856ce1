//! Instruction-count workload: N uncontended acquire/release pairs.
//! usage: profile_sem_unc N
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let sem = corral::Semaphore::new(10);
    for _ in 0..n {
        let fut = pin!(sem.acquire());
        match fut.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(p) => drop(black_box(p)),
            Poll::Pending => panic!("waited"),
        }
    }
}
