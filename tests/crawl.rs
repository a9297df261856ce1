//! The crawl example (`examples/crawl/`) against its embedded server, with
//! small numbers: every URL is accounted for exactly once, as the server's
//! seeded plan says; `limit` bounds the HTTP requests in flight and the
//! connections open, hedges included, counted by the server itself; a try
//! that fails is never sent again, and only a slow one is hedged, its loser
//! dropped; the deadline and a stop cut the crawl short cleanly; a crawl
//! dropped mid-way leaves no request and no connection behind. Then the
//! program around it: flags and URL files, the summary's numbers, the
//! progress bar, the exit status, and Ctrl-C (once and twice, with the
//! embedded server and with `--url-file`) sent as a real signal to the
//! program running in a child process.
//! Each crawl test runs with the crawl polled by smol and by the minimal
//! executor.

#[macro_use]
mod support;

#[cfg(unix)]
#[path = "support/crawl_child.rs"]
mod crawl_child;

// The crawl itself, as the example's `main.rs` includes it, and the program
// around it.
#[path = "../examples/crawl/lib.rs"]
mod crawler;

#[path = "../examples/crawl/spider.rs"]
mod spider;

#[path = "../examples/crawl/app.rs"]
mod app;
#[path = "../examples/crawl/args.rs"]
mod args;
#[path = "../examples/crawl/display.rs"]
mod display;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crawler::{
    Client, Config, Entry, Outcome, Page, Plan, Progress, Report, Retries, ServerStats, Url,
};
use futures::future::{Either, select};

const PAGES: usize = 300;
const SEED: u64 = 7;

/// Longer than any test runs: "never", for a hedge or a slow page.
const NEVER: Duration = Duration::from_secs(3_600);

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
        retries: Retries {
            max: 2,
            backoff: Duration::from_millis(10),
            jitter: false,
        },
        rate_per_host: None,
        warn_slow_polls: None,
        grace: Some(Duration::from_millis(50)),
    }
}

/// What a crawl left: its report, the client and progress it used, what
/// the server counted, and how many entries the crawl took from its list.
struct Run {
    report: Report,
    client: Client,
    progress: Progress,
    server: Arc<ServerStats>,
    pulled: usize,
}

/// Crawls `paths` (URL paths such as `/page/3`) on a fresh embedded server
/// serving `plan`, with `stop` as the crawl's stop signal. A path may start
/// with `//localhost`: then its URL names the server `localhost:port` (a
/// second host, with its own connection pool).
async fn crawl_plan(
    plan: Plan,
    paths: &[String],
    config: Config,
    stop: impl Future<Output = ()>,
) -> Run {
    let list = |addr: std::net::SocketAddr| {
        let urls: Vec<Url> = paths
            .iter()
            .map(|path| match path.strip_prefix("//localhost") {
                Some(path) => {
                    Url::parse(&format!("http://localhost:{}{path}", addr.port())).unwrap()
                }
                None => Url::parse(&format!("http://{addr}{path}")).unwrap(),
            })
            .collect();
        (crawler::listed(urls), paths.len())
    };
    crawl_list(plan, list, config, stop).await
}

/// Crawls the list that `list` makes for a fresh embedded server serving
/// `plan` (its entries, and their total), with `stop` as the crawl's stop
/// signal; checks that every URL is accounted for.
async fn crawl_list<S: futures::Stream<Item = Entry>>(
    plan: Plan,
    list: impl FnOnce(std::net::SocketAddr) -> (S, usize),
    config: Config,
    stop: impl Future<Output = ()>,
) -> Run {
    use futures::StreamExt;
    let (listener, addr) = crawler::bind().await.expect("bind");
    let server = Arc::new(ServerStats::default());
    let serving = crawler::serve(listener, Arc::new(plan), server.clone(), runtime());
    let (entries, total) = list(addr);
    let pulled = std::sync::atomic::AtomicUsize::new(0);
    let entries = entries.inspect(|_| {
        pulled.fetch_add(1, Ordering::SeqCst);
    });
    let (client, progress) = (Client::default(), Progress::default());
    let work = crawler::crawl(entries, total, &config, &client, &progress, stop);
    let report = match select(pin!(work), pin!(serving)).await {
        Either::Left((report, _)) => report,
        Either::Right(((), _)) => unreachable!("the server never ends"),
    };
    accounted(&report, &progress);
    Run {
        report,
        client,
        progress,
        server,
        pulled: pulled.into_inner(),
    }
}

/// Every URL is counted under exactly one outcome, and those that started
/// ended done or dropped.
fn accounted(report: &Report, progress: &Progress) {
    let counted: usize = Outcome::ALL.iter().map(|&o| report.count(o)).sum();
    assert_eq!(counted, report.total, "{report:?}");
    let started = progress.started.load(Ordering::SeqCst);
    let ended = started - report.count(Outcome::Dropped);
    assert_eq!(ended, progress.done.load(Ordering::SeqCst), "{report:?}");
    assert_eq!(
        report.count(Outcome::NotStarted),
        report.total - started - report.count(Outcome::Skipped),
        "{report:?}"
    );
}

