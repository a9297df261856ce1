//! The task tree: nesting, states, a queued child, parallel children, a dump
//! taken from another thread while a child blocks its executor, and nothing
//! shown when tracking is off. Tracking is process-wide, so the tests take
//! turns. Each test runs on smol and on the minimal executor.

// The `serial` guard is held across awaits on purpose: it only makes the
// test threads take turns.
#![allow(clippy::await_holding_lock)]
#![cfg(feature = "async-io")]

#[macro_use]
mod support;

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use corral::{JoinHandle, Scope, task_tree, track_tasks};
use support::yield_now;

/// The tests take turns, each with tracking on; off again afterwards.
struct Turn(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

fn turn(tracking: bool) -> Turn {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    track_tasks(tracking);
    Turn(guard)
}

impl Drop for Turn {
    fn drop(&mut self) {
        track_tasks(false);
    }
}

/// Spawns and returns where: the spawn location the tree should show.
#[track_caller]
fn spawn_here<'env, U: Send + 'env>(
    s: &Scope<'env, ()>,
    fut: impl Future<Output = Result<U, ()>> + Send + 'env,
) -> (JoinHandle<U>, String) {
    let at = Location::caller();
    (s.spawn(fut), format!("tree.rs:{}:", at.line()))
}

/// The line of the tree that mentions `needle`.
fn line_with<'a>(tree: &'a str, needle: &str) -> &'a str {
    tree.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{tree}"))
}

/// How deep a line is indented (tree drawing is 4 columns per level).
fn depth(line: &str) -> usize {
    let drawing = line
        .chars()
        .take_while(|&c| !(c.is_ascii_alphanumeric() || c == '(' || c == '.'))
        .count();
    drawing / 4
}

/// Scopes nest under the child they run in, or under "(in the body)".
async fn the_tree_shows_nesting() {
    let _turn = turn(true);
    corral::scope(|s| async move {
        let inner_at = Arc::new(Mutex::new(String::new()));
        let inner_at2 = inner_at.clone();
        let (outer_child, outer_at) = spawn_here(&s, async move {
            corral::scope(|inner| async move {
                let (h, at) = spawn_here(&inner, std::future::pending::<Result<(), ()>>());
                *inner_at2.lock().unwrap() = at;
                drop(h);
                Ok(())
            })
            .await
        });
        yield_now().await;
        yield_now().await;
        let body_scope = corral::local_scope(|b| async move {
            b.spawn(async {
                yield_now().await;
                Ok::<_, ()>(())
            });
            let tree = task_tree();
            Ok::<_, ()>(tree)
        })
        .await
        .unwrap();
        let text = body_scope.to_string();
        let inner_at = inner_at.lock().unwrap().clone();
        let outer = line_with(&text, &outer_at);
        let inner = line_with(&text, &inner_at);
        assert!(
            outer.contains("child spawned at") && outer.contains("waiting"),
            "{text}"
        );
        assert_eq!(
            depth(inner),
            depth(outer) + 2,
            "nested under its child:\n{text}"
        );
        let body = line_with(&text, "(in the body)");
        assert_eq!(depth(body), depth(outer), "{text}");
        assert!(text.contains("local scope opened at"), "{text}");
        assert_eq!(body_scope.scopes(), 3, "{text}");
        drop(outer_child);
        Err::<(), _>(()) // drops the pending grandchild
    })
    .await
    .unwrap_err();
    assert_eq!(task_tree().scopes(), 0, "finished scopes leave the tree");
}

