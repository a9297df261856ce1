//! A scope inside a tokio task respects tokio's cooperative budget
//! (`--features tokio`): once the task's budget is spent, no child is polled
//! again in that turn (such a poll could only return `Pending`), nested
//! scopes included, so a scope neither spins nor keeps a sibling task off
//! the thread. The same holds for the items of `map_unordered` and
//! `map_ordered`, which run in a pool with a poll loop of its own; there, a
//! lost wake would hang the map, and an item that never ends must not keep
//! the others from running. Every assertion counts polls, turns and
//! messages; none reads a clock. Anything that could spin or hang runs
//! under the watchdog.
//!
//! The children are *leaves* that spend tokio's budget:
//!
//! - [`Leaf::Channel`]: drains a pre-filled tokio `mpsc` channel; once the
//!   budget is spent, tokio returns `Pending` and defers the child's wake
//!   until the runtime has looked at its drivers.
//! - [`Leaf::Polite`]: yields once, then spends units through tokio's
//!   `coop::poll_proceed` alone, which defers its wake as a channel does:
//!   cheap enough for tens of thousands of items.
//! - [`Leaf::Eager`]: spends one unit a step through tokio's public
//!   `coop::poll_proceed` and, once the budget is spent, wakes itself *at
//!   once*, as tokio's own resources did before 1.44 and as hand-written
//!   cooperative futures still do. Inside one turn of a scope that ignores
//!   the budget, such a child is polled again and again; nested scopes
//!   multiply that (corral's own budget of 128 child polls per scope poll,
//!   at each level: 128³ polls a turn at depth 3).
//!
//! Each leaf runs inside a [`Counted`] wrapper that counts its polls, and
//! the polls it got with the budget already spent (`has_budget_remaining()`
//! false on entry): the number the change brings to zero.
//!
//! Ported from tokio's own coop tests (`tests/rt_common.rs` `coop` and
//! `coop_unconstrained`, `tests/coop_budget.rs`): a scope's child gets one
//! budget a turn, `unconstrained` lifts it, and a sibling task's turns count
//! the scope's yields.
#![cfg(feature = "tokio")]

mod support;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::task::LocalSet;
use tokio::task::coop::{has_budget_remaining, poll_proceed, unconstrained};

/// tokio's budget per task poll.
const TOKIO_BUDGET: u64 = 128;

type LocalBoxed<T> = Pin<Box<dyn Future<Output = T>>>;
type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

// ---------------------------------------------------------------------------
// Counting

/// What the leaves and their wrappers count, shared by all of them.
#[derive(Default)]
struct Probe {
    /// Leaf polls.
    polls: AtomicU64,
    /// Leaf polls that began with tokio's budget already spent.
    starved: AtomicU64,
    /// Units of work done (messages received, steps taken).
    done: AtomicU64,
}

impl Probe {
    fn polls(&self) -> u64 {
        self.polls.load(Relaxed)
    }
    fn starved(&self) -> u64 {
        self.starved.load(Relaxed)
    }
    fn done(&self) -> u64 {
        self.done.load(Relaxed)
    }
}

/// A leaf, counted.
struct Counted<F> {
    probe: Arc<Probe>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.probe.polls.fetch_add(1, Relaxed);
        if !has_budget_remaining() {
            self.probe.starved.fetch_add(1, Relaxed);
        }
        self.inner.as_mut().poll(cx)
    }
}

// ---------------------------------------------------------------------------
// Leaves

#[derive(Clone, Copy, Debug)]
enum Leaf {
    /// Drains a pre-filled tokio channel of this many messages.
    Channel(u64),
    /// Takes this many budget units, waking itself at once when none is left.
    Eager(u64),
    /// Yields once through tokio (`yield_now`: no budget, its wake deferred
    /// until the runtime has looked at its drivers), then takes this many
    /// budget units through `poll_proceed` alone, which defers the wake when
    /// none is left, as tokio's resources do (a busy channel without the
    /// channel: cheap enough for tens of thousands).
    Polite(u64),
}

