//! A fixed set of dedicated threads for CPU-bound work (password hashing, image decoding),
//! kept off the async runtime so a burst of it cannot stall message delivery.
//!
//! Each thread owns a state `S`, made once and reused by every job it runs: working memory
//! allocated per job is freed into the allocator's per-thread arenas and the process grows
//! with the rate of work, while state owned by a thread bounds memory to the threads' count
//! times what one job needs. A caller waits a bounded time for a free thread, then gets
//! `Error::Unavailable` (503 with `Retry-After`) rather than queueing without end.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use palaver::workers::Workers;
//!
//! // Two threads at nice 10, each keeping a scratch buffer between jobs.
//! let pool: Workers<Vec<u8>> = Workers::new("checksums", "checksum", 2, Duration::from_millis(200), 10).unwrap();
//! let sum = pool
//!     .run(|scratch| {
//!         scratch.clear();
//!         scratch.extend_from_slice(b"hello");
//!         scratch.iter().map(|&b| u32::from(b)).sum::<u32>()
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(sum, 532);
//! # }
//! ```

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// The worker threads. Clones share them; the threads end when the last clone is dropped.
pub struct Workers<S> {
    /// One per thread: a job is sent only with a permit, so the queue never holds more jobs
    /// than there are threads.
    permits: Arc<Semaphore>,
    jobs: SyncSender<Job<S>>,
    wait: Duration,
    what: &'static str,
}

impl<S> Clone for Workers<S> {
    fn clone(&self) -> Self {
        Self { permits: self.permits.clone(), jobs: self.jobs.clone(), wait: self.wait, what: self.what }
    }
}

impl<S> fmt::Debug for Workers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workers")
            .field("what", &self.what)
            .field("free", &self.permits.available_permits())
            .field("wait", &self.wait)
            .finish()
    }
}

impl<S: Default + 'static> Workers<S> {
    /// `threads` threads named `{thread_name}-{i}`; a caller waits at most `wait` for one and
    /// is then told `what` is unavailable. `nice` (0 to 19) lowers the threads' scheduling
    /// priority below the rest of the process, so their work yields the CPU to everything
    /// else (applied on Linux only, where priority is per thread; elsewhere it is ignored).
    pub fn new(
        what: &'static str,
        thread_name: &str,
        threads: usize,
        wait: Duration,
        nice: u8,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job<S>>(threads);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("{thread_name}-{i}")).spawn(move || {
                lower_priority(nice);
                worker(&queue)
            })?;
        }
        Ok(Self { permits: Arc::new(Semaphore::new(threads)), jobs, wait, what })
    }

    /// Runs `work` on a worker once one is free, or `Error::Unavailable` after the wait. A
    /// panic in `work` fails this call with `Error::Internal`; the thread lives on.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut S) -> T + Send + 'static) -> Result<T> {
        let permit = self.turn().await?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            let value = work(state);
            // Given back before the result is, so the next caller finds the worker free. A
            // client that hung up does not free it early: the work runs to its end.
            drop(permit);
            let _ = done.send(value);
        });
        let what = self.what;
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(anyhow::anyhow!("{what}: worker queue full").into()),
            Err(TrySendError::Disconnected(_)) => return Err(anyhow::anyhow!("{what}: workers stopped").into()),
        }
        result.await.map_err(|_| anyhow::anyhow!("{what}: a worker failed").into())
    }

    async fn turn(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(Error::Internal(closed.into())),
            Err(_elapsed) => {
                Err(Error::Unavailable { what: self.what, retry_after: self.wait.max(Duration::from_secs(1)) })
            }
        }
    }
}

/// A worker thread: runs jobs until every `Workers` clone is gone. A panicking job fails its
/// caller (its result is never sent), not the thread; the state it may have left half
/// updated is replaced.
fn worker<S: Default>(queue: &Mutex<Receiver<Job<S>>>) {
    let mut state = S::default();
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => {
                if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut state))).is_err() {
                    state = S::default();
                }
            }
            Err(_) => return,
        }
    }
}

/// Raises the calling thread's nice value by `nice` (capped at 19). Linux keeps a nice value
/// per thread and `setpriority` on a thread id changes that thread alone; other systems would
/// change the whole process, so there it does nothing.
fn lower_priority(nice: u8) {
    if nice == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        let applied =
            getpriority_process(tid).and_then(|current| setpriority_process(tid, (current + i32::from(nice)).min(19)));
        if let Err(e) = applied {
            tracing::warn!(error = %e, nice, "could not lower a worker thread's priority");
        }
    }
}

/// The calling thread's nice value, for tests.
#[cfg(all(test, target_os = "linux"))]
fn current_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that blocks its worker until the returned sender is dropped or sent to.
    async fn occupy(workers: &Workers<u32>) -> std::sync::mpsc::Sender<()> {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let workers = workers.clone();
        tokio::spawn(async move {
            workers
                .run(move |_| {
                    let _ = started.send(());
                    let _ = hold.recv();
                })
                .await
        });
        running.await.unwrap();
        release
    }

    #[tokio::test]
    async fn each_thread_keeps_its_state_between_jobs() {
        let workers = Workers::<u32>::new("counting", "counter", 1, Duration::from_secs(5), 0).unwrap();
        for expected in 1..=3 {
            let seen = workers
                .run(|count| {
                    *count += 1;
                    *count
                })
                .await
                .unwrap();
            assert_eq!(seen, expected);
        }
    }

    #[tokio::test]
    async fn busy_workers_answer_unavailable_after_the_wait() {
        let workers = Workers::<u32>::new("counting", "counter", 1, Duration::from_millis(20), 0).unwrap();
        let release = occupy(&workers).await;
        let started = std::time::Instant::now();
        match workers.run(|_| ()).await {
            Err(Error::Unavailable { what: "counting", retry_after }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(20), "waited for the worker first");
        release.send(()).unwrap();
        workers.run(|_| ()).await.expect("served once the worker is free");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_caller_and_the_worker_lives_on_with_fresh_state() {
        let workers = Workers::<u32>::new("counting", "counter", 1, Duration::from_secs(5), 0).unwrap();
        workers.run(|count| *count = 41).await.unwrap();
        let failed = workers
            .run(|count| {
                *count = 1000;
                panic!("boom")
            })
            .await;
        assert!(matches!(failed, Err(Error::Internal(_))), "{failed:?}");
        assert_eq!(workers.run(|count| *count).await.unwrap(), 0, "state reset after the panic");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn nice_lowers_the_workers_priority_and_not_the_callers() {
        let before = current_nice();
        let niced = Workers::<()>::new("background", "background", 1, Duration::from_secs(5), 7).unwrap();
        let plain = Workers::<()>::new("foreground", "foreground", 1, Duration::from_secs(5), 0).unwrap();
        assert_eq!(niced.run(|_| current_nice()).await.unwrap(), (before + 7).min(19));
        assert_eq!(plain.run(|_| current_nice()).await.unwrap(), before);
        assert_eq!(current_nice(), before, "the calling thread is untouched");
    }
}
