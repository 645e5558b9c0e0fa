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
//! use palaver::workers::Priority;
//!
//! // Two background threads, each keeping a scratch buffer between jobs.
//! let pool: Workers<Vec<u8>> =
//!     Workers::new("checksums", "checksum", 2, Duration::from_millis(200), Priority::Background).unwrap();
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

/// How the workers' threads are scheduled against the rest of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Like every other thread (password hashing: a login waits for it).
    Normal,
    /// Only when nothing else wants the CPU (image decoding: chat delivery goes first).
    /// On Linux this is `SCHED_IDLE`, which yields a core at once to any thread that
    /// wakes; a raised nice value alone measured twice the delivery p99 during uploads,
    /// since a woken runtime thread still waited for the decoder's time slice to end.
    /// Elsewhere it is ignored.
    Background,
}

impl<S: Default + 'static> Workers<S> {
    /// `threads` threads named `{thread_name}-{i}`, scheduled at `priority`; a caller waits
    /// at most `wait` for one and is then told `what` is unavailable.
    pub fn new(
        what: &'static str,
        thread_name: &str,
        threads: usize,
        wait: Duration,
        priority: Priority,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job<S>>(threads);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("{thread_name}-{i}")).spawn(move || {
                if priority == Priority::Background {
                    run_in_background();
                }
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

/// Moves the calling thread (alone: Linux schedules threads, not processes) to `SCHED_IDLE`,
/// or, should that be refused, to the lowest nice value.
fn run_in_background() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the call; pid 0 is the calling thread.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
            return;
        }
        let refused = std::io::Error::last_os_error();
        let tid = Some(rustix::thread::gettid());
        if let Err(e) = rustix::process::setpriority_process(tid, 19) {
            tracing::warn!(error = %e, sched_idle = %refused, "could not lower a worker thread's priority");
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
        let workers = Workers::<u32>::new("counting", "counter", 1, Duration::from_secs(5), Priority::Normal).unwrap();
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
        let workers =
            Workers::<u32>::new("counting", "counter", 1, Duration::from_millis(20), Priority::Normal).unwrap();
        let release = occupy(&workers).await;
        let started = std::time::Instant::now();
        match workers.run(|_| ()).await {
            Err(Error::Unavailable { what: "counting", retry_after }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(20), "waited for the worker first");
        release.send(()).unwrap();
        // The worker is free once its job has returned, which a loaded machine can take
        // longer than the 20 ms wait to get to: ask until it is (bounded).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match workers.run(|_| ()).await {
                Ok(()) => break,
                Err(Error::Unavailable { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => panic!("served once the worker is free: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_caller_and_the_worker_lives_on_with_fresh_state() {
        let workers = Workers::<u32>::new("counting", "counter", 1, Duration::from_secs(5), Priority::Normal).unwrap();
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
    async fn background_workers_yield_to_everything_and_the_caller_is_untouched() {
        let policy = || unsafe { libc::sched_getscheduler(0) };
        let before = (policy(), current_nice());
        let background =
            Workers::<()>::new("background", "background", 1, Duration::from_secs(5), Priority::Background).unwrap();
        let plain =
            Workers::<()>::new("foreground", "foreground", 1, Duration::from_secs(5), Priority::Normal).unwrap();
        assert_eq!(background.run(move |_| policy()).await.unwrap(), libc::SCHED_IDLE);
        assert_eq!(plain.run(move |_| (policy(), current_nice())).await.unwrap(), before);
        assert_eq!((policy(), current_nice()), before, "the calling thread is untouched");
    }
}
