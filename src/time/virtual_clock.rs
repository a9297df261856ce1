//! `VirtualClock`: time a test owns. Paused; moved by hand, or jumping to the
//! next timer once every task on it is idle (Trio's `MockClock` with
//! `autojump_threshold`).
//!
//! The clock is in force inside [`VirtualClock::run`] as a context value
//! (`virtual_core::InForce`), so children inherit it as they inherit any
//! context, and the routing (`route.rs`) sends timers armed there to the
//! clock's one shard. Its tasks (each `run`, and each parallel child spawned
//! inside one) count their polls and their wakes in `Core::busy`; the poll
//! or drop that brings it to zero is the moment every task is idle, and with
//! auto-jump the clock then moves to the wheel's earliest tick and fires it
//! (with a threshold, a thread of its own waits that long first).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::idle::Idle;
use super::shard::{Clock, Local, NEVER_NS, Now, Timers, from_ns, next_owner, open_shard, to_ns};
use super::virtual_core::{Core, InForce, Task, with_in_force};
use super::wheel::TICK_NS;
use crate::frame::{self, ContextRef, Deadline};
use crate::util::lock;

/// A clock that a test owns: paused time that moves only when told to, or
/// that jumps to the next timer whenever every task on it is idle.
///
/// Inside [`run`](VirtualClock::run), everything in corral that reads the
/// time reads this clock: [`sleep`](super::sleep), [`timeout`](super::timeout)
/// and their `_until`/`_at` forms, [`current_deadline`](super::current_deadline),
/// a nursery's [`grace`](crate::Nursery::grace), slow-poll timing
/// ([`warn_slow_polls`](crate::warn_slow_polls)) and the ages in the
/// [task tree](crate::task_tree). So do the children spawned inside it, local
/// and parallel, at any depth, for their whole lives: the clock is inherited
/// as a [context](crate::context) value is. Clocks are independent: tests that
/// each run on their own clock may run in parallel in one process, under any
/// executor, and inside a tokio runtime (paused or not) the clock in force
/// wins over the runtime's for corral's timers.
///
/// Three ways to move the time:
///
/// - [`VirtualClock::new`]: only [`advance`](VirtualClock::advance) and
///   [`advance_to`](VirtualClock::advance_to) move it, firing every timer due
///   on the way.
/// - [`VirtualClock::autojump`]: as soon as every task on the clock is idle
///   (no poll running, no wake pending), the clock jumps to its earliest
///   timer and fires it, as Trio's `MockClock(autojump_threshold=0)` and a
///   paused tokio runtime do. A 30 s grace and a 5 min deadline take
///   microseconds.
/// - [`VirtualClock::autojump_after`]: the same, once every task has been
///   idle for that much real time: for tests that also wait on something the
///   clock cannot see (a socket, a thread, the blocking pool), as Trio's
///   `autojump_threshold` is.
///
/// The tasks on a clock are each [`run`](VirtualClock::run) future and each
/// parallel child ([`Scope::spawn_on`](crate::Scope::spawn_on)) spawned inside
/// one; local children are part of the task that polls them. Work that the
/// clock cannot see (a thread, a socket, `unblock`) does not keep it from
/// jumping: with `autojump`, a task waiting on such work while a timer is
/// armed sees that timer fire at once.
///
/// Three things to know when a test hangs or jumps too soon:
///
/// - **Other timers are unseen work.** A tokio timer (`tokio::time::sleep`)
///   or an async-io `Timer` awaited inside `run` does not hold the clock: to
///   the clock its task is idle, so `autojump` jumps to corral's next timer
///   meanwhile (in `#[tokio::test(start_paused = true)]`, a corral
///   `timeout(10s, tokio::time::sleep(1s))` reports `Elapsed`). Use corral's
///   [`sleep`](super::sleep) inside `run`.
/// - **A task woken and never polled holds the clock.** A `run` future
///   polled by hand and then left alone, once woken, keeps every other task
///   on the clock from jumping, since it counts as busy until its next poll
///   or its drop.
/// - **A deadlock hangs**, as under Trio's and tokio's clocks: with every
///   task waiting on something no timer ends, there is nothing to jump to.
///   [`task_tree`](crate::task_tree) (with [`track_tasks`](crate::track_tasks))
///   shows what each child waits on.
///
/// Timers fire at the first millisecond boundary at or after their
/// deadline, as on the real clock; a virtual clock starts on such a
/// boundary, so durations in whole milliseconds land exactly.
///
/// # Examples
///
/// A minute of timeouts in no time:
///
/// ```
/// use corral::time::{VirtualClock, sleep, timeout};
/// use std::time::Duration;
///
/// let clock = VirtualClock::autojump();
/// let start = clock.now();
/// # futures::executor::block_on(
/// clock.run(async {
///     assert!(timeout(Duration::from_secs(60), sleep(Duration::from_secs(3600))).await.is_err());
/// })
/// # );
/// assert_eq!(clock.now() - start, Duration::from_secs(60));
/// ```
///
/// By hand:
///
/// ```
/// use corral::time::{VirtualClock, sleep};
/// use futures::FutureExt;
/// use std::time::Duration;
///
/// let clock = VirtualClock::new();
/// let mut nap = Box::pin(clock.run(sleep(Duration::from_millis(500))));
/// assert!(nap.as_mut().now_or_never().is_none()); // armed at 0 ms
/// clock.advance(Duration::from_millis(499));
/// assert!(nap.as_mut().now_or_never().is_none());
/// clock.advance(Duration::from_millis(1));
/// assert!(nap.as_mut().now_or_never().is_some());
/// ```
#[derive(Clone)]
pub struct VirtualClock {
    handle: Arc<Handle>,
}

