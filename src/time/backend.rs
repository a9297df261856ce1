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
/// # Where timers come from
///
/// Each timer is placed when it is armed (its first `Pending`), on the thread
/// that arms it:
///
/// - **Inside a tokio runtime** (with the `tokio` feature, which needs no
///   set-up): that runtime's own timer driver, found with
///   [`tokio::runtime::Handle::try_current`]. So timers follow a paused
///   runtime's clock (`start_paused`, `tokio::time::pause`), each runtime its
///   own, and `#[tokio::test]`s with runtimes of their own do not disturb
///   each other. The runtime needs its time driver (`enable_time` or
///   `enable_all`; `#[tokio::main]` and `#[tokio::test]` have it): in one
///   without it, arming panics as `tokio::time::sleep` does.
/// - **Anywhere else**, [`AsyncIoBackend`] (the default `async-io` feature):
///   async-io's timers work under any executor, including a hand-written
///   `block_on`.
/// - **Your own clock** (an embedded clock, a simulator): implement this trait
///   and pass it to [`set_backend`] before the first timer is armed. It then
///   serves every timer of the process, inside tokio runtimes too.
///
/// A timer keeps the clock it was armed on, wherever it is polled later. When
/// a tokio runtime shuts down, the timers still pending on it move to the
/// default backend and keep their deadlines, read from then on by its clock
/// (for a runtime with a real clock, the same one). Nothing panics, aborts or
/// hangs: a timer left on a runtime that is gone still fires, never early.
/// Without the `async-io` feature there is no default backend to move to, and
/// such timers fire at once instead.
///
/// To notice a shutdown, corral spawns one idle task on each runtime it arms
/// a timer in; the runtime drops it when it shuts down, before its timer
/// driver stops. (It shows in the runtime's task count.)
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

/// What the process chose, once: by [`set_backend`], or at the first timer.
pub(crate) enum Choice {
    /// Nothing set: each tokio runtime's timers inside it, the default
    /// backend elsewhere.
    Default,
    /// `set_backend` with a clock of the program's own: it serves everything.
    Custom(Box<dyn TimerBackend>),
    /// `set_backend(TokioBackend::..)`, the old advice: the same as
    /// `Default`, except that without the `async-io` feature this runtime
    /// also serves timers armed outside any runtime.
    #[cfg(feature = "tokio")]
    #[cfg_attr(feature = "async-io", allow(dead_code))]
    Tokio(TokioBackend),
}

impl Choice {
    fn of<B: TimerBackend>(backend: B) -> Self {
        #[cfg(feature = "tokio")]
        {
            let mut slot = Some(backend);
            let any: &mut dyn std::any::Any = &mut slot;
            if let Some(tokio) = any.downcast_mut::<Option<TokioBackend>>() {
                return Self::Tokio(tokio.take().expect("just put there"));
            }
            Self::Custom(Box::new(slot.take().expect("still there")))
        }
        #[cfg(not(feature = "tokio"))]
        Self::Custom(Box::new(backend))
    }
}

static CHOICE: OnceLock<Choice> = OnceLock::new();

/// Chooses the process's timer backend: `backend` serves every timer, inside
/// tokio runtimes too.
///
/// Call it at start-up, before any [`Sleep`](super::Sleep) or
/// [`Timeout`](super::Timeout) is armed; see [`TimerBackend`] for when you
/// need it (a clock of your own; the defaults need no call).
///
/// A [`TokioBackend`] is the exception, accepted so that programs written
/// when corral asked for it keep working: timers already ride the tokio
/// runtime they are armed in, so it changes nothing, except that without the
/// `async-io` feature its runtime also serves timers armed outside any
/// runtime.
///
/// # Errors
///
/// [`BackendAlreadySet`] if a backend was already chosen, by an earlier call
/// or because a timer was already armed. The backend in use is left as it
/// was.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "async-io")] {
/// use corral::time::{AsyncIoBackend, set_backend};
///
/// // async-io's timers everywhere, even inside tokio runtimes.
/// set_backend(AsyncIoBackend).unwrap();
/// assert!(set_backend(AsyncIoBackend).is_err(), "chosen once per process");
/// # }
/// ```
pub fn set_backend(backend: impl TimerBackend) -> Result<(), BackendAlreadySet> {
    CHOICE
        .set(Choice::of(backend))
        .map_err(|_| BackendAlreadySet(()))
}

/// The process's choice, fixing it as `Default` on first use.
#[inline]
pub(crate) fn choice() -> &'static Choice {
    CHOICE.get_or_init(|| Choice::Default)
}

/// The backend for timers outside tokio runtimes, and for those a runtime
/// left behind: the custom one, else the default, if there is one.
pub(crate) fn fallback() -> Option<&'static dyn TimerBackend> {
    match choice() {
        Choice::Custom(backend) => Some(&**backend),
        _ => default_backend(),
    }
}

/// [`fallback`], which a timer armed outside any runtime needs.
///
/// # Panics
///
/// Without the `async-io` feature and without `set_backend`.
pub(crate) fn global() -> &'static dyn TimerBackend {
    fallback().unwrap_or_else(|| {
        panic!(
            "corral::time: no timer backend for a timer armed outside any tokio runtime: \
             enable corral's `async-io` feature, or call corral::time::set_backend before \
             arming a timer"
        )
    })
}

#[cfg(feature = "async-io")]
fn default_backend() -> Option<&'static dyn TimerBackend> {
    Some(&AsyncIoBackend)
}

#[cfg(not(feature = "async-io"))]
fn default_backend() -> Option<&'static dyn TimerBackend> {
    None
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

/// Timers from one tokio runtime's time driver, behind the `tokio` feature.
///
/// You rarely need this type: with the `tokio` feature, a timer armed inside
/// a tokio runtime already rides that runtime's driver and follows its clock
/// (paused or not), and moves to the default backend if the runtime shuts
/// down first (see [`TimerBackend`]). Passing one to [`set_backend`], as
/// corral once asked, is accepted and changes nothing (except that without
/// the `async-io` feature, its runtime also serves timers armed outside any
/// runtime).
///
/// Used as a [`TimerBackend`] of its own (inside a backend you write, say),
/// it is bound to the one runtime: its timers panic if polled after that
/// runtime shuts down, as tokio's do. Its timers are exempt from tokio's
/// co-operative budget, so arming one in a task that has spent its budget
/// still registers it.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use corral::time::{TimerBackend, TokioBackend};
/// use std::time::Duration;
///
/// let rt = tokio::runtime::Builder::new_current_thread()
///     .enable_time()
///     .start_paused(true)
///     .build()
///     .unwrap();
/// rt.block_on(async {
///     // No set-up: an hour of corral sleep passes at once on the paused clock.
///     let start = tokio::time::Instant::now();
///     corral::time::sleep(Duration::from_secs(3600)).await;
///     assert!(start.elapsed() >= Duration::from_secs(3600));
///
///     // The type itself reads (and sleeps on) the runtime's clock.
///     let clock = TokioBackend::current();
///     let deadline = clock.now() + Duration::from_secs(60);
///     clock.sleep_until(deadline).await;
///     assert!(tokio::time::Instant::now().into_std() >= deadline);
/// });
/// # }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug, Clone)]
pub struct TokioBackend {
    pub(crate) handle: tokio::runtime::Handle,
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
        // Unconstrained: the shard polls this timer once, from whichever task
        // armed a corral timer; a task out of budget would get `Pending`
        // without the timer being registered, and it would never fire.
        Box::pin(tokio::task::coop::unconstrained(tokio::time::sleep_until(
            deadline.into(),
        )))
    }
}
