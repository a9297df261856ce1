//! Structured concurrency for any async runtime.
//!
//! corral brings the patterns people reach for in Python's asyncio — `gather`,
//! `TaskGroup`, bounded concurrency — to Rust as plain futures. Nothing here
//! needs a particular executor: a scope is polled like any other future, by
//! smol, tokio, `futures::executor`, or a twenty-line `block_on`.
//!
//! ```
//! # futures::executor::block_on(async {
//! let urls = ["a.example", "b.example", "c.example"];
//! let urls = &urls; // children borrow from outside the scope
//! let lengths = corral::Nursery::new()
//!     .max_concurrency(2) // at most two children at once
//!     .scope(|s| async move {
//!         let handles: Vec<_> = urls
//!             .iter()
//!             .map(|url| s.spawn(async move { Ok::<_, std::io::Error>(url.len()) }))
//!             .collect();
//!         Ok(corral::join_all(handles).await)
//!     })
//!     .await?;
//! assert_eq!(lengths, [9, 9, 9]);
//! # Ok::<_, std::io::Error>(()) }).unwrap();
//! ```
//!
//! # From asyncio to corral
//!
//! | asyncio                                  | corral                                         |
//! |------------------------------------------|------------------------------------------------|
//! | `async with asyncio.TaskGroup() as tg:`  | [`scope`]`(\|s\| async move { ... })`          |
//! | `tg.create_task(coro)`                   | [`Scope::spawn`]`(fut)` → [`JoinHandle`]        |
//! | `TaskGroup` with `!Send` state           | [`local_scope`] / [`LocalScope::spawn`]         |
//! | `Semaphore(n)` around every task         | [`Nursery::max_concurrency`]`(n)`               |
//! | `async with sem:` around a section       | [`Semaphore::acquire`]`().await` → [`Permit`]   |
//! | `await asyncio.gather(*aws)`             | [`join_all`]`(aws).await`                       |
//! | `gather` that stops at the first error   | [`try_join_all`]`(aws).await`                   |
//! | `gather(..., return_exceptions=True)`    | [`Scope::spawn`]`(`[`supervised`]`(fut))`       |
//! | `ExceptionGroup` of every task's error   | [`Nursery::every_error`] → [`ErrorGroup`]       |
//! | `task.cancel()`                          | [`JoinHandle::abort`], [`AbortHandle`]          |
//! | cancellation that lets tasks clean up    | [`Nursery::stop_on_failure`], [`Scope::spawn_shielded`] |
//! | `asyncio.wait(..., FIRST_COMPLETED)`     | [`race`]`(aws).await`                           |
//! | first success, happy-eyeballs style      | [`race_ok`]`(aws).await`                        |
//! | `async with asyncio.timeout(d):`         | [`time::timeout`]`(d, fut).await`               |
//! | `asyncio.timeout_at(when)`, `reschedule` | [`time::timeout_at`], [`time::Timeout::reset`]  |
//! | `await asyncio.sleep(d)`                 | [`time::sleep`]`(d).await`                      |
//! | `await asyncio.sleep(0)` (a checkpoint)  | [`yield_now`]`().await`                         |
//! | `contextvars` flowing into tasks         | [`context::with_value`]`(v, fut)`, [`context::get`] |
//! | `create_task(coro, name=...)`            | [`Scope::spawn_named`]`("fetch", fut)`, [`Nursery::name`] |
//! | `python -m asyncio pstree`               | [`track_tasks`]`(true)`, [`task_tree`]`()`: names and waiting points |
//!
//! # Naming the error type
//!
//! Every scope has an error type `E`: children and the body return
//! `Result<_, E>`. When nothing in the body fixes it (a body that ends in
//! `Ok(())` and spawns children that cannot fail), the compiler stops with
//! E0282 or E0283 ("type annotations needed") and may suggest annotating the
//! closure as `|s: corral::Scope<'_, E>|`. The short fix is a turbofish on
//! the body's last `Ok`:
//!
//! ```
//! # futures::executor::block_on(async {
//! let n = corral::scope(|s| async move {
//!     let h = s.spawn(async { Ok(21) });
//!     Ok::<_, std::io::Error>(h.await * 2) // `E` is `std::io::Error`
//! })
//! .await?;
//! assert_eq!(n, 42);
//! # Ok::<_, std::io::Error>(()) }).unwrap();
//! ```
//!
//! Any other place that names `E` works as well: a `?` on an error of a known
//! type, a typed `let` for the scope's result, or
//! [`std::convert::Infallible`] for a scope that cannot fail.
//!
//! # The guarantees
//!
//! 1. **Structure.** No child outlives its scope: when a scope future resolves,
//!    every child has finished or has been dropped, and dropping the scope
//!    future drops every child before the drop returns. So children may borrow
//!    from the enclosing function, as with [`std::thread::scope`].
//! 2. **Fail fast, lose nothing.** The first error (from a child or the body)
//!    drops everything else and is returned; a panic drops everything else and
//!    is resumed in the parent with its original payload.
//! 3. **Runtime independence.** Scopes and the gather family are ordinary
//!    futures that need nothing but a waker; deadlines ([`time`]) need a clock
//!    and a timer, from async-io by default, tokio's, or your own; parallel
//!    children ([`Scope::spawn_on`]) need a runtime to run on, through the
//!    small [`Spawn`] trait.
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `async-io` | yes | [`time::AsyncIoBackend`], the default timer backend (async-io's reactor; works under any executor) |
//! | `async-executor` | yes | [`Spawn`] for `async_executor::Executor` (smol's), for [`Scope::spawn_on`] |
//! | `futures-executor` | yes | [`Spawn`] for `futures::executor::ThreadPool` |
//! | `tokio` | no | timers armed inside a tokio runtime ride its driver and follow its clock (paused in tests), with no set-up; [`Spawn`] for `tokio::runtime::Handle`; scopes and the gather family inside a tokio task respect its cooperative budget: once it is spent they poll no more children and yield as tokio's own resources do (`tokio::task::coop::unconstrained` lifts it; a poll that begins with the budget already spent, as from a `block_on` nested in a tokio task, runs as without the feature) |
//! | `tracing` | no | each child runs in the `tracing` span current at its spawn ([`Nursery::inherit_span`]); slow-poll reports ([`warn_slow_polls`]) as `tracing` warnings |
//!
//! Without `async-io`, timers armed outside any tokio runtime need a backend
//! from [`time::set_backend`], chosen before the first timer (see
//! [`time::TimerBackend`]).
//!
//! # Cost
//!
//! A child is one cell (its future, its output slot and its waker state
//! together), carved from chunks its scope allocates a few kilobytes at a
//! time, so a scope of many children makes about one allocation per 30
//! children; waking a child polls only that child, and one poll of a scope
//! polls at most 128 children before yielding to the executor. See
//! `docs/benchmarks.md` in the repository for measurements against
//! `FuturesUnordered`, futures-buffered, async-executor and tokio's `JoinSet`.
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(rust_2018_idioms, unreachable_pub, clippy::undocumented_unsafe_blocks)]

