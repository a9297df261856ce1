//! The crawl itself, shared by `examples/crawl/main.rs` and `tests/crawl.rs`:
//! an embedded HTTP/1.1 server with a seeded plan of slow, failing and hung
//! pages, a keep-alive HTTP/1.1 client, and the bounded, deadline-guarded
//! crawl that ties them together with corral.
#![allow(dead_code)] // each includer uses a different part

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral::time::{Elapsed, sleep, timeout};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use smol::net::{TcpListener, TcpStream};
use smol_hyper::rt::FuturesIo;

// ---------------------------------------------------------------------------
// The server's plan
// ---------------------------------------------------------------------------

/// What the embedded server does for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// Answers 200 after this many milliseconds.
    Ok { delay_ms: u64 },
    /// Answers 200 after `slow_ms` on odd-numbered requests (the 1st, 3rd, ..)
    /// and after `delay_ms` on the others: a hedged second try wins.
    Slow { slow_ms: u64, delay_ms: u64 },
    /// Answers 503.
    Error,
    /// Never answers.
    Hang,
}

/// The seeded, reproducible plan of `pages` pages.
#[derive(Clone, Debug)]
pub struct Plan {
    pub pages: Vec<Page>,
}

/// splitmix64: a tiny seeded generator, so runs reproduce without a
/// dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Plan {
    /// `pages` pages: 1 in 25 slow, 1 in 33 failing, 1 in 100 hung, the rest
    /// fast, with latencies drawn from `seed`. `no_delay` makes every answer
    /// immediate (to measure the client's own cost): no latency, and the hung
    /// pages fail at once instead.
    pub fn new(pages: usize, seed: u64, no_delay: bool) -> Plan {
        let pages = (0..pages as u64)
            .map(|i| {
                let r = mix(seed ^ mix(i));
                let delay_ms = if no_delay { 0 } else { 1 + (r >> 8) % 20 };
                match r % 100 {
                    // With no delay, nothing waits: a hung page answers 503.
                    0 if no_delay => Page::Error,
                    0 => Page::Hang,
                    1..=3 => Page::Error,
                    4..=7 => Page::Slow {
                        slow_ms: if no_delay { 0 } else { 2_000 },
                        delay_ms,
                    },
                    _ => Page::Ok { delay_ms },
                }
            })
            .collect();
        Plan { pages }
    }

    /// How many pages of each kind: (ok, slow, error, hang).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        self.pages
            .iter()
            .fold((0, 0, 0, 0), |(o, s, e, h), p| match p {
                Page::Ok { .. } => (o + 1, s, e, h),
                Page::Slow { .. } => (o, s + 1, e, h),
                Page::Error => (o, s, e + 1, h),
                Page::Hang => (o, s, e, h + 1),
            })
    }
}

// ---------------------------------------------------------------------------
// The embedded server
// ---------------------------------------------------------------------------

/// What the server saw, for tests and `/healthz`.
#[derive(Default)]
pub struct ServerStats {
    pub connections: AtomicUsize,
    pub live_connections: AtomicUsize,
    /// Requests being answered right now.
    pub in_flight: AtomicUsize,
    pub requests: AtomicUsize,
}

