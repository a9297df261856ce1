//! The crawl example's logic (`examples/crawl/crawl.rs`) against its embedded
//! server, with small numbers: every URL is accounted for exactly once, as the
//! server's seeded plan says; never more than `limit` requests in flight; the
//! deadline and a stop cut it short cleanly; a crawl dropped mid-way leaves no
//! request and no connection behind; a malformed URL file is a clear error;
//! the server answers `/healthz` and drains its connections when its
//! enclosing scope is stopped.
//! Each test runs with the crawl polled by smol and by the minimal executor.

#[macro_use]
mod support;

#[path = "../examples/crawl/crawl.rs"]
mod crawl;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crawl::{Client, Config, Outcome, Plan, Progress, Report, ServerStats};
use futures::future::{Either, select};

const PAGES: usize = 300;
const SEED: u64 = 7;

/// The server's handlers run on smol's executor (two threads), as parallel
/// children.
fn runtime() -> Arc<async_executor::Executor<'static>> {
    support::smol_executor().clone()
}

fn config(limit: usize) -> Config {
    Config {
        limit,
        timeout: Duration::from_millis(1_000),
        deadline: None,
        hedge_after: Some(Duration::from_millis(60)),
        warn_slow_polls: None,
        grace: Some(Duration::from_millis(50)),
    }
}

/// Runs `crawl` against a fresh embedded server with `PAGES` pages, for as
/// long as the crawl runs.
async fn with_server<'a, T>(
    crawl: impl FnOnce(Vec<crawl::Url>) -> std::pin::Pin<Box<dyn Future<Output = T> + 'a>>,
) -> (T, Arc<ServerStats>) {
    let (listener, addr) = crawl::bind().await.expect("bind");
    let stats = Arc::new(ServerStats::default());
    let plan = Arc::new(Plan::new(PAGES, SEED, false));
    let server = crawl::serve(listener, plan, stats.clone(), runtime());
    let work = crawl(crawl::page_urls(addr, PAGES));
    match select(pin!(work), pin!(server)).await {
        Either::Left((out, _)) => (out, stats),
        Either::Right(((), _)) => unreachable!("the server never ends"),
    }
}

async fn run(config: Config, stop: impl Future<Output = ()>) -> (Report, Client, Progress) {
    let client = Client::default();
    let progress = Progress::default();
    let (report, _) = {
        let (config, client, progress) = (&config, &client, &progress);
        with_server(|urls| {
            Box::pin(async move { crawl::crawl(&urls, config, client, progress, stop).await })
        })
        .await
    };
    (report, client, progress)
}

/// Every URL ends exactly once, as the seeded plan says it must.
async fn every_url_is_accounted_for_as_the_plan_says() {
    let (report, client, progress) = run(config(16), std::future::pending()).await;
    let (ok, slow, error, hang) = Plan::new(PAGES, SEED, false).counts();
    assert!(
        slow > 0 && error > 0 && hang > 0,
        "the plan exercises every path"
    );
    assert_eq!(report.outcomes.len(), PAGES);
    assert_eq!(
        report.count(Outcome::Ok),
        ok + slow,
        "slow pages are won by the hedge"
    );
    assert_eq!(report.count(Outcome::Failed), error);
    assert_eq!(report.count(Outcome::TimedOut), hang);
    assert_eq!(report.count(Outcome::Cancelled), 0);
    assert!(
        report.hedged >= slow,
        "every slow page needed its second try"
    );
    assert!(!report.deadline_hit);
    assert_eq!(progress.done.load(Ordering::SeqCst), PAGES);
    assert_eq!(
        client.open_connections.load(Ordering::SeqCst),
        0,
        "every connection closed"
    );
}

/// The limit holds: never more than `limit` requests in flight, and the
/// crawl does use its concurrency.
async fn never_more_than_limit_in_flight() {
    for limit in [1, 4, 32] {
        let mut cfg = config(limit);
        cfg.hedge_after = None;
        cfg.timeout = Duration::from_millis(100);
        let (report, _, _) = run(cfg, std::future::pending()).await;
        assert!(
            report.peak_in_flight <= limit,
            "{} in flight, limit {limit}",
            report.peak_in_flight
        );
        if limit > 1 {
            assert!(
                report.peak_in_flight > 1,
                "the crawl ran requests concurrently"
            );
        }
        assert_eq!(report.outcomes.len(), PAGES);
    }
}

/// The overall deadline cuts the crawl short: the rest are cancelled, every
/// URL is still accounted for, and nothing stays open.
async fn the_deadline_cancels_the_rest() {
    let mut cfg = config(4);
    cfg.deadline = Some(Duration::from_millis(150));
    let (report, client, progress) = run(cfg, std::future::pending()).await;
    assert!(report.deadline_hit);
    assert!(report.count(Outcome::Cancelled) > 0);
    assert_eq!(report.outcomes.len(), PAGES);
    assert_eq!(
        progress.in_flight.load(Ordering::SeqCst),
        0,
        "no request left running"
    );
    assert_eq!(
        client.open_connections.load(Ordering::SeqCst),
        0,
        "no connection left open"
    );
}

/// A stop (what Ctrl-C does) starts no new request; requests in flight get
/// the grace, then are dropped; it is not a deadline.
async fn a_stop_cancels_in_flight_requests() {
    let progress_seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = async {
        corral::time::sleep(Duration::from_millis(100)).await;
        progress_seen.store(true, Ordering::SeqCst);
    };
    let (report, client, progress) = run(config(8), stop).await;
    assert!(progress_seen.load(Ordering::SeqCst));
    assert!(!report.deadline_hit);
    assert!(report.count(Outcome::Cancelled) > 0);
    assert_eq!(progress.in_flight.load(Ordering::SeqCst), 0);
    assert_eq!(client.open_connections.load(Ordering::SeqCst), 0);
}

