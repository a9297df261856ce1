//! A child set inside one tokio task, under tokio's cooperative budget.
//!
//! A current-thread tokio runtime runs a *work* task that holds CHILDREN
//! children, each draining its own pre-filled tokio `mpsc` channel (MESSAGES
//! messages each, so a receive is always ready and only tokio's budget makes
//! a child return `Pending`). Each contender holds the same children:
//!
//! | name                | the work task                                          |
//! |---------------------|--------------------------------------------------------|
//! | `scope`             | `corral::scope`, CHILDREN children                      |
//! | `nested`            | `corral::scope` of 10 nested scopes of CHILDREN/10 children each |
//! | `join_all`          | `corral::join_all` of the CHILDREN children             |
//! | `futures_unordered` | `futures::stream::FuturesUnordered`, drained            |
//! | `joinset`           | `tokio::task::JoinSet`: each child a tokio task of its own |
//!
//! (`corral::local_scope` runs the same loop; its future is not `Send`, so it
//! would need a `LocalSet`, another scheduler: tests/coop.rs covers it.)
//!
//! Three passes per contender, each repeated ROUNDS times (medians):
//!
//! - **cpu**: the work task alone; the runtime thread's CPU time
//!   (`CLOCK_THREAD_CPUTIME_ID`) and wall time from spawn to join.
//! - **latency**: beside the work task, a *sibling* task receives a
//!   timestamp that a plain thread sends every 100 µs, and records how long
//!   each waited (p50, p99, max; each a median over the rounds): how long
//!   the work task keeps a ready neighbour off the thread.
//! - **counted**: each child wrapped in a future that counts its polls, the
//!   polls it got with tokio's budget already spent (`!has_budget_remaining()`
//!   on entry: such a poll can only return `Pending`, it is wasted), and the
//!   wakes of its waker; the work task's polls (its *turns*) are counted too.
//!   A sibling task that yields in a loop (wakes itself, back of the run
//!   queue) records the most child polls, wasted polls and messages between
//!   two of its turns. The counts are deterministic (one thread, no clock).
//!
//! ```sh
//! cargo run --release -p corral-bench --example coop              # every contender
//! cargo run --release -p corral-bench --example coop -- scope nested
//! ```
//!
//! Environment: `CHILDREN` (default 1000), `MESSAGES` per child (512),
//! `ROUNDS` (5).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tokio::task::coop::has_budget_remaining;

#[path = "../support/yield_once.rs"]
mod yield_once;
use yield_once::yield_once;

const CONTENDERS: [&str; 5] = [
    "scope",
    "nested",
    "join_all",
    "futures_unordered",
    "joinset",
];

/// Nested scopes in the `nested` contender.
const INNER_SCOPES: usize = 10;

// ---------------------------------------------------------------------------
// Counters (the runtime is current-thread: relaxed atomics are plain adds)

static COUNTING: AtomicBool = AtomicBool::new(false);
static CHILD_POLLS: AtomicU64 = AtomicU64::new(0);
static STARVED_POLLS: AtomicU64 = AtomicU64::new(0);
static WAKES: AtomicU64 = AtomicU64::new(0);
static TASK_POLLS: AtomicU64 = AtomicU64::new(0);
static MESSAGES_IN: AtomicU64 = AtomicU64::new(0);

fn reset_counters() {
    for counter in [
        &CHILD_POLLS,
        &STARVED_POLLS,
        &WAKES,
        &TASK_POLLS,
        &MESSAGES_IN,
    ] {
        counter.store(0, Relaxed);
    }
}

/// A waker that counts its wakes, then passes them on.
struct CountingWake(Waker);

impl Wake for CountingWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        WAKES.fetch_add(1, Relaxed);
        self.0.wake_by_ref();
    }
}

/// A child wrapped for the counted pass; the bare pass polls it straight
/// through.
struct Counted<F> {
    inner: Pin<Box<F>>,
    /// The waker last given, and the counting waker around it.
    waker: Option<(Waker, Waker)>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if !COUNTING.load(Relaxed) {
            return self.inner.as_mut().poll(cx);
        }
        CHILD_POLLS.fetch_add(1, Relaxed);
        if !has_budget_remaining() {
            STARVED_POLLS.fetch_add(1, Relaxed);
        }
        let this = &mut *self;
        if !matches!(&this.waker, Some((given, _)) if given.will_wake(cx.waker())) {
            let counting = Waker::from(Arc::new(CountingWake(cx.waker().clone())));
            this.waker = Some((cx.waker().clone(), counting));
        }
        let counting = &this.waker.as_ref().unwrap().1;
        this.inner.as_mut().poll(&mut Context::from_waker(counting))
    }
}

/// Counts the work task's polls.
struct TaskTurns(Work);

