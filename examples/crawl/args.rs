//! The crawl's command line, its URL files and the URLs in them: parsing
//! only, so that `tests/crawl.rs` can check every rule without running a
//! crawl.

use std::fmt;
use std::time::Duration;

use crate::crawler::{Config, Entry, Retries, Url};

pub const USAGE: &str = "\
usage: crawl [options]

With no --urls and no --url-file, crawl follows links: from the --seed-urls
(default: the root of the embedded server's generated site), every page's
<a href> links, each URL once.

  --pages N          pages per host of the generated site (default 5000)
  --hosts N          virtual hosts of the generated site: a.test, b.test, ..
                     (default 3)
  --seed-url URL     start here (repeat for more; default http://a.test/ on
                     the embedded server)
  --seed-file FILE   more seed URLs, one per line as in --url-file, read a
                     batch at a time as the crawl needs them (never whole)
  --connect-to ADDR  connect to ADDR (host:port) for every host, as curl's
                     --connect-to does (default: the embedded server's
                     address when no --seed-url is given)
  --max-pages N      URLs fetched at most, seeds included (default: no limit)
  --max-depth N      links followed from a seed at most (default: no limit)
  --any-host         follow links to other hosts too (default: same host)
  --per-host N       requests in flight to one host at most (default: --limit)
  --max-body BYTES   longer bodies are cut off, counted as too big
                     (default 4194304)
  --queue N          URLs waiting in memory at most; more wait in a temporary
                     file (default 4096)
  --write-site DIR   write the generated site (--pages, --hosts, --seed) as
                     static files under DIR with an nginx.conf, and exit
  --listen ADDR      the address in that nginx.conf (default 127.0.0.1:8088)

  --urls N           fetch /page/0 .. /page/N-1 on the embedded server, a
                     flat list with hedging, instead of following links
  --limit N          HTTP requests in flight at most, hedges included
                     (default 64)
  --timeout DUR      how long one URL may take, its hedge included
                     (default 500ms)
  --deadline DUR     give up on the whole crawl after DUR (default: none)
  --hedge-after DUR  send a second try of a request still running after DUR;
                     the first answer wins and the other is dropped; a request
                     that fails sooner is not hedged
                     (default 100ms; 'off' to disable; the flat list only)
  --retries N        try a URL again at most N times after a transient
                     failure (429, 502, 503, 504, connection refused or
                     reset; never a 404 or a timeout), within its --timeout
                     (default 2; 0 to disable)
  --retry-backoff DUR
                     the delay before the first retry, doubled for each
                     next one, each drawn at random below that (full jitter)
                     (default 100ms)
  --rate-per-host N  at most N requests a second to one host, evenly spaced,
                     retries, hedges and redirects included (a build with
                     --features rate-limit; default: no limit)
  --seed N           the embedded server's plan and site (default 1)
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
  --trace            print each fetch as a tracing event, under the span of
                     its URL's visit, which its worker inherited (a build
                     with --features tracing; following links only)
  --url-file FILE    crawl the http:// URLs in FILE instead of the embedded
                     server (one per line; '#' starts a comment; every line
                     is checked before anything is sent, then the file is
                     read again as the crawl goes, never held whole; not
                     with --urls, --seed or --no-delay)
  --json             print the summary as one JSON object on stdout
  -h, --help         this text

DUR is a number with a unit: 250ms, 1.5s, 2m, 1h (or several: 1m 30s).
Exit status: 0 done, 1 every URL failed, 2 bad usage, 3 the --deadline cut
the crawl short, 130 stopped by Ctrl-C.";

/// What the command line asked for.
#[derive(Debug)]
pub struct Args {
    pub urls: usize,
    pub config: Config,
    pub stall: Option<Duration>,
    pub seed: u64,
    pub no_delay: bool,
    pub url_file: Option<String>,
    pub json: bool,
    /// `--urls` was given: the flat list, not the link-following crawl.
    pub flat: bool,
    pub pages: u64,
    pub hosts: usize,
    pub spider: crate::spider::SpiderConfig,
    pub write_site: Option<String>,
    pub listen: String,
    /// `--trace`: print each fetch as a `tracing` event, under the span of
    /// its URL's visit (a build with the `tracing` feature).
    pub trace: bool,
}

fn count<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{flag}: {v:?} is not a count"))
}

/// A duration with a unit, as `humantime` reads it: `250ms`, `1.5s`, `2m`,
/// `1h`, `1m 30s`.
pub fn parse_duration(flag: &str, value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim()).map_err(|e| {
        format!("{flag}: {value:?} is not a duration like 250ms, 1.5s, 2m or 1h ({e})")
    })
}

/// A duration, or `off` / `none` for none.
pub fn parse_duration_or_off(flag: &str, value: &str) -> Result<Option<Duration>, String> {
    match value {
        "off" | "none" => Ok(None),
        _ => parse_duration(flag, value).map(Some),
    }
}

