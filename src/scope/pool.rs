//! A pool: one child of a scope that polls many futures of one type in
//! place, each in a slot of its own with a waker of its own, and hands their
//! values to a reader. The stream room's maps (`stream/map.rs`) run their
//! items in one, so an item costs no cell, no spawn and no trip through the
//! scope's queues: its future moves into a slot that the previous item
//! left, and its value into a queue the reader empties a batch at a time.
//!
//! Two sides share an [`Exchange`] behind a mutex, each taking it once per
//! batch: the reader ([`Feed`], held by the map) hands futures over in the
//! `inbox` and takes values out of the `outbox`; the child ([`Pool`])
//! starts the inbox's futures and delivers their values in one visit per
//! round of work. The pool exits when it holds no item and the inbox is
//! empty, so a scope never waits on an idle map; the reader spawns a new
//! pool the next time it hands an item over, and the slots are parked in
//! the exchange in between, so a steady stream allocates nothing per item.
//!
//! The pool sleeps on two things. The inbox: it says so in the exchange
//! (`asleep`), and the reader who hands something over wakes it. Its
//! items: through [`Hub`], a bit per slot set by that slot's waker, and an
//! `armed` flag the pool raises only when it has found nothing to do; while
//! it runs, a mark costs one atomic and no wake of the scope, and an item
//! that wakes itself during its own poll (a yield) costs none: the pool
//! sees it on this thread (`POLLING`) and polls it again next round.
//! `loom_tests.rs` models the arming against a concurrent mark.
//!
//! With the `tokio` feature the pool respects a tokio task's cooperative
//! budget as the scope's own loop does (`engine/drive.rs`): before each item
//! poll it asks tokio whether budget is left, and once none is, it stops
//! partway through its round and yields as a tokio resource does (tokio
//! wakes it after looking at its drivers). An item polled after that point
//! could only return `Pending`: without the check, 200 items draining busy
//! channels cost 199 polls for nothing a turn, and items that wake
//! themselves at once were each polled 32 times a turn. The round goes on
//! from where it stopped at the next poll ([`Resume`]): the wakes it had
//! taken and not acted on yet are kept by the pool, not put back in the hub,
//! so no wake is lost and an item polled before the stop cannot go ahead of
//! one still due. Without the feature the check is a constant `false`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem;
use std::pin::Pin;
use std::ptr;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::engine::TokioBudget;
use crate::loom::{AtomicBool, AtomicUsize, AtomicWaker, Mutex, Ordering, lock};

/// Slots per chunk, and per word of wake bits.
const WORD: usize = usize::BITS as usize;

/// The most words of wake bits a pool keeps. Slots past `WORD * MAX_WORDS`
/// share bits with earlier ones: a wake of one polls the others that share
/// its bit too (a spurious poll, which `Future`'s contract allows), and no
/// limit, however large, costs more than these few kilobytes of bits.
const MAX_WORDS: usize = 1024;

/// How many times one poll of the pool goes round its work before it
/// yields to the scope (items that keep waking themselves would otherwise
/// hold the scope's thread).
const ROUNDS: usize = 32;

/// Where the items' wakes meet: a bit per slot, and the pool's waker,
/// armed only while the pool sleeps.
pub(crate) struct Hub {
    bits: Box<[AtomicUsize]>,
    armed: AtomicBool,
    waker: AtomicWaker,
}

