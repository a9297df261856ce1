//! corral's main example: a crawler against a real HTTP/1.1 server.
//!
//! With no arguments it follows links (`spider.rs`): it starts an embedded
//! hyper server on 127.0.0.1 serving a generated site (`site.rs`: seeded,
//! 5,000 pages on each of 3 virtual hosts, computed on the fly; fast, slow,
//! failing and hung pages, a redirect loop, a 50 MB body, broken HTML), then
//! crawls it from `http://a.test/`: links read with html5gum, resolved with
//! `url`, each URL fetched once (a seen set of 64-bit fingerprints), workers
//! spawned as children of a `corral` scope with `Scope::spawn_bounded`, the
//! frontier a bounded channel that spills to a file. `--seed-url` and
//! `--connect-to` crawl another server; `--write-site DIR` writes the site
//! for nginx. The summary says why URLs failed.
//!
//! With `--urls N` or `--url-file FILE` it fetches a flat list instead, as
//! follows. It starts an embedded hyper server on 127.0.0.1 (its
//! connection handlers are parallel children of a `corral::scope`) serving a
//! seeded plan of pages (fast, slow, failing, flaky, hung), then fetches them all over
//! keep-alive connections: at most `--limit` HTTP requests at once (slots from
//! a `corral::Semaphore`, hedges included), each URL under `--timeout`
//! (`corral::time::timeout_at`), a request still running after
//! `--hedge-after` given a second try beside it
//! (`corral::resilience::hedge`), a transient failure retried with backoff
//! within the URL's timeout (`--retries`, `corral::resilience::retry`), each
//! host's requests at most `--rate-per-host` a second (feature
//! `rate-limit`), the whole crawl under `--deadline`. Ctrl-C stops it gracefully (`Scope::stop`): no
//! new request starts, requests in flight and the server's connections get
//! `--grace` to finish, and the summary is still printed; a second Ctrl-C
//! drops them at once. `--url-file FILE` crawls your own `http://` URLs
//! instead: every line is checked before anything is sent, then the file is
//! read again as the crawl goes, so its length costs no memory.
//! `--warn-slow-polls` reports requests that block the executor; if
//! no request completes for `--stall`, a watchdog thread prints corral's task
//! tree.
//!
//! The parts, in reading order: `spider.rs`, the link-following crawl;
//! `crawl.rs`, the flat list's corral part (the scopes, the
//! slots, the timeouts, the hedge and the stop); the HTTP plumbing it drives,
//! `client.rs` (keep-alive connections, one pool per host), `server.rs` (the
//! embedded server), `plan.rs` (its seeded pages) and `site.rs` (the
//! generated site), gathered by `lib.rs`;
//! then the program around them, `args.rs` (flags and URL files),
//! `app.rs` (Ctrl-C, summary, exit status) and `display.rs` (the progress
//! line).
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
mod display;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(app::run(std::env::args().skip(1)))
}
