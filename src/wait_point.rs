//! Where a waiting child waits: corral's leaf futures (a semaphore's
//! acquire, a sleep, a timeout, a stop, a join handle, a start, the stream
//! helpers) note what they are and where they were made when they return
//! `Pending`, for the task tree.
//!
//! A tracked child's poll names its record's [`WaitSlot`] on a per-thread
//! sink for its duration ([`noting`]); a leaf future that returns `Pending`
//! writes itself there ([`note`]). Where no tracked child is being polled
//! the sink is empty, and a note is one thread-local load and a branch: the
//! cost while tracking is off. Each leaf keeps the place it was made at
//! (its constructor is `#[track_caller]`), one pointer; a sleep and a
//! timeout, whose size is their point, note their deadline instead.

use std::cell::Cell;
use std::panic::Location;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a waiting child waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Wait {
    Acquire = 1,
    Sleep,
    Timeout,
    Stopped,
    Join,
    Start,
    JoinNext,
    SpawnBounded,
    Stream,
    RateLimit,
}

impl Wait {
    fn from_u8(n: u8) -> Option<Wait> {
        Some(match n {
            1 => Wait::Acquire,
            2 => Wait::Sleep,
            3 => Wait::Timeout,
            4 => Wait::Stopped,
            5 => Wait::Join,
            6 => Wait::Start,
            7 => Wait::JoinNext,
            8 => Wait::SpawnBounded,
            9 => Wait::Stream,
            10 => Wait::RateLimit,
            _ => return None,
        })
    }

    /// The API that made the future, as the tree shows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Wait::Acquire => "Semaphore::acquire",
            Wait::Sleep => "sleep",
            Wait::Timeout => "timeout",
            Wait::Stopped => "stopped",
            Wait::Join => "the JoinHandle of the child spawned",
            Wait::Start => "start",
            Wait::JoinNext => "JoinSet::join_next",
            Wait::SpawnBounded => "spawn_bounded",
            Wait::Stream => "a stream helper",
            Wait::RateLimit => "RateLimiter::acquire",
        }
    }
}

/// Where, or until when, a child waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitAt {
    /// Where the future it waits on was made.
    Place(&'static Location<'static>),
    /// Its deadline, in the timers' nanoseconds (`time::clock::to_ns`), to
    /// the microsecond.
    Until(u64),
}

/// A child's last waiting point: written by the leaf futures its poll runs
/// (on the thread polling it), read by the task tree (anywhere). One word,
/// so that a reader never pairs one note's kind with another's data: the
/// kind in the top byte, below it the deadline's nanoseconds (`Sleep`,
/// `Timeout`) or the address of a `&'static Location` (the others; user
/// space addresses are below 2^56 on every 64-bit target, and a 32-bit
/// address fits whole).
#[derive(Debug)]
pub(crate) struct WaitSlot(AtomicU64);

/// Where a note's kind sits in the word.
const KIND_SHIFT: u32 = 56;
const DATA: u64 = (1 << KIND_SHIFT) - 1;
/// A deadline is kept in units of 2^10 ns: the timers' epoch lies decades
/// back, beyond 2^56 ns, and a microsecond is fine enough for the tree.
const UNTIL_SHIFT: u32 = 10;

impl WaitSlot {
    pub(crate) const fn new() -> Self {
        WaitSlot(AtomicU64::new(0))
    }

