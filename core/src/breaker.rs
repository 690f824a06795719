//! A circuit breaker that stops hammering a Redis that is down.
//!
//! After `threshold` consecutive unavailability failures the breaker opens for `cooldown`: calls fail
//! at once without touching the network. When the cooldown is over calls go through again; the first
//! success closes the breaker and reports a *recovery*, on which the cache manager clears L1 (other
//! processes may have invalidated entries while this one could not hear about it).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Breaker state shared by every Redis call of one cache.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    base: Instant,
    failures: AtomicU32,
    open_until_ms: AtomicU64,
    degraded: AtomicBool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            base: Instant::now(),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Whether a call may go to Redis now.
    pub fn allow(&self) -> bool {
        self.now_ms() >= self.open_until_ms.load(Ordering::Acquire)
    }

    /// Whether the breaker is open right now.
    pub fn is_open(&self) -> bool {
        !self.allow()
    }

    /// Whether the last calls failed to reach Redis (degraded mode).
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// Record a success; returns true when this ends a period of unavailability.
    pub fn success(&self) -> bool {
        self.failures.store(0, Ordering::Release);
        self.degraded.swap(false, Ordering::AcqRel)
    }

    /// Record a failure to reach Redis.
    pub fn failure(&self) {
        self.degraded.store(true, Ordering::Release);
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.threshold {
            let until = self.now_ms() + self.cooldown.as_millis() as u64;
            self.open_until_ms.store(until, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers() {
        let b = Breaker::new(2, Duration::from_millis(30));
        b.failure();
        assert!(b.allow());
        b.failure();
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(35));
        assert!(b.allow());
        assert!(b.success(), "first success after failures is a recovery");
        assert!(!b.success());
    }
}
