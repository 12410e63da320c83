//! Sign-in throttling, per account and per client address.
//!
//! Failed attempts are counted in a sliding window. Once an account or an address has
//! used its allowance, further attempts are refused without checking the password, so
//! guessing is slow even against an Argon2 hash and the server is not made to burn CPU.
//! The counts live in memory: a restart forgives, which is acceptable for a throttle.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct SignInLimiter {
    window: Duration,
    per_account: usize,
    per_address: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Keys in the one map are kept apart by prefix.
fn account_key(email: &str) -> String {
    format!("a:{email}")
}

fn address_key(address: &str) -> String {
    format!("i:{address}")
}

impl SignInLimiter {
    pub fn new(window: Duration, per_account: usize, per_address: usize) -> Self {
        Self {
            window,
            per_account,
            per_address,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when either the account or the address must wait before trying again.
    pub fn check(&self, email: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let mut wait = Duration::ZERO;
        for (key, limit) in [
            (account_key(email), self.per_account),
            (address_key(address), self.per_address),
        ] {
            if let Some(times) = map.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= limit
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(self.window - now.duration_since(*oldest));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub fn record_failure(&self, email: &str, address: &str) {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > 100_000 {
            // Bound memory under a spray of addresses: drop keys whose window has passed.
            let window = self.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        for key in [account_key(email), address_key(address)] {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// A correct password clears the account's count (not the address's).
    pub fn record_success(&self, email: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&account_key(email));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_its_allowance_and_a_success_clears_it() {
        let l = SignInLimiter::new(Duration::from_secs(60), 3, 100);
        for _ in 0..3 {
            assert!(l.check("a@x", "1.1.1.1").is_ok());
            l.record_failure("a@x", "1.1.1.1");
        }
        let wait = l.check("a@x", "2.2.2.2").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(
            l.check("b@x", "2.2.2.2").is_ok(),
            "other accounts are unaffected"
        );
        l.record_success("a@x");
        assert!(l.check("a@x", "2.2.2.2").is_ok());
    }

    #[test]
    fn an_address_is_locked_across_accounts() {
        let l = SignInLimiter::new(Duration::from_secs(60), 100, 4);
        for i in 0..4 {
            l.record_failure(&format!("user{i}@x"), "9.9.9.9");
        }
        assert!(l.check("new@x", "9.9.9.9").is_err());
        assert!(l.check("new@x", "8.8.8.8").is_ok());
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let l = SignInLimiter::new(Duration::from_millis(20), 1, 100);
        l.record_failure("a@x", "1.1.1.1");
        assert!(l.check("a@x", "1.1.1.1").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.check("a@x", "1.1.1.1").is_ok());
    }
}
