//! The corral part: one crawl, structured. The client (`client.rs`), the
//! embedded server (`server.rs`) and the program around it (`app.rs`) are
//! plumbing; this file is what the example is about.
//!
//! - **Two scopes, nested.** [`crawl`] opens a `corral::scope` for the
//!   connections and, inside it, a scope (from a `corral::Nursery`) for the
//!   requests: each URL is a child of the inner one, each connection's driver
//!   a child of the outer one. A connection so outlives every request that
//!   uses it, and nothing outlives the crawl: once [`crawl`] has returned, or
//!   its future has been dropped, every request and every connection has
//!   ended. There is no detached task to leak or to wait for.
//! - **Slots from a fair semaphore.** At most `limit` HTTP requests are in
//!   flight, hedges included: each holds a [`Slot`] of [`Slots`], a
//!   `corral::Semaphore`. The scope's body takes the slot of a URL's first
//!   try *before* it spawns the URL, so URLs not yet started are only a
//!   position in a loop, not tasks waiting in a queue. A slot is held until
//!   the server has let go of the request too (an abandoned request's slot is
//!   freed once its connection has closed), so the limit bounds the server's
//!   work and the connections open, not only what this side still waits for.
//! - **Timeouts.** Each URL runs under `corral::time::timeout_at` (its
//!   `timeout`, its hedges and retries included), the whole crawl under
//!   `corral::time::timeout` (its `deadline`). A timeout drops what it wraps:
//!   the request is abandoned, and its slot comes back as above.
//! - **Retries with `corral::resilience::retry`.** A try that fails for a
//!   transient reason ([`Failure::is_transient`]: 429, 502, 503, 504, a
//!   connection refused or reset) is tried again after an exponential
//!   backoff with full jitter, at most `retries.max` times. The URL's
//!   timeout is the budget of all its tries: `retry` reads it as the
//!   deadline around it and never starts a retry that could not begin
//!   before it. A retry takes a slot of its own, in the same fair queue as a
//!   first try, and none starts after a stop.
//! - **Hedging with `corral::resilience::hedge`.** Each try (the first, and
//!   each retry) still running after `hedge_after` gets a second request
//!   beside it, which waits for its slot in the same fair queue as the next
//!   URL's first try; the first of the two to finish wins and the other is
//!   dropped. A try that ends sooner, answered or failed, is not hedged.
//!   Retries wrap the hedged try, not the other way round: a hedge is for a
//!   try that is slow, a retry for one that failed, and this way a URL sends
//!   at most `2 × (retries + 1)` requests (a hedge inside each of two retry
//!   loops would double the retries, and its delay would count across the
//!   backoffs).
//! - **A rate per host** (`rate_per_host`, with corral's `rate-limit`
//!   feature): a `corral::resilience::KeyedRateLimiter` keyed by the `Host`
//!   of the URL, evenly spaced (a burst of 1), a cell taken before every
//!   request. A retry or a hedge takes its cell *before* its slot, so a
//!   host's rate wait holds no slot that another host could use. A URL's
//!   first try waits for its cell holding the slot the body took for it:
//!   in the flat list the slots are also what bounds the URLs read ahead,
//!   so a first try cannot give its slot back without the list being read
//!   on without limit. (The link-following crawl takes a per-host permit,
//!   then the cell, then the slot: there no rate wait holds a slot.)
//! - **A graceful stop.** `stop` (or a stop of an enclosing scope: Ctrl-C in
//!   the program) stops the requests' scope: the body starts no new URL, no
//!   hedge starts, and the requests in flight may finish within the
//!   nursery's `grace`, after which they are dropped. The scope's future is
//!   kept while they finish, not dropped.
//!
//! - **A list of any length.** The URLs come as a stream, read one at a
//!   time as slots free up (a URL file is read as the crawl goes, the
//!   embedded server's URLs are made as they are needed), and the report
//!   keeps counts, not one entry per URL: a crawl of ten million URLs takes
//!   the memory of a crawl of ten.
//!
//! Every URL is counted in the [`Report`] exactly once: how it ended,
//! `Dropped` if it started and was cut short (a guard that a finished URL
//! disarms counts it), `Skipped` if its entry was no URL, or `NotStarted`
//! (the total less those started and skipped). `benches/crawl.rs` runs the
//! same per-URL work ([`Job::visit`]) from a plain `FuturesUnordered` instead
//! of the scope, to measure what the structure costs.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corral::resilience::{Backoff, hedge, retry};
use corral::time::{timeout, timeout_at};
use futures::future::{Either, select};
use futures::{Stream, StreamExt};

