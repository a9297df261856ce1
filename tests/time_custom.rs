//! A custom `TimerBackend`: a hand-driven clock. With time under the test's
//! control, the wheel's promise is checked exactly: every timer fires at or
//! after its deadline and at most one tick (1 ms) after it.

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use corral::time::{BackendSleep, TimerBackend};

/// A clock that moves only when the test says so.
struct ManualClock {
    base: Instant,
    offset_ns: AtomicU64,
    /// Deadlines and wakers of the backend timers polled so far.
    timers: Mutex<Vec<(Instant, Waker)>>,
    /// How many backend timers were ever created: one per shard re-arm.
    created: AtomicU64,
    /// Makes the next `sleep_until` panic, like a backend whose runtime is gone.
    panic_next: AtomicBool,
    /// How many times corral read the clock.
    reads: AtomicU64,
}

impl ManualClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }

    /// Moves the clock to `base + ns` and fires the backend timers now due.
    fn advance_to(&self, ns: u64) {
        self.offset_ns.store(ns, Ordering::SeqCst);
        let now = self.now();
        let due: Vec<Waker> = {
            let mut timers = self.timers.lock().unwrap();
            let (due, rest): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(at, _)| *at <= now);
            *timers = rest;
            due.into_iter().map(|(_, w)| w).collect()
        };
        due.into_iter().for_each(Waker::wake);
    }
}

impl TimerBackend for &'static ManualClock {
    fn now(&self) -> Instant {
        self.reads.fetch_add(1, Ordering::SeqCst);
        ManualClock::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> BackendSleep {
        self.created.fetch_add(1, Ordering::SeqCst);
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("backend failure");
        }
        let clock: &'static ManualClock = self;
        Box::pin(std::future::poll_fn(move |cx| {
            if clock.now() >= deadline {
                return Poll::Ready(());
            }
            clock
                .timers
                .lock()
                .unwrap()
                .push((deadline, cx.waker().clone()));
            Poll::Pending
        }))
    }
}

fn clock() -> &'static ManualClock {
    static CLOCK: OnceLock<&'static ManualClock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock: &'static ManualClock = Box::leak(Box::new(ManualClock {
            base: Instant::now(),
            offset_ns: AtomicU64::new(0),
            timers: Mutex::new(Vec::new()),
            created: AtomicU64::new(0),
            panic_next: AtomicBool::new(false),
            reads: AtomicU64::new(0),
        }));
        corral::time::set_backend(clock).expect("the first backend of this test binary");
        clock
    })
}

/// A task waker that raises a flag.
struct Flag(AtomicBool);
impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `fut` once with `cx`.
fn poll<F: Future + ?Sized>(
    fut: &mut std::pin::Pin<Box<F>>,
    cx: &mut Context<'_>,
) -> Poll<F::Output> {
    fut.as_mut().poll(cx)
}

/// The only test in this binary: the backend is process-wide.
#[test]
fn timers_fire_within_one_tick_of_their_deadline_never_before() {
    support::watchdog(|| {
        let clock = clock();
        let ms = 1_000_000u64;
        // 2 000 sleeps with deadlines spread over 50 ms at odd sub-tick offsets.
        let deadlines: Vec<u64> = (0..2_000u64).map(|i| 1 + i * 24_989 % (50 * ms)).collect();
        let mut sleeps: Vec<_> = deadlines
            .iter()
            .map(|&ns| {
                let flag = Arc::new(Flag(AtomicBool::new(false)));
                let sleep = Box::pin(corral::time::sleep_until(
                    clock.base + Duration::from_nanos(ns),
                ));
                (sleep, flag, None::<u64>)
            })
            .collect();
        for (sleep, flag, _) in &mut sleeps {
            let waker = Waker::from(flag.clone());
            let poll = sleep.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(poll.is_pending(), "armed, not due");
        }
        let created = clock.created.load(Ordering::SeqCst);
        assert!(
            created <= 2,
            "2 000 timers, {created} backend timers: not coalesced"
        );

        // Step the clock 10 µs at a time to 52 ms, polling whatever was woken.
        let step = 10_000;
        let mut now = 0;
        while now <= 52 * ms {
            clock.advance_to(now);
            for (sleep, flag, fired) in &mut sleeps {
                if fired.is_none() && flag.0.swap(false, Ordering::SeqCst) {
                    let waker = Waker::from(flag.clone());
                    if sleep
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                    {
                        *fired = Some(now);
                    }
                }
            }
            now += step;
        }
        for ((_, _, fired), &deadline) in sleeps.iter().zip(&deadlines) {
            let fired = fired.unwrap_or_else(|| panic!("deadline {deadline} ns never fired"));
            assert!(
                fired >= deadline,
                "fired at {fired} ns, before its deadline {deadline} ns"
            );
            assert!(
                fired - deadline <= ms + step,
                "fired at {fired} ns, more than a tick after its deadline {deadline} ns"
            );
        }

        // A timeout around a pending future, reset later then earlier, on the
        // same clock: it fires at the final deadline exactly.
        let mut t = Box::pin(corral::time::timeout(
            Duration::from_millis(5),
            std::future::pending::<()>(),
        ));
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(t.as_mut().poll(&mut cx).is_pending());
        let start = now;
        t.as_mut()
            .reset(clock.base + Duration::from_nanos(start + 20 * ms));
        t.as_mut()
            .reset(clock.base + Duration::from_nanos(start + 8 * ms));
        let mut fired = None;
        while fired.is_none() {
            now += step;
            clock.advance_to(now);
            if flag.0.swap(false, Ordering::SeqCst) && t.as_mut().poll(&mut cx).is_ready() {
                fired = Some(now);
            }
            assert!(now < start + 30 * ms, "the reset timeout never fired");
        }
        let fired = fired.unwrap() - start;
        assert!(
            (8 * ms..=9 * ms + step).contains(&fired),
            "fired {fired} ns after the reset"
        );

        // A backend that panics while the shard re-arms it: the panic reaches
        // the poll that armed the timer, and the shard keeps working (that
        // timer and a new one both fire) instead of silently stopping.
        clock.panic_next.store(true, Ordering::SeqCst);
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut first = Box::pin(corral::time::sleep(Duration::from_millis(1)));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = first.as_mut().poll(&mut cx);
        }));
        assert!(panicked.is_err(), "the backend's panic reaches the caller");
        let mut second = Box::pin(corral::time::sleep(Duration::from_millis(2)));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let start = now;
        let (mut first_done, mut second_done) = (false, false);
        while !(first_done && second_done) {
            now += step;
            clock.advance_to(now);
            if flag.0.swap(false, Ordering::SeqCst) {
                first_done |= first.as_mut().poll(&mut cx).is_ready();
                second_done |= second.as_mut().poll(&mut cx).is_ready();
            }
            assert!(
                now < start + 10 * ms,
                "timers stopped after a backend panic"
            );
        }

        ready_futures_never_read_the_clock(clock);
        a_zero_timeout_that_fires_reports_the_instant_it_fired(clock);
        a_late_poll_is_judged_by_the_clock_not_the_wheel(clock, &mut now);
        past_the_horizon_timers_armed_later_never_fire(clock, &mut now);
    });
}

