//! The crawl itself, shared by `examples/crawl/main.rs`, `tests/crawl.rs` and
//! `benches/crawl.rs`: an embedded HTTP/1.1 server with a seeded plan of slow,
//! failing and hung pages, a keep-alive HTTP/1.1 client, and the bounded,
//! deadline-guarded, hedged crawl that ties them together with corral.
#![allow(dead_code)] // each includer uses a different part

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral::time::{Elapsed, sleep, timeout, timeout_at};
use futures::future::{Either, select};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, FutureExt};
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
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// Connections open now, and the most ever open at once.
    pub live_connections: AtomicUsize,
    pub peak_live_connections: AtomicUsize,
    /// Page requests being answered now (not `/healthz`), and the most ever
    /// at once.
    pub in_flight: AtomicUsize,
    pub peak_in_flight: AtomicUsize,
    /// Requests received, `/healthz` included.
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
            let accepted = match select(pin!(listener.accept()), s.stopped()).await {
                Either::Left((accepted, _)) => accepted,
                // Stopping: the scope waits for the handlers to drain.
                Either::Right(((), _)) => return Ok(()),
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
                let io = Counted::new(stream, stats.clone());
                let here = io.in_flight_here.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    answer(req, plan.clone(), hits.clone(), stats.clone(), here.clone())
                });
                let mut conn = pin!(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(FuturesIo::new(io), service)
                );
                // A client that goes away mid-request is normal here: hyper
                // notices the end of its stream and ends the connection,
                // dropping the request's handler.
                match select(conn.as_mut(), stop.stopped()).await {
                    Either::Left(_) => {}
                    Either::Right(((), _)) => {
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

/// Adds one to `count` and raises `peak` to match.
fn count_up(count: &AtomicUsize, peak: &AtomicUsize) {
    let now = count.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(now, Ordering::SeqCst);
}

/// A server connection's stream, holding its place in the counts: the
/// connection and the requests it is still answering are taken off them
/// *before* the socket closes, so a client that waits for the close before
/// it starts another request never finds the server still counting the
/// old one.
struct Counted {
    stream: TcpStream,
    stats: Arc<ServerStats>,
    /// Requests on this connection being answered now.
    in_flight_here: Arc<AtomicUsize>,
    released: bool,
}

impl Counted {
    fn new(stream: TcpStream, stats: Arc<ServerStats>) -> Counted {
        count_up(&stats.live_connections, &stats.peak_live_connections);
        Counted {
            stream,
            stats,
            in_flight_here: Arc::new(AtomicUsize::new(0)),
            released: false,
        }
    }

    /// Takes the connection and its unanswered requests off the counts, once:
    /// before hyper shuts the stream down or it is dropped, whichever comes
    /// first (the client may see either as the end).
    fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            let abandoned = self.in_flight_here.swap(0, Ordering::SeqCst);
            self.stats.in_flight.fetch_sub(abandoned, Ordering::SeqCst);
            self.stats.live_connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // The stream closes after this, when the fields are dropped.
        self.release();
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.release();
        Pin::new(&mut self.stream).poll_close(cx)
    }
}

/// One page request being answered: counted from when its handler starts
/// until it returns the response, or until the connection closes under it
/// (whichever comes first; [`Counted`] may have taken it off already).
struct Answering {
    stats: Arc<ServerStats>,
    here: Arc<AtomicUsize>,
}

impl Answering {
    fn new(stats: Arc<ServerStats>, here: Arc<AtomicUsize>) -> Answering {
        here.fetch_add(1, Ordering::SeqCst);
        count_up(&stats.in_flight, &stats.peak_in_flight);
        Answering { stats, here }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mine = self
            .here
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if mine.is_ok() {
            self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

async fn answer(
    req: Request<Incoming>,
    plan: Arc<Plan>,
    hits: Arc<Vec<AtomicU32>>,
    stats: Arc<ServerStats>,
    here: Arc<AtomicUsize>,
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
    let _answering = Answering::new(stats.clone(), here);
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
    /// Where to connect, `host:port` (`[v6]:port` for an IPv6 host); also the
    /// key of the connection pool.
    pub authority: String,
    /// The `Host` header, as the URL spelled it.
    pub host: String,
    /// The path and query, at least `/`.
    pub path: String,
}

/// Why a URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUrl {
    pub url: String,
    pub why: String,
}

impl fmt::Display for BadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad URL {:?}: {}", self.url, self.why)
    }
}

impl std::error::Error for BadUrl {}

impl Url {
    /// Parses an `http://` URL with `http::Uri`, the type hyper sends, so
    /// what is accepted here is what goes on the wire. A fragment is dropped
    /// (it is never sent); user info is refused.
    pub fn parse(url: &str) -> Result<Url, BadUrl> {
        let bad = |why: &str| BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&format!("not a URL ({e})")))?;
        if !uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("http"))
        {
            return Err(bad("only http:// URLs are supported"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info (user@host) is not supported"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        // `Authority::port` quietly reads a port it cannot parse as none.
        let port = match &authority.as_str()[host.len()..] {
            "" => 80,
            text => text
                .strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| bad("the port is not a number from 0 to 65535"))?,
        };
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") => "/",
            Some(path) => path,
        };
        Ok(Url {
            authority: format!("{host}:{port}"),
            host: authority.as_str().to_string(),
            path: path.to_string(),
        })
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// A keep-alive connection: the way to send on it, the way to hand its
/// driver a request abandoned mid-way, and the way to see the driver end.
struct Conn {
    sender: Sender,
    abandon: smol::channel::Sender<Lease>,
    /// Closed (never sent on) when the driver ends.
    gone: smol::channel::Receiver<()>,
}

/// What a request abandoned mid-way (a hedge's loser, a timeout, a stop)
/// leaves to its connection's driver: its slot, to free once the server has
/// closed the connection (so the server, too, has let go of the request), and
/// the latest it may wait for that. An idle connection closed to make room
/// for another leaves no slot.
struct Lease {
    slot: Option<Slot>,
    until: Instant,
}

/// Idle keep-alive connections per host, and counts.
pub struct Client {
    idle: Mutex<HashMap<String, Vec<Conn>>>,
    /// Dropped by `close`: every connection driver then ends.
    closing: Mutex<Option<smol::channel::Sender<()>>>,
    closed: smol::channel::Receiver<()>,
    pub open_connections: Arc<AtomicUsize>,
    pub connections_made: Arc<AtomicUsize>,
    /// HTTP requests sent (a request never written to a stale pooled
    /// connection and sent again on another counts once), and how many of
    /// them were second tries.
    pub requests_sent: AtomicUsize,
    pub hedges_sent: AtomicUsize,
}

impl Default for Client {
    fn default() -> Self {
        let (closing, closed) = smol::channel::bounded(1);
        Client {
            idle: Mutex::new(HashMap::new()),
            closing: Mutex::new(Some(closing)),
            closed,
            open_connections: Arc::new(AtomicUsize::new(0)),
            connections_made: Arc::new(AtomicUsize::new(0)),
            requests_sent: AtomicUsize::new(0),
            hedges_sent: AtomicUsize::new(0),
        }
    }
}

/// Why one request failed.
#[derive(Debug)]
pub enum Failure {
    TimedOut,
    /// The server answered with this status (400 and above).
    Status(u16),
    /// No answer: refused, reset, closed.
    Io(String),
}

impl From<Elapsed> for Failure {
    fn from(_: Elapsed) -> Self {
        Failure::TimedOut
    }
}

/// Hands a request's slot to its connection's driver if the request is
/// dropped before its exchange completes.
struct Abandon {
    lease: Option<Lease>,
    to: smol::channel::Sender<Lease>,
}

impl Abandon {
    /// The exchange is over (answered, or the connection broke): the slot
    /// comes back to the caller.
    fn disarm(&mut self) -> Slot {
        let lease = self.lease.take().expect("disarmed once");
        lease.slot.expect("a request's lease holds its slot")
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            // A driver already gone drops the lease, and so the slot.
            let _ = self.to.try_send(lease);
        }
    }
}

