//! A fixed workload for instruction counts, the `JoinSet` twin of
//! `profile_scope.rs`: one scope that spawns N children (each ready on its
//! first poll) into a `JoinSet` and takes every value with `join_next`, on a
//! bare `block_on`. `map` runs N items through `map_unordered` with a limit
//! of 64 instead.
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_join_set
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_join_set set 1000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_join_set set 11000
//! ```
//!
//! The difference of the two totals divided by 10 000 is the cost of one
//! child (spawn, first poll, completion, taking its value).
//! docs/benchmarks.md records the figures.

use futures::StreamExt;

#[path = "../support/spin_block_on.rs"]
mod spin_block_on;
use spin_block_on::block_on;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: profile_join_set set|map CHILDREN";
    let mode = args.next().expect(usage);
    let n: usize = args.next().and_then(|arg| arg.parse().ok()).expect(usage);
    let sum = match mode.as_str() {
        "set" => block_on(corral::scope(|s| async move {
            let mut set = corral::JoinSet::new(&s);
            for i in 0..n {
                set.spawn(async move { Ok::<_, ()>(i) });
            }
            let mut sum = 0;
            while let Some(i) = set.join_next().await {
                sum += i;
            }
            Ok(sum)
        })),
        "map" => block_on(corral::scope(|s| async move {
            let values = corral::stream::map_unordered(
                &s,
                futures::stream::iter(0..n),
                64,
                |i| async move { Ok::<_, ()>(i) },
            );
            Ok(values.fold(0, |a, b| async move { a + b }).await)
        })),
        _ => panic!("{usage}"),
    };
    assert_eq!(sum, Ok(n * n.saturating_sub(1) / 2));
}
