//! The crawl program: the embedded server or a URL file, Ctrl-C, progress,
//! the summary and the exit status. `main.rs` calls [`run`]; `tests/crawl.rs`
//! runs it in a child process to send it real signals.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{Either, select};

use crate::args::{self, Args, USAGE};
use crate::crawler::{self, Client, Config, Outcome, Plan, Progress, Report, ServerStats, Site};
use crate::display::Display;
use crate::spider::{self, SpiderReport};

/// Exit statuses (also in `USAGE`).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ALL_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_DEADLINE: u8 = 3;
pub const EXIT_INTERRUPTED: u8 = 130;

/// Runs the crawl program with `args` (without the program name); returns
/// its exit status.
pub fn run(args: impl Iterator<Item = String>) -> u8 {
    let args = match args::parse_args(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return EXIT_OK;
        }
        Err(message) => {
            eprintln!("crawl: {message}\n\n{USAGE}");
            return EXIT_USAGE;
        }
    };
    if let Some(dir) = &args.write_site {
        return write_site(&args, dir);
    }
    if !args.flat {
        return run_spider(args);
    }
    // A URL file is checked whole before anything is sent, and read again
    // as the crawl goes: neither pass keeps its URLs.
    let file_urls = match &args.url_file {
        None => None,
        Some(path) => match args::count_url_file(path) {
            Ok(total) => Some(total),
            Err(message) => {
                eprintln!("crawl: {message}");
                return EXIT_USAGE;
            }
        },
    };
    // Ctrl-C is caught from here on (before anything is said about the
    // crawl, so whoever waits for that may send it).
    let signals = match async_signal::Signals::new([async_signal::Signal::Int]) {
        Ok(signals) => Some(signals),
        Err(e) => {
            eprintln!("crawl: cannot catch Ctrl-C ({e}); it will end the crawl without a summary");
            None
        }
    };

    // The task tree is only worth its (small) cost if someone may print it.
    if args.stall.is_some() {
        corral::track_tasks(true);
    }
    let client = Client::default();
    let progress = Arc::new(Progress::default());
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = args
        .stall
        .map(|stall| watch_for_stalls(stall, progress.clone(), finished.clone()));
    let total = file_urls.unwrap_or(args.urls);
    let display = Display::new(args.json, total);
    let interrupts = AtomicUsize::new(0);
    let mut top = corral::Nursery::new().name("crawl");
    if let Some(grace) = args.config.grace {
        top = top.grace(grace);
    }
    let (args_ref, client_ref, progress_ref) = (&args, &client, &*progress);
    let (display_ref, interrupts_ref) = (&display, &interrupts);
    let outcome = smol::block_on(top.scope(|top| async move {
        let (urls, embedded) = match &args_ref.url_file {
            Some(path) => {
                display_ref.say(&format!(
                    "crawl: {} from {path}, at most {} requests in flight; Ctrl-C stops",
                    plural(total, "URL"),
                    args_ref.config.limit,
                ));
                (Either::Left(args::url_file_entries(path.clone())), false)
            }
            None => {
                let plan = Arc::new(Plan::new(args_ref.urls, args_ref.seed, args_ref.no_delay));
                let addr = start_server(&top, move |listener| {
                    crawler::serve(
                        listener,
                        plan,
                        Arc::new(ServerStats::default()),
                        server_executor(),
                    )
                })
                .await?;
                display_ref.say(&format!(
                    "crawl: {} on the embedded server at http://{addr}/ (seed {}), \
                     at most {} requests in flight; Ctrl-C stops",
                    plural(args_ref.urls, "page"),
                    args_ref.seed,
                    args_ref.config.limit,
                ));
                let urls = crawler::listed(crawler::page_urls(addr, args_ref.urls));
                (Either::Right(urls), true)
            }
        };
        let crawl = crawler::crawl(
            urls,
            total,
            &args_ref.config,
            client_ref,
            progress_ref,
            std::future::pending(),
        );
        let shown = display_ref.run(progress_ref, client_ref, total);
        let watch = watch_signals(
            signals,
            top.stop_handle(),
            display_ref,
            interrupts_ref,
            progress_ref,
            &args_ref.config,
        );
        let report = beside_the_server(crawl, shown, watch).await;
        if embedded {
            // The server is a child of this scope: done crawling, it stops
            // (after a Ctrl-C it was asked already, and drains its
            // connections within the grace).
            top.stop();
        }
        Ok::<_, std::io::Error>(report)
    }));
    display.finish();
    finished.store(true, Ordering::SeqCst);
    if let Some(watchdog) = watchdog {
        let _ = watchdog.join();
    }
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            eprintln!("crawl: cannot start the embedded server: {e}");
            return EXIT_ALL_FAILED;
        }
    };
    let interrupts = interrupts.load(Ordering::SeqCst);
    print_summary(
        &report,
        &args,
        client.connections_made.load(Ordering::SeqCst),
        interrupts,
    );
    if let (Some(path), Some(why)) = (&args.url_file, &report.first_skipped) {
        eprintln!(
            "crawl: {path} changed after it was checked: {} skipped, never sent (the first: {why})",
            plural(report.count(Outcome::Skipped), "URL"),
        );
    }
    let (dropped, not_started) = (
        report.count(Outcome::Dropped),
        report.count(Outcome::NotStarted),
    );
    let cut = format!(
        "{} dropped in flight, {} never started",
        plural(dropped, "URL"),
        not_started
    );
    if interrupts >= 2 {
        eprintln!(
            "crawl: stopped by a second Ctrl-C: what was still in flight was dropped at once, \
             without the rest of the grace ({cut})"
        );
        EXIT_INTERRUPTED
    } else if interrupts == 1 {
        let grace = match args.config.grace {
            Some(grace) => format!("the --grace of {}", humantime::format_duration(grace)),
            None => "as long as they needed (no --grace)".to_string(),
        };
        eprintln!("crawl: stopped by Ctrl-C: requests in flight were given {grace} ({cut})");
        EXIT_INTERRUPTED
    } else if report.deadline_hit {
        eprintln!("crawl: the --deadline cut the crawl short ({cut})");
        EXIT_DEADLINE
    } else if report.total > 0 && report.count(Outcome::Ok) == 0 {
        eprintln!("crawl: every URL failed");
        EXIT_ALL_FAILED
    } else {
        EXIT_OK
    }
}

