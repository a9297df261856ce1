//! `retry`: an operation tried again after retryable failures, with the
//! delays of a backoff policy slept on corral's timers.
//!
//! The policy is turned into its iterator of delays only at the first
//! failure, and the clock is read only then (or at the first poll, for a
//! `max_elapsed` budget): an attempt that succeeds at once costs a poll and
//! nothing else.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::time::{Sleep, current_deadline, sleep, sleep_until};

/// A backoff policy: how long to wait before each retry, and how many
/// attempts to make.
///
/// Delays grow from `initial` by `factor` for each retry, up to
/// [`max_delay`](Backoff::max_delay); with [`jitter`](Backoff::jitter),
/// each delay is drawn at random between zero and that value ("full
/// jitter", as in gRPC's retry policy and AWS's advice), so that clients
/// that failed together do not retry together. By default a policy makes 4
/// attempts: the first and 3 retries (the default of Polly and backon).
///
/// A `Backoff` is the [`IntoIterator`] of its delays ([`Delays`]), and
/// [`retry`] takes any `IntoIterator<Item = Duration>`: an
/// `std::iter::repeat_n(d, n)`, or another crate's policy (backon's
/// `ExponentialBuilder::default().build()`, tokio-retry's strategies) work
/// as well. Delays are computed in `f64` seconds and rounded to the
/// nanosecond, so 100 ms doubled is exactly 200 ms.
///
/// # Examples
///
/// ```
/// use corral::resilience::Backoff;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let policy = Backoff::exponential(ms(100)).max_delay(ms(300)).max_attempts(5);
/// let delays: Vec<_> = policy.into_iter().collect();
/// assert_eq!(delays, [ms(100), ms(200), ms(300), ms(300)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    max_delay: Duration,
    max_attempts: u32,
    jitter: bool,
}

impl Backoff {
    /// The number of attempts a new policy makes: the first and 3 retries.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

    /// Delays that start at `initial` and double with each retry, with no
    /// cap and no jitter, for [`DEFAULT_MAX_ATTEMPTS`](Self::DEFAULT_MAX_ATTEMPTS)
    /// attempts.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Backoff;
    /// use std::time::Duration;
    ///
    /// let delays: Vec<_> = Backoff::exponential(Duration::from_secs(1)).into_iter().collect();
    /// assert_eq!(delays, [1, 2, 4].map(Duration::from_secs));
    /// ```
    pub const fn exponential(initial: Duration) -> Backoff {
        Backoff {
            initial,
            factor: 2.0,
            max_delay: Duration::MAX,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            jitter: false,
        }
    }

    /// The same delay before every retry (an exponential policy with factor 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Backoff;
    /// use std::time::Duration;
    ///
    /// let delays: Vec<_> = Backoff::constant(Duration::from_millis(50))
    ///     .max_attempts(3)
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(delays, [Duration::from_millis(50); 2]);
    /// ```
    pub const fn constant(delay: Duration) -> Backoff {
        Backoff::exponential(delay).factor(1.0)
    }

    /// Multiplies the delay by `factor` for each retry (2 unless set).
    ///
    /// # Panics
    ///
    /// Panics if `factor` is less than 1 or not a number: delays that shrink
    /// are not a backoff.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Backoff;
    /// use std::time::Duration;
    ///
    /// let delays: Vec<_> = Backoff::exponential(Duration::from_millis(100))
    ///     .factor(1.5)
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(delays, [100, 150, 225].map(Duration::from_millis));
    /// ```
    #[track_caller]
    pub const fn factor(mut self, factor: f64) -> Backoff {
        // `!(factor >= 1.0)` is also true for NaN.
        assert!(
            factor >= 1.0,
            "corral: a backoff factor must be at least 1 (delays that shrink are not a backoff)"
        );
        self.factor = factor;
        self
    }

    /// Caps every delay at `max_delay` (before jitter); no cap unless set.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Backoff;
    /// use std::time::Duration;
    ///
    /// let delays: Vec<_> = Backoff::exponential(Duration::from_secs(1))
    ///     .max_delay(Duration::from_secs(3))
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(delays, [1, 2, 3].map(Duration::from_secs));
    /// ```
    pub const fn max_delay(mut self, max_delay: Duration) -> Backoff {
        self.max_delay = max_delay;
        self
    }

