//! Resilience on corral's timers: rate limits, retries with backoff and
//! hedged requests, as plain futures that run on any executor and follow the
//! clock in force (a [virtual clock](crate::time) in tests).

mod hedge;
mod retry;

pub use hedge::{Hedge, hedge};
pub use retry::{Backoff, Delays, Retry, retry};