use super::client::{Attempt, Client, Failure, Url};
use super::{count_up, now};

/// The crawl's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// HTTP requests in flight at most, hedges included.
    pub limit: usize,
    /// How long one URL may take, its hedges and retries included.
    pub timeout: Duration,
    pub deadline: Option<Duration>,
    /// Start a second try of a request still running after this long.
    pub hedge_after: Option<Duration>,
    /// How a try that failed for a transient reason is tried again.
    pub retries: Retries,
    /// Requests a second to one host at most, evenly spaced (a build with
    /// corral's `rate-limit` feature; `None`: no limit).
    pub rate_per_host: Option<u32>,
    /// Report every request poll that blocks the executor this long.
    pub warn_slow_polls: Option<Duration>,
    /// After a stop, how long requests in flight may run on before they are
    /// dropped (`None`: as long as they take; their timeout bounds them).
    pub grace: Option<Duration>,
}

/// How each URL ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx or 3xx answer.
    Ok,
    /// An answer of 400 or above.
    HttpError,
    /// No answer within `--timeout`.
    TimedOut,
    /// No answer: refused, reset, closed.
    Failed,
    /// Started, then dropped unfinished by the deadline or a stop.
    Dropped,
    /// Never started: the deadline or a stop came first.
    NotStarted,
    /// Never sent: its entry in the list was no URL (a line of a URL file
    /// that changed after it was checked), or the list ended before it.
    Skipped,
}

impl Outcome {
    /// Every outcome, in the order the summary shows them.
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::HttpError,
        Outcome::TimedOut,
        Outcome::Failed,
        Outcome::Dropped,
        Outcome::NotStarted,
        Outcome::Skipped,
    ];
}

/// One entry of the list a crawl fetches: a URL, or why the entry in its
/// place is none (`line 7: bad URL ..`). Each is one URL of the total.
pub type Entry = Result<Url, String>;

/// `urls` as the entries of a list.
pub fn listed(urls: impl IntoIterator<Item = Url>) -> impl Stream<Item = Entry> {
    futures::stream::iter(urls.into_iter().map(Ok))
}

/// Live counters, shared with the progress display.
#[derive(Default)]
pub struct Progress {
    /// URLs started (each ends done, or dropped by a deadline or a grace).
    pub started: AtomicUsize,
    pub done: AtomicUsize,
    /// HTTP requests in flight (slots taken), and the most at once.
    pub in_flight: Arc<AtomicUsize>,
    pub peak_in_flight: AtomicUsize,
    /// Second tries whose answer came first.
    pub hedges_won: AtomicUsize,
    /// Retries whose backoff has begun (counted as it begins, before the
    /// retry is sent: the tests on a virtual clock wait for it before they
    /// move the clock on).
    pub backoffs: AtomicUsize,
}

