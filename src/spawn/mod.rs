//! Running children on a runtime: the [`Spawn`] trait, the [`Task`] it
//! receives, and its adapters. The parallel child behind a `Task` is scope
//! machinery (`scope/parallel.rs`); nothing here imports the scope.

mod adapters;
mod task;

use std::sync::Arc;

pub(crate) use task::Run;
pub use task::Task;

/// A runtime that can run a corral [`Task`]: the one thing
/// [`Scope::spawn_on`](crate::Scope::spawn_on) needs to run a child in
/// parallel.
///
/// Implemented, with default features, for `async_executor::Executor` (so
/// smol users write `s.spawn_on(&ex, fut)`) and `futures::executor::ThreadPool`;
/// for `tokio::runtime::Handle` with the `tokio` feature; and for `&T`,
/// `Arc<T>` and `Box<T>` of any `Spawn`.
///
/// # Contract
///
/// `spawn_task` must arrange for the task to be polled until it completes, as
/// any spawned future, and then dropped; or dropped unfinished if the runtime
/// shuts down (the scope then fails loudly instead of waiting forever). The
/// task is `Send + 'static` and `Unpin`, and its output is `()`: there is no
/// join handle to keep, and it does its own aborting. A runtime's own handle,
/// if it returns one, can be dropped (detached).
///
/// A runtime that accepts the task but never polls it (an executor nobody
/// runs, a runtime whose threads are all blocked) leaves the scope waiting
/// for ever: the task tree ([`task_tree`](crate::task_tree)) shows such a
/// child as "spawned on a runtime ... ago and never started" once a second
/// has passed.
///
/// # Writing an adapter
///
/// A dozen lines for a runtime corral does not know, here a thread per task
/// with a hand-written `block_on`:
///
/// ```
/// use corral::{Spawn, Task};
///
/// /// Runs every task on a thread of its own.
/// struct ThreadPerTask;
///
/// impl Spawn for ThreadPerTask {
///     fn spawn_task(&self, task: Task) {
///         std::thread::spawn(move || futures::executor::block_on(task));
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let sum = corral::scope(|s| async move {
///     let a = s.spawn_on(&ThreadPerTask, async { Ok::<_, ()>(20) });
///     let b = s.spawn_on(&ThreadPerTask, async { Ok(22) });
///     Ok(a.await + b.await)
/// })
/// .await;
/// assert_eq!(sum, Ok(42));
/// # });
/// ```
pub trait Spawn {
    /// Runs `task` to completion on this runtime, in parallel with its caller.
    fn spawn_task(&self, task: Task);
}

impl<S: Spawn + ?Sized> Spawn for &S {
    fn spawn_task(&self, task: Task) {
        (**self).spawn_task(task);
    }
}

impl<S: Spawn + ?Sized> Spawn for Arc<S> {
    fn spawn_task(&self, task: Task) {
        (**self).spawn_task(task);
    }
}

impl<S: Spawn + ?Sized> Spawn for Box<S> {
    fn spawn_task(&self, task: Task) {
        (**self).spawn_task(task);
    }
}
