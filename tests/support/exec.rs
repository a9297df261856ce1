//! The minimal executor: std only, no dependencies. `block_on` parks the
//! calling thread until the future's waker unparks it. This is the smallest
//! thing that can poll a future, and corral must work under it as it does
//! under a real runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Wakes the blocked thread; `notified` avoids a lost wake between the poll
/// and the park (a wake that arrives first makes the park return at once).
struct ThreadWaker {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// Polls `fut` on this thread until it is ready.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let state = Arc::new(ThreadWaker {
        thread: thread::current(),
        notified: AtomicBool::new(false),
    });
    let waker = Waker::from(state.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // Sleep until a wake; `park` may also return spuriously, hence the flag.
        while !state.notified.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}
