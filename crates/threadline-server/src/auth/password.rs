//! Password hashing, a few at a time.
//!
//! Argon2id is slow and memory-hard by design: each hash fills 19 MiB and
//! takes tens of milliseconds of one core (OWASP's recommended parameters).
//! Run without a bound, a flood of sign-ins runs hundreds of them at once and
//! takes the server's memory with it — and glibc keeps what each thread's
//! arena grew to long after the flood. So hashes run here, at most
//! `concurrency` at once on the blocking pool; the rest wait in line for at
//! most `queue_timeout` and are then refused with 503 (`Retry-After`).
//!
//! Verifying a password (sign-in, the hot path under attack) reuses the
//! same few work areas instead of allocating 19 MiB each time, so memory
//! stays at `concurrency` × the work area whatever the load.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// A hash to verify against when the login is unknown: the same parameters
/// as every real hash, so the work (and the time) is the same. A constant,
/// so making it costs no 19 MiB allocation outside the reused work areas.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$6t7I6cSTWNx6JfWHFfzmGw$0CaYZnWll1qWrWsi7BRCaANDqEEsCQJMoaxH9zKTAFY";

/// Work areas larger than this (a stored hash with absurd parameters) are
/// refused rather than allocated: 64 MiB.
const MAX_BLOCKS: usize = 64 * 1024;

pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    /// Argon2 work areas of finished verifications, at most one per permit.
    /// A `std` mutex: it is held only to push or pop, never across an await.
    work_areas: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl PasswordHasher {
    /// `concurrency` hashes at once (at least one); a caller waits at most
    /// `queue_timeout` for its turn.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        let concurrency = concurrency.max(1);
        Self { permits: Arc::new(Semaphore::new(concurrency)), queue_timeout, work_areas: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Whether `password` matches the stored PHC `hash`. A hash that does
    /// not parse matches nothing. Without a hash (an unknown login) the same
    /// work is done against a dummy hash and the answer is `false`, so the
    /// time taken does not tell who has an account.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let (password, hash) = (password.to_owned(), hash.map(str::to_owned));
        let areas = self.work_areas.clone();
        self.run(move || {
            let mut area = areas.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let ok = match &hash {
                Some(hash) => verify_with(&password, hash, &mut area),
                None => {
                    verify_with(&password, DUMMY_HASH, &mut area);
                    false
                }
            };
            areas.lock().unwrap_or_else(|e| e.into_inner()).push(area);
            ok
        })
        .await
    }

    /// A new Argon2id PHC hash of `password` (in a reused work area too).
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_owned();
        let areas = self.work_areas.clone();
        self.run(move || {
            let mut area = areas.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let hash = hash_with(&password, &mut area);
            areas.lock().unwrap_or_else(|e| e.into_inner()).push(area);
            hash
        })
        .await?
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let permit = match tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            // Closed never happens (the semaphore lives as long as self).
            Ok(Err(_)) | Err(_) => return Err(ApiError::Busy(self.queue_timeout.as_secs().max(1))),
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
    }
}

/// Hashes a password with Argon2id and the crate's defaults (OWASP's
/// recommended parameters). Slow by design: call it off the async threads
/// — through [`PasswordHasher`] in the server.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing password: {e}")))
}

/// Hashes with the default parameters into `area` (grown as needed); the
/// PHC string is the one `Argon2::hash_password` would write.
fn hash_with(password: &str, area: &mut Vec<Block>) -> Result<String, ApiError> {
    use base64::Engine;
    let fail = |e: &dyn std::fmt::Display| ApiError::Internal(anyhow::anyhow!("hashing password: {e}"));
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let params = Params::default();
    let blocks = params.block_count();
    if area.len() < blocks {
        area.resize(blocks, Block::default());
    }
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::default()
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, &mut area[..blocks])
        .map_err(|e| fail(&e))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
    ))
}

/// Verifies `password` against a PHC string, computing into `area` (grown
/// to the hash's memory cost and kept for the next call).
fn verify_with(password: &str, hash: &str, area: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Ok(params), Some(salt), Some(expected)) = (Params::try_from(&parsed), parsed.salt, parsed.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    if area.len() < blocks {
        area.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut area[..blocks]).is_err() {
        return false;
    }
    crate::auth::constant_time_eq(&out, expected.as_bytes())
}

/// Whether `password` matches the PHC `hash` (allocating its own work
/// area; the server verifies through [`PasswordHasher`]).
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_with(password, hash, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("x", "not a hash"));
        // Hashes made by the crate's own verifier's rules agree with ours.
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = PasswordHash::new(&hash_password("x").unwrap()).unwrap().params.to_string();
        assert_eq!(PasswordHash::new(DUMMY_HASH).unwrap().params.to_string(), real);
        assert!(verify_password("no such user, no such password", DUMMY_HASH));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_waits_in_line_then_is_refused() {
        let hasher = Arc::new(PasswordHasher::new(1, Duration::from_millis(50)));
        let hash = hash_password("correct horse battery").unwrap();
        // Hold the only permit, as a long hash would.
        let held = hasher.permits.clone().acquire_owned().await.unwrap();
        let refused = hasher.verify("correct horse battery", Some(&hash)).await;
        assert!(matches!(refused, Err(ApiError::Busy(_))), "{refused:?}");
        drop(held);
        assert!(hasher.verify("correct horse battery", Some(&hash)).await.unwrap());
        // Hashing in the work area writes what the crate itself would verify.
        let pooled = hasher.hash("pooled password").await.unwrap();
        let parsed = PasswordHash::new(&pooled).unwrap();
        use argon2::password_hash::PasswordVerifier;
        assert!(Argon2::default().verify_password(b"pooled password", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"other password", &parsed).is_err());
        assert!(!hasher.verify("wrong", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("no such user, no such password", None).await.unwrap(), "no user, no match");
        assert_eq!(hasher.work_areas.lock().unwrap().len(), 1, "the work area is kept for the next sign-in");
    }
}
