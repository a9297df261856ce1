//! The hierarchical timing wheel of one shard: a slab of timer entries and six
//! levels of 64 slots, each slot a doubly linked list threaded through the slab.
//!
//! Time is counted in ticks of [`TICK_NS`] (1 ms) since the timer epoch. Level
//! `l` slot `s` holds the entries whose deadline tick falls in the `s`-th run
//! of `64^l` ticks of the level's current window. Arming and cancelling are
//! O(1) (push to / unlink from one list); advancing visits only occupied slots
//! (a bitmap per level) and moves an entry down at most once per level. The
//! wheel is plain data: [`super::shard`] puts it behind a lock and decides when
//! to advance it.
//!
//! The wheel never frees an entry on its own: a fired entry stays allocated
//! (at [`Place::FIRED`]) until its owner, a `Sleep` or `Timeout`, releases it.
//! So a handle (the slab index) stays valid for exactly as long as its owner
//! holds it, with no generation counter.

use std::num::NonZeroU16;
use std::task::Waker;

use crate::util::slab::{NIL, Slab};
use crate::wake_list::WakeList;

/// Nanoseconds per tick: the wheel's resolution. A timer fires at the first
/// tick boundary at or after its deadline, so it is never early and at most
/// one tick late (plus whatever the backend timer adds).
pub(crate) const TICK_NS: u64 = 1_000_000;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// The span the levels cover together (64^6 ticks, about 2.2 years). A deadline
/// further away is parked in the top level and re-filed when its slot comes up.
const MAX_SPAN: u64 = 1 << (SLOT_BITS * LEVELS as u32);

/// Slab capacity (in entries) above which an idle wheel frees its slab.
const KEEP_WHEN_IDLE: usize = 1024;

/// The earliest tick whose boundary is at or after `deadline_ns`.
pub(crate) fn tick_at_or_after(deadline_ns: u64) -> u64 {
    deadline_ns.div_ceil(TICK_NS)
}

/// One timer.
struct Entry {
    /// The deadline in nanoseconds since the epoch (exact, for `deadline()`).
    deadline_ns: u64,
    /// The entry before this one in its slot's list, or [`NIL`].
    prev: u32,
    /// The entry after this one in its slot's list, or [`NIL`].
    next: u32,
    waker: Option<Waker>,
    place: Place,
}

/// Where an entry is: filed in a slot, or fired.
///
/// Kept as `(level + 1) * 64 + slot` while filed, [`Place::FIRED`] once
/// fired: never zero, so the zero is free to mark a vacant slot of the slab,
/// which is then no larger than an entry (40 bytes, not 48). The `+ 1` costs
/// nothing measurable: the compiler folds it into the offsets of `heads` and
/// `occupied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place(NonZeroU16);

impl Place {
    /// An entry that fired and awaits release by its owner.
    const FIRED: Self = Self(NonZeroU16::MAX);

    /// Filed in `slot` of `level`.
    #[inline]
    fn filed(level: usize, slot: usize) -> Self {
        debug_assert!(level < LEVELS && slot < SLOTS);
        let place = ((level + 1) * SLOTS + slot) as u16;
        Self(NonZeroU16::new(place).expect("at least 64"))
    }

    /// The `(level, slot)` of a filed entry.
    #[inline]
    fn level_slot(self) -> (usize, usize) {
        debug_assert!(
            self != Self::FIRED,
            "the place of an entry that is not filed"
        );
        let place = self.0.get() as usize;
        (place / SLOTS - 1, place % SLOTS)
    }
}

/// What [`Wheel::insert`] did with a new entry.
pub(crate) enum Inserted {
    /// Filed under this slab index; fires at the given tick.
    Armed { index: u32, tick: u64 },
    /// The deadline's tick has already been processed: it is due now.
    Due,
}

