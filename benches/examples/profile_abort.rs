//! A fixed workload for instruction counts: N children that never finish,
//! all started, then K of them aborted (every N/K-th) and their handles
//! awaited until each reports the child gone; then the process exits, without
//! ending the scope (or the runtime), so that the rest is the same for every
//! K.
//!
//! `WHO` is `join` (`corral::JoinHandle::abort`, then `or_dropped`),
//! `abort_handle` (`corral::AbortHandle::abort`, taken at the spawn), or
//! `tokio` (`tokio::task::JoinHandle::abort` on a current-thread runtime,
//! then the handle awaited).
//!
//! ```sh
//! cargo build --release -p corral-bench --example profile_abort
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_abort join 100000 100
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_abort join 100000 500
//! ```
//!
//! The difference of the two totals divided by 400 is the cost of one abort
//! (the request, the scope's drop of the child, the handle's wake-up and its
//! drop) at that N, without the spawns; the same at N = 1 000 shows whether
//! it depends on N. docs/benchmarks.md records the figures.

#[path = "../support/parked.rs"]
mod parked;
#[path = "../support/yield_once.rs"]
mod yield_once;
use parked::{all_polled, parked};

#[path = "../support/spin_block_on.rs"]
mod spin_block_on;
use spin_block_on::block_on;

fn main() {
    let usage = "usage: profile_abort join|abort_handle|tokio CHILDREN ABORTED";
    let mut args = std::env::args().skip(1);
    let who = args.next().expect(usage);
    let mut number = || -> usize { args.next().and_then(|a| a.parse().ok()).expect(usage) };
    let (n, k) = (number(), number());
    assert!(0 < k && k <= n, "{usage}: 0 < ABORTED <= CHILDREN");
    let picked: Vec<usize> = (0..k).map(|j| j * (n / k)).collect();
    match who.as_str() {
        "join" | "abort_handle" => corral(n, &picked, who == "abort_handle"),
        "tokio" => tokio(n, &picked),
        _ => panic!("{usage}"),
    }
}

fn corral(n: usize, picked: &[usize], via_abort_handle: bool) {
    let _ = block_on(corral::scope(|s| async move {
        let mut handles: Vec<_> = (0..n).map(|_| Some(s.spawn(parked()))).collect();
        let mut aborts: Vec<_> = if via_abort_handle {
            handles
                .iter()
                .map(|h| Some(h.as_ref().unwrap().abort_handle()))
                .collect()
        } else {
            Vec::new()
        };
        all_polled(n).await;
        for &i in picked {
            match aborts.get(i) {
                Some(abort) => abort.as_ref().unwrap().abort(),
                None => handles[i].as_ref().unwrap().abort(),
            }
        }
        for &i in picked {
            assert!(handles[i].take().unwrap().or_dropped().await.is_none());
            // The abort handle goes too, so that the cell is freed (by it,
            // the last reference) in both modes.
            if let Some(abort) = aborts.get_mut(i) {
                drop(abort.take());
            }
        }
        // The other children are still pending: leave without ending them.
        std::process::exit(0);
        #[allow(unreachable_code)]
        Ok::<_, ()>(())
    }));
}

fn tokio(n: usize, picked: &[usize]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let mut handles: Vec<_> = (0..n).map(|_| Some(tokio::spawn(parked()))).collect();
        all_polled(n).await;
        for &i in picked {
            handles[i].as_ref().unwrap().abort();
        }
        for &i in picked {
            let outcome = handles[i].take().unwrap().await;
            assert!(outcome.unwrap_err().is_cancelled());
        }
        std::process::exit(0);
    });
}