/// smol's executor on two threads: the embedded server's connection handlers
/// run there, as parallel children of the server's scope.
fn server_executor() -> Arc<smol::Executor<'static>> {
    let ex: Arc<smol::Executor<'static>> = Arc::new(smol::Executor::new());
    for _ in 0..2 {
        let ex = ex.clone();
        std::thread::spawn(move || smol::block_on(ex.run(std::future::pending::<()>())));
    }
    ex
}

/// The first Ctrl-C asks `stop`'s scope to stop: the crawl's scopes and the
/// server's are nested in it, so all of them drain within the grace. The
/// second drops what is left at once. Never returns.
async fn watch_signals(
    signals: Option<async_signal::Signals>,
    stop: corral::StopHandle,
    display: &Display,
    interrupts: &AtomicUsize,
    progress: &Progress,
    config: &Config,
) -> Infallible {
    if let Some(mut signals) = signals {
        signals.next().await;
        interrupts.store(1, Ordering::SeqCst);
        let in_flight = progress.in_flight.load(Ordering::SeqCst);
        let grace = match config.grace {
            Some(grace) => format!("may finish within {}", humantime::format_duration(grace)),
            None => "may finish (no --grace)".to_string(),
        };
        display.say(&format!(
            "crawl: Ctrl-C: stopping; no new requests; the {} in flight {grace}; \
             Ctrl-C again drops them",
            plural(in_flight, "request"),
        ));
        stop.stop();
        signals.next().await;
        interrupts.store(2, Ordering::SeqCst);
        display.say("crawl: second Ctrl-C: dropping what is still in flight");
        stop.stop_within(Duration::ZERO);
    }
    std::future::pending().await
}