    /// Makes at most `attempts` attempts in all, the first one included, so
    /// at most `attempts - 1` retries: `max_attempts(1)` never retries.
    /// [`DEFAULT_MAX_ATTEMPTS`](Self::DEFAULT_MAX_ATTEMPTS) unless set;
    /// `u32::MAX` is as good as no limit.
    ///
    /// # Panics
    ///
    /// Panics if `attempts` is 0: there is always a first attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Backoff;
    /// use std::time::Duration;
    ///
    /// let policy = Backoff::constant(Duration::from_millis(10)).max_attempts(6);
    /// assert_eq!(policy.into_iter().count(), 5, "the first attempt and 5 retries");
    /// ```
    #[track_caller]
    pub const fn max_attempts(mut self, attempts: u32) -> Backoff {
        assert!(
            attempts > 0,
            "corral: a retry policy needs at least 1 attempt (max_attempts(0))"
        );
        self.max_attempts = attempts;
        self
    }

    /// Draws each delay at random, uniformly between zero and the delay the
    /// policy would use without jitter ("full jitter").
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::Backoff;
    /// use std::time::Duration;
    ///
    /// let policy = Backoff::exponential(Duration::from_millis(100)).jitter();
    /// let delays: Vec<_> = policy.into_iter().collect();
    /// assert!(delays[0] <= Duration::from_millis(100));
    /// assert!(delays[2] <= Duration::from_millis(400));
    /// ```
    pub const fn jitter(mut self) -> Backoff {
        self.jitter = true;
        self
    }

    /// The delay before retry `retry` (0 for the first), before jitter.
    fn base_delay(&self, retry: u32) -> Duration {
        if retry == 0 || self.factor == 1.0 {
            return self.initial.min(self.max_delay);
        }
        // Computed afresh from `initial` (not by multiplying the previous
        // delay) so that rounding never accumulates; an overflow (a huge
        // factor or retry count) is as long as a delay can be, then capped.
        let scale = self.factor.powi(retry.min(i32::MAX as u32) as i32);
        Duration::try_from_secs_f64(self.initial.as_secs_f64() * scale)
            .unwrap_or(Duration::MAX)
            .min(self.max_delay)
    }
}

impl IntoIterator for Backoff {
    type Item = Duration;
    type IntoIter = Delays;

    fn into_iter(self) -> Delays {
        Delays {
            policy: self,
            retries: 0,
        }
    }
}

/// The delays of a [`Backoff`], one before each retry: its iterator.
///
/// # Examples
///
/// ```
/// use corral::resilience::Backoff;
/// use std::time::Duration;
///
/// let mut delays = Backoff::exponential(Duration::from_secs(1)).max_attempts(2).into_iter();
/// assert_eq!(delays.next(), Some(Duration::from_secs(1)));
/// assert_eq!(delays.next(), None);
/// ```
#[derive(Clone, Debug)]
pub struct Delays {
    policy: Backoff,
    retries: u32,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retries >= self.policy.max_attempts - 1 {
            return None;
        }
        let base = self.policy.base_delay(self.retries);
        self.retries += 1;
        if !self.policy.jitter {
            return Some(base);
        }
        // A delay longer than `u64::MAX` ns (584 years) is drawn from the
        // first 584 years: it makes no difference to anyone.
        let ceiling = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(fastrand::u64(0..=ceiling)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.policy.max_attempts - 1 - self.retries) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Delays {}

/// Tries `make_attempt()` again after each retryable failure, with the
/// delays of `policy` in between, until an attempt succeeds or the retry
/// gives up; returns the success or the last error.
///
/// `policy` is any `IntoIterator<Item = Duration>`, usually a [`Backoff`]:
/// each item is the delay before the next attempt, and its end is the end of
/// the attempts. It is turned into its iterator only at the first failure.
/// The first attempt is made at the first poll; the delays are slept with
/// [`sleep`], so they follow the clock in force (a paused tokio runtime's,
/// say). An empty policy makes one attempt.
///
/// # How a retry decides
///
/// After each failed attempt, in this order:
///
/// 1. An error the predicate ([`Retry::when`]) calls permanent is returned.
///    Every error is retryable unless `when` says otherwise.
/// 2. The policy gives the next delay; when it has none left (the attempts
///    are used up) the error is returned.
/// 3. The retry would start at `now + delay`, by the clock the timers use.
///    If that is at or after the tightest deadline around the retry (that of
///    an enclosing [`timeout`](crate::time::timeout), as
///    [`current_deadline`] reads it, and the end of the
///    [`max_elapsed`](Retry::max_elapsed) budget), the error is returned at
///    once: a retry that could not start in time is never slept for. So is
///    a delay too long for corral's clock ([`Duration::MAX`], or past its
///    146-year range, which an uncapped exponential policy reaches after
///    about 64 doublings): such a retry would never start.
/// 4. Otherwise [`Retry::notify`] hears of the error and the delay, the
///    error is dropped, and the retry sleeps the delay and makes the next
///    attempt.
///
/// # Panics
///
/// Polling the future again after it resolved panics.
///
/// # Cancel safety
///
/// As cancel safe as one attempt: dropping the [`Retry`] drops the attempt
/// in flight (in place, before the drop returns) or the sleep before the
/// next one. The errors of earlier attempts are gone already (handed to
/// [`notify`](Retry::notify)); a success is never lost, since it ends the
/// retry.
///
/// # Examples
///
/// ```
/// use corral::resilience::{Backoff, retry};
/// use std::time::Duration;
/// # futures::executor::block_on(async {
/// let mut calls = 0;
/// let policy = Backoff::exponential(Duration::from_millis(1)).max_attempts(5);
/// let fetched = retry(policy, || {
///     calls += 1;
///     let status = if calls < 3 { 503 } else { 200 };
///     async move { if status == 200 { Ok("page") } else { Err(status) } }
/// })
/// .when(|status| *status == 503) // a 404 would be returned at once
/// .await;
/// assert_eq!(fetched, Ok("page"));
/// assert_eq!(calls, 3);
/// # });
/// ```
// The defaults of `when` (every error) and `notify` (nothing) are function
// pointers: nameable, `Copy`, `Send + Sync`, and replaced by the builders.
#[allow(clippy::type_complexity)]
pub fn retry<P, F, Fut, T, E>(
    policy: P,
    make_attempt: F,
) -> Retry<P, F, Fut, fn(&E) -> bool, fn(&E, Duration)>
where
    P: IntoIterator<Item = Duration>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Retry {
        make_attempt,
        policy: Policy::Unbuilt(Some(policy)),
        when: |_| true,
        notify: |_, _| {},
        max_elapsed: None,
        started: None,
        attempts: 0,
        state: State::Start,
    }
}

