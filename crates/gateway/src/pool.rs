//! The gateway's own threads: every CPU-heavy step of a request (loading weights, retrieval,
//! tokenizing, generation, span attribution, the receipt) runs here, never on the async threads
//! that consensus and the API share, and never on tokio's blocking pool (which grows to hundreds
//! of threads and would let eight large prompts take every core).
//!
//! ```text
//! handler ──try_submit──► [ queue: at most `queue_max` jobs ] ──► `workers` threads
//!            full → 429                                          each runs one job at a time
//! ```
//!
//! Admission is the queue's bound: a job that finds it full is refused at once (429 `Busy`),
//! so waiting work is bounded in count, and running work in threads.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc::{self, SyncSender, TrySendError},
    },
    thread::JoinHandle,
};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads behind a bounded queue.
pub struct WorkerPool {
    queue: SyncSender<Job>,
    queue_max: usize,
    waiting: Arc<AtomicU64>,
    _workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self._workers.len())
            .field("queue_max", &self.queue_max)
            .finish_non_exhaustive()
    }
}

/// The queue was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl WorkerPool {
    /// Starts `workers` threads named `name-N` serving a queue of at most `queue_max` jobs.
    pub fn new(name: &str, workers: usize, queue_max: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(queue_max);
        let jobs = Arc::new(Mutex::new(jobs));
        let waiting = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers.max(1) {
            let jobs = jobs.clone();
            let waiting = waiting.clone();
            let handle =
                std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                    loop {
                        // One worker waits on the queue at a time; the lock is released before
                        // the job runs.
                        let job = {
                            let rx = jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            rx.recv()
                        };
                        let Ok(job) = job else { return };
                        waiting.fetch_sub(1, Ordering::Relaxed);
                        // A panicking job must not take the worker with it.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })?;
            handles.push(handle);
        }
        Ok(Self { queue, queue_max, waiting, _workers: handles })
    }

    /// Queues `job`, or refuses it at once if the queue is full.
    pub fn try_submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), Full> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                Err(Full)
            }
        }
    }

    /// Jobs waiting for a worker.
    #[must_use]
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The queue's bound.
    #[must_use]
    pub const fn queue_max(&self) -> usize {
        self.queue_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn a_full_queue_refuses_at_once_and_panics_do_not_kill_workers() {
        let pool = WorkerPool::new("test", 1, 2).unwrap();
        let (gate_tx, gate_rx) = channel::<()>();
        let (done_tx, done_rx) = channel::<u32>();
        // The worker blocks on the first job; two more fill the queue; the fourth is refused.
        let gate = Mutex::new(gate_rx);
        pool.try_submit(move || {
            let _ = gate.lock().unwrap().recv();
        })
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        for i in 0..2 {
            let done = done_tx.clone();
            pool.try_submit(move || done.send(i).unwrap()).unwrap();
        }
        assert_eq!(pool.try_submit(|| {}), Err(Full));
        assert_eq!(pool.waiting(), 2);
        gate_tx.send(()).unwrap();
        assert_eq!(done_rx.recv().unwrap(), 0);
        assert_eq!(done_rx.recv().unwrap(), 1);
        pool.try_submit(|| panic!("a bad job")).unwrap();
        pool.try_submit(move || done_tx.send(7).unwrap()).unwrap();
        assert_eq!(done_rx.recv().unwrap(), 7, "the worker survived the panic");
    }
}