/// One leaf: its output is the work it did.
fn leaf(kind: Leaf, probe: &Arc<Probe>) -> Counted<impl Future<Output = u64> + Send + use<>> {
    let probe2 = probe.clone();
    let inner = async move {
        match kind {
            Leaf::Channel(messages) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                for i in 0..messages {
                    tx.send(i).unwrap();
                }
                drop(tx);
                let mut got = 0;
                while rx.recv().await.is_some() {
                    got += 1;
                    probe2.done.fetch_add(1, Relaxed);
                }
                got
            }
            Leaf::Eager(steps) => {
                let mut left = steps;
                poll_fn(|cx| {
                    while left > 0 {
                        if !has_budget_remaining() {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        match poll_proceed(cx) {
                            Poll::Ready(unit) => unit.made_progress(),
                            Poll::Pending => unreachable!("budget was left"),
                        }
                        left -= 1;
                        probe2.done.fetch_add(1, Relaxed);
                    }
                    Poll::Ready(())
                })
                .await;
                steps
            }
            Leaf::Polite(steps) => {
                tokio::task::yield_now().await;
                let mut left = steps;
                poll_fn(|cx| {
                    while left > 0 {
                        match poll_proceed(cx) {
                            Poll::Ready(unit) => unit.made_progress(),
                            Poll::Pending => return Poll::Pending,
                        }
                        left -= 1;
                        probe2.done.fetch_add(1, Relaxed);
                    }
                    Poll::Ready(())
                })
                .await;
                steps
            }
        }
    };
    Counted {
        probe: probe.clone(),
        inner: Box::pin(inner),
    }
}

// ---------------------------------------------------------------------------
// Scopes of leaves, nested `depth` deep

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Scope,
    Local,
}

const FLAVOURS: [Flavour; 2] = [Flavour::Scope, Flavour::Local];

/// Splits `leaves` into `fanout` groups (the last ones may be empty).
fn groups<T>(leaves: Vec<T>, fanout: usize) -> Vec<Vec<T>> {
    let per = leaves.len().div_ceil(fanout).max(1);
    let mut leaves = leaves.into_iter();
    (0..fanout)
        .map(|_| leaves.by_ref().take(per).collect())
        .collect()
}

/// A `corral::scope` tree: depth 1 is one scope over the leaves, depth d one
/// scope over `fanout` trees of depth d - 1. Output: the work done.
fn scope_tree(depth: usize, fanout: usize, leaves: Vec<Boxed<u64>>) -> Boxed<u64> {
    Box::pin(async move {
        corral::scope(|s| async move {
            let handles: Vec<_> = if depth <= 1 {
                leaves
                    .into_iter()
                    .map(|leaf| s.spawn(async move { Ok(leaf.await) }))
                    .collect()
            } else {
                groups(leaves, fanout)
                    .into_iter()
                    .map(|group| {
                        let tree = scope_tree(depth - 1, fanout, group);
                        s.spawn(async move { Ok(tree.await) })
                    })
                    .collect()
            };
            let mut done = 0;
            for handle in handles {
                done += handle.await;
            }
            Ok::<_, ()>(done)
        })
        .await
        .unwrap()
    })
}

/// The same tree of `corral::local_scope`s.
fn local_tree(depth: usize, fanout: usize, leaves: Vec<LocalBoxed<u64>>) -> LocalBoxed<u64> {
    Box::pin(async move {
        corral::local_scope(|s| async move {
            let handles: Vec<_> = if depth <= 1 {
                leaves
                    .into_iter()
                    .map(|leaf| s.spawn(async move { Ok(leaf.await) }))
                    .collect()
            } else {
                groups(leaves, fanout)
                    .into_iter()
                    .map(|group| {
                        let tree = local_tree(depth - 1, fanout, group);
                        s.spawn(async move { Ok(tree.await) })
                    })
                    .collect()
            };
            let mut done = 0;
            for handle in handles {
                done += handle.await;
            }
            Ok::<_, ()>(done)
        })
        .await
        .unwrap()
    })
}

/// A tree of `flavour` over `count` leaves of `kind`.
fn tree(
    flavour: Flavour,
    depth: usize,
    fanout: usize,
    kind: Leaf,
    count: usize,
    probe: &Arc<Probe>,
) -> LocalBoxed<u64> {
    match flavour {
        Flavour::Scope => scope_tree(
            depth,
            fanout,
            (0..count)
                .map(|_| Box::pin(leaf(kind, probe)) as Boxed<u64>)
                .collect(),
        ),
        Flavour::Local => local_tree(
            depth,
            fanout,
            (0..count)
                .map(|_| Box::pin(leaf(kind, probe)) as LocalBoxed<u64>)
                .collect(),
        ),
    }
}

