//! `profile_scope`'s workload in a scope that collects statistics
//! (`Nursery::collect_stats`): the instructions the counters and the
//! sampled poll timing add to a spawn+join.
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_stats
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_stats 1000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_stats 11000
//! ```
//!
//! The difference of the two totals divided by 10 000 is the cost of one
//! child; `profile_scope` is the same without statistics.

//!
//! The workload's code is `profile_scope`'s, copied rather than shared: the
//! counts compare code the compiler sees alike (a shared helper moved them
//! by 1 to 1.5 %).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .expect("usage: profile_stats CHILDREN");
    let sum = block_on(
        corral::Nursery::new()
            .collect_stats()
            .scope(|s| async move {
                let handles: Vec<_> = (0..n)
                    .map(|i| s.spawn(async move { Ok::<_, ()>(i) }))
                    .collect();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await;
                }
                assert_eq!(s.stats().map(|stats| stats.finished), Some(n as u64));
                Ok(sum)
            }),
    );
    assert_eq!(sum, Ok(n * n.saturating_sub(1) / 2));
}

/// Polls `future` to completion with a waker that does nothing.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
