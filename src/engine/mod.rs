//! The engine: polls many futures ("children") from one owner, with a waker
//! per child that never allocates and a budget per turn. It knows nothing of
//! its users: scopes (`crate::scope`) and the gather family (`crate::join`)
//! each describe their children through the [`Children`] trait and keep
//! whatever else they need in their [`UserState`], beside the queue.
//!
//! # The parts
//!
//! | file        | what it holds |
//! |-------------|---------------|
//! | `shared.rs` | [`Shared`]: the reference count, the remote wake stack, the `polling` flag, the parent's waker, the slot chunks, the owner's queues (owner-only, under written ground rules) and the user's part; [`SharedRef`], a counted pointer to it; the wake slots and their flags; the thread-local `OWNER` that names the loop running here |
//! | `waker.rs`  | the wake path: the waker vtable over a slot, and `schedule` |
//! | `queue.rs`  | [`ReadyQueue`], the owner's side: growing the slot chunks, taking remote wakes, popping the next child |
//! | `stack.rs`  | [`TakeAllStack`]: the lock-free stack many threads push onto and the owner empties at once (the remote wake stack here, a scope's spawn stack) |
//! | `drive.rs`  | the poll loop ([`ReadyQueue::drive`]), the [`Children`] trait and the budget |
//! | `budget.rs` | [`TokioBudget`]: tokio's cooperative budget as one poll of a loop sees it (for `drive` and a scope's pool) |
//!
//! # How a wake reaches the owner
//!
//! Every child owns a *wake slot*. A child's waker is a pointer to its slot,
//! so building, cloning or waking a waker never allocates: all slots share one
//! reference count, the one on [`Shared`]. Slots live in chunks that never
//! move (chunk `k` holds `first << k` slots), so a slot pointer stays valid
//! for as long as any waker holds the shared count, even while the owner adds
//! chunks.
//!
//! A wake takes one of two paths:
//!
//! - **On the owner's thread, inside its poll loop** (a child waking itself or
//!   a sibling, the common case), the thread-local `OWNER` names this queue
//!   and the wake appends the child's slot to the owner-only `ready` FIFO. No
//!   atomic operation at all; the slot's `local_queued` flag keeps duplicates
//!   out.
//! - **Anywhere else** (another thread, or outside the loop), the wake pushes
//!   the slot onto a lock-free stack (`Shared::remote`, see `stack.rs`), guarded by the atomic
//!   `queued` flag so a slot is on the stack at most once. Before each pop the
//!   owner moves the whole stack into `ready` (reversed, so remote wakes keep
//!   their order too) and clears each `queued` flag with a full barrier: a
//!   wake that comes after that point queues the child again, so none is lost
//!   (store-buffering; see the comment in `ReadyQueue::take_remote`).
//!
//! The slot's flags are tabled in `shared.rs`.
//!
//! The parent (whoever polls the owner) is woken only when a remote push finds
//! the stack empty *and* the owner is not inside its poll loop (`polling`).
//! Pushes that land while the owner is polling are picked up by the loop
//! itself: before it returns `Pending`, the owner clears `polling` and looks
//! at the stack once more. Both sides use `SeqCst` for that flag/stack pair,
//! so at least one of them sees the other (the store-buffering argument of
//! Dekker's algorithm). A user that publishes work of its own (a scope's
//! spawn stack) follows the same pairing: publish with `SeqCst`, then
//! [`Shared::notify`]; its `Children::next_fresh` looks with a
//! read-modify-write when asked with `Look::Last`. `loom_tests.rs` model-checks the
//! protocol.
//!
//! Only [`ReadyQueue::drive`] polls children, with a budget: after [`BUDGET`]
//! child polls it wakes its own parent and returns, so a set full of busy
//! children cannot starve the executor, and a poll never does more than a
//! bounded amount of work (no rescans, hence no quadratic behaviour).
//! With the `tokio` feature it also stops, before any child poll, once the
//! tokio task polling it has spent tokio's cooperative budget (see
//! `drive.rs`), so no child is polled when it could only return `Pending`.

mod budget;
mod drive;
#[cfg(all(test, corral_loom))]
pub(crate) mod loom_tests;
mod queue;
mod shared;
mod stack;
mod waker;

pub(crate) use budget::TokioBudget;
#[cfg(doc)]
use drive::BUDGET;
pub(crate) use drive::{Children, Drained, Look};
pub(crate) use queue::ReadyQueue;
pub(crate) use shared::{Shared, SharedRef, UserState, slot_shared};
pub(crate) use stack::{Chain, Leave, Node, Pushed, TakeAllStack};
pub(crate) use waker::wake_slot;