/// What a crawl found.
#[derive(Debug)]
pub struct Report {
    /// URLs in the list: each is counted under exactly one outcome.
    pub total: usize,
    /// How many ended each way, by `Outcome as usize`.
    counts: [usize; Outcome::ALL.len()],
    /// Why the first skipped entry was skipped.
    pub first_skipped: Option<String>,
    /// Latency of each answered URL (ok or HTTP error), from its first try
    /// to the answer, in microseconds.
    pub latencies_us: hdrhistogram::Histogram<u64>,
    pub peak_in_flight: usize,
    /// HTTP requests sent: first tries, retries and hedges.
    pub requests_sent: usize,
    pub hedges_sent: usize,
    pub retries_sent: usize,
    pub hedges_won: usize,
    pub wall: Duration,
    /// The overall deadline cut the crawl short.
    pub deadline_hit: bool,
}

impl Report {
    /// How many URLs ended as `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.counts[outcome as usize]
    }
}

/// Fetches the `total` URLs of `urls`, at most `config.limit` HTTP requests
/// at once (hedges included), each URL under `config.timeout`, a request
/// still running after `config.hedge_after` hedged, the whole crawl under
/// `config.deadline`. `stop` ends it early and gracefully: no new request
/// starts, and those in flight may finish within `config.grace`. A stop
/// request from an enclosing scope (Ctrl-C) does the same.
///
/// `urls` is read one entry at a time, as room for a request frees up, and
/// never past `total` entries; an entry that is an error, and every entry
/// missing if it ends early, is counted as [`Outcome::Skipped`]. Every one
/// of the `total` URLs is accounted for exactly once in the report, whose
/// size does not grow with `total`.
pub async fn crawl(
    urls: impl Stream<Item = Entry>,
    total: usize,
    config: &Config,
    client: &Client,
    progress: &Progress,
    stop: impl Future<Output = ()>,
) -> Report {
    let start = Instant::now();
    let record = Record::new();
    let slots = Slots::new(config.limit);
    let rate = HostRate::new(config.rate_per_host);
    // A URL waiting out a retry's backoff holds no slot, so slots alone no
    // longer bound the URLs started: at most twice `limit` run at once, or
    // a list whose requests all fail fast would be read ahead without end.
    let turns = corral::Semaphore::new(config.limit.saturating_mul(2));
    let (record_ref, slots_ref, rate_ref, turns_ref) = (&record, &slots, &rate, &turns);

    // Connections live in their own scope, around the requests' scope, so
    // they outlive every request and end when the idle pool is dropped.
    let work = corral::Nursery::new()
        .name("connections")
        .scope(|conns| async move {
            let mut nursery = corral::Nursery::new().name("requests");
            if let Some(threshold) = config.warn_slow_polls {
                nursery = nursery.warn_slow_polls(threshold);
            }
            if let Some(grace) = config.grace {
                nursery = nursery.grace(grace);
            }
            let stopper = std::sync::OnceLock::new();
            let stopper_ref = &stopper;
            let conns_ref = &conns;
            let mut requests = pin!(nursery.scope(|s| async move {
                let _ = stopper_ref.set(s.stop_handle());
                let mut urls = pin!(urls);
                let mut read = 0;
                while read < total {
                    // The next URL (a file read may wait), unless a stop comes
                    // first.
                    let entry = match select(urls.next(), s.stopped()).await {
                        Either::Left((entry, _)) if !s.is_stopping() => entry,
                        _ => break,
                    };
                    let url = match entry {
                        Some(Ok(url)) => url,
                        Some(Err(why)) => {
                            record_ref.skip(1, why);
                            read += 1;
                            continue;
                        }
                        None => {
                            let why = format!("the list ended after {read} of {total} URLs");
                            record_ref.skip(total - read, why);
                            break;
                        }
                    };
                    read += 1;
                    // A turn for the URL, then room for its first try. No new
                    // request after a stop.
                    let turn = match select(pin!(turns_ref.acquire()), s.stopped()).await {
                        Either::Left((turn, _)) if !s.is_stopping() => turn,
                        _ => break,
                    };
                    let slot = match select(pin!(slots_ref.take(progress)), s.stopped()).await {
                        Either::Left((slot, _)) if !s.is_stopping() => slot,
                        _ => break,
                    };
                    let conns = conns_ref.clone();
                    s.spawn_named("visit", async move {
                        let job = Job {
                            client,
                            conns: &conns,
                            config,
                            slots: slots_ref,
                            rate: rate_ref,
                            progress,
                            record: record_ref,
                        };
                        job.visit(&url, slot).await;
                        drop(turn);
                        Ok::<_, Failure>(())
                    });
                }
                Ok(())
            }));
            // A stop lets the requests in flight finish (within the grace); the
            // scope future is kept, not dropped.
            let mut stopped = false;
            let requests = match select(requests.as_mut(), pin!(stop)).await {
                Either::Left((done, _)) => done,
                Either::Right(((), _)) => {
                    stopped = true;
                    if let Some(stopper) = stopper.get() {
                        stopper.stop();
                    }
                    requests.await
                }
            };
            // Every abandoned request's connection closes (each within its URL's
            // timeout) before the crawl ends, unless it was stopped: then they
            // close now.
            if !stopped && !conns.is_stopping() {
                slots_ref.all_free().await;
            }
            client.close();
            requests
        });
    let limited = async {
        match config.deadline {
            Some(deadline) => timeout(deadline, work).await.is_err(),
            None => {
                let _ = work.await;
                false
            }
        }
    };
    let deadline_hit = limited.await;
    client.close();
    record.into_report(total, progress, client, start, deadline_hit)
}

