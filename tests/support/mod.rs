//! Test support: the minimal std-only executor, a watchdog, drop counters, the
//! macro that runs a test under smol *and* the minimal executor, and the two
//! scope flavours (`scope`, `local_scope`) that the behaviour tests run on.
#![allow(dead_code, unreachable_pub)]

pub mod exec;
pub mod pool;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long any single test may run before the watchdog fails it.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `f`; if it has not returned within [`WATCHDOG`], prints which test hung
/// and exits the test binary with a failure, so a hang fails CI instead of
/// stalling it. The watchdog thread is stopped and joined when `f` returns or
/// panics, so no thread outlives the test (Miri checks that).
pub fn watchdog<T>(f: impl FnOnce() -> T) -> T {
    let name = std::thread::current().name().unwrap_or("?").to_string();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(WATCHDOG) {
            eprintln!("watchdog: test `{name}` hung for {WATCHDOG:?}; failing the run");
            std::process::exit(101);
        }
    });
    /// Stops the watchdog on every way out of `f`.
    struct Stop(Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Some((done, thread)) = self.0.take() {
                let _ = done.send(());
                drop(thread.join());
            }
        }
    }
    let _stop = Stop(Some((done, thread)));
    f()
}

/// Runs a future to completion on smol's `LocalExecutor` (as a spawned task, so
/// wake-ups go through async-task's real wakers), under the watchdog.
pub fn on_smol<F: Future>(fut: F) -> F::Output {
    watchdog(|| {
        let ex = smol::LocalExecutor::new();
        smol::block_on(ex.run(ex.spawn(fut)))
    })
}

/// Runs a future to completion on the minimal std-only executor, under the
/// watchdog.
pub fn on_minimal<F: Future>(fut: F) -> F::Output {
    watchdog(|| exec::block_on(fut))
}

/// smol's executor, run by two threads for the whole test binary: a runtime
/// for parallel children.
pub fn smol_executor() -> &'static Arc<async_executor::Executor<'static>> {
    static EX: std::sync::OnceLock<Arc<async_executor::Executor<'static>>> =
        std::sync::OnceLock::new();
    EX.get_or_init(|| {
        let ex = Arc::new(async_executor::Executor::new());
        for _ in 0..2 {
            let ex = ex.clone();
            std::thread::spawn(move || {
                futures::executor::block_on(ex.run(std::future::pending::<()>()))
            });
        }
        ex
    })
}

/// `n`, or a hundredth of it under Miri, which runs tests ~1000x slower.
pub fn scaled(n: usize) -> usize {
    if cfg!(miri) { (n / 100).max(2) } else { n }
}

/// Yields once: wakes itself, returns `Pending`, then `Ready` (the crate's
/// own checkpoint, pinned in `tests/checkpoints`).
pub use corral::yield_now;

/// Yields `n` times.
pub async fn yield_times(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

/// Counts drops: `DropCounter::new()` then `counter.guard()` inside a future.
#[derive(Clone, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new() -> Self {
        Self::default()
    }
    /// A guard that adds one to the counter when dropped.
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Adds one to its counter when dropped.
pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that is `Pending` forever (without waking) and counts its drop.
pub fn pending_forever<T>(counter: &DropCounter) -> impl Future<Output = T> + Send + 'static {
    let guard = counter.guard();
    async move {
        let _guard = guard;
        std::future::pending::<T>().await
    }
}

/// Polls `fut` once with a no-op waker.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(fut).poll(&mut cx)
}

/// The two scope flavours under the same names, for the behaviour tests that
/// run four times: {`scope`, `local_scope`} × {smol, minimal executor}.
///
/// A test file writes those tests once, as plain items (which rustfmt
/// formats) in `tests/<file>/behaviour.rs`, and includes that file twice:
/// `#[path = "<file>"] mod scope_flavour { mod behaviour; }`, and the same
/// for `local_flavour`. Each flavour module imports `flavour::scope::*` or
/// `flavour::local::*`, so `open` in a body is `corral::scope` or
/// `corral::local_scope`, and runs the tests that the file's `each_test!`
/// names (see `tests/scope.rs`).
pub mod flavour {
    /// The `corral::scope` flavour.
    pub mod scope {
        use std::future::Future;
        use std::time::Duration;