/// What the program holds: its drop marks the clock dead.
struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let core = &self.core;
        core.dead.store(true, Ordering::Release);
        *lock(&core.quiet) = true;
        core.quiet_cv.notify_all();
        // A shard with nothing left in it goes back to the pool.
        if let Some(shard) = shard_of(core) {
            shard.fire();
        }
    }
}

impl VirtualClock {
    /// A paused clock that moves only by [`advance`](Self::advance) and
    /// [`advance_to`](Self::advance_to).
    ///
    /// It starts at the real time now, rounded up to the next millisecond.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::VirtualClock;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::new();
    /// let start = clock.now();
    /// clock.advance(Duration::from_secs(90));
    /// assert_eq!(clock.now() - start, Duration::from_secs(90));
    /// assert_eq!(clock.elapsed(), Duration::from_secs(90));
    /// ```
    pub fn new() -> Self {
        Self::with(None)
    }

    /// A paused clock that jumps to its next timer whenever every task on it
    /// is idle (Trio's `autojump_threshold=0`, tokio's auto-advance).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::{VirtualClock, sleep};
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::autojump();
    /// # futures::executor::block_on(
    /// clock.run(async {
    ///     for _ in 0..3 {
    ///         sleep(Duration::from_secs(1)).await;
    ///     }
    /// })
    /// # );
    /// assert_eq!(clock.elapsed(), Duration::from_secs(3));
    /// ```
    pub fn autojump() -> Self {
        Self::with(Some(Duration::ZERO))
    }

    /// A paused clock that jumps to its next timer once every task on it
    /// has been idle for `threshold` of real time: for tests that also wait
    /// on work the clock cannot see (sockets, threads), which a jump must
    /// not overtake.
    ///
    /// `autojump_after(Duration::ZERO)` is [`autojump`](Self::autojump). A
    /// thread of the clock's own waits out the threshold (made at the first
    /// idle moment, gone with the clock).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::{VirtualClock, sleep};
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::autojump_after(Duration::from_millis(1));
    /// # futures::executor::block_on(
    /// clock.run(async {
    ///     // A reply from a thread the clock cannot see, in real time:
    ///     let (tx, rx) = futures::channel::oneshot::channel();
    ///     std::thread::spawn(move || tx.send(7));
    ///     // Meanwhile a long sleep, which the clock skips once all is quiet.
    ///     sleep(Duration::from_secs(600)).await;
    ///     assert_eq!(rx.await, Ok(7));
    /// })
    /// # );
    /// assert_eq!(clock.elapsed(), Duration::from_secs(600));
    /// ```
    pub fn autojump_after(threshold: Duration) -> Self {
        Self::with(Some(threshold))
    }

