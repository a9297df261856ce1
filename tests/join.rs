//! Behaviour of the gather family (`join_all`, `try_join_all`, `race`,
//! `race_ok`): each behaviour test runs under smol and under the minimal
//! executor (`support/exec.rs`).

#[macro_use]
mod support;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;

use support::{DropCounter, pending_forever, poll_once, yield_now, yield_times};

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

on_both_executors!(
    join_all_returns_outputs_in_input_order_even_when_later_inputs_finish_first,
    join_all_of_no_futures_is_an_empty_vec,
    join_all_runs_its_futures_concurrently,
    join_all_completes_ten_thousand_futures,
    try_join_all_returns_every_value_in_input_order_when_all_succeed,
    try_join_all_returns_the_first_error_to_complete,
    try_join_all_drops_the_other_futures_before_it_resolves_with_an_error,
    try_join_all_of_no_futures_is_ok_empty_vec,
    race_returns_the_output_of_the_first_future_to_finish,
    race_drops_the_losers_before_it_resolves,
    race_earliest_input_wins_among_futures_ready_on_first_poll,
    race_ok_returns_the_first_ok_even_when_errors_finish_earlier,
    race_ok_drops_the_losers_before_it_resolves,
    race_ok_returns_every_error_in_input_order_when_all_fail,
    race_ok_of_no_futures_is_an_empty_error_vec,
    dropping_a_pending_join_all_drops_every_inner_future_at_once,
    join_all_sees_every_wake_up_from_another_thread,
    one_poll_of_join_all_does_bounded_work,
);

// ---------------------------------------------------------------- join_all

/// Input `i` yields `n - i` times, so the last input finishes first; the
/// outputs still come back in input order.
async fn join_all_returns_outputs_in_input_order_even_when_later_inputs_finish_first() {
    let n = 8;
    let finished = Arc::new(Mutex::new(Vec::new()));
    let outputs = corral::join_all((0..n).map(|i| {
        let finished = finished.clone();
        async move {
            yield_times(n - i).await;
            finished.lock().unwrap().push(i);
            i * 10
        }
    }))
    .await;
    // The setup really did finish them in reverse order...
    assert_eq!(*finished.lock().unwrap(), (0..n).rev().collect::<Vec<_>>());
    // ...and the outputs are in input order regardless.
    assert_eq!(outputs, (0..n).map(|i| i * 10).collect::<Vec<_>>());
}

async fn join_all_of_no_futures_is_an_empty_vec() {
    let outputs: Vec<u32> = corral::join_all(std::iter::empty::<std::future::Ready<u32>>()).await;
    assert_eq!(outputs, Vec::<u32>::new());
}

/// A chain of futures where each waits on a oneshot sent by the *next* input;
/// only the last one can start the chain. Polling them one after the other to
/// completion would hang on the first.
async fn join_all_runs_its_futures_concurrently() {
    let n = 10;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..n - 1 {
        let (tx, rx) = oneshot::channel::<usize>();
        senders.push(Some(tx));
        receivers.push(Some(rx));
    }
    let futures: Vec<BoxFut<usize>> = (0..n)
        .map(|i| {
            // Future `i` receives from channel `i` (if any) and sends on
            // channel `i - 1` (if any).
            let rx = if i < n - 1 { receivers[i].take() } else { None };
            let tx = if i > 0 { senders[i - 1].take() } else { None };
            Box::pin(async move {
                let got = match rx {
                    Some(rx) => rx.await.expect("sender dropped"),
                    None => 0,
                };
                if let Some(tx) = tx {
                    tx.send(got + 1).expect("receiver dropped");
                }
                got
            }) as BoxFut<usize>
        })
        .collect();
    let outputs = corral::join_all(futures).await;
    assert_eq!(outputs, (0..n).rev().collect::<Vec<_>>());
}

async fn join_all_completes_ten_thousand_futures() {
    let n = support::scaled(10_000);
    let outputs = corral::join_all((0..n).map(|i| async move {
        yield_times(i % 3).await;
        i * 2
    }))
    .await;
    assert_eq!(outputs.len(), n);
    assert!(outputs.iter().enumerate().all(|(i, &o)| o == i * 2));
}

// ------------------------------------------------------------ try_join_all

async fn try_join_all_returns_every_value_in_input_order_when_all_succeed() {
    let n = 6;
    let result = corral::try_join_all((0..n).map(|i| async move {
        yield_times(n - i).await;
        Ok::<_, String>(i + 100)
    }))
    .await;
    assert_eq!(result, Ok((0..n).map(|i| i + 100).collect::<Vec<_>>()));
}

