//! A virtual clock's speed: 10,000 timers spanning an hour of virtual time,
//! against the real time it takes (issue 17: under 0.1 s), with a paused
//! tokio runtime doing the same in the same run.
//!
//! Each contender runs TIMERS sleeps, the i-th for `i * HOUR / TIMERS`
//! (so one timer every 360 ms, an hour in all), with every sleep armed at
//! once, then waits for all of them; the clock jumps from deadline to
//! deadline as each is the only thing left to wait for:
//!
//! | name            | the run                                                                   |
//! |-----------------|---------------------------------------------------------------------------|
//! | `corral_scope`  | `VirtualClock::autojump().run(scope)`, TIMERS children each `sleep`ing    |
//! | `corral_join`   | the same clock, `join_all` of TIMERS `sleep`s in one task                  |
//! | `tokio_paused`  | a current-thread runtime with `start_paused`, TIMERS `tokio::spawn`ed `tokio::time::sleep`s |
//!
//! Prints the median real time of ROUNDS rounds for each, and checks that
//! each run ended exactly an hour later on its clock.
//!
//!     cargo run --release -p corral-bench --example virtual_clock

use std::time::{Duration, Instant};

use corral::time::{VirtualClock, sleep};

const TIMERS: u32 = 10_000;
const HOUR: Duration = Duration::from_secs(3600);
const ROUNDS: usize = 11;

fn deadline(i: u32) -> Duration {
    HOUR * (i + 1) / TIMERS
}

fn corral_scope() -> Duration {
    let clock = VirtualClock::autojump();
    let started = Instant::now();
    futures::executor::block_on(clock.run(corral::scope(|s| async move {
        for i in 0..TIMERS {
            s.spawn(async move {
                sleep(deadline(i)).await;
                Ok::<_, ()>(())
            });
        }
        Ok(())
    })))
    .unwrap();
    let took = started.elapsed();
    assert_eq!(clock.elapsed(), HOUR);
    took
}

fn corral_join() -> Duration {
    let clock = VirtualClock::autojump();
    let started = Instant::now();
    futures::executor::block_on(
        clock.run(corral::join_all((0..TIMERS).map(|i| sleep(deadline(i))))),
    );
    let took = started.elapsed();
    assert_eq!(clock.elapsed(), HOUR);
    took
}

fn tokio_paused() -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let started = Instant::now();
    let virtual_took = rt.block_on(async {
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..TIMERS)
            .map(|i| tokio::spawn(tokio::time::sleep(deadline(i))))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    });
    let took = started.elapsed();
    assert!(virtual_took >= HOUR);
    took
}

/// One contender's run: the real time it took.
type Run = fn() -> Duration;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let contenders: [(&str, Run); 3] = [
        ("corral_scope", corral_scope),
        ("corral_join", corral_join),
        ("tokio_paused", tokio_paused),
    ];
    let mut times = vec![Vec::new(); contenders.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in contenders.iter().enumerate() {
            times[i].push(run());
        }
    }
    println!(
        "{TIMERS} timers over an hour of virtual time, median of {ROUNDS} rounds (real time):"
    );
    for ((name, _), times) in contenders.iter().zip(times) {
        let m = median(times);
        println!("  {name:<14} {:>8.2} ms", m.as_secs_f64() * 1e3);
    }
}