    fn with(autojump: Option<Duration>) -> Self {
        let now = to_ns(Instant::now()).next_multiple_of(TICK_NS);
        let core = Arc::new(Core {
            now: AtomicU64::new(now),
            start: now,
            serial: next_owner(),
            dead: AtomicBool::new(false),
            shard: OnceLock::new(),
            autojump,
            tasks: Idle::new(),
            quiet: std::sync::Mutex::new(false),
            quiet_cv: std::sync::Condvar::new(),
            jumper: AtomicBool::new(false),
        });
        Self {
            handle: Arc::new(Handle { core }),
        }
    }

    fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    /// The virtual clock in force here: inside a [`run`](Self::run) (or a
    /// child spawned inside one), that clock; elsewhere `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::VirtualClock;
    ///
    /// let clock = VirtualClock::new();
    /// assert!(VirtualClock::current().is_none());
    /// # futures::executor::block_on(
    /// clock.run(async {
    ///     let here = VirtualClock::current().expect("in force");
    ///     assert_eq!(here.now(), VirtualClock::current().unwrap().now());
    /// })
    /// # );
    /// ```
    pub fn current() -> Option<VirtualClock> {
        with_in_force(|clock| {
            // The `keep` of an `InForce` is always a `Handle` (`in_force`).
            let handle = Arc::downcast::<Handle>(Arc::clone(&clock?.keep)).ok()?;
            Some(VirtualClock { handle })
        })
    }

    /// The time on this clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::VirtualClock;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::new();
    /// let before = clock.now();
    /// clock.advance(Duration::from_millis(5));
    /// assert_eq!(clock.now(), before + Duration::from_millis(5));
    /// ```
    pub fn now(&self) -> Instant {
        from_ns(self.core().now_ns())
    }

    /// How far the clock has moved since it was made.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::VirtualClock;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::new();
    /// assert_eq!(clock.elapsed(), Duration::ZERO);
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(clock.elapsed(), Duration::from_secs(2));
    /// ```
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.core().now_ns() - self.core().start)
    }

    /// Moves the clock forward by `by`, firing every timer due by then (each
    /// woken once, at the new time: a loop of one-second sleeps advanced by
    /// ten seconds sees one sleep end, and its next starts at the new time;
    /// [`autojump`](Self::autojump) steps timer by timer).
    ///
    /// Callable from anywhere: inside a task on the clock (the poll then
    /// took `by` of virtual time, as slow-poll timing sees it), or from
    /// outside while the tasks run elsewhere.
    ///
    /// # Panics
    ///
    /// If the clock would pass the end of corral's time range (146 years
    /// from an epoch 73 years before the process's first timer; see
    /// [`sleep_until`](super::sleep_until#range)), such as with
    /// `Duration::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::{VirtualClock, sleep};
    /// use futures::FutureExt;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::new();
    /// let mut nap = Box::pin(clock.run(sleep(Duration::from_secs(3))));
    /// assert!(nap.as_mut().now_or_never().is_none());
    /// clock.advance(Duration::from_secs(10));
    /// assert!(nap.as_mut().now_or_never().is_some());
    /// ```
    pub fn advance(&self, by: Duration) {
        let now = self.core().now_ns();
        let by_ns = super::duration_ns(by);
        let to = now.saturating_add(by_ns);
        assert!(
            by_ns < NEVER_NS && to < NEVER_NS,
            "corral::time::VirtualClock::advance: advancing by {by:?} takes the clock past \
             the end of corral's time range (146 years from its epoch)"
        );
        advance_to_ns(self.core(), to);
    }

    /// Moves the clock forward to `to`, firing every timer due by then; a
    /// `to` equal to the time now changes nothing.
    ///
    /// # Panics
    ///
    /// If `to` is earlier than the clock's time: a virtual clock never goes
    /// back, as no clock corral reads may. And if `to` lies past the end of
    /// corral's time range, as [`advance`](Self::advance).
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::VirtualClock;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::new();
    /// let later = clock.now() + Duration::from_secs(1);
    /// clock.advance_to(later);
    /// assert_eq!(clock.now(), later);
    /// let back = std::panic::catch_unwind(|| clock.advance_to(later - Duration::from_millis(1)));
    /// assert!(back.is_err(), "a virtual clock never goes back");
    /// ```
    pub fn advance_to(&self, to: Instant) {
        let now = self.now();
        assert!(
            to >= now,
            "corral::time::VirtualClock::advance_to: {:?} is before the clock's time; a virtual \
             clock only moves forward",
            now - to
        );
        let to_ns = to_ns(to);
        assert!(
            to_ns < NEVER_NS,
            "corral::time::VirtualClock::advance_to: the instant lies past the end of corral's \
             time range (146 years from its epoch)"
        );
        advance_to_ns(self.core(), to_ns);
    }

    /// Runs `future` on this clock: inside it, and inside every child spawned
    /// in it, corral's timers and clock reads use this clock. The future is
    /// one of the clock's tasks: auto-jump waits for it to be idle.
    ///
    /// Clocks nest: a `run` inside another clock's `run` puts its own clock
    /// in force for its future. Other [context](crate::context) values in
    /// force where it is first polled stay visible inside.
    ///
    /// # Cancel safety
    ///
    /// Dropping the [`OnClock`] drops `future`; it adds nothing to
    /// `future`'s own cancel safety.
    ///
    /// # Examples
    ///
    /// ```
    /// use corral::time::{VirtualClock, current_deadline, timeout};
    /// use std::time::Duration;
    ///
    /// let clock = VirtualClock::autojump();
    /// let start = clock.now();
    /// # futures::executor::block_on(
    /// clock.run(async {
    ///     let deadline = timeout(Duration::from_secs(30), async { current_deadline() }).await;
    ///     assert_eq!(deadline, Ok(Some(start + Duration::from_secs(30))));
    /// })
    /// # );
    /// ```
    pub fn run<F: IntoFuture>(&self, future: F) -> OnClock<F::IntoFuture> {
        OnClock {
            clock: self.clone(),
            task: Some(new_task(self.core())),
            context: None,
            future: Some(future.into_future()),
        }
    }
}

