//! argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1), on a fixed set of
//! hasher threads, one per core (more would not finish sooner).
//!
//! Each hash needs 19 MiB of working memory. Allocated per hash, the allocator keeps what
//! is freed in per-thread arenas and the process grows by hundreds of MiB in a login storm
//! (measured: 5 GB after 360 logins on the blocking pool, 230 MB on two threads). So each
//! hasher owns its working memory, allocated once and reused (its thread's state in
//! `crate::workers`): memory is the hashers' count times 19 MiB, whatever the rate of
//! logins. A caller waits a bounded time for a hasher, then gets 503 with `Retry-After`.

use std::time::Duration;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::{Error, Result};
use crate::workers::{Priority, Workers};

/// The password hashers. Clones share them; the threads end when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Passwords {
    workers: Workers<Memory>,
}

impl Passwords {
    /// One hasher per core; a caller waits at most `wait` for one.
    pub fn per_core(wait: Duration) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, wait)
    }

    /// Logins are interactive: hashers run at the process's normal priority.
    pub fn new(hashers: usize, wait: Duration) -> std::io::Result<Self> {
        Ok(Self { workers: Workers::new("password hashing", "password-hasher", hashers, wait, Priority::Normal)? })
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.workers
            .run(move |memory| memory.hash(password.as_bytes()).map_err(|e| anyhow::anyhow!("hashing password: {e}")))
            .await?
            .map_err(Error::Internal)
    }

    /// Verifies against `stored`, or against a fixed dummy hash when there is no user, so an
    /// unknown username takes as long to refuse as a wrong password.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        self.workers
            .run(move |memory| {
                let known = stored.is_some();
                let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
                let ok =
                    memory.verify(password.as_bytes(), &stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
                anyhow::Ok(known && ok)
            })
            .await?
            .map_err(Error::Internal)
    }
}

/// A hasher's working memory: sized for the default parameters on first use, then reused.
#[derive(Default)]
pub struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`.
    fn hash(&mut self, password: &[u8]) -> password_hash::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::default();
        let output = self.compute(
            Algorithm::Argon2id,
            Version::V0x13,
            &params,
            password,
            salt.as_salt(),
            Params::DEFAULT_OUTPUT_LEN,
        )?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `stored` (with the parameters it names).
    fn verify(&mut self, password: &[u8], stored: &str) -> password_hash::Result<bool> {
        let stored = PasswordHash::new(stored)?;
        let algorithm = Algorithm::try_from(stored.algorithm)?;
        let version = stored.version.map(Version::try_from).transpose()?.unwrap_or_default();
        let params = Params::try_from(&stored)?;
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else { return Ok(false) };
        let computed = self.compute(algorithm, version, &params, password, salt, expected.len())?;
        // `Output` compares in constant time.
        Ok(computed == expected)
    }

    fn compute(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: &Params,
        password: &[u8],
        salt: Salt<'_>,
        output_len: usize,
    ) -> password_hash::Result<Output> {
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
        let salt = salt.decode_b64(&mut salt_bytes)?;
        let needed = params.block_count();
        if self.blocks.is_empty() {
            self.blocks = vec![Block::default(); Params::default().block_count()];
        }
        // A stored hash made with more memory than the default gets it for this hash only.
        let mut larger;
        let blocks = if needed <= self.blocks.len() {
            &mut self.blocks[..needed]
        } else {
            larger = vec![Block::default(); needed];
            &mut larger[..]
        };
        Output::init_with(output_len, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut *blocks)?)
        })
    }
}

/// argon2id of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1LrvyVnOHKSx3Gi02gCq4ri8J4EmN0wUnSTanAj0LeY";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_standard_phc_strings() {
        use argon2::password_hash::PasswordVerifier;
        let mut memory = Memory::default();
        let ours = memory.hash(b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        // The crate's own verifier accepts ours, and ours accepts the crate's.
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"battery", &salt).unwrap();
        assert!(memory.verify(b"battery", &theirs.to_string()).unwrap());
        assert!(!memory.verify(b"staple", &theirs.to_string()).unwrap());
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let passwords = Passwords::new(1, Duration::from_secs(5)).unwrap();
        let h = passwords.hash("correct horse".into()).await.unwrap();
        assert!(passwords.verify("correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!passwords.verify("wrong horse".into(), Some(h)).await.unwrap());
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn busy_hashers_answer_unavailable_after_the_wait() {
        let passwords = Passwords::new(1, Duration::from_millis(10)).unwrap();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let busy = passwords.clone();
        let held = tokio::spawn(async move {
            busy.workers
                .run(move |_| {
                    let _ = started.send(());
                    let _ = hold.recv();
                })
                .await
        });
        running.await.unwrap();
        match passwords.verify("anything".into(), None).await {
            Err(Error::Unavailable { what: "password hashing", retry_after }) => {
                assert!(retry_after >= Duration::from_secs(1));
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert!(!passwords.verify("anything".into(), None).await.unwrap(), "served once a hasher is free");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_caller_and_the_hasher_lives_on() {
        let passwords = Passwords::new(1, Duration::from_secs(5)).unwrap();
        let failed = passwords.workers.run(|_| panic!("boom")).await;
        assert!(matches!(failed, Err(Error::Internal(_))), "{failed:?}");
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
    }
}