impl Future for TaskTurns {
    type Output = u64;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        TASK_POLLS.fetch_add(1, Relaxed);
        self.0.as_mut().poll(cx)
    }
}

// ---------------------------------------------------------------------------
// The load

/// One child: drains its channel.
fn child(mut rx: mpsc::UnboundedReceiver<u32>) -> Counted<impl Future<Output = u64> + Send> {
    Counted {
        inner: Box::pin(async move {
            let mut sum = 0u64;
            while let Some(value) = rx.recv().await {
                sum += u64::from(value);
                MESSAGES_IN.fetch_add(1, Relaxed);
            }
            sum
        }),
        waker: None,
    }
}

/// CHILDREN pre-filled channels, their senders dropped (a child ends when
/// its channel is empty).
fn channels(children: usize, messages: usize) -> Vec<mpsc::UnboundedReceiver<u32>> {
    (0..children)
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            for i in 0..messages {
                tx.send(i as u32).unwrap();
            }
            rx
        })
        .collect()
}

type Work = Pin<Box<dyn Future<Output = u64> + Send>>;

/// The work task of `contender`, over `rxs`; returns the sum of every
/// message received.
fn work(contender: &str, rxs: Vec<mpsc::UnboundedReceiver<u32>>) -> Work {
    match contender {
        "scope" => Box::pin(async move {
            corral::scope(|s| async move {
                let handles: Vec<_> = rxs
                    .into_iter()
                    .map(|rx| s.spawn(async move { Ok::<_, ()>(child(rx).await) }))
                    .collect();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await;
                }
                Ok(sum)
            })
            .await
            .unwrap()
        }),
        "nested" => Box::pin(async move {
            let per = rxs.len().div_ceil(INNER_SCOPES);
            let mut rxs = rxs.into_iter();
            let groups: Vec<Vec<_>> = (0..INNER_SCOPES)
                .map(|_| rxs.by_ref().take(per).collect())
                .collect();
            corral::scope(|s| async move {
                let outer: Vec<_> = groups
                    .into_iter()
                    .map(|group| {
                        s.spawn(corral::scope(|inner| async move {
                            let handles: Vec<_> = group
                                .into_iter()
                                .map(|rx| inner.spawn(async move { Ok::<_, ()>(child(rx).await) }))
                                .collect();
                            let mut sum = 0;
                            for handle in handles {
                                sum += handle.await;
                            }
                            Ok(sum)
                        }))
                    })
                    .collect();
                let mut sum = 0;
                for handle in outer {
                    sum += handle.await;
                }
                Ok::<_, ()>(sum)
            })
            .await
            .unwrap()
        }),
        "join_all" => Box::pin(async move {
            corral::join_all(rxs.into_iter().map(child))
                .await
                .into_iter()
                .sum()
        }),
        "futures_unordered" => Box::pin(async move {
            let mut set: futures::stream::FuturesUnordered<_> =
                rxs.into_iter().map(child).collect();
            let mut sum = 0;
            while let Some(value) = set.next().await {
                sum += value;
            }
            sum
        }),
        "joinset" => Box::pin(async move {
            let mut set = tokio::task::JoinSet::new();
            for rx in rxs {
                set.spawn(child(rx));
            }
            let mut sum = 0;
            while let Some(value) = set.join_next().await {
                sum += value.unwrap();
            }
            sum
        }),
        other => panic!("unknown contender {other}; known: {CONTENDERS:?}"),
    }
}

// ---------------------------------------------------------------------------
// The siblings

/// The counted pass's sibling: yields in a loop.
#[derive(Default)]
struct Spinner {
    turns: u64,
    /// The most child polls, wasted polls and messages between two turns.
    max_polls: u64,
    max_starved: u64,
    max_messages: u64,
}

async fn spinner(stop: Arc<AtomicBool>) -> Spinner {
    let mut report = Spinner::default();
    let read = || {
        (
            CHILD_POLLS.load(Relaxed),
            STARVED_POLLS.load(Relaxed),
            MESSAGES_IN.load(Relaxed),
        )
    };
    let mut last = read();
    while !stop.load(Relaxed) {
        // Wakes itself at once: back of the run queue (tokio's `yield_now`
        // would defer its wake until the runtime looks at its drivers).
        yield_once().await;
        report.turns += 1;
        let now = read();
        report.max_polls = report.max_polls.max(now.0 - last.0);
        report.max_starved = report.max_starved.max(now.1 - last.1);
        report.max_messages = report.max_messages.max(now.2 - last.2);
        last = now;
    }
    report
}

