//! Timer backends: where the clock comes from and what wakes a shard.
//!
//! corral's wheels need two things from the outside world: the current time
//! and one-shot timers, at most one armed per shard. [`TimerBackend`] is that
//! contract; [`AsyncIoBackend`] (the default) and [`TokioBackend`] implement it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Instant;

/// A one-shot timer from a [`TimerBackend`]: a boxed future that completes at
/// or after its deadline.
pub type BackendSleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A clock and a source of one-shot timers, for corral's timer wheels.
///
/// corral coalesces every [`Sleep`](super::Sleep) and
/// [`Timeout`](super::Timeout) into per-thread wheels; each wheel asks its
/// backend for a single timer, for its earliest deadline. So a backend sees a
/// handful of timers however many timeouts a program has armed, and its timer
/// needs to be neither cheap nor cancellable in O(1).
///
/// # Picking a backend
///
/// The backend is chosen once per process, the first time a timer is armed:
///
/// - with the default `async-io` feature, [`AsyncIoBackend`]: async-io's
///   timers work under any executor, including a hand-written `block_on`;
/// - with the `tokio` feature, call
///   [`set_backend`]`(`[`TokioBackend::current()`]`)` at start-up (inside the
///   runtime) so timers ride tokio's own driver, and follow its paused clock
///   in tests;
/// - for anything else (an embedded clock, a simulator), implement this trait
///   and pass it to [`set_backend`].
///
/// # Contract
///
/// `sleep_until(deadline)` returns a future that completes no earlier than
/// `deadline` as measured by [`now`](TimerBackend::now), and wakes the waker
/// it was last polled with when it does. corral may drop it before it
/// completes. Neither method may arm or poll corral timers.
///
/// # Examples
///
/// A backend with no dependencies: a thread that sleeps until the deadline.
/// (Real backends share one thread or use the runtime's timers; this one shows
/// the contract.)
///
/// ```
/// use corral::time::{BackendSleep, TimerBackend};
/// use std::sync::{Arc, Mutex};
/// use std::task::{Poll, Waker};
/// use std::time::Instant;
///
/// struct ThreadTimers;
///
/// impl TimerBackend for ThreadTimers {
///     fn now(&self) -> Instant {
///         Instant::now()
///     }
///
///     fn sleep_until(&self, deadline: Instant) -> BackendSleep {
///         // (fired, waker to wake), shared with the sleeping thread.
///         let shared = Arc::new(Mutex::new((false, None::<Waker>)));
///         let remote = shared.clone();
///         std::thread::spawn(move || {
///             std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
///             let mut state = remote.lock().unwrap();
///             state.0 = true;
///             state.1.take().map(Waker::wake);
///         });
///         Box::pin(std::future::poll_fn(move |cx| {
///             let mut state = shared.lock().unwrap();
///             if state.0 { return Poll::Ready(()) }
///             state.1 = Some(cx.waker().clone());
///             Poll::Pending
///         }))
///     }
/// }
///
/// corral::time::set_backend(ThreadTimers).expect("set before any timer is armed");
/// # futures::executor::block_on(async {
/// let start = Instant::now();
/// corral::time::sleep(std::time::Duration::from_millis(5)).await;
/// assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// # });
/// ```
pub trait TimerBackend: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Instant;

    /// A timer that completes at or after `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BackendSleep;
}

static BACKEND: OnceLock<Box<dyn TimerBackend>> = OnceLock::new();

/// Makes `backend` the process's timer backend.
///
/// Call it at start-up, before any [`Sleep`](super::Sleep) or
/// [`Timeout`](super::Timeout) is armed; see [`TimerBackend`] for the choice.
///
/// # Errors
///
/// [`BackendAlreadySet`] if a backend was already chosen, by an earlier call
/// or because a timer was already armed with the default one. The backend in
/// use is left as it was.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "async-io")] {
/// use corral::time::{AsyncIoBackend, set_backend};
///
/// set_backend(AsyncIoBackend).unwrap();
/// assert!(set_backend(AsyncIoBackend).is_err(), "chosen once per process");
/// # }
/// ```
pub fn set_backend(backend: impl TimerBackend) -> Result<(), BackendAlreadySet> {
    BACKEND
        .set(Box::new(backend))
        .map_err(|_| BackendAlreadySet(()))
}

