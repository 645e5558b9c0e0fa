//! TEMPORARY stand-in until the worker pool lands (wip/img): same API.
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

pub struct Workers<S> {
    permits: Arc<Semaphore>,
    wait: Duration,
    what: &'static str,
    _state: PhantomData<fn() -> S>,
}

impl<S: Default + 'static> Workers<S> {
    pub fn new(what: &'static str, threads: usize, wait: Duration, _nice: i32) -> std::io::Result<Self> {
        Ok(Self { permits: Arc::new(Semaphore::new(threads.max(1))), wait, what, _state: PhantomData })
    }

    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut S) -> T + Send + 'static) -> Result<T> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Error::Unavailable { what: self.what, retry_after: Duration::from_secs(1) })?
            .map_err(|e| Error::Internal(e.into()))?;
        let done = tokio::task::spawn_blocking(move || {
            let mut state = S::default();
            let value = work(&mut state);
            drop(permit);
            value
        })
        .await
        .map_err(|e| Error::Internal(e.into()))?;
        Ok(done)
    }
}