pin_project! {
    /// The future [`retry`] returns.
    ///
    /// It holds the attempt in flight inline (or the [`Sleep`] before the
    /// next one), the policy, and the closures: no allocation of its own.
    ///
    /// # Cancel safety
    ///
    /// See [`retry`](retry#cancel-safety).
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Retry<P: IntoIterator, F, Fut, W, N> {
        make_attempt: F,
        policy: Policy<P>,
        when: W,
        notify: N,
        max_elapsed: Option<Duration>,
        // Read at the first poll, and only with a `max_elapsed` budget.
        started: Option<Instant>,
        attempts: u32,
        #[pin]
        state: State<Fut>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut> {
        // Not polled yet: no attempt made.
        Start,
        Attempt { #[pin] attempt: Fut },
        // An attempt failed; the next one starts when this sleep ends.
        Backoff { sleep: Sleep },
        Done,
    }
}

/// The policy, left as given until the first failure needs a delay.
enum Policy<P: IntoIterator> {
    Unbuilt(Option<P>),
    Built(P::IntoIter),
}

impl<P: IntoIterator> Policy<P> {
    fn next_delay(&mut self) -> Option<P::Item> {
        if let Policy::Unbuilt(policy) = self {
            let delays = policy.take().expect("a policy is built once").into_iter();
            *self = Policy::Built(delays);
        }
        match self {
            Policy::Built(delays) => delays.next(),
            Policy::Unbuilt(_) => unreachable!("built above"),
        }
    }
}

impl<P, F, Fut, T, E, W, N> Retry<P, F, Fut, W, N>
where
    P: IntoIterator,
    Fut: Future<Output = Result<T, E>>,
{
    /// Retries only the errors for which `retryable` returns `true`; any
    /// other error is returned at once (tenacity's `retry_if_exception`,
    /// Polly's `ShouldHandle`, backon's `when`). Every error is retryable
    /// unless this is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Backoff, retry};
    /// use std::time::Duration;
    /// # futures::executor::block_on(async {
    /// let mut calls = 0;
    /// let not_found = retry(Backoff::constant(Duration::from_millis(1)), || {
    ///     calls += 1;
    ///     async { Err::<(), u16>(404) }
    /// })
    /// .when(|status| *status >= 500)
    /// .await;
    /// assert_eq!((not_found, calls), (Err(404), 1));
    /// # });
    /// ```
    pub fn when<W2: FnMut(&E) -> bool>(self, retryable: W2) -> Retry<P, F, Fut, W2, N> {
        Retry {
            make_attempt: self.make_attempt,
            policy: self.policy,
            when: retryable,
            notify: self.notify,
            max_elapsed: self.max_elapsed,
            started: self.started,
            attempts: self.attempts,
            state: self.state,
        }
    }

    /// Calls `notify` with each error that will be retried and the delay
    /// before the retry, just before sleeping it (backon's `notify`,
    /// Polly's `OnRetry`): the place to log or count retries.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Backoff, retry};
    /// use std::time::Duration;
    /// # futures::executor::block_on(async {
    /// let mut seen = Vec::new();
    /// let out = retry(Backoff::constant(Duration::from_millis(1)).max_attempts(3), || async {
    ///     Err::<(), _>("busy")
    /// })
    /// .notify(|error, delay| seen.push((*error, delay)))
    /// .await;
    /// assert_eq!(out, Err("busy"));
    /// assert_eq!(seen, [("busy", Duration::from_millis(1)); 2]);
    /// # });
    /// ```
    pub fn notify<N2: FnMut(&E, Duration)>(self, notify: N2) -> Retry<P, F, Fut, W, N2> {
        Retry {
            make_attempt: self.make_attempt,
            policy: self.policy,
            when: self.when,
            notify,
            max_elapsed: self.max_elapsed,
            started: self.started,
            attempts: self.attempts,
            state: self.state,
        }
    }

    /// Starts no retry later than `budget` after the first attempt started:
    /// a retry whose delay would end at or past that point is not slept for
    /// and the last error is returned (tenacity's `stop_after_delay`). The
    /// budget is measured on the timers' clock; it never cuts an attempt
    /// short (wrap the retry in [`timeout`](crate::time::timeout) for that,
    /// which also bounds the retries). A zero budget never retries.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::resilience::{Backoff, retry};
    /// use std::time::Duration;
    /// # futures::executor::block_on(async {
    /// let mut calls = 0;
    /// let policy = Backoff::constant(Duration::from_secs(10)).max_attempts(100);
    /// let out = retry(policy, || {
    ///     calls += 1;
    ///     async { Err::<(), _>("down") }
    /// })
    /// .max_elapsed(Duration::from_secs(5)) // the first 10 s delay would pass it
    /// .await;
    /// assert_eq!((out, calls), (Err("down"), 1));
    /// # });
    /// ```
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = Some(budget);
        self
    }
}

impl<P, F, Fut, T, E, W, N> Future for Retry<P, F, Fut, W, N>
where
    P: IntoIterator<Item = Duration>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    W: FnMut(&E) -> bool,
    N: FnMut(&E, Duration),
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Start => {
                    if this.max_elapsed.is_some() {
                        *this.started = Some(crate::time::now());
                    }
                    *this.attempts += 1;
                    let attempt = (this.make_attempt)();
                    this.state.set(State::Attempt { attempt });
                }
                StateProj::Attempt { attempt } => {
                    let error = match ready!(attempt.poll(cx)) {
                        Ok(value) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(value));
                        }
                        Err(error) => error,
                    };
                    // The failed attempt goes before anything else runs.
                    this.state.set(State::Done);
                    if !(this.when)(&error) {
                        return Poll::Ready(Err(error));
                    }
                    let Some(delay) = this.policy.next_delay() else {
                        return Poll::Ready(Err(error));
                    };
                    let now = crate::time::now();
                    let budget_end = this
                        .started
                        .zip(*this.max_elapsed)
                        .and_then(|(started, budget)| started.checked_add(budget));
                    // `current_deadline` sees the timeouts around this poll.
                    let deadline = match (current_deadline(), budget_end) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let resume = now.checked_add(delay);
                    // A delay the clock cannot reach (`Duration::MAX`, or
                    // past corral's range) is a retry that never starts.
                    if resume.is_none_or(crate::time::beyond_range) {
                        return Poll::Ready(Err(error));
                    }
                    if let Some(deadline) = deadline {
                        if resume.is_none_or(|resume| resume >= deadline) {
                            return Poll::Ready(Err(error));
                        }
                    }
                    (this.notify)(&error, delay);
                    drop(error);
                    // Slept from the instant the deadline was checked against,
                    // so the check and the sleep agree.
                    let sleep = resume.map_or_else(|| sleep(delay), sleep_until);
                    this.state.set(State::Backoff { sleep });
                }
                StateProj::Backoff { sleep } => {
                    ready!(Pin::new(sleep).poll(cx));
                    *this.attempts += 1;
                    let attempt = (this.make_attempt)();
                    this.state.set(State::Attempt { attempt });
                }
                StateProj::Done => panic!("corral: retry polled after completion"),
            }
        }
    }
}

impl<P: IntoIterator, F, Fut, W, N> fmt::Debug for Retry<P, F, Fut, W, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start => "start",
            State::Attempt { .. } => "attempt",
            State::Backoff { .. } => "backoff",
            State::Done => "done",
        };
        f.debug_struct("Retry")
            .field("attempts", &self.attempts)
            .field("state", &state)
            .field("max_elapsed", &self.max_elapsed)
            .finish_non_exhaustive()
    }
}