/// Each state: not started, queued behind the limit, waiting, running (a child
/// sees itself being polled).
async fn the_tree_shows_states_and_a_queued_child() {
    let _turn = turn(true);
    corral::Nursery::new()
        .max_concurrency(2)
        .scope(|s| async move {
            let (waiting, waiting_at) = spawn_here(&s, async {
                yield_now().await;
                yield_now().await;
                Ok(())
            });
            let (running, running_at) = spawn_here(&s, async {
                let tree = task_tree().to_string();
                Ok(tree)
            });
            let (queued, queued_at) = spawn_here(&s, async { Ok(String::new()) });
            let early = task_tree().to_string();
            assert!(line_with(&early, &waiting_at).contains("queued behind the limit"));
            let tree = running.await;
            assert!(
                line_with(&tree, &running_at).contains("running (being polled now)"),
                "{tree}"
            );
            assert!(line_with(&tree, &waiting_at).contains("waiting"), "{tree}");
            assert!(
                line_with(&tree, &queued_at).contains("queued behind the limit"),
                "{tree}"
            );
            assert!(
                line_with(&tree, "scope opened at").contains("limit 2"),
                "{tree}"
            );
            waiting.await;
            queued.await;
            let after = task_tree().to_string();
            assert!(
                !after.contains(&waiting_at),
                "finished children leave:\n{after}"
            );
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
}

/// Parallel children are marked, and show their runtime's view: one blocked
/// on its runtime is "running" there.
async fn parallel_children_are_marked() {
    let _turn = turn(true);
    let ex = support::smol_executor();
    let barrier = Arc::new(Barrier::new(2));
    corral::scope(|s| async move {
        let b2 = barrier.clone();
        let at = line!() + 1;
        let h = s.spawn_on(ex, async move {
            b2.wait(); // blocks its runtime thread until the dump is taken
            b2.wait();
            Ok::<_, ()>(())
        });
        let b3 = barrier.clone();
        let tree = corral::unblock(move || {
            b3.wait();
            let tree = task_tree().to_string();
            b3.wait();
            tree
        })
        .await;
        let line = line_with(&tree, &format!("tree.rs:{at}:"));
        assert!(line.contains("parallel child"), "{tree}");
        assert!(line.contains("running on its runtime now"), "{tree}");
        h.await;
        Ok(())
    })
    .await
    .unwrap();
}

/// A parallel child its runtime never starts (an executor nobody runs) is
/// marked once a second has passed; it runs once the executor does.
async fn a_parallel_child_never_started_is_marked() {
    let _turn = turn(true);
    let ex = Arc::new(async_executor::Executor::<'static>::new());
    let ex_ref = &ex;
    let out = corral::scope(|s| async move {
        let at = line!() + 1;
        let h = s.spawn_on(&**ex_ref, async { Ok::<_, ()>(7) });
        corral::time::sleep(std::time::Duration::from_millis(1100)).await;
        let tree = task_tree().to_string();
        let line = line_with(&tree, &format!("tree.rs:{at}:"));
        assert!(
            line.contains("never started: is the runtime running?"),
            "{tree}"
        );
        // Now run it: the child starts and the scope ends.
        let (stop, stopped) = futures::channel::oneshot::channel::<()>();
        let ex2 = ex_ref.clone();
        let runner = std::thread::spawn(move || {
            futures::executor::block_on(ex2.run(async {
                let _ = stopped.await;
            }))
        });
        let value = h.await;
        let _ = stop.send(());
        runner.join().unwrap();
        Ok(value)
    })
    .await;
    assert_eq!(out, Ok(7));
}

/// The point of the tree: a watchdog thread prints it while a child blocks
/// the executor, and it names the culprit. The stop request shows too.
async fn a_dump_from_another_thread_finds_the_blocking_child() {
    let _turn = turn(true);
    let release = Arc::new(AtomicBool::new(false));
    let release2 = release.clone();
    let watchdog = std::thread::spawn(move || {
        // Wait until the culprit is running, then take the tree.
        loop {
            let tree = task_tree().to_string();
            if tree.contains("running (being polled now)") {
                release2.store(true, Ordering::SeqCst);
                return tree;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let culprit_at = corral::scope(|s| async move {
        s.stop();
        let (_, at) = spawn_here(&s, async move {
            // Blocks the executor thread: nothing else here can run.
            while !release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        });
        Ok::<_, ()>(at)
    })
    .await
    .unwrap();
    let tree = watchdog.join().unwrap();
    assert!(
        line_with(&tree, &culprit_at).contains("running (being polled now)"),
        "{tree}"
    );
    assert!(
        line_with(&tree, "scope opened at").contains("stopping"),
        "{tree}"
    );
}

/// Beyond 32 children per scope, the rest are counted by state.
async fn many_children_are_summarised() {
    let _turn = turn(true);
    corral::scope(|s| async move {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                s.spawn(async {
                    yield_now().await;
                    Ok::<_, ()>(())
                })
            })
            .collect();
        yield_now().await;
        let tree = task_tree();
        let text = tree.to_string();
        assert_eq!(tree.children(), 100, "{text}");
        assert!(text.contains("... and 68 more"), "{text}");
        corral::join_all(handles).await;
        Ok(())
    })
    .await
    .unwrap();
}

/// A child of `start` says "not ready yet" until it sends its value: while
/// it waits, while it is polled, and not once it has sent. Written once for
/// both scope flavours.
macro_rules! a_started_child_is_not_ready_until_it_sends {
    ($name:ident, $open:path) => {
        async fn $name() {
            let _turn = turn(true);
            $open(|s| async move {
                let (go_tx, go_rx) = futures::channel::oneshot::channel::<()>();
                let (end_tx, end_rx) = futures::channel::oneshot::channel::<()>();
                // The scope's one child (inside a macro, locations name the
                // macro's call).
                let at = "child spawned at";
                let start = s.start(|ready| async move {
                    go_rx.await.unwrap();
                    let tree = task_tree().to_string();
                    assert!(
                        line_with(&tree, at).contains("running (being polled now, not ready yet)"),
                        "{tree}"
                    );
                    ready.send(()).unwrap();
                    end_rx.await.unwrap();
                    Ok::<_, ()>(())
                });
                let mut start = std::pin::pin!(start);
                assert!(futures::poll!(start.as_mut()).is_pending());
                yield_now().await;
                let waiting = task_tree().to_string();
                assert!(
                    line_with(&waiting, at).contains("waiting (not ready yet)"),
                    "{waiting}"
                );
                go_tx.send(()).unwrap();
                start.await.unwrap();
                let ready = task_tree().to_string();
                let line = line_with(&ready, at);
                assert!(
                    line.contains("waiting") && !line.contains("not ready"),
                    "{ready}"
                );
                end_tx.send(()).unwrap();
                Ok(())
            })
            .await
            .unwrap();
        }
    };
}

a_started_child_is_not_ready_until_it_sends!(
    a_started_child_is_not_ready_until_it_sends,
    corral::scope
);
a_started_child_is_not_ready_until_it_sends!(
    a_started_local_child_is_not_ready_until_it_sends,
    corral::local_scope
);

/// A value sent from another thread (the child handed its `Ready` away)
/// clears "not ready yet" at the child's next poll.
async fn a_value_sent_from_elsewhere_clears_not_ready_at_the_next_poll() {
    let _turn = turn(true);
    corral::scope(|s| async move {
        let at = line!() + 1;
        let start = s.start(|ready| async move {
            let (sent_tx, sent_rx) = futures::channel::oneshot::channel();
            std::thread::spawn(move || sent_tx.send(ready.send(7u8).is_ok()));
            assert!(sent_rx.await.unwrap());
            // The send may have finished before the wait above, in this same
            // poll: a checkpoint makes sure of a poll after it.
            yield_now().await;
            // Polled again since the send: no longer "not ready yet".
            let tree = task_tree().to_string();
            let line = line_with(&tree, &format!("tree.rs:{at}:"));
            assert!(
                line.contains("running (being polled now)") && !line.contains("not ready"),
                "{tree}"
            );
            Ok::<_, ()>(())
        });
        assert_eq!(start.await, Ok(7));
        Ok(())
    })
    .await
    .unwrap();
}

/// With tracking off, scopes and their children are not shown.
async fn nothing_is_shown_when_tracking_is_off() {
    let _turn = turn(false);
    corral::scope(|s| async move {
        s.spawn(async {
            yield_now().await;
            Ok::<_, ()>(())
        });
        let tree = task_tree();
        assert_eq!(tree.scopes(), 0);
        assert_eq!(tree.to_string(), "(no tracked scopes)\n");
        Ok(())
    })
    .await
    .unwrap();
}

/// On a virtual clock the ages are virtual: a scope opened, then an hour
/// and a half of sleeping, shows its age and its children's as 90m00s and
/// the sleeper's end as 30m00s away.
async fn ages_follow_a_virtual_clock() {
    let _turn = turn(true);
    let clock = corral::time::VirtualClock::autojump();
    let c = &clock;
    let text = clock
        .run(corral::Nursery::new().name("timed").scope(|s| async move {
            s.spawn_named("sleeper", async {
                corral::time::sleep(Duration::from_secs(120 * 60)).await;
                Ok::<_, ()>(())
            });
            corral::time::sleep(Duration::from_secs(90 * 60)).await;
            assert_eq!(c.elapsed(), Duration::from_secs(90 * 60));
            Ok(task_tree().to_string())
        }))
        .await
        .unwrap();
    let scope = line_with(&text, "scope `timed`");
    assert!(scope.contains("age 90m00s"), "{text}");
    let sleeper = line_with(&text, "child `sleeper`");
    assert!(sleeper.contains("age 90m00s"), "{text}");
    assert!(sleeper.contains("ending in 30m00s"), "{text}");
}

on_both_executors!(
    ages_follow_a_virtual_clock,
    the_tree_shows_nesting,
    the_tree_shows_states_and_a_queued_child,
    parallel_children_are_marked,
    a_parallel_child_never_started_is_marked,
    a_dump_from_another_thread_finds_the_blocking_child,
    many_children_are_summarised,
    a_started_child_is_not_ready_until_it_sends,
    a_started_local_child_is_not_ready_until_it_sends,
    a_value_sent_from_elsewhere_clears_not_ready_at_the_next_poll,
    nothing_is_shown_when_tracking_is_off,
);
