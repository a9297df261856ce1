//! The task tree: what every live scope is running, printable from any thread.
//!
//! A read-only view: the scopes keep the records (`scope/records.rs`: a
//! [`ScopeInfo`] per tracked scope, a child record per child, the list of
//! top-level scopes) and the registry of nested scopes (`scope/nesting.rs`);
//! [`task_tree`] walks them and renders the text. Nothing in `scope/` imports
//! this module. See `scope/records.rs` for what tracking costs.

use std::fmt::{self, Write};
use std::time::{Duration, Instant};

use crate::names::Quoted;
use crate::scope::records::{self, ChildId, NEW, RUNNING, ScopeInfo, Snapshot, WAITING};
use crate::scope::state::{ScopeRef, ScopeShared};
use crate::wait_point::WaitAt;

/// Turns task tracking on or off for scopes opened from now on (scopes
/// already open keep their setting). With it on, [`task_tree`] shows those
/// scopes, their children and their nested scopes.
///
/// Tracking costs each spawn an uncontended lock, each scope poll a clock
/// read, and each child poll two relaxed stores and a thread-local swap; off,
/// it costs nothing measurable. See `docs/benchmarks.md`.
///
/// # Examples
///
/// ```
/// corral::track_tasks(true);
/// # futures::executor::block_on(async {
/// corral::scope(|s| async move {
///     s.spawn(async { Ok::<_, ()>(()) });
///     let tree = corral::task_tree().to_string();
///     assert!(tree.contains("not started yet"), "{tree}");
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # });
/// corral::track_tasks(false);
/// ```
pub fn track_tasks(on: bool) {
    records::set_tracking(on);
}

/// Children shown per scope; the rest are counted by state.
const SHOWN: usize = 32;

/// A snapshot of every tracked scope: see [`task_tree`]. Print it with `{}`.
///
/// # Examples
///
/// ```
/// let tree = corral::task_tree();
/// println!("{tree}");
/// ```
#[derive(Debug, Clone)]
pub struct TaskTree {
    text: String,
    scopes: usize,
    children: usize,
}

impl TaskTree {
    /// How many scopes the snapshot shows.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::task_tree().scopes(), 0); // nothing tracked yet
    /// ```
    pub fn scopes(&self) -> usize {
        self.scopes
    }

