//! A child set inside one tokio task, under tokio's cooperative budget.
//!
//! A current-thread tokio runtime runs two tasks: the *work* task, which
//! holds CHILDREN children that each drain their own pre-filled tokio
//! `mpsc` channel (MESSAGES messages each, so a receive is always ready and
//! only tokio's budget makes a child return `Pending`), and a *sibling* task
//! that yields (wakes itself, returns `Pending`) in a loop and records how
//! long each of its turns waited for the thread. Each contender holds the
//! same children:
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
//! Two passes per contender, each repeated ROUNDS times:
//!
//! - **bare**: the children as they are; the work task's CPU time
//!   (`CLOCK_THREAD_CPUTIME_ID`: the runtime runs on this thread) and the
//!   sibling's wait per turn (median over rounds of each round's p50, p99 and
//!   max).
//! - **counted**: each child wrapped in a future that counts its polls, the
//!   polls it got with tokio's budget already spent (`!has_budget_remaining()`
//!   on entry: such a poll can only return `Pending`, it is wasted), and the
//!   wakes of its waker; the work task's polls (its *turns*) are counted too,
//!   and the sibling records the most child polls and messages that ran
//!   between two of its turns.
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
// The sibling

#[derive(Default)]
struct SiblingReport {
    turns: u64,
    /// Each turn's wait for the thread, in nanoseconds.
    waits: Option<Histogram<u64>>,
    /// The most child polls, and messages, between two of its turns.
    max_polls_between: u64,
    max_messages_between: u64,
}

async fn sibling(stop: Arc<AtomicBool>) -> SiblingReport {
    let mut waits = Histogram::<u64>::new(3).unwrap();
    let mut report = SiblingReport::default();
    let mut polls = CHILD_POLLS.load(Relaxed);
    let mut messages = MESSAGES_IN.load(Relaxed);
    while !stop.load(Relaxed) {
        let asked = Instant::now();
        // Wakes itself at once: back of the run queue, not tokio's deferred
        // `yield_now`.
        yield_once().await;
        waits.record(asked.elapsed().as_nanos() as u64).unwrap();
        report.turns += 1;
        let (p, m) = (CHILD_POLLS.load(Relaxed), MESSAGES_IN.load(Relaxed));
        report.max_polls_between = report.max_polls_between.max(p - polls);
        report.max_messages_between = report.max_messages_between.max(m - messages);
        (polls, messages) = (p, m);
    }
    report.waits = Some(waits);
    report
}

// ---------------------------------------------------------------------------
// One round

struct Round {
    cpu: Duration,
    wall: Duration,
    sibling: SiblingReport,
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

fn round(contender: &str, children: usize, messages: usize, counted: bool) -> Round {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rxs = channels(children, messages);
    COUNTING.store(counted, Relaxed);
    reset_counters();
    let work = work(contender, rxs);
    let stop = Arc::new(AtomicBool::new(false));
    let (sum, cpu, wall, sibling) = rt.block_on(async {
        let sibling = tokio::spawn(sibling(stop.clone()));
        // Let the sibling take its first turn before the load starts.
        yield_once().await;
        let (cpu, wall) = (thread_cpu(), Instant::now());
        let sum = tokio::spawn(TaskTurns(work)).await.unwrap();
        let (cpu, wall) = (thread_cpu() - cpu, wall.elapsed());
        stop.store(true, Relaxed);
        (sum, cpu, wall, sibling.await.unwrap())
    });
    let per_child = (messages * messages.saturating_sub(1) / 2) as u64;
    assert_eq!(sum, per_child * children as u64, "{contender}: lost messages");
    Round {
        cpu,
        wall,
        sibling,
        child_polls: CHILD_POLLS.load(Relaxed),
        starved_polls: STARVED_POLLS.load(Relaxed),
        wakes: WAKES.load(Relaxed),
        task_polls: TASK_POLLS.load(Relaxed),
    }
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
        "| contender | CPU ms | wall ms | sibling wait p50 / p99 / max µs | sibling turns | task polls | child polls | polls with budget spent | wakes | most child polls / messages between sibling turns |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for contender in contenders {
        let bare: Vec<Round> = (0..rounds)
            .map(|_| round(contender, children, messages, false))
            .collect();
        let counted: Vec<Round> = (0..rounds)
            .map(|_| round(contender, children, messages, true))
            .collect();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cpu = median(bare.iter().map(|r| ms(r.cpu)).collect());
        let wall = median(bare.iter().map(|r| ms(r.wall)).collect());
        let wait = |q: f64| {
            median(
                bare.iter()
                    .map(|r| r.sibling.waits.as_ref().unwrap().value_at_quantile(q) as f64 / 1e3)
                    .collect(),
            )
        };
        let max_wait = median(
            bare.iter()
                .map(|r| r.sibling.waits.as_ref().unwrap().max() as f64 / 1e3)
                .collect(),
        );
        let turns = median(bare.iter().map(|r| r.sibling.turns).collect());
        let c = |f: fn(&Round) -> u64| median(counted.iter().map(f).collect::<Vec<_>>());
        println!(
            "| `{contender}` | {cpu:.1} | {wall:.1} | {:.1} / {:.1} / {max_wait:.0} | {turns} | {} | {} | {} | {} | {} / {} |",
            wait(0.5),
            wait(0.99),
            c(|r| r.task_polls),
            c(|r| r.child_polls),
            c(|r| r.starved_polls),
            c(|r| r.wakes),
            c(|r| r.sibling.max_polls_between),
            c(|r| r.sibling.max_messages_between),
        );
    }
}
