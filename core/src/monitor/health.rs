//! `healthCheck()`: can this process serve, and with which guarantees?
//!
//! - **healthy**: Redis answers PING within [`PING_BOUND`] and, when L1 is on, the invalidation bus
//!   is live (subscribed, answering its pings, client tracking on).
//! - **degraded**: serving, but without Redis (L1 only, contract §6) or without a live bus (L1 is
//!   bypassed after `busStaleMs`, so reads go to Redis; docs/consistency.md).
//! - **unhealthy**: cannot serve at all: shut down, or Redis unreachable with L1 disabled.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bus::BusState;
use crate::handle::StrataCache;

/// How long a health check waits for Redis's PING.
pub const PING_BOUND: Duration = Duration::from_secs(1);

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything works.
    Healthy,
    /// Serving with weaker guarantees (no Redis, or no live bus).
    Degraded,
    /// Cannot serve.
    Unhealthy,
}

impl HealthStatus {
    /// `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// `checks.redis`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisCheck {
    /// `up`, `down` or `disabled`.
    pub status: &'static str,
    /// The PING's round trip in ms (when it answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The circuit breaker: `closed`, `open` or `half-open`.
    pub breaker: &'static str,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `checks.l1`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Check {
    /// `up` or `disabled`.
    pub status: &'static str,
    /// Entries held.
    pub size: u64,
    /// Capacity.
    pub max_size: u64,
    /// size / maxSize in percent.
    pub usage: f64,
}

/// `checks.bus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusCheck {
    /// `up`, `down` or `disabled` (no bus: L1 or L2 off).
    pub status: &'static str,
    /// `connecting`, `live`, `down`, `refused` or `off`.
    pub state: &'static str,
    /// Whether Redis client tracking is on.
    pub tracking: bool,
    /// Times the subscriber reconnected.
    pub reconnects: u64,
}

/// Every check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthChecks {
    /// Redis.
    pub redis: RedisCheck,
    /// L1.
    pub l1: L1Check,
    /// The invalidation bus.
    pub bus: BusCheck,
}

/// What `healthCheck()` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// The verdict.
    pub status: HealthStatus,
    /// The checks behind it.
    pub checks: HealthChecks,
    /// When it was made, epoch ms.
    pub timestamp: u64,
}

impl HealthReport {
    /// The report as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a health report always serializes")
    }
}

/// Check now: PING Redis (bounded; through the breaker, so an open breaker answers at once and a
/// half-open one lets this check be its probe), and read the bus and L1.
pub(super) async fn check(system: &StrataCache) -> HealthReport {
    let m = system.manager();
    let redis = match m.l2() {
        None => RedisCheck { status: "disabled", latency_ms: None, breaker: "closed", error: None },
        Some(l2) => {
            let started = Instant::now();
            let ping = tokio::time::timeout(PING_BOUND, l2.command(redis::cmd("PING"))).await;
            let (status, latency_ms, error) = match ping {
                Ok(Ok(_)) => ("up", Some(started.elapsed().as_secs_f64() * 1e3), None),
                Ok(Err(e)) => ("down", None, Some(e.to_string())),
                Err(_) => ("down", None, Some(format!("no answer to PING within {} ms", PING_BOUND.as_millis()))),
            };
            RedisCheck { status, latency_ms, breaker: l2.breaker().state().as_str(), error }
        }
    };
    let checks = HealthChecks { redis, l1: l1_check(system), bus: bus_check(system) };
    HealthReport { status: verdict(system, &checks), checks, timestamp: crate::clock::now_ms() }
}

fn l1_check(system: &StrataCache) -> L1Check {
    let m = system.manager();
    let (size, max_size) = (m.l1().size(), m.l1().max_size());
    let enabled = m.config().enable_l1;
    L1Check {
        status: if enabled { "up" } else { "disabled" },
        size,
        max_size,
        usage: if max_size == 0 { 0.0 } else { size as f64 * 100.0 / max_size as f64 },
    }
}

fn bus_check(system: &StrataCache) -> BusCheck {
    let m = system.manager();
    let s = m.bus().stats();
    let has_bus = m.config().enable_l1 && m.l2().is_some();
    BusCheck {
        status: match (has_bus, s.state) {
            (false, _) => "disabled",
            (true, BusState::Live) => "up",
            _ => "down",
        },
        state: s.state.as_str(),
        tracking: s.state == BusState::Live,
        reconnects: s.reconnects,
    }
}

fn verdict(system: &StrataCache, checks: &HealthChecks) -> HealthStatus {
    if system.manager().check_key_public("health").is_err() {
        return HealthStatus::Unhealthy; // shut down
    }
    let l1_on = checks.l1.status == "up";
    match (checks.redis.status, checks.bus.status) {
        ("down", _) if !l1_on => HealthStatus::Unhealthy,
        ("down", _) | (_, "down") => HealthStatus::Degraded,
        _ => HealthStatus::Healthy,
    }
}

/// The verdict from what is known now, without a PING (for the metrics report): Redis counts as
/// down while the last calls failed.
pub(super) fn status_without_ping(system: &StrataCache) -> HealthStatus {
    let m = system.manager();
    let redis = match m.l2() {
        None => RedisCheck { status: "disabled", latency_ms: None, breaker: "closed", error: None },
        Some(l2) => RedisCheck {
            status: if l2.is_degraded() { "down" } else { "up" },
            latency_ms: None,
            breaker: l2.breaker().state().as_str(),
            error: None,
        },
    };
    let checks = HealthChecks { redis, l1: l1_check(system), bus: bus_check(system) };
    verdict(system, &checks)
}
