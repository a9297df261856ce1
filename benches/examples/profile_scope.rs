//! A fixed workload for instruction counts: one scope that spawns N children
//! (each ready on its first poll) and joins them, on a bare `block_on`.
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_scope
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_scope 1000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_scope 11000
//! ```
//!
//! The difference of the two totals divided by 10 000 is the cost of one
//! child (spawn, first poll, completion, join), without the fixed costs.
//! docs/benchmarks.md records the figures.

#[path = "../support/spin_block_on.rs"]
mod spin_block_on;
use spin_block_on::block_on;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .expect("usage: profile_scope CHILDREN");
    let sum = block_on(corral::scope(|s| async move {
        let handles: Vec<_> = (0..n)
            .map(|i| s.spawn(async move { Ok::<_, ()>(i) }))
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await;
        }
        Ok(sum)
    }));
    assert_eq!(sum, Ok(n * n.saturating_sub(1) / 2));
}