// ---------------------------------------------------------------------------
// Running: a current-thread runtime, the work as one task of a `LocalSet`,
// and a sibling task beside it

/// What the sibling saw.
#[derive(Debug, Default)]
struct Sibling {
    turns: u64,
    /// The most leaf polls between two of its turns.
    most_polls_between: u64,
    /// The most leaf polls with the budget spent between two of its turns.
    most_starved_between: u64,
}

/// A sibling task that yields in a loop (wakes itself at once: the back of
/// the run queue) until `stop`, and counts what ran between its turns.
async fn sibling(stop: Arc<AtomicBool>, probe: Arc<Probe>) -> Sibling {
    let mut seen = Sibling::default();
    let (mut polls, mut starved) = (probe.polls(), probe.starved());
    while !stop.load(Relaxed) {
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        seen.turns += 1;
        seen.most_polls_between = seen.most_polls_between.max(probe.polls() - polls);
        seen.most_starved_between = seen.most_starved_between.max(probe.starved() - starved);
        (polls, starved) = (probe.polls(), probe.starved());
    }
    seen
}

/// Runs `work` as a task of a `LocalSet` on a current-thread runtime, beside
/// a [`sibling`]; returns the work's output and what the sibling saw.
fn run_local<T: 'static>(work: LocalBoxed<T>, probe: &Arc<Probe>) -> (T, Sibling) {
    let probe = probe.clone();
    support::watchdog(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let local = LocalSet::new();
        local.block_on(&rt, async move {
            let stop = Arc::new(AtomicBool::new(false));
            let sibling = tokio::task::spawn_local(sibling(stop.clone(), probe));
            let done = tokio::task::spawn_local(work).await.unwrap();
            stop.store(true, Relaxed);
            (done, sibling.await.unwrap())
        })
    })
}

// ---------------------------------------------------------------------------
// The tests

/// Flat and nested scopes of both flavours whose children drain busy tokio
/// channels: no child is polled once the budget is spent, and the sibling
/// never waits for more than one budget's worth of child polls. Without the
/// check, every other ready child of a scope is polled for nothing after the
/// first one drains the budget (127 a turn with one scope; with nested
/// scopes every ready child, 199 of the 200 a turn here, measured).
#[test]
fn no_child_is_polled_once_the_budget_is_spent() {
    const CHILDREN: usize = 200;
    const MESSAGES: u64 = 1024;
    for flavour in FLAVOURS {
        for depth in [1, 2, 3] {
            let probe = Arc::new(Probe::default());
            let work = tree(flavour, depth, 4, Leaf::Channel(MESSAGES), CHILDREN, &probe);
            let (done, sibling) = run_local(work, &probe);
            let case = format!("{flavour:?}, depth {depth}: {sibling:?}");
            assert_eq!(done, CHILDREN as u64 * MESSAGES, "{case}");
            assert_eq!(probe.starved(), 0, "{case}");
            // Each poll of a leaf spends at least one unit.
            assert!(sibling.most_polls_between <= TOKIO_BUDGET, "{case}");
            // A budget of 128 messages a poll, and one poll that finds the
            // channel closed; a poll that finishes one leaf leaves the rest
            // of the budget to the next, so allow twice that.
            let polls_per_leaf = MESSAGES / TOKIO_BUDGET + 1;
            assert!(
                probe.polls() <= 2 * polls_per_leaf * CHILDREN as u64,
                "{case}: {} polls",
                probe.polls()
            );
            assert!(sibling.turns > 0, "{case}");
        }
    }
}