/// `Ok(None)` for `--help`.
pub fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        urls: 5_000,
        config: Config {
            limit: 64,
            timeout: Duration::from_millis(500),
            deadline: None,
            hedge_after: Some(Duration::from_millis(100)),
            retries: Retries {
                max: 2,
                backoff: Duration::from_millis(100),
                jitter: true,
            },
            rate_per_host: None,
            warn_slow_polls: None,
            grace: Some(Duration::from_secs(2)),
        },
        stall: Some(Duration::from_secs(10)),
        seed: 1,
        no_delay: false,
        url_file: None,
        json: false,
        flat: false,
        pages: 5_000,
        hosts: 3,
        spider: crate::spider::SpiderConfig::default(),
        write_site: None,
        listen: "127.0.0.1:8088".to_string(),
        trace: false,
    };
    let mut per_host = None;
    // The embedded server's flags, as given: they mean nothing with a file.
    let mut server_flags = Vec::new();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--urls" => {
                let v = value()?;
                parsed.urls = v
                    .parse()
                    .map_err(|_| format!("--urls: {v:?} is not a count"))?;
                server_flags.push("--urls");
                parsed.flat = true;
            }
            "--pages" => parsed.pages = count("--pages", &value()?)?,
            "--hosts" => {
                let v = value()?;
                parsed.hosts = count("--hosts", &v)?;
                if parsed.hosts == 0 {
                    return Err(format!("--hosts: {v:?} must be at least 1"));
                }
            }
            "--seed-url" => parsed.spider.seeds.push(value()?),
            "--seed-file" => parsed.spider.seed_file = Some(value()?.into()),
            "--connect-to" => parsed.spider.connect_to = Some(value()?),
            "--max-pages" => parsed.spider.max_pages = count("--max-pages", &value()?)?,
            "--max-depth" => parsed.spider.max_depth = count("--max-depth", &value()?)?,
            "--any-host" => parsed.spider.any_host = true,
            "--per-host" => {
                let v = value()?;
                per_host = Some(count::<usize>("--per-host", &v)?)
                    .filter(|&n| n > 0)
                    .map(Some)
                    .ok_or_else(|| format!("--per-host: {v:?} is not a count of at least 1"))?;
            }
            "--max-body" => parsed.spider.max_body = count("--max-body", &value()?)?,
            "--queue" => parsed.spider.queue = count("--queue", &value()?)?,
            "--write-site" => parsed.write_site = Some(value()?),
            "--listen" => parsed.listen = value()?,
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
            "--retries" => parsed.config.retries.max = count("--retries", &value()?)?,
            "--retry-backoff" => {
                parsed.config.retries.backoff = parse_duration("--retry-backoff", &value()?)?;
            }
            "--rate-per-host" if cfg!(feature = "rate-limit") => {
                let v = value()?;
                let n = count::<u32>("--rate-per-host", v.trim_end_matches("/s"))
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        format!("--rate-per-host: {v:?} is not a rate of at least 1 (a second)")
                    })?;
                parsed.config.rate_per_host = Some(n);
            }
            "--rate-per-host" => {
                return Err("--rate-per-host: this build has no rate limiter; run \
                     cargo run --release --example crawl --features rate-limit -- \
                     --rate-per-host N"
                    .to_string());
            }
            "--seed" => {
                let v = value()?;
                parsed.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: {v:?} is not a number"))?;
                server_flags.push("--seed");
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
            "--no-delay" => {
                parsed.no_delay = true;
                server_flags.push("--no-delay");
            }
            "--url-file" => parsed.url_file = Some(value()?),
            "--json" => parsed.json = true,
            "--trace" if cfg!(feature = "tracing") => parsed.trace = true,
            "--trace" => {
                return Err("--trace: this build has no tracing; run \
                     cargo run --release --example crawl --features tracing -- --trace"
                    .to_string());
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if parsed.url_file.is_some() && !server_flags.is_empty() {
        return Err(format!(
            "{} only {} the embedded server; --url-file crawls your URLs instead",
            server_flags.join(", "),
            if server_flags.len() == 1 {
                "applies to"
            } else {
                "apply to"
            }
        ));
    }
    if parsed.url_file.is_some() {
        parsed.flat = true;
    }
    let spider = &mut parsed.spider;
    spider.limit = parsed.config.limit;
    spider.per_host = per_host.unwrap_or(parsed.config.limit);
    spider.timeout = parsed.config.timeout;
    spider.retries = parsed.config.retries;
    spider.rate_per_host = parsed.config.rate_per_host;
    spider.deadline = parsed.config.deadline;
    spider.grace = parsed.config.grace;
    spider.warn_slow_polls = parsed.config.warn_slow_polls;
    Ok(Some(parsed))
}

/// The part of a URL-file line before its comment: a `#` at the start of the
/// line or after a space or tab starts one (a `#` inside a URL is its
/// fragment).
pub fn without_comment(line: &str) -> &str {
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_blank {
            return &line[..i];
        }
        prev_blank = c.is_whitespace();
    }
    line
}

