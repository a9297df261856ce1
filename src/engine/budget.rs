//! tokio's cooperative budget, as the loops that poll many futures for one
//! task read it: the engine's `drive` (children) and a scope's pool (the
//! stream maps' items). See `drive.rs` for why and when.

use std::task::Context;

/// tokio's budget as one poll of a loop sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioBudget {
    /// The poll began with budget left: its parent respects the budget, so
    /// the loop stops when it runs out. A poll that began with it spent came
    /// from a parent that does not (a `block_on` nested in a tokio task, a
    /// `select!` whose other branch spent it): stopping would poll nothing,
    /// ever, and the deferred wake would never reach a blocked `block_on`.
    #[cfg(feature = "tokio")]
    respected: bool,
}

impl TokioBudget {
    /// Reads the budget at the start of a poll.
    #[inline(always)]
    pub(crate) fn at_start() -> Self {
        TokioBudget {
            #[cfg(feature = "tokio")]
            respected: tokio::task::coop::has_budget_remaining(),
        }
    }

    /// Whether the loop must stop before its next poll: the budget it
    /// respects is spent. (`has_budget_remaining` is `true` outside a tokio
    /// task and under `tokio::task::coop::unconstrained`; without the
    /// feature this is a constant `false`.)
    #[inline(always)]
    pub(crate) fn spent(&self) -> bool {
        #[cfg(feature = "tokio")]
        {
            self.respected && !tokio::task::coop::has_budget_remaining()
        }
        #[cfg(not(feature = "tokio"))]
        {
            false
        }
    }

    /// Yields as a tokio resource does when the budget is spent: tokio takes
    /// the loop's waker and wakes it once it has looked at its drivers (at
    /// once where no tokio scheduler runs this thread).
    #[cold]
    #[inline(never)]
    pub(crate) fn defer_wake(cx: &mut Context<'_>) {
        #[cfg(feature = "tokio")]
        match tokio::task::coop::poll_proceed(cx) {
            std::task::Poll::Pending => {}
            // Not expected right after `spent()`; if it happens, wake now.
            // Dropping the guard unspent gives the unit back.
            std::task::Poll::Ready(_restore) => cx.waker().wake_by_ref(),
        }
        #[cfg(not(feature = "tokio"))]
        let _ = cx;
    }
}