/// `1 URL`, `2 URLs`.
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Runs `crawl` beside its progress display, with Ctrl-C watched for as
/// long as it runs.
async fn beside_the_server<R>(
    crawl: impl Future<Output = R>,
    shown: impl Future<Output = Infallible>,
    watch: impl Future<Output = Infallible>,
) -> R {
    let work = async {
        match select(pin!(crawl), pin!(shown)).await {
            Either::Left((report, _)) => report,
            Either::Right((never, _)) => match never {},
        }
    };
    match select(pin!(work), pin!(watch)).await {
        Either::Left((report, _)) => report,
        Either::Right((never, _)) => match never {},
    }
}

/// Starts the embedded server as a child of `top` with `corral`'s `start`:
/// it binds a port, hands back the address it listens on, then serves until
/// the scope stops. A failure to bind goes to the caller, not the scope.
async fn start_server<F>(
    top: &corral::Scope<'_, std::io::Error>,
    serve: impl FnOnce(smol::net::TcpListener) -> F + Send + 'static,
) -> std::io::Result<std::net::SocketAddr>
where
    F: Future<Output = ()> + Send + 'static,
{
    let started = top.start(|ready| async move {
        let (listener, addr) = crawler::bind().await?;
        if ready.send(addr).is_ok() {
            serve(listener).await;
        }
        Ok(())
    });
    started.await.map_err(|e| match e {
        corral::StartError::Failed(e) => e,
        corral::StartError::Ended => {
            std::io::Error::other("the embedded server ended before it listened")
        }
    })
}

/// A watchdog thread: if no request completes for `stall`, prints corral's
/// task tree (once per stall). A thread, not a task, so it works even when
/// something blocks the executor.
fn watch_for_stalls(
    stall: Duration,
    progress: Arc<Progress>,
    finished: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let tick = (stall / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
        let mut last = progress.done.load(Ordering::Relaxed);
        let mut since = Instant::now();
        let mut printed = false;
        while !finished.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            let done = progress.done.load(Ordering::Relaxed);
            if done != last {
                (last, since, printed) = (done, Instant::now(), false);
            } else if !printed && since.elapsed() >= stall {
                eprintln!(
                    "crawl: no request completed for {stall:?}; what is running:\n{}",
                    corral::task_tree()
                );
                printed = true;
            }
        }
    })
}

fn percentile_ms(report: &Report, q: f64) -> f64 {
    if report.latencies_us.is_empty() {
        return 0.0;
    }
    report.latencies_us.value_at_quantile(q) as f64 / 1_000.0
}