/// What one URL's fetch needs: the crawl's shared parts.
pub struct Job<'a, 'c> {
    pub client: &'a Client,
    pub conns: &'a corral::Scope<'c, Failure>,
    pub config: &'a Config,
    pub slots: &'a Slots,
    pub rate: &'a HostRate,
    pub progress: &'a Progress,
    pub record: &'a Record,
}

impl Job<'_, '_> {
    /// Fetches `url` with `slot` for its first try and records how it ended:
    /// the work of one URL, whatever drives it.
    pub async fn visit(&self, url: &Url, slot: Slot) {
        let progress = self.progress;
        progress.started.fetch_add(1, Ordering::SeqCst);
        // Counts the URL as dropped if this future is dropped unfinished.
        let unfinished = self.record.start();
        // The timeout counts from the first request: the wait for the host's
        // rate cell before it (with the slot held, see the module doc) is
        // the URL's turn, not part of its budget.
        self.rate.wait(&url.host).await;
        let began = now();
        // A timeout too large for the clock is no timeout.
        let until = began
            .checked_add(self.config.timeout)
            .unwrap_or_else(|| began + Duration::from_secs(10 * 365 * 24 * 3600));
        let answered = |record: &Record| {
            let us = now().saturating_duration_since(began).as_micros() as u64;
            record.latencies.lock().unwrap().saturating_record(us);
        };
        let outcome = match timeout_at(until, self.fetch(url, slot, until)).await {
            Ok(Ok(_)) => {
                answered(self.record);
                Outcome::Ok
            }
            Ok(Err(Failure::Status(_))) => {
                answered(self.record);
                Outcome::HttpError
            }
            Ok(Err(Failure::TimedOut)) | Err(_) => Outcome::TimedOut,
            Ok(Err(Failure::Io | Failure::Connect | Failure::TooBig)) => Outcome::Failed,
            Ok(Err(Failure::Stopped)) => Outcome::Dropped,
        };
        unfinished.finish(outcome);
        progress.done.fetch_add(1, Ordering::SeqCst);
    }

