//! The link-following crawl: from seed URLs, every page's links, each URL
//! fetched once.
//!
//! - **The frontier** is a producer/consumer queue: a bounded
//!   `corral::sync::channel` of URLs waiting, which spills to a temporary file
//!   when it is full, so that memory stays flat however many URLs wait. The
//!   workers produce (the links they find), the scope's body consumes.
//! - **Workers are children.** The body spawns one child of the crawl's
//!   scope per URL with `Scope::spawn_bounded`: it waits for room under the
//!   nursery's `max_concurrency` (the `limit`) before it takes the next URL,
//!   so a URL not started yet is a line in the frontier, not a task. At most
//!   `per_host` of them fetch from one host at once (a `corral::Semaphore`
//!   per host).
//! - **Retries and a rate per host.** Each request (a redirect's too) is
//!   tried again after a transient failure (`crawl::retried`, on
//!   `corral::resilience::retry`), and with `rate_per_host` each waits for
//!   its host's rate cell: after the host's permit, before its slot, so a
//!   host's rate wait holds no slot another host could use.
//! - **The seen set** holds a 64-bit fingerprint of every URL ever accepted
//!   ([`Seen`], open addressing: 8 bytes a slot, at most 7/8 full).
//! - **The end** comes when no URL waits and no worker runs (a count of URLs
//!   accepted and not finished), at `max_pages`, at the deadline, or at a
//!   stop: no new URL starts, workers in flight get the nursery's grace.
//!
//! Every URL accepted ends in exactly one count of the [`SpiderReport`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corral::time::{timeout, timeout_at};
use futures::future::{Either, select};

// Outside `lib.rs` (which `benches/crawl.rs` builds, without `url` and
// `html5gum`): `main.rs` and `tests/crawl.rs` include it beside it.
use crate::crawler::{Client, Failure, HostRate, Progress, Retries, Slots, Url, now, retried};

/// The link-following crawl's settings.
#[derive(Clone, Debug)]
pub struct SpiderConfig {
    /// Where to start (as written: a bad one is counted, not an error).
    pub seeds: Vec<String>,
    /// More seeds, one per line (a URL file: `#` comments, blank lines),
    /// read a batch at a time whenever the frontier runs empty, never whole.
    pub seed_file: Option<std::path::PathBuf>,
    /// Connect here for every host (like curl's `--connect-to`).
    pub connect_to: Option<String>,
    /// URLs accepted into the frontier at most, seeds included.
    pub max_pages: u64,
    /// Links followed from a seed at most (a seed is depth 0).
    pub max_depth: u32,
    /// Follow links to other hosts too.
    pub any_host: bool,
    /// Requests in flight at most, in all.
    pub limit: usize,
    /// Requests in flight to one host at most.
    pub per_host: usize,
    /// Bodies longer than this are cut off and counted as too big.
    pub max_body: usize,
    /// How long one URL may take, its redirects and retries included.
    pub timeout: Duration,
    /// How a request that failed for a transient reason is tried again.
    pub retries: Retries,
    /// Requests a second to one host at most (a build with corral's
    /// `rate-limit` feature).
    pub rate_per_host: Option<u32>,
    pub deadline: Option<Duration>,
    pub grace: Option<Duration>,
    /// Report every worker poll that blocks the executor this long.
    pub warn_slow_polls: Option<Duration>,
    /// URLs waiting in memory at most; more spill to a temporary file.
    pub queue: usize,
}

impl Default for SpiderConfig {
    fn default() -> Self {
        SpiderConfig {
            seeds: Vec::new(),
            seed_file: None,
            connect_to: None,
            max_pages: u64::MAX,
            max_depth: u32::MAX,
            any_host: false,
            limit: 64,
            per_host: 64,
            max_body: 4 << 20,
            timeout: Duration::from_secs(2),
            retries: Retries {
                max: 2,
                backoff: Duration::from_millis(100),
                jitter: true,
            },
            rate_per_host: None,
            deadline: None,
            grace: Some(Duration::from_secs(2)),
            warn_slow_polls: None,
            queue: 4096,
        }
    }
}

/// Redirects followed for one URL at most; a longer chain is a loop.
const MAX_REDIRECTS: usize = 10;