/// Serves `plan` on `listener` until dropped, or until a stop request reaches
/// its scope (it is nested in the caller's scope, so the caller's stop
/// counts): then it stops accepting, lets every connection finish the
/// request it is answering and closes it (hyper's graceful shutdown), and
/// returns once all are closed. The grace of the enclosing scope's stop bounds
/// how long that may take. Every connection handler is a parallel child (on
/// `runtime`) of one `corral::scope`, so dropping this future aborts every
/// handler and closes every connection.
pub async fn serve<S: corral::Spawn + Send + Sync + 'static>(
    listener: TcpListener,
    plan: Arc<Plan>,
    stats: Arc<ServerStats>,
    runtime: S,
) {
    let runtime = &runtime;
    let hits: Arc<Vec<AtomicU32>> =
        Arc::new((0..plan.pages.len()).map(|_| AtomicU32::new(0)).collect());
    let result = corral::scope(|s| async move {
        loop {
            let accepted = match futures::future::select(pin!(listener.accept()), s.stopped()).await
            {
                futures::future::Either::Left((accepted, _)) => accepted,
                // Stopping: the scope waits for the handlers to drain.
                futures::future::Either::Right(((), _)) => return Ok(()),
            };
            let Ok((stream, _)) = accepted else {
                // A failed accept (too many open files, say): back off, go on.
                sleep(Duration::from_millis(10)).await;
                continue;
            };
            let (plan, stats, hits) = (plan.clone(), stats.clone(), hits.clone());
            let stop = s.stop_handle();
            s.spawn_on(runtime, async move {
                stats.connections.fetch_add(1, Ordering::SeqCst);
                stats.live_connections.fetch_add(1, Ordering::SeqCst);
                let _live = Decrement(&stats.live_connections);
                let service = hyper::service::service_fn(|req: Request<Incoming>| {
                    answer(req, plan.clone(), hits.clone(), stats.clone())
                });
                let mut conn = pin!(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(FuturesIo::new(stream), service)
                );
                // A client that goes away mid-request is normal here.
                match futures::future::select(conn.as_mut(), stop.stopped()).await {
                    futures::future::Either::Left(_) => {}
                    futures::future::Either::Right(((), _)) => {
                        // Finish the request in hand, then close.
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                Ok::<_, std::convert::Infallible>(())
            });
        }
    })
    .await;
    let Ok(()) = result;
}

/// Takes one off a counter when dropped: a live connection, an open one.
struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(
    req: Request<Incoming>,
    plan: Arc<Plan>,
    hits: Arc<Vec<AtomicU32>>,
    stats: Arc<ServerStats>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path();
    if path == "/healthz" {
        let stopping = corral::StopHandle::current().is_some_and(|s| s.is_stopping());
        let body = format!(
            "{{\"live_connections\":{},\"in_flight\":{},\"requests\":{},\"stopping\":{}}}",
            stats.live_connections.load(Ordering::SeqCst),
            stats.in_flight.load(Ordering::SeqCst),
            stats.requests.load(Ordering::SeqCst),
            stopping
        );
        return Ok(Response::new(Full::new(Bytes::from(body))));
    }
    stats.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = Decrement(&stats.in_flight);
    let page = path
        .strip_prefix("/page/")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| plan.pages.get(n).map(|p| (n, *p)));
    let Some((n, page)) = page else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    let delay = |ms| sleep(Duration::from_millis(ms));
    match page {
        Page::Ok { delay_ms } => delay(delay_ms).await,
        Page::Slow { slow_ms, delay_ms } => {
            let nth = hits[n].fetch_add(1, Ordering::SeqCst);
            delay(if nth % 2 == 0 { slow_ms } else { delay_ms }).await;
        }
        Page::Error => return Ok(status(StatusCode::SERVICE_UNAVAILABLE)),
        Page::Hang => std::future::pending::<()>().await,
    }
    Ok(Response::new(Full::new(Bytes::from(format!("page {n}\n")))))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

// ---------------------------------------------------------------------------
// The client: keep-alive HTTP/1.1 connections, one pool per host
// ---------------------------------------------------------------------------

/// A parsed `http://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub authority: String,
    pub path: String,
}

/// Why a URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUrl {
    pub url: String,
    pub why: &'static str,
}

impl fmt::Display for BadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad URL {:?}: {}", self.url, self.why)
    }
}

impl std::error::Error for BadUrl {}