/// Without a grace limit, a stop lets every request in flight finish (each
/// is bounded by its timeout) and starts no new one.
async fn a_graceful_stop_lets_requests_in_flight_finish() {
    let stop = corral::time::sleep(Duration::from_millis(100));
    let config = Config {
        grace: None,
        ..config(8)
    };
    let (report, _client, progress) = run(config, stop).await;
    let started = progress.started.load(Ordering::SeqCst);
    let done = progress.done.load(Ordering::SeqCst);
    assert_eq!(started, done, "a request in flight was dropped");
    assert!(
        report.count(Outcome::Cancelled) > 0,
        "the stop started everything"
    );
    assert_eq!(report.count(Outcome::Cancelled), PAGES - done);
}

/// One raw HTTP/1.1 request on a fresh connection kept open afterwards: the
/// response's text, and the stream (a live keep-alive connection).
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (String, smol::net::TcpStream) {
    use futures::{AsyncReadExt, AsyncWriteExt};
    let mut stream = smol::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    while !text.contains('}') {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed the connection early: {text:?}");
        text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    (text, stream)
}

/// `/healthz` reports live connections and requests in flight; a stop of the
/// scope the server runs in makes it stop accepting, close its idle
/// keep-alive connections and return.
async fn the_server_reports_health_and_drains_on_a_stop() {
    let (listener, addr) = crawl::bind().await.expect("bind");
    let stats = Arc::new(ServerStats::default());
    let plan = Arc::new(Plan::new(PAGES, SEED, false));
    let stats2 = stats.clone();
    corral::Nursery::new()
        .grace(Duration::from_secs(30))
        .scope(|top| async move {
            let mut server = pin!(crawl::serve(listener, plan, stats2, runtime()));
            let probe = async {
                let (text, stream) = raw_get(addr, "/healthz").await;
                top.stop();
                (text, stream)
            };
            let (text, stream) = match select(pin!(probe), server.as_mut()).await {
                Either::Left((out, _)) => out,
                Either::Right(((), _)) => panic!("the server ended before the stop"),
            };
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert!(text.contains("\"live_connections\":1"), "{text}");
            assert!(text.contains("\"in_flight\":0"), "{text}");
            assert!(text.contains("\"stopping\":false"), "{text}");
            // The stop: the server returns once its idle connection is closed.
            server.await;
            drop(stream);
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
    assert_eq!(stats.live_connections.load(Ordering::SeqCst), 0);
    assert_eq!(stats.in_flight.load(Ordering::SeqCst), 0);
}

/// A crawl future dropped mid-way leaves no request and no connection.
async fn a_crawl_dropped_mid_way_leaves_nothing_behind() {
    let client = Client::default();
    let progress = Progress::default();
    let cfg = config(16);
    let (client, progress, cfg) = (&client, &progress, &cfg);
    let (_, stats) = with_server(|urls| {
        Box::pin(async move {
            let crawl = crawl::crawl(&urls, cfg, client, progress, std::future::pending());
            let mut crawl = Box::pin(crawl);
            // Run it until a few pages are done and connections are open...
            let wait = async {
                while progress.done.load(Ordering::SeqCst) < 20 {
                    corral::time::sleep(Duration::from_millis(2)).await;
                }
            };
            match select(crawl.as_mut(), pin!(wait)).await {
                Either::Left(_) => panic!("the crawl finished before it could be dropped"),
                Either::Right(_) => {}
            }
            assert!(client.open_connections.load(Ordering::SeqCst) > 0);
            assert!(progress.in_flight.load(Ordering::SeqCst) > 0);
            // ... then drop it: every request and connection goes with it.
            drop(crawl);
            assert_eq!(
                progress.in_flight.load(Ordering::SeqCst),
                0,
                "a request survived"
            );
            assert_eq!(
                client.open_connections.load(Ordering::SeqCst),
                0,
                "a connection survived"
            );
        })
    })
    .await;
    assert!(stats.requests.load(Ordering::SeqCst) >= 20);
}

on_both_executors!(
    every_url_is_accounted_for_as_the_plan_says,
    never_more_than_limit_in_flight,
    the_deadline_cancels_the_rest,
    a_stop_cancels_in_flight_requests,
    a_graceful_stop_lets_requests_in_flight_finish,
    the_server_reports_health_and_drains_on_a_stop,
    a_crawl_dropped_mid_way_leaves_nothing_behind,
);

/// A URL file with a bad line is refused with the line and the reason.
#[test]
fn a_malformed_url_file_is_a_clear_error() {
    let good = "# pages\nhttp://127.0.0.1:8080/a\n\nhttp://example.com\n";
    let urls = crawl::parse_url_list(good).unwrap();
    assert_eq!(urls.len(), 2);
    assert_eq!(urls[1].authority, "example.com:80");
    assert_eq!(urls[1].path, "/");
    for (text, why) in [
        (
            "http://ok/\nftp://x/y\n",
            "line 2: bad URL \"ftp://x/y\": only http:// URLs are supported",
        ),
        ("http:///path", "line 1: bad URL \"http:///path\": no host"),
        (
            "http://host:99999/",
            "line 1: bad URL \"http://host:99999/\": the port is not a number from 0 to 65535",
        ),
        (
            "http://host/a b",
            "line 1: bad URL \"http://host/a b\": whitespace in the path",
        ),
    ] {
        assert_eq!(crawl::parse_url_list(text).unwrap_err(), why);
    }
}
