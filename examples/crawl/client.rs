//! The client: keep-alive HTTP/1.1 connections (hyper), one pool per host.
//! Each request holds a [`Slot`] of the crawl from before its connection is
//! opened or taken until the server has let go of it too; each connection is
//! opened, driven and closed by a child of the crawl's connection scope, so
//! none outlives the crawl.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use corral::time::{Elapsed, timeout_at};
use futures::AsyncReadExt;
use futures::future::{Either, select};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use smol::net::TcpStream;
use smol_hyper::rt::FuturesIo;

use super::crawl::Slot;
use super::io::ReadyIo;

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
    /// them were second tries (hedges) and retries.
    pub requests_sent: AtomicUsize,
    pub hedges_sent: AtomicUsize,
    pub retries_sent: AtomicUsize,
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
            retries_sent: AtomicUsize::new(0),
        }
    }
}

/// Why one request failed: all the crawl needs to know to sort it into an
/// [`Outcome`](super::Outcome), and to decide whether to try it again
/// ([`is_transient`](Failure::is_transient)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The URL's `--timeout` passed: its whole budget, every try included.
    TimedOut,
    /// The server answered with this status, 400 or above.
    Status(u16),
    /// No answer: reset, closed.
    Io,
    /// The connection could not be opened: refused, no such host.
    Connect,
    /// The body was longer than the caller's limit (the connection is
    /// closed, not read to the end).
    TooBig,
    /// No request was sent: a stop came while a retry waited for its turn
    /// (`crawl::retried` turns it back into the failure before it).
    Stopped,
}

impl Failure {
    /// Worth another try, later: the server said it could not answer *now*
    /// (429 too many requests, 502 bad gateway, 503 unavailable, 504
    /// gateway timeout: gRPC's and the AWS SDKs' retryable answers), the
    /// connection could not be opened (refused: a server restarting), or it
    /// broke before the answer was in (a reset; a GET may be sent again).
    /// Not worth it: any other status (a 404 stays a 404), a body too big
    /// (it will be as big), and a timeout (the URL's `--timeout` is the
    /// budget of all its tries together: once it has passed, nothing is
    /// left for another).
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Status(status) => matches!(status, 429 | 502 | 503 | 504),
            Failure::Connect | Failure::Io => true,
            Failure::TimedOut | Failure::TooBig | Failure::Stopped => false,
        }
    }
}

/// Which try of a URL a request is: how the client counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The URL's first request (or a redirect's).
    First,
    /// A try sent again after a transient failure.
    Retry,
    /// A second try beside a slow one (`--hedge-after`).
    Hedge,
}

/// An answer, whatever its status.
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub body: Bytes,
    /// The `Location` header of a redirect (read by `spider.rs`, which
    /// `benches/crawl.rs` does not build).
    #[allow(dead_code)]
    pub location: Option<String>,
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
    /// failure. `attempt`: which try this is (counted as such once sent).
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
        attempt: Attempt,
    ) -> Result<usize, Failure> {
        let answered = self
            .fetch(conns, url, slot, until, attempt, usize::MAX)
            .await?;
        if answered.status >= 400 {
            return Err(Failure::Status(answered.status));
        }
        Ok(answered.body.len())
    }

    /// [`get`](Self::get), giving back the answer whatever its status, its
    /// body up to `max_body` bytes (a longer one is [`Failure::TooBig`]).
    pub async fn fetch(
        &self,
        conns: &corral::Scope<'_, Failure>,
        url: &Url,
        slot: Slot,
        until: Instant,
        attempt: Attempt,
        max_body: usize,
    ) -> Result<Answered, Failure> {
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
                .map_err(|_| Failure::Io)?;
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
                let kind = match attempt {
                    Attempt::First => None,
                    Attempt::Retry => Some(&self.retries_sent),
                    Attempt::Hedge => Some(&self.hedges_sent),
                };
                [Some(&self.requests_sent), kind].into_iter().flatten()
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
                    return Err(Failure::Io);
                }
            };
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            let body = http_body_util::Limited::new(response.into_body(), max_body)
                .collect()
                .await;
            let body = match body {
                Ok(body) => body.to_bytes(),
                Err(e) => {
                    let too_big = e.is::<http_body_util::LengthLimitError>();
                    // The rest of the body is not read: the connection is
                    // closed the way an abandoned request's is.
                    drop(abandon);
                    return Err(if too_big {
                        Failure::TooBig
                    } else {
                        Failure::Io
                    });
                }
            };
            let slot = abandon.disarm();
            // Only a connection whose exchange completed goes back for reuse,
            // before the slot is freed: whoever takes the slot next finds it.
            self.idle
                .lock()
                .unwrap()
                .entry(url.authority.clone())
                .or_default()
                .push(conn);
            drop(slot);
            return Ok(Answered {
                status,
                body,
                location,
            });
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
        conns.spawn_named("connection", async move {
            // Dropped last: `gone` closes once the count is down.
            let (_alive, gone) = smol::channel::bounded::<()>(1);
            let _open = open;
            let connected = async {
                let stream = TcpStream::connect(&authority)
                    .await
                    .map_err(|_| Failure::Connect)?;
                let (sender, connection) = hyper::client::conn::http1::handshake(FuturesIo::new(
                    ReadyIo::new(stream.clone()),
                ))
                .await
                .map_err(|_| Failure::Io)?;
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
            Err(_) => Err(Failure::Io),
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
    if super::now() < lease.until && stream.shutdown(std::net::Shutdown::Write).is_ok() {
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
