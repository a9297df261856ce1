//! Streams of work: values in the order children finish ([`JoinSet`]),
//! spawns that wait for room (back-pressure), and bounded concurrent
//! processing of a [`Stream`](futures_core::Stream).
//!
//! Everything here spawns into a scope you already have ([`Scope`](crate::Scope)
//! or [`LocalScope`](crate::LocalScope)), so the work is made of that scope's
//! children: it may borrow what they may borrow, it cannot outlive the
//! scope, its first error fails the scope, and the scope polls it whether or
//! not anyone is reading the results — which is what makes the
//! buffered-stream deadlock of `futures::StreamExt::buffer_unordered`
//! impossible here.

mod map;
mod set;

pub use map::{MapOrdered, MapUnordered, ScopedStreamExt, map_ordered, map_unordered};
pub use set::{JoinId, JoinNext, JoinNextWithId, JoinSet, SetSpawnBounded};