/// The summary on stdout: a table, or one JSON object with `--json`.
fn print_summary(report: &Report, args: &Args, connections: usize, interrupts: usize) {
    let limit = args.config.limit;
    let urls = report.total;
    let wall_s = report.wall.as_secs_f64();
    let rps = report.requests_sent as f64 / wall_s.max(1e-9);
    let max_ms = report.latencies_us.max() as f64 / 1_000.0;
    let answered = report.latencies_us.len();
    if args.json {
        println!(
            "{{\"urls\":{urls},\"ok\":{},\"http_errors\":{},\"timed_out\":{},\"failed\":{},\
             \"dropped\":{},\"not_started\":{},\"skipped\":{},\"requests_sent\":{},\
             \"retries_sent\":{},\"hedges_sent\":{},\"hedges_won\":{},\"peak_in_flight\":{},\
             \"limit\":{limit},\
             \"connections\":{connections},\"wall_ms\":{:.1},\"requests_per_s\":{rps:.1},\
             \"latency_of\":\"answered URLs (ok + HTTP errors)\",\"answered\":{answered},\
             \"p50_ms\":{:.2},\"p90_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{max_ms:.2},\
             \"deadline_hit\":{},\"interrupts\":{interrupts}}}",
            report.count(Outcome::Ok),
            report.count(Outcome::HttpError),
            report.count(Outcome::TimedOut),
            report.count(Outcome::Failed),
            report.count(Outcome::Dropped),
            report.count(Outcome::NotStarted),
            report.count(Outcome::Skipped),
            report.requests_sent,
            report.retries_sent,
            report.hedges_sent,
            report.hedges_won,
            report.peak_in_flight,
            wall_s * 1_000.0,
            percentile_ms(report, 0.5),
            percentile_ms(report, 0.9),
            percentile_ms(report, 0.99),
            report.deadline_hit,
        );
        return;
    }
    let ms = |v: f64| format!("{v:.2} ms");
    let mut rows = vec![
        ("URLs", urls.to_string()),
        ("  ok", report.count(Outcome::Ok).to_string()),
        (
            "  HTTP errors",
            report.count(Outcome::HttpError).to_string(),
        ),
        ("  timed out", report.count(Outcome::TimedOut).to_string()),
        (
            "  failed (no answer)",
            report.count(Outcome::Failed).to_string(),
        ),
        (
            "  dropped in flight",
            report.count(Outcome::Dropped).to_string(),
        ),
        (
            "  never started",
            report.count(Outcome::NotStarted).to_string(),
        ),
        ("requests sent", report.requests_sent.to_string()),
        ("  retries sent", report.retries_sent.to_string()),
        ("  hedges sent", report.hedges_sent.to_string()),
        ("  hedges won", report.hedges_won.to_string()),
        (
            "peak requests in flight",
            format!("{} (limit {limit})", report.peak_in_flight),
        ),
        ("connections opened", connections.to_string()),
        ("wall time", format!("{wall_s:.2} s")),
        ("requests sent per second", format!("{rps:.0}")),
    ];
    if args.url_file.is_some() {
        // Only a URL file can change under the crawl.
        let skipped = report.count(Outcome::Skipped).to_string();
        rows.insert(7, ("  skipped (file changed)", skipped));
    }
    let latency = [
        ("  p50", ms(percentile_ms(report, 0.5))),
        ("  p90", ms(percentile_ms(report, 0.9))),
        ("  p99", ms(percentile_ms(report, 0.99))),
        ("  max", ms(max_ms)),
    ];
    println!("{:-<48}", "");
    for (name, value) in rows {
        println!("{name:<26}{value:>22}");
    }
    println!(
        "latency of the {} answered (ok + HTTP errors),\nfrom the first try to the answer:",
        plural(answered as usize, "URL")
    );
    for (name, value) in latency {
        println!("{name:<26}{value:>22}");
    }
    println!("{:-<48}", "");
}

