//! [`Spawn`] for the runtimes corral knows: async-executor (smol), futures'
//! thread pool, and tokio.

#[allow(unused_imports)] // with no runtime feature, there is nothing to adapt
use super::{Spawn, Task};

/// smol's executor: `s.spawn_on(&ex, fut)`. The task is detached: it aborts
/// itself when its scope gives up on it, and dropping the executor drops it.
///
/// ```
/// let ex = async_executor::Executor::new();
/// let ex = &ex;
/// // `run` drives the executor's tasks while it awaits the scope (smol::block_on
/// // or threads running `ex.run(..)` work the same way).
/// let answer = futures::executor::block_on(ex.run(corral::scope(|s| async move {
///     Ok::<_, ()>(s.spawn_on(ex, async { Ok(7) }).await)
/// })));
/// assert_eq!(answer, Ok(7));
/// ```
#[cfg(feature = "async-executor")]
impl Spawn for async_executor::Executor<'_> {
    fn spawn_task(&self, task: Task) {
        self.spawn(task).detach();
    }
}

/// futures' thread pool.
///
/// A pool keeps running while any clone of it lives; tasks it still holds when
/// the last clone goes are never polled again, so keep the pool alive for as
/// long as its scopes run.
///
/// ```
/// # futures::executor::block_on(async {
/// let pool = futures::executor::ThreadPool::new().unwrap();
/// let answer = corral::scope(|s| async move {
///     Ok::<_, ()>(s.spawn_on(&pool, async { Ok(7) }).await)
/// })
/// .await;
/// assert_eq!(answer, Ok(7));
/// # });
/// ```
#[cfg(feature = "futures-executor")]
impl Spawn for futures_executor::ThreadPool {
    fn spawn_task(&self, task: Task) {
        self.spawn_ok(task);
    }
}

/// A tokio runtime, behind the `tokio` feature. tokio's `JoinHandle` detaches
/// when dropped; corral's task aborts itself instead (it drops its future at
/// its next poll once its scope gives up on it), so nothing outlives the scope.
///
/// ```
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let answer = rt.block_on(corral::scope(|s| async move {
///     Ok::<_, ()>(s.spawn_on(&handle, async { Ok(7) }).await)
/// }));
/// assert_eq!(answer, Ok(7));
/// ```
#[cfg(feature = "tokio")]
impl Spawn for tokio::runtime::Handle {
    fn spawn_task(&self, task: Task) {
        drop(self.spawn(task));
    }
}
