//! corral's main example: a bounded, deadline-guarded, hedged crawler against
//! a real HTTP/1.1 server.
//!
//! With no arguments it starts an embedded hyper server on 127.0.0.1 (its
//! connection handlers are parallel children of a `corral::scope`) serving a
//! seeded plan of pages (fast, slow, failing, hung), then fetches them all over
//! keep-alive connections: at most `--limit` HTTP requests at once (slots from
//! a `corral::Semaphore`, hedges included), each URL under `--timeout`
//! (`corral::time::timeout_at`), a request still running after
//! `--hedge-after` raced against a second try (`corral::race`), the whole
//! crawl under `--deadline`. Ctrl-C stops it gracefully (`Scope::stop`): no
//! new request starts, requests in flight and the server's connections get
//! `--grace` to finish, and the summary is still printed; a second Ctrl-C
//! drops them at once. `--url-file FILE` crawls your own `http://` URLs
//! instead. `--warn-slow-polls` reports requests that block the executor; if
//! no request completes for `--stall`, a watchdog thread prints corral's task
//! tree.
//!
//! The parts, in reading order: `crawl.rs`, the corral part (the scopes, the
//! slots, the timeouts, the hedge and the stop); the HTTP plumbing it drives,
//! `client.rs` (keep-alive connections, one pool per host), `server.rs` (the
//! embedded server) and `plan.rs` (its seeded pages), gathered by `lib.rs`;
//! then the program around them, `args.rs` (flags and URL files) and
//! `app.rs` (Ctrl-C, progress, summary, exit status).
//!
//! ```text
//! cargo run --release --example crawl -- --help
//! ```

// The crawl itself (`lib.rs`, which starts with `crawl.rs`), also included
// by `tests/crawl.rs` and `benches/crawl.rs`.
#[path = "lib.rs"]
mod crawler;

// The link-following crawl, on top of it.
mod spider;

// The program around it.
mod app;
mod args;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(app::run(std::env::args().skip(1)))
}
