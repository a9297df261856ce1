//! corral's main example: a bounded, deadline-guarded crawler against a real
//! HTTP/1.1 server.
//!
//! With no arguments it starts an embedded hyper server on 127.0.0.1 (its
//! connection handlers are parallel children of a `corral::scope`) serving a
//! seeded plan of pages (fast, slow, failing, hung), then fetches them all over
//! keep-alive connections: at most `--limit` at once (`Nursery::max_concurrency`),
//! each under `--timeout` (`corral::time::timeout`), hedged with a second try
//! after `--hedge-after` (`corral::race_ok`), the whole crawl under
//! `--deadline`. Ctrl-C stops it gracefully (`Scope::stop`): no new request
//! starts, requests in flight and the server's connections get `--grace` to
//! finish, and the summary is still printed. `--warn-slow-polls` reports
//! requests that block the executor; if no request completes for `--stall`, a
//! watchdog thread prints corral's task tree.
//!
//! ```text
//! cargo run --release --example crawl -- --help
//! ```

mod crawl;

use std::io::IsTerminal;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crawl::{Client, Config, Outcome, Plan, Progress, Report, ServerStats, Url};
use futures::StreamExt;
use futures::future::{Either, select};

const USAGE: &str = "\
usage: crawl [options]

  --urls N           pages to crawl on the embedded server (default 5000)
  --limit N          requests in flight at most (default 64)
  --timeout DUR      per-request timeout (default 500ms)
  --deadline DUR     give up on the whole crawl after DUR (default: none)
  --hedge-after DUR  start a second try of a request still running after DUR
                     (default 100ms; 'off' to disable)
  --seed N           the embedded server's plan (default 1)
  --no-delay         the embedded server answers at once (measures the client)
  --grace DUR        after Ctrl-C, how long requests in flight and the server's
                     connections may run on before they are dropped
                     (default 2s; 'off' to wait for them however long);
                     a second Ctrl-C drops them at once
  --warn-slow-polls DUR
                     report every request poll that blocks the executor for DUR
                     (where the request was spawned, how long it took)
  --stall DUR        if no request completes for DUR, print the task tree
                     (default 10s; 'off' to disable)
  --url-file FILE    crawl the http:// URLs in FILE (one per line) instead
  --json             print the summary as one JSON object on stdout
  -h, --help         this text

DUR is a number with a unit: 250ms, 2s, 1.5s, 1m.";

struct Args {
    urls: usize,
    config: Config,
    stall: Option<Duration>,
    seed: u64,
    no_delay: bool,
    url_file: Option<String>,
    json: bool,
}

fn parse_duration(flag: &str, value: &str) -> Result<Duration, String> {
    let bad = || format!("{flag}: {value:?} is not a duration like 250ms, 2s or 1m");
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('m') {
        (n, 60.0)
    } else {
        return Err(bad());
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    if !number.is_finite() || number < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(number * scale).map_err(|_| bad())
}

/// A duration, or `off` / `none` for none.
fn parse_duration_or_off(flag: &str, value: &str) -> Result<Option<Duration>, String> {
    match value {
        "off" | "none" => Ok(None),
        _ => parse_duration(flag, value).map(Some),
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        urls: 5_000,
        config: Config {
            limit: 64,
            timeout: Duration::from_millis(500),
            deadline: None,
            hedge_after: Some(Duration::from_millis(100)),
            warn_slow_polls: None,
            grace: Some(Duration::from_secs(2)),
        },
        stall: Some(Duration::from_secs(10)),
        seed: 1,
        no_delay: false,
        url_file: None,
        json: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--urls" => {
                let v = value()?;
                parsed.urls = v
                    .parse()
                    .map_err(|_| format!("--urls: {v:?} is not a count"))?;
            }
            "--limit" => {
                let v = value()?;
                parsed.config.limit = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--limit: {v:?} is not a count of at least 1"))?;
            }
            "--timeout" => parsed.config.timeout = parse_duration("--timeout", &value()?)?,
            "--deadline" => parsed.config.deadline = Some(parse_duration("--deadline", &value()?)?),
            "--hedge-after" => {
                parsed.config.hedge_after = parse_duration_or_off("--hedge-after", &value()?)?;
            }
            "--seed" => {
                let v = value()?;
                parsed.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: {v:?} is not a number"))?;
            }
            "--warn-slow-polls" => {
                parsed.config.warn_slow_polls =
                    Some(parse_duration("--warn-slow-polls", &value()?)?);
            }
            "--grace" => parsed.config.grace = parse_duration_or_off("--grace", &value()?)?,
            "--stall" => {
                let v = value()?;
                parsed.stall = parse_duration_or_off("--stall", &v)?;
                if parsed.stall.is_some_and(|d| d.is_zero()) {
                    return Err(format!("--stall: {v:?} must be above 0"));
                }
            }
            "--no-delay" => parsed.no_delay = true,
            "--url-file" => parsed.url_file = Some(value()?),
            "--json" => parsed.json = true,
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok(Some(parsed))
}

/// Progress while the crawl runs: a bar on a terminal, plain lines elsewhere.
async fn show_progress(progress: &Progress, total: usize, quiet: bool) {
    if quiet {
        return std::future::pending().await;
    }
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} {per_sec} eta {eta} in flight {msg}",
            )
            .expect("progress template"),
        );
        loop {
            bar.set_position(progress.done.load(Ordering::Relaxed) as u64);
            bar.set_message(progress.in_flight.load(Ordering::Relaxed).to_string());
            corral::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let start = Instant::now();
    loop {
        corral::time::sleep(Duration::from_secs(2)).await;
        let done = progress.done.load(Ordering::Relaxed);
        eprintln!(
            "crawl: {done}/{total} done, {} in flight, {:.1} s",
            progress.in_flight.load(Ordering::Relaxed),
            start.elapsed().as_secs_f64()
        );
    }
}