        use corral::{Nursery, Scope, ScopeFuture};

        #[allow(unused_imports)] // by the test binaries without behaviour tests
        pub use corral::scope as open;

        /// `open` with `Nursery::max_concurrency(n)`.
        pub fn open_limited<'env, T, E, B, Fut>(n: usize, body: B) -> ScopeFuture<'env, T, E, Fut>
        where
            B: FnOnce(Scope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            Nursery::new().max_concurrency(n).scope(body)
        }

        /// `open` with `Nursery::grace(grace)`.
        pub fn open_graceful<'env, T, E, B, Fut>(
            grace: Duration,
            body: B,
        ) -> ScopeFuture<'env, T, E, Fut>
        where
            B: FnOnce(Scope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            Nursery::new().grace(grace).scope(body)
        }

        /// `open` with the settings of `nursery`.
        pub fn open_in<'env, T, E, B, Fut>(
            nursery: Nursery,
            body: B,
        ) -> ScopeFuture<'env, T, E, Fut>
        where
            B: FnOnce(Scope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            nursery.scope(body)
        }

        /// `open` with the settings of `nursery`, keeping every error.
        #[track_caller]
        pub fn open_every_in<'env, T, E, B, Fut>(
            nursery: Nursery,
            body: B,
        ) -> corral::EveryErrorFuture<ScopeFuture<'env, T, E, Fut>>
        where
            B: FnOnce(Scope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            nursery.every_error().scope(body)
        }
    }

    /// The `corral::local_scope` flavour.
    pub mod local {
        use std::future::Future;
        use std::time::Duration;

        use corral::{LocalScope, LocalScopeFuture, Nursery};

        #[allow(unused_imports)] // by the test binaries without behaviour tests
        pub use corral::local_scope as open;

        /// `open` with `Nursery::max_concurrency(n)`.
        pub fn open_limited<'env, T, E, B, Fut>(
            n: usize,
            body: B,
        ) -> LocalScopeFuture<'env, T, E, Fut>
        where
            B: FnOnce(LocalScope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            Nursery::new().max_concurrency(n).local_scope(body)
        }

        /// `open` with `Nursery::grace(grace)`.
        pub fn open_graceful<'env, T, E, B, Fut>(
            grace: Duration,
            body: B,
        ) -> LocalScopeFuture<'env, T, E, Fut>
        where
            B: FnOnce(LocalScope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            Nursery::new().grace(grace).local_scope(body)
        }

        /// `open` with the settings of `nursery`.
        pub fn open_in<'env, T, E, B, Fut>(
            nursery: Nursery,
            body: B,
        ) -> LocalScopeFuture<'env, T, E, Fut>
        where
            B: FnOnce(LocalScope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            nursery.local_scope(body)
        }

        /// `open` with the settings of `nursery`, keeping every error.
        #[track_caller]
        pub fn open_every_in<'env, T, E, B, Fut>(
            nursery: Nursery,
            body: B,
        ) -> corral::EveryErrorFuture<LocalScopeFuture<'env, T, E, Fut>>
        where
            B: FnOnce(LocalScope<'env, E>) -> Fut,
            Fut: Future<Output = Result<T, E>>,
            T: 'env,
            E: 'env,
        {
            nursery.every_error().local_scope(body)
        }
    }
}

/// Runs each plain async test fn under smol and the minimal executor.
#[allow(unused_macros)]
macro_rules! on_both_executors {
    ($($name:ident),* $(,)?) => {
        mod on_smol {
            $( #[test] fn $name() { crate::support::on_smol(super::$name()) } )*
        }
        mod on_minimal {
            $( #[test] fn $name() { crate::support::on_minimal(super::$name()) } )*
        }
    };
}

/// A waker that counts its wakes (`counting_waker`).
pub struct Counter(pub AtomicUsize);

impl futures::task::ArcWake for Counter {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that counts its wakes, and its count.
pub fn counting_waker() -> (Arc<Counter>, std::task::Waker) {
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    (counter.clone(), futures::task::waker(counter))
}

/// Polls `f` once with `waker`.
pub fn poll_with<F: Future + Unpin>(f: &mut F, waker: &std::task::Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}
