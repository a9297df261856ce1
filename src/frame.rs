//! The per-poll frame stack: what the code being polled right now may ask of
//! the futures around it.
//!
//! A future that has something to say to the code inside it pushes a frame
//! on a per-thread stack for the duration of its inner poll and pops it
//! after: a `Timeout` its timer (for `current_deadline()`), a
//! [`with_value`](crate::context::with_value) its context, a child its
//! spawn site's context, a parallel child what it carried from its spawn.
//! Nothing is computed until someone asks; a push is a thread-local swap.
//!
//! Each frame names the innermost context in force at it (copied from the
//! frame below when it brings none of its own), so reading the context is
//! one thread-local load, whatever the depth. Deadlines are walked: each
//! frame may bring one.
//!
//! A context is a persistent list ([`ContextRef`]): each value links to the
//! context it was set in, so a child keeps the whole chain it was spawned
//! in with one counted pointer, and shadowing a value adds a link without
//! touching the parent's.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::fmt;
use std::ptr;
use std::sync::Arc;

/// The deadline a frame brings.
#[derive(Clone, Copy)]
pub(crate) enum Deadline {
    /// None: the frame brings a context only.
    None,
    /// A `Timeout` whose inner future is being polled: a pointer to its
    /// timer slot (`time::slot::TimerSlot`), erased here so that this module
    /// depends on none; `time/deadline.rs` reads it.
    Timer(*const ()),
    /// A deadline (ns since the timer epoch) carried into a parallel child.
    Fixed(u64),
}

/// One value of a context, and the context it was set in.
struct Node {
    parent: Option<ContextRef>,
    key: TypeId,
    value: Box<dyn Any + Send + Sync>,
}

/// A context: the innermost value set and, through it, every enclosing one.
/// One counted pointer, so a child keeps its spawn site's context for the
/// price of an increment.
#[derive(Clone)]
pub(crate) struct ContextRef(Arc<Node>);

impl ContextRef {
    /// `value` set in `parent`.
    pub(crate) fn new<T: Send + Sync + 'static>(parent: Option<ContextRef>, value: T) -> Self {
        ContextRef(Arc::new(Node {
            parent,
            key: TypeId::of::<T>(),
            value: Box::new(value),
        }))
    }

    /// The innermost value of type `T` in this context.
    #[inline]
    pub(crate) fn find<T: 'static>(&self) -> Option<&T> {
        let key = TypeId::of::<T>();
        let mut node = &*self.0;
        loop {
            if node.key == key {
                let value: *const (dyn Any + Send + Sync) = &*node.value;
                // SAFETY: `key` is the `TypeId` of the value's type (set
                // with it in `new`), so the value is a `T`. (`downcast_ref`
                // would ask the vtable for the type id a second time: a
                // third of a read at depth 1, benches/context.rs.)
                return Some(unsafe { &*value.cast::<T>() });
            }
            node = &node.parent.as_ref()?.0;
        }
    }

    /// How many values the context holds, shadowed ones included.
    fn depth(&self) -> usize {
        let mut depth = 1;
        let mut node = &*self.0;
        while let Some(parent) = &node.parent {
            depth += 1;
            node = &parent.0;
        }
        depth
    }
}

impl fmt::Debug for ContextRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("values", &self.depth())
            .finish()
    }
}

/// One frame: lives on the stack of the `push` that made it.
pub(crate) struct Frame {
    deadline: Deadline,
    /// The innermost context here (this frame's, or the one below it), or
    /// null. Points at a `ContextRef` held by whoever pushed this frame or
    /// one below it, alive until that push returns.
    context: *const ContextRef,
    prev: *const Frame,
}

thread_local! {
    /// The innermost frame of this thread, or null.
    static TOP: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// Restores the enclosing frame, on return and on unwind alike.
struct Pop(*const Frame);

impl Drop for Pop {
    #[inline]
    fn drop(&mut self) {
        TOP.set(self.0);
    }
}

/// Runs `poll` inside a frame bringing `deadline` and, if given, `context`
/// (otherwise the context of the frame below stays in force).
#[inline]
pub(crate) fn push<R>(
    deadline: Deadline,
    context: Option<&ContextRef>,
    poll: impl FnOnce() -> R,
) -> R {
    let prev = TOP.get();
    let context = match context {
        Some(context) => context as *const ContextRef,
        // SAFETY: a non-null `TOP` is a live frame (see `Frame::context`).
        None if !prev.is_null() => unsafe { (*prev).context },
        None => ptr::null(),
    };
    let frame = Frame {
        deadline,
        context,
        prev,
    };
    let _pop = Pop(prev);
    TOP.set(&frame);
    poll()
}

/// Calls `f` with the context in force here, if any.
#[inline]
pub(crate) fn with_context<R>(f: impl FnOnce(Option<&ContextRef>) -> R) -> R {
    let top = TOP.get();
    if top.is_null() {
        return f(None);
    }
    // SAFETY: frames live on the stacks of the `push` calls still running on
    // this thread, innermost first; `Pop` unlinks each before its call
    // returns or unwinds, so `top` is live, and so is the `ContextRef` it
    // names (held by the pusher of this frame or of one below it) while `f`
    // runs inside all of them.
    let context = unsafe { (*top).context };
    if context.is_null() {
        f(None)
    } else {
        // SAFETY: as above.
        f(Some(unsafe { &*context }))
    }
}

/// The context in force here, counted, for a child spawned here to keep.
#[inline]
pub(crate) fn capture() -> Option<ContextRef> {
    with_context(|context| context.cloned())
}

/// Calls `f` with each frame's deadline, innermost first.
#[inline]
pub(crate) fn each_deadline(mut f: impl FnMut(Deadline)) {
    let mut top = TOP.get();
    while !top.is_null() {
        // SAFETY: as in `with_context`.
        let frame = unsafe { &*top };
        f(frame.deadline);
        top = frame.prev;
    }
}

#[cfg(all(test, not(corral_loom)))]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct A(u32);
    #[derive(Clone, Debug, PartialEq)]
    struct B(&'static str);

    fn get<T: Clone + 'static>() -> Option<T> {
        with_context(|c| c.and_then(|c| c.find::<T>().cloned()))
    }

    #[test]
    fn frames_nest_shadow_and_unwind() {
        assert_eq!(get::<A>(), None);
        let outer = ContextRef::new(None, A(1));
        push(Deadline::None, Some(&outer), || {
            assert_eq!(get::<A>(), Some(A(1)));
            // A deadline frame keeps the context below it.
            push(Deadline::Fixed(5), None, || {
                assert_eq!(get::<A>(), Some(A(1)));
                let inner = ContextRef::new(capture(), B("b"));
                let shadow = ContextRef::new(Some(inner.clone()), A(2));
                push(Deadline::None, Some(&shadow), || {
                    assert_eq!(get::<A>(), Some(A(2)));
                    assert_eq!(get::<B>(), Some(B("b")));
                    assert_eq!(format!("{:?}", capture().unwrap()), "Context { values: 3 }");
                });
                assert_eq!(get::<B>(), None);
            });
            let unwound = std::panic::catch_unwind(|| {
                let other = ContextRef::new(None, A(3));
                push(Deadline::None, Some(&other), || panic!("unwinds"))
            });
            assert!(unwound.is_err());
            assert_eq!(get::<A>(), Some(A(1)), "restored on unwind");
        });
        assert_eq!(get::<A>(), None);
    }
}
