//! Small helpers that every room of the crate may use; they import nothing
//! from it.

pub(crate) mod chunks;
pub(crate) mod slab;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a std `Mutex`, taking the guard even if a thread panicked while it
/// held the lock.
///
/// For corral's internal locks, under which no user code runs (or whose
/// holder catches the panic of the user code it runs) and which every
/// critical section leaves consistent before anything can panic: a poisoned
/// lock still guards consistent data, and propagating the poison would only
/// turn one panic into many.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
