//! Queues and locks for the patterns around a scope, re-exported so one
//! dependency covers the guide: [async-channel](https://docs.rs/async-channel)
//! (asyncio's `Queue`) and [async-lock](https://docs.rs/async-lock)
//! (`Lock`, `RWLock`, `Event`-like one-time cells, barriers). Both are
//! runtime-agnostic smol-rs crates, like corral.
//!
//! For bounded concurrency use corral's own [`Semaphore`](crate::Semaphore)
//! (fair and weighted) rather than async-lock's.
//!
//! # Examples
//!
//! A producer and two consumers, as children of one scope:
//!
//! ```
//! use corral::sync::channel;
//! # futures::executor::block_on(async {
//! let (tx, rx) = channel::bounded::<u32>(4);
//! let total = corral::sync::Mutex::new(0);
//! let total_ref = &total;
//! corral::scope(|s| async move {
//!     for _ in 0..2 {
//!         let rx = rx.clone();
//!         s.spawn(async move {
//!             while let Ok(n) = rx.recv().await {
//!                 *total_ref.lock().await += n;
//!             }
//!             Ok::<_, channel::SendError<u32>>(())
//!         });
//!     }
//!     drop(rx);
//!     for n in 1..=10 {
//!         tx.send(n).await?;
//!     }
//!     Ok(()) // dropping `tx` ends the consumers' loops
//! })
//! .await
//! .unwrap();
//! assert_eq!(total.into_inner(), 55);
//! # });
//! ```

/// async-channel: multi-producer, multi-consumer queues (asyncio's `Queue`).
pub use async_channel as channel;
/// async-lock: async mutexes, read-write locks, barriers and once-cells.
pub use async_lock as lock;

pub use async_lock::{Barrier, Mutex, MutexGuard, OnceCell, RwLock};
