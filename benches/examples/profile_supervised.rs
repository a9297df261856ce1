//! `profile_scope` with every child supervised: one scope spawns N children
//! wrapped in `corral::supervised` (each ready on its first poll, half of
//! them failing) and joins them, on a bare `block_on`. Issue 15 asks that a
//! supervised child's spawn and join cost at most 1.1 times a plain one's.
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_scope --example profile_supervised
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_supervised 1000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_supervised 11000
//! ```
//!
//! The difference of the two totals divided by 10 000 is the cost of one
//! supervised child (spawn, first poll, completion, join); compare it with
//! `profile_scope`'s.

#[path = "../support/spin_block_on.rs"]
mod spin_block_on;
use spin_block_on::block_on;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .expect("usage: profile_supervised CHILDREN");
    let sum = block_on(corral::scope(|s| async move {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(corral::supervised(async move {
                    if i % 2 == 0 { Ok(i) } else { Err(i) }
                }))
            })
            .collect();
        let mut sum = 0;
        for handle in handles {
            // Every outcome, error or value, comes back through its handle.
            sum += match handle.await {
                Ok(i) | Err(i) => i,
            };
        }
        Ok::<_, ()>(sum)
    }));
    assert_eq!(sum, Ok(n * n.saturating_sub(1) / 2));
}
