//! The embedded HTTP/1.1 server (hyper on smol) that serves a [`Plan`]. Its
//! connection handlers are parallel children of one `corral::scope`:
//! dropping the server closes every connection, and a stop drains them (each
//! finishes the request in hand, then closes). It counts what it sees
//! ([`ServerStats`]), so that the tests can check the crawl's limits from the
//! server's side.

use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use corral::time::sleep;
use futures::future::{Either, select};
use futures::{AsyncRead, AsyncWrite};
use http_body_util::{Either as Either2, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use smol::net::{TcpListener, TcpStream};
use smol_hyper::rt::FuturesIo;

use super::client::Url;
use super::count_up;
use super::plan::{Page, Plan, mix};
use super::site::{Answer, BIG_BYTES, Site};

/// Binds the embedded server on an ephemeral localhost port.
pub async fn bind() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// The embedded server's URLs, `/page/0` .. `/page/{pages - 1}`, each made
/// when it is needed.
pub fn page_urls(addr: SocketAddr, pages: usize) -> impl Iterator<Item = Url> + Clone {
    (0..pages).map(move |i| Url {
        authority: addr.to_string(),
        host: addr.to_string(),
        path: format!("/page/{i}"),
    })
}

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
    /// Called as each request arrives, with its `Host` header and path: the
    /// tests read the virtual time there.
    pub on_request: std::sync::OnceLock<OnRequest>,
}

/// A hook the server calls as each request arrives: `(host, path)`.
pub type OnRequest = Box<dyn Fn(&str, &str) + Send + Sync>;

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
    serve_with(listener, plan, None, stats, runtime).await
}

/// [`serve`], and the generated `site` on every path that is not the plan's
/// (`/page/N`) nor `/healthz`.
pub async fn serve_with<S: corral::Spawn + Send + Sync + 'static>(
    listener: TcpListener,
    plan: Arc<Plan>,
    site: Option<Site>,
    stats: Arc<ServerStats>,
    runtime: S,
) {
    let runtime = &runtime;
    // The plan's slow and flaky pages count their requests one by one, the
    // site's in 4096 shared counters (a page shares its counter with a few
    // others: a flaky site page whose counter another page moved first
    // answers 200 at once).
    let counters = plan.pages.len() + if site.is_some() { SITE_HITS } else { 0 };
    let hits: Arc<Vec<AtomicU32>> = Arc::new((0..counters).map(|_| AtomicU32::new(0)).collect());
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
                    answer(
                        req,
                        plan.clone(),
                        site,
                        hits.clone(),
                        stats.clone(),
                        here.clone(),
                    )
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

/// A response body: a page in one piece, or `/big` in chunks.
type Body = Either2<Full<Bytes>, BigBody>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Either2::Left(Full::new(bytes.into()))
}

const SITE_HITS: usize = 4096;

async fn answer(
    req: Request<Incoming>,
    plan: Arc<Plan>,
    site: Option<Site>,
    hits: Arc<Vec<AtomicU32>>,
    stats: Arc<ServerStats>,
    here: Arc<AtomicUsize>,
) -> Result<Response<Body>, std::convert::Infallible> {
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path();
    if let Some(hook) = stats.on_request.get() {
        let host = req.headers().get(hyper::header::HOST);
        hook(host.and_then(|h| h.to_str().ok()).unwrap_or(""), path);
    }
    if path == "/healthz" {
        let stopping = corral::StopHandle::current().is_some_and(|s| s.is_stopping());
        let body = format!(
            "{{\"live_connections\":{},\"in_flight\":{},\"requests\":{},\"stopping\":{}}}",
            stats.live_connections.load(Ordering::SeqCst),
            stats.in_flight.load(Ordering::SeqCst),
            stats.requests.load(Ordering::SeqCst),
            stopping
        );
        return Ok(Response::new(full(body)));
    }
    let _answering = Answering::new(stats.clone(), here);
    let page = path
        .strip_prefix("/page/")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| plan.pages.get(n).map(|p| (n, *p)));
    let (counter, page, body) = match (page, site) {
        (Some((n, page)), _) => (n, page, full(format!("page {n}\n"))),
        (None, Some(site)) => {
            let host = req
                .headers()
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok());
            let host = site.host_of(host);
            let counter = plan.pages.len()
                + (mix(host as u64 ^ mix(path.len() as u64)) as usize
                    ^ path
                        .bytes()
                        .fold(0usize, |h, b| h.wrapping_mul(31) ^ b as usize))
                    % SITE_HITS;
            match site.answer(host, path) {
                Answer::Html { page, body } => (counter, page, full(body)),
                Answer::Redirect(to) => {
                    let mut response = status(StatusCode::FOUND);
                    response.headers_mut().insert(
                        hyper::header::LOCATION,
                        hyper::header::HeaderValue::from_static(to),
                    );
                    return Ok(response);
                }
                Answer::Big => {
                    return Ok(Response::new(Either2::Right(BigBody { left: BIG_BYTES })));
                }
                Answer::NotFound => return Ok(status(StatusCode::NOT_FOUND)),
            }
        }
        (None, None) => return Ok(status(StatusCode::NOT_FOUND)),
    };
    let delay = |ms| sleep(Duration::from_millis(ms));
    match page {
        Page::Ok { delay_ms } => delay(delay_ms).await,
        Page::Slow { slow_ms, delay_ms } => {
            let nth = hits[counter].fetch_add(1, Ordering::SeqCst);
            delay(if nth % 2 == 0 { slow_ms } else { delay_ms }).await;
        }
        Page::Error => return Ok(status(StatusCode::SERVICE_UNAVAILABLE)),
        Page::Flaky { fails } => {
            if hits[counter].fetch_add(1, Ordering::SeqCst) < fails {
                return Ok(status(StatusCode::SERVICE_UNAVAILABLE));
            }
        }
        Page::Hang => std::future::pending::<()>().await,
    }
    Ok(Response::new(body))
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// `/big`'s body: `left` more bytes of `x`, 64 kB at a time, none of it
/// held (every chunk is the same static slice).
pub struct BigBody {
    left: u64,
}

static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];

impl hyper::body::Body for BigBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK.len() as u64);
        self.left -= n;
        let chunk = Bytes::from_static(&CHUNK[..n as usize]);
        Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}