/// A future ready on its first poll never reads the clock, nested or not,
/// under a zero or past deadline.
fn ready_futures_never_read_the_clock(clock: &ManualClock) {
    let mut cx = Context::from_waker(Waker::noop());
    let reads = clock.reads.load(Ordering::SeqCst);
    let past = clock.base;
    let mut t = Box::pin(corral::time::timeout(Duration::ZERO, async { 1 }));
    assert_eq!(poll(&mut t, &mut cx), Poll::Ready(Ok(1)));
    let mut t = Box::pin(corral::time::timeout_at(
        past,
        corral::time::timeout_at(past, async { 2 }),
    ));
    assert_eq!(poll(&mut t, &mut cx), Poll::Ready(Ok(Ok(2))));
    assert_eq!(
        clock.reads.load(Ordering::SeqCst),
        reads,
        "the clock was read"
    );
}

/// A zero timeout that fires reports the instant it fired at.
fn a_zero_timeout_that_fires_reports_the_instant_it_fired(clock: &ManualClock) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut t = Box::pin(corral::time::timeout(
        Duration::ZERO,
        std::future::pending::<()>(),
    ));
    assert!(poll(&mut t, &mut cx).is_ready());
    assert_eq!(corral::time::Timeout::deadline(&t), Some(clock.now()));
}

/// A late poll is judged by the clock, not by the wheel: the clock is moved
/// without firing any backend timer, and a timeout polled at its deadline
/// exactly reports `Elapsed` (without polling its future, which would have
/// completed), one polled a nanosecond before it, `Ok`.
fn a_late_poll_is_judged_by_the_clock_not_the_wheel(clock: &ManualClock, now: &mut u64) {
    let mut cx = Context::from_waker(Waker::noop());
    let ms = 1_000_000;
    for (at, expected) in [(5 * ms - 1, Ok(())), (5 * ms, Err(corral::time::Elapsed))] {
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        let mut t = Box::pin(corral::time::timeout(
            Duration::from_millis(5),
            std::future::poll_fn(move |_| {
                if finished.load(Ordering::SeqCst) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
        ));
        assert!(poll(&mut t, &mut cx).is_pending(), "the clock starts");
        *now += at;
        clock.offset_ns.store(*now, Ordering::SeqCst);
        done.store(true, Ordering::SeqCst);
        assert_eq!(poll(&mut t, &mut cx), Poll::Ready(expected), "at {at} ns");
    }
}

/// corral's horizon: nanoseconds in 62 bits from an epoch 73 years before
/// the first timer reach about 73 years after it. A clock that reads past
/// that (a paused tokio clock advanced so far, this one): timers armed before
/// the jump fire, their deadlines having passed; a timer armed after it never
/// fires, and has no deadline. (Documented on `sleep_until`; docs/semantics.md
/// says why the range is not lifted.)
fn past_the_horizon_timers_armed_later_never_fire(clock: &ManualClock, now: &mut u64) {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut before = Box::pin(corral::time::sleep(Duration::from_secs(3600)));
    assert!(poll(&mut before, &mut cx).is_pending());
    let year = 365 * 86_400 * 1_000_000_000;
    *now += 80 * year;
    clock.advance_to(*now);
    assert!(flag.0.swap(false, Ordering::SeqCst), "woken by the jump");
    assert!(poll(&mut before, &mut cx).is_ready());
    let mut after = Box::pin(corral::time::sleep(Duration::from_millis(1)));
    assert!(poll(&mut after, &mut cx).is_pending());
    assert_eq!(corral::time::Sleep::deadline(&after), None);
    for _ in 0..3 {
        *now += year;
        clock.advance_to(*now);
        assert!(
            poll(&mut after, &mut cx).is_pending(),
            "past the horizon: never"
        );
    }
}