impl Default for VirtualClock {
    /// [`VirtualClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.core();
        f.debug_struct("VirtualClock")
            .field("elapsed", &self.elapsed())
            .field("autojump", &core.autojump)
            .finish()
    }
}

pin_project! {
    /// The future [`VirtualClock::run`] returns: its future, on the clock.
    ///
    /// It is `Send` when the future it runs is, and not otherwise:
    ///
    /// ```compile_fail,E0277
    /// fn send<T: Send>(_: T) {}
    /// let not_send = std::future::ready(std::rc::Rc::new(1));
    /// send(corral::time::VirtualClock::new().run(not_send));
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the future it runs; it adds nothing to that
    /// future's own cancel safety.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct OnClock<F> {
        clock: VirtualClock,
        // `None` once the future has finished.
        task: Option<Arc<Task>>,
        // The clock in force, linked to the context of the first poll.
        context: Option<ContextRef>,
        // Dropped as soon as it is done, inside its last counted poll, so
        // that no jump fires the timers it leaves.
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for OnClock<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // The future first: dropping it may wake other tasks on the
            // clock (a parallel child asked to drop itself), which must
            // count before this task's end can make the clock idle.
            let mut future = this.future;
            future.set(None);
            if let Some(task) = this.task.take() {
                finish(&task);
            }
        }
    }
}

impl<F: Future> Future for OnClock<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let task = this
            .task
            .as_ref()
            .expect("corral: an OnClock polled after it completed");
        let context = this
            .context
            .get_or_insert_with(|| ContextRef::new(frame::capture(), in_force(this.clock, task)));
        let mut future = this.future;
        let polled = poll_task(task, cx, |cx| {
            let polled = frame::push(Deadline::None, Some(context), || {
                match future.as_mut().as_pin_mut() {
                    Some(future) => future.poll(cx),
                    None => unreachable!("the task is taken when the future is done"),
                }
            });
            if polled.is_ready() {
                // Dropped in its context, as it was polled.
                frame::push(Deadline::None, Some(context), || future.set(None));
                finish(task);
            }
            polled
        });
        if polled.is_ready() {
            *this.task = None;
        }
        polled
    }
}

impl<F> fmt::Debug for OnClock<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnClock")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The context value for `task` on `clock`.
fn in_force(clock: &VirtualClock, task: &Arc<Task>) -> InForce {
    InForce {
        keep: Arc::clone(&clock.handle) as Arc<dyn std::any::Any + Send + Sync>,
        task: Arc::clone(task),
    }
}