/// `--write-site DIR`: the generated site as static files, and an
/// nginx.conf to serve them.
fn write_site(args: &Args, dir: &str) -> u8 {
    let site = Site {
        seed: args.seed,
        pages: args.pages,
        hosts: args.hosts,
        no_delay: true,
    };
    let path = std::path::Path::new(dir);
    let written =
        std::fs::create_dir_all(path).and_then(|()| crawler::write_site(&site, path, &args.listen));
    match written {
        Ok(pages) => {
            eprintln!(
                "crawl: wrote {} ({} hosts) under {dir}, every URL in {dir}/urls.txt; \
                 serve them with: nginx -p {dir}/ -c nginx.conf",
                plural(pages as usize, "page"),
                args.hosts
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("crawl: cannot write the site under {dir}: {e}");
            EXIT_ALL_FAILED
        }
    }
}

/// The link-following crawl: from the seed URLs, or the embedded server's
/// generated site.
fn run_spider(mut args: Args) -> u8 {
    let signals = match async_signal::Signals::new([async_signal::Signal::Int]) {
        Ok(signals) => Some(signals),
        Err(e) => {
            eprintln!("crawl: cannot catch Ctrl-C ({e}); it will end the crawl without a summary");
            None
        }
    };
    if args.stall.is_some() {
        corral::track_tasks(true);
    }
    #[cfg(feature = "tracing")]
    if args.trace {
        trace::print_events();
    }
    let client = Client::default();
    let progress = Arc::new(Progress::default());
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = args
        .stall
        .map(|stall| watch_for_stalls(stall, progress.clone(), finished.clone()));
    let display = Display::new(args.json, 0);
    let interrupts = AtomicUsize::new(0);
    let mut top = corral::Nursery::new().name("spider");
    if let Some(grace) = args.config.grace {
        top = top.grace(grace);
    }
    let embedded = args.spider.seeds.is_empty() && args.spider.seed_file.is_none();
    let (client_ref, progress_ref) = (&client, &*progress);
    let (display_ref, interrupts_ref) = (&display, &interrupts);
    let args_ref = &mut args;
    let outcome = smol::block_on(top.scope(|top| async move {
        if embedded {
            let site = Site {
                seed: args_ref.seed,
                pages: args_ref.pages,
                hosts: args_ref.hosts,
                no_delay: args_ref.no_delay,
            };
            let addr = start_server(&top, move |listener| {
                crawler::serve_with(
                    listener,
                    Arc::new(Plan { pages: Vec::new() }),
                    Some(site),
                    Arc::new(ServerStats::default()),
                    server_executor(),
                )
            })
            .await?;
            args_ref.spider.seeds.push("http://a.test/".to_string());
            args_ref
                .spider
                .connect_to
                .get_or_insert_with(|| addr.to_string());
            display_ref.say(&format!(
                "crawl: following links on the embedded server at http://{addr}/ \
                 ({} on each of {} hosts, seed {}), at most {} requests in flight; Ctrl-C stops",
                plural(args_ref.pages as usize, "page"),
                args_ref.hosts,
                args_ref.seed,
                args_ref.config.limit,
            ));
        } else {
            display_ref.say(&format!(
                "crawl: following links from {}{}, at most {} requests in flight; Ctrl-C stops",
                plural(args_ref.spider.seeds.len(), "seed URL"),
                match &args_ref.spider.seed_file {
                    Some(path) => format!(" and the seeds in {}", path.display()),
                    None => String::new(),
                },
                args_ref.config.limit,
            ));
        }
        let args_ref = &*args_ref;
        let crawl = spider::spider(
            &args_ref.spider,
            client_ref,
            progress_ref,
            std::future::pending(),
        );
        let shown = display_ref.run(progress_ref, client_ref, 0);
        let watch = watch_signals(
            signals,
            top.stop_handle(),
            display_ref,
            interrupts_ref,
            progress_ref,
            &args_ref.config,
        );
        let report = beside_the_server(crawl, shown, watch).await;
        if embedded {
            // The server is a child of this scope: done crawling, it stops
            // (after a Ctrl-C it was asked already, and drains its
            // connections within the grace).
            top.stop();
        }
        Ok::<_, std::io::Error>(report)
    }));
    display.finish();
    finished.store(true, Ordering::SeqCst);
    if let Some(watchdog) = watchdog {
        let _ = watchdog.join();
    }
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            eprintln!("crawl: cannot start the embedded server: {e}");
            return EXIT_ALL_FAILED;
        }
    };
    let interrupts = interrupts.load(Ordering::SeqCst);
    print_spider_summary(&report, &args, interrupts);
    let cut = format!(
        "{} cancelled in flight, {} never started",
        plural(report.cancelled as usize, "URL"),
        report.not_started
    );
    if interrupts >= 2 {
        eprintln!(
            "crawl: stopped by a second Ctrl-C: what was still in flight was dropped ({cut})"
        );
        EXIT_INTERRUPTED
    } else if interrupts == 1 {
        eprintln!("crawl: stopped by Ctrl-C ({cut})");
        EXIT_INTERRUPTED
    } else if report.deadline_hit {
        eprintln!("crawl: the --deadline cut the crawl short ({cut})");
        EXIT_DEADLINE
    } else if report.discovered == 0 && args.spider.max_pages > 0 {
        eprintln!("crawl: no seed URL to start from (only http:// URLs are crawled)");
        EXIT_ALL_FAILED
    } else if report.discovered > 0 && report.ok() == 0 {
        eprintln!("crawl: every URL failed");
        EXIT_ALL_FAILED
    } else {
        EXIT_OK
    }
}

