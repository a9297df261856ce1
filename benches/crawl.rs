//! The crawl example's client against its embedded server with no injected
//! latency (`--no-delay`), driven two ways in the same run:
//!
//! - `corral`: `crawler::crawl`, a scope whose body spawns each URL as a child
//!   once one of 64 slots is free, each under a timeout (hedging off);
//! - `semaphore_futures_unordered`: the same per-URL code (`Job::visit`:
//!   `Client::get` under a timeout, plus the same bookkeeping), driven by a
//!   plain loop: every URL in a `FuturesUnordered`, each waiting for one of
//!   the same 64 slots (`crawler::Slots`, a `corral::Semaphore`) the crawl
//!   uses.
//!
//! So the difference is what corral's structure costs per request. Criterion
//! reports requests per second.
//!
//! Run it with:
//!
//! ```text
//! cargo bench -p corral-bench --bench crawl
//! ```

#[path = "../examples/crawl/lib.rs"]
mod crawler;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crawler::{
    Client, Config, HostRate, Job, Outcome, Page, Plan, Progress, Record, Report, Retries,
    ServerStats, Slots, Url,
};

const PAGES: usize = 2_000;
const LIMIT: usize = 64;

fn config() -> Config {
    Config {
        limit: LIMIT,
        timeout: Duration::from_secs(5),
        deadline: None,
        hedge_after: None,
        retries: Retries::NONE,
        rate_per_host: None,
        warn_slow_polls: None,
        grace: None,
    }
}

/// The server's pages: the seeded plan with no delay, its flaky pages
/// failing for good, so that every run (the server is shared) does the same.
fn plan() -> Plan {
    let mut plan = Plan::new(PAGES, 1, true);
    for page in &mut plan.pages {
        if let Page::Flaky { .. } = page {
            *page = Page::Error;
        }
    }
    plan
}

/// Starts the embedded server on two executor threads; returns its address.
fn start_server() -> SocketAddr {
    let ex: Arc<async_executor::Executor<'static>> = Arc::new(async_executor::Executor::new());
    for _ in 0..2 {
        let ex = ex.clone();
        std::thread::spawn(move || smol::block_on(ex.run(std::future::pending::<()>())));
    }
    let (listener, addr) = smol::block_on(crawler::bind()).expect("bind");
    let plan = Arc::new(plan());
    let stats = Arc::new(ServerStats::default());
    ex.spawn(crawler::serve(listener, plan, stats, ex.clone()))
        .detach();
    addr
}

fn with_corral(urls: &[Url]) -> Report {
    let client = Client::default();
    let progress = Progress::default();
    smol::block_on(crawler::crawl(
        crawler::listed(urls.iter().cloned()),
        urls.len(),
        &config(),
        &client,
        &progress,
        std::future::pending(),
    ))
}

fn with_semaphore_and_futures_unordered(urls: &[Url]) -> Report {
    let client = Client::default();
    let progress = Progress::default();
    let config = config();
    let record = Record::new();
    let start = Instant::now();
    let slots = Slots::new(LIMIT);
    let rate = HostRate::new(None);
    let (client, config, progress_ref, record_ref) = (&client, &config, &progress, &record);
    let (slots, rate) = (&slots, &rate);
    let _ = smol::block_on(corral::scope(|conns| async move {
        let conns = &conns;
        let mut requests: FuturesUnordered<_> = urls
            .iter()
            // Owned, as the crawl's list hands them out: the same clone.
            .cloned()
            .map(|url| async move {
                let slot = slots.take(progress_ref).await;
                let job = Job {
                    client,
                    conns,
                    config,
                    slots,
                    rate,
                    progress: progress_ref,
                    record: record_ref,
                };
                job.visit(&url, slot).await;
            })
            .collect();
        while requests.next().await.is_some() {}
        client.close();
        Ok::<_, crawler::Failure>(())
    }));
    record.into_report(urls.len(), &progress, client, start, false)
}

/// Both ways do the same work: every page answered once, as the plan says,
/// one request each (no hedge, no deadline), never more than `LIMIT` at once.
fn check(way: &str, report: &Report, plan: &Plan) {
    // With no delay every page answers at once: 200, or 503 for a failing
    // (or hung) one.
    let ok = plan
        .pages
        .iter()
        .filter(|p| matches!(p, Page::Ok { .. } | Page::Slow { .. }))
        .count();
    assert_eq!(
        report.count(Outcome::Ok),
        ok,
        "{way}: every page the plan serves"
    );
    assert_eq!(
        (report.total, report.latencies_us.len() as usize),
        (PAGES, PAGES),
        "{way}: every page answered"
    );
    assert_eq!(report.first_skipped, None, "{way}: no page skipped");
    assert_eq!(
        (
            report.requests_sent,
            report.retries_sent,
            report.hedges_sent,
            report.hedges_won,
            report.deadline_hit
        ),
        (PAGES, 0, 0, 0, false),
        "{way}: one request per page"
    );
    assert!(
        report.peak_in_flight <= LIMIT,
        "{way}: {} in flight",
        report.peak_in_flight
    );
    eprintln!(
        "sanity: {way}: {PAGES} pages, one cold run: {:.2?}",
        report.wall
    );
}

fn main() {
    let addr = start_server();
    let urls: Vec<Url> = crawler::page_urls(addr, PAGES).collect();
    let plan = plan();
    check("corral", &with_corral(&urls), &plan);
    check(
        "semaphore_futures_unordered",
        &with_semaphore_and_futures_unordered(&urls),
        &plan,
    );
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group(format!("crawl_no_delay/{PAGES}"));
    group.throughput(Throughput::Elements(PAGES as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("corral", |b| {
        b.iter(|| with_corral(&urls).count(Outcome::Ok))
    });
    group.bench_function("semaphore_futures_unordered", |b| {
        b.iter(|| with_semaphore_and_futures_unordered(&urls).count(Outcome::Ok))
    });
    group.finish();
    c.final_summary();
}