/// The backend in use, choosing the default on first use.
pub(crate) fn installed() -> &'static dyn TimerBackend {
    &**BACKEND.get_or_init(default_backend)
}

#[cfg(feature = "async-io")]
fn default_backend() -> Box<dyn TimerBackend> {
    Box::new(AsyncIoBackend)
}

#[cfg(not(feature = "async-io"))]
fn default_backend() -> Box<dyn TimerBackend> {
    panic!(
        "corral::time: no timer backend: enable corral's `async-io` feature, or call \
         corral::time::set_backend before arming a timer"
    )
}

/// The error [`set_backend`] returns when the backend was already chosen.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "async-io")] {
/// use corral::time::{AsyncIoBackend, set_backend};
///
/// let _ = set_backend(AsyncIoBackend);
/// let err = set_backend(AsyncIoBackend).unwrap_err();
/// assert!(err.to_string().contains("already"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendAlreadySet(());

impl fmt::Display for BackendAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("corral's timer backend was already chosen for this process")
    }
}

impl std::error::Error for BackendAlreadySet {}

/// Timers from [async-io](https://docs.rs/async-io): the default backend.
///
/// async-io runs its timers on its reactor, which a thread of its own drives
/// when no `async_io::block_on` is running, so they fire under any executor.
///
/// # Examples
///
/// ```
/// use corral::time::{AsyncIoBackend, TimerBackend};
/// # futures::executor::block_on(async {
/// let deadline = AsyncIoBackend.now() + std::time::Duration::from_millis(1);
/// AsyncIoBackend.sleep_until(deadline).await;
/// assert!(std::time::Instant::now() >= deadline);
/// # });
/// ```
#[cfg(feature = "async-io")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIoBackend;

#[cfg(feature = "async-io")]
impl TimerBackend for AsyncIoBackend {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> BackendSleep {
        let timer = async_io::Timer::at(deadline);
        Box::pin(async move {
            timer.await;
        })
    }
}

/// Timers from a tokio runtime's time driver, behind the `tokio` feature.
///
/// The clock is tokio's, so under a paused runtime (`tokio::time::pause`,
/// `start_paused`) corral's timers follow tokio's virtual time. The runtime
/// must have its time driver enabled (`enable_time` / `enable_all`) and must
/// outlive every corral timer in the program.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// use corral::time::{TokioBackend, set_backend};
///
/// set_backend(TokioBackend::current()).expect("first timer of the process");
/// corral::time::sleep(std::time::Duration::from_millis(1)).await;
/// # });
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug, Clone)]
pub struct TokioBackend {
    handle: tokio::runtime::Handle,
}

#[cfg(feature = "tokio")]
impl TokioBackend {
    /// A backend on the runtime `handle` refers to.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let backend = corral::time::TokioBackend::new(rt.handle().clone());
    /// # drop(backend);
    /// ```
    pub fn new(handle: tokio::runtime::Handle) -> Self {
        Self { handle }
    }

    /// A backend on the runtime this thread is in.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as [`tokio::runtime::Handle::current`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let backend = rt.block_on(async { corral::time::TokioBackend::current() });
    /// # drop(backend);
    /// ```
    pub fn current() -> Self {
        Self::new(tokio::runtime::Handle::current())
    }
}

#[cfg(feature = "tokio")]
impl TimerBackend for TokioBackend {
    fn now(&self) -> Instant {
        let _in_runtime = self.handle.enter();
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> BackendSleep {
        let _in_runtime = self.handle.enter();
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}
