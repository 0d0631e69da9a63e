//! A per-client request budget for public endpoints (the web chat, password
//! sign-in), so one client cannot flood the account with contacts and
//! messages or guess passwords at speed; and who the client is.
//!
//! A fixed one-minute window per key: simple, and bounded in memory (keys
//! are dropped when their window has passed). With several nodes, each
//! tells the others of the requests it counted (`nodes.rs`), so a client's
//! budget holds for the whole installation (within the bus's delay).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The client's address: the connection's, or with `trust_forwarded_for`
/// the last `X-Forwarded-For` entry (the one the proxy added).
pub fn client_ip(
    settings: &crate::config::Settings,
    headers: &axum::http::HeaderMap,
    peer: Option<&axum::extract::ConnectInfo<std::net::SocketAddr>>,
) -> Option<std::net::IpAddr> {
    if settings.trust_forwarded_for
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok())
    {
        return Some(ip);
    }
    peer.map(|p| p.0.ip())
}

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many keys, passed windows are swept before inserting.
const SWEEP_AT: usize = 10_000;

pub struct RateLimiter<K> {
    per_minute: u32,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Eq + Hash> RateLimiter<K> {
    /// `per_minute` = 0 disables the limit.
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts a request; `Err(seconds)` until the window resets when over budget.
    pub fn check(&self, key: K) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count > self.per_minute { Err(WINDOW.saturating_sub(now.duration_since(*start)).as_secs().max(1)) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_budget_waits_for_the_window() {
        let limiter = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limiter.check("b").is_ok(), "budgets are per client");
        assert!(RateLimiter::new(0).check("a").is_ok(), "0 disables the limit");
    }
}
