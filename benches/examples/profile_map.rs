//! A fixed workload for instruction counts of bounded stream processing:
//! N items, at most 64 in flight, each the `yield_once` future of
//! `benches/stream.rs` (it wakes itself, returns `Pending` once, then
//! finishes), their values summed; on a bare `block_on`.
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_map
//! for who in corral corral_ordered buffered buffered_ordered futures futures_ordered; do
//!   for n in 1000 11000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!       target/release/examples/profile_map $who $n 2>&1 | grep refs
//!   done
//! done
//! ```
//!
//! The difference of the two totals divided by 10 000 is the cost of one
//! item. `buffered` and `buffered_ordered` are futures-buffered's
//! `buffered_unordered(64)` and `buffered_ordered(64)`; `futures` and
//! `futures_ordered` are futures-util's `buffer_unordered(64)` and
//! `buffered(64)`.

use corral::stream::ScopedStreamExt;
use futures::StreamExt;
use futures_buffered::BufferedStreamExt;

#[path = "../support/spin_block_on.rs"]
mod spin_block_on;
use spin_block_on::block_on;

#[path = "../support/yield_once.rs"]
mod yield_once;

const LIMIT: usize = 64;

async fn work(x: u64) -> u64 {
    yield_once::yield_once().await;
    x
}

async fn child_work(x: u64) -> Result<u64, ()> {
    Ok(work(x).await)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: profile_map corral|corral_ordered|buffered|buffered_ordered|futures|futures_ordered ITEMS";
    let who = args.next().expect(usage);
    let n: u64 = args.next().and_then(|arg| arg.parse().ok()).expect(usage);
    let input = || futures::stream::iter(0..n);
    let sum = |a: u64, b: u64| async move { a + b };
    let total = match who.as_str() {
        "corral" => block_on(corral::scope(|s| async move {
            Ok::<_, ()>(
                input()
                    .map_unordered(&s, LIMIT, child_work)
                    .fold(0, sum)
                    .await,
            )
        }))
        .unwrap(),
        "corral_ordered" => block_on(corral::scope(|s| async move {
            Ok::<_, ()>(
                input()
                    .map_ordered(&s, LIMIT, child_work)
                    .fold(0, sum)
                    .await,
            )
        }))
        .unwrap(),
        "buffered" => block_on(input().map(work).buffered_unordered(LIMIT).fold(0, sum)),
        "buffered_ordered" => block_on(input().map(work).buffered_ordered(LIMIT).fold(0, sum)),
        "futures" => block_on(StreamExt::buffer_unordered(input().map(work), LIMIT).fold(0, sum)),
        "futures_ordered" => block_on(StreamExt::buffered(input().map(work), LIMIT).fold(0, sum)),
        _ => panic!("{usage}"),
    };
    assert_eq!(total, n * n.saturating_sub(1) / 2);
}