    /// One URL: tries, each hedged, retried while they fail for a
    /// transient reason. The first try's first request uses `slot` (and the
    /// rate cell `visit` took for it); every
    /// other request (a hedge, a retry) waits for its host's rate cell, then
    /// for a slot of its own, and none starts after a stop.
    async fn fetch(&self, url: &Url, slot: Slot, until: Instant) -> Result<usize, Failure> {
        // Taken by the first try; `Mutex`, not `Cell`: the visit is `Send`.
        let first_slot = Mutex::new(Some(slot));
        let first_slot = &first_slot;
        let backoffs = &self.progress.backoffs;
        retried(self.config.retries, backoffs, |attempt| async move {
            let taken = first_slot.lock().unwrap().take();
            let slot = match taken {
                // Its cell taken already, in `visit`.
                Some(slot) => slot,
                None => match self.next_slot(url).await {
                    Some(slot) => slot,
                    None => return Err(Failure::Stopped),
                },
            };
            self.hedged(url, slot, attempt, until).await
        })
        .await
    }

    /// One try of `url` with `slot`, and, only if it is still running after
    /// `hedge_after`, a second request beside it (once its slot is free,
    /// never after a stop); the first of the two to finish decides and the
    /// other is dropped (abandoned).
    async fn hedged(
        &self,
        url: &Url,
        slot: Slot,
        attempt: Attempt,
        until: Instant,
    ) -> Result<usize, Failure> {
        // `Duration::MAX` never hedges, and arms no timer.
        let after = self.config.hedge_after.unwrap_or(Duration::MAX);
        let mut slot = Some(slot);
        let (done, hedge_won) = hedge(after, || {
            let first = slot.take();
            async move {
                match first {
                    Some(slot) => (
                        self.client.get(self.conns, url, slot, until, attempt).await,
                        false,
                    ),
                    None => {
                        // Never answers after a stop: the first request
                        // decides alone.
                        let Some(slot) = self.next_slot(url).await else {
                            return std::future::pending().await;
                        };
                        let got = self
                            .client
                            .get(self.conns, url, slot, until, Attempt::Hedge);
                        (got.await, true)
                    }
                }
            }
        })
        .await;
        // Won: the hedge's answer came first (a hedge that could not even
        // connect was never sent, and wins nothing).
        if hedge_won && matches!(done, Ok(_) | Err(Failure::Status(_))) {
            self.progress.hedges_won.fetch_add(1, Ordering::SeqCst);
        }
        done
    }

    /// A slot for a request other than a URL's first: its host's rate cell
    /// first (waiting for it holds no slot), then a slot in the fair queue;
    /// `None` once the crawl is stopping, before or while it waits.
    async fn next_slot(&self, url: &Url) -> Option<Slot> {
        let stop = corral::StopHandle::current();
        let stopping = || stop.as_ref().is_some_and(|s| s.is_stopping());
        let wait = async {
            self.rate.wait(&url.host).await;
            self.slots.take(self.progress).await
        };
        let slot = match &stop {
            Some(stop) => match select(pin!(wait), pin!(stop.stopped())).await {
                Either::Left((slot, _)) => slot,
                Either::Right(_) => return None,
            },
            None => wait.await,
        };
        (!stopping()).then_some(slot)
    }
}

/// How a try that failed for a transient reason is tried again: at most
/// `max` times, the first after `backoff`, each next one after twice as
/// long, each delay drawn between zero and that with `jitter` ("full
/// jitter", so that URLs that failed together do not come back together).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retries {
    pub max: u32,
    pub backoff: Duration,
    pub jitter: bool,
}

impl Retries {
    /// No retry.
    #[allow(dead_code)] // by `tests/crawl.rs` and `benches/crawl.rs`
    pub const NONE: Retries = Retries {
        max: 0,
        backoff: Duration::ZERO,
        jitter: false,
    };

    /// The delays before each retry.
    pub fn policy(&self) -> Backoff {
        let policy = Backoff::exponential(self.backoff).max_attempts(self.max.saturating_add(1));
        if self.jitter { policy.jitter() } else { policy }
    }
}