/// The outcomes that some URL ended with, and how many did.
fn tally(report: &Report) -> Vec<(Outcome, usize)> {
    Outcome::ALL
        .iter()
        .map(|&o| (o, report.count(o)))
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// `/page/0` .. `/page/{n - 1}`.
fn pages(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/page/{i}")).collect()
}

/// How many pages of each kind `plan` has.
#[derive(Clone, Copy, Debug, Default)]
struct Kinds {
    ok: usize,
    slow: usize,
    error: usize,
    /// Flaky pages, and the 503s they answer before their 200.
    flaky: usize,
    flaky_fails: usize,
    hang: usize,
}

fn counts(plan: &Plan) -> Kinds {
    plan.pages.iter().fold(Kinds::default(), |mut k, p| {
        match p {
            Page::Ok { .. } => k.ok += 1,
            Page::Slow { .. } => k.slow += 1,
            Page::Error => k.error += 1,
            Page::Flaky { fails } => {
                k.flaky += 1;
                k.flaky_fails += *fails as usize;
            }
            Page::Hang => k.hang += 1,
        }
        k
    })
}

/// The seeded plan's `PAGES` pages.
async fn run(config: Config, stop: impl Future<Output = ()>) -> Run {
    crawl_plan(Plan::new(PAGES, SEED, false), &pages(PAGES), config, stop).await
}

/// Every URL ends exactly once, as the seeded plan says it must: a flaky
/// page is retried into an answer, a failing one retried to the end of its
/// retries and counted as the HTTP error it stays.
async fn every_url_is_accounted_for_as_the_plan_says() {
    // Slow first tries and hung requests hold a slot each; with fewer of them
    // than slots, a slow page's hedge always finds one.
    const LIMIT: usize = 32;
    let Kinds { slow, hang, .. } = counts(&Plan::new(PAGES, SEED, false));
    assert!(slow + hang < LIMIT, "{slow} slow and {hang} hung pages");
    let Run {
        report,
        client,
        progress,
        server,
        pulled,
    } = run(config(LIMIT), std::future::pending()).await;
    assert_eq!(pulled, PAGES, "the list was read once, to its end");
    let Kinds {
        ok,
        slow,
        error,
        flaky,
        flaky_fails,
        hang,
    } = counts(&Plan::new(PAGES, SEED, false));
    assert!(
        slow > 0 && error > 0 && flaky > 0 && hang > 0,
        "the plan exercises every path"
    );
    assert_eq!(report.total, PAGES);
    assert_eq!(
        report.count(Outcome::Ok),
        ok + slow + flaky,
        "slow pages are won by the hedge, flaky ones by a retry"
    );
    let retries = config(LIMIT).retries.max as usize;
    assert_eq!(
        report.retries_sent,
        flaky_fails + error * retries,
        "a flaky page is retried past its 503s, a failing one {retries} times"
    );
    assert_eq!(report.count(Outcome::HttpError), error);
    assert_eq!(report.count(Outcome::TimedOut), hang);
    assert_eq!(report.count(Outcome::Failed), 0);
    assert_eq!(report.count(Outcome::Dropped), 0);
    assert_eq!(report.count(Outcome::NotStarted), 0);
    assert_eq!(report.count(Outcome::Skipped), 0);
    assert!(
        report.hedges_won >= slow,
        "every slow page needed its second try"
    );
    assert_eq!(
        report.requests_sent,
        PAGES + report.retries_sent + report.hedges_sent
    );
    // A hedge dropped before hyper wrote it never reaches the server.
    let at_server = server.requests.load(Ordering::SeqCst);
    assert!((PAGES + report.retries_sent..=report.requests_sent).contains(&at_server));
    assert_eq!(
        report.latencies_us.len() as usize,
        ok + slow + flaky + error,
        "latency covers the answered URLs"
    );
    assert!(!report.deadline_hit);
    assert_eq!(progress.done.load(Ordering::SeqCst), PAGES);
    assert_eq!(
        client.open_connections.load(Ordering::SeqCst),
        0,
        "every connection closed"
    );
}

/// `limit` bounds the HTTP requests in flight and the connections open, first
/// tries and hedges together, to two hosts, as the server counts them; the
/// crawl does use its concurrency, and hedges do happen.
async fn the_limit_bounds_requests_and_connections_at_the_server_hedges_included() {
    for limit in [3, 8] {
        // No page hangs (a timed-out request's connection is closed at
        // once, and the server sees that a moment later); a slow page's first
        // try never answers, so only its hedge can win and the first try must
        // be dropped. Fewer slow pages than slots: a hedge always finds one.
        let mut plan = Plan::new(150, SEED, false);
        for page in plan.pages.iter_mut() {
            if matches!(page, Page::Slow { .. } | Page::Hang) {
                *page = Page::Ok { delay_ms: 1 };
            }
        }
        let slow = limit - 1;
        for i in 0..slow {
            plan.pages[10 + 20 * i] = Page::Slow {
                slow_ms: NEVER.as_millis() as u64,
                delay_ms: 1,
            };
        }
        let mut paths = pages(150);
        paths.extend((0..10).map(|i| format!("/missing/{i}")));
        // Every 4th URL on a second host: idle connections to one host make
        // room for new ones to the other.
        for path in paths.iter_mut().step_by(4) {
            *path = format!("//localhost{path}");
        }
        let mut cfg = config(limit);
        cfg.timeout = NEVER;
        cfg.hedge_after = Some(Duration::from_millis(20));
        let Run { report, server, .. } =
            crawl_plan(plan, &paths, cfg, std::future::pending()).await;
        let at_server = server.peak_in_flight.load(Ordering::SeqCst);
        let connections = server.peak_live_connections.load(Ordering::SeqCst);
        assert!(
            at_server <= limit,
            "{at_server} requests in flight at the server, limit {limit}"
        );
        assert!(
            connections <= limit,
            "{connections} connections open at the server, limit {limit}"
        );
        assert!(report.peak_in_flight <= limit);
        assert!(at_server > 1, "the crawl ran requests concurrently");
        assert!(
            report.hedges_won >= slow,
            "every slow page was won by its hedge"
        );
        assert_eq!(report.count(Outcome::TimedOut), 0);
        assert_eq!(
            report.count(Outcome::Ok) + report.count(Outcome::HttpError),
            paths.len()
        );
        assert_eq!(
            report.requests_sent,
            paths.len() + report.retries_sent + report.hedges_sent
        );
        let requests = server.requests.load(Ordering::SeqCst);
        let at_least = paths.len() + report.retries_sent;
        assert!((at_least..=report.requests_sent).contains(&requests));
        assert_eq!(
            server.in_flight.load(Ordering::SeqCst),
            0,
            "every dropped try ended at the server before the crawl did"
        );
    }
}

/// At `limit` 1 there is never room for a hedge: the slow request keeps its
/// only slot and times out, and no second request is sent.
async fn at_limit_one_no_hedge_is_sent() {
    let plan = Plan {
        pages: vec![Page::Slow {
            slow_ms: NEVER.as_millis() as u64,
            delay_ms: 0,
        }],
    };
    let mut cfg = config(1);
    cfg.timeout = Duration::from_millis(200);
    cfg.hedge_after = Some(Duration::from_millis(10));
    let Run { report, server, .. } = crawl_plan(plan, &pages(1), cfg, std::future::pending()).await;
    assert_eq!(report.total, 1);
    assert_eq!(tally(&report), [(Outcome::TimedOut, 1)]);
    assert_eq!(report.hedges_sent, 0);
    assert_eq!(report.requests_sent, 1);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

/// N URLs that answer 404 send exactly N requests: a try that fails is
/// never sent again. With a hedge delay of an hour the crawl still ends as
/// soon as the answers are in.
async fn failing_urls_are_sent_once_and_never_wait_for_the_hedge_delay() {
    const N: usize = 40;
    let paths: Vec<String> = (0..N).map(|i| format!("/missing/{i}")).collect();
    let mut cfg = config(4);
    cfg.hedge_after = Some(NEVER);
    cfg.timeout = NEVER;
    // A hang detector: the report says if it fired.
    cfg.deadline = Some(Duration::from_secs(30));
    let Run { report, server, .. } = crawl_plan(
        Plan::new(0, SEED, false),
        &paths,
        cfg,
        std::future::pending(),
    )
    .await;
    assert!(!report.deadline_hit, "the crawl waited for the hedge delay");
    assert_eq!(report.count(Outcome::HttpError), N);
    assert_eq!(server.requests.load(Ordering::SeqCst), N);
    assert_eq!(report.requests_sent, N);
    assert_eq!(report.hedges_sent, 0);
}

/// Every kind of failure (503, 404, refused, timed out) returns at once with
/// a huge hedge delay, and none is sent twice.
async fn no_kind_of_failure_is_hedged() {
    // A port nobody listens on: bound, then closed.
    let refused = {
        let (listener, addr) = crawler::bind().await.expect("bind");
        drop(listener);
        addr
    };
    let plan = Plan {
        pages: vec![Page::Error, Page::Hang],
    };
    let (listener, addr) = crawler::bind().await.expect("bind");
    let server = Arc::new(ServerStats::default());
    let serving = crawler::serve(listener, Arc::new(plan), server.clone(), runtime());
    let urls = [
        format!("http://{addr}/page/0"),
        format!("http://{addr}/page/1"),
        format!("http://{addr}/missing"),
        format!("http://{refused}/page/0"),
    ]
    .map(|u| Url::parse(&u).unwrap());
    let mut cfg = config(4);
    cfg.hedge_after = Some(NEVER);
    cfg.retries = Retries::NONE; // about hedging: each sent once
    cfg.timeout = Duration::from_millis(100);
    cfg.deadline = Some(Duration::from_secs(30));
    let (client, progress) = (Client::default(), Progress::default());
    let work = crawler::crawl(
        crawler::listed(urls),
        4,
        &cfg,
        &client,
        &progress,
        std::future::pending(),
    );
    let report = match select(pin!(work), pin!(serving)).await {
        Either::Left((report, _)) => report,
        Either::Right(((), _)) => unreachable!("the server never ends"),
    };
    assert!(!report.deadline_hit, "the crawl waited for the hedge delay");
    accounted(&report, &progress);
    assert_eq!(report.total, 4);
    assert_eq!(
        tally(&report),
        [
            (Outcome::HttpError, 2),
            (Outcome::TimedOut, 1),
            (Outcome::Failed, 1)
        ]
    );
    assert_eq!(report.hedges_sent, 0);
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
    assert_eq!(report.requests_sent, 3);
}

/// A first try still running after `hedge_after` gets a second try; the
/// second answers, wins, and the first is dropped: the server sees its
/// request end (its connection closed) before the crawl returns.
async fn a_slow_first_try_is_hedged_and_the_loser_dropped() {
    let plan = Plan {
        pages: vec![Page::Slow {
            slow_ms: NEVER.as_millis() as u64,
            delay_ms: 0,
        }],
    };
    let mut cfg = config(2);
    cfg.timeout = NEVER;
    cfg.hedge_after = Some(Duration::from_millis(20));
    cfg.deadline = Some(Duration::from_secs(30));
    let Run { report, server, .. } = crawl_plan(plan, &pages(1), cfg, std::future::pending()).await;
    assert!(!report.deadline_hit, "the loser was waited for");
    assert_eq!(report.total, 1);
    assert_eq!(tally(&report), [(Outcome::Ok, 1)]);
    assert_eq!((report.hedges_sent, report.hedges_won), (1, 1));
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        server.in_flight.load(Ordering::SeqCst),
        0,
        "the losing first try still runs at the server"
    );
}

/// The overall deadline cuts the crawl short: the rest are cancelled, every
/// URL is still accounted for, and nothing stays open.
async fn the_deadline_cancels_the_rest() {
    let mut cfg = config(4);
    cfg.deadline = Some(Duration::from_millis(150));
    let Run {
        report,
        client,
        progress,
        pulled,
        ..
    } = run(cfg, std::future::pending()).await;
    assert!(report.deadline_hit);
    assert!(report.count(Outcome::NotStarted) > 0);
    assert_eq!(report.total, PAGES);
    read_only_as_slots_free_up(pulled, &progress, 4);
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
    let Run {
        report,
        client,
        progress,
        pulled,
        ..
    } = run(config(8), stop).await;
    assert!(progress_seen.load(Ordering::SeqCst));
    assert!(!report.deadline_hit);
    assert!(report.count(Outcome::NotStarted) > 0);
    read_only_as_slots_free_up(pulled, &progress, 8);
    assert_eq!(progress.in_flight.load(Ordering::SeqCst), 0);
    assert_eq!(client.open_connections.load(Ordering::SeqCst), 0);
}

/// A crawl cut short read no more of its list than it started, less than a
/// slot for each of `limit` URLs spawned but not yet polled and one URL
/// waiting for a slot: the rest of the list was never read.
fn read_only_as_slots_free_up(pulled: usize, progress: &Progress, limit: usize) {
    let started = progress.started.load(Ordering::SeqCst);
    assert!(
        pulled <= started + limit + 1,
        "{pulled} entries read, {started} started"
    );
    assert!(pulled < PAGES, "the whole list was read");
}

/// Without a grace limit, a stop lets every request in flight finish (each
/// is bounded by its timeout) and starts no new one.
async fn a_graceful_stop_lets_requests_in_flight_finish() {
    let stop = corral::time::sleep(Duration::from_millis(100));
    let config = Config {
        grace: None,
        ..config(8)
    };
    let Run {
        report, progress, ..
    } = run(config, stop).await;
    let started = progress.started.load(Ordering::SeqCst);
    let done = progress.done.load(Ordering::SeqCst);
    assert_eq!(started, done, "a request in flight was dropped");
    assert_eq!(report.count(Outcome::Dropped), 0);
    assert!(
        report.count(Outcome::NotStarted) > 0,
        "the stop started everything"
    );
    assert_eq!(report.count(Outcome::NotStarted), PAGES - done);
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
    let (listener, addr) = crawler::bind().await.expect("bind");
    let stats = Arc::new(ServerStats::default());
    let plan = Arc::new(Plan::new(PAGES, SEED, false));
    let stats2 = stats.clone();
    corral::Nursery::new()
        .grace(Duration::from_secs(30))
        .scope(|top| async move {
            let mut server = pin!(crawler::serve(listener, plan, stats2, runtime()));
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
    let (listener, addr) = crawler::bind().await.expect("bind");
    let stats = Arc::new(ServerStats::default());
    let plan = Arc::new(Plan::new(PAGES, SEED, false));
    let serving = crawler::serve(listener, plan, stats.clone(), runtime());
    let client = Client::default();
    let progress = Progress::default();
    let cfg = config(16);
    let urls = crawler::listed(crawler::page_urls(addr, PAGES));
    let (client, progress, cfg) = (&client, &progress, &cfg);
    let test = async move {
        let crawl = crawler::crawl(urls, PAGES, cfg, client, progress, std::future::pending());
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
    };
    match select(pin!(test), pin!(serving)).await {
        Either::Left(((), _)) => {}
        Either::Right(((), _)) => unreachable!("the server never ends"),
    }
    assert!(stats.requests.load(Ordering::SeqCst) >= 20);
}

/// A URL file's first pass counts its URLs; its second yields them, one
/// entry per URL, as `parse_url_list` reads the same text; a bad line is an
/// error in the first pass, and an entry naming it in the second.
async fn a_url_file_is_counted_then_streamed() {
    use futures::StreamExt;
    let text = "\u{feff}# pages\r\n\
                http://127.0.0.1:8080/a   # the first\r\n\
                \n\
                http://[::1]:8080/x?q=1\n\
                \thttp://example.com\t#no path\n\
                HTTP://Example.com:81/Z";
    let path = url_file(text);
    let path = path.to_str().unwrap();
    assert_eq!(args::count_url_file(path), Ok(4));
    let urls: Vec<Entry> = args::url_file_entries(path.to_string()).collect().await;
    let expected: Vec<Entry> = args::parse_url_list(text)
        .unwrap()
        .into_iter()
        .map(Ok)
        .collect();
    assert_eq!(urls, expected);

    let bad = url_file("http://a/\n\nhttp://b/ c\nhttp://d/\n");
    let bad = bad.to_str().unwrap();
    let why = format!(
        "{bad}: line 3: one URL per line, but \"c\" follows \"http://b/\" \
         (a comment starts with \" #\")"
    );
    assert_eq!(args::count_url_file(bad), Err(why.clone()));
    let entries: Vec<Entry> = args::url_file_entries(bad.to_string()).collect().await;
    assert_eq!(
        entries,
        [
            Url::parse("http://a/").map_err(|e| e.to_string()),
            Err(why),
            Url::parse("http://d/").map_err(|e| e.to_string()),
        ]
    );

    let missing = std::env::temp_dir().join("corral-crawl-test-no-such-file.txt");
    let missing = missing.to_str().unwrap();
    let e = args::count_url_file(missing).unwrap_err();
    assert!(e.starts_with(&format!("cannot read {missing}: ")), "{e}");
}

/// A URL file that changes between the pass that counted it and the pass
/// the crawl reads: a line that is no longer a URL, each URL missing at the
/// end, and the rest of a file that can no longer be read are skipped,
/// counted and named, never sent; URLs past the count are not read. Every
/// URL of the count is accounted for, and none is fetched twice.
async fn a_url_file_changed_between_passes_is_still_accounted_for() {
    /// `text` with every `ADDR` replaced by `addr`.
    fn with_addr(text: &[u8], addr: std::net::SocketAddr) -> Vec<u8> {
        let addr = addr.to_string();
        let (mut out, mut rest) = (Vec::new(), text);
        while let Some(i) = rest.windows(4).position(|w| w == b"ADDR") {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(addr.as_bytes());
            rest = &rest[i + 4..];
        }
        out.extend_from_slice(rest);
        out
    }
    /// Crawls a URL file counted as `first` and read as `second` (`None`:
    /// removed), its `ADDR` the embedded server's.
    async fn changed(first: &str, second: Option<&[u8]>) -> Run {
        let plan = Plan {
            pages: vec![Page::Ok { delay_ms: 0 }; 8],
        };
        let list = |addr: std::net::SocketAddr| {
            let path = url_file("");
            std::fs::write(&path, with_addr(first.as_bytes(), addr)).unwrap();
            let total = args::count_url_file(path.to_str().unwrap()).unwrap();
            match second {
                Some(second) => std::fs::write(&path, with_addr(second, addr)).unwrap(),
                None => std::fs::remove_file(&path).unwrap(),
            }
            let entries = args::url_file_entries(path.to_str().unwrap().to_string());
            (entries, total)
        };
        crawl_list(plan, list, config(4), std::future::pending()).await
    }
    let six = "http://ADDR/page/0\nhttp://ADDR/page/1\nhttp://ADDR/page/2\n\
               http://ADDR/page/3\nhttp://ADDR/page/4\nhttp://ADDR/page/5\n";

    // Line 2 is no longer a URL, line 3 a comment, and the file now ends
    // after four entries: the bad line and the two missing at the end are
    // skipped.
    let shrunk =
        b"http://ADDR/page/0\nftp://ADDR/\n# gone\nhttp://ADDR/page/2\nhttp://ADDR/page/3\n";
    let Run {
        report,
        server,
        pulled,
        ..
    } = changed(six, Some(shrunk)).await;
    assert_eq!(report.total, 6);
    assert_eq!(tally(&report), [(Outcome::Ok, 3), (Outcome::Skipped, 3)]);
    let why = report.first_skipped.unwrap();
    assert!(
        why.contains(": line 2: bad URL \"ftp://")
            && why.ends_with("only http:// URLs are supported"),
        "{why}"
    );
    assert_eq!(pulled, 4);
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);

    // Grown: the URLs past the count are not read.
    let grown = format!("{six}http://ADDR/page/6\nhttp://ADDR/page/7\n");
    let Run {
        report,
        server,
        pulled,
        ..
    } = changed(six, Some(grown.as_bytes())).await;
    assert_eq!(tally(&report), [(Outcome::Ok, 6)]);
    assert_eq!(report.first_skipped, None);
    assert_eq!(pulled, 6);
    assert_eq!(server.requests.load(Ordering::SeqCst), 6);

    // No longer UTF-8 on line 2: the read fails there, and the rest of the
    // file is skipped.
    let garbled = b"http://ADDR/page/0\nhttp://ADDR/\xff\nhttp://ADDR/page/2\n";
    let Run { report, server, .. } = changed(six, Some(garbled)).await;
    assert_eq!(tally(&report), [(Outcome::Ok, 1), (Outcome::Skipped, 5)]);
    let why = report.first_skipped.unwrap();
    assert!(why.starts_with("cannot read "), "{why}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);

    // Removed: nothing is sent, and every URL is skipped.
    let Run { report, server, .. } = changed(six, None).await;
    assert_eq!(tally(&report), [(Outcome::Skipped, 6)]);
    let why = report.first_skipped.unwrap();
    assert!(why.starts_with("cannot read "), "{why}");
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}

on_both_executors!(
    a_url_file_is_counted_then_streamed,
    a_url_file_changed_between_passes_is_still_accounted_for,
    every_url_is_accounted_for_as_the_plan_says,
    the_limit_bounds_requests_and_connections_at_the_server_hedges_included,
    at_limit_one_no_hedge_is_sent,
    failing_urls_are_sent_once_and_never_wait_for_the_hedge_delay,
    no_kind_of_failure_is_hedged,
    a_slow_first_try_is_hedged_and_the_loser_dropped,
    the_deadline_cancels_the_rest,
    a_stop_cancels_in_flight_requests,
    a_graceful_stop_lets_requests_in_flight_finish,
    the_server_reports_health_and_drains_on_a_stop,
    a_crawl_dropped_mid_way_leaves_nothing_behind,
);

// ---------------------------------------------------------------------------
// Retries, hedges and rates on a virtual clock, to the millisecond
// ---------------------------------------------------------------------------

/// The crawl on a manual `VirtualClock` against the embedded server over
/// real sockets. The server runs off the clock (its timers are real) and
/// records the virtual time each request arrives at; the test's driver
/// (also off the clock: its waits are real) moves the clock one step at a
/// time. Before each step to `t` it moves to `t - 1 ms`, waits a little
/// and checks that the next request has *not* come; then it moves to `t`
/// and waits (real time, bounded) until it has. No timing is measured on
/// the real clock: the virtual clock stands still while requests travel,
/// so every arrival is recorded at exactly the step that released it.
mod clocked {
    use super::*;
    use corral::time::VirtualClock;
    use std::sync::Mutex;

    /// The requests the server saw: (host, path, virtual ms).
    type Arrivals = Arc<Mutex<Vec<(String, String, u64)>>>;

    /// The real time a driver waits for a request before it gives up, and
    /// the time it gives a request that must not come to show up anyway.
    const PATIENCE: Duration = Duration::from_secs(20);
    const QUIET: Duration = Duration::from_millis(30);

    pub struct Driver {
        clock: VirtualClock,
        start: std::time::Instant,
        arrivals: Arrivals,
        progress: Arc<Progress>,
    }

    impl Driver {
        fn seen(&self) -> usize {
            self.arrivals.lock().unwrap().len()
        }

        /// Waits (real time) until `n` requests have arrived in all.
        async fn until_seen(&self, n: usize) {
            let began = std::time::Instant::now();
            while self.seen() < n {
                assert!(
                    began.elapsed() < PATIENCE,
                    "request {n} never came: {:?}",
                    self.arrivals.lock().unwrap()
                );
                corral::time::sleep(Duration::from_millis(1)).await;
            }
        }

        /// Waits (real time) until the crawl has begun `n` backoffs in all:
        /// it has read the failures, and armed its retries' timers, at the
        /// time the clock shows now.
        pub async fn until_backoffs(&self, n: usize) {
            let began = std::time::Instant::now();
            while self.progress.backoffs.load(Ordering::SeqCst) < n {
                assert!(began.elapsed() < PATIENCE, "backoff {n} never began");
                corral::time::sleep(Duration::from_millis(1)).await;
            }
        }

        /// At 0 ms: waits for the first `n` requests.
        pub async fn first(&self, n: usize) {
            self.until_seen(n).await;
        }

        /// Moves the clock to `ms - 1`, checks that the requests seen stay
        /// as they are, moves to `ms`, waits until `n` have come in all.
        pub async fn step(&self, ms: u64, n: usize) {
            let before = self.seen();
            self.clock
                .advance_to(self.start + Duration::from_millis(ms - 1));
            corral::time::sleep(QUIET).await;
            assert_eq!(
                self.seen(),
                before,
                "a request came before {ms} ms: {:?}",
                self.arrivals.lock().unwrap()
            );
            self.clock
                .advance_to(self.start + Duration::from_millis(ms));
            self.until_seen(n).await;
        }

        /// Every request, sorted by time and path (those released by one
        /// step may come in any order).
        pub fn arrivals(&self) -> Vec<(String, u64)> {
            let mut seen: Vec<(String, u64)> = self
                .arrivals
                .lock()
                .unwrap()
                .iter()
                .map(|(host, path, ms)| {
                    let host = if host.starts_with("localhost") {
                        "//localhost"
                    } else {
                        ""
                    };
                    (format!("{host}{path}"), *ms)
                })
                .collect();
            seen.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            seen
        }
    }

    /// Crawls `paths` of `plan` on a manual virtual clock while `script`
    /// moves it; returns the report, the driver (what the server saw, when)
    /// and the virtual time the crawl ended at. The crawl must end once the
    /// script is done, without the clock moving on: a crawl that waits for
    /// more fails the test after `PATIENCE`.
    pub async fn on_the_clock<S: Future<Output = ()>>(
        plan: Plan,
        paths: &[&str],
        config: Config,
        script: impl FnOnce(Arc<Driver>) -> S,
    ) -> (Report, Arc<Driver>, Duration) {
        let (listener, addr) = crawler::bind().await.expect("bind");
        let server = Arc::new(ServerStats::default());
        let clock = VirtualClock::new();
        let driver = Arc::new(Driver {
            clock: clock.clone(),
            start: clock.now(),
            arrivals: Arc::default(),
            progress: Arc::default(),
        });
        let (on_clock, arrivals) = (clock.clone(), driver.arrivals.clone());
        let _ = server.on_request.set(Box::new(move |host, path| {
            let ms = on_clock.elapsed().as_millis() as u64;
            arrivals
                .lock()
                .unwrap()
                .push((host.to_string(), path.to_string(), ms));
        }));
        let serving = crawler::serve(listener, Arc::new(plan), server.clone(), runtime());
        let urls: Vec<Url> = paths
            .iter()
            .map(|path| match path.strip_prefix("//localhost") {
                Some(path) => Url::parse(&format!("http://localhost:{}{path}", addr.port())),
                None => Url::parse(&format!("http://{addr}{path}")),
            })
            .map(Result::unwrap)
            .collect();
        let (client, progress) = (Client::default(), driver.progress.clone());
        let work = crawler::crawl(
            crawler::listed(urls),
            paths.len(),
            &config,
            &client,
            &progress,
            std::future::pending(),
        );
        let ended = std::sync::atomic::AtomicBool::new(false);
        let crawled = async {
            let report = clock.run(work).await;
            ended.store(true, Ordering::SeqCst);
            report
        };
        let driven = async {
            script(driver.clone()).await;
            let began = std::time::Instant::now();
            while !ended.load(Ordering::SeqCst) {
                assert!(
                    began.elapsed() < PATIENCE,
                    "the crawl did not end at {:?}: {:?}",
                    clock.elapsed(),
                    driver.arrivals()
                );
                corral::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let both = futures::future::join(crawled, driven);
        let report = match select(pin!(both), pin!(serving)).await {
            Either::Left(((report, ()), _)) => report,
            Either::Right(((), _)) => unreachable!("the server never ends"),
        };
        accounted(&report, &progress);
        assert_eq!(report.requests_sent, server.requests.load(Ordering::SeqCst));
        (report, driver.clone(), clock.elapsed())
    }

    pub fn exact(retries: u32) -> Config {
        let mut cfg = config(8);
        cfg.timeout = Duration::from_secs(10);
        cfg.hedge_after = None;
        cfg.retries = Retries {
            max: retries,
            backoff: Duration::from_millis(100),
            jitter: false,
        };
        cfg
    }

    pub fn at(path: &str, ms: u64) -> (String, u64) {
        (path.to_string(), ms)
    }
}

/// Exact times for the retries and the hedge.
mod exact_times {
    use super::clocked::at;
    use super::*;

    /// A 503 is retried after 100, 200 and 400 ms (the 3rd retry starts at
    /// exactly 700 ms): a page flaky for 3 requests answers at the 4th, one
    /// that keeps failing ends as the HTTP error after its 3 retries, and a 404
    /// is never tried again.
    async fn a_503_is_retried_at_exact_backoffs_and_a_404_never() {
        let plan = Plan {
            pages: vec![Page::Flaky { fails: 3 }, Page::Error],
        };
        let paths = ["/page/0", "/page/1", "/missing"];
        let (report, driver, ended) =
            clocked::on_the_clock(plan, &paths, clocked::exact(3), |d| async move {
                d.first(3).await;
                d.until_backoffs(2).await;
                d.step(100, 5).await;
                d.until_backoffs(4).await;
                d.step(300, 7).await;
                d.until_backoffs(6).await;
                d.step(700, 9).await;
            })
            .await;
        let mut expected = vec![at("/missing", 0)];
        for ms in [0, 100, 300, 700] {
            expected.extend([at("/page/0", ms), at("/page/1", ms)]);
        }
        expected.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        assert_eq!(driver.arrivals(), expected);
        assert_eq!(ended, Duration::from_millis(700));
        assert_eq!(tally(&report), [(Outcome::Ok, 1), (Outcome::HttpError, 2)]);
        assert_eq!((report.requests_sent, report.retries_sent), (9, 6));
    }

    /// No retry starts past the URL's timeout: with 250 ms, the retry due at
    /// 300 ms is never started (nor slept for), and the URL ends at 100 ms as
    /// the HTTP error its last try got, not as a timeout.
    async fn no_retry_starts_past_the_urls_timeout() {
        let mut cfg = clocked::exact(5);
        cfg.timeout = Duration::from_millis(250);
        let plan = Plan {
            pages: vec![Page::Error],
        };
        let (report, driver, ended) =
            clocked::on_the_clock(plan, &["/page/0"], cfg, |d| async move {
                d.first(1).await;
                d.until_backoffs(1).await;
                d.step(100, 2).await;
            })
            .await;
        assert_eq!(driver.arrivals(), [at("/page/0", 0), at("/page/0", 100)]);
        assert_eq!(ended, Duration::from_millis(100), "the crawl waited on");
        assert_eq!(tally(&report), [(Outcome::HttpError, 1)]);
        assert_eq!(report.retries_sent, 1);
    }

    /// A try still running after `hedge_after` gets its hedge at exactly that
    /// time, not a millisecond before; the hedge answers and wins.
    async fn a_hedge_is_sent_at_exactly_hedge_after() {
        let mut cfg = clocked::exact(2);
        cfg.hedge_after = Some(Duration::from_millis(60));
        let plan = Plan {
            pages: vec![Page::Slow {
                slow_ms: NEVER.as_millis() as u64,
                delay_ms: 0,
            }],
        };
        let (report, driver, _) = clocked::on_the_clock(plan, &["/page/0"], cfg, |d| async move {
            d.first(1).await;
            d.step(60, 2).await;
        })
        .await;
        assert_eq!(driver.arrivals(), [at("/page/0", 0), at("/page/0", 60)]);
        assert_eq!(tally(&report), [(Outcome::Ok, 1)]);
        assert_eq!((report.hedges_sent, report.hedges_won), (1, 1));
        assert_eq!(report.retries_sent, 0);
    }

    on_both_executors!(
        a_503_is_retried_at_exact_backoffs_and_a_404_never,
        no_retry_starts_past_the_urls_timeout,
        a_hedge_is_sent_at_exactly_hedge_after,
    );
}

/// A rate per host on the same clock (a build with corral's `rate-limit`).
#[cfg(feature = "rate-limit")]
mod rate_per_host {
    use super::*;

    /// At 10 requests a second, one host's three URLs go out at exactly 0,
    /// 100 and 200 ms, while the other host's one goes out at 0 ms, not
    /// held up behind them (its own cell, and a slot the waits do not hold).
    async fn one_hosts_requests_are_spaced_and_another_host_is_not_held_up() {
        let mut cfg = clocked::exact(0);
        cfg.limit = 3; // the first tries hold 2 of them (0 ms) and one waits
        cfg.rate_per_host = Some(10);
        let plan = Plan {
            pages: vec![Page::Ok { delay_ms: 0 }; 4],
        };
        let paths = ["/page/0", "/page/1", "/page/2", "//localhost/page/3"];
        let (report, driver, ended) = clocked::on_the_clock(plan, &paths, cfg, |d| async move {
            d.first(2).await;
            d.step(100, 3).await;
            d.step(200, 4).await;
        })
        .await;
        let times = |other: bool| -> Vec<u64> {
            let seen = driver.arrivals().into_iter();
            seen.filter(|(path, _)| path.starts_with("//localhost") == other)
                .map(|(_, ms)| ms)
                .collect()
        };
        assert_eq!(times(false), [0, 100, 200], "{:?}", driver.arrivals());
        assert_eq!(times(true), [0], "{:?}", driver.arrivals());
        assert_eq!(ended, Duration::from_millis(200));
        assert_eq!(tally(&report), [(Outcome::Ok, 4)]);
    }

    on_both_executors!(one_hosts_requests_are_spaced_and_another_host_is_not_held_up);
}

// ---------------------------------------------------------------------------
// Flags and URL files
// ---------------------------------------------------------------------------

fn parse(args: &[&str]) -> Result<Option<args::Args>, String> {
    args::parse_args(args.iter().map(|s| s.to_string()))
}

/// Durations take the usual units, fractions and compounds, wherever a flag
/// takes one; `off` turns the optional ones off.
#[test]
fn durations_take_hours_fractions_and_compounds() {
    let a = parse(&[
        "--timeout",
        "1h",
        "--deadline",
        "1m 30s",
        "--hedge-after",
        "1.5s",
        "--grace",
        "off",
        "--stall",
        "250ms",
        "--warn-slow-polls",
        "2ms",
    ])
    .unwrap()
    .unwrap();
    assert_eq!(a.config.timeout, Duration::from_secs(3_600));
    assert_eq!(a.config.deadline, Some(Duration::from_secs(90)));
    assert_eq!(a.config.hedge_after, Some(Duration::from_millis(1_500)));
    assert_eq!(a.config.grace, None);
    assert_eq!(a.stall, Some(Duration::from_millis(250)));
    assert_eq!(a.config.warn_slow_polls, Some(Duration::from_millis(2)));
    assert_eq!(
        parse(&["--hedge-after", "off"])
            .unwrap()
            .unwrap()
            .config
            .hedge_after,
        None
    );
    for bad in ["5", "fast", "-1s", "1 parsec"] {
        let e = parse(&["--timeout", bad]).unwrap_err();
        assert!(e.starts_with("--timeout: "), "{e}");
        assert!(
            e.contains("is not a duration like 250ms, 1.5s, 2m or 1h"),
            "{e}"
        );
    }
    assert!(parse(&["--stall", "0s"]).unwrap_err().contains("above 0"));
}

/// The embedded server's flags with `--url-file` are an error naming them,
/// not silently ignored.
#[test]
fn server_flags_with_a_url_file_are_an_error() {
    assert!(parse(&["--url-file", "u.txt", "--limit", "3", "--json"]).is_ok());
    for (flags, named) in [
        (&["--urls", "10"][..], "--urls only applies to"),
        (&["--seed", "3"][..], "--seed only applies to"),
        (&["--no-delay"][..], "--no-delay only applies to"),
        (
            &["--seed", "3", "--no-delay"][..],
            "--seed, --no-delay only apply to",
        ),
    ] {
        let mut args = vec!["--url-file", "u.txt"];
        args.extend_from_slice(flags);
        let e = parse(&args).unwrap_err();
        assert!(e.starts_with(named), "{e}");
        assert!(e.contains("the embedded server"), "{e}");
        // In either order.
        let mut args = flags.to_vec();
        args.extend(["--url-file", "u.txt"]);
        assert_eq!(parse(&args).unwrap_err(), e);
    }
    // The program refuses them with the usage status.
    let args = ["--url-file", "u.txt", "--urls", "5"].map(String::from);
    assert_eq!(app::run(args.into_iter()), app::EXIT_USAGE);
}

/// A URL file may start with a byte-order mark and carry comments, whole
/// lines or trailing; IPv6 hosts and default ports work; `#` inside a URL is
/// its fragment, never sent.
#[test]
fn url_files_take_a_bom_comments_and_ipv6_hosts() {
    let text = "\u{feff}# pages\r\n\
                http://127.0.0.1:8080/a   # the first\r\n\
                \n\
                http://[::1]:8080/x?q=1\n\
                \thttp://example.com\t#no path\n\
                http://[fe80::1]/y#top\n\
                HTTP://Example.com:81/Z\n";
    let urls = args::parse_url_list(text).unwrap();
    let seen: Vec<_> = urls
        .iter()
        .map(|u| (u.authority.as_str(), u.host.as_str(), u.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("127.0.0.1:8080", "127.0.0.1:8080", "/a"),
            ("[::1]:8080", "[::1]:8080", "/x?q=1"),
            ("example.com:80", "example.com", "/"),
            ("[fe80::1]:80", "[fe80::1]", "/y"),
            ("Example.com:81", "Example.com:81", "/Z"),
        ]
    );
    // The IPv6 authority is what a socket address parses.
    use std::net::ToSocketAddrs;
    let addr = urls[1].authority.to_socket_addrs().unwrap().next().unwrap();
    assert_eq!(addr, "[::1]:8080".parse().unwrap());
}

/// A URL file with a bad line is refused with the line and the reason.
#[test]
fn a_malformed_url_file_is_a_clear_error() {
    for (text, why) in [
        (
            "http://ok/\nftp://x/y\n",
            "line 2: bad URL \"ftp://x/y\": only http:// URLs are supported",
        ),
        (
            "https://x/y",
            "line 1: bad URL \"https://x/y\": only http:// URLs are supported",
        ),
        (
            "http://host:99999/",
            "line 1: bad URL \"http://host:99999/\": the port is not a number from 0 to 65535",
        ),
        (
            "http://host:http/",
            "line 1: bad URL \"http://host:http/\": the port is not a number from 0 to 65535",
        ),
        (
            "http://me@host/",
            "line 1: bad URL \"http://me@host/\": user info (user@host) is not supported",
        ),
        (
            "http://host/a b",
            "line 1: one URL per line, but \"b\" follows \"http://host/a\" \
             (a comment starts with \" #\")",
        ),
    ] {
        assert_eq!(args::parse_url_list(text).unwrap_err(), why, "{text:?}");
    }
    for text in [
        "http:///path",
        "http://[::1/x",
        "http://ho\"st/",
        "http://h\u{e9}/",
    ] {
        let e = args::parse_url_list(text).unwrap_err();
        assert!(e.starts_with("line 1: bad URL"), "{text:?}: {e}");
    }
    // Comments only: nothing to crawl, which the program refuses.
    assert!(
        args::parse_url_list("\u{feff}# nothing\n  # here\n")
            .unwrap()
            .is_empty()
    );
    let empty = url_file("# nothing\n");
    let e = args::count_url_file(empty.to_str().unwrap()).unwrap_err();
    assert!(e.ends_with(": no URLs"), "{e}");
}

// ---------------------------------------------------------------------------
// What the program shows
// ---------------------------------------------------------------------------

/// Rates show the digits worth reading, never a long fraction.
#[test]
fn rates_show_a_sensible_number_of_digits() {
    let s = Duration::from_secs(1);
    assert_eq!(display::rate(2_345, s), "2345 requests/s");
    assert_eq!(
        display::rate(2_345, Duration::from_millis(333)),
        "7042 requests/s"
    );
    assert_eq!(display::rate(7, Duration::from_secs(3)), "2.3 requests/s");
    assert_eq!(display::rate(0, s), "0.0 requests/s");
    assert_eq!(display::rate(5, Duration::ZERO), "- requests/s");
    assert_eq!(app::plural(1, "URL"), "1 URL");
    assert_eq!(app::plural(2, "URL"), "2 URLs");
}

/// A terminal, as far as the progress bar uses one: rows of text and a
/// cursor that `\r` and `\n` move and `ESC [2K` erases the row under. The
/// bar's other sequences (autowrap off and on) leave the text as it is.
#[derive(Debug, Clone, Default)]
struct Screen(Arc<std::sync::Mutex<Cursor>>);

#[derive(Debug, Default)]
struct Cursor {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
}

impl Screen {
    /// The rows with text on them.
    fn text(&self) -> Vec<String> {
        let screen = self.0.lock().unwrap();
        screen
            .rows
            .iter()
            .map(|row| row.iter().collect::<String>().trim_end().to_string())
            .filter(|row| !row.is_empty())
            .collect()
    }
}

impl Cursor {
    fn current_row(&mut self) -> &mut Vec<char> {
        if self.rows.len() <= self.row {
            self.rows.resize(self.row + 1, Vec::new());
        }
        &mut self.rows[self.row]
    }
}

impl std::io::Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(buf).expect("the display writes whole UTF-8 strings");
        let mut c = self.0.lock().unwrap();
        let mut chars = text.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '\r' => c.col = 0,
                '\n' => (c.row, c.col) = (c.row + 1, 0),
                '\x1b' => {
                    // A control sequence: `[`, its parameters, a final letter.
                    let mut sequence = String::new();
                    for ch in chars.by_ref() {
                        sequence.push(ch);
                        if ch.is_ascii_alphabetic() {
                            break;
                        }
                    }
                    if sequence == "[2K" {
                        c.current_row().clear();
                    }
                }
                ch => {
                    let col = c.col;
                    let row = c.current_row();
                    row.resize(row.len().max(col + 1), ' ');
                    row[col] = ch;
                    c.col += 1;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bar shows URLs done, requests in flight and a readable rate; what is
/// said meanwhile goes above it; once the crawl ends (a Ctrl-C included) no
/// line of the bar is left behind.
#[test]
fn the_progress_bar_leaves_no_line_behind() {
    let screen = Screen::default();
    let display = display::Display::on(Box::new(screen.clone()), 10);
    let (progress, client) = (Progress::default(), Client::default());
    progress.done.store(4, Ordering::SeqCst);
    progress.in_flight.store(3, Ordering::SeqCst);
    client.requests_sent.store(6, Ordering::SeqCst);
    display.update(&progress, &client, std::time::Instant::now());
    display.say("crawl: Ctrl-C: stopping");
    let text = screen.text();
    assert_eq!(text[0], "crawl: Ctrl-C: stopping");
    assert_eq!(text.len(), 2, "one bar, below the said line: {text:?}");
    let bar = "#".repeat(16) + &"-".repeat(24) + " 4/10 URLs, 3 in flight, ";
    assert!(text[1].starts_with(&bar), "the bar is drawn: {text:?}");
    assert!(
        text[1].contains(", eta "),
        "a fixed total has an ETA: {text:?}"
    );
    display.finish();
    assert_eq!(screen.text(), ["crawl: Ctrl-C: stopping"]);
}

/// Following links the total is the URLs started so far: the bar draws with
/// it, from nothing at all, and shows no ETA for a total that grows.
#[test]
fn a_growing_total_draws_without_an_eta() {
    let screen = Screen::default();
    let display = display::Display::on(Box::new(screen.clone()), 0);
    let (progress, client) = (Progress::default(), Client::default());
    let started = std::time::Instant::now();
    display.update(&progress, &client, started);
    let text = screen.text();
    assert_eq!(text.len(), 1, "{text:?}");
    let empty = "-".repeat(40) + " 0/0 URLs, 0 in flight, ";
    assert!(text[0].starts_with(&empty), "{text:?}");
    progress.started.store(5, Ordering::SeqCst);
    progress.done.store(2, Ordering::SeqCst);
    progress.in_flight.store(3, Ordering::SeqCst);
    display.update(&progress, &client, started);
    let text = screen.text();
    assert_eq!(text.len(), 1, "redrawn in place: {text:?}");
    let grown = "#".repeat(16) + &"-".repeat(24) + " 2/5 URLs, 3 in flight, ";
    assert!(text[0].starts_with(&grown), "{text:?}");
    assert!(!text[0].contains("eta"), "{text:?}");
    display.finish();
    assert!(screen.text().is_empty(), "{:?}", screen.text());
}

/// A crawl in which every URL failed exits with status 1; one with any
/// success, with 0.
#[test]
fn a_crawl_where_every_url_failed_exits_non_zero() {
    support::watchdog(|| {
        let (listener, addr) = smol::block_on(crawler::bind()).expect("bind");
        let plan = Arc::new(Plan {
            pages: vec![Page::Ok { delay_ms: 0 }],
        });
        support::smol_executor()
            .spawn(crawler::serve(
                listener,
                plan,
                Arc::new(ServerStats::default()),
                runtime(),
            ))
            .detach();
        let failing = url_file(&format!(
            "http://{addr}/missing/1\nhttp://{addr}/missing/2\n"
        ));
        let mixed = url_file(&format!("http://{addr}/page/0\nhttp://{addr}/missing/1\n"));
        let crawl_file = |file: &std::path::Path| {
            let args = [
                "--url-file",
                file.to_str().unwrap(),
                "--stall",
                "off",
                "--json",
            ];
            app::run(args.map(String::from).into_iter())
        };
        assert_eq!(crawl_file(&failing), app::EXIT_ALL_FAILED);
        assert_eq!(crawl_file(&mixed), app::EXIT_OK);
    })
}

/// A fresh file holding `text`, removed at the end of the test binary's run
/// by nobody: it lives in the temp directory under a unique name.
fn url_file(text: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "corral-crawl-test-{}-{}.txt",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, text).expect("write the URL file");
    path
}

// ---------------------------------------------------------------------------
// Ctrl-C, sent as SIGINT to the program in a child process
// ---------------------------------------------------------------------------

/// Not a test: the program's entry point when this binary runs as a child
/// crawl (see `support/crawl_child.rs`); without the child's variable it
/// does nothing. Ignored so it runs only when asked for by name.
#[cfg(unix)]
#[test]
#[ignore = "the child process's entry point, run by the Ctrl-C tests"]
fn crawl_child_process() {
    crawl_child::run_if_child(|args| app::run(args.into_iter()));
}

/// `--trace` (feature `tracing`): each fetch is printed under the span of
/// its URL's visit, which the worker was spawned in and ran in: the span
/// followed the child (issue 16). In a child process, as the printer is the
/// process's global subscriber.
#[cfg(all(unix, feature = "tracing"))]
#[test]
fn trace_prints_each_fetch_under_its_visit_span() {
    support::watchdog(|| {
        let args = ["--max-pages", "5", "--stall", "off", "--json", "--trace"];
        let child = crawl_child::spawn("crawl_child_process", &args);
        let ended = child.wait();
        assert_eq!(ended.code, Some(0), "{}", ended.stderr);
        let traced: Vec<&str> = ended
            .stderr
            .lines()
            .filter(|l| l.starts_with("visit{"))
            .collect();
        assert_eq!(traced.len(), 5, "one event a URL: {}", ended.stderr);
        let seed = "visit{url=http://a.test/ depth=0}: fetched status=200";
        assert!(
            traced.iter().any(|l| l.starts_with(seed)),
            "{}",
            ended.stderr
        );
        assert!(
            traced
                .iter()
                .all(|l| l.contains(" depth=") && l.contains("}: ")),
            "{}",
            ended.stderr
        );
    });
}

#[cfg(unix)]
mod ctrl_c {
    use super::*;

    const ENTRY: &str = "crawl_child_process";

    /// A seed whose plan's first page hangs: a request that stays in flight.
    fn seed_with_a_hung_first_page() -> u64 {
        (0..)
            .find(|&seed| Plan::new(1, seed, false).pages[0] == Page::Hang)
            .unwrap()
    }

    /// The embedded server's address, from the line that says it started.
    fn address_in(line: &str) -> std::net::SocketAddr {
        let rest = &line[line.find("http://").expect("an address") + 7..];
        rest[..rest.find('/').unwrap()].parse().unwrap()
    }

    /// Waits until the server at `addr` is answering a page request.
    fn until_a_request_is_in_flight(addr: std::net::SocketAddr) {
        smol::block_on(async {
            loop {
                let (text, _) = raw_get(addr, "/healthz").await;
                if text.contains("\"in_flight\":1") {
                    return;
                }
                corral::time::sleep(Duration::from_millis(5)).await;
            }
        })
    }

    /// A server of one hung page, for `--url-file` crawls: its URL file, and
    /// its counts.
    fn hung_server() -> (std::path::PathBuf, Arc<ServerStats>) {
        let (listener, addr) = smol::block_on(crawler::bind()).expect("bind");
        let stats = Arc::new(ServerStats::default());
        let plan = Arc::new(Plan {
            pages: vec![Page::Hang],
        });
        support::smol_executor()
            .spawn(crawler::serve(listener, plan, stats.clone(), runtime()))
            .detach();
        let file = url_file(&format!(
            "\u{feff}# one page that never answers\nhttp://{addr}/page/0  # hangs\n"
        ));
        (file, stats)
    }

    fn until_in_flight(stats: &ServerStats) {
        while stats.in_flight.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts a crawl of one hung page; returns once its request is in
    /// flight.
    fn start(mode: &str, grace: &str) -> (crawl_child::Crawl, Option<Arc<ServerStats>>) {
        let common = [
            "--timeout",
            "1h",
            "--hedge-after",
            "off",
            "--stall",
            "off",
            "--json",
            "--grace",
            grace,
        ];
        if mode == "embedded" {
            let seed = seed_with_a_hung_first_page().to_string();
            let mut args = vec!["--urls", "1", "--seed", &seed];
            args.extend(common);
            let mut child = crawl_child::spawn(ENTRY, &args);
            let started = child.wait_for("on the embedded server at");
            until_a_request_is_in_flight(address_in(&started));
            (child, None)
        } else {
            let (file, stats) = hung_server();
            let mut args = vec!["--url-file", file.to_str().unwrap()];
            args.extend(common);
            let mut child = crawl_child::spawn(ENTRY, &args);
            child.wait_for("1 URL from");
            until_in_flight(&stats);
            (child, Some(stats))
        }
    }

    /// One Ctrl-C: no new request; the request in flight gets the grace,
    /// then is dropped; the summary is printed and the status is 130. The
    /// server (embedded or not) sees the request end.
    fn one_ctrl_c(mode: &str) {
        support::watchdog(|| {
            let (mut child, stats) = start(mode, "50ms");
            child.interrupt();
            child.wait_for("crawl: Ctrl-C: stopping; no new requests; the 1 request in flight");
            let ended = child.wait();
            assert_eq!(ended.code, Some(130), "{}", ended.stderr);
            let json = ended.json();
            assert!(json.contains("\"dropped\":1"), "{json}");
            assert!(json.contains("\"interrupts\":1"), "{json}");
            assert!(
                ended.stderr.contains(
                    "crawl: stopped by Ctrl-C: requests in flight were given the --grace \
                     of 50ms (1 URL dropped in flight, 0 never started)"
                ),
                "{}",
                ended.stderr
            );
            if let Some(stats) = stats {
                // The child's exit closed its connection: the server's
                // handler ends (a moment later).
                until_nothing_in_flight(&stats);
            }
        })
    }

    fn until_nothing_in_flight(stats: &ServerStats) {
        while stats.in_flight.load(Ordering::SeqCst) != 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Two Ctrl-Cs: with no grace limit the first waits for the hung request
    /// however long; the second drops it at once, and the closing line says
    /// so.
    fn two_ctrl_cs(mode: &str) {
        support::watchdog(|| {
            let (mut child, _stats) = start(mode, "off");
            child.interrupt();
            child.wait_for("crawl: Ctrl-C: stopping");
            assert!(child.running(), "no grace limit: the first Ctrl-C waits");
            child.interrupt();
            child.wait_for("crawl: second Ctrl-C: dropping what is still in flight");
            let ended = child.wait();
            assert_eq!(ended.code, Some(130), "{}", ended.stderr);
            let json = ended.json();
            assert!(json.contains("\"dropped\":1"), "{json}");
            assert!(json.contains("\"interrupts\":2"), "{json}");
            assert!(
                ended.stderr.contains(
                    "crawl: stopped by a second Ctrl-C: what was still in flight was dropped \
                     at once, without the rest of the grace (1 URL dropped in flight, \
                     0 never started)"
                ),
                "{}",
                ended.stderr
            );
        })
    }

    /// The link-following crawl of a two-page site whose second page hangs:
    /// Ctrl-C (once, or twice without a grace limit) cancels it, and the
    /// summary counts it.
    fn ctrl_c_following_links(twice: bool) {
        support::watchdog(|| {
            let seed = (0..)
                .find(|&seed| {
                    let site = crawler::Site {
                        seed,
                        pages: 2,
                        hosts: 1,
                        no_delay: false,
                    };
                    site.page(0, 1) == Page::Hang
                })
                .unwrap()
                .to_string();
            let grace = if twice { "off" } else { "50ms" };
            let args = [
                "--pages",
                "2",
                "--hosts",
                "1",
                "--seed",
                &seed,
                "--max-depth",
                "1",
                "--timeout",
                "1h",
                "--stall",
                "off",
                "--json",
                "--grace",
                grace,
            ];
            let mut child = crawl_child::spawn(ENTRY, &args);
            let started = child.wait_for("following links on the embedded server at");
            until_a_request_is_in_flight(address_in(&started));
            child.interrupt();
            child.wait_for("crawl: Ctrl-C: stopping");
            if twice {
                assert!(child.running(), "no grace limit: the first Ctrl-C waits");
                child.interrupt();
                child.wait_for("crawl: second Ctrl-C: dropping what is still in flight");
            }
            let ended = child.wait();
            assert_eq!(ended.code, Some(130), "{}", ended.stderr);
            let json = ended.json();
            assert!(json.contains("\"cancelled\":1,"), "{json}");
            // The workers' scope statistics: the one in flight was dropped.
            assert!(json.contains("\"workers\":{\"spawned\":"), "{json}");
            assert!(json.contains("\"dropped\":1,"), "{json}");
            let interrupts = if twice { 2 } else { 1 };
            assert!(
                json.contains(&format!("\"interrupts\":{interrupts}")),
                "{json}"
            );
            assert!(
                ended
                    .stderr
                    .contains("(1 URL cancelled in flight, 0 never started)"),
                "{}",
                ended.stderr
            );
        })
    }

    #[test]
    fn one_ctrl_c_following_links() {
        ctrl_c_following_links(false);
    }

    #[test]
    fn two_ctrl_cs_following_links() {
        ctrl_c_following_links(true);
    }

    #[test]
    fn one_ctrl_c_with_the_embedded_server() {
        one_ctrl_c("embedded");
    }

    #[test]
    fn one_ctrl_c_with_a_url_file() {
        one_ctrl_c("url-file");
    }

    #[test]
    fn two_ctrl_cs_with_the_embedded_server() {
        two_ctrl_cs("embedded");
    }

    #[test]
    fn two_ctrl_cs_with_a_url_file() {
        two_ctrl_cs("url-file");
    }
}

// ---------------------------------------------------------------------------
// The link-following crawl over the generated site
// ---------------------------------------------------------------------------

mod links {
    use super::*;
    use crawler::Site;
    use spider::{SpiderConfig, SpiderReport};

    /// A small site answering at once: no hung or slow pages, 1 in 33
    /// failing.
    fn site(pages: u64, hosts: usize) -> Site {
        Site {
            seed: SEED,
            pages,
            hosts,
            no_delay: true,
        }
    }

    fn config() -> SpiderConfig {
        SpiderConfig {
            limit: 8,
            per_host: 8,
            timeout: Duration::from_secs(5),
            grace: Some(Duration::from_millis(50)),
            retries: Retries {
                max: 2,
                backoff: Duration::from_millis(10),
                jitter: false,
            },
            ..SpiderConfig::default()
        }
    }

    /// Crawls `site` on a fresh embedded server (every host connects to it),
    /// from `seeds` (paths on `a.test`, or whole URLs) or its root.
    async fn crawl_site(
        site: Site,
        seeds: &[&str],
        mut config: SpiderConfig,
        stop: impl Future<Output = ()>,
    ) -> (SpiderReport, Arc<ServerStats>) {
        let (listener, addr) = crawler::bind().await.expect("bind");
        let stats = Arc::new(ServerStats::default());
        let serving = crawler::serve_with(
            listener,
            Arc::new(Plan { pages: Vec::new() }),
            Some(site),
            stats.clone(),
            runtime(),
        );
        config.connect_to = Some(addr.to_string());
        config.seeds = if seeds.is_empty() {
            vec!["http://a.test/".to_string()]
        } else {
            seeds
                .iter()
                .map(|s| match s.strip_prefix('/') {
                    Some(path) => format!("http://a.test/{path}"),
                    None => s.to_string(),
                })
                .collect()
        };
        let (client, progress) = (Client::default(), Progress::default());
        let work = spider::spider(&config, &client, &progress, stop);
        let report = match select(pin!(work), pin!(serving)).await {
            Either::Left((report, _)) => report,
            Either::Right(((), _)) => unreachable!("the server never ends"),
        };
        (report, stats)
    }

    /// Every URL accepted ends in exactly one count.
    fn accounted(report: &SpiderReport) {
        let ended = report.fetched
            + report.connect_errors
            + report.io_errors
            + report.timed_out
            + report.too_big
            + report.redirect_loops
            + report.redirect_elsewhere
            + report.cancelled
            + report.not_started;
        assert_eq!(ended, report.discovered, "{report:#?}");
    }

    /// The whole site of one host, each page fetched once: what the server
    /// saw is one request per URL and per redirect followed; links to other
    /// hosts, mailto: and javascript: ones are counted and not followed;
    /// duplicates and cycles are fetched once.
    async fn the_site_is_crawled_each_url_once() {
        let site = site(300, 3);
        let (report, stats) = crawl_site(site, &[], config(), std::future::pending()).await;
        accounted(&report);
        assert_eq!((report.cancelled, report.not_started), (0, 0));
        let requests = stats.requests.load(Ordering::SeqCst) as u64;
        assert_eq!(
            requests,
            report.discovered + report.redirects - report.redirect_loops + report.retries,
            "{report:#?}"
        );
        // The root links to every special page; the pages chain to each
        // other, so most are found (a failing page's links are not read).
        assert!(report.discovered > 150, "{report:#?}");
        // 300 pages, /loop/a, /big, /broken.html and its broken link.
        assert!(report.discovered <= 300 + 4, "{report:#?}");
        assert!(report.by_status[&200] > 150, "{report:#?}");
        assert!(report.by_status.contains_key(&503), "{report:#?}");
        assert!(report.duplicates > report.discovered, "{report:#?}");
        assert!(report.not_http > 0 && report.off_host > 0, "{report:#?}");
        assert_eq!(report.too_big, 1, "/big is above the default --max-body");
        assert_eq!(report.redirect_loops, 1, "{report:#?}");
        assert!(report.depth_reached > 1, "{report:#?}");
    }

    /// `--any-host` follows links to the other hosts too: more URLs, none
    /// off the host.
    async fn any_host_follows_other_hosts() {
        let mut any = config();
        any.any_host = true;
        let (one, _) = crawl_site(site(100, 3), &[], config(), std::future::pending()).await;
        let (all, _) = crawl_site(site(100, 3), &[], any, std::future::pending()).await;
        accounted(&all);
        assert_eq!(all.off_host, 0, "{all:#?}");
        assert!(all.discovered > one.discovered, "{one:#?}\n{all:#?}");
    }

    /// `--max-pages` and `--max-depth` bound what is fetched; `--max-pages
    /// 0` fetches nothing and counts the seed.
    async fn max_pages_and_max_depth_bound_the_crawl() {
        let mut capped = config();
        capped.max_pages = 10;
        let (report, stats) = crawl_site(site(300, 1), &[], capped, std::future::pending()).await;
        accounted(&report);
        assert_eq!(report.discovered, 10);
        assert!(report.beyond_max_pages > 0);
        assert!(
            stats.requests.load(Ordering::SeqCst) as u64 <= 10 + report.redirects + report.retries
        );

        let mut none = config();
        none.max_pages = 0;
        let (report, stats) = crawl_site(site(300, 1), &[], none, std::future::pending()).await;
        assert_eq!((report.discovered, report.fetched), (0, 0));
        assert_eq!(report.beyond_max_pages, 1);
        assert_eq!(stats.requests.load(Ordering::SeqCst), 0);

        let mut shallow = config();
        shallow.max_depth = 1;
        let (report, _) = crawl_site(site(300, 1), &[], shallow, std::future::pending()).await;
        accounted(&report);
        assert_eq!(report.depth_reached, 1);
        assert!(report.beyond_depth > 0);
        assert!(report.discovered < 30, "{report:#?}");
    }

    /// At most `per_host` requests to one host at once, at the server.
    async fn per_host_bounds_requests_at_the_server() {
        let mut config = config();
        config.limit = 16;
        config.per_host = 2;
        let (report, stats) = crawl_site(site(200, 1), &[], config, std::future::pending()).await;
        accounted(&report);
        let peak = stats.peak_in_flight.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
    }

    /// A frontier of 4 URLs in memory spills the rest to its file, and
    /// loses none.
    async fn a_full_frontier_spills_to_a_file() {
        let mut small = config();
        small.queue = 4;
        let (spilled, stats) = crawl_site(site(300, 1), &[], small, std::future::pending()).await;
        let (whole, _) = crawl_site(site(300, 1), &[], config(), std::future::pending()).await;
        accounted(&spilled);
        assert!(spilled.spilled > 0, "{spilled:#?}");
        assert_eq!(spilled.discovered, whole.discovered);
        assert_eq!(spilled.by_status, whole.by_status);
        assert_eq!(
            stats.requests.load(Ordering::SeqCst) as u64,
            spilled.discovered + spilled.redirects - spilled.redirect_loops + spilled.retries
        );
    }

    /// Bad input: each with its own count, never a panic or a hang.
    async fn seeds_that_are_not_http_are_counted() {
        let seeds = [
            "ftp://a.test/",
            "mailto:x@a.test",
            "not a url",
            "https://a.test/",
        ];
        let (report, stats) =
            crawl_site(site(10, 1), &seeds, config(), std::future::pending()).await;
        assert_eq!(report.not_http, 4, "{report:#?}");
        assert_eq!(report.discovered, 0);
        assert_eq!(stats.requests.load(Ordering::SeqCst), 0);
    }

    async fn an_unreachable_seed_is_a_connect_error() {
        let (listener, addr) = crawler::bind().await.expect("bind");
        drop(listener); // nobody listens there now
        let mut config = config();
        config.seeds = vec![format!("http://{addr}/")];
        let (client, progress) = (Client::default(), Progress::default());
        let report = spider::spider(&config, &client, &progress, std::future::pending()).await;
        accounted(&report);
        assert_eq!(
            (report.discovered, report.connect_errors),
            (1, 1),
            "{report:#?}"
        );
    }

    async fn a_redirect_loop_is_counted_once() {
        let (report, stats) =
            crawl_site(site(10, 1), &["/loop/a"], config(), std::future::pending()).await;
        accounted(&report);
        assert_eq!(
            (report.redirect_loops, report.redirects),
            (1, 2),
            "{report:#?}"
        );
        assert_eq!(stats.requests.load(Ordering::SeqCst), 2);
    }

    async fn a_body_over_max_body_is_too_big() {
        let mut small = config();
        small.max_body = 1 << 20;
        let (report, _) = crawl_site(site(10, 1), &["/big"], small, std::future::pending()).await;
        accounted(&report);
        assert_eq!((report.too_big, report.fetched), (1, 0), "{report:#?}");
        let mut large = config();
        large.max_body = 64 << 20;
        let (report, _) = crawl_site(site(10, 1), &["/big"], large, std::future::pending()).await;
        assert_eq!((report.too_big, report.fetched), (0, 1), "{report:#?}");
        assert_eq!(report.bytes, crawler::BIG_BYTES);
    }

    /// Seeds from a file, read a batch at a time: comments and blank lines
    /// skipped, bad lines counted, every good one crawled once.
    async fn seeds_from_a_file_are_streamed() {
        let text: String = std::iter::once("\u{feff}# seeds\n\nftp://a.test/x\n".to_string())
            .chain(
                (1..=40).map(|i| format!("http://a.test{}  # page {i}\n", crawler::page_path(i))),
            )
            .chain(std::iter::once("http://a.test/d0/p1.html\n".to_string()))
            .collect();
        let mut config = config();
        config.seed_file = Some(url_file(&text));
        config.max_depth = 0;
        config.queue = 8; // five batches
        let (report, stats) = crawl_site(
            site(100, 1),
            &["/d0/p3.html"],
            config,
            std::future::pending(),
        )
        .await;
        accounted(&report);
        assert_eq!(report.discovered, 40, "{report:#?}");
        assert_eq!((report.not_http, report.duplicates), (1, 2), "{report:#?}");
        assert_eq!(
            stats.requests.load(Ordering::SeqCst) as u64,
            40 + report.retries
        );
    }

    /// Broken HTML is read as browsers would: the link after an unclosed
    /// `<b>` is found, the one inside a `<div` tag that never closes is not
    /// (it is an attribute there), the one whose quote runs on is a 404.
    async fn broken_html_still_yields_its_links() {
        let mut config = config();
        config.max_depth = 1;
        let (report, _) = crawl_site(
            site(10, 1),
            &["/broken.html"],
            config,
            std::future::pending(),
        )
        .await;
        accounted(&report);
        assert_eq!(report.by_status[&200], 2, "{report:#?}");
        assert_eq!(report.by_status[&404], 1, "{report:#?}");
    }

    /// A stop ends the crawl: no new URL, the ones in flight dropped after
    /// the grace; every URL still counted once.
    async fn a_stop_ends_the_link_crawl() {
        let slow = Site {
            no_delay: false,
            ..site(5_000, 1)
        };
        let stop = corral::time::sleep(Duration::from_millis(100));
        let (report, _) = crawl_site(slow, &[], config(), stop).await;
        accounted(&report);
        assert!(report.fetched < report.discovered, "{report:#?}");
    }

    /// The deadline cuts the crawl short.
    async fn the_deadline_ends_the_link_crawl() {
        let slow = Site {
            no_delay: false,
            ..site(5_000, 1)
        };
        let mut config = config();
        config.deadline = Some(Duration::from_millis(100));
        let (report, _) = crawl_site(slow, &[], config, std::future::pending()).await;
        assert!(report.deadline_hit, "{report:#?}");
        assert!(report.fetched < report.discovered, "{report:#?}");
    }

    on_both_executors!(
        the_site_is_crawled_each_url_once,
        any_host_follows_other_hosts,
        max_pages_and_max_depth_bound_the_crawl,
        per_host_bounds_requests_at_the_server,
        a_full_frontier_spills_to_a_file,
        seeds_that_are_not_http_are_counted,
        an_unreachable_seed_is_a_connect_error,
        a_redirect_loop_is_counted_once,
        a_body_over_max_body_is_too_big,
        broken_html_still_yields_its_links,
        seeds_from_a_file_are_streamed,
        a_stop_ends_the_link_crawl,
        the_deadline_ends_the_link_crawl,
    );

    /// Links are read by the tokenizer from any HTML, and resolved against
    /// their page: `..`, `./`, fragments dropped, odd schemes kept apart.
    #[test]
    fn links_are_extracted_and_resolved() {
        let html = b"<a href='../d0/p3.html#x'>a</a><A HREF=\"./p9.html\">b<area href=/d1/p70.html>\
            <a href='mailto:x@a.test'><a href='javascript:void(0)'><a name=x><a href=\"../../../up\"";
        let links = spider::links_in(html);
        assert_eq!(
            links,
            [
                "../d0/p3.html#x",
                "./p9.html",
                "/d1/p70.html",
                "mailto:x@a.test",
                "javascript:void(0)"
            ]
        );
        let base = url::Url::parse("http://a.test/d1/p70.html").unwrap();
        let resolved: Vec<String> = links
            .iter()
            .map(|l| base.join(l).unwrap().to_string())
            .collect();
        assert_eq!(resolved[0], "http://a.test/d0/p3.html#x");
        assert_eq!(resolved[1], "http://a.test/d1/p9.html");
        assert_eq!(
            base.join("../../../up").unwrap().as_str(),
            "http://a.test/up"
        );
        assert_eq!(url::Url::parse(&resolved[3]).unwrap().scheme(), "mailto");
        // Without an IDNA backend (Cargo.toml's `idna_adapter ~1.0`), a link
        // to a Unicode host does not resolve (it is counted with the links
        // that are not http); its punycode form does.
        assert!(base.join("http://b\u{fc}cher.test/").is_err());
        assert!(base.join("http://xn--bcher-kva.test/").is_ok());
        // Broken HTML never panics, and tag soup still gives its links.
        assert!(spider::links_in(b"<a href=\"unterminated <<<>>> <!-- <a").is_empty());
        assert!(spider::links_in(&[0xff, 0xfe, b'<', b'a']).is_empty());
    }

    /// The seen set holds each fingerprint once, through its growth.
    #[test]
    fn the_seen_set_keeps_each_fingerprint_once() {
        let mut seen = spider::Seen::default();
        for i in 0..100_000u64 {
            assert!(seen.insert(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        for i in 0..100_000u64 {
            assert!(!seen.insert(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
        // 0 is stored as 1: they are the same fingerprint.
        let mut seen = spider::Seen::default();
        assert!(seen.insert(0));
        assert!(!seen.insert(1));
    }

    /// The site is the same on every run, and its pages parse back to their
    /// numbers; `--write-site` writes the same pages.
    #[test]
    fn the_site_is_reproducible_and_written_as_served() {
        let a = site(1_000, 3);
        for i in [0, 1, 63, 64, 999] {
            assert_eq!(a.render(1, i), site(1_000, 3).render(1, i));
            assert_eq!(a.page_number(&crawler::page_path(i)), Some(i));
        }
        assert_eq!(a.page_number("/d0/p1000.html"), None);
        assert_eq!(a.page_number("/d1/p3.html"), None);
        assert_eq!(a.host_of(Some("b.test:8088")), 1);
        let dir = std::env::temp_dir().join(format!("corral-crawl-site-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = crawler::write_site(&site(100, 2), &dir, "127.0.0.1:8088").unwrap();
        assert_eq!(written, 200);
        let page = std::fs::read_to_string(dir.join("b.test/d1/p70.html")).unwrap();
        assert_eq!(page, site(100, 2).render(1, 70));
        let urls = std::fs::read_to_string(dir.join("urls.txt")).unwrap();
        assert_eq!(urls.lines().count(), 200);
        assert!(
            std::fs::read_to_string(dir.join("nginx.conf"))
                .unwrap()
                .contains("server_name b.test;")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The program: `--max-pages 0` and seeds that are not http end with a
    /// clear status.
    #[test]
    fn the_program_reports_bad_seeds_and_no_pages() {
        support::watchdog(|| {
            let run = |args: &[&str]| app::run(args.iter().map(|s| s.to_string()));
            assert_eq!(
                run(&["--max-pages", "0", "--stall", "off", "--json"]),
                app::EXIT_OK
            );
            assert_eq!(
                run(&["--seed-url", "ftp://a.test/", "--stall", "off", "--json"]),
                app::EXIT_ALL_FAILED
            );
            assert_eq!(
                run(&["--pages", "50", "--no-delay", "--stall", "off", "--json"]),
                app::EXIT_OK
            );
        })
    }
}