/// Input 1 errs after 3 yields, input 3 after 1 yield: the error that
/// completes first (input 3's) is returned, not the earliest input's.
async fn try_join_all_returns_the_first_error_to_complete() {
    let result = corral::try_join_all((0..5).map(|i| async move {
        match i {
            1 => {
                yield_times(3).await;
                Err(format!("error {i}"))
            }
            3 => {
                yield_times(1).await;
                Err(format!("error {i}"))
            }
            _ => {
                yield_times(6).await;
                Ok(i)
            }
        }
    }))
    .await;
    assert_eq!(result, Err("error 3".to_string()));
}

async fn try_join_all_drops_the_other_futures_before_it_resolves_with_an_error() {
    let pending = DropCounter::new();
    let failed = DropCounter::new();
    let fut = corral::try_join_all((0..5).map(|i| {
        let guard = if i == 2 {
            failed.guard()
        } else {
            pending.guard()
        };
        async move {
            let _guard = guard;
            if i == 2 {
                yield_times(2).await;
                Err(i)
            } else {
                std::future::pending::<Result<u32, u32>>().await
            }
        }
    }));
    let mut fut = pin!(fut);
    let result = fut.as_mut().await;
    assert_eq!(result, Err(2));
    // The combinator is still alive here, yet every other future is gone.
    assert_eq!(
        pending.get(),
        4,
        "pending futures must be dropped before try_join_all resolves"
    );
    assert_eq!(failed.get(), 1);
}

async fn try_join_all_of_no_futures_is_ok_empty_vec() {
    let result =
        corral::try_join_all(std::iter::empty::<std::future::Ready<Result<u8, String>>>()).await;
    assert_eq!(result, Ok(vec![]));
}

// -------------------------------------------------------------------- race

async fn race_returns_the_output_of_the_first_future_to_finish() {
    let delays = [4, 3, 1, 5, 2];
    let winner = corral::race(delays.iter().enumerate().map(|(i, &d)| async move {
        yield_times(d).await;
        i
    }))
    .await;
    assert_eq!(winner, 2);
}

async fn race_drops_the_losers_before_it_resolves() {
    let losers = DropCounter::new();
    let fut = corral::race((0..5).map(|i| {
        // Only the losers carry a guard.
        let guard = (i != 3).then(|| losers.guard());
        async move {
            let _guard = guard;
            if i == 3 {
                yield_times(2).await;
                i
            } else {
                std::future::pending::<u32>().await
            }
        }
    }));
    let mut fut = pin!(fut);
    let winner = fut.as_mut().await;
    assert_eq!(winner, 3);
    assert_eq!(
        losers.get(),
        4,
        "losers must be dropped before race resolves"
    );
}

/// Input 0 is pending; inputs 1, 2 and 3 are ready on their first poll: the
/// earliest of those, input 1, wins.
async fn race_earliest_input_wins_among_futures_ready_on_first_poll() {
    let winner = corral::race((0..4).map(|i| async move {
        if i == 0 {
            std::future::pending::<u32>().await
        } else {
            i
        }
    }))
    .await;
    assert_eq!(winner, 1);
}

#[test]
#[should_panic(expected = "race of no futures")]
fn race_of_no_futures_panics_at_the_call() {
    let _race = corral::race(std::iter::empty::<std::future::Ready<u8>>());
}

// ----------------------------------------------------------------- race_ok

/// Inputs 0 and 1 fail at once / after one yield; input 2 succeeds after 3
/// yields; input 3 succeeds later still.
async fn race_ok_returns_the_first_ok_even_when_errors_finish_earlier() {
    let errors_seen = Arc::new(Mutex::new(Vec::new()));
    let result = corral::race_ok((0..4).map(|i| {
        let errors_seen = errors_seen.clone();
        async move {
            match i {
                0 | 1 => {
                    yield_times(i).await;
                    errors_seen.lock().unwrap().push(i);
                    Err(i)
                }
                2 => {
                    yield_times(3).await;
                    Ok(i * 100)
                }
                _ => {
                    yield_times(8).await;
                    Ok(i * 100)
                }
            }
        }
    }))
    .await;
    // Both errors really did complete before the winner.
    assert_eq!(*errors_seen.lock().unwrap(), [0, 1]);
    assert_eq!(result, Ok(200));
}

async fn race_ok_drops_the_losers_before_it_resolves() {
    let losers = DropCounter::new();
    let fut = corral::race_ok((0..5).map(|i| {
        // Only the three pending losers (inputs 1, 2, 3) carry a guard.
        let guard = (1..=3).contains(&i).then(|| losers.guard());
        async move {
            let _guard = guard;
            match i {
                0 => Err(i),
                4 => {
                    yield_times(2).await;
                    Ok(i)
                }
                _ => std::future::pending::<Result<u32, u32>>().await,
            }
        }
    }));
    let mut fut = pin!(fut);
    let result = fut.as_mut().await;
    assert_eq!(result, Ok(4));
    assert_eq!(
        losers.get(),
        3,
        "pending losers must be dropped before race_ok resolves"
    );
}