/// One shard's wheel.
///
/// # Invariants
///
/// The slot lists hold exactly the entries whose place is not
/// [`Place::FIRED`], each in the list of its place: `heads` and every listed
/// entry's `prev` and `next` are [`NIL`] or the index of an entry in the
/// slab. `link` and `unlink` keep it; an entry leaves the slab only through
/// `remove`, which unlinks it. The wheel walks those links with unchecked
/// slab access on the strength of this; an index from outside (a timer's
/// handle) goes through a checked one.
pub(crate) struct Wheel {
    /// Every tick up to and including this one has been processed.
    elapsed: u64,
    occupied: [u64; LEVELS],
    heads: [[u32; SLOTS]; LEVELS],
    /// Allocated entries (linked or fired).
    entries: Slab<Entry>,
    /// Linked entries, for knowing whether a backend timer is needed at all.
    linked: usize,
}

impl Wheel {
    pub(crate) const fn new() -> Self {
        Self {
            elapsed: 0,
            occupied: [0; LEVELS],
            heads: [[NIL; SLOTS]; LEVELS],
            entries: Slab::new(),
            linked: 0,
        }
    }

    /// Files a timer due at `deadline_ns` that wakes `waker`. `now_ns` is a
    /// clock reading taken for this arm (it only moves an idle wheel forward).
    pub(crate) fn insert(&mut self, deadline_ns: u64, now_ns: u64, waker: &Waker) -> Inserted {
        if self.linked == 0 {
            // Nothing filed: restart the wheel at the present, so the new entry
            // lands in the level its real distance calls for.
            self.elapsed = self.elapsed.max(now_ns / TICK_NS);
        }
        let tick = tick_at_or_after(deadline_ns);
        if tick <= self.elapsed {
            return Inserted::Due;
        }
        let entry = Entry {
            deadline_ns,
            prev: NIL,
            next: NIL,
            waker: Some(waker.clone()),
            // (`link` files it at once.)
            place: Place::FIRED,
        };
        let index = self
            .entries
            .insert(entry)
            .expect("corral::time: more than 4 billion timers armed in one shard");
        // SAFETY: just inserted, not listed.
        unsafe { self.link(index, tick) };
        Inserted::Armed { index, tick }
    }

    /// Whether entry `index` has fired.
    pub(crate) fn fired(&self, index: u32) -> bool {
        self.entries[index].place == Place::FIRED
    }

    /// The exact deadline of entry `index`, in nanoseconds since the epoch.
    pub(crate) fn deadline_ns(&self, index: u32) -> u64 {
        self.entries[index].deadline_ns
    }

    /// Makes `waker` the one entry `index` wakes; returns the waker it replaces
    /// (to be dropped after the lock is released: a waker's drop is foreign code).
    pub(crate) fn set_waker(&mut self, index: u32, waker: &Waker) -> Option<Waker> {
        let slot = &mut self.entries[index].waker;
        match slot {
            Some(old) if old.will_wake(waker) => None,
            _ => slot.replace(waker.clone()),
        }
    }

    /// Moves entry `index` (linked or fired) to a new deadline. Returns the
    /// tick it now fires at, or `None` if that tick has already been processed
    /// (the entry is then marked fired and its waker is handed back to wake).
    pub(crate) fn reschedule(
        &mut self,
        index: u32,
        deadline_ns: u64,
        now_ns: u64,
    ) -> Result<u64, Option<Waker>> {
        let entry = &mut self.entries[index];
        entry.deadline_ns = deadline_ns;
        let Entry {
            prev, next, place, ..
        } = *entry;
        if place != Place::FIRED {
            // SAFETY: the links of a listed entry, at its place.
            unsafe { self.unlink(prev, next, place) };
        }
        if self.linked == 0 {
            self.elapsed = self.elapsed.max(now_ns / TICK_NS);
        }
        let tick = tick_at_or_after(deadline_ns);
        if tick <= self.elapsed {
            // SAFETY: in the slab (checked above).
            let entry = unsafe { self.entries.get_unchecked_mut(index) };
            entry.place = Place::FIRED;
            return Err(entry.waker.take());
        }
        // SAFETY: in the slab (checked above), and unlisted just now.
        unsafe { self.link(index, tick) };
        Ok(tick)
    }