/// Children that wake themselves at once when the budget is spent: without
/// the check, each such child is polled again in the same turn until the
/// scope's own budget runs out, at every level of nesting: at depth 3 one
/// task turn polled them 128³ = 2,097,152 times while the sibling waited
/// (measured without the check, release build: 1.07 billion polls and 37 s
/// for these 65,536 steps). With it, not one poll finds the budget spent, and
/// the sibling waits at most one budget's worth of child polls.
#[test]
fn children_that_wake_at_once_do_not_spin() {
    const CHILDREN: usize = 16;
    const STEPS: u64 = 4096;
    for flavour in FLAVOURS {
        for depth in [1, 2, 3] {
            let probe = Arc::new(Probe::default());
            let work = tree(flavour, depth, 2, Leaf::Eager(STEPS), CHILDREN, &probe);
            let (done, sibling) = run_local(work, &probe);
            let case = format!("{flavour:?}, depth {depth}: {sibling:?}");
            assert_eq!(done, CHILDREN as u64 * STEPS, "{case}");
            assert_eq!(probe.starved(), 0, "{case}");
            assert_eq!(sibling.most_starved_between, 0, "{case}");
            assert!(sibling.most_polls_between <= TOKIO_BUDGET, "{case}");
            // Every poll but a leaf's last takes a whole budget.
            let polls_per_leaf = STEPS / TOKIO_BUDGET + 1;
            assert!(
                probe.polls() <= 2 * polls_per_leaf * CHILDREN as u64,
                "{case}: {} polls",
                probe.polls()
            );
        }
    }
}

/// The same on a multi-thread runtime, the scope a spawned task: whichever
/// worker runs a turn, no child is polled with the budget spent.
#[test]
fn multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for (kind, count) in [(Leaf::Channel(1024), 200), (Leaf::Eager(4096), 16)] {
        for depth in [1, 3] {
            let probe = Arc::new(Probe::default());
            let leaves = (0..count)
                .map(|_| Box::pin(leaf(kind, &probe)) as Boxed<u64>)
                .collect();
            let work = scope_tree(depth, 2, leaves);
            let done = support::watchdog(|| rt.block_on(rt.spawn(work)).unwrap());
            let case = format!("{kind:?} x {count}, depth {depth}");
            assert_eq!(probe.done(), done, "{case}");
            assert_eq!(probe.starved(), 0, "{case}");
        }
    }
}

/// The gather family polls through the same loop.
#[test]
fn join_all_and_race_respect_the_budget() {
    for kind in [Leaf::Channel(1024), Leaf::Eager(1024)] {
        let probe = Arc::new(Probe::default());
        let leaves: Vec<_> = (0..100).map(|_| leaf(kind, &probe)).collect();
        let work: LocalBoxed<u64> =
            Box::pin(async move { corral::join_all(leaves).await.into_iter().sum() });
        let (done, sibling) = run_local(work, &probe);
        assert_eq!(done, 100 * 1024, "{kind:?}");
        assert_eq!(probe.starved(), 0, "{kind:?}: {sibling:?}");
        assert!(
            sibling.most_polls_between <= TOKIO_BUDGET,
            "{kind:?}: {sibling:?}"
        );

        let probe = Arc::new(Probe::default());
        // The first leaf to finish wins; the others are dropped then.
        let leaves: Vec<_> = (0..100).map(|_| leaf(kind, &probe)).collect();
        let work: LocalBoxed<u64> = Box::pin(corral::race(leaves));
        let (done, sibling) = run_local(work, &probe);
        assert_eq!(done, 1024, "{kind:?}");
        assert_eq!(probe.starved(), 0, "{kind:?}: {sibling:?}");
    }
}

/// Port of tokio's `coop` test: in its task's first poll, a scope's first
/// child gets one budget's worth of messages (128 of its 1000), and the
/// scope then returns `Pending` without polling its second child (whose
/// channel is as busy: that poll could only return `Pending`).
#[test]
fn one_turn_takes_one_budget() {
    for flavour in FLAVOURS {
        for depth in [1, 2] {
            let probe = Arc::new(Probe::default());
            let work = tree(flavour, depth, 1, Leaf::Channel(1000), 2, &probe);
            let probe2 = probe.clone();
            let (first_turn, done) = run_local_pair(work, move || (probe2.polls(), probe2.done()));
            assert_eq!(first_turn, (1, TOKIO_BUDGET), "{flavour:?}, depth {depth}");
            assert_eq!(done, 2000, "{flavour:?}, depth {depth}");
            assert_eq!(probe.starved(), 0, "{flavour:?}, depth {depth}");
        }
    }
}