/// The latency pass's sibling: records how long each tick waited.
async fn listener(mut ticks: mpsc::UnboundedReceiver<Instant>) -> Histogram<u64> {
    let mut waits = Histogram::<u64>::new(3).unwrap();
    while let Some(sent) = ticks.recv().await {
        waits.record(sent.elapsed().as_nanos() as u64).unwrap();
    }
    waits
}

// ---------------------------------------------------------------------------
// One round

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Cpu,
    Latency,
    Counted,
}

#[derive(Default)]
struct Round {
    cpu: Duration,
    wall: Duration,
    waits: Option<Histogram<u64>>,
    spinner: Spinner,
    child_polls: u64,
    starved_polls: u64,
    wakes: u64,
    task_polls: u64,
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) },
        0
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn round(contender: &str, children: usize, messages: usize, pass: Pass) -> Round {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rxs = channels(children, messages);
    COUNTING.store(pass == Pass::Counted, Relaxed);
    reset_counters();
    let work = work(contender, rxs);
    let stop = Arc::new(AtomicBool::new(false));
    let mut round = Round::default();
    let sum = rt.block_on(async {
        let spinner = (pass == Pass::Counted).then(|| tokio::spawn(spinner(stop.clone())));
        let (ticker, listener) = if pass == Pass::Latency {
            let (tx, rx) = mpsc::unbounded_channel();
            let stop = stop.clone();
            let ticker = std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let _ = tx.send(Instant::now());
                    std::thread::sleep(Duration::from_micros(100));
                }
            });
            (Some(ticker), Some(tokio::spawn(listener(rx))))
        } else {
            (None, None)
        };
        // Let the siblings start before the load does.
        yield_once().await;
        let (cpu, wall) = (thread_cpu(), Instant::now());
        let sum = tokio::spawn(TaskTurns(work)).await.unwrap();
        (round.cpu, round.wall) = (thread_cpu() - cpu, wall.elapsed());
        stop.store(true, Relaxed);
        if let Some(spinner) = spinner {
            round.spinner = spinner.await.unwrap();
        }
        if let (Some(ticker), Some(listener)) = (ticker, listener) {
            ticker.join().unwrap();
            round.waits = Some(listener.await.unwrap());
        }
        sum
    });
    let per_child = (messages * messages.saturating_sub(1) / 2) as u64;
    assert_eq!(
        sum,
        per_child * children as u64,
        "{contender}: lost messages"
    );
    round.child_polls = CHILD_POLLS.load(Relaxed);
    round.starved_polls = STARVED_POLLS.load(Relaxed);
    round.wakes = WAKES.load(Relaxed);
    round.task_polls = TASK_POLLS.load(Relaxed);
    round
}

fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let children = env("CHILDREN", 1000);
    let messages = env("MESSAGES", 512);
    let rounds = env("ROUNDS", 5);
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    let contenders: Vec<&str> = if chosen.is_empty() {
        CONTENDERS.to_vec()
    } else {
        chosen.iter().map(String::as_str).collect()
    };
    println!(
        "{children} children x {messages} messages, current-thread runtime, median of {rounds} rounds"
    );
    println!();
    println!(
        "| contender | CPU ms | wall ms | sibling wait p50 / p99 / max µs | task polls | child polls | polls with budget spent | wakes | spinner turns | most polls / wasted polls / messages between spinner turns |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for contender in contenders {
        let runs = |pass| -> Vec<Round> {
            (0..rounds)
                .map(|_| round(contender, children, messages, pass))
                .collect()
        };
        let (cpu, latency, counted) = (runs(Pass::Cpu), runs(Pass::Latency), runs(Pass::Counted));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cpu_ms = median(cpu.iter().map(|r| ms(r.cpu)).collect());
        let wall_ms = median(cpu.iter().map(|r| ms(r.wall)).collect());
        let wait = |of: fn(&Histogram<u64>) -> u64| {
            median(
                latency
                    .iter()
                    .map(|r| of(r.waits.as_ref().unwrap()) as f64 / 1e3)
                    .collect(),
            )
        };
        let c = |f: fn(&Round) -> u64| median(counted.iter().map(f).collect::<Vec<_>>());
        println!(
            "| `{contender}` | {cpu_ms:.1} | {wall_ms:.1} | {:.1} / {:.1} / {:.0} | {} | {} | {} | {} | {} | {} / {} / {} |",
            wait(|h| h.value_at_quantile(0.5)),
            wait(|h| h.value_at_quantile(0.99)),
            wait(|h| h.max()),
            c(|r| r.task_polls),
            c(|r| r.child_polls),
            c(|r| r.starved_polls),
            c(|r| r.wakes),
            c(|r| r.spinner.turns),
            c(|r| r.spinner.max_polls),
            c(|r| r.spinner.max_starved),
            c(|r| r.spinner.max_messages),
        );
    }
}
