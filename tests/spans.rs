//! With the `tracing` feature, each child runs inside the span that was
//! current where it was spawned: local and parallel children, at any depth,
//! and their destructors; `Nursery::inherit_span(false)` opts a scope out.
//! The tests in `spans/behaviour.rs` run for `scope` and `local_scope`, on
//! smol and on the minimal executor.
//!
//! A small subscriber of our own records, for every event, the names of the
//! spans it happened in (innermost first) and, for every span, its parent:
//! it keeps a stack of entered spans per thread, as `tracing-subscriber`'s
//! registry does, so what it records is what any subscriber would see. It
//! is the process's global default, so that parallel children on a
//! runtime's threads report to it too; each test uses span names and
//! messages of its own.
//!
//! Scenarios from the reports that asked for it: hyper-util PR #323 and
//! rust-sdk PR #334 add `.in_current_span()` at each spawn by hand; tokio's
//! `tests/tracing_task.rs` checks that a spawned task's span is a child of
//! the spawner's.
#![cfg(feature = "tracing")]

#[macro_use]
mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber, info, info_span};
use tracing_core::span::Current;

use support::{yield_now, yield_times};

/// What the subscriber saw.
#[derive(Default)]
struct Seen {
    /// Per span id: its name, its `tag` field and its parent's id.
    spans: HashMap<u64, (&'static Metadata<'static>, u64, Option<u64>)>,
    /// Per event: its message and the names of the spans it happened in,
    /// innermost first.
    events: Vec<(String, Vec<&'static str>)>,
}

struct Recorder {
    next: AtomicU64,
    seen: Mutex<Seen>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::new(Recorder {
            next: AtomicU64::new(1),
            seen: Mutex::new(Seen::default()),
        }));
        tracing::subscriber::set_global_default(Global(recorder)).unwrap();
        recorder
    })
}

/// The names of the spans the event with `message` happened in (it must
/// have happened once).
fn path_of(message: &str) -> Vec<&'static str> {
    let seen = recorder().seen.lock().unwrap();
    let found: Vec<_> = seen.events.iter().filter(|(m, _)| m == message).collect();
    assert_eq!(found.len(), 1, "event {message:?}: {:?}", seen.events);
    found[0].1.clone()
}

/// The name of the parent of the (one) span named `name` with `tag`.
fn parent_of(name: &str, tag: u64) -> Option<&'static str> {
    let seen = recorder().seen.lock().unwrap();
    let found: Vec<_> = seen
        .spans
        .values()
        .filter(|(m, t, _)| m.name() == name && *t == tag)
        .collect();
    assert_eq!(found.len(), 1, "span {name:?} tagged {tag}");
    found[0].2.map(|parent| seen.spans[&parent].0.name())
}

/// A number of its own for each run of a test, for its messages and its
/// spans' `tag` field (the four runs of a behaviour test share names).
fn tag() -> u64 {
    recorder();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

struct Global(&'static Recorder);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

struct Tag(u64);

impl Visit for Tag {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "tag" {
            self.0 = value;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

impl Subscriber for Global {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        let parent = if attrs.is_contextual() {
            ENTERED.with(|e| e.borrow().last().copied())
        } else {
            attrs.parent().map(Id::into_u64)
        };
        let mut tag = Tag(0);
        attrs.record(&mut tag);
        let mut seen = self.0.seen.lock().unwrap();
        seen.spans.insert(id, (attrs.metadata(), tag.0, parent));
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let mut seen = self.0.seen.lock().unwrap();
        let mut path = Vec::new();
        let mut at = ENTERED.with(|e| e.borrow().last().copied());
        while let Some(id) = at {
            let (meta, _, parent) = seen.spans[&id];
            path.push(meta.name());
            at = parent;
        }
        seen.events.push((message.0, path));
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
        let top = ENTERED.with(|e| e.borrow().last().copied());
        match top {
            Some(id) => {
                let meta = self.0.seen.lock().unwrap().spans[&id].0;
                Current::new(Id::from_u64(id), meta)
            }
            None => Current::none(),
        }
    }
}

/// The tests of `spans/behaviour.rs` on `corral::scope`.
#[path = "spans"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `spans/behaviour.rs` on `corral::local_scope`.
#[path = "spans"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// `Nursery::inherit_span(false)`: children run in whatever span is current
/// where the scope is polled (here none), on both flavours.
#[test]
fn a_nursery_can_opt_out() {
    let t = tag();
    let out = support::on_minimal(async move {
        let a = corral::Nursery::new()
            .inherit_span(false)
            .scope(|s| async move {
                info_span!("not_inherited", tag = t).in_scope(|| {
                    s.spawn(async move {
                        info!("{t} opted out");
                        Ok(())
                    })
                });
                Ok::<_, ()>(())
            })
            .await;
        let b = corral::Nursery::new()
            .inherit_span(false)
            .local_scope(|s| async move {
                info_span!("not_inherited_local", tag = t).in_scope(|| {
                    s.spawn(async move {
                        info!("{t} opted out locally");
                        Ok(())
                    })
                });
                Ok::<_, ()>(())
            })
            .await;
        (a, b)
    });
    assert_eq!(out, (Ok(()), Ok(())));
    assert_eq!(path_of(&format!("{t} opted out")), Vec::<&str>::new());
    assert_eq!(
        path_of(&format!("{t} opted out locally")),
        Vec::<&str>::new()
    );
}