/// A new task on `core`, counted busy until its first poll (so that a task
/// spawned but not yet polled keeps the clock from jumping).
fn new_task(core: &Arc<Core>) -> Arc<Task> {
    Arc::new(Task {
        core: Arc::clone(core),
        flags: core.tasks.task(),
        waker: std::sync::Mutex::new(None),
    })
}

/// The task is over: its pending wake, if any, no longer counts.
fn finish(task: &Task) {
    if task.core.tasks.finish(&task.flags) {
        idle(&task.core);
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.core.tasks.wake(&self.flags) {
            idle(&self.core);
        }
        let waker = lock(&self.waker).clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Ends a counted poll, on unwind too.
struct Polling<'a>(&'a Arc<Core>);

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        if self.0.tasks.poll_end() {
            idle(self.0);
        }
    }
}

/// Polls `task` (with `poll`), counting the poll and giving it a waker that
/// counts its wakes.
fn poll_task<R>(
    task: &Arc<Task>,
    cx: &mut Context<'_>,
    poll: impl FnOnce(&mut Context<'_>) -> R,
) -> R {
    let core = &task.core;
    core.tasks.poll_begin(&task.flags);
    let _polling = Polling(core);
    poll(&mut Context::from_waker(&counting_waker(task, cx)))
}

/// `task`'s counting waker, which wakes `cx`'s waker (kept for the wakes).
fn counting_waker(task: &Arc<Task>, cx: &Context<'_>) -> Waker {
    let mut waker = lock(&task.waker);
    if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *waker = Some(cx.waker().clone());
    }
    drop(waker);
    Waker::from(Arc::clone(task))
}

/// Every task on the clock is idle: jump now, or have the clock's thread
/// jump once the threshold has passed with nothing run.
fn idle(core: &Arc<Core>) {
    match core.autojump {
        None => {}
        Some(Duration::ZERO) => jump(core),
        Some(_) => {
            if !core.jumper.swap(true, Ordering::AcqRel) {
                let core = Arc::clone(core);
                std::thread::Builder::new()
                    .name("corral-virtual-clock".into())
                    .spawn(move || wait_and_jump(&core))
                    .expect("corral::time::VirtualClock: spawning its auto-jump thread");
            }
            *lock(&core.quiet) = true;
            core.quiet_cv.notify_all();
        }
    }
}

/// The auto-jump thread of a clock with a threshold: after each idle moment,
/// waits the threshold and jumps if nothing ran meanwhile.
fn wait_and_jump(core: &Arc<Core>) {
    let threshold = core.autojump.unwrap_or_default();
    loop {
        let mut quiet = lock(&core.quiet);
        while !*quiet {
            quiet = core.quiet_cv.wait(quiet).unwrap_or_else(|e| e.into_inner());
        }
        *quiet = false;
        drop(quiet);
        if core.is_dead() {
            return;
        }
        let seen = core.tasks.activity();
        std::thread::sleep(threshold);
        if core.is_dead() {
            return;
        }
        if core.tasks.is_idle() && core.tasks.activity() == seen {
            jump(core);
        }
    }
}

/// Moves the clock to its earliest timer and fires it, again and again while
/// every task stays idle (one thread at a time: `Idle::jump`).
fn jump(core: &Arc<Core>) {
    core.tasks.jump(|| {
        let Some(tick) = shard_of(core).and_then(|shard| shard.next_tick()) else {
            return false;
        };
        advance_to_ns(core, tick.saturating_mul(TICK_NS).min(NEVER_NS - 1));
        true
    });
}

/// Sets the clock to `to_ns` (if later) and fires the timers due.
fn advance_to_ns(core: &Arc<Core>, to_ns: u64) {
    core.now.fetch_max(to_ns, Ordering::AcqRel);
    if let Some(shard) = shard_of(core) {
        shard.fire();
    }
}

/// The clock's shard, if it has one yet.
fn shard_of(core: &Core) -> Option<&'static Arc<super::shard::Shard>> {
    let id = (*core.shard.get()?)?;
    Some(Timers::get().shard(id as usize))
}

