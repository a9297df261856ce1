//! `corral::context`: values set around a spawn reach the child, at any
//! depth, local or parallel. The tests in `context/behaviour.rs` run for
//! `scope` and `local_scope`, on smol and on the minimal executor; the ones
//! only a `Send` scope or no scope at all can express are at the end.
//!
//! The scenarios port what the peers test of their inherited context:
//! CPython's `Lib/test/test_context.py` (`test_context_copy_*`: a task
//! created inside a context sees it; a change inside the task stays there),
//! Swift's task-local tests (`TaskLocalTests`: a value bound around a child
//! task is read there, nested bindings shadow and unwind, a detached parent's
//! binding is still read by the child after the binding block ended) and
//! Java's `ScopedValue` tests (`testStructuredTaskScopeInherit`: forks see
//! the binding, a rebinding inside a fork stays in that fork).

#[macro_use]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corral::context::{self, with_value};
use corral::{JoinSet, Ready, supervised};
use futures::StreamExt;
use support::{yield_now, yield_times};

#[derive(Clone, Debug, PartialEq)]
struct RequestId(u32);

#[derive(Clone, Debug, PartialEq)]
struct Tenant(&'static str);

/// The tests of `context/behaviour.rs` on `corral::scope`.
#[path = "context"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `context/behaviour.rs` on `corral::local_scope`.
#[path = "context"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// A scope spawned as a task of a threaded runtime keeps the values set
/// around it: its local children run on whichever thread polls it.
#[test]
fn a_scope_on_a_threaded_runtime_keeps_its_values() {
    let ex = support::smol_executor();
    let task = ex.spawn(with_value(
        RequestId(9),
        corral::scope(|s| async move {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(async {
                        yield_now().await;
                        Ok(context::get::<RequestId>())
                    })
                })
                .collect();
            Ok::<_, ()>(corral::join_all(handles).await)
        }),
    ));
    let seen = support::watchdog(|| futures::executor::block_on(task)).unwrap();
    assert_eq!(seen, vec![Some(RequestId(9)); 8]);
}

/// The gather family polls its futures in place: they see the values around
/// the call, and a value set inside one stays there.
#[test]
fn gathered_futures_see_the_values_around_the_call() {
    let seen = support::on_minimal(with_value(RequestId(1), async {
        corral::join_all([
            Box::pin(async { context::get::<RequestId>() })
                as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            Box::pin(with_value(RequestId(2), async {
                yield_now().await;
                context::get::<RequestId>()
            })),
            Box::pin(async {
                yield_times(2).await;
                context::get::<RequestId>()
            }),
        ])
        .await
    }));
    assert_eq!(
        seen,
        vec![Some(RequestId(1)), Some(RequestId(2)), Some(RequestId(1))]
    );
}

/// Outside every `with_value` nothing is found, and reading a type never
/// set finds nothing inside one either.
#[test]
fn nothing_is_found_where_nothing_was_set() {
    assert_eq!(context::get::<RequestId>(), None);
    let seen = support::on_minimal(with_value(RequestId(1), async {
        (
            context::get::<Tenant>(),
            context::with(|t: Option<&Tenant>| t.is_none()),
        )
    }));
    assert_eq!(seen, (None, true));
    assert_eq!(context::get::<RequestId>(), None);
}

/// A `with_value` polled again after its future panicked passes the poll on
/// (the async block says it panicked) rather than losing track of its value.
#[test]
fn a_with_value_polled_after_a_panic_panics_in_its_future() {
    let mut fut = Box::pin(with_value(RequestId(1), async {
        panic!("inner");
    }));
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        support::poll_once(&mut fut)
    }));
    assert!(first.is_err());
    // The value was moved into the context at the first poll; polling a
    // panicked async block panics in the block itself.
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        support::poll_once(&mut fut)
    }))
    .unwrap_err();
    let message = again
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| again.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("resumed after panicking"), "{message}");
}

/// `WithValue` prints whether it has started, not its value or future.
#[test]
fn with_value_is_debug() {
    let mut fut = Box::pin(with_value(RequestId(1), async {}));
    assert_eq!(format!("{fut:?}"), "WithValue { started: false, .. }");
    let _ = support::poll_once(&mut fut);
    assert_eq!(format!("{fut:?}"), "WithValue { started: true, .. }");
}

/// A thousand nested values: a read walks them all and finds the outermost
/// type; each level unwinds.
#[test]
fn deep_chains_read_and_unwind() {
    fn nest(
        depth: u32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (u32, Option<RequestId>)>>> {
        Box::pin(async move {
            if depth == 0 {
                (0, context::get::<RequestId>())
            } else {
                let (n, found) = with_value(Tenant("level"), nest(depth - 1)).await;
                (n + 1, found)
            }
        })
    }
    let (n, found) = support::on_minimal(with_value(RequestId(5), nest(1000)));
    assert_eq!((n, found), (1000, Some(RequestId(5))));
}