impl Url {
    pub fn parse(url: &str) -> Result<Url, BadUrl> {
        let bad = |why| BadUrl {
            url: url.to_string(),
            why,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(bad("unsupported characters in the host"));
        }
        let authority = if authority.contains(':') {
            let port = authority.rsplit(':').next().unwrap_or("");
            if port.parse::<u16>().is_err() {
                return Err(bad("the port is not a number from 0 to 65535"));
            }
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        if path.contains(char::is_whitespace) {
            return Err(bad("whitespace in the path"));
        }
        Ok(Url {
            authority,
            path: path.to_string(),
        })
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// Idle keep-alive connections per host, and a count of open ones.
pub struct Client {
    idle: Mutex<HashMap<String, Vec<Sender>>>,
    /// Dropped by `close`: every connection driver then ends.
    closing: Mutex<Option<smol::channel::Sender<()>>>,
    closed: smol::channel::Receiver<()>,
    pub open_connections: Arc<AtomicUsize>,
    pub connections_made: AtomicUsize,
}

impl Default for Client {
    fn default() -> Self {
        let (closing, closed) = smol::channel::bounded(1);
        Client {
            idle: Mutex::new(HashMap::new()),
            closing: Mutex::new(Some(closing)),
            closed,
            open_connections: Arc::new(AtomicUsize::new(0)),
            connections_made: AtomicUsize::new(0),
        }
    }
}

/// Why one request failed.
#[derive(Debug)]
pub enum Failure {
    TimedOut,
    Status(u16),
    Io(String),
}

impl From<Elapsed> for Failure {
    fn from(_: Elapsed) -> Self {
        Failure::TimedOut
    }
}

impl Client {
    /// GETs `url` over an idle connection to its host, or a new one whose
    /// driver runs as a child of `conns`. Returns the status and body length.
    pub async fn get(
        &self,
        conns: &corral::Scope<'_, Failure>,
        url: &Url,
    ) -> Result<usize, Failure> {
        let mut sender = match self.take_idle(&url.authority) {
            Some(sender) => sender,
            None => self.connect(conns, &url.authority).await?,
        };
        let request = Request::get(&url.path)
            .header(hyper::header::HOST, &url.authority)
            .body(Empty::new())
            .map_err(|e| Failure::Io(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Failure::Io(e.to_string()))?;
        let code = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Io(e.to_string()))?
            .to_bytes();
        // Only a connection whose exchange completed goes back for reuse.
        self.idle
            .lock()
            .unwrap()
            .entry(url.authority.clone())
            .or_default()
            .push(sender);
        if code >= 400 {
            return Err(Failure::Status(code));
        }
        Ok(body.len())
    }

    fn take_idle(&self, authority: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.get_mut(authority)?;
        while let Some(sender) = list.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    async fn connect(
        &self,
        conns: &corral::Scope<'_, Failure>,
        authority: &str,
    ) -> Result<Sender, Failure> {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| Failure::Io(format!("connect to {authority}: {e}")))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(FuturesIo::new(stream))
            .await
            .map_err(|e| Failure::Io(e.to_string()))?;
        self.connections_made.fetch_add(1, Ordering::SeqCst);
        let open = self.open_connections.clone();
        open.fetch_add(1, Ordering::SeqCst);
        // The connection's driver is a child of the crawl: it cannot outlive
        // it. It ends when its sender is dropped, when the client closes (a
        // connection abandoned mid-request may wait for a server that never
        // answers), or with the crawl.
        let closed = self.closed.clone();
        conns.spawn(async move {
            let _open = Decrement(&open);
            let connection = pin!(connection);
            let closed = pin!(closed.recv());
            let _ = futures::future::select(connection, closed).await;
            Ok(())
        });
        Ok(sender)
    }

    /// Ends every connection: the idle ones, and the drivers of any left.
    pub fn close(&self) {
        self.idle.lock().unwrap().clear();
        self.closing.lock().unwrap().take();
    }
}

// ---------------------------------------------------------------------------
// The crawl
// ---------------------------------------------------------------------------

/// The crawl's settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub limit: usize,
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
    Ok,
    TimedOut,
    Failed,
    /// Not finished when the crawl was cut short (deadline or Ctrl-C).
    Cancelled,
}

/// Live counters, shared with the progress display.
#[derive(Default)]
pub struct Progress {
    /// Requests started (each ends done, or dropped by a deadline or a grace).
    pub started: AtomicUsize,
    pub done: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub peak_in_flight: AtomicUsize,
}

/// What a crawl found.
#[derive(Debug)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// Requests that needed (and won with) their hedged second try.
    pub hedged: usize,
    pub latencies_us: hdrhistogram::Histogram<u64>,
    pub peak_in_flight: usize,
    pub wall: Duration,
    /// The overall deadline cut the crawl short.
    pub deadline_hit: bool,
}

impl Report {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.outcomes.iter().filter(|&&o| o == outcome).count()
    }
}

/// Counts a URL in flight while alive (for the peak, which must never
/// exceed the limit).
struct InFlight<'a>(&'a Progress);