/// Polls `work` once inside a task, reads `counts`, then finishes it.
fn run_local_pair(
    mut work: LocalBoxed<u64>,
    counts: impl FnOnce() -> (u64, u64) + 'static,
) -> ((u64, u64), u64) {
    support::watchdog(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let local = LocalSet::new();
        local.block_on(&rt, async move {
            tokio::task::spawn_local(async move {
                let pending = poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx).is_pending())).await;
                assert!(pending, "the scope did not yield");
                let counts = counts();
                // A new task poll, with a new budget: a scope polled again
                // in the same task poll, its budget spent, runs as without
                // tokio's budget (see `a_nested_block_on_does_not_hang`).
                tokio::task::yield_now().await;
                (counts, work.await)
            })
            .await
            .unwrap()
        })
    })
}

/// Port of tokio's `coop_unconstrained`: under `unconstrained` the budget
/// never runs out, and a scope whose child drains 1000 messages finishes in
/// a single poll, as it does outside tokio.
#[test]
fn unconstrained_lifts_the_budget() {
    for flavour in FLAVOURS {
        let probe = Arc::new(Probe::default());
        let work = tree(flavour, 2, 1, Leaf::Channel(1000), 1, &probe);
        let done = support::watchdog(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = LocalSet::new();
            local.block_on(&rt, async move {
                let mut work = pin!(unconstrained(work));
                poll_fn(|cx| match work.as_mut().poll(cx) {
                    Poll::Ready(done) => Poll::Ready(done),
                    Poll::Pending => panic!("an unconstrained scope yielded"),
                })
                .await
            })
        });
        assert_eq!(done, 1000, "{flavour:?}");
        assert_eq!(probe.polls(), 1, "{flavour:?}");
    }
}

/// Outside a tokio runtime nothing changes: tokio's resources find no
/// budget to spend, and a scope on another executor drains its children in
/// one poll each.
#[test]
fn outside_tokio_nothing_changes() {
    for flavour in FLAVOURS {
        let probe = Arc::new(Probe::default());
        let work = tree(flavour, 2, 2, Leaf::Channel(1000), 8, &probe);
        let done = support::on_minimal(work);
        assert_eq!(done, 8000, "{flavour:?}");
        assert_eq!(probe.polls(), 8, "{flavour:?}");
        assert_eq!(probe.starved(), 0, "{flavour:?}");
    }
}

/// Port of tokio's `coop_budget_udp_send_recv`: a sibling that yields
/// through tokio (its wake deferred like the budget's) runs once per budget
/// the scope spends, so its turns count the scope's yields: one per 128
/// messages, give or take the turns where leaves finish.
#[test]
fn a_sibling_counts_one_turn_per_budget() {
    const CHILDREN: u64 = 4;
    const MESSAGES: u64 = 1024;
    for flavour in FLAVOURS {
        let probe = Arc::new(Probe::default());
        let work = tree(
            flavour,
            1,
            1,
            Leaf::Channel(MESSAGES),
            CHILDREN as usize,
            &probe,
        );
        let turns = support::watchdog(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let local = LocalSet::new();
            local.block_on(&rt, async move {
                let turns = Arc::new(AtomicU64::new(0));
                let stop = Arc::new(AtomicBool::new(false));
                let (turns2, stop2) = (turns.clone(), stop.clone());
                tokio::task::yield_now().await;
                let sibling = tokio::task::spawn_local(async move {
                    while !stop2.load(Relaxed) {
                        turns2.fetch_add(1, Relaxed);
                        tokio::task::yield_now().await;
                    }
                });
                tokio::task::spawn_local(work).await.unwrap();
                stop.store(true, Relaxed);
                sibling.await.unwrap();
                turns.load(Relaxed)
            })
        });
        let budgets = CHILDREN * MESSAGES / TOKIO_BUDGET;
        assert!(
            (budgets..=budgets + CHILDREN + 2).contains(&turns),
            "{flavour:?}: {turns} sibling turns for {budgets} budgets"
        );
        assert_eq!(probe.starved(), 0, "{flavour:?}");
    }
}