/// What a link-following crawl found. URLs accepted (`discovered`) each end
/// in exactly one of: `by_status` (answered), `connect_errors`, `io_errors`,
/// `timed_out`, `too_big`, `redirect_loops`, `redirect_elsewhere`,
/// `cancelled` (started, then dropped by a stop or the deadline),
/// `not_started`.
#[derive(Debug, Default, Clone)]
pub struct SpiderReport {
    pub discovered: u64,
    pub fetched: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub connect_errors: u64,
    pub io_errors: u64,
    pub timed_out: u64,
    pub too_big: u64,
    pub redirect_loops: u64,
    /// Redirects followed.
    pub redirects: u64,
    /// Requests sent again after a transient failure.
    pub retries: u64,
    /// A redirect to a URL already seen, or off the host: not followed.
    pub redirect_elsewhere: u64,
    pub cancelled: u64,
    pub not_started: u64,
    /// Links read from pages (every `<a href>`), and why some were not
    /// followed.
    pub links: u64,
    pub duplicates: u64,
    /// Links and seeds that are not `http://` (mailto:, javascript:, https:,
    /// unparsable).
    pub not_http: u64,
    pub off_host: u64,
    pub beyond_depth: u64,
    pub beyond_max_pages: u64,
    pub depth_reached: u32,
    /// Body bytes received.
    pub bytes: u64,
    /// URLs that waited in the spill file.
    pub spilled: u64,
    pub peak_in_flight: usize,
    pub wall: Duration,
    pub deadline_hit: bool,
    /// The workers' scope's own statistics (`Nursery::collect_stats`).
    pub workers: Option<corral::ScopeStats>,
}

impl SpiderReport {
    /// URLs answered with a status below 400.
    pub fn ok(&self) -> u64 {
        self.by_status.range(..400).map(|(_, n)| n).sum()
    }
}

/// The counts as the workers add to them.
#[derive(Default)]
struct Tally {
    discovered: AtomicU64,
    fetched: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
    connect_errors: AtomicU64,
    io_errors: AtomicU64,
    timed_out: AtomicU64,
    too_big: AtomicU64,
    redirect_loops: AtomicU64,
    redirects: AtomicU64,
    redirect_elsewhere: AtomicU64,
    cancelled: AtomicU64,
    links: AtomicU64,
    duplicates: AtomicU64,
    not_http: AtomicU64,
    off_host: AtomicU64,
    beyond_depth: AtomicU64,
    beyond_max_pages: AtomicU64,
    depth_reached: AtomicU64,
    bytes: AtomicU64,
}

fn add(n: &AtomicU64) {
    n.fetch_add(1, Ordering::Relaxed);
}

/// The fingerprints of every URL accepted: open addressing on 64-bit
/// fingerprints (0 marks a free slot), grown by doubling past 7/8 full, so
/// 8 to 18 bytes per URL.
pub struct Seen {
    slots: Vec<u64>,
    len: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            slots: vec![0; 1024],
            len: 0,
        }
    }
}

