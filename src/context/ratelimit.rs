//! Sign-in throttling, per account and per client address.
//!
//! Attempts are counted in a sliding window *before* the password is checked, so a burst
//! of parallel guesses gets no more checks than the same guesses one after another. Once
//! an account or an address has used its allowance, further attempts are refused without
//! checking the password, so guessing is slow even against an Argon2 hash and the server
//! is not made to burn CPU. A correct password gives its attempt back.
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

    /// Takes one attempt for the account and the address, or `Err(wait)` when either has
    /// used its allowance. Checking and counting happen under one lock, so parallel
    /// attempts cannot all pass the check before any is counted.
    pub fn begin(&self, email: &str, address: &str) -> Result<(), Duration> {
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
        if !wait.is_zero() {
            return Err(wait);
        }
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
        Ok(())
    }

    /// A correct password clears the account's count and gives the address back the
    /// attempt it just took.
    pub fn record_success(&self, email: &str, address: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&account_key(email));
            if let Some(times) = map.get_mut(&address_key(address)) {
                times.pop_back();
            }
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
            assert!(l.begin("a@x", "1.1.1.1").is_ok());
        }
        let wait = l.begin("a@x", "2.2.2.2").unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(
            l.begin("b@x", "2.2.2.2").is_ok(),
            "other accounts are unaffected"
        );
        l.record_success("a@x", "1.1.1.1");
        assert!(l.begin("a@x", "2.2.2.2").is_ok());
    }

    #[test]
    fn an_address_is_locked_across_accounts() {
        let l = SignInLimiter::new(Duration::from_secs(60), 100, 4);
        for i in 0..4 {
            assert!(l.begin(&format!("user{i}@x"), "9.9.9.9").is_ok());
        }
        assert!(l.begin("new@x", "9.9.9.9").is_err());
        assert!(l.begin("new@x", "8.8.8.8").is_ok());
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let l = SignInLimiter::new(Duration::from_millis(20), 1, 100);
        assert!(l.begin("a@x", "1.1.1.1").is_ok());
        assert!(l.begin("a@x", "1.1.1.1").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.begin("a@x", "1.1.1.1").is_ok());
    }

    #[test]
    fn parallel_attempts_get_no_more_than_the_allowance() {
        let l = std::sync::Arc::new(SignInLimiter::new(Duration::from_secs(60), 5, 100));
        let passed: usize = (0..40)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || l.begin("a@x", "1.1.1.1").is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(passed, 5);
    }
}