/// From the outside review: a scope (or `join_all`, or a stream map)
/// driven by a `block_on`
/// nested inside a tokio task whose budget is spent must still finish. Its
/// children never touch tokio, so nothing but the scope itself could stop
/// them; a scope that stopped and deferred its wake to tokio hung there
/// (the wake comes only after the task's poll, which the `block_on`
/// blocks). A poll that begins with the budget spent ignores it.
#[test]
fn a_nested_block_on_does_not_hang() {
    fn handle(m: u32) -> u32 {
        let scoped = futures::executor::block_on(corral::scope(|s| async move {
            Ok::<_, ()>(s.spawn(async move { Ok(m * 2) }).await)
        }))
        .unwrap();
        let local = futures::executor::block_on(corral::local_scope(|s| async move {
            Ok::<_, ()>(s.spawn(async move { Ok(m) }).await)
        }))
        .unwrap();
        let gathered: u32 =
            futures::executor::block_on(corral::join_all((1..3u32).map(|k| async move { k })))
                .iter()
                .sum();
        // The stream maps' pool follows the same rule.
        let mapped: u32 = futures::executor::block_on(corral::scope(|s| async move {
            use futures::StreamExt;
            let items = corral::stream::map_unordered(
                &s,
                futures::stream::iter(1..3u32),
                2,
                |k| async move { Ok::<_, ()>(k) },
            );
            Ok::<_, ()>(items.collect::<Vec<_>>().await.iter().sum())
        }))
        .unwrap();
        scoped + local + gathered + mapped
    }
    let handled = support::watchdog(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for i in 0..1000u32 {
                tx.send(i).unwrap();
            }
            drop(tx);
            tokio::spawn(async move {
                let mut sum = 0u64;
                while let Some(m) = rx.recv().await {
                    sum += u64::from(handle(m));
                }
                sum
            })
            .await
            .unwrap()
        })
    });
    assert_eq!(handled, (0..1000u64).map(|m| 3 * m + 6).sum::<u64>());
}

// ---------------------------------------------------------------------------
// map_unordered and map_ordered: their items run in a pool, one child of
// the scope that polls them in a loop of its own (`src/scope/pool.rs`), so
// that loop checks the budget too. A round it stops partway through goes on
// from there next turn: an item whose wake was taken for that round and
// that was not polled yet is polled then. If such a wake were lost, its
// item would never finish and the map would hang (the watchdog fails it).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Map {
    Unordered,
    Ordered,
}

const MAPS: [Map; 2] = [Map::Unordered, Map::Ordered];

/// What a leaf's value is: the units of work it was given.
fn work_of(kind: Leaf) -> u64 {
    match kind {
        Leaf::Channel(n) | Leaf::Eager(n) | Leaf::Polite(n) => n,
    }
}

/// A map of `count` items with at most `limit` in flight, in a scope opened
/// with `$open`: item `i` is a leaf of kind `kind_of(i)`, its value `(i,
/// work done)`. Output: the first `take` values as the map yielded them
/// (the map is dropped then, with any items still running).
macro_rules! mapped {
    ($open:path, $map:expr, $kind_of:expr, $count:expr, $take:expr, $limit:expr, $probe:expr) => {{
        let (map, kind_of, count, take, limit) = ($map, $kind_of, $count, $take, $limit);
        let probe = $probe.clone();
        async move {
            $open(|s| async move {
                use corral::stream::ScopedStreamExt;
                use futures::StreamExt;
                let item = move |i: usize| {
                    let leaf = leaf(kind_of(i), &probe);
                    async move { Ok::<_, ()>((i, leaf.await)) }
                };
                let input = futures::stream::iter(0..count);
                let values: Vec<(usize, u64)> = match map {
                    Map::Unordered => {
                        let values = input.map_unordered(&s, limit, item);
                        values.take(take).collect().await
                    }
                    Map::Ordered => {
                        let values = input.map_ordered(&s, limit, item);
                        values.take(take).collect().await
                    }
                };
                Ok::<_, ()>(values)
            })
            .await
            .unwrap()
        }
    }};
}