impl Client {
    /// GETs `url` over an idle connection to its host, or a new one whose
    /// driver runs as a child of `conns`, holding `slot` until the exchange is
    /// over. Returns the body's length; a status of 400 or above is a
    /// failure. `hedge`: this is a second try (counted as such once sent).
    ///
    /// # Cancel safety
    ///
    /// Dropping it mid-way abandons the request: its connection (or the one
    /// being opened for it) is closed, and `slot` is freed once the server has
    /// closed its end too, or at `until`. So the slots bound what the server
    /// is working on and the connections open at once, not only what this
    /// side still waits for.
    pub async fn get(
        &self,
        conns: &corral::Scope<'_, Failure>,
        url: &Url,
        slot: Slot,
        until: Instant,
        hedge: bool,
    ) -> Result<usize, Failure> {
        let mut slot = slot;
        loop {
            let (mut conn, reused) = match self.take_idle(&url.authority) {
                Some(conn) => (conn, true),
                None => {
                    self.make_room(slot.limit, until).await;
                    let (conn, returned) = self.connect(conns, &url.authority, slot, until).await?;
                    slot = returned;
                    (conn, false)
                }
            };
            if reused && conn.sender.ready().await.is_err() {
                continue; // closed while idle
            }
            let request = Request::get(&url.path)
                .header(hyper::header::HOST, &url.host)
                .body(Empty::new())
                .map_err(|e| Failure::Io(e.to_string()))?;
            // From here until the exchange is over, dropping this future
            // hands the slot to the connection's driver.
            let mut abandon = Abandon {
                lease: Some(Lease {
                    slot: Some(slot),
                    until,
                }),
                to: conn.abandon.clone(),
            };
            let counters = || {
                let hedges = hedge.then_some(&self.hedges_sent);
                [Some(&self.requests_sent), hedges].into_iter().flatten()
            };
            counters().for_each(|n| _ = n.fetch_add(1, Ordering::SeqCst));
            let response = match conn.sender.try_send_request(request).await {
                Ok(response) => response,
                Err(mut e) => {
                    slot = abandon.disarm();
                    if reused && e.take_message().is_some() {
                        // Never written: the server had closed this
                        // keep-alive connection. Not a new request.
                        counters().for_each(|n| _ = n.fetch_sub(1, Ordering::SeqCst));
                        continue;
                    }
                    return Err(Failure::Io(e.into_error().to_string()));
                }
            };
            let code = response.status().as_u16();
            let body = response.into_body().collect().await;
            let slot = abandon.disarm();
            let body = body.map_err(|e| Failure::Io(e.to_string()))?.to_bytes();
            // Only a connection whose exchange completed goes back for reuse,
            // before the slot is freed: whoever takes the slot next finds it.
            self.idle
                .lock()
                .unwrap()
                .entry(url.authority.clone())
                .or_default()
                .push(conn);
            drop(slot);
            if code >= 400 {
                return Err(Failure::Status(code));
            }
            return Ok(body.len());
        }
    }