impl Hub {
    pub(crate) fn new(limit: usize) -> Self {
        let words = limit.div_ceil(WORD).clamp(1, MAX_WORDS);
        Hub {
            bits: (0..words).map(|_| AtomicUsize::new(0)).collect(),
            armed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// Registers the pool's waker.
    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// Slot `index`'s word and bit.
    fn bit(&self, index: usize) -> (usize, usize) {
        ((index / WORD) % self.bits.len(), 1 << (index % WORD))
    }

    /// Marks slot `word`/`mask` for a poll and wakes the pool if it sleeps.
    pub(crate) fn mark_slot(&self, word: usize, mask: usize) {
        self.bits[word].fetch_or(mask, Ordering::SeqCst);
        self.rouse();
    }

    /// After a mark: wakes the pool if it armed itself to sleep. Whoever
    /// lowers `armed` wakes it, once. (A swap, not a load first: see
    /// [`arm`](Self::arm).)
    fn rouse(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }

    /// Takes word `word`'s marks.
    fn take_word(&self, word: usize) -> usize {
        let bits = &self.bits[word];
        if bits.load(Ordering::Relaxed) == 0 {
            0
        } else {
            bits.swap(0, Ordering::SeqCst)
        }
    }

    /// The pool found nothing to do: arms itself, then looks once more.
    /// `true`: a mark came in meanwhile, the pool goes on (disarmed; a
    /// marker that saw it armed may wake it once more, harmlessly).
    /// `false`: the pool may sleep; the next mark wakes it.
    ///
    /// A marker sets its mark, then swaps `armed` down; the pool swaps it
    /// up, then reads the marks. The two swaps are ordered on `armed`: if
    /// the marker's comes first, the pool's reads from it and so sees the
    /// mark; if the pool's comes first, the marker's reads `true` and wakes
    /// the pool. (Read-modify-writes on both sides, so the argument holds
    /// by release and acquire alone, the way loom checks it.)
    pub(crate) fn arm(&self) -> bool {
        self.armed.swap(true, Ordering::SeqCst);
        let marked = self.bits.iter().any(|w| w.load(Ordering::SeqCst) != 0);
        if marked {
            self.armed.store(false, Ordering::SeqCst);
        }
        marked
    }
}

/// A slot's waker: marks its bit.
struct SlotWake {
    hub: Arc<Hub>,
    word: usize,
    mask: usize,
}

#[cfg(not(corral_loom))]
std::thread_local! {
    /// The slot waker whose item a pool is polling on this thread (null if
    /// none), and whether that item has woken itself during the poll.
    static POLLING: Cell<(*const SlotWake, bool)> = const { Cell::new((ptr::null(), false)) };
}
#[cfg(corral_loom)]
loom::thread_local! {
    static POLLING: Cell<(*const SlotWake, bool)> = Cell::new((ptr::null(), false));
}

impl Wake for SlotWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let me = Arc::as_ptr(self);
        let own_poll = POLLING.with(|polling| {
            let (now, _) = polling.get();
            let own = ptr::eq(now, me);
            if own {
                polling.set((now, true));
            }
            own
        });
        if !own_poll {
            self.hub.mark_slot(self.word, self.mask);
        }
    }
}

/// Marks `wake`'s item as the one polled on this thread, for its poll; on
/// drop (an unwinding poll included) puts back the mark it replaced (a pool
/// polled inside another pool's item).
struct PollingGuard {
    previous: (*const SlotWake, bool),
}

impl PollingGuard {
    #[inline]
    fn enter(wake: *const SlotWake) -> Self {
        PollingGuard {
            previous: POLLING.with(|polling| polling.replace((wake, false))),
        }
    }

    /// Whether the item woke itself during the poll.
    #[inline]
    fn woke_itself(&self) -> bool {
        POLLING.with(|polling| polling.get().1)
    }
}

impl Drop for PollingGuard {
    #[inline]
    fn drop(&mut self) {
        POLLING.with(|polling| polling.set(self.previous));
    }
}

/// One item's place: its future (none when free) and its input index.
struct Slot<F> {
    future: Option<F>,
    seq: u64,
    waker: Waker,
    wake: *const SlotWake,
}

// SAFETY: `wake` is only compared, never dereferenced (it names the
// `SlotWake` that `waker` keeps alive); the rest is `Send`/`Sync` as `F` is.
unsafe impl<F: Send> Send for Slot<F> {}
// SAFETY: as for `Send`.
unsafe impl<F: Sync> Sync for Slot<F> {}

/// The slots, in chunks of `WORD` that never move once made; the free ones'
/// indices.
struct Slots<F> {
    chunks: Vec<Box<[Slot<F>]>>,
    free: Vec<usize>,
}

