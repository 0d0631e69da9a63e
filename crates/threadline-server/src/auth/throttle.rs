//! Sign-in throttling: how many password attempts a client address may
//! make, and progressive lockout of a login after repeated failures.
//!
//! Three budgets are checked before any password is hashed, so refused
//! attempts cost nothing:
//!
//! - per client address: `sign_in_rate_per_minute` attempts a minute;
//! - per login *from one address*: after `sign_in_lockout_after`
//!   consecutive failures the pair is locked for 30 s, doubling with each
//!   further failure up to an hour — the guesser is stopped;
//! - per login from *any* address: the same, from four times as many
//!   failures and at most 15 minutes — guessing spread over many addresses
//!   is slowed, while one attacker cannot lock the real user out for long.
//!
//! A successful sign-in clears the login's failures. Unknown logins are
//! counted exactly like known ones, so the answers reveal nothing about
//! who has an account. Counters live in memory, bounded, keyed by the
//! login's SHA-256; with several nodes each tells the others of every
//! attempt, failure and success over the bus (`nodes.rs` calls [`SignInThrottle::heard`]),
//! so the budgets and lockouts hold for the whole installation.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::bus::{EventBus, NodeSignal, SignInOutcome};
use crate::rate_limit::RateLimiter;

/// First lockout; it doubles with each further failure.
const FIRST_LOCK: Duration = Duration::from_secs(30);
const MAX_PAIR_LOCK: Duration = Duration::from_secs(3600);
const MAX_LOGIN_LOCK: Duration = Duration::from_secs(900);
/// A login's failures are forgotten after this long without another.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Above this many tracked logins, forgotten ones are swept; if still
/// full, the least recently failed half is dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Login(String),
    LoginFrom(String, IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Why an attempt is refused, and for how many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after_secs: u64,
}

pub struct SignInThrottle {
    per_address: RateLimiter<IpAddr>,
    lockout_after: u32,
    failures: Mutex<HashMap<Key, Failures>>,
    /// Where the other nodes are told, if anywhere.
    bus: Option<EventBus>,
}

/// A login as the throttle keys it (and as nodes name it to each other).
fn fingerprint(login: &str) -> String {
    hex::encode(sha2::Sha256::digest(login.as_bytes()))
}

/// How long a key is locked after `count` consecutive failures, when
/// locking starts at `threshold`: nothing below it, then 30 s doubling up
/// to `max`.
pub fn lock_duration(count: u32, threshold: u32, max: Duration) -> Option<Duration> {
    if threshold == 0 || count < threshold {
        return None;
    }
    let doublings = (count - threshold).min(20);
    Some(FIRST_LOCK.saturating_mul(1 << doublings).min(max))
}

impl SignInThrottle {
    /// `per_minute` attempts per address (0: no address budget);
    /// `lockout_after` failures before a login is locked (0: never).
    pub fn new(per_minute: u32, lockout_after: u32) -> Self {
        Self { per_address: RateLimiter::new(per_minute), lockout_after, failures: Mutex::new(HashMap::new()), bus: None }
    }

    /// Tells the other nodes on `bus` of every attempt, failure and success.
    pub fn shared_over(mut self, bus: EventBus) -> Self {
        self.bus = Some(bus);
        self
    }

    fn tell(&self, login: &str, address: Option<IpAddr>, outcome: SignInOutcome) {
        if let Some(bus) = &self.bus {
            bus.tell_nodes(NodeSignal::SignIn { node: bus.node().to_owned(), login: login.to_owned(), address, outcome });
        }
    }

    /// Spends one attempt of `address`'s budget and checks that `login`
    /// is not locked, from there or at all.
    pub fn check(&self, login: &str, address: Option<IpAddr>) -> Result<(), Refused> {
        let login = fingerprint(login);
        if let Some(ip) = address {
            self.tell(&login, address, SignInOutcome::Attempt);
            self.per_address.check(ip).map_err(|secs| Refused { retry_after_secs: secs })?;
        }
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let keys = keys(&login, address);
        let wait = keys.iter().filter_map(|k| failures.get(k)).filter_map(|f| f.locked_until).filter(|until| *until > now).max();
        match wait {
            Some(until) => Err(Refused { retry_after_secs: until.duration_since(now).as_secs().max(1) }),
            None => Ok(()),
        }
    }

    /// Records a wrong password (or an unknown login) and locks as due.
    pub fn failed(&self, login: &str, address: Option<IpAddr>) {
        let login = fingerprint(login);
        self.tell(&login, address, SignInOutcome::Failed);
        self.record_failure(&login, address);
    }

