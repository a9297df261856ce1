//! What the user sees while the crawl runs: a one-line bar redrawn in place
//! on a terminal, a plain line every 2 s elsewhere, nothing with `--json`.

use std::convert::Infallible;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::crawler::{Client, Progress};

/// A rate with as many digits as are worth reading.
pub fn rate(count: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs < 1e-3 {
        return "- requests/s".to_string();
    }
    let per_sec = count as f64 / secs;
    if per_sec >= 100.0 {
        format!("{per_sec:.0} requests/s")
    } else {
        format!("{per_sec:.1} requests/s")
    }
}

/// What the user sees while the crawl runs: a bar on a terminal, a plain
/// line every 2 s elsewhere, nothing with `--json`. Lines said meanwhile go
/// above the bar; the bar is cleared before the summary, however the crawl
/// ended.
pub struct Display {
    /// On a terminal: the one line redrawn in place.
    bar: Option<Mutex<Bar>>,
    /// The URLs to crawl; 0 when following links, where the total is the URLs
    /// started so far and grows (so the bar shows no ETA).
    total: usize,
    quiet: bool,
}

/// Where the bar is drawn (stderr, or a test's screen) and what it shows.
struct Bar {
    out: Box<dyn Write + Send>,
    /// The bar as last drawn, for `say` to draw again below the said line;
    /// empty once finished.
    shown: String,
}

/// The bar's width in characters, `#` for the URLs done, `-` for the rest.
const BAR_WIDTH: usize = 40;

/// Back to the start of the line, and erase it.
const ERASE_LINE: &str = "\r\x1b[2K";

/// Autowrap off (VT100's DECAWM) while the bar is written, on again after:
/// a bar wider than the terminal is cut at its right margin instead of
/// wrapping onto a second row, which `ERASE_LINE` would leave behind.
const NO_WRAP: &str = "\x1b[?7l";
const WRAP: &str = "\x1b[?7h";

impl Display {
    pub fn new(json: bool, total: usize) -> Display {
        if !json && std::io::stderr().is_terminal() {
            Display::on(Box::new(std::io::stderr()), total)
        } else {
            Display {
                bar: None,
                total,
                quiet: json,
            }
        }
    }

    /// A display whose bar draws on `out`, a terminal: stderr, or a test's
    /// screen.
    pub fn on(out: Box<dyn Write + Send>, total: usize) -> Display {
        let bar = Bar {
            out,
            shown: String::new(),
        };
        Display {
            bar: Some(Mutex::new(bar)),
            total,
            quiet: false,
        }
    }

    /// The bar, locked against the drawing task and `say`; `None` off a
    /// terminal.
    fn bar(&self) -> Option<MutexGuard<'_, Bar>> {
        // A panic while drawing leaves nothing half-done that matters.
        let bar = self.bar.as_ref()?;
        Some(bar.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Prints `line` on stderr, above the bar if there is one.
    pub fn say(&self, line: &str) {
        match self.bar() {
            Some(mut bar) => {
                let redraw = match bar.shown.as_str() {
                    "" => String::new(),
                    shown => format!("{NO_WRAP}{shown}{WRAP}"),
                };
                bar.write(&format!("{ERASE_LINE}{line}\n{redraw}"));
            }
            None => eprintln!("{line}"),
        }
    }

    /// Draws the bar once from `progress`.
    pub fn update(&self, progress: &Progress, client: &Client, started: Instant) {
        let Some(mut bar) = self.bar() else {
            return;
        };
        let done = progress.done.load(Ordering::Relaxed);
        // Following links, the total is what has been started so far.
        let growing = self.total == 0;
        let total = if growing {
            progress.started.load(Ordering::Relaxed)
        } else {
            self.total
        };
        let filled = match total {
            0 => 0,
            total => done.min(total) * BAR_WIDTH / total,
        };
        let elapsed = started.elapsed();
        let mut line = format!(
            "{}{} {done}/{total} URLs, {} in flight, {}",
            "#".repeat(filled),
            "-".repeat(BAR_WIDTH - filled),
            progress.in_flight.load(Ordering::Relaxed),
            rate(client.requests_sent.load(Ordering::Relaxed), elapsed),
        );
        // The time left if the rest goes as fast as what is done; a total
        // that grows has no such estimate.
        if !growing && done > 0 && done < total {
            let left = elapsed.mul_f64((total - done) as f64 / done as f64);
            let left = Duration::from_secs(left.as_secs());
            line.push_str(&format!(", eta {}", humantime::format_duration(left)));
        }
        bar.write(&format!("{ERASE_LINE}{NO_WRAP}{line}{WRAP}"));
        bar.shown = line;
    }

    /// Shows progress until dropped.
    pub async fn run(&self, progress: &Progress, client: &Client, total: usize) -> Infallible {
        let started = Instant::now();
        if self.bar.is_some() {
            loop {
                self.update(progress, client, started);
                corral::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if self.quiet {
            return std::future::pending().await;
        }
        loop {
            corral::time::sleep(Duration::from_secs(2)).await;
            let of = if total > 0 {
                format!("/{total}")
            } else {
                String::new()
            };
            eprintln!(
                "crawl: {}{of} URLs done, {} requests in flight, {}, {:.1} s",
                progress.done.load(Ordering::Relaxed),
                progress.in_flight.load(Ordering::Relaxed),
                rate(
                    client.requests_sent.load(Ordering::Relaxed),
                    started.elapsed()
                ),
                started.elapsed().as_secs_f64()
            );
        }
    }

    /// Clears the bar, leaving no line of it behind.
    pub fn finish(&self) {
        if let Some(mut bar) = self.bar() {
            if !bar.shown.is_empty() {
                bar.write(ERASE_LINE);
                bar.shown.clear();
            }
        }
    }
}

impl Bar {
    fn write(&mut self, text: &str) {
        // A closed stderr is no reason to stop the crawl.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.finish();
    }
}