/// Where a timer armed here goes, if a virtual clock is in force.
#[inline]
pub(crate) fn route() -> Option<Local> {
    with_in_force(|clock| clock.map(|clock| local(&clock.task.core)))
}

#[cold]
fn local(core: &Arc<Core>) -> Local {
    let shard = core
        .shard
        .get_or_init(|| open_shard(Clock::Virtual(Arc::clone(core)), core.serial))
        .unwrap_or_else(|| {
            panic!(
                "corral::time::VirtualClock: no timer shard left for this clock (a quarter of a \
                 million clocks and runtimes with timers at once)"
            )
        });
    Local::new(shard, core.serial, Now::Virtual(Arc::clone(core)))
}

/// The context a parallel child spawned here takes: the one in force, plus,
/// on a virtual clock, the child's own task on it (so that auto-jump waits
/// for the child too).
pub(crate) fn spawn_context(context: Option<ContextRef>) -> Option<ContextRef> {
    let context = context?;
    let Some((keep, core)) = context
        .find::<InForce>()
        .map(|clock| (Arc::clone(&clock.keep), Arc::clone(&clock.task.core)))
    else {
        return Some(context);
    };
    let task = new_task(&core);
    Some(ContextRef::new(Some(context), InForce { keep, task }))
}

/// Runs a parallel child's turn through `poll`: as a task of the virtual
/// clock in its `context`, if any. (The caller drops a finished child's
/// future inside the turn, and calls [`finish_in`] then.)
#[inline]
pub(crate) fn poll_in<R>(
    context: Option<&ContextRef>,
    cx: &mut Context<'_>,
    poll: impl FnOnce(&mut Context<'_>) -> R,
) -> R {
    match context.and_then(|context| context.find::<InForce>()) {
        None => poll(cx),
        Some(clock) => poll_task(&clock.task, cx, poll),
    }
}

/// The parallel child whose context this is has been dropped: its task on
/// the virtual clock, if any, is over.
pub(crate) fn finish_in(context: Option<&ContextRef>) {
    if let Some(clock) = context.and_then(|context| context.find::<InForce>()) {
        finish(&clock.task);
    }
}

impl Drop for InForce {
    fn drop(&mut self) {
        // Whoever ran the task holds this value for the task's whole life
        // (a `run`'s context, a parallel child's): it is over. (Both also
        // finish it as soon as its future is gone; this covers a parallel
        // child whose runtime dropped it unpolled.)
        finish(&self.task);
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::task::Poll;

    /// A clock's shard goes back to the pool once the clock and its last
    /// timer are gone, whichever goes first.
    #[test]
    fn a_dropped_clocks_shard_leaves_it() {
        for timer_outlives_clock in [false, true] {
            let clock = VirtualClock::new();
            let core = Arc::clone(clock.core());
            let mut nap = Box::pin(clock.run(super::super::sleep(Duration::from_secs(1))));
            let waker = Waker::noop();
            assert!(
                nap.as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
            let id = core.shard.get().copied().flatten().expect("armed");
            let shard = Timers::get().shard(id as usize);
            assert!(shard.belongs_to(core.serial));
            if timer_outlives_clock {
                drop(clock);
                assert!(shard.belongs_to(core.serial), "a timer is still on it");
                drop(nap);
            } else {
                drop(nap);
                assert!(shard.belongs_to(core.serial), "the clock may arm again");
                drop(clock);
            }
            assert!(!shard.belongs_to(core.serial), "back in the pool");
        }
    }

    /// A wake counts once however often it comes, and a finished task's
    /// wakes count for nothing.
    #[test]
    fn wakes_count_once_per_poll() {
        let clock = VirtualClock::new();
        let core = Arc::clone(clock.core());
        let mut run = Box::pin(clock.run(std::future::poll_fn(|cx| {
            cx.waker().wake_by_ref();
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        })));
        assert_eq!(core.tasks.busy(), 1, "not polled yet");
        let waker = Waker::noop();
        assert!(
            run.as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
        assert_eq!(core.tasks.busy(), 1, "woken (twice) during its poll: once");
        drop(run);
        assert_eq!(
            core.tasks.busy(),
            0,
            "a finished task's wakes count for nothing"
        );
    }
}
