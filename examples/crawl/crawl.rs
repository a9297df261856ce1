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
//!   `timeout`, its hedge included), the whole crawl under
//!   `corral::time::timeout` (its `deadline`). A timeout drops what it wraps:
//!   the request is abandoned, and its slot comes back as above.
//! - **Hedging with `race`.** A first try still running after `hedge_after`
//!   is raced (`corral::race`) against a second try, which waits for its slot
//!   in the same fair queue as the next URL's first try; the first of the two
//!   to finish wins and the other is dropped. A first try that ends sooner,
//!   answered or failed, is never sent again.
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

use corral::time::{sleep, timeout, timeout_at};
use futures::future::{Either, select};
use futures::{FutureExt, Stream, StreamExt};

use super::client::{Client, Failure, Url};
use super::count_up;

/// The crawl's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// HTTP requests in flight at most, hedges included.
    pub limit: usize,
    /// How long one URL may take, its hedge included.
    pub timeout: Duration,
    pub deadline: Option<Duration>,
    /// Start a second try of a request still running after this long.
    pub hedge_after: Option<Duration>,
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
    /// HTTP requests sent: first tries and hedges.
    pub requests_sent: usize,
    pub hedges_sent: usize,
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
    let (record_ref, slots_ref) = (&record, &slots);

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
                    // Room for the URL's first try. No new request after a stop.
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
                            progress,
                            record: record_ref,
                        };
                        job.visit(&url, slot).await;
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
        let began = Instant::now();
        // A timeout too large for the clock is no timeout.
        let until = began
            .checked_add(self.config.timeout)
            .unwrap_or_else(|| began + Duration::from_secs(10 * 365 * 24 * 3600));
        let answered = |record: &Record| {
            let us = began.elapsed().as_micros() as u64;
            record.latencies.lock().unwrap().saturating_record(us);
        };
        let outcome = match timeout_at(until, self.fetch(url, slot, until)).await {
            Ok(Ok(_)) => {
                answered(self.record);
                Outcome::Ok
            }
            Ok(Err(Failure::Status)) => {
                answered(self.record);
                Outcome::HttpError
            }
            Ok(Err(Failure::TimedOut)) | Err(_) => Outcome::TimedOut,
            Ok(Err(Failure::Io | Failure::Connect | Failure::TooBig)) => Outcome::Failed,
        };
        unfinished.finish(outcome);
        progress.done.fetch_add(1, Ordering::SeqCst);
    }

    /// One URL: a first try and, only if it is still running after
    /// `hedge_after`, a second; then the first of the two to finish decides
    /// and the other is dropped (abandoned). A first try that ends before
    /// `hedge_after`, answered or failed, is never sent again.
    async fn fetch(&self, url: &Url, slot: Slot, until: Instant) -> Result<usize, Failure> {
        let mut first = pin!(self.client.get(self.conns, url, slot, until, false));
        let Some(after) = self.config.hedge_after else {
            return first.await;
        };
        match select(first.as_mut(), pin!(sleep(after))).await {
            Either::Left((done, _)) => return done,
            Either::Right(((), _)) => {}
        }
        let stop = corral::StopHandle::current();
        let stopping = || stop.as_ref().is_some_and(|s| s.is_stopping());
        if stopping() {
            return first.await; // no new request after a stop
        }
        // A second try once a slot is free: it waits its turn with the next
        // URL's first try, and never starts after a stop.
        let hedge = async {
            let slot = self.slots.take(self.progress).await;
            if stopping() {
                drop(slot);
                return std::future::pending().await;
            }
            self.client.get(self.conns, url, slot, until, true).await
        };
        let tries = [
            Either::Left(first.map(|done| (done, false))),
            Either::Right(hedge.map(|done| (done, true))),
        ];
        let (done, hedge_won) = corral::race(tries).await;
        if hedge_won {
            self.progress.hedges_won.fetch_add(1, Ordering::SeqCst);
        }
        done
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
