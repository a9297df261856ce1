//! Resilience on corral's timers: rate limits, retries with backoff and
//! hedged requests, as plain futures that run on any executor and follow the
//! clock in force (a [virtual clock](crate::time) in tests).

mod hedge;
#[cfg(feature = "rate-limit")]
mod rate;
mod retry;

pub use hedge::{Hedge, hedge};
#[cfg(feature = "rate-limit")]
pub use rate::{Acquire, KeyedRateLimiter, Quota, RateLimited, RateLimiter};
pub use retry::{Backoff, Delays, Retry, retry};