/// The link-following crawl's summary: why URLs failed, and what was found.
pub fn print_spider_summary(report: &SpiderReport, args: &Args, interrupts: usize) {
    let wall_s = report.wall.as_secs_f64();
    let rate = report.fetched as f64 / wall_s.max(1e-9);
    if args.json {
        let statuses: Vec<String> = report
            .by_status
            .iter()
            .map(|(code, n)| format!("\"{code}\":{n}"))
            .collect();
        println!(
            "{{\"urls\":{},\"discovered\":{},\"fetched\":{},\"ok\":{},\"by_status\":{{{}}},\
             \"connect_errors\":{},\"io_errors\":{},\"timed_out\":{},\"too_big\":{},\
             \"redirect_loops\":{},\"redirects\":{},\"retries_sent\":{},\"redirect_elsewhere\":{},\
             \"cancelled\":{},\"not_started\":{},\"links\":{},\"duplicates\":{},\
             \"not_http\":{},\"off_host\":{},\"beyond_depth\":{},\"beyond_max_pages\":{},\
             \"depth_reached\":{},\"bytes\":{},\"spilled\":{},\"peak_in_flight\":{},\
             \"wall_ms\":{:.1},\"pages_per_s\":{rate:.1},\"deadline_hit\":{},\
             \"interrupts\":{interrupts},\"workers\":{}}}",
            report.discovered,
            report.discovered,
            report.fetched,
            report.ok(),
            statuses.join(","),
            report.connect_errors,
            report.io_errors,
            report.timed_out,
            report.too_big,
            report.redirect_loops,
            report.redirects,
            report.retries,
            report.redirect_elsewhere,
            report.cancelled,
            report.not_started,
            report.links,
            report.duplicates,
            report.not_http,
            report.off_host,
            report.beyond_depth,
            report.beyond_max_pages,
            report.depth_reached,
            report.bytes,
            report.spilled,
            report.peak_in_flight,
            wall_s * 1_000.0,
            report.deadline_hit,
            report
                .workers
                .map_or("null".to_string(), |w| stats_json(&w)),
        );
        return;
    }
    let mut rows = vec![
        ("URLs discovered".to_string(), report.discovered.to_string()),
        (
            "  fetched (answered)".to_string(),
            report.fetched.to_string(),
        ),
    ];
    for (code, n) in &report.by_status {
        rows.push((format!("    status {code}"), n.to_string()));
    }
    for (name, n) in [
        ("  connect errors", report.connect_errors),
        ("  broken connections", report.io_errors),
        ("  timed out", report.timed_out),
        ("  body too big", report.too_big),
        ("  redirect loops", report.redirect_loops),
        ("  redirected elsewhere", report.redirect_elsewhere),
        ("  cancelled in flight", report.cancelled),
        ("  never started", report.not_started),
        ("links read", report.links),
        ("  duplicates", report.duplicates),
        ("  not http", report.not_http),
        ("  other hosts", report.off_host),
        ("  beyond --max-depth", report.beyond_depth),
        ("  beyond --max-pages", report.beyond_max_pages),
        ("redirects followed", report.redirects),
        ("retries sent", report.retries),
        ("URLs spilled to disk", report.spilled),
    ] {
        rows.push((name.to_string(), n.to_string()));
    }
    rows.push((
        "depth reached".to_string(),
        report.depth_reached.to_string(),
    ));
    rows.push(("bytes received".to_string(), report.bytes.to_string()));
    rows.push((
        "peak requests in flight".to_string(),
        format!("{} (limit {})", report.peak_in_flight, args.config.limit),
    ));
    if let Some(w) = &report.workers {
        rows.push(("worker children".to_string(), w.spawned.to_string()));
        for (name, n) in [
            ("  finished", w.finished),
            ("  failed", w.failed),
            ("  dropped", w.dropped),
            ("  peak running", w.peak_running),
            ("  polls", w.polls),
        ] {
            rows.push((name.to_string(), n.to_string()));
        }
        if let Some(median) = median_poll(&w.poll_times) {
            rows.push(("  median poll (sampled)".to_string(), median));
        }
    }
    rows.push(("wall time".to_string(), format!("{wall_s:.2} s")));
    rows.push(("pages per second".to_string(), format!("{rate:.0}")));
    println!("{:-<48}", "");
    for (name, value) in rows {
        println!("{name:<26}{value:>22}");
    }
    println!("{:-<48}", "");
}

