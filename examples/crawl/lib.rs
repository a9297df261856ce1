//! The crawl itself, without the program around it: what `main.rs` runs, and
//! what `tests/crawl.rs` and `benches/crawl.rs` include whole, as
//! `#[path = "../examples/crawl/lib.rs"] mod crawler;`. Read `crawl.rs` first:
//! it is the corral part; `client.rs`, `server.rs` and `plan.rs` are the
//! HTTP plumbing around it.
//!
//! The command line (`args.rs`) and the program (`app.rs`) stay out of it:
//! the bench has no use for them.

// One crawl: the scopes, the slots, the timeouts, the hedge, the stop and
// the report.
mod crawl;

// A keep-alive HTTP/1.1 client, one pool of connections per host.
mod client;

// The client's socket: reads only when the reactor says it may have data.
mod io;

// The embedded HTTP/1.1 server, and the seeded plan of pages it serves.
mod server;

mod plan;

// The generated site the link-following crawl walks, and its static copy
// (`benches/crawl.rs`, which builds this file too, uses neither).
#[allow(dead_code)]
mod site;

pub use self::client::*;
pub use self::crawl::*;
pub use self::plan::*;
pub use self::server::*;
#[allow(unused_imports)]
pub use self::site::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The time now by corral's timers: a test's virtual clock when one is in
/// force, so that the URLs' deadlines are set on the clock that fires them.
pub fn now() -> Instant {
    corral::time::VirtualClock::current().map_or_else(Instant::now, |clock| clock.now())
}

/// Adds one to `count` and raises `peak` to match: for the server's counts
/// and the crawl's slots.
fn count_up(count: &AtomicUsize, peak: &AtomicUsize) {
    let now = count.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(now, Ordering::SeqCst);
}