/// Item `i`'s kind in a map of `kinds`: `kinds[i % kinds.len()]`.
fn cycle(kinds: &'static [Leaf]) -> impl Fn(usize) -> Leaf + Copy + Send + 'static {
    move |i| kinds[i % kinds.len()]
}

/// The map as a `LocalSet` task's future, of either flavour: all `count`
/// values, item `i` of kind `kinds[i % kinds.len()]`.
fn map_work(
    flavour: Flavour,
    map: Map,
    kinds: &'static [Leaf],
    count: usize,
    limit: usize,
    probe: &Arc<Probe>,
) -> LocalBoxed<Vec<(usize, u64)>> {
    let kind_of = cycle(kinds);
    match flavour {
        Flavour::Scope => Box::pin(mapped!(
            corral::scope,
            map,
            kind_of,
            count,
            count,
            limit,
            probe
        )),
        Flavour::Local => Box::pin(mapped!(
            corral::local_scope,
            map,
            kind_of,
            count,
            count,
            limit,
            probe
        )),
    }
}

/// Every item's value came, once, with the work its leaf was given; in
/// input order from the ordered map.
fn check_values(map: Map, kinds: &[Leaf], count: usize, mut values: Vec<(usize, u64)>, case: &str) {
    if map == Map::Unordered {
        values.sort_unstable();
    }
    let expected: Vec<_> = (0..count)
        .map(|i| (i, work_of(kinds[i % kinds.len()])))
        .collect();
    assert!(values == expected, "{case}: wrong values");
}

/// An upper bound on the leaf polls of `count` items when none is polled
/// for nothing: every poll but a leaf's last takes a whole budget, and one
/// that finishes a leaf may leave the rest of the budget to the next, so
/// allow twice that; a polite leaf's first poll (its yield) takes none.
fn most_polls(kinds: &[Leaf], count: usize) -> u64 {
    (0..count)
        .map(|i| {
            let kind = kinds[i % kinds.len()];
            let polite = matches!(kind, Leaf::Polite(_)) as u64;
            2 * (work_of(kind) / TOKIO_BUDGET + 1) + polite
        })
        .sum()
}

/// Whether every poll of these leaves takes at least one unit of budget (a
/// polite leaf's first does not), so that a task poll polls at most a
/// budget's worth of them.
fn every_poll_spends(kinds: &[Leaf]) -> bool {
    !kinds.iter().any(|kind| matches!(kind, Leaf::Polite(_)))
}

/// The map cases: busy channels (their wakes come back as marks, after the
/// runtime's drivers), leaves that wake themselves at once (inside their
/// own poll: the pool's `again` list), and both in one map; with every item
/// in flight at once, and with a limit that has the pool take new items
/// while others are partway through.
const MAP_CASES: [(&[Leaf], usize, usize); 6] = [
    (&[Leaf::Channel(1024)], 200, 200),
    (&[Leaf::Channel(1024)], 200, 48),
    (&[Leaf::Eager(4096)], 64, 64),
    (&[Leaf::Eager(4096)], 64, 16),
    (
        &[Leaf::Channel(1000), Leaf::Eager(1000), Leaf::Polite(1000)],
        150,
        150,
    ),
    (&[Leaf::Polite(300), Leaf::Eager(200)], 300, 100),
];

/// Both maps on both flavours: no item is polled once the budget is spent,
/// the sibling never waits for more than one budget's worth of item polls,
/// and every item finishes with its value. Without the check, the pool
/// polled every ready item each round, 32 rounds a turn: for the 200 busy
/// channels, 199 polls for nothing a turn; for items that wake at once,
/// each of them 32 times a turn.
#[test]
fn maps_poll_no_item_once_the_budget_is_spent() {
    for flavour in FLAVOURS {
        for map in MAPS {
            for (kinds, count, limit) in MAP_CASES {
                let probe = Arc::new(Probe::default());
                let work = map_work(flavour, map, kinds, count, limit, &probe);
                let (values, sibling) = run_local(work, &probe);
                let case =
                    format!("{flavour:?} {map:?}, {kinds:?} x {count}, limit {limit}: {sibling:?}");
                check_values(map, kinds, count, values, &case);
                assert_eq!(probe.starved(), 0, "{case}");
                assert_eq!(sibling.most_starved_between, 0, "{case}");
                if every_poll_spends(kinds) {
                    assert!(sibling.most_polls_between <= TOKIO_BUDGET, "{case}");
                }
                assert!(
                    probe.polls() <= most_polls(kinds, count),
                    "{case}: {} polls",
                    probe.polls()
                );
            }
        }
    }
}

/// The same on a multi-thread runtime, the scope a spawned task.
#[test]
fn maps_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for map in MAPS {
        for (kinds, count, limit) in MAP_CASES {
            let probe = Arc::new(Probe::default());
            let work = mapped!(corral::scope, map, cycle(kinds), count, count, limit, probe);
            let values = support::watchdog(|| rt.block_on(rt.spawn(work)).unwrap());
            let case = format!("{map:?}, {kinds:?} x {count}, limit {limit}");
            check_values(map, kinds, count, values, &case);
            assert_eq!(probe.starved(), 0, "{case}");
            assert!(
                probe.polls() <= most_polls(kinds, count),
                "{case}: {} polls",
                probe.polls()
            );
        }
    }
}

