//! The minimal spawning executor: std only. `Pool::new(n)` runs tasks on n
//! threads fed by a channel; a task's waker sends it back. `shutdown` stops
//! the threads and drops every task still alive, as a runtime does when it
//! shuts down.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Wake, Waker};
use std::thread::JoinHandle;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One spawned future; `None` once it finished or was dropped by `shutdown`.
struct Job {
    future: Mutex<Option<BoxFuture>>,
    queue: Sender<Option<Arc<Job>>>,
}

impl Wake for Job {
    fn wake(self: Arc<Self>) {
        let _ = self.queue.send(Some(self.clone()));
    }
}

/// A fixed set of threads running spawned futures.
pub struct Pool {
    queue: Mutex<Sender<Option<Arc<Job>>>>,
    jobs: Mutex<Vec<Weak<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    pub fn new(threads: usize) -> Arc<Pool> {
        let (queue, jobs) = channel::<Option<Arc<Job>>>();
        let jobs = Arc::new(Mutex::new(jobs));
        let handles = (0..threads)
            .map(|_| {
                let jobs = jobs.clone();
                std::thread::spawn(move || worker(&jobs))
            })
            .collect();
        Arc::new(Pool {
            queue: Mutex::new(queue),
            jobs: Mutex::new(Vec::new()),
            threads: Mutex::new(handles),
        })
    }

    pub fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        let queue = self.queue.lock().unwrap().clone();
        let job = Arc::new(Job {
            future: Mutex::new(Some(Box::pin(future))),
            queue: queue.clone(),
        });
        let mut jobs = self.jobs.lock().unwrap();
        jobs.retain(|j| j.strong_count() > 0);
        jobs.push(Arc::downgrade(&job));
        drop(jobs);
        let _ = queue.send(Some(job));
    }

    /// Stops the threads, then drops every future still alive.
    pub fn shutdown(&self) {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap());
        {
            let queue = self.queue.lock().unwrap();
            for _ in 0..threads.len() {
                let _ = queue.send(None);
            }
        }
        for t in threads {
            let _ = t.join();
        }
        let jobs = std::mem::take(&mut *self.jobs.lock().unwrap());
        for job in jobs.iter().filter_map(Weak::upgrade) {
            let future = job.future.lock().unwrap().take();
            drop(future);
        }
    }
}

fn worker(jobs: &Mutex<Receiver<Option<Arc<Job>>>>) {
    loop {
        let next = jobs.lock().unwrap().recv();
        let Ok(Some(job)) = next else { return };
        let waker = Waker::from(job.clone());
        let mut slot = job.future.lock().unwrap();
        if let Some(future) = slot.as_mut() {
            if future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                *slot = None;
            }
        }
    }
}

impl corral::Spawn for Pool {
    fn spawn_task(&self, task: corral::Task) {
        self.spawn(task);
    }
}