/// Input `i` fails after `n - i` yields, so errors complete in reverse order;
/// they are still returned in input order.
async fn race_ok_returns_every_error_in_input_order_when_all_fail() {
    let n = 6;
    let completed = Arc::new(Mutex::new(Vec::new()));
    let result = corral::race_ok((0..n).map(|i| {
        let completed = completed.clone();
        async move {
            yield_times(n - i).await;
            completed.lock().unwrap().push(i);
            Err::<(), _>(format!("error {i}"))
        }
    }))
    .await;
    assert_eq!(*completed.lock().unwrap(), (0..n).rev().collect::<Vec<_>>());
    assert_eq!(
        result,
        Err((0..n).map(|i| format!("error {i}")).collect::<Vec<_>>())
    );
}

async fn race_ok_of_no_futures_is_an_empty_error_vec() {
    let result =
        corral::race_ok(std::iter::empty::<std::future::Ready<Result<u8, String>>>()).await;
    assert_eq!(result, Err(vec![]));
}

// -------------------------------------------------------------------- drop

async fn dropping_a_pending_join_all_drops_every_inner_future_at_once() {
    let n = 50;
    let counter = DropCounter::new();
    let mut fut = Box::pin(corral::join_all(
        (0..n).map(|_| pending_forever::<u32>(&counter)),
    ));
    assert!(poll_once(&mut fut).is_pending());
    assert_eq!(
        counter.get(),
        0,
        "nothing is dropped while join_all is pending"
    );
    drop(fut);
    assert_eq!(
        counter.get(),
        n,
        "dropping join_all must drop every inner future"
    );
}

// ------------------------------------------------------- cross-thread wakes

/// 100 oneshot receivers, fired from a plain thread in a scrambled order with
/// small pauses, over several rounds: a lost wake-up would hang (and the
/// watchdog would fail the run).
async fn join_all_sees_every_wake_up_from_another_thread() {
    let n = 100;
    for round in 0..support::scaled(20) {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..n).map(|_| oneshot::channel::<usize>()).unzip();
        let sender_thread = std::thread::spawn(move || {
            let mut senders: Vec<_> = senders.into_iter().enumerate().map(Some).collect();
            // Visit every index once in a scrambled order (37 is coprime to 100).
            for k in 0..n {
                let (i, tx) = senders[(k * 37 + round) % n].take().unwrap();
                tx.send(i).unwrap();
                if k % 10 == 0 {
                    std::thread::yield_now();
                }
                if k % 33 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }
        });
        let outputs = corral::join_all(receivers).await;
        sender_thread.join().unwrap();
        let outputs: Vec<usize> = outputs
            .into_iter()
            .map(|r| r.expect("sender dropped"))
            .collect();
        assert_eq!(outputs, (0..n).collect::<Vec<_>>());
    }
}

// ------------------------------------------------------------------ budget

/// join_all holds a future that yields forever until a flag is set; the flag
/// is set by a future beside join_all (in `futures::join!`) that needs three
/// polls of its own. If one poll of join_all re-polled its busy child without
/// bound, that setter would never get its polls and the test would hang.
async fn one_poll_of_join_all_does_bounded_work() {
    let flag = Arc::new(AtomicBool::new(false));
    let spinner_flag = flag.clone();
    let spinner = corral::join_all([async move {
        let mut spins = 0usize;
        while !spinner_flag.load(Ordering::SeqCst) {
            yield_now().await;
            spins += 1;
        }
        spins
    }]);
    let setter = async {
        yield_times(3).await;
        flag.store(true, Ordering::SeqCst);
    };
    let (spins, ()) = futures::join!(spinner, setter);
    // The spinner really was running (and yielding) all along.
    assert_eq!(spins.len(), 1);
    assert!(spins[0] > 0);
}

// ------------------------------------------------------- polled after completion

/// Polls a finished gather future a second time: each must panic clearly.
fn poll_twice<F: std::future::Future + Unpin>(mut fut: F) {
    assert!(support::poll_once(&mut fut).is_ready());
    let _ = support::poll_once(&mut fut);
}

#[test]
#[should_panic(expected = "join_all polled after completion")]
fn join_all_polled_after_completion_panics() {
    poll_twice(corral::join_all([std::future::ready(1)]));
}

#[test]
#[should_panic(expected = "try_join_all polled after completion")]
fn try_join_all_polled_after_completion_panics() {
    poll_twice(corral::try_join_all([std::future::ready(Ok::<_, ()>(1))]));
}

#[test]
#[should_panic(expected = "race polled after completion")]
fn race_polled_after_completion_panics() {
    poll_twice(corral::race([std::future::ready(1)]));
}

#[test]
#[should_panic(expected = "race_ok polled after completion")]
fn race_ok_polled_after_completion_panics() {
    poll_twice(corral::race_ok([std::future::ready(Err::<(), _>(1))]));
}