/// Past 65,536 items in flight, slots share wake bits (a wake of one marks
/// the others too): a round that stops between two slots of one bit goes
/// on with the next of them, and none of them is left behind. Every item
/// is started in one turn (its first poll yields, spending nothing), then
/// woken through its bit; at 3 units an item, a budget ends at varying
/// places among the slots that share a bit.
#[test]
fn maps_past_the_wake_bits() {
    const COUNT: usize = 70_000;
    for map in MAPS {
        let kinds: &'static [Leaf] = &[Leaf::Polite(3)];
        let probe = Arc::new(Probe::default());
        let work = map_work(Flavour::Local, map, kinds, COUNT, COUNT, &probe);
        let (values, sibling) = run_local(work, &probe);
        let case = format!("{map:?}: {sibling:?}");
        check_values(map, kinds, COUNT, values, &case);
        assert_eq!(probe.starved(), 0, "{case}");
        assert_eq!(sibling.most_starved_between, 0, "{case}");
        assert!(
            probe.polls() <= most_polls(kinds, COUNT),
            "{case}: {} polls",
            probe.polls()
        );
    }
}

/// Outside a tokio runtime a map's items are polled as before: each leaf
/// drains its channel in one poll.
#[test]
fn maps_outside_tokio() {
    for map in MAPS {
        let kinds: &'static [Leaf] = &[Leaf::Channel(1000)];
        let probe = Arc::new(Probe::default());
        let work = map_work(Flavour::Local, map, kinds, 8, 8, &probe);
        let values = support::on_minimal(work);
        check_values(map, kinds, 8, values, &format!("{map:?}"));
        assert_eq!(probe.polls(), 8, "{map:?}");
    }
}

/// A round that stops for the budget goes on where it stopped, so an item
/// that never ends, taking the whole budget at every poll, does not keep
/// the items after it from being polled: it gets one poll a turn like the
/// others. (A pool that went back to its first slots at each turn, or put
/// the wakes it had taken back and took them again, would poll that item
/// first every turn and never come to the rest: the map would hang.) One
/// busy item of each kind: woken at once inside its poll, and woken by
/// tokio after its drivers (through its wake bit); first in the unordered
/// map, last in the ordered one (whose values wait for it otherwise).
#[test]
fn a_map_item_that_never_ends_starves_no_other() {
    const COUNT: usize = 100;
    for flavour in FLAVOURS {
        for map in MAPS {
            for busy in [Leaf::Eager(u64::MAX), Leaf::Polite(u64::MAX)] {
                let busy_at = if map == Map::Unordered { 0 } else { COUNT - 1 };
                let kind_of = move |i: usize| {
                    if i == busy_at {
                        busy
                    } else {
                        Leaf::Polite(300)
                    }
                };
                let probe = Arc::new(Probe::default());
                let work: LocalBoxed<Vec<(usize, u64)>> = match flavour {
                    Flavour::Scope => Box::pin(mapped!(
                        corral::scope,
                        map,
                        kind_of,
                        COUNT,
                        COUNT - 1,
                        COUNT,
                        probe
                    )),
                    Flavour::Local => Box::pin(mapped!(
                        corral::local_scope,
                        map,
                        kind_of,
                        COUNT,
                        COUNT - 1,
                        COUNT,
                        probe
                    )),
                };
                let (mut values, sibling) = run_local(work, &probe);
                let case = format!("{flavour:?} {map:?}, busy {busy:?}: {sibling:?}");
                values.sort_unstable();
                let expected: Vec<_> = (0..COUNT)
                    .filter(|&i| i != busy_at)
                    .map(|i| (i, 300))
                    .collect();
                assert!(values == expected, "{case}: wrong values");
                assert_eq!(probe.starved(), 0, "{case}");
            }
        }
    }
}