    /// Before a new connection is opened: while `limit` are open, closes an
    /// idle one (to another host: this host has none idle) the polite way,
    /// and waits until it is closed.
    async fn make_room(&self, limit: usize, until: Instant) {
        while self.open_connections.load(Ordering::SeqCst) >= limit {
            let idle = {
                let mut idle = self.idle.lock().unwrap();
                idle.values_mut().find_map(|list| list.pop())
            };
            let Some(conn) = idle else { return };
            let Conn { abandon, gone, .. } = conn; // its sender is dropped
            let _ = abandon.try_send(Lease { slot: None, until });
            let _ = gone.recv().await;
        }
    }

    fn take_idle(&self, authority: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.get_mut(authority)?;
        while let Some(conn) = list.pop() {
            if !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Opens a connection to `authority` for the holder of `slot`, and gives
    /// both back. The connection is opened, driven and closed by one child
    /// of `conns`, its driver: a caller that goes away while it is being
    /// opened leaves the slot with the driver, which closes the new
    /// connection as it would an abandoned request's.
    async fn connect(
        &self,
        conns: &corral::Scope<'_, Failure>,
        authority: &str,
        slot: Slot,
        until: Instant,
    ) -> Result<(Conn, Slot), Failure> {
        let (give, take) = smol::channel::bounded::<Result<Fresh, Failure>>(1);
        let closed = self.closed.clone();
        // Counted from now (no await since `make_room` looked), so that two
        // callers opening at once both count; uncounted when the driver ends,
        // or is dropped unstarted.
        let open = Open::new(&self.open_connections);
        let made = self.connections_made.clone();
        let authority = authority.to_string();
        // The driver is a child of the crawl: it cannot outlive it. It ends
        // when the connection's sender is dropped, when the client closes,
        // with the crawl, or once a request on it is abandoned mid-way.
        conns.spawn(async move {
            // Dropped last: `gone` closes once the count is down.
            let (_alive, gone) = smol::channel::bounded::<()>(1);
            let _open = open;
            let connected = async {
                let stream = TcpStream::connect(&authority)
                    .await
                    .map_err(|e| Failure::Io(format!("connect to {authority}: {e}")))?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(FuturesIo::new(stream.clone()))
                        .await
                        .map_err(|e| Failure::Io(e.to_string()))?;
                Ok((stream, sender, connection))
            };
            let (stream, sender, connection) =
                match select(pin!(timeout_at(until, connected)), pin!(closed.recv())).await {
                    Either::Left((Ok(Ok(parts)), _)) => parts,
                    Either::Left((Ok(Err(failure)), _)) => {
                        let _ = give.try_send(Err(failure));
                        return Ok(());
                    }
                    Either::Left((Err(_), _)) => {
                        let _ = give.try_send(Err(Failure::TimedOut));
                        return Ok(());
                    }
                    Either::Right(_) => return Ok(()),
                };
            made.fetch_add(1, Ordering::SeqCst);
            let (abandon, abandoned) = smol::channel::bounded::<Lease>(1);
            // A caller gone meanwhile never takes it: then `Fresh`'s drop
            // sends the slot back through `abandon`, to the wait below.
            let _ = give.try_send(Ok(Fresh {
                conn: Some(Conn {
                    sender,
                    abandon,
                    gone,
                }),
                lease: Some(Lease {
                    slot: Some(slot),
                    until,
                }),
            }));
            drop(give);
            let lease = {
                let abandoned = async {
                    match abandoned.recv().await {
                        Ok(lease) => lease,
                        // The connection went back to the pool and was
                        // dropped there: it ends on its own.
                        Err(_) => std::future::pending().await,
                    }
                };
                // An abandoned request is seen first: hyper may end the
                // connection in the same turn, and the slot must wait for
                // the close all the same.
                match select(
                    pin!(abandoned),
                    select(pin!(connection), pin!(closed.recv())),
                )
                .await
                {
                    Either::Left((lease, _)) => lease,
                    Either::Right(_) => return Ok(()),
                }
            }; // hyper's half of the stream is dropped here
            drain(stream, lease, &closed).await;
            Ok(())
        });
        match take.recv().await {
            Ok(Ok(mut fresh)) => {
                let conn = fresh.conn.take().expect("taken once");
                let lease = fresh.lease.take().expect("taken once");
                Ok((
                    conn,
                    lease
                        .slot
                        .expect("a fresh connection's lease holds its slot"),
                ))
            }
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::Io("the client closed".to_string())),
        }
    }

    /// Ends every connection: the idle ones, and the drivers of any left.
    pub fn close(&self) {
        self.idle.lock().unwrap().clear();
        self.closing.lock().unwrap().take();
    }
}

/// One connection in `Client::open_connections`, from the moment it is being
/// opened.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(count: &Arc<AtomicUsize>) -> Open {
        count.fetch_add(1, Ordering::SeqCst);
        Open(count.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection just opened, and the slot of the request it is for, on
/// their way from the driver to the caller. Dropped before the caller takes
/// them (it went away), it hands the slot back to the driver, which then
/// closes the connection the polite way.
struct Fresh {
    conn: Option<Conn>,
    lease: Option<Lease>,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let (Some(conn), Some(lease)) = (self.conn.take(), self.lease.take()) {
            let _ = conn.abandon.try_send(lease);
        }
    }
}

/// Closes the connection of an abandoned request: no more writes from us
/// (the server sees the end of its input), then whatever it still sends is
/// read and thrown away until it closes its end, or `lease.until` passes, or
/// the client closes. Only then is the request's slot freed.
async fn drain(mut stream: TcpStream, lease: Lease, closed: &smol::channel::Receiver<()>) {
    if Instant::now() < lease.until && stream.shutdown(std::net::Shutdown::Write).is_ok() {
        let read_to_end = async {
            let mut sink = [0u8; 4096];
            while let Ok(1..) = stream.read(&mut sink).await {}
        };
        let _ = select(
            pin!(timeout_at(lease.until, read_to_end)),
            pin!(closed.recv()),
        )
        .await;
    }
    drop(stream);
    drop(lease);
}

// ---------------------------------------------------------------------------
// The crawl
// ---------------------------------------------------------------------------

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

/// Room for one HTTP request in flight. Held until the request is over at
/// the server too: answered, or abandoned and its connection closed.
pub struct Slot {
    in_flight: Arc<AtomicUsize>,
    /// How many slots there are: the connections open at once, too.
    limit: usize,
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

/// What a crawl found.
#[derive(Debug)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
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
    pub fn count(&self, outcome: Outcome) -> usize {
        self.outcomes.iter().filter(|&&o| o == outcome).count()
    }
}

/// Fetches every URL, at most `config.limit` HTTP requests at once (hedges
/// included), each URL under `config.timeout`, a request still running after
/// `config.hedge_after` hedged, the whole crawl under `config.deadline`.
/// `stop` ends it early and gracefully: no new request starts, and those in
/// flight may finish within `config.grace`. A stop request from an enclosing
/// scope (Ctrl-C) does the same. Every URL is accounted for exactly once in
/// the report.
pub async fn crawl(
    urls: &[Url],
    config: &Config,
    client: &Client,
    progress: &Progress,
    stop: impl Future<Output = ()>,
) -> Report {
    let start = Instant::now();
    let record = Record::new(urls.len());
    let slots = Slots::new(config.limit);
    let (record_ref, slots_ref) = (&record, &slots);

    // Connections live in their own scope, around the requests' scope, so
    // they outlive every request and end when the idle pool is dropped.
    let work = corral::scope(|conns| async move {
        let mut nursery = corral::Nursery::new();
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
            for (i, url) in urls.iter().enumerate() {
                // Room for the URL's first try. No new request after a stop.
                let slot = match select(pin!(slots_ref.take(progress)), s.stopped()).await {
                    Either::Left((slot, _)) if !s.is_stopping() => slot,
                    _ => break,
                };
                let conns = conns_ref.clone();
                s.spawn(async move {
                    let job = Job {
                        client,
                        conns: &conns,
                        config,
                        slots: slots_ref,
                        progress,
                        record: record_ref,
                    };
                    job.visit(i, url, slot).await;
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
    record.into_report(progress, client, start, deadline_hit)
}

/// Where each URL's outcome and latency are written.
pub struct Record {
    outcomes: Vec<Mutex<Outcome>>,
    latencies: Mutex<hdrhistogram::Histogram<u64>>,
}

impl Record {
    pub fn new(urls: usize) -> Record {
        Record {
            outcomes: (0..urls).map(|_| Mutex::new(Outcome::NotStarted)).collect(),
            // Microseconds, from 1 µs to an hour, 3 significant digits.
            latencies: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram"),
            ),
        }
    }

    pub fn into_report(
        self,
        progress: &Progress,
        client: &Client,
        start: Instant,
        deadline_hit: bool,
    ) -> Report {
        Report {
            outcomes: self
                .outcomes
                .into_iter()
                .map(|o| o.into_inner().unwrap())
                .collect(),
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
    /// Fetches URL number `i` with `slot` for its first try and records how
    /// it ended: the work of one URL, whatever drives it.
    pub async fn visit(&self, i: usize, url: &Url, slot: Slot) {
        let progress = self.progress;
        progress.started.fetch_add(1, Ordering::SeqCst);
        // What the report says if this future is dropped unfinished.
        *self.record.outcomes[i].lock().unwrap() = Outcome::Dropped;
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
            Ok(Err(Failure::Status(_))) => {
                answered(self.record);
                Outcome::HttpError
            }
            Ok(Err(Failure::TimedOut)) | Err(_) => Outcome::TimedOut,
            Ok(Err(Failure::Io(_))) => Outcome::Failed,
        };
        *self.record.outcomes[i].lock().unwrap() = outcome;
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
            host: addr.to_string(),
            path: format!("/page/{i}"),
        })
        .collect()
}