    /// Frees entry `index`, unlinking it if it has not fired. Returns its waker
    /// so the caller can drop it outside the lock.
    pub(crate) fn remove(&mut self, index: u32) -> Option<Waker> {
        let entry = self.entries.remove(index);
        if entry.place != Place::FIRED {
            // SAFETY: the links of an entry that was listed, at its place.
            unsafe { self.unlink(entry.prev, entry.next, entry.place) };
        }
        // An idle shard gives its table back instead of keeping the peak.
        self.entries.release_if_idle(KEEP_WHEN_IDLE);
        entry.waker
    }

    /// The tick of the next slot that needs processing, if anything is filed.
    /// For a slot above level 0 this is the slot's start, where its entries
    /// are moved down, so it may come before any entry's own deadline.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, tick)| tick)
    }

    /// Processes every slot due at or before `now_tick`, pushing the wakers of
    /// the entries that fire onto `wake`.
    pub(crate) fn advance(&mut self, now_tick: u64, wake: &mut WakeList) {
        while let Some((level, slot, tick)) = self.next_slot() {
            if tick > now_tick {
                break;
            }
            self.elapsed = tick;
            let mut cursor = self.heads[level][slot];
            self.heads[level][slot] = NIL;
            self.occupied[level] &= !(1 << slot);
            while cursor != NIL {
                let index = cursor;
                // SAFETY: a listed index (the invariants).
                let entry = unsafe { self.entries.get_unchecked_mut(index) };
                cursor = entry.next;
                self.linked -= 1;
                let due = tick_at_or_after(entry.deadline_ns);
                if due <= tick {
                    entry.place = Place::FIRED;
                    wake.extend(entry.waker.take());
                } else {
                    // SAFETY: in the slab, and off the list (its slot's list
                    // was detached above).
                    unsafe { self.link(index, due) };
                }
            }
        }
        self.elapsed = self.elapsed.max(now_tick);
    }

    /// Entries allocated (linked or fired but not yet released).
    pub(crate) fn live(&self) -> usize {
        self.entries.live()
    }

    /// Whether any entry is waiting for its deadline.
    #[cfg(any(test, corral_loom))]
    pub(crate) fn has_pending(&self) -> bool {
        self.linked != 0
    }

    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| {
            let occupied = self.occupied[level];
            if occupied == 0 {
                return None;
            }
            let slot_span = 1u64 << (SLOT_BITS * level as u32);
            let level_span = slot_span << SLOT_BITS;
            // Search from the slot after the cursor round to the cursor's own:
            // the cursor's slot can only hold a parked far-future entry (see
            // MAX_SPAN), which belongs to the level's next window.
            let now_slot = self.elapsed / slot_span;
            let start = (now_slot + 1) % SLOTS as u64;
            let slot = (occupied.rotate_right(start as u32).trailing_zeros() as u64 + start)
                % SLOTS as u64;
            let mut tick = (self.elapsed & !(level_span - 1)) + slot * slot_span;
            if tick <= self.elapsed {
                tick += level_span;
            }
            Some((level, slot as usize, tick))
        })
    }

    /// Files entry `index` in the slot that `tick` falls in.
    ///
    /// # Safety
    ///
    /// Entry `index` is in the slab and in no slot's list.
    unsafe fn link(&mut self, index: u32, tick: u64) {
        let mut masked = (self.elapsed ^ tick) | (SLOTS as u64 - 1);
        if masked >= MAX_SPAN {
            masked = MAX_SPAN - 1;
        }
        let level = ((63 - masked.leading_zeros()) / SLOT_BITS) as usize;
        let slot = ((tick >> (SLOT_BITS * level as u32)) % SLOTS as u64) as usize;
        let head = self.heads[level][slot];
        if head != NIL {
            // SAFETY: a listed index (the invariants).
            unsafe { self.entries.get_unchecked_mut(head) }.prev = index;
        }
        // SAFETY: in the slab (the caller's promise).
        let entry = unsafe { self.entries.get_unchecked_mut(index) };
        entry.prev = NIL;
        entry.next = head;
        entry.place = Place::filed(level, slot);
        self.heads[level][slot] = index;
        self.occupied[level] |= 1 << slot;
        self.linked += 1;
    }

    /// Takes an entry out of the list of its slot, given its links and place
    /// (the entry itself is not touched: it may be gone from the slab).
    ///
    /// # Safety
    ///
    /// `prev`, `next` and `place` are those of an entry that is listed at
    /// `place`, or was until it left the slab just now: then its neighbours
    /// are listed entries (the invariants), and not the entry itself.
    unsafe fn unlink(&mut self, prev: u32, next: u32, place: Place) {
        let (level, slot) = place.level_slot();
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        } else {
            // SAFETY: a listed neighbour (the caller's promise).
            unsafe { self.entries.get_unchecked_mut(prev) }.next = next;
        }
        if next != NIL {
            // SAFETY: as for `prev`.
            unsafe { self.entries.get_unchecked_mut(next) }.prev = prev;
        }
        self.linked -= 1;
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> Waker {
        Waker::from(Arc::new(Count(AtomicUsize::new(0))))
    }

    /// Advances one tick at a time and records when each entry fires.
    fn fire_times(deadlines_ms: &[u64]) -> Vec<u64> {
        let mut wheel = Wheel::new();
        let w = waker();
        let indices: Vec<u32> = deadlines_ms
            .iter()
            .map(|&d| match wheel.insert(d * TICK_NS, 0, &w) {
                Inserted::Armed { index, .. } => index,
                Inserted::Due => panic!("due at insert"),
            })
            .collect();
        let mut fired_at = vec![u64::MAX; indices.len()];
        let mut buf = WakeList::new();
        let mut now = 0;
        while fired_at.contains(&u64::MAX) {
            // Jump straight to the next slot, as the shard's backend timer does.
            now = wheel
                .next_expiration()
                .expect("entries left but nothing filed");
            wheel.advance(now, &mut buf);
            buf.wake_all();
            for (i, &index) in indices.iter().enumerate() {
                if fired_at[i] == u64::MAX && wheel.fired(index) {
                    fired_at[i] = now;
                }
            }
        }
        assert!(!wheel.has_pending());
        let _ = now;
        fired_at
    }

    #[test]
    fn entries_fire_exactly_at_their_tick_across_levels() {
        let deadlines = [1, 2, 63, 64, 65, 100, 4095, 4096, 4097, 300_000, 86_400_000];
        assert_eq!(fire_times(&deadlines), deadlines);
    }

    #[test]
    fn far_future_entries_are_parked_and_refiled() {
        let far = MAX_SPAN * 3 + 17;
        assert_eq!(fire_times(&[5, far]), [5, far]);
    }

    #[test]
    fn sub_tick_deadlines_round_up() {
        let mut wheel = Wheel::new();
        let w = waker();
        let Inserted::Armed { tick, .. } = wheel.insert(1, 0, &w) else {
            panic!()
        };
        assert_eq!(tick, 1);
        assert!(matches!(wheel.insert(0, 0, &w), Inserted::Due));
    }

    #[test]
    fn remove_unlinks_and_reuses_slots() {
        let mut wheel = Wheel::new();
        let w = waker();
        let armed = |wheel: &mut Wheel, ms: u64| match wheel.insert(ms * TICK_NS, 0, &w) {
            Inserted::Armed { index, .. } => index,
            Inserted::Due => panic!(),
        };
        let a = armed(&mut wheel, 10);
        let b = armed(&mut wheel, 10);
        let c = armed(&mut wheel, 10);
        assert!(wheel.remove(b).is_some());
        let d = armed(&mut wheel, 5000);
        assert_eq!(d, b, "freed slot reused");
        wheel.remove(a);
        wheel.remove(c);
        assert_eq!(wheel.next_expiration(), Some(4096));
        wheel.remove(d);
        assert_eq!(wheel.next_expiration(), None);
        assert_eq!(wheel.live(), 0);
    }

    #[test]
    fn reschedule_moves_both_ways_and_refires() {
        let mut wheel = Wheel::new();
        let w = waker();
        let Inserted::Armed { index, .. } = wheel.insert(100 * TICK_NS, 0, &w) else {
            panic!()
        };
        assert_eq!(wheel.reschedule(index, 3 * TICK_NS, 0).ok(), Some(3));
        let mut buf = WakeList::new();
        wheel.advance(3, &mut buf);
        assert!(wheel.fired(index));
        assert_eq!(buf.len(), 1);
        assert_eq!(
            wheel.reschedule(index, 7_000 * TICK_NS, 0).ok(),
            Some(7_000)
        );
        assert!(!wheel.fired(index));
        wheel.advance(6_999, &mut buf);
        assert!(!wheel.fired(index));
        assert!(wheel.reschedule(index, 6_000 * TICK_NS, 0).is_err());
        assert!(wheel.fired(index));
        wheel.remove(index);
        assert_eq!(wheel.live(), 0);
    }

    /// Random arms, cancels, reschedules and advances against a plain list:
    /// every entry fires in the first advance that reaches its tick, and
    /// never in an earlier one.
    #[test]
    fn matches_a_reference_model() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let w = waker();
        let mut wheel = Wheel::new();
        // (index, tick) of live, unfired entries.
        let mut model: Vec<(u32, u64)> = Vec::new();
        let mut now = 0u64;
        let mut buf = WakeList::new();
        for _ in 0..20_000 {
            match next(10) {
                0..=3 => {
                    let span = [3, 200, 10_000, 5_000_000, MAX_SPAN * 2][next(5) as usize];
                    let deadline = now * TICK_NS + 1 + next(span * TICK_NS);
                    match wheel.insert(deadline, now * TICK_NS, &w) {
                        Inserted::Armed { index, tick } => {
                            assert_eq!(tick, tick_at_or_after(deadline));
                            model.push((index, tick));
                        }
                        Inserted::Due => panic!("a future deadline was due"),
                    }
                }
                4 | 5 if !model.is_empty() => {
                    let (index, _) = model.swap_remove(next(model.len() as u64) as usize);
                    wheel.remove(index);
                }
                6 if !model.is_empty() => {
                    let i = next(model.len() as u64) as usize;
                    let deadline = now * TICK_NS + 1 + next(100_000 * TICK_NS);
                    let tick = wheel
                        .reschedule(model[i].0, deadline, now * TICK_NS)
                        .unwrap();
                    model[i].1 = tick;
                }
                _ => {
                    // (Jumps stay within the 2^42 ticks a 62-bit deadline spans.)
                    now = match (next(3), wheel.next_expiration()) {
                        (0, Some(at)) if at < 1 << 41 => at,
                        _ => now + next(5_000),
                    };
                    wheel.advance(now, &mut buf);
                    buf.wake_all();
                    model.retain(|&(index, tick)| {
                        assert_eq!(
                            wheel.fired(index),
                            tick <= now,
                            "entry {index} tick {tick} now {now}"
                        );
                        if tick <= now {
                            wheel.remove(index);
                        }
                        tick > now
                    });
                }
            }
        }
        for (index, _) in model.drain(..) {
            wheel.remove(index);
        }
        assert_eq!(wheel.live(), 0);
        assert!(!wheel.has_pending());
    }

    /// The place's niche marks a vacant slot: a slot is no larger than an
    /// entry.
    #[test]
    fn a_slab_slot_is_no_larger_than_an_entry() {
        assert_eq!(crate::util::slab::slot_size::<Entry>(), size_of::<Entry>());
        assert_eq!(size_of::<Entry>(), 40);
    }

    #[test]
    fn places_round_trip() {
        for level in 0..LEVELS {
            for slot in 0..SLOTS {
                let place = Place::filed(level, slot);
                assert_ne!(place, Place::FIRED);
                assert_eq!(place.level_slot(), (level, slot));
            }
        }
    }

    #[test]
    fn an_idle_wheel_restarts_at_the_present() {
        let mut wheel = Wheel::new();
        let w = waker();
        let now = 10 * MAX_SPAN * TICK_NS;
        let Inserted::Armed { index, tick } = wheel.insert(now + 5 * TICK_NS, now, &w) else {
            panic!()
        };
        assert_eq!(wheel.next_expiration(), Some(tick));
        wheel.remove(index);
    }
}