pub mod context;
mod engine;
mod frame;
mod join;
mod loom;
mod names;
pub mod resilience;
mod scope;
mod semaphore;
mod slow_poll;
mod spawn;
pub mod stream;
pub mod sync;
#[cfg(all(test, not(corral_loom)))]
mod test_support;
pub mod time;
mod tree;
mod util;
mod wait_point;
mod wake_list;
mod yield_now;

pub use join::{JoinAll, Race, RaceOk, TryJoinAll, join_all, race, race_ok, try_join_all};
pub use scope::{
    AbortHandle, ErrorGroup, EveryError, EveryErrorFuture, GroupError, JoinHandle, LocalScope,
    LocalScopeFuture, Nursery, OrDropped, Outcome, POLL_BUCKETS, PollTimes, Ready, Reason, Scope,
    ScopeFuture, ScopeHandle, ScopeStats, SpawnBounded, SpawnChild, Start, StartError, StopHandle,
    Stopped, Supervised, local_scope, scope, supervised,
};
pub use semaphore::{Acquire, AcquireOwned, OwnedPermit, Permit, Semaphore};
pub use slow_poll::{SlowPoll, on_slow_poll, warn_slow_polls};
pub use spawn::{Spawn, Task};
pub use stream::{JoinId, JoinSet};
pub use tree::{TaskTree, task_tree, track_tasks};
pub use yield_now::{YieldNow, yield_now};

/// Runs blocking code on a thread pool and awaits its result: the way to keep
/// `std::thread::sleep`, file I/O or heavy computation off the executor's
/// threads (asyncio's `asyncio.to_thread`). A re-export of
/// [`blocking::unblock`](https://docs.rs/blocking).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let sum = corral::unblock(|| (1..=1_000u64).sum::<u64>()).await;
/// assert_eq!(sum, 500_500);
/// # });
/// ```
pub use blocking::unblock;

// The guide's Rust blocks run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideDoctests;

// The negative auto-trait cases (`compile_fail`, E0277) run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/threads.md")]
pub struct ThreadsDoctests;
