//! A circuit breaker that stops hammering a Redis that is down.
//!
//! After `threshold` consecutive unavailability failures the breaker opens for `cooldown`: calls fail
//! at once without touching the network. When the cooldown is over the breaker is *half-open*: one
//! call at a time probes Redis while the others keep failing fast (so a dead server gets one
//! connection attempt per cooldown, not one per caller). A probe that reaches Redis closes the breaker
//! and reports a *recovery*, on which the cache manager clears L1 (other processes may have
//! invalidated entries while this one could not hear about it); a probe that fails opens it again. A
//! probe that never reports (its caller went away) frees its slot after `probe_timeout`.

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
    /// When the probe in flight started (ms since `base`, at least 1); 0 when there is none.
    probe_since_ms: AtomicU64,
    probe_timeout_ms: u64,
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
}

/// Where the breaker stands, as health checks and metrics report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go to Redis.
    Closed,
    /// Calls fail fast until the cooldown is over.
    Open,
    /// The cooldown is over and one probe at a time tests Redis.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half-open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// How many times the breaker changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BreakerTransitions {
    /// To open (a failed probe opens it again and counts again).
    pub opened: u64,
    /// To half-open (a probe let through).
    pub half_opened: u64,
    /// Back to closed after it had opened.
    pub closed: u64,
}

impl Breaker {
    /// A closed breaker. `probe_timeout` bounds how long one half-open probe may hold its slot
    /// (longer than a connection attempt plus a command).
    pub fn new(threshold: u32, cooldown: Duration, probe_timeout: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            base: Instant::now(),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            probe_since_ms: AtomicU64::new(0),
            probe_timeout_ms: probe_timeout.as_millis().max(1) as u64,
            opened: AtomicU64::new(0),
            half_opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        }
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        if self.now_ms() < self.open_until_ms.load(Ordering::Acquire) {
            BreakerState::Open
        } else if self.failures.load(Ordering::Acquire) >= self.threshold {
            BreakerState::HalfOpen
        } else {
            BreakerState::Closed
        }
    }

    /// State changes so far.
    pub fn transitions(&self) -> BreakerTransitions {
        BreakerTransitions {
            opened: self.opened.load(Ordering::Relaxed),
            half_opened: self.half_opened.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Whether a call may go to Redis now. Half-open, this takes the one probe slot: the caller
    /// must then report [`Breaker::success`] or [`Breaker::failure`].
    pub fn allow(&self) -> bool {
        let now = self.now_ms();
        if now < self.open_until_ms.load(Ordering::Acquire) {
            return false;
        }
        if self.failures.load(Ordering::Acquire) < self.threshold {
            return true;
        }
        let since = self.probe_since_ms.load(Ordering::Acquire);
        if since != 0 && now.saturating_sub(since) < self.probe_timeout_ms {
            return false;
        }
        let probe = self.probe_since_ms.compare_exchange(since, now.max(1), Ordering::AcqRel, Ordering::Acquire).is_ok();
        if probe {
            self.half_opened.fetch_add(1, Ordering::Relaxed);
        }
        probe
    }

    /// Whether calls fail fast right now (open, or half-open with a probe in flight). Takes nothing.
    pub fn is_open(&self) -> bool {
        let now = self.now_ms();
        if now < self.open_until_ms.load(Ordering::Acquire) {
            return true;
        }
        let since = self.probe_since_ms.load(Ordering::Acquire);
        self.failures.load(Ordering::Acquire) >= self.threshold && since != 0 && now.saturating_sub(since) < self.probe_timeout_ms
    }

    /// Whether the last calls failed to reach Redis (degraded mode).
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// Record a success; returns true when this ends a period of unavailability.
    pub fn success(&self) -> bool {
        if self.failures.swap(0, Ordering::AcqRel) >= self.threshold {
            self.closed.fetch_add(1, Ordering::Relaxed);
        }
        self.probe_since_ms.store(0, Ordering::Release);
        self.degraded.swap(false, Ordering::AcqRel)
    }

    /// Record a failure to reach Redis.
    pub fn failure(&self) {
        self.degraded.store(true, Ordering::Release);
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.threshold {
            let now = self.now_ms();
            let until = now + self.cooldown.as_millis() as u64;
            // Concurrent failures while open extend it; only a change of state counts.
            if self.open_until_ms.swap(until, Ordering::AcqRel) <= now {
                self.opened.fetch_add(1, Ordering::Relaxed);
            }
            self.probe_since_ms.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_open_lets_one_probe_through_at_a_time() {
        let b = Breaker::new(1, Duration::from_millis(20), Duration::from_millis(60));
        b.failure();
        assert!(!b.allow(), "open");
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.allow(), "the first caller after the cooldown probes");
        assert!(!b.allow(), "the others fail fast while the probe is in flight");
        assert!(b.is_open());
        b.failure();
        assert!(!b.allow(), "a failed probe opens the breaker again");
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.allow());
        assert!(b.success(), "a probe that reaches Redis ends the outage");
        assert!(b.allow() && b.allow(), "closed: everybody goes through");
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.transitions(), BreakerTransitions { opened: 2, half_opened: 2, closed: 1 });
    }

    #[test]
    fn a_probe_that_never_reports_frees_its_slot() {
        let b = Breaker::new(1, Duration::from_millis(10), Duration::from_millis(40));
        b.failure();
        std::thread::sleep(Duration::from_millis(15));
        assert!(b.allow());
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(45));
        assert!(b.allow(), "a new probe after probe_timeout");
    }

    #[test]
    fn opens_after_threshold_and_recovers() {
        let b = Breaker::new(2, Duration::from_millis(30), Duration::from_secs(1));
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