impl<'a> InFlight<'a> {
    fn new(progress: &'a Progress) -> Self {
        progress.started.fetch_add(1, Ordering::SeqCst);
        let now = progress.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        progress.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(progress)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Fetches every URL, at most `config.limit` at once, each under
/// `config.timeout`, hedged after `config.hedge_after`, the whole crawl under
/// `config.deadline`. `stop` (Ctrl-C) ends it early and gracefully: no new
/// request starts, and those in flight may finish within `config.grace`. A
/// stop request from an enclosing scope does the same. Every URL is
/// accounted for exactly once in the report.
pub async fn crawl(
    urls: &[Url],
    config: &Config,
    client: &Client,
    progress: &Progress,
    stop: impl Future<Output = ()>,
) -> Report {
    let start = Instant::now();
    let record = Record::new(urls.len());
    let record_ref = &record;

    // Connections live in their own scope, around the requests' scope, so
    // they outlive every request and end when the idle pool is dropped.
    let work = corral::scope(|conns| async move {
        let mut nursery = corral::Nursery::new().max_concurrency(config.limit);
        if let Some(threshold) = config.warn_slow_polls {
            nursery = nursery.warn_slow_polls(threshold);
        }
        if let Some(grace) = config.grace {
            nursery = nursery.grace(grace);
        }
        let stopper = std::sync::OnceLock::new();
        let stopper_ref = &stopper;
        let mut requests = pin!(nursery.scope(|s| async move {
            let _ = stopper_ref.set(s.stop_handle());
            for (i, url) in urls.iter().enumerate() {
                if s.is_stopping() {
                    break; // no new requests after a stop
                }
                let conns = conns.clone();
                s.spawn(async move {
                    visit(i, url, client, &conns, config, progress, record_ref).await;
                    Ok::<_, Failure>(())
                });
            }
            Ok(())
        }));
        // A stop lets the requests in flight finish (within the grace); the
        // scope future is kept, not dropped.
        let requests = match futures::future::select(requests.as_mut(), pin!(stop)).await {
            futures::future::Either::Left((done, _)) => done,
            futures::future::Either::Right(((), _)) => {
                if let Some(stopper) = stopper.get() {
                    stopper.stop();
                }
                requests.await
            }
        };
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
    record.into_report(progress, start, deadline_hit)
}

/// Where each URL's outcome, latency and hedge are written.
pub struct Record {
    outcomes: Vec<Mutex<Outcome>>,
    latencies: Mutex<hdrhistogram::Histogram<u64>>,
    hedged: AtomicUsize,
}

impl Record {
    pub fn new(urls: usize) -> Record {
        Record {
            outcomes: (0..urls).map(|_| Mutex::new(Outcome::Cancelled)).collect(),
            // Microseconds, from 1 µs to an hour, 3 significant digits.
            latencies: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram"),
            ),
            hedged: AtomicUsize::new(0),
        }
    }

    pub fn into_report(self, progress: &Progress, start: Instant, deadline_hit: bool) -> Report {
        Report {
            outcomes: self
                .outcomes
                .into_iter()
                .map(|o| o.into_inner().unwrap())
                .collect(),
            hedged: self.hedged.load(Ordering::SeqCst),
            latencies_us: self.latencies.into_inner().unwrap(),
            peak_in_flight: progress.peak_in_flight.load(Ordering::SeqCst),
            wall: start.elapsed(),
            deadline_hit,
        }
    }
}

/// Fetches URL number `i` and records how it ended: the work of one request,
/// whatever drives it.
pub async fn visit(
    i: usize,
    url: &Url,
    client: &Client,
    conns: &corral::Scope<'_, Failure>,
    config: &Config,
    progress: &Progress,
    record: &Record,
) {
    // Queued behind the limit when a stop came: never started.
    if corral::StopHandle::current().is_some_and(|s| s.is_stopping()) {
        return;
    }
    let _in_flight = InFlight::new(progress);
    let began = Instant::now();
    let outcome = match fetch(client, conns, url, config, &record.hedged).await {
        Ok(_) => {
            let us = began.elapsed().as_micros() as u64;
            record.latencies.lock().unwrap().saturating_record(us);
            Outcome::Ok
        }
        Err(Failure::TimedOut) => Outcome::TimedOut,
        Err(_) => Outcome::Failed,
    };
    *record.outcomes[i].lock().unwrap() = outcome;
    progress.done.fetch_add(1, Ordering::SeqCst);
}

/// One URL: a try, and (if it is still running after `hedge_after`) a second
/// try; the first success wins, happy-eyeballs style.
async fn fetch(
    client: &Client,
    conns: &corral::Scope<'_, Failure>,
    url: &Url,
    config: &Config,
    hedged: &AtomicUsize,
) -> Result<usize, Failure> {
    let attempt = |delay: Option<Duration>| async move {
        if let Some(delay) = delay {
            sleep(delay).await;
        }
        let got = timeout(config.timeout, client.get(conns, url)).await?;
        got.map(|len| (len, delay.is_some()))
    };
    let tries = match config.hedge_after {
        None => vec![attempt(None)],
        Some(after) => vec![attempt(None), attempt(Some(after))],
    };
    match corral::race_ok(tries).await {
        Ok((len, was_hedge)) => {
            if was_hedge {
                hedged.fetch_add(1, Ordering::SeqCst);
            }
            Ok(len)
        }
        Err(errors) => Err(errors
            .into_iter()
            .find(|e| matches!(e, Failure::TimedOut))
            .unwrap_or(Failure::Status(0))),
    }
}

/// Binds the embedded server on an ephemeral localhost port.
pub async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// The embedded server's URLs.
pub fn page_urls(addr: SocketAddr, pages: usize) -> Vec<Url> {
    (0..pages)
        .map(|i| Url {
            authority: addr.to_string(),
            path: format!("/page/{i}"),
        })
        .collect()
}

/// Reads `http://` URLs from `text`, one per line (blank lines and `#`
/// comments skipped). The first bad line is an error naming its number.
pub fn parse_url_list(text: &str) -> Result<Vec<Url>, String> {
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| Url::parse(line).map_err(|e| format!("line {n}: {e}")))
        .collect()
}