/// A watchdog thread: if no request completes for `stall`, prints corral's
/// task tree (once per stall). A thread, not a task, so it works even when
/// something blocks the executor.
fn watch_for_stalls(
    stall: Duration,
    progress: Arc<Progress>,
    finished: Arc<std::sync::atomic::AtomicBool>,
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

fn print_summary(report: &Report, limit: usize, json: bool, connections: usize) {
    let urls = report.outcomes.len();
    let wall_ms = report.wall.as_secs_f64() * 1_000.0;
    let finished = urls - report.count(Outcome::Cancelled);
    let rps = finished as f64 / report.wall.as_secs_f64().max(1e-9);
    let max_ms = report.latencies_us.max() as f64 / 1_000.0;
    if json {
        println!(
            "{{\"urls\":{urls},\"ok\":{},\"timed_out\":{},\"failed\":{},\"hedged\":{},\
             \"cancelled\":{},\"peak_in_flight\":{},\"limit\":{limit},\"connections\":{connections},\
             \"wall_ms\":{wall_ms:.1},\"requests_per_s\":{rps:.1},\"p50_ms\":{:.2},\"p90_ms\":{:.2},\
             \"p99_ms\":{:.2},\"max_ms\":{max_ms:.2},\"deadline_hit\":{}}}",
            report.count(Outcome::Ok),
            report.count(Outcome::TimedOut),
            report.count(Outcome::Failed),
            report.hedged,
            report.count(Outcome::Cancelled),
            report.peak_in_flight,
            percentile_ms(report, 0.5),
            percentile_ms(report, 0.9),
            percentile_ms(report, 0.99),
            report.deadline_hit,
        );
        return;
    }
    let rows = [
        ("urls", urls.to_string()),
        ("ok", report.count(Outcome::Ok).to_string()),
        ("timed out", report.count(Outcome::TimedOut).to_string()),
        ("failed", report.count(Outcome::Failed).to_string()),
        ("hedged (won by the 2nd try)", report.hedged.to_string()),
        ("cancelled", report.count(Outcome::Cancelled).to_string()),
        (
            "latency p50",
            format!("{:.2} ms", percentile_ms(report, 0.5)),
        ),
        (
            "latency p90",
            format!("{:.2} ms", percentile_ms(report, 0.9)),
        ),
        (
            "latency p99",
            format!("{:.2} ms", percentile_ms(report, 0.99)),
        ),
        ("latency max", format!("{max_ms:.2} ms")),
        (
            "peak in flight",
            format!("{} (limit {limit})", report.peak_in_flight),
        ),
        ("connections opened", connections.to_string()),
        ("wall time", format!("{:.2} s", report.wall.as_secs_f64())),
        ("requests per second", format!("{rps:.0}")),
    ];
    println!("{:-<44}", "");
    for (name, value) in rows {
        println!("{name:<28}{value:>16}");
    }
    println!("{:-<44}", "");
    if report.deadline_hit {
        println!("the --deadline cut the crawl short");
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("crawl: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let urls_from_file = match &args.url_file {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Err(e) => {
                eprintln!("crawl: cannot read {path}: {e}");
                return ExitCode::from(2);
            }
            Ok(text) => match crawl::parse_url_list(&text) {
                Err(e) => {
                    eprintln!("crawl: {path}: {e}");
                    return ExitCode::from(2);
                }
                Ok(urls) if urls.is_empty() => {
                    eprintln!("crawl: {path}: no URLs");
                    return ExitCode::from(2);
                }
                Ok(urls) => Some(urls),
            },
        },
    };

    // The embedded server's connection handlers run on two threads of smol's
    // executor, as parallel children of the server's scope.
    let ex: Arc<smol::Executor<'static>> = Arc::new(smol::Executor::new());
    for _ in 0..2 {
        let ex = ex.clone();
        std::thread::spawn(move || smol::block_on(ex.run(std::future::pending::<()>())));
    }

    // The task tree is only worth its (small) cost if someone may print it.
    if args.stall.is_some() {
        corral::track_tasks(true);
    }
    let client = Client::default();
    let progress = Arc::new(Progress::default());
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = args
        .stall
        .map(|stall| watch_for_stalls(stall, progress.clone(), finished.clone()));
    let mut top = corral::Nursery::new();
    if let Some(grace) = args.config.grace {
        top = top.grace(grace);
    }
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let (args, client, progress_ref, interrupted_ref) = (&args, &client, &*progress, &interrupted);
    let report = smol::block_on(top.scope(|top| async move {
        let stats = Arc::new(ServerStats::default());
        let (server, urls): (Either<_, _>, Vec<Url>) = match urls_from_file {
            Some(urls) => (Either::Left(std::future::pending::<()>()), urls),
            None => {
                let (listener, addr) = match crawl::bind().await {
                    Ok(bound) => bound,
                    Err(e) => {
                        eprintln!("crawl: cannot start the embedded server: {e}");
                        std::process::exit(1);
                    }
                };
                let plan = Arc::new(Plan::new(args.urls, args.seed, args.no_delay));
                let server = crawl::serve(listener, plan, stats.clone(), ex.clone());
                (Either::Right(server), crawl::page_urls(addr, args.urls))
            }
        };
        let mut server = pin!(server);
        // Ctrl-C asks this scope to stop: the crawl's request scope and the
        // server's scope are nested in it, so both see the request and drain.
        let signal = async {
            if let Ok(mut signals) = async_signal::Signals::new([async_signal::Signal::Int]) {
                signals.next().await;
                interrupted_ref.store(true, Ordering::SeqCst);
                top.stop();
                // A second Ctrl-C does not wait for the grace.
                signals.next().await;
                eprintln!("crawl: second Ctrl-C: dropping what is still running");
                top.stop_handle().stop_within(Duration::ZERO);
            }
            std::future::pending::<()>().await
        };
        let crawl = crawl::crawl(
            &urls,
            &args.config,
            client,
            progress_ref,
            std::future::pending(),
        );
        let shown = show_progress(progress_ref, urls.len(), args.json);
        let report = async {
            let work = async {
                match select(pin!(crawl), pin!(shown)).await {
                    Either::Left((report, _)) => report,
                    Either::Right(((), _)) => unreachable!("progress never ends"),
                }
            };
            // The server lives exactly as long as the crawl needs it.
            match select(pin!(work), server.as_mut()).await {
                Either::Left((report, _)) => report,
                Either::Right(((), _)) => unreachable!("the server runs until stopped"),
            }
        };
        let report = match select(pin!(report), pin!(signal)).await {
            Either::Left((report, _)) => report,
            Either::Right(((), _)) => unreachable!("the signal watch never ends"),
        };
        if top.is_stopping() {
            // Let the server close its connections (within the grace).
            server.await;
        }
        Ok::<_, std::convert::Infallible>(report)
    }));
    let Ok(report) = report;
    let interrupted = interrupted.load(Ordering::SeqCst);
    finished.store(true, Ordering::SeqCst);
    if let Some(watchdog) = watchdog {
        let _ = watchdog.join();
    }
    print_summary(
        &report,
        args.config.limit,
        args.json,
        client.connections_made.load(Ordering::SeqCst),
    );
    if interrupted {
        eprintln!("crawl: interrupted; requests in flight were given the --grace to finish");
        ExitCode::from(130)
    } else if report.deadline_hit {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