    /// How many live children the snapshot counted (shown or summarised).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corral::task_tree().children(), 0);
    /// ```
    pub fn children(&self) -> usize {
        self.children
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Takes a snapshot of the live tracked scopes and their children, from any
/// thread: asyncio's `python -m asyncio pstree` for corral.
///
/// Each scope shows where it was opened, its age, its concurrency limit and
/// whether it is stopping; each child where it was spawned, its age and its
/// state: *not started yet*, *queued behind the limit*, *waiting* (its last
/// poll returned `Pending`), or *running* (being polled right now: a child
/// that stays running is blocking its thread). A child of
/// [`Scope::start`](crate::Scope::start) that has not sent its ready value
/// yet adds *not ready yet* to its state. Parallel children are marked
/// and show their runtime's view. Nested scopes appear under the child (or
/// the body) they run in. At most 32 children are listed per scope; the rest
/// are counted by state.
///
/// Only scopes opened while [`track_tasks`] was on are shown. Taking the
/// snapshot takes each scope's lock briefly; it never waits for a poll.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// corral::track_tasks(true);
/// # futures::executor::block_on(async {
/// corral::Nursery::new()
///     .max_concurrency(1)
///     .scope(|s| async move {
///         s.spawn(async {
///             corral::time::sleep(Duration::from_millis(50)).await;
///             Ok::<_, ()>(())
///         });
///         s.spawn(async { Ok(()) }); // queued behind the limit
///         corral::time::sleep(Duration::from_millis(10)).await;
///         let tree = corral::task_tree().to_string();
///         assert!(tree.contains("waiting") && tree.contains("queued behind the limit"), "{tree}");
///         Ok(())
///     })
///     .await
///     .unwrap();
/// # });
/// corral::track_tasks(false);
/// ```
pub fn task_tree() -> TaskTree {
    let roots: Vec<ScopeRef> = crate::scope::nesting::roots();
    let mut tree = TaskTree {
        text: String::new(),
        scopes: 0,
        children: 0,
    };
    // The clock in force here: a virtual clock's inside its `run`.
    let now = crate::time::now();
    for root in &roots {
        render_scope(&mut tree, root, "", "", now);
    }
    if roots.is_empty() {
        tree.text.push_str("(no tracked scopes)\n");
    }
    tree
}

/// Formats an age compactly: `850µs`, `12ms`, `3.2s`, `4m05s`.
fn age(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{}ms", us / 1_000)
    } else if d.as_secs() < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

fn render_scope(tree: &mut TaskTree, scope: &ScopeShared, first: &str, rest: &str, now: Instant) {
    tree.scopes += 1;
    let _ = write!(tree.text, "{first}");
    let info = scope.user().tree.as_ref();
    match info {
        Some(info) => {
            let kind = if info.is_local() {
                "local scope"
            } else {
                "scope"
            };
            let _ = write!(tree.text, "{kind} ");
            if let Some(name) = crate::names::name_of(info.opened_at()) {
                let _ = write!(tree.text, "{} ", Quoted(name));
            }
            let _ = write!(
                tree.text,
                "opened at {}, age {}",
                info.opened_at(),
                age(now.saturating_duration_since(info.since()))
            );
            if info.limit() != usize::MAX {
                let _ = write!(tree.text, ", limit {}", info.limit());
            }
        }
        None => tree.text.push_str("scope (opened while tracking was off)"),
    }
    if scope.user().stop.is_stopping() {
        tree.text.push_str(", stopping");
        if let Some(reason) = scope.user().nesting.lock().reason {
            let _ = write!(tree.text, " ({reason})");
        }
    }
    tree.text.push('\n');

    let children: Vec<Snapshot> = info.map(ScopeInfo::live).unwrap_or_default();
    tree.children += children.len();
    let limited = info.is_some_and(|i| i.limit() != usize::MAX);
    let mut subscopes: Vec<(ScopeRef, Option<ChildId>)> = scope
        .user()
        .nesting
        .subscopes()
        .into_iter()
        .map(|sub| {
            let parent_child = sub.user().tree.as_ref().and_then(ScopeInfo::in_child);
            (sub, parent_child)
        })
        .collect();

    // The lines under this scope: shown children (with their nested scopes),
    // a summary of the rest, then scopes nested in the body.
    enum Line<'a> {
        Child(&'a Snapshot),
        More(String),
        Body,
    }
    let mut lines: Vec<Line<'_>> = Vec::new();
    let (shown, hidden) = children.split_at(children.len().min(SHOWN));
    for child in shown {
        lines.push(Line::Child(child));
    }
    if !hidden.is_empty() {
        let mut counts = [0usize; 3];
        for child in hidden {
            counts[usize::from(child.state.min(2))] += 1;
        }
        let new = if limited { "queued" } else { "not started" };
        lines.push(Line::More(format!(
            "... and {} more ({} {new}, {} waiting, {} running)",
            hidden.len(),
            counts[0],
            counts[1],
            counts[2]
        )));
    }
    // Scopes nested in a hidden child, or in the body, go under "body".
    let in_shown = |c: &Option<ChildId>| c.is_some_and(|c| shown.iter().any(|s| s.id == c));
    if subscopes.iter().any(|(_, c)| !in_shown(c)) {
        lines.push(Line::Body);
    }

    let count = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let (branch, indent) = drawing(i + 1 == count);
        let nested: Vec<ScopeRef> = match &line {
            Line::Child(child) => {
                let since = now.saturating_duration_since(child.since);
                let name =
                    crate::names::name_of(child.spawned_at).map(|n| format!("{} ", Quoted(n)));
                let _ = write!(
                    tree.text,
                    "{rest}{branch}{}child {}spawned at {}, {}, age {}",
                    if child.parallel { "parallel " } else { "" },
                    name.unwrap_or_default(),
                    child.spawned_at,
                    state_text(child, limited),
                    age(since)
                );
                if let (WAITING, Some((what, at))) = (child.state, child.wait) {
                    let _ = match at {
                        WaitAt::Place(at) => write!(tree.text, ", on {} at {at}", what.name()),
                        WaitAt::Until(ns) if ns >= crate::time::NEVER_NS => {
                            write!(tree.text, ", on {} with no end", what.name())
                        }
                        WaitAt::Until(ns) => {
                            let left = crate::time::until_ns(ns);
                            write!(tree.text, ", on {} ending in {}", what.name(), age(left))
                        }
                    };
                }
                if child.parallel && child.state == NEW && !limited && since >= NEVER_STARTED {
                    // A runtime that takes a task and never polls it hangs
                    // the scope silently (see `Scope::spawn_on`).
                    let _ = write!(
                        tree.text,
                        " (spawned on a runtime {} ago and never started: is the runtime running?)",
                        age(since)
                    );
                }
                tree.text.push('\n');
                take_where(&mut subscopes, |c| *c == Some(child.id))
            }
            Line::More(text) => {
                let _ = writeln!(tree.text, "{rest}{branch}{text}");
                Vec::new()
            }
            Line::Body => {
                let _ = writeln!(tree.text, "{rest}{branch}(in the body)");
                take_where(&mut subscopes, |_| true)
            }
        };
        let inner_rest = format!("{rest}{indent}");
        let n = nested.len();
        for (j, sub) in nested.iter().enumerate() {
            let (b, ind) = drawing(j + 1 == n);
            render_scope(
                tree,
                sub,
                &format!("{inner_rest}{b}"),
                &format!("{inner_rest}{ind}"),
                now,
            );
        }
    }
}

/// The drawing before a line, and the indent under it, for the last line
/// of a level or another one.
fn drawing(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└── ", "    ")
    } else {
        ("├── ", "│   ")
    }
}