/// Runs `attempt(Attempt::First)`, then `attempt(Attempt::Retry)` after
/// each transient failure, as `retries` says (`corral::resilience::retry`:
/// no retry starts past the deadline around it, the URL's timeout). After
/// a stop no retry starts: the failure before it is the URL's, and one
/// whose turn a stop cut short ([`Failure::Stopped`]) ends with it too.
/// `backoffs` counts the retries whose backoff has begun.
pub async fn retried<T, Fut>(
    retries: Retries,
    backoffs: &AtomicUsize,
    mut attempt: impl FnMut(Attempt) -> Fut,
) -> Result<T, Failure>
where
    Fut: Future<Output = Result<T, Failure>>,
{
    let stop = corral::StopHandle::current();
    let stopping = || stop.as_ref().is_some_and(|s| s.is_stopping());
    let last = Mutex::new(None);
    let (last, stopping) = (&last, &stopping);
    let mut made = 0u32;
    let done = retry(retries.policy(), || {
        made += 1;
        let retrying = made > 1;
        let attempt = attempt(if retrying {
            Attempt::Retry
        } else {
            Attempt::First
        });
        async move {
            if retrying && stopping() {
                return Err(Failure::Stopped);
            }
            attempt.await
        }
    })
    .when(|failure| failure.is_transient() && !stopping())
    .notify(|failure, _| {
        *last.lock().unwrap() = Some(*failure);
        backoffs.fetch_add(1, Ordering::SeqCst);
    })
    .await;
    match done {
        Err(Failure::Stopped) => Err(last.lock().unwrap().unwrap_or(Failure::Stopped)),
        done => done,
    }
}

/// Each host's rate: a cell of a `corral::resilience::KeyedRateLimiter`
/// before each request, when the crawl has a `rate_per_host` (and is built
/// with corral's `rate-limit` feature: without it, asking for a rate is a
/// bug of the caller, which `args.rs` turns into a usage error).
///
/// (`benches/crawl.rs` builds this file in a crate that has no such
/// feature: there the limiter is always compiled out.)
#[allow(unexpected_cfgs)]
pub struct HostRate {
    #[cfg(feature = "rate-limit")]
    limiter: Option<corral::resilience::KeyedRateLimiter<String>>,
}

#[allow(unexpected_cfgs)]
impl HostRate {
    /// Requests spaced evenly, `per_second` a second to each host, or no
    /// limit. Up to 100 a second each waits its full interval (a burst of
    /// 1); above, a burst of 10 ms worth of cells absorbs the timers'
    /// millisecond ticks, which a burst of 1 would lose on every wait (at
    /// 2,000 a second it sent about 1,000).
    ///
    /// # Panics
    ///
    /// With a rate, in a build without the `rate-limit` feature.
    pub fn new(per_second: Option<u32>) -> HostRate {
        #[cfg(feature = "rate-limit")]
        {
            use corral::resilience::{KeyedRateLimiter, Quota};
            let quota = |n: u32| Quota::per_second(n).allow_burst(n.div_ceil(100).max(1));
            HostRate {
                limiter: per_second.map(|n| KeyedRateLimiter::new(quota(n))),
            }
        }
        #[cfg(not(feature = "rate-limit"))]
        {
            assert!(
                per_second.is_none(),
                "a rate per host needs corral's rate-limit feature"
            );
            HostRate {}
        }
    }

    /// Waits for a cell of `host`'s rate (at once without a limit).
    pub async fn wait(&self, host: &str) {
        #[cfg(feature = "rate-limit")]
        if let Some(limiter) = &self.limiter {
            limiter.acquire(&host.to_string()).await;
        }
        let _ = host;
    }
}