impl<F> Default for Slots<F> {
    fn default() -> Self {
        Slots {
            chunks: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<F> Slots<F> {
    /// Slots made so far.
    fn made(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }

    /// Puts `future` in a free slot, making a chunk if none is free (at most
    /// `limit` slots are ever made: the reader holds at most `limit` items).
    fn place(&mut self, hub: &Arc<Hub>, limit: usize, seq: u64, future: F) -> usize {
        let index = match self.free.pop() {
            Some(index) => index,
            None => self.grow(hub, limit),
        };
        let slot = &mut self.chunks[index / WORD][index % WORD];
        slot.seq = seq;
        // The slot is free: nothing is dropped here.
        slot.future = Some(future);
        index
    }

    /// Makes the next chunk and returns its first slot (the rest go free).
    #[cold]
    fn grow(&mut self, hub: &Arc<Hub>, limit: usize) -> usize {
        let base = self.chunks.len() * WORD;
        let len = limit.saturating_sub(base).clamp(1, WORD);
        let chunk: Box<[Slot<F>]> = (base..base + len)
            .map(|index| {
                let (word, mask) = hub.bit(index);
                let wake = Arc::new(SlotWake {
                    hub: hub.clone(),
                    word,
                    mask,
                });
                Slot {
                    future: None,
                    seq: 0,
                    wake: Arc::as_ptr(&wake),
                    waker: Waker::from(wake),
                }
            })
            .collect();
        self.chunks.push(chunk);
        self.free.extend((base + 1..base + len).rev());
        base
    }

    /// Polls slot `index`'s item, if it holds one (a wake may be stale). A
    /// finished item leaves its slot free; one that woke itself during the
    /// poll (without marking its bit) is pushed on `again`.
    fn poll<U, E>(
        &mut self,
        index: usize,
        again: &mut Vec<usize>,
    ) -> Option<Poll<Result<(u64, U), E>>>
    where
        F: Future<Output = Result<U, E>>,
    {
        let slot = self
            .chunks
            .get_mut(index / WORD)
            .and_then(|chunk| chunk.get_mut(index % WORD))?;
        let future = slot.future.as_mut()?;
        // SAFETY: the future sits in a boxed chunk whose items never move
        // (chunks are only pushed, and the boxes' contents stay where they
        // are when the `Vec` of boxes or the `Slots` move), and it leaves the
        // slot only by being dropped in place (`slot.future = None` below, or
        // the chunk's drop): it is never moved out.
        let future = unsafe { Pin::new_unchecked(future) };
        let guard = PollingGuard::enter(slot.wake);
        let polled = future.poll(&mut Context::from_waker(&slot.waker));
        if polled.is_pending() {
            if guard.woke_itself() {
                again.push(index);
            }
            return Some(Poll::Pending);
        }
        drop(guard);
        let seq = slot.seq;
        slot.future = None;
        self.free.push(index);
        Some(polled.map(|outcome| outcome.map(|value| (seq, value))))
    }
}

/// A pool's slots and lists (parked in the exchange between pools, so a
/// new pool starts with their allocations).
struct Work<F, U> {
    slots: Slots<F>,
    /// Slots filled since the last round, polled next; after a round
    /// stopped for tokio's budget, the slots of the list it stopped in that
    /// were not polled yet (see [`Resume`]).
    fresh: Vec<usize>,
    /// Slots whose item woke itself while polled, polled next round.
    again: Vec<usize>,
    /// Values finished since the last delivery.
    done: Vec<(u64, U)>,
}

impl<F, U> Default for Work<F, U> {
    fn default() -> Self {
        Work {
            slots: Slots::default(),
            fresh: Vec::new(),
            again: Vec::new(),
            done: Vec::new(),
        }
    }
}

impl<F, U> Work<F, U> {
    /// One of the lists of slots to poll.
    #[inline(always)]
    fn list(&mut self, list: List) -> &mut Vec<usize> {
        match list {
            List::Fresh => &mut self.fresh,
            List::Again => &mut self.again,
        }
    }
}

/// [`Work`]'s lists of slots to poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    Fresh,
    Again,
}

/// Where a round stopped for tokio's budget, to go on from there at the
/// pool's next poll. It polls `fresh` (the slots of the list it stopped in
/// that were not polled yet, if it stopped), then `again` if it had not
/// come to it, then the marks from word `word` on: that word's taken and
/// not polled yet (`held`; `None`: not taken yet), the later words' still
/// in the hub. Marks taken are kept here, never put back: a slot polled
/// before the stop and marked again waits for the next round, so no slot
/// is polled twice before every one due is polled once.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "tokio"), allow(dead_code))] // never made without it
struct Resume {
    again: bool,
    word: usize,
    held: Option<usize>,
}

impl Resume {
    /// Stopped in `fresh`: `again` and every word still to come.
    const START: Resume = Resume {
        again: true,
        word: 0,
        held: None,
    };
    /// Stopped in `again`: every word still to come.
    const MARKS: Resume = Resume {
        again: false,
        word: 0,
        held: None,
    };
}

/// What the reader and the pool share, behind the mutex.
struct Exchange<F, U> {
    /// Futures handed over, not yet started.
    inbox: Vec<(u64, F)>,
    /// Values finished, not yet taken.
    outbox: VecDeque<(u64, U)>,
    /// The reader, waiting for a value.
    reader: Option<Waker>,
    /// A pool is spawned and has not exited.
    running: bool,
    /// A pool was dropped holding items: their values will never come.
    lost: bool,
    /// The reader is gone: the pool drops its items and exits.
    abandoned: bool,
    /// The pool found nothing to do and sleeps: whoever hands an item over
    /// (or leaves) wakes it.
    asleep: bool,
    /// The slots and the pool's lists, while no pool runs.
    parked: Option<Work<F, U>>,
}

struct Shared<F, U> {
    hub: Arc<Hub>,
    exchange: Mutex<Exchange<F, U>>,
    limit: usize,
}

/// The reader's side: hands futures to a pool (spawning one when none
/// runs) and takes their values.
pub(crate) struct Feed<F, U> {
    shared: Arc<Shared<F, U>>,
    /// Futures made since the last hand-over.
    pending: Vec<(u64, F)>,
    /// Values taken from the outbox, not yet read.
    ready: VecDeque<(u64, U)>,
    /// Items handed over (or pending) whose value is not in `ready` yet.
    out: usize,
    next_seq: u64,
    lost: bool,
}

impl<F, U> Feed<F, U> {
    /// A feed for at most `limit` items at once; allocates its shared state
    /// only (slots come with the first items).
    pub(crate) fn new(limit: usize) -> Self {
        let hub = Arc::new(Hub::new(limit));
        Feed {
            shared: Arc::new(Shared {
                hub,
                exchange: Mutex::new(Exchange {
                    inbox: Vec::new(),
                    outbox: VecDeque::new(),
                    reader: None,
                    running: false,
                    lost: false,
                    abandoned: false,
                    asleep: false,
                    parked: None,
                }),
                limit,
            }),
            pending: Vec::new(),
            ready: VecDeque::new(),
            out: 0,
            next_seq: 0,
            lost: false,
        }
    }

    /// Items held: handed over and not yet read.
    pub(crate) fn held(&self) -> usize {
        self.out + self.ready.len()
    }

    /// A pool was dropped holding items (a stop's grace ran out): the
    /// values not yet taken will never come.
    pub(crate) fn lost(&self) -> bool {
        self.lost
    }

    /// Queues `future` for the next hand-over, numbered with its input
    /// index (the ordered map's window counts the same way).
    pub(crate) fn push(&mut self, future: F) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push((seq, future));
        self.out += 1;
    }

    /// Hands the queued futures to the pool, spawning one with `spawn` if
    /// none runs.
    #[inline]
    pub(crate) fn hand_over<E>(&mut self, spawn: impl FnOnce(Pool<F, U, E>)) {
        if !self.pending.is_empty() {
            self.hand_over_pending(spawn);
        }
    }

    /// [`hand_over`](Self::hand_over)'s visit to the inbox.
    fn hand_over_pending<E>(&mut self, spawn: impl FnOnce(Pool<F, U, E>)) {
        let (start, wake) = {
            let mut exchange = lock(&self.shared.exchange);
            exchange.inbox.append(&mut self.pending);
            let wake = mem::take(&mut exchange.asleep);
            if exchange.running {
                (None, wake)
            } else {
                exchange.running = true;
                (Some(exchange.parked.take().unwrap_or_default()), false)
            }
        };
        if wake {
            self.shared.hub.waker.wake();
        }
        if let Some(work) = start {
            spawn(Pool {
                shared: self.shared.clone(),
                work,
                live: 0,
                exited: false,
                #[cfg(feature = "tokio")]
                resume: None,
                budget: TokioBudget::at_start(),
                _error: PhantomData,
            });
        }
    }

    /// The next value at hand: from the last batch taken, else a new batch
    /// from the outbox. `None` registers `cx`'s waker for the next delivery
    /// (unless the values still out are lost: see [`lost`](Self::lost)).
    #[inline]
    pub(crate) fn take(&mut self, cx: &mut Context<'_>) -> Option<(u64, U)> {
        match self.ready.pop_front() {
            Some(next) => Some(next),
            None if self.out == 0 => None,
            None => self.take_batch(cx),
        }
    }

    /// [`take`](Self::take)'s visit to the outbox.
    #[inline(never)]
    fn take_batch(&mut self, cx: &mut Context<'_>) -> Option<(u64, U)> {
        {
            let mut exchange = lock(&self.shared.exchange);
            mem::swap(&mut self.ready, &mut exchange.outbox);
            self.out -= self.ready.len();
            if exchange.lost {
                // Whatever is not in the outbox by now will never be.
                self.lost = true;
                self.out = 0;
            } else if self.ready.is_empty() {
                match &mut exchange.reader {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    reader => *reader = Some(cx.waker().clone()),
                }
            }
        }
        self.ready.pop_front()
    }
}

impl<F, U> Drop for Feed<F, U> {
    fn drop(&mut self) {
        let (inbox, wake) = {
            let mut exchange = lock(&self.shared.exchange);
            exchange.abandoned = true;
            (
                mem::take(&mut exchange.inbox),
                mem::take(&mut exchange.asleep),
            )
        };
        if wake {
            self.shared.hub.waker.wake();
        }
        // Items not started: dropped here, outside the lock.
        drop(inbox);
    }
}

impl<F, U> fmt::Debug for Feed<F, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("held", &self.held())
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

/// The pool, as a child of the scope: polls its items in place, delivers
/// their values, fails with the first error (its items dropped with it),
/// and exits once it holds nothing.
pub struct Pool<F, U, E> {
    shared: Arc<Shared<F, U>>,
    work: Work<F, U>,
    /// Items in the slots.
    live: usize,
    /// Exited (or abandoned): the exchange says so already.
    exited: bool,
    /// Where the last round stopped for tokio's budget, if it did.
    #[cfg(feature = "tokio")]
    resume: Option<Resume>,
    /// tokio's budget, as this poll began (`engine/budget.rs`).
    budget: TokioBudget,
    _error: PhantomData<fn() -> E>,
}

// Nothing in a pool is pinned structurally: its futures sit behind boxes
// (see `Slots::poll`).
impl<F, U, E> Unpin for Pool<F, U, E> {}

impl<F, U, E> Pool<F, U, E>
where
    F: Future<Output = Result<U, E>>,
{
    /// Polls slot `index`'s item; a value goes to `done`.
    #[inline]
    fn run(&mut self, index: usize) -> Result<(), E> {
        if let Some(Poll::Ready(outcome)) = self.work.slots.poll(index, &mut self.work.again) {
            self.live -= 1;
            self.work.done.push(outcome?);
        }
        Ok(())
    }

    /// Polls the slots in `list`, leaving it empty. `true`: tokio's budget
    /// ran out first (checked before each poll), and the slots not polled
    /// are in `fresh`, in order.
    #[inline(always)]
    fn run_list(&mut self, list: List) -> Result<bool, E> {
        let indices = mem::take(self.work.list(list));
        let mut stop = None;
        let mut at = 0;
        while at < indices.len() {
            if self.budget.spent() {
                stop = Some(at);
                break;
            }
            self.run(indices[at])?;
            at += 1;
        }
        // Keep the list's allocation (a self-wake may have refilled `again`:
        // those wait for the next round).
        let refilled = mem::replace(self.work.list(list), indices);
        if let Some(at) = stop {
            self.keep_rest(list, at, refilled);
            return Ok(true);
        }
        let kept = self.work.list(list);
        kept.clear();
        kept.extend(refilled);
        Ok(false)
    }

    /// [`run_list`](Self::run_list) stopped at `list[at]`: the slots from
    /// there on go to `fresh` (empty unless they are in it already), and the
    /// list keeps what was pushed on it meanwhile.
    #[cold]
    #[inline(never)]
    fn keep_rest(&mut self, list: List, at: usize, refilled: Vec<usize>) {
        match list {
            List::Fresh => {
                // Only `visit` pushes on `fresh`.
                debug_assert!(refilled.is_empty());
                self.work.fresh.drain(..at);
            }
            List::Again => {
                // `fresh` ran before `again`.
                debug_assert!(self.work.fresh.is_empty());
                let Work { fresh, again, .. } = &mut self.work;
                fresh.extend_from_slice(&again[at..]);
                again.clear();
                again.extend(refilled);
            }
        }
    }

    /// One round of work: the fresh slots, the ones that woke themselves
    /// last round, then the marked ones, word by word. `Some`: tokio's
    /// budget ran out (checked before each item poll), and the round goes on
    /// from there next turn.
    #[inline(always)]
    fn round(&mut self) -> Result<Option<Resume>, E> {
        if self.run_list(List::Fresh)? {
            return Ok(Some(Resume::START));
        }
        if self.run_list(List::Again)? {
            return Ok(Some(Resume::MARKS));
        }
        self.run_marks(0, None)
    }

    /// The rest of a round that stopped for tokio's budget at `from`.
    #[cfg(feature = "tokio")]
    #[inline(never)]
    fn resume_round(&mut self, from: Resume) -> Result<Option<Resume>, E> {
        if self.run_list(List::Fresh)? {
            return Ok(Some(from));
        }
        if from.again && self.run_list(List::Again)? {
            return Ok(Some(Resume::MARKS));
        }
        self.run_marks(from.word, from.held)
    }

    /// A round's marked slots, from word `word` on (whose marks are `held`
    /// if already taken).
    #[inline(always)]
    fn run_marks(&mut self, mut word: usize, mut held: Option<usize>) -> Result<Option<Resume>, E> {
        // The hub is read through `self.shared` at each use, not held (an
        // `Arc` clone here would cost two atomic operations a poll).
        let words = self.shared.hub.bits.len();
        // Slots are made only in `visit`: once a round, not once a mark
        // (a sum over the chunks, 1 000 of them in a map of 65 536).
        let made = self.work.slots.made();
        while word < words {
            let mut marks = match held.take() {
                Some(marks) => marks,
                None => self.shared.hub.take_word(word),
            };
            while marks != 0 {
                let bit = marks.trailing_zeros() as usize;
                marks &= marks - 1;
                // The slots that share this bit (one, below the cap).
                let mut index = word * WORD + bit;
                while index < made {
                    if self.budget.spent() {
                        self.keep_sharers(index, made, words * WORD);
                        return Ok(Some(Resume {
                            again: false,
                            word,
                            held: Some(marks),
                        }));
                    }
                    self.run(index)?;
                    index += words * WORD;
                }
            }
            word += 1;
        }
        Ok(None)
    }

    /// The marks' loop stopped at slot `index`: it and the slots after it
    /// that share its bit go to `fresh` (empty: it ran first).
    #[cold]
    #[inline(never)]
    fn keep_sharers(&mut self, index: usize, made: usize, step: usize) {
        debug_assert!(self.work.fresh.is_empty());
        self.work.fresh.extend((index..made).step_by(step));
    }

    /// The pool's one visit to the exchange per round: delivers the values
    /// finished, takes the inbox's futures into slots, and decides whether
    /// to exit (nothing left to run: the slots are parked) or, when nothing
    /// is fresh, to sleep on the inbox. `Some(())`: exited.
    fn visit(&mut self) -> Option<()> {
        let shared = &*self.shared;
        let reader = {
            let mut exchange = lock(&shared.exchange);
            if exchange.abandoned {
                exchange.running = false;
                self.exited = true;
                return Some(());
            }
            let reader = if self.work.done.is_empty() {
                None
            } else {
                exchange.outbox.extend(self.work.done.drain(..));
                exchange.reader.take()
            };
            for (seq, future) in exchange.inbox.drain(..) {
                let index = self
                    .work
                    .slots
                    .place(&shared.hub, shared.limit, seq, future);
                self.work.fresh.push(index);
                self.live += 1;
            }
            if self.live == 0 {
                exchange.running = false;
                exchange.parked = Some(mem::take(&mut self.work));
                self.exited = true;
            }
            exchange.asleep = self.work.fresh.is_empty() && self.work.again.is_empty();
            reader
        };
        if let Some(reader) = reader {
            reader.wake();
        }
        self.exited.then_some(())
    }

    /// tokio's budget ran out in a round that must go on at `stopped`: the
    /// pool yields as a tokio resource does (`engine/budget.rs`).
    #[cold]
    #[inline(never)]
    fn stop_for_budget(&mut self, stopped: Resume, cx: &mut Context<'_>) {
        #[cfg(feature = "tokio")]
        {
            self.resume = Some(stopped);
        }
        #[cfg(not(feature = "tokio"))]
        let _ = stopped;
        TokioBudget::defer_wake(cx);
    }

    /// Rounds of work (see [`round`](Self::round)), each followed by a
    /// visit to the exchange. With the `tokio` feature, a round stops where
    /// tokio's budget runs out, and the pool yields as a tokio resource does
    /// (`engine/budget.rs`); its next poll goes on with that round.
    fn turn(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.shared.hub.register(cx.waker());
        self.budget = TokioBudget::at_start();
        #[cfg(feature = "tokio")]
        let mut resume = self.resume.take();
        for _ in 0..ROUNDS {
            #[cfg(feature = "tokio")]
            let stopped = match resume.take() {
                Some(from) => self.resume_round(from)?,
                None => self.round()?,
            };
            #[cfg(not(feature = "tokio"))]
            let stopped = self.round()?;
            if let Some(stopped) = stopped {
                self.stop_for_budget(stopped, cx);
                return Poll::Pending;
            }
            if self.visit().is_some() {
                return Poll::Ready(Ok(()));
            }
            if self.work.fresh.is_empty() && self.work.again.is_empty() && !self.shared.hub.arm() {
                return Poll::Pending;
            }
        }
        // Still busy: let the scope's other children and body run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<F, U, E> Future for Pool<F, U, E>
where
    F: Future<Output = Result<U, E>>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A pool holds its futures behind boxes: it is `Unpin` itself.
        self.get_mut().turn(cx)
    }
}

impl<F, U, E> Drop for Pool<F, U, E> {
    fn drop(&mut self) {
        if self.exited {
            return;
        }
        // Dropped by the scope (a stop's grace ran out, the scope failed):
        // the items still held, and those handed over, are lost.
        let (inbox, reader) = {
            let mut exchange = lock(&self.shared.exchange);
            exchange.running = false;
            exchange.lost |= self.live > 0 || !exchange.inbox.is_empty();
            (mem::take(&mut exchange.inbox), exchange.reader.take())
        };
        drop(inbox);
        if let Some(reader) = reader {
            reader.wake();
        }
        // The slots' futures drop in place with `self.work`.
    }
}

impl<F, U, E> fmt::Debug for Pool<F, U, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}
