//! Warming schedules: `every Ns|Nm|Nh|Nd`, run by one process of many per period.
//!
//! Every process that registered a scheduled strategy wakes once per period, at the period's start
//! on its own clock plus a random jitter (so processes started together do not contend at once), and
//! asks Redis to claim the period (`claim.lua`, one round trip): the period is counted on Redis's
//! clock, so all processes agree which one it is. The first claim of a period wins and holds a lock
//! with a lease while it runs (renewed every third of the lease, released when the run ends); the
//! others skip. A run never overlaps itself: a period whose predecessor is still running anywhere is
//! skipped. A holder that died leaves a lock that ends with its lease, so the schedule stops for at
//! most one lease.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::l2::L2;

/// How often a strategy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    every: Duration,
}

/// Longest period accepted (a year).
const MAX_EVERY: Duration = Duration::from_secs(365 * 24 * 3600);

impl Schedule {
    /// Parse `every 30s`, `every 5m`, `every 1h`, `every 1d` (a positive whole number and a unit).
    ///
    /// # Errors
    /// `ERR_STRATACACHE_INVALID_ARGUMENT` naming the text received.
    pub fn parse(text: &str) -> Result<Schedule> {
        let bad = || {
            Error::invalid_argument(format!(
                "schedule must look like \"every 30s\", \"every 5m\", \"every 1h\" or \"every 1d\" (a positive whole number and s, m, h or d), got {text:?}"
            ))
        };
        let rest = text.trim().strip_prefix("every ").ok_or_else(bad)?.trim();
        let unit_at = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (digits, unit) = rest.split_at(unit_at);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let every = Duration::from_secs(n.checked_mul(secs).ok_or_else(bad)?);
        if every.is_zero() || every > MAX_EVERY {
            return Err(bad());
        }
        Ok(Schedule { every })
    }

    /// A schedule of `every` (tests and the Rust API; at least 1 ms).
    pub fn every(every: Duration) -> Schedule {
        Schedule { every: every.max(Duration::from_millis(1)) }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.every
    }

    /// The lease of a run's lock: the period, at least 1 s and at most 30 s (renewed while it runs).
    pub fn lease(&self) -> Duration {
        self.every.clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// How long to sleep from `now_ms` (epoch ms) to the start of the next period plus `jitter_ms`.
    pub fn until_next(&self, now_ms: u64, jitter_ms: u64) -> Duration {
        let every = (self.every.as_millis() as u64).max(1);
        let next = (now_ms / every + 1) * every;
        Duration::from_millis(next - now_ms + jitter_ms)
    }

    /// A random jitter for one wake-up: up to a tenth of the period, at most 250 ms.
    pub fn jitter_ms(&self) -> u64 {
        let cap = ((self.every.as_millis() as u64) / 10).min(250);
        if cap == 0 {
            return 0;
        }
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the OS random source is available");
        u64::from_le_bytes(b) % cap
    }
}

fn claim_script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| redis::Script::new(include_str!("claim.lua")))
}

fn hold_script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| redis::Script::new(include_str!("hold.lua")))
}

/// What a claim of one period found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This process runs it.
    Won,
    /// Another process ran it in this period already.
    AlreadyRan,
    /// A run is still in progress somewhere.
    Running,
}

/// A random token for one run's lock.
pub(super) fn token() -> String {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS random source is available");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Claim the current period of `schedule` (keys from [`crate::key::KeySchema::warm`]).
pub(super) async fn claim(l2: &L2, keys: &(String, String), token: &str, schedule: &Schedule) -> Result<Claim> {
    let every = (schedule.period().as_millis() as u64).max(1).to_string();
    let lease = (schedule.lease().as_millis() as u64).to_string();
    let reply = l2.script(claim_script(), &[&keys.0, &keys.1], &[token, &every, &lease]).await?;
    let code = match reply {
        redis::Value::Array(v) => match v.first() {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        },
        _ => 0,
    };
    Ok(match code {
        1 => Claim::Won,
        -1 => Claim::Running,
        _ => Claim::AlreadyRan,
    })
}

/// Renew the lock for `lease`, or release it (`lease` zero). Failures are ignored: the lease ends it.
pub(super) async fn hold(l2: &L2, lock: &str, token: &str, lease: Duration) {
    let ms = (lease.as_millis() as u64).to_string();
    let _ = l2.script(hold_script(), &[lock], &[token, &ms]).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_forms() {
        assert_eq!(Schedule::parse("every 30s").unwrap().period(), Duration::from_secs(30));
        assert_eq!(Schedule::parse("every 5m").unwrap().period(), Duration::from_secs(300));
        assert_eq!(Schedule::parse("every 1h").unwrap().period(), Duration::from_secs(3600));
        assert_eq!(Schedule::parse("every 1d").unwrap().period(), Duration::from_secs(86_400));
        assert_eq!(Schedule::parse(" every 10 s ").unwrap().period(), Duration::from_secs(10));
    }

    #[test]
    fn refuses_what_is_not_a_schedule() {
        for bad in ["every banana", "sometimes", "every -1m", "every 0s", "every 1", "every 1w", "every 1.5h", "", "every 99999999999999999999d", "every 400d"] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.message().contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn wakes_at_the_next_period_start_plus_jitter() {
        let s = Schedule::every(Duration::from_secs(1));
        assert_eq!(s.until_next(10_250, 0), Duration::from_millis(750));
        assert_eq!(s.until_next(10_000, 40), Duration::from_millis(1_040));
        assert!(s.jitter_ms() < 100);
        assert_eq!(s.lease(), Duration::from_secs(1));
        assert_eq!(Schedule::every(Duration::from_secs(3600)).lease(), Duration::from_secs(30));
    }
}