/// Room for one HTTP request in flight. Held until the request is over at
/// the server too: answered, or abandoned and its connection closed.
pub struct Slot {
    in_flight: Arc<AtomicUsize>,
    /// How many slots there are: the connections open at once, too.
    pub(super) limit: usize,
    _permit: corral::OwnedPermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Before the permit goes back (the fields drop after this): the count
        // never shows more than the limit.
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The `limit` slots of one crawl, shared by first tries and hedges (corral's
/// fair semaphore: a hedge waits its turn with the next URL's first try).
pub struct Slots {
    permits: Arc<corral::Semaphore>,
    limit: usize,
}

impl Slots {
    pub fn new(limit: usize) -> Slots {
        Slots {
            permits: Arc::new(corral::Semaphore::new(limit)),
            limit,
        }
    }

    /// Waits for a free slot.
    pub async fn take(&self, progress: &Progress) -> Slot {
        let permit = self.permits.clone().acquire_owned().await;
        count_up(&progress.in_flight, &progress.peak_in_flight);
        Slot {
            in_flight: progress.in_flight.clone(),
            limit: self.limit,
            _permit: permit,
        }
    }

    /// Waits until every slot is free: no request in flight, every abandoned
    /// one's connection closed.
    pub async fn all_free(&self) {
        let _all = self.permits.acquire_many(self.limit).await;
    }
}

/// How many URLs ended each way, and the latencies of those answered: a
/// few counters, however many URLs there are.
pub struct Record {
    counts: [AtomicUsize; Outcome::ALL.len()],
    /// URLs whose [`Job::visit`] began.
    started: AtomicUsize,
    first_skipped: Mutex<Option<String>>,
    latencies: Mutex<hdrhistogram::Histogram<u64>>,
}

impl Default for Record {
    fn default() -> Record {
        Record::new()
    }
}

impl Record {
    pub fn new() -> Record {
        Record {
            counts: Default::default(),
            started: AtomicUsize::new(0),
            first_skipped: Mutex::new(None),
            // Microseconds, from 1 µs to an hour, 3 significant digits.
            latencies: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram"),
            ),
        }
    }

    fn add(&self, outcome: Outcome, n: usize) {
        self.counts[outcome as usize].fetch_add(n, Ordering::SeqCst);
    }

    /// `n` URLs are never sent, for the reason `why`.
    fn skip(&self, n: usize, why: String) {
        self.add(Outcome::Skipped, n);
        self.first_skipped.lock().unwrap().get_or_insert(why);
    }

    /// One URL starts: until [`Unfinished::finish`], it counts as dropped.
    fn start(&self) -> Unfinished<'_> {
        self.started.fetch_add(1, Ordering::SeqCst);
        Unfinished { record: self }
    }

    /// The report of a crawl of `total` URLs, once every URL has ended:
    /// those neither started nor skipped were never started.
    pub fn into_report(
        self,
        total: usize,
        progress: &Progress,
        client: &Client,
        start: Instant,
        deadline_hit: bool,
    ) -> Report {
        let mut counts = self.counts.map(AtomicUsize::into_inner);
        let accounted = self.started.into_inner() + counts[Outcome::Skipped as usize];
        debug_assert!(accounted <= total, "{accounted} URLs of {total}");
        counts[Outcome::NotStarted as usize] = total.saturating_sub(accounted);
        Report {
            total,
            counts,
            first_skipped: self.first_skipped.into_inner().unwrap(),
            latencies_us: self.latencies.into_inner().unwrap(),
            peak_in_flight: progress.peak_in_flight.load(Ordering::SeqCst),
            requests_sent: client.requests_sent.load(Ordering::SeqCst),
            hedges_sent: client.hedges_sent.load(Ordering::SeqCst),
            retries_sent: client.retries_sent.load(Ordering::SeqCst),
            hedges_won: progress.hedges_won.load(Ordering::SeqCst),
            wall: start.elapsed(),
            deadline_hit,
        }
    }
}

/// A URL started and not yet finished: dropped with its future, it counts
/// the URL as [`Outcome::Dropped`].
struct Unfinished<'a> {
    record: &'a Record,
}

impl Unfinished<'_> {
    /// The URL ended as `outcome`: count that instead.
    fn finish(self, outcome: Outcome) {
        self.record.add(outcome, 1);
        std::mem::forget(self);
    }
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        self.record.add(Outcome::Dropped, 1);
    }
}
