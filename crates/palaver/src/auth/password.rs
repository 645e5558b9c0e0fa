//! argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1). Hashing is CPU-bound
//! for tens of milliseconds, so it runs on the blocking pool, never on a runtime worker.
//!
//! Each hash holds 19 MiB while it runs, so how many run at once is bounded (one per core:
//! more would not finish sooner). A caller waits a bounded time for its turn, then gets
//! 503: memory stays flat whatever the rate of logins.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Passwords {
    /// One hasher per core; a caller waits at most `wait` for one.
    pub fn per_core(wait: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, wait)
    }

    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), wait }
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let permit = self.turn().await?;
        let hashed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
        })
        .await
        .context("password hashing task")??;
        Ok(hashed)
    }

    /// Verifies against `stored`, or against a fixed dummy hash when there is no user, so an
    /// unknown username takes as long to refuse as a wrong password.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let permit = self.turn().await?;
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let known = stored.is_some();
            let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
            let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
            anyhow::Ok(known && ok)
        })
        .await
        .context("password verification task")??;
        Ok(ok)
    }

    /// A free hasher, held until the hash is done (the permit moves into the blocking task,
    /// so a client that hangs up does not free it early).
    async fn turn(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(Error::Internal(closed.into())),
            Err(_elapsed) => {
                Err(Error::Unavailable { what: "password hashing", retry_after: self.wait.max(Duration::from_secs(1)) })
            }
        }
    }
}

/// argon2id of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1LrvyVnOHKSx3Gi02gCq4ri8J4EmN0wUnSTanAj0LeY";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let passwords = Passwords::new(1, Duration::from_secs(5));
        let h = passwords.hash("correct horse".into()).await.unwrap();
        assert!(passwords.verify("correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!passwords.verify("wrong horse".into(), Some(h)).await.unwrap());
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn busy_hashers_answer_unavailable_after_the_wait() {
        let passwords = Passwords::new(1, Duration::from_millis(10));
        let held = passwords.turn().await.unwrap();
        match passwords.verify("anything".into(), None).await {
            Err(Error::Unavailable { what: "password hashing", retry_after }) => {
                assert!(retry_after >= Duration::from_secs(1));
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        drop(held);
        assert!(!passwords.verify("anything".into(), None).await.unwrap(), "served once a hasher is free");
    }
}