    fn record_failure(&self, login: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER || f.locked_until.is_some_and(|u| u > now));
            if failures.len() >= MAX_TRACKED {
                let mut lasts: Vec<Instant> = failures.values().map(|f| f.last).collect();
                lasts.sort_unstable();
                let cut = lasts[lasts.len() / 2];
                failures.retain(|_, f| f.last > cut);
            }
        }
        for key in keys(login, address) {
            let (threshold, max) = match key {
                Key::LoginFrom(..) => (self.lockout_after, MAX_PAIR_LOCK),
                Key::Login(_) => (self.lockout_after.saturating_mul(4), MAX_LOGIN_LOCK),
            };
            let entry = failures.entry(key).or_insert(Failures { count: 0, last: now, locked_until: None });
            if now.duration_since(entry.last) >= FORGET_AFTER {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            entry.locked_until = lock_duration(entry.count, threshold, max).map(|d| now + d);
        }
    }

    /// A correct password: the login's failures are forgotten.
    pub fn succeeded(&self, login: &str, address: Option<IpAddr>) {
        let login = fingerprint(login);
        self.tell(&login, address, SignInOutcome::Succeeded);
        self.forget(&login, address);
    }

    fn forget(&self, login: &str, address: Option<IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys(login, address) {
            failures.remove(&key);
        }
    }

    /// Counts what another node saw (its login already a fingerprint).
    pub fn heard(&self, login: &str, address: Option<IpAddr>, outcome: SignInOutcome) {
        match outcome {
            SignInOutcome::Attempt => {
                if let Some(ip) = address {
                    let _ = self.per_address.check(ip);
                }
            }
            SignInOutcome::Failed => self.record_failure(login, address),
            SignInOutcome::Succeeded => self.forget(login, address),
        }
    }
}

fn keys(login: &str, address: Option<IpAddr>) -> Vec<Key> {
    let mut keys = vec![Key::Login(login.to_owned())];
    if let Some(ip) = address {
        keys.push(Key::LoginFrom(login.to_owned(), ip));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const ELSEWHERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn lockouts_grow_and_stop_growing() {
        assert_eq!(lock_duration(4, 5, MAX_PAIR_LOCK), None);
        assert_eq!(lock_duration(5, 5, MAX_PAIR_LOCK), Some(Duration::from_secs(30)));
        assert_eq!(lock_duration(6, 5, MAX_PAIR_LOCK), Some(Duration::from_secs(60)));
        assert_eq!(lock_duration(9, 5, MAX_PAIR_LOCK), Some(Duration::from_secs(480)));
        assert_eq!(lock_duration(500, 5, MAX_PAIR_LOCK), Some(MAX_PAIR_LOCK));
        assert_eq!(lock_duration(u32::MAX, 5, MAX_LOGIN_LOCK), Some(MAX_LOGIN_LOCK));
        assert_eq!(lock_duration(100, 0, MAX_PAIR_LOCK), None, "0 turns lockout off");
    }

    #[test]
    fn a_guesser_is_locked_out_but_the_user_elsewhere_is_not() {
        let throttle = SignInThrottle::new(0, 3);
        for _ in 0..3 {
            assert!(throttle.check("ana@example.com", Some(HOME)).is_ok());
            throttle.failed("ana@example.com", Some(HOME));
        }
        let refused = throttle.check("ana@example.com", Some(HOME)).unwrap_err();
        assert!((1..=30).contains(&refused.retry_after_secs), "{refused:?}");
        assert!(throttle.check("ana@example.com", Some(ELSEWHERE)).is_ok(), "the real user, elsewhere, may still try");
        assert!(throttle.check("bob@example.com", Some(HOME)).is_ok(), "other logins are not locked");
        throttle.succeeded("ana@example.com", Some(HOME));
        assert!(throttle.check("ana@example.com", Some(HOME)).is_ok(), "a success clears the failures");
    }

    #[test]
    fn failures_from_many_addresses_lock_the_login_everywhere() {
        let throttle = SignInThrottle::new(0, 2);
        for i in 0..8u8 {
            throttle.failed("ana@example.com", Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, i))));
        }
        assert!(throttle.check("ana@example.com", Some(ELSEWHERE)).is_err());
    }

    #[test]
    fn what_other_nodes_saw_counts_here() {
        let here = SignInThrottle::new(3, 2);
        let login = fingerprint("ana@example.com");
        // Another node let three attempts from HOME through and saw two fail.
        for _ in 0..3 {
            here.heard(&login, Some(HOME), SignInOutcome::Attempt);
        }
        let refused = here.check("bob@example.com", Some(HOME)).unwrap_err();
        assert!((1..=60).contains(&refused.retry_after_secs), "the address spent its budget elsewhere");
        for _ in 0..2 {
            here.heard(&login, Some(ELSEWHERE), SignInOutcome::Failed);
        }
        assert!(here.check("ana@example.com", Some(ELSEWHERE)).is_err(), "locked from there, whichever node is asked");
        here.heard(&login, Some(ELSEWHERE), SignInOutcome::Succeeded);
        assert!(here.check("ana@example.com", Some(ELSEWHERE)).is_ok(), "a success elsewhere clears it here too");
    }

    #[test]
    fn an_address_has_a_budget_per_minute() {
        let throttle = SignInThrottle::new(2, 0);
        assert!(throttle.check("a@example.com", Some(HOME)).is_ok());
        assert!(throttle.check("b@example.com", Some(HOME)).is_ok());
        assert!(throttle.check("c@example.com", Some(HOME)).is_err());
        assert!(throttle.check("c@example.com", Some(ELSEWHERE)).is_ok());
    }
}
