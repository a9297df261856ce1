//! [`Task`]: what a runtime receives from [`Spawn::spawn_task`](super::Spawn::spawn_task).
//!
//! A `Task` is a handle on its runtime side, a [`Run`] trait object. The
//! scope's parallel-child machinery (`scope/parallel.rs`) implements `Run` and
//! builds the task with [`Task::new`], so this module knows nothing of scopes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The runtime side of a parallel child: what a [`Task`] drives.
pub(crate) trait Run: Send + Sync {
    fn run(&self, cx: &mut Context<'_>) -> Poll<()>;
    /// The runtime dropped the task: drop the future if it is still there.
    fn abandon(&self);
}

/// A parallel child's future, ready to be run by a runtime: poll it until it
/// completes, and drop it when done (or when the runtime shuts down).
///
/// It is what [`Spawn::spawn_task`](super::Spawn::spawn_task) receives. It is
/// `Send + 'static` and `Unpin`; its output is `()`: the child's own output
/// travels to its scope by another path.
///
/// # Cancel safety
///
/// Not cancel safe, by design: a runtime must poll it to completion. Dropping
/// it before it completes drops the child's future (on the dropping thread,
/// before the drop returns); unless the scope had already asked for an abort,
/// the scope then panics from its next poll, since its child was lost.
#[must_use = "a task does nothing unless it is polled by a runtime"]
pub struct Task {
    run: Arc<dyn Run>,
}

impl Task {
    /// A task that drives `run`.
    pub(crate) fn new(run: Arc<dyn Run>) -> Task {
        Task { run }
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").finish_non_exhaustive()
    }
}

impl Future for Task {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.run.run(cx)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.run.abandon();
    }
}
