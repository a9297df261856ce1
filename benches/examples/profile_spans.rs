//! `profile_scope`'s workload inside an entered `tracing` span, with
//! `tracing-subscriber`'s registry as the global subscriber: the
//! instructions a child pays for running in its spawn site's span, against
//! the same scope opted out with `Nursery::inherit_span(false)` (`off`).
//! `on`: children spawned in the span the scope is polled in (the common
//! case: each spawn asks the subscriber for the current span's id, and the
//! child needs nothing more); `own`: children spawned in a span of the
//! body's own, so each takes a `Span` along (a clone at the spawn, an enter
//! and an exit per poll, a close at the end: what `.instrument(Span::current())`
//! costs any future); `manual`: the same spans, each spawn wrapped in
//! `.in_current_span()` by hand with inheritance off.
//!
//! ```sh
//! cargo build --release -p corral-bench --features tracing --example profile_spans
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_spans on 1000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/profile_spans on 11000
//! ```
//!
//! (and the same with `own`, `manual` and `off`). The difference of the two totals divided by
//! 10 000 is the cost of one child.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tracing_subscriber::layer::SubscriberExt;

fn main() {
    let mut args = std::env::args().skip(1);
    // `own`: inheriting, each child spawned in a span of the body's own
    // (not the scope's), so each takes a `Span` along.
    // `manual`: not inheriting, each child spawned in the body's span with
    // `.in_current_span()` by hand, as without corral's inheritance.
    let mode = args.next();
    let (inherit, own, manual) = match mode.as_deref() {
        Some("on") => (true, false, false),
        Some("own") => (true, true, false),
        Some("manual") => (false, true, true),
        Some("off") => (false, false, false),
        _ => panic!("usage: profile_spans on|own|manual|off CHILDREN"),
    };
    let n: usize = args
        .next()
        .and_then(|arg| arg.parse().ok())
        .expect("usage: profile_spans on|own|manual|off CHILDREN");
    // A registry with one layer that does nothing: the cost of span
    // bookkeeping itself, which every real subscriber pays at least. The
    // global default, as `tracing_subscriber::fmt().init()` sets.
    let subscriber =
        tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new());
    tracing::subscriber::set_global_default(subscriber).unwrap();
    {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let sum = block_on(
            corral::Nursery::new()
                .inherit_span(inherit)
                .scope(|s| async move {
                    let spawn = || -> Vec<_> {
                        (0..n)
                            .map(|i| {
                                if manual {
                                    use tracing::Instrument;
                                    s.spawn(async move { Ok::<_, ()>(i) }.in_current_span())
                                } else {
                                    s.spawn(async move { Ok::<_, ()>(i) })
                                }
                            })
                            .collect()
                    };
                    let handles = if own {
                        tracing::info_span!("batch").in_scope(spawn)
                    } else {
                        spawn()
                    };
                    let mut sum = 0;
                    for handle in handles {
                        sum += handle.await;
                    }
                    Ok(sum)
                }),
        );
        assert_eq!(sum, Ok(n * n.saturating_sub(1) / 2));
    }
}

/// Polls `future` to completion with a waker that does nothing.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