/// A scope's statistics as a JSON object.
fn stats_json(w: &corral::ScopeStats) -> String {
    let buckets: Vec<String> = w.poll_times.buckets().iter().map(u64::to_string).collect();
    format!(
        "{{\"spawned\":{},\"finished\":{},\"failed\":{},\"dropped\":{},\"running\":{},\
         \"queued\":{},\"peak_running\":{},\"polls\":{},\"poll_us_log2\":[{}]}}",
        w.spawned,
        w.finished,
        w.failed,
        w.dropped,
        w.running,
        w.queued,
        w.peak_running,
        w.polls,
        buckets.join(","),
    )
}

/// The bucket of the sampled median poll time: "< 8 µs", or `None` if no
/// poll was timed.
fn median_poll(times: &corral::PollTimes) -> Option<String> {
    let half = times.sampled().div_ceil(2);
    if half == 0 {
        return None;
    }
    let mut seen = 0;
    for (i, n) in times.buckets().iter().enumerate() {
        seen += n;
        if seen >= half {
            return Some(match corral::PollTimes::upper_bound(i) {
                Some(bound) => format!("< {bound:?}"),
                None => "longer".to_string(),
            });
        }
    }
    None
}

/// `--trace`: a subscriber that prints each event on standard error with the
/// spans it happened in, outermost first (`visit{url=.. depth=..}: fetched
/// status=200 bytes=1234`). Small, so that the crawl needs no subscriber
/// crate: it keeps a stack of entered spans per thread, as
/// `tracing-subscriber`'s registry does.
#[cfg(feature = "tracing")]
mod trace {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::fmt::{self, Write};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};
    use tracing_core::span::Current;

    /// Installs the printer as the process's subscriber.
    pub fn print_events() {
        let printer = Printer {
            next: AtomicU64::new(1),
            spans: Mutex::new(HashMap::new()),
        };
        let _ = tracing::subscriber::set_global_default(printer);
    }

    /// A span: its metadata, how it prints, and its parent's id.
    type Span = (&'static Metadata<'static>, String, Option<u64>);

    struct Printer {
        next: AtomicU64,
        spans: Mutex<HashMap<u64, Span>>,
    }

    thread_local! {
        static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    }

    /// `name=value` pairs, the message first.
    #[derive(Default)]
    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            if field.name() == "message" {
                let _ = write!(self.0, "{value:?}");
            } else {
                let _ = write!(self.0, "{}={value:?}", field.name());
            }
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.record_debug(field, &format_args!("{value}"));
        }
    }

    impl Subscriber for Printer {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            let parent = if attrs.is_contextual() {
                ENTERED.with(|e| e.borrow().last().copied())
            } else {
                attrs.parent().map(Id::into_u64)
            };
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            let text = format!("{}{{{}}}", attrs.metadata().name(), fields.0);
            let mut spans = self.spans.lock().unwrap();
            spans.insert(id, (attrs.metadata(), text, parent));
            Id::from_u64(id)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let spans = self.spans.lock().unwrap();
            let mut path = Vec::new();
            let mut at = ENTERED.with(|e| e.borrow().last().copied());
            while let Some(id) = at {
                let Some((_, text, parent)) = spans.get(&id) else {
                    break;
                };
                path.push(text.as_str());
                at = *parent;
            }
            path.reverse();
            eprintln!("{}: {}", path.join(":"), fields.0);
        }

        fn enter(&self, id: &Id) {
            ENTERED.with(|e| e.borrow_mut().push(id.into_u64()));
        }

        fn exit(&self, id: &Id) {
            ENTERED.with(|e| {
                let mut entered = e.borrow_mut();
                if let Some(at) = entered.iter().rposition(|&x| x == id.into_u64()) {
                    entered.remove(at);
                }
            });
        }

        fn current_span(&self) -> Current {
            match ENTERED.with(|e| e.borrow().last().copied()) {
                Some(id) => match self.spans.lock().unwrap().get(&id) {
                    Some((meta, _, _)) => Current::new(Id::from_u64(id), meta),
                    None => Current::none(),
                },
                None => Current::none(),
            }
        }
    }
}
