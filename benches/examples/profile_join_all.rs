//! The `join_all/100000` workload of `benches/scope.rs`, for instruction
//! counts: N children of one type, each yielding once (waking itself), then
//! ready with its index, joined by corral's `join_all` or futures-buffered's.
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_join_all
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_join_all corral 1000   # and 11000
//! ```
//!
//! Contenders: `corral`, `futures_buffered`.

#[path = "../support/spin_block_on.rs"]
mod spin_block_on;
use spin_block_on::block_on;

#[path = "../support/yield_once.rs"]
mod yield_once;
use yield_once::yield_once;

async fn child(i: usize) -> usize {
    yield_once().await;
    i
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(contender), Some(n)) = (args.next(), args.next().and_then(|a| a.parse().ok())) else {
        panic!("usage: profile_join_all corral|futures_buffered CHILDREN");
    };
    let n: usize = n;
    let outputs = match contender.as_str() {
        "corral" => block_on(corral::join_all((0..n).map(child))),
        "futures_buffered" => block_on(futures_buffered::join_all((0..n).map(child))),
        other => panic!("unknown contender {other}"),
    };
    assert_eq!(outputs.iter().sum::<usize>(), n * n.saturating_sub(1) / 2);
}
