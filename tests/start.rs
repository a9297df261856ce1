//! `Scope::start` / `LocalScope::start`: a child that says when it is
//! ready. The tests in `start/behaviour.rs` run for `scope` and
//! `local_scope`, on smol and on the minimal executor; the ones only a
//! `Send` scope can express are at the end.

#[macro_use]
mod support;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use corral::{Ready, StartError};
use futures::FutureExt;
use support::{DropCounter, pending_forever, yield_now};

/// The tests of `start/behaviour.rs` on `corral::scope`.
#[path = "start"]
mod scope_flavour {
    use super::*;
    use crate::support::flavour::scope::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The tests of `start/behaviour.rs` on `corral::local_scope`.
#[path = "start"]
mod local_flavour {
    use super::*;
    use crate::support::flavour::local::*;

    #[macro_use]
    #[allow(clippy::duplicate_mod)] // once per flavour, on purpose
    mod behaviour;
    use behaviour::*;

    each_test!(on_both_executors);
}

/// The ready value may be sent from another thread (a child that hands its
/// `Ready` to a thread of its own); the starter is woken there.
#[test]
fn the_ready_value_may_come_from_another_thread() {
    support::on_smol(async {
        let out = corral::scope(|s| async move {
            let port = s
                .start(|ready: Ready<u16>| async move {
                    let (done_tx, done_rx) = futures::channel::oneshot::channel();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(5));
                        let _ = done_tx.send(ready.send(4242).is_ok());
                    });
                    assert!(done_rx.await.unwrap());
                    Ok(())
                })
                .await;
            Ok::<_, ()>(port)
        })
        .await;
        assert_eq!(out, Ok(Ok(4242)));
    });
}

/// `Ready<R>` is `Send` and `Sync` when `R` is `Send`; `Start` when its
/// value and error are; `StartError` displays its cause.
#[test]
fn start_types_cross_threads_and_display() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Ready<u8>>();
    send::<corral::Start<u8, String>>();
    assert_eq!(
        StartError::Failed("no port").to_string(),
        "the child failed before it was ready: no port"
    );
    assert_eq!(
        StartError::<&str>::Ended.to_string(),
        "the child ended before it was ready"
    );
}