    /// Nothing known.
    #[inline]
    pub(crate) fn forget(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// The last waiting point noted, if any.
    pub(crate) fn get(&self) -> Option<(Wait, WaitAt)> {
        let word = self.0.load(Ordering::Relaxed);
        let what = Wait::from_u8((word >> KIND_SHIFT) as u8)?;
        let data = word & DATA;
        Some(match what {
            Wait::Sleep | Wait::Timeout => (what, WaitAt::Until(data << UNTIL_SHIFT)),
            // SAFETY: for these kinds the data is the address of a
            // `&'static Location` (`note`), stored whole in the same word.
            _ => (
                what,
                WaitAt::Place(unsafe {
                    &*std::ptr::with_exposed_provenance::<Location<'static>>(data as usize)
                }),
            ),
        })
    }

    fn set(&self, what: Wait, data: u64, outer: bool) {
        if outer && self.0.load(Ordering::Relaxed) >> KIND_SHIFT != 0 {
            return;
        }
        self.0.store(
            (what as u64) << KIND_SHIFT | data.min(DATA),
            Ordering::Relaxed,
        );
    }
}

thread_local! {
    /// The slot of the tracked child being polled on this thread, or null.
    static SINK: Cell<*const WaitSlot> = const { Cell::new(ptr::null()) };
}

/// Restores the enclosing sink, on return and on unwind alike.
struct Restore(*const WaitSlot);

impl Drop for Restore {
    fn drop(&mut self) {
        SINK.set(self.0);
    }
}

/// Runs a tracked child's `poll` with `slot` as the sink, forgetting what
/// it waited on before.
#[inline]
pub(crate) fn noting<R>(slot: &WaitSlot, poll: impl FnOnce() -> R) -> R {
    slot.forget();
    let _restore = Restore(SINK.replace(slot));
    poll()
}

/// The child being polled here waits on `what`, a future made at `at`.
#[inline]
pub(crate) fn note(what: Wait, at: &'static Location<'static>) {
    note_with(what, || Some(at));
}

/// As [`note`], with the place asked for only while a tracked child is
/// being polled (`None`: nothing is noted).
#[inline]
pub(crate) fn note_with(what: Wait, at: impl FnOnce() -> Option<&'static Location<'static>>) {
    let sink = SINK.get();
    if !sink.is_null() {
        note_place(sink, what, at);
    }
}

/// `note_with` past the look at the sink: only while a tracked child is
/// being polled, so kept out of the leaves' `Pending` paths.
#[cold]
#[inline(never)]
fn note_place(
    sink: *const WaitSlot,
    what: Wait,
    at: impl FnOnce() -> Option<&'static Location<'static>>,
) {
    let Some(at) = at() else { return };
    // Exposed, as the tree turns the address back into the reference.
    let address = (at as *const Location<'static>).expose_provenance() as u64;
    // (Never above 2^56 in practice; such a place is not noted rather than
    // cut, as a cut address would not be the place's.)
    if address <= DATA {
        // SAFETY: `sink` is non-null: the slot of the record of a child
        // being polled on this thread (see `note_in`).
        unsafe { (*sink).set(what, address, false) };
    }
}

/// The child being polled here sleeps (`Wait::Sleep`), or waits on a
/// future under a timeout (`Wait::Timeout`: noted only if the inner future
/// noted nothing in this poll), until `deadline()` (the timers'
/// nanoseconds), asked only while a tracked child is being polled.
#[inline]
pub(crate) fn note_until(what: Wait, deadline: impl FnOnce() -> u64) {
    // Rounded up: the tree never shows a deadline earlier than it is.
    let units = || deadline().saturating_add((1 << UNTIL_SHIFT) - 1) >> UNTIL_SHIFT;
    note_in(what, units, what == Wait::Timeout);
}

/// `noting`'s unit tests, small enough for Miri.
#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_slot_keeps_the_last_note_of_the_child_being_polled() {
        let slot = WaitSlot::new();
        let at = Location::caller();
        note(Wait::Acquire, at); // nobody is being polled: nothing noted
        assert_eq!(slot.get(), None);
        noting(&slot, || note(Wait::Acquire, at));
        assert_eq!(slot.get(), Some((Wait::Acquire, WaitAt::Place(at))));
        noting(&slot, || {
            note_until(Wait::Sleep, || 5 << UNTIL_SHIFT);
            note_until(Wait::Timeout, || 9 << UNTIL_SHIFT); // an outer one hides nothing
        });
        assert_eq!(
            slot.get(),
            Some((Wait::Sleep, WaitAt::Until(5 << UNTIL_SHIFT)))
        );
        let inner = WaitSlot::new();
        noting(&slot, || {
            noting(&inner, || note(Wait::Stopped, at));
            note(Wait::JoinNext, at);
        });
        assert_eq!(inner.get(), Some((Wait::Stopped, WaitAt::Place(at))));
        assert_eq!(
            slot.get(),
            Some((Wait::JoinNext, WaitAt::Place(at))),
            "restored"
        );
        let unwound = std::panic::catch_unwind(|| noting(&inner, || panic!("unwinds")));
        assert!(unwound.is_err());
        note(Wait::Start, at);
        assert_eq!(
            inner.get(),
            None,
            "forgotten at the poll, and the sink restored"
        );
    }
}

#[inline]
fn note_in(what: Wait, data: impl FnOnce() -> u64, outer: bool) {
    let sink = SINK.get();
    if !sink.is_null() {
        note_data(sink, what, data, outer);
    }
}

/// `note_in` past the look at the sink (see `note_place`).
#[cold]
#[inline(never)]
fn note_data(sink: *const WaitSlot, what: Wait, data: impl FnOnce() -> u64, outer: bool) {
    // SAFETY: a non-null sink is the slot of the record of a child being
    // polled on this thread (`noting` restores the previous one before that
    // poll returns or unwinds), which lives at least as long as its poll.
    unsafe { (*sink).set(what, data(), outer) };
}