/// The URL on one line of a URL file (`n` is its number), if any: blank
/// lines and `#` comments (whole-line or trailing) are skipped.
fn parse_url_line(line: &str, n: usize) -> Result<Option<Url>, String> {
    let mut words = without_comment(line).split_whitespace();
    let Some(url) = words.next() else {
        return Ok(None);
    };
    if let Some(extra) = words.next() {
        return Err(format!(
            "line {n}: one URL per line, but {extra:?} follows {url:?} \
             (a comment starts with \" #\")"
        ));
    }
    Url::parse(url)
        .map(Some)
        .map_err(|e| format!("line {n}: {e}"))
}

/// The URL on line `n` of a URL file, if any: the first line may start with
/// a UTF-8 byte-order mark.
fn url_file_line(line: &str, n: usize) -> Result<Option<Url>, String> {
    let line = match n {
        1 => line.strip_prefix('\u{feff}').unwrap_or(line),
        _ => line,
    };
    parse_url_line(line, n)
}

/// Reads `http://` URLs from `text`, one per line: a UTF-8 byte-order mark,
/// blank lines and `#` comments (whole-line or trailing) are skipped. The
/// first bad line is an error naming its number. (The rules of
/// `count_url_file` and `url_file_entries`, for `tests/crawl.rs`.)
#[allow(dead_code)]
pub fn parse_url_list(text: &str) -> Result<Vec<Url>, String> {
    let mut urls = Vec::new();
    for (n, line) in text.lines().enumerate() {
        urls.extend(url_file_line(line, n + 1)?);
    }
    Ok(urls)
}

/// The first of two passes over a URL file, before anything is sent: reads
/// it line by line, checks every line and counts the URLs, keeping none (a
/// file of ten million lines takes the memory of one line). The first bad
/// line is an error naming its number; a file with no URL is an error too.
pub fn count_url_file(path: &str) -> Result<usize, String> {
    use std::io::BufRead;
    let cannot = |e: std::io::Error| format!("cannot read {path}: {e}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    let (mut n, mut urls) = (0, 0);
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(cannot)? == 0 {
            break;
        }
        n += 1;
        let text = line.strip_suffix('\n').unwrap_or(&line);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if url_file_line(text, n)
            .map_err(|e| format!("{path}: {e}"))?
            .is_some()
        {
            urls += 1;
        }
    }
    if urls == 0 {
        return Err(format!("{path}: no URLs"));
    }
    Ok(urls)
}

/// How far the second pass over a URL file reads ahead of the crawl.
pub const READ_AHEAD: usize = 64 * 1024;

/// Where the second pass over a URL file is.
enum Reading {
    Closed(String),
    Open {
        path: String,
        lines: smol::io::Lines<smol::io::BufReader<smol::Unblock<std::fs::File>>>,
        n: usize,
    },
    Done,
}

/// The second pass over a URL file, as the crawl goes: its URLs as a
/// stream, each line read and parsed only when the crawl asks for the next
/// URL. The file is read on a thread of `blocking`'s pool, never on the
/// executor's, through a pipe of [`READ_AHEAD`] bytes (smol's async file
/// would read up to 8 MiB ahead). A line that no longer reads as a URL (the
/// file changed after [`count_url_file`] checked it) is an error naming its
/// number, in the URL's place; a file that cannot be read is one error, and
/// the end of the stream.
pub fn url_file_entries(path: String) -> impl futures::Stream<Item = Entry> {
    use futures::StreamExt;
    use smol::io::AsyncBufReadExt;
    futures::stream::unfold(Reading::Closed(path), |reading| async move {
        let (path, mut lines, mut n) = match reading {
            Reading::Done => return None,
            Reading::Open { path, lines, n } => (path, lines, n),
            Reading::Closed(path) => match smol::unblock({
                let path = path.clone();
                move || std::fs::File::open(path)
            })
            .await
            {
                Ok(file) => {
                    let file = smol::Unblock::with_capacity(READ_AHEAD, file);
                    (path, smol::io::BufReader::new(file).lines(), 0)
                }
                Err(e) => return Some((Err(format!("cannot read {path}: {e}")), Reading::Done)),
            },
        };
        loop {
            let line = match lines.next().await {
                None => return None,
                Some(Ok(line)) => line,
                Some(Err(e)) => {
                    return Some((Err(format!("cannot read {path}: {e}")), Reading::Done));
                }
            };
            n += 1;
            let entry = match url_file_line(&line, n) {
                Ok(None) => continue,
                Ok(Some(url)) => Ok(url),
                Err(e) => Err(format!("{path}: {e}")),
            };
            return Some((entry, Reading::Open { path, lines, n }));
        }
    })
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

// The client takes URLs already parsed (the embedded server's are built
// whole); what the user wrote is parsed here.
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
