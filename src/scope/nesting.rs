//! Nesting: which scope is being polled on this thread, and the registry of
//! the scopes nested in each scope. A stop request walks down this registry
//! (`stop.rs`), and the task tree draws it (`records.rs`, `tree.rs`).
//!
//! While a scope polls its body and children, the thread-local [`CURRENT`]
//! names it; a parallel child's runtime task names its scope the same way
//! around each poll ([`CurrentScope`]). A scope polled for the first time registers
//! with the scope named there (its parent, [`link`]), which keeps it in its
//! [`Nesting`] until the scope is dropped ([`Registration`]).
//!
//! Cost: a top-level scope reads one thread-local at its first poll and swaps
//! it around each poll; a nested scope also takes its parent's lock twice
//! (register, unregister). Nothing per child.

use std::cell::Cell;
use std::ptr;
use std::sync::Mutex;

use super::records::ChildId;
use super::records::ChildInfo;
use super::state::{Registry, ScopeRef, ScopeShared};
use crate::util::lock;
use crate::util::slab::Slab;

/// What is being polled on this thread: the innermost scope, and, when a
/// parallel child's runtime task polls it, that child's task-tree record
/// (null if untracked) and `true`. Otherwise the scope's own poll loop runs
/// here, and its task-tree record names the child being polled.
type Current = (*const ScopeShared, *const ChildInfo, bool);

std::thread_local! {
    static CURRENT: Cell<Current> = const { Cell::new((ptr::null(), ptr::null(), false)) };
}

/// The innermost scope being polled on this thread (null if none).
pub(crate) fn current_scope() -> *const ScopeShared {
    CURRENT.with(Cell::get).0
}

/// A nested scope's registration with its parent.
pub(crate) struct Registration {
    parent: ScopeRef,
    index: u32,
}

impl Registration {
    /// The scope this one is nested in.
    pub(crate) fn parent(&self) -> &ScopeShared {
        &self.parent
    }
}

/// What [`link`] returns for a scope nested in another.
pub(crate) struct Linked<R> {
    pub(crate) registration: Registration,
    /// What `link`'s `under_lock` returned.
    pub(crate) inherited: R,
    /// The parent's tracked child being polled, if any: the one the new
    /// scope lives in.
    pub(crate) in_child: Option<ChildId>,
}

/// Registers `shared`'s scope with the scope being polled on this thread, if
/// any (`None` if there is none). Called at the scope's first poll, before it
/// names itself current. `under_lock` runs with the parent and its registry
/// while the parent's lock is held: what a new scope inherits is read there.
pub(crate) fn link<R>(
    shared: *const ScopeShared,
    under_lock: impl FnOnce(&ScopeShared, &Registry) -> R,
) -> Option<Linked<R>> {
    let (current, child, remote) = CURRENT.with(Cell::get);
    if current.is_null() || ptr::eq(current, shared) {
        return None;
    }
    let child = if remote {
        // SAFETY: a parallel child named current is being polled: its record
        // is live.
        (!child.is_null()).then(|| unsafe { &*child }.id())
    } else {
        // SAFETY: `current`'s poll loop runs on this thread (it named itself
        // current), so it is live, and so is the record of the child it is
        // polling (the one this scope runs in).
        unsafe {
            (*current)
                .user()
                .tree
                .as_ref()
                .and_then(|tree| tree.polling())
        }
        .map(|c| c.id())
    };
    // SAFETY: the scope named current is inside its own poll (or a parallel
    // child's runtime task holds a count), so it is live.
    let parent = unsafe { ScopeRef::new(current) };
    // SAFETY: `shared` comes from its live owner. (A raw pointer, not a
    // reference: the count we take may be the one that frees the state.)
    let me = unsafe { ScopeRef::new(shared) };
    let (index, inherited) = {
        let mut registry = parent.user().nesting.lock();
        let index = (registry.subscopes.insert(me))
            .expect("corral: more than 4 billion scopes nested in one scope");
        (index, under_lock(&parent, &registry))
    };
    Some(Linked {
        registration: Registration { parent, index },
        inherited,
        in_child: child,
    })
}

impl Drop for Registration {
    fn drop(&mut self) {
        let me = {
            let mut registry = self.parent.user().nesting.lock();
            registry.subscopes.remove(self.index)
        };
        drop(me); // its count, released outside the lock
    }
}

/// Names a scope (and one of its tracked children) current on this thread
/// until the guard drops.
pub(crate) struct CurrentScope {
    previous: Current,
}

impl CurrentScope {
    /// `shared`'s scope is polling its body or children, on this thread.
    #[inline]
    pub(crate) fn enter(shared: *const ScopeShared) -> CurrentScope {
        CurrentScope {
            previous: CURRENT.with(|current| current.replace((shared, ptr::null(), false))),
        }
    }

    /// A runtime task polls a parallel child of `shared`'s scope (with its
    /// task-tree record, or null).
    #[inline]
    pub(crate) fn enter_remote(
        shared: *const ScopeShared,
        child: *const ChildInfo,
    ) -> CurrentScope {
        CurrentScope {
            previous: CURRENT.with(|current| current.replace((shared, child, true))),
        }
    }
}

impl Drop for CurrentScope {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// Top-level tracked scopes (and tracked scopes whose parent is not tracked).
static ROOTS: Mutex<Slab<ScopeRef>> = Mutex::new(Slab::new());

/// A scope's place in [`ROOTS`], given up when dropped.
pub(crate) struct Root(u32);

/// Lists `shared`'s scope among the roots of the tree.
pub(crate) fn add_root(shared: *const ScopeShared) -> Root {
    // SAFETY: called by the scope's owner, which holds a count.
    let scope = unsafe { ScopeRef::new(shared) };
    let index = lock(&ROOTS).insert(scope);
    Root(index.expect("corral: more than 4 billion scopes on the task tree"))
}

/// The scopes listed among the roots now.
pub(crate) fn roots() -> Vec<ScopeRef> {
    lock(&ROOTS).values().cloned().collect()
}

impl Drop for Root {
    fn drop(&mut self) {
        let scope = lock(&ROOTS).remove(self.0);
        drop(scope); // released outside the lock
    }
}
