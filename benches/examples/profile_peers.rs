//! The `profile_scope` workload for the peers, for instruction counts: N
//! children, each ready on its first poll, run to completion and summed, on
//! a bare `block_on`.
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_peers
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_peers futures_buffered 1000   # and 11000
//! ```
//!
//! Contenders: `futures_buffered` (futures stored inline, one type),
//! `futures_buffered_boxed` (`Pin<Box<dyn Future>>`, children of any type,
//! as a scope takes them), `futures_unordered` (futures-util's).

use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;

#[path = "../support/spin_block_on.rs"]
mod spin_block_on;
use spin_block_on::block_on;

type Boxed = Pin<Box<dyn Future<Output = Result<usize, ()>>>>;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(contender), Some(n)) = (args.next(), args.next().and_then(|a| a.parse().ok())) else {
        panic!(
            "usage: profile_peers futures_buffered|futures_buffered_boxed|futures_unordered CHILDREN"
        );
    };
    let n: usize = n;
    let sum = match contender.as_str() {
        "futures_buffered" => block_on(async {
            let mut set: futures_buffered::FuturesUnordered<_> =
                (0..n).map(|i| async move { Ok::<_, ()>(i) }).collect();
            let mut sum = 0;
            while let Some(r) = set.next().await {
                sum += r.unwrap();
            }
            sum
        }),
        "futures_buffered_boxed" => block_on(async {
            let mut set: futures_buffered::FuturesUnordered<Boxed> = (0..n)
                .map(|i| Box::pin(async move { Ok::<_, ()>(i) }) as Boxed)
                .collect();
            let mut sum = 0;
            while let Some(r) = set.next().await {
                sum += r.unwrap();
            }
            sum
        }),
        "futures_unordered" => block_on(async {
            let mut set: futures::stream::FuturesUnordered<_> =
                (0..n).map(|i| async move { Ok::<_, ()>(i) }).collect();
            let mut sum = 0;
            while let Some(r) = set.next().await {
                sum += r.unwrap();
            }
            sum
        }),
        other => panic!("unknown contender {other}"),
    };
    assert_eq!(sum, n * n.saturating_sub(1) / 2);
}
