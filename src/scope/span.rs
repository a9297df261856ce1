//! Children that run in the `tracing` span current at their spawn (feature
//! "tracing", `Nursery::inherit_span`).
//!
//! A child needs a span of its own only where it was spawned in a span other
//! than the one its scope is polled in: a child spawned in the scope's own
//! span (the common case: a body or a child spawning, under a scope that
//! `.instrument` or the caller's span covers) is polled in that span anyway.
//! So each poll of a scope notes the id of the span current there
//! ([`PollSpan`]), and a spawn compares ids (a look-up the subscriber
//! answers without a reference count) before it pays for a `Span` of its
//! own: a clone at the spawn, an enter and an exit at each poll, a close at
//! the end. A parallel child runs elsewhere, so it takes the span whenever
//! one is current.

use std::sync::atomic::{AtomicU64, Ordering};

/// The id of the span current here, or 0 if none is (ids are never 0).
#[inline]
fn current_id() -> u64 {
    // No subscriber enables anything (none is set, say): no span can be
    // current. One load, where asking the dispatcher costs a call.
    if tracing::level_filters::LevelFilter::current() == tracing::level_filters::LevelFilter::OFF {
        return 0;
    }
    tracing::dispatcher::get_default(|dispatch| {
        dispatch.current_span().id().map_or(0, |id| id.into_u64())
    })
}

/// The span current where a scope was last polled (its id, 0 for none).
#[derive(Debug, Default)]
pub(crate) struct PollSpan(AtomicU64);

impl PollSpan {
    /// The scope is being polled here: note the span current here.
    #[inline]
    pub(crate) fn note(&self) {
        self.0.store(current_id(), Ordering::Relaxed);
    }

    /// The span a child spawned here must run in, if it needs one of its
    /// own: none is current, or (for a local child, `parallel` false) the
    /// one current is the scope's.
    #[inline]
    pub(crate) fn for_child(&self, parallel: bool) -> Option<tracing::Span> {
        let here = current_id();
        if here == 0 || (!parallel && here == self.0.load(Ordering::Relaxed)) {
            return None;
        }
        Some(tracing::Span::current())
    }
}