/// Removes and returns, in order, the nested scopes whose child matches.
fn take_where(
    subscopes: &mut Vec<(ScopeRef, Option<ChildId>)>,
    matches: impl Fn(&Option<ChildId>) -> bool,
) -> Vec<ScopeRef> {
    let (taken, rest): (Vec<_>, Vec<_>) = std::mem::take(subscopes)
        .into_iter()
        .partition(|(_, c)| matches(c));
    *subscopes = rest;
    taken.into_iter().map(|(scope, _)| scope).collect()
}

/// How long a parallel child may wait for its runtime's first poll before
/// the tree says it never started.
const NEVER_STARTED: Duration = Duration::from_secs(1);

fn state_text(child: &Snapshot, limited: bool) -> &'static str {
    // A started child (never parallel) says so until it sends its value.
    if child.not_ready {
        return match child.state {
            NEW if limited => "queued behind the limit (not ready yet)",
            NEW => "not started yet (not ready yet)",
            WAITING => "waiting (not ready yet)",
            RUNNING => "running (being polled now, not ready yet)",
            _ => "done",
        };
    }
    match (child.state, child.parallel) {
        (NEW, _) if limited => "queued behind the limit",
        (NEW, true) => "not started yet on its runtime",
        (NEW, false) => "not started yet",
        (WAITING, _) => "waiting",
        (RUNNING, true) => "running on its runtime now",
        (RUNNING, false) => "running (being polled now)",
        _ => "done",
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use crate::test_support::block_on;

    /// Under Miri: a tracked scope nested in a tracked child, dumped from
    /// inside, then everything released.
    #[test]
    fn a_nested_tracked_scope_is_dumped_and_released() {
        super::track_tasks(true);
        let tree = block_on(crate::scope(|s| async move {
            let h = s.spawn(crate::scope(|inner| async move {
                let tree = inner.spawn(async { Ok(super::task_tree().to_string()) });
                Ok::<_, ()>(tree.await)
            }));
            Ok(h.await)
        }))
        .unwrap();
        super::track_tasks(false);
        assert!(tree.contains("running (being polled now)"), "{tree}");
        assert!(tree.lines().count() >= 4, "{tree}");
    }
}