impl Seen {
    /// Adds `fp`; false if it was there.
    pub fn insert(&mut self, fp: u64) -> bool {
        let fp = fp.max(1);
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            let grown = vec![0; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            self.len = 0;
            for fp in old.into_iter().filter(|&fp| fp != 0) {
                self.insert(fp);
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                there if there == fp => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

/// A URL's fingerprint: SipHash with fixed keys, reproducible across runs.
pub fn fingerprint(url: &url::Url) -> u64 {
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    url.as_str().hash(&mut hasher);
    hasher.finish()
}

/// The `href` of every `<a>` and `<area>` in `html`, read by html5gum's
/// tokenizer (whatever state the HTML is in: the tokenizer recovers from
/// every error). Its callback emitter hands over tag and attribute names as
/// it reads them, so no token is built for the rest of the page.
pub fn links_in(html: &[u8]) -> Vec<String> {
    use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
    // In an `<a>` or `<area>` start tag; its `href` read already; the
    // attribute being read is its first `href`.
    let (mut in_link, mut got, mut href) = (false, false, false);
    let emitter = CallbackEmitter::new(
        move |event: CallbackEvent<'_>, _: html5gum::Span<()>| -> Option<String> {
            match event {
                CallbackEvent::OpenStartTag { name } => {
                    (in_link, got, href) = (matches!(name, b"a" | b"area"), false, false);
                }
                CallbackEvent::AttributeName { name } => {
                    href = in_link && !got && name == b"href";
                    got |= href;
                }
                CallbackEvent::AttributeValue { value } if href => {
                    href = false;
                    return Some(String::from_utf8_lossy(value).trim().to_string());
                }
                _ => {}
            }
            None
        },
    );
    html5gum::Tokenizer::new_with_emitter(html, emitter)
        .filter_map(Result::ok)
        .collect()
}

/// One URL waiting.
struct Item {
    url: url::Url,
    depth: u32,
}

/// The frontier: a bounded channel, and a spill file for what does not fit.
/// `pending` counts URLs accepted and not finished (waiting or in flight): 0
/// means the crawl is over; a worker that brings it to 0 sends `None` to wake
/// the body.
struct Frontier {
    tx: corral::sync::channel::Sender<Option<Item>>,
    rx: corral::sync::channel::Receiver<Option<Item>>,
    spill: Mutex<Spill>,
    pending: AtomicU64,
}

#[derive(Default)]
struct Spill {
    writer: Option<BufWriter<std::fs::File>>,
    reader: Option<BufReader<std::fs::File>>,
    unread: u64,
    written: u64,
}

impl Spill {
    fn push(&mut self, item: Item) -> std::io::Result<()> {
        if self.writer.is_none() {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "corral-crawl-frontier-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let file = std::fs::File::create(&path)?;
            let reader = std::fs::File::open(&path)?;
            // Gone from the folder at once: removed however the crawl ends.
            let _ = std::fs::remove_file(&path);
            self.writer = Some(BufWriter::new(file));
            self.reader = Some(BufReader::new(reader));
        }
        let writer = self.writer.as_mut().expect("opened");
        writeln!(writer, "{} {}", item.depth, item.url)?;
        self.unread += 1;
        self.written += 1;
        Ok(())
    }

    fn pop(&mut self) -> Option<Item> {
        if self.unread == 0 {
            return None;
        }
        // The writer is flushed only when the reader has read all the file
        // holds: one write for many lines.
        let mut line = String::new();
        let mut flushed = false;
        loop {
            self.reader.as_mut()?.read_line(&mut line).ok()?;
            if line.ends_with('\n') {
                break;
            }
            if flushed {
                return None;
            }
            self.writer.as_mut()?.flush().ok()?;
            flushed = true;
        }
        self.unread -= 1;
        let (depth, url) = line.trim_end().split_once(' ')?;
        Some(Item {
            depth: depth.parse().ok()?,
            url: url::Url::parse(url).ok()?,
        })
    }
}

impl Frontier {
    fn new(queue: usize) -> Frontier {
        let (tx, rx) = corral::sync::channel::bounded(queue.max(1));
        Frontier {
            tx,
            rx,
            spill: Mutex::new(Spill::default()),
            pending: AtomicU64::new(0),
        }
    }

    /// Queues an accepted URL (already counted in `pending`); never waits.
    fn push(&self, item: Item) {
        let mut spill = self.spill.lock().unwrap();
        // Once something waits in the file, the rest follows it there, so
        // the file empties in order.
        let item = if spill.unread == 0 {
            match self.tx.try_send(Some(item)) {
                Ok(()) => return,
                Err(e) => match e.into_inner() {
                    Some(item) => item,
                    None => return,
                },
            }
        } else {
            item
        };
        if spill.push(item).is_err() {
            // No room on disk either: the URL is lost; say it never started.
            self.done();
        }
    }

    /// One accepted URL has finished.
    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _ = self.tx.try_send(None);
        }
    }

    /// The next URL, or `None` once nothing waits and nothing runs. When
    /// nothing waits, `refill` may queue more (seeds from a file); it says
    /// whether it read anything.
    async fn next(&self, mut refill: impl FnMut() -> bool) -> Option<Item> {
        loop {
            match self.rx.try_recv() {
                Ok(Some(item)) => return Some(item),
                Ok(None) => continue,
                Err(_) => {}
            }
            if let Some(item) = self.spill.lock().unwrap().pop() {
                return Some(item);
            }
            if refill() {
                continue;
            }
            if self.pending.load(Ordering::SeqCst) == 0 {
                return None;
            }
            match self.rx.recv().await {
                Ok(Some(item)) => return Some(item),
                Ok(None) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// The crawl's shared parts.
struct Shared<'a> {
    config: &'a SpiderConfig,
    client: &'a Client,
    progress: &'a Progress,
    slots: Slots,
    rate: HostRate,
    frontier: Frontier,
    seen: Mutex<Seen>,
    tally: Tally,
    hosts: Mutex<HashMap<String, Arc<corral::Semaphore>>>,
}

impl Shared<'_> {
    /// Accepts `url` into the frontier at `depth` if it is new and within
    /// the limits; counts why not otherwise.
    fn offer(&self, url: url::Url, depth: u32) {
        let t = &self.tally;
        if depth > self.config.max_depth {
            return add(&t.beyond_depth);
        }
        if !self.seen.lock().unwrap().insert(fingerprint(&url)) {
            return add(&t.duplicates);
        }
        let taken = t.discovered.fetch_add(1, Ordering::SeqCst);
        if taken >= self.config.max_pages {
            t.discovered.fetch_sub(1, Ordering::SeqCst);
            return add(&t.beyond_max_pages);
        }
        t.depth_reached.fetch_max(depth as u64, Ordering::Relaxed);
        self.frontier.pending.fetch_add(1, Ordering::SeqCst);
        self.frontier.push(Item { url, depth });
    }

    /// The client's URL for `url`: connect to `connect_to` if set.
    fn target(&self, url: &url::Url) -> Option<Url> {
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        Some(Url {
            authority: match &self.config.connect_to {
                Some(addr) => addr.clone(),
                None if host.contains(':') => format!("[{host}]:{port}"),
                None => format!("{host}:{port}"),
            },
            host: match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            },
            path: if path.is_empty() { "/" } else { path }.to_string(),
        })
    }

    fn per_host(&self, host: &str) -> Arc<corral::Semaphore> {
        let mut hosts = self.hosts.lock().unwrap();
        if let Some(slots) = hosts.get(host) {
            return slots.clone();
        }
        hosts
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(corral::Semaphore::new(self.config.per_host.max(1))))
            .clone()
    }

    /// Fetches one URL (following its redirects), counts how it ended, and
    /// offers its links.
    async fn visit(&self, conns: &corral::Scope<'_, Failure>, item: Item) {
        let t = &self.tally;
        // Counts the URL as finished however this ends; as cancelled if it
        // is dropped unfinished (a stop's grace ran out, the deadline).
        let mut guard = Visit {
            shared: self,
            finished: false,
        };
        self.progress.started.fetch_add(1, Ordering::Relaxed);
        let host_slots = self.per_host(item.url.host_str().unwrap_or(""));
        let _host = host_slots.acquire().await;
        // The timeout counts from the URL's first request: its turn at the
        // host (the permit, the rate cell) is not part of it.
        let first_cell = self.target(&item.url).map(|target| target.host);
        if let Some(host) = &first_cell {
            self.rate.wait(host).await;
        }
        let mut cell_taken = first_cell.is_some();
        let began = now();
        let until = began
            .checked_add(self.config.timeout)
            .unwrap_or_else(|| began + Duration::from_secs(10 * 365 * 24 * 3600));
        let mut url = item.url;
        let mut chain = vec![fingerprint(&url)];
        let answered = loop {
            let Some(target) = self.target(&url) else {
                add(&t.redirect_elsewhere);
                break None;
            };
            // Each try: the host's rate cell, a slot, the request; an
            // answer the server says to try again later is a failure (and
            // the last one, if it stays so, an answer all the same).
            let backoffs = &self.progress.backoffs;
            let cell_taken = &mut cell_taken;
            let fetched = retried(self.config.retries, backoffs, |attempt| {
                let target = &target;
                let has_cell = std::mem::replace(cell_taken, false);
                async move {
                    if !has_cell {
                        self.rate.wait(&target.host).await;
                    }
                    let slot = self.slots.take(self.progress).await;
                    let max_body = self.config.max_body;
                    let answer = self
                        .client
                        .fetch(conns, target, slot, until, attempt, max_body)
                        .await?;
                    t.bytes
                        .fetch_add(answer.body.len() as u64, Ordering::Relaxed);
                    match Failure::Status(answer.status) {
                        status if status.is_transient() => Err(status),
                        _ => Ok(answer),
                    }
                }
            });
            let answer = match timeout_at(until, fetched).await {
                Ok(Ok(answer)) => answer,
                // Still unavailable after the retries: an answer.
                Ok(Err(Failure::Status(status))) => crate::crawler::Answered {
                    status,
                    body: Default::default(),
                    location: None,
                },
                Ok(Err(failure)) => {
                    add(match failure {
                        Failure::Connect => &t.connect_errors,
                        Failure::TooBig => &t.too_big,
                        Failure::TimedOut => &t.timed_out,
                        Failure::Io => &t.io_errors,
                        Failure::Stopped => &t.cancelled,
                        Failure::Status(_) => unreachable!("matched above"),
                    });
                    break None;
                }
                Err(_) => {
                    add(&t.timed_out);
                    break None;
                }
            };
            let location = answer
                .location
                .as_deref()
                .filter(|_| (300..400).contains(&answer.status) && answer.status != 304);
            let Some(location) = location else {
                break Some(answer);
            };
            add(&t.redirects);
            let next = match url.join(location) {
                Ok(next) if next.scheme() == "http" => next,
                _ => {
                    add(&t.redirect_elsewhere);
                    break None;
                }
            };
            let next = without_fragment(next);
            let fp = fingerprint(&next);
            if chain.contains(&fp) || chain.len() > MAX_REDIRECTS {
                add(&t.redirect_loops);
                break None;
            }
            chain.push(fp);
            let off_host = !self.config.any_host && next.host_str() != url.host_str();
            if off_host || !self.seen.lock().unwrap().insert(fp) {
                // Elsewhere, or a page the crawl has already: not followed.
                add(&t.redirect_elsewhere);
                break None;
            }
            url = next;
        };
        #[cfg(feature = "tracing")]
        match &answered {
            Some(answer) => {
                tracing::info!(status = answer.status, bytes = answer.body.len(), "fetched")
            }
            None => tracing::info!("not fetched"),
        }
        if let Some(answer) = answered {
            add(&t.fetched);
            *t.by_status
                .lock()
                .unwrap()
                .entry(answer.status)
                .or_default() += 1;
            if answer.status < 300 {
                self.follow(&url, item.depth, &answer.body);
            }
        }
        guard.finished = true;
        self.progress.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Offers the links of the page at `base`.
    fn follow(&self, base: &url::Url, depth: u32, body: &[u8]) {
        let t = &self.tally;
        for href in links_in(body) {
            add(&t.links);
            if depth >= self.config.max_depth {
                add(&t.beyond_depth);
                continue;
            }
            let Ok(link) = base.join(&href) else {
                add(&t.not_http);
                continue;
            };
            if link.scheme() != "http" {
                add(&t.not_http);
                continue;
            }
            if !self.config.any_host && link.host_str() != base.host_str() {
                add(&t.off_host);
                continue;
            }
            self.offer(without_fragment(link), depth + 1);
        }
    }
}

fn without_fragment(mut url: url::Url) -> url::Url {
    url.set_fragment(None);
    url
}

/// One URL in the hands of a worker.
struct Visit<'s, 'a> {
    shared: &'s Shared<'a>,
    finished: bool,
}

impl Drop for Visit<'_, '_> {
    fn drop(&mut self) {
        if !self.finished {
            add(&self.shared.tally.cancelled);
        }
        self.shared.frontier.done();
    }
}

/// Crawls from `config.seeds`, following links, until nothing is left, at
/// most `limit` requests at once (`per_host` per host). `stop` (or a stop of
/// an enclosing scope: Ctrl-C) ends it gracefully: no new URL starts, and
/// the workers in flight may finish within `config.grace`.
pub async fn spider(
    config: &SpiderConfig,
    client: &Client,
    progress: &Progress,
    stop: impl Future<Output = ()>,
) -> SpiderReport {
    let start = Instant::now();
    let shared = Shared {
        config,
        client,
        progress,
        slots: Slots::new(config.limit),
        rate: HostRate::new(config.rate_per_host),
        frontier: Frontier::new(config.queue),
        seen: Mutex::new(Seen::default()),
        tally: Tally::default(),
        hosts: Mutex::new(HashMap::new()),
    };
    let shared = &shared;
    for seed in &config.seeds {
        match url::Url::parse(seed) {
            Ok(url) if url.scheme() == "http" && url.host_str().is_some() => {
                shared.offer(without_fragment(url), 0)
            }
            _ => add(&shared.tally.not_http),
        }
    }
    // The seed file, read `queue` lines at a time when the frontier is
    // empty: a file of millions of URLs is never held whole.
    let mut seed_lines = match &config.seed_file {
        None => None,
        Some(path) => match std::fs::File::open(path) {
            Ok(file) => Some(BufReader::new(file).lines()),
            Err(_) => {
                add(&shared.tally.not_http);
                None
            }
        },
    };
    let mut refill = move || {
        let Some(lines) = seed_lines.as_mut() else {
            return false;
        };
        let mut read = false;
        for _ in 0..config.queue.max(1) {
            let Some(Ok(line)) = lines.next() else {
                seed_lines = None;
                break;
            };
            read = true;
            let line = line.trim_start_matches('\u{feff}');
            let url = crate::args::without_comment(line).trim();
            if url.is_empty() {
                continue;
            }
            match url::Url::parse(url) {
                Ok(url) if url.scheme() == "http" && url.host_str().is_some() => {
                    shared.offer(without_fragment(url), 0)
                }
                _ => add(&shared.tally.not_http),
            }
        }
        read
    };
    let refill = &mut refill;
    // The workers' scope handle: a stop goes through it, and its statistics
    // are read at the end.
    let workers_handle = std::sync::OnceLock::new();
    let workers_ref = &workers_handle;
    let work = corral::Nursery::new()
        .name("connections")
        .scope(|conns| async move {
            let nursery = corral::Nursery::new()
                .name("workers")
                .max_concurrency(config.limit)
                .collect_stats();
            let nursery = match config.grace {
                Some(grace) => nursery.grace(grace),
                None => nursery,
            };
            let nursery = match config.warn_slow_polls {
                Some(threshold) => nursery.warn_slow_polls(threshold),
                None => nursery,
            };
            let conns_ref = &conns;
            let mut workers = pin!(nursery.scope(|s| async move {
                let _ = workers_ref.set(s.clone());
                loop {
                    let next = shared.frontier.next(&mut *refill);
                    let item = match select(pin!(next), s.stopped()).await {
                        Either::Left((Some(item), _)) if !s.is_stopping() => item,
                        _ => break,
                    };
                    let conns = conns_ref.clone();
                    // With the `tracing` feature, the worker is spawned inside
                    // its URL's span and runs in it, connections it opens
                    // included (`--trace` prints their events).
                    #[cfg(feature = "tracing")]
                    let span = tracing::info_span!("visit", url = %item.url, depth = item.depth);
                    let spawned = s.spawn_bounded(async move {
                        shared.visit(&conns, item).await;
                        Ok::<_, Failure>(())
                    });
                    #[cfg(feature = "tracing")]
                    let spawned = tracing::Instrument::instrument(spawned, span);
                    // Room under the limit, or a stop first (the URL is then
                    // dropped unstarted: counted as cancelled).
                    match select(pin!(spawned), s.stopped()).await {
                        Either::Left((spawned, _)) => drop(spawned),
                        Either::Right(_) => break,
                    }
                }
                Ok(())
            }));
            let mut stopped = false;
            let done = match select(workers.as_mut(), pin!(stop)).await {
                Either::Left((done, _)) => done,
                Either::Right(((), _)) => {
                    stopped = true;
                    if let Some(workers) = workers_ref.get() {
                        workers.stop();
                    }
                    workers.await
                }
            };
            if !stopped && !conns.is_stopping() {
                shared.slots.all_free().await;
            }
            client.close();
            done
        });
    let deadline_hit = match config.deadline {
        Some(deadline) => timeout(deadline, work).await.is_err(),
        None => {
            let _ = work.await;
            false
        }
    };
    client.close();
    let t = &shared.tally;
    let get = |n: &AtomicU64| n.load(Ordering::SeqCst);
    let discovered = get(&t.discovered);
    let mut report = SpiderReport {
        discovered,
        fetched: get(&t.fetched),
        by_status: t.by_status.lock().unwrap().clone(),
        connect_errors: get(&t.connect_errors),
        io_errors: get(&t.io_errors),
        timed_out: get(&t.timed_out),
        too_big: get(&t.too_big),
        redirect_loops: get(&t.redirect_loops),
        redirects: get(&t.redirects),
        retries: client.retries_sent.load(Ordering::SeqCst) as u64,
        redirect_elsewhere: get(&t.redirect_elsewhere),
        cancelled: get(&t.cancelled),
        not_started: 0,
        links: get(&t.links),
        duplicates: get(&t.duplicates),
        not_http: get(&t.not_http),
        off_host: get(&t.off_host),
        beyond_depth: get(&t.beyond_depth),
        beyond_max_pages: get(&t.beyond_max_pages),
        depth_reached: get(&t.depth_reached) as u32,
        bytes: get(&t.bytes),
        spilled: shared.frontier.spill.lock().unwrap().written,
        peak_in_flight: progress.peak_in_flight.load(Ordering::SeqCst),
        wall: start.elapsed(),
        deadline_hit,
        workers: workers_handle.get().and_then(corral::Scope::stats),
    };
    let ended = report.fetched
        + report.connect_errors
        + report.io_errors
        + report.timed_out
        + report.too_big
        + report.redirect_loops
        + report.redirect_elsewhere
        + report.cancelled;
    report.not_started = discovered.saturating_sub(ended);
    report
}
