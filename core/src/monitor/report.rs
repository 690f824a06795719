//! The metrics report: one consistent read of every component's counters, as `getMetricsJSON()`
//! returns it (camelCase; hit rates are percentages 0–100, latencies in milliseconds, uptime in ms).

use serde::Serialize;

use crate::handle::StrataCache;
use crate::metrics::{LatencySummary, ALGORITHMS};

/// Hit rates in percent (0–100; 0 before any lookup).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HitRates {
    /// Lookups answered by either tier, over all lookups.
    pub total: f64,
    /// L1 hits over L1 lookups.
    pub l1: f64,
    /// L2 hits over L2 reads.
    pub l2: f64,
}

/// Latency summaries of gets and sets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latencies {
    /// Per key read.
    pub get: LatencySummary,
    /// Per key written.
    pub set: LatencySummary,
}

/// `health` of the report: the status (without a PING; see [`crate::monitor::HealthReport`]) and the
/// time since the system started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSummary {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: &'static str,
    /// Milliseconds since the system started.
    pub uptime: u64,
}

/// Cache operations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operations {
    /// Key lookups (L1 hits + L1 misses).
    pub gets: u64,
    /// Served by L1.
    pub l1_hits: u64,
    /// L1 could not serve.
    pub l1_misses: u64,
    /// Served by Redis.
    pub l2_hits: u64,
    /// Redis could not serve (absent, expired, invalidated, corrupt, or Redis down).
    pub l2_misses: u64,
    /// Keys written.
    pub sets: u64,
    /// `del` calls.
    pub deletes: u64,
}

/// Errors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Errors {
    /// Failed Redis calls (including calls refused by the open breaker) and undecodable entries.
    pub l2: u64,
    /// Redis commands that timed out.
    pub timeouts: u64,
    /// Entries that did not decode.
    pub corrupt_entries: u64,
}

/// The Redis connection and its circuit breaker.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisReport {
    /// Whether Redis is used at all (`enableL2`).
    pub enabled: bool,
    /// Whether the last calls failed to reach Redis.
    pub degraded: bool,
    /// Times the connection came back after failing (each time L1 was cleared).
    pub recoveries: u64,
    /// `closed`, `open` or `half-open`.
    pub breaker_state: &'static str,
    /// Transitions to open.
    pub breaker_opened: u64,
    /// Transitions to half-open.
    pub breaker_half_opened: u64,
    /// Transitions back to closed.
    pub breaker_closed: u64,
}

/// L1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Report {
    /// Entries held.
    pub size: u64,
    /// Capacity.
    pub max_size: u64,
    /// Times it was cleared whole.
    pub clears: u64,
}

/// The invalidation bus.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusReport {
    /// `connecting`, `live`, `down`, `refused` or `off`.
    pub state: &'static str,
    /// Whether Redis client tracking is on (the bus is live).
    pub tracking: bool,
    /// Messages from other processes applied.
    pub messages_in: u64,
    /// Messages this process published.
    pub messages_out: u64,
    /// Evictions caused by writes from outside the library (client tracking).
    pub tracked_evictions: u64,
    /// Times the subscriber reconnected.
    pub reconnects: u64,
}

/// Cache-aside.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheAsideReport {
    /// Loader runs.
    pub loads: u64,
    /// Callers that joined a running load instead of loading (single-flight).
    pub joins: u64,
    /// Loads that waited for another process's lock.
    pub lock_waits: u64,
    /// Loads that failed.
    pub load_errors: u64,
    /// Calls answered with fail-safe's stale value after their load failed or timed out.
    pub stale_served: u64,
}

/// Every write-behind instance, summed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteBehindReport {
    /// Writes waiting now.
    pub queue_depth: u64,
    /// Flush rounds that had work.
    pub flushes: u64,
    /// Writer calls that succeeded.
    pub written: u64,
    /// Writes replaced before they ran.
    pub coalesced: u64,
    /// Failed attempts retried.
    pub retries: u64,
    /// Writes given up after their retries.
    pub given_up: u64,
}

/// Decisions of one algorithm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlgorithmDecisions {
    /// The algorithm's name (`sliding-counter`, …).
    pub algorithm: &'static str,
    /// Admitted.
    pub allowed: u64,
    /// Refused.
    pub denied: u64,
}

/// The rate limiter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitReport {
    /// Admitted, all algorithms.
    pub allowed: u64,
    /// Refused, all algorithms.
    pub denied: u64,
    /// Decisions taken without Redis (`onRedisError`).
    pub local_fallbacks: u64,
    /// Per algorithm (only those used).
    pub by_algorithm: Vec<AlgorithmDecisions>,
}

/// Sessions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SessionReport {
    /// Created.
    pub created: u64,
    /// Evicted by `maxDevices`.
    pub evicted: u64,
    /// Deleted.
    pub deleted: u64,
}

/// Cache warming.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WarmingReport {
    /// Completed runs.
    pub runs: u64,
    /// Failed runs.
    pub failures: u64,
    /// Entries written.
    pub entries: u64,
    /// Scheduled periods skipped because another process ran them.
    pub skipped: u64,
}

/// Invalidations made by this process, by type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InvalidationReport {
    /// Keys named.
    pub keys: u64,
    /// Tags named.
    pub tags: u64,
    /// Patterns.
    pub patterns: u64,
}

/// Everything `getMetricsJSON()` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsReport {
    /// The key namespace of this system.
    pub namespace: String,
    /// Whether recording is on (`skipMetrics: false`).
    pub enabled: bool,
    /// When this report was made, epoch ms.
    pub timestamp: u64,
    /// Hit rates.
    pub hit_rate: HitRates,
    /// Latencies.
    pub latency: Latencies,
    /// Status and uptime.
    pub health: HealthSummary,
    /// Cache operations.
    pub operations: Operations,
    /// Errors.
    pub errors: Errors,
    /// Redis and the breaker.
    pub redis: RedisReport,
    /// L1.
    pub l1: L1Report,
    /// The bus.
    pub bus: BusReport,
    /// Cache-aside.
    pub cache_aside: CacheAsideReport,
    /// Write-behind.
    pub write_behind: WriteBehindReport,
    /// Rate limiting.
    pub rate_limit: RateLimitReport,
    /// Sessions.
    pub sessions: SessionReport,
    /// Warming.
    pub warming: WarmingReport,
    /// Invalidations.
    pub invalidations: InvalidationReport,
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl MetricsReport {
    /// Read every counter of `system` now.
    pub fn of(system: &StrataCache) -> Self {
        let m = system.manager();
        let metrics = m.metrics();
        let stats = m.stats();
        let bus = m.bus().stats();
        let (breaker_state, transitions, degraded) = match m.l2() {
            Some(l2) => (l2.breaker().state().as_str(), l2.breaker().transitions(), l2.is_degraded()),
            None => ("closed", Default::default(), false),
        };
        let rl = system.rate_limiter().stats();
        let wb = system.write_behind_totals();
        let by_algorithm = ALGORITHMS
            .iter()
            .zip(&metrics.rate_limit.by_algorithm)
            .map(|(a, d)| AlgorithmDecisions { algorithm: a, allowed: d.allowed.get(), denied: d.denied.get() })
            .filter(|d| d.allowed + d.denied > 0)
            .collect();
        let lookups = stats.l1.hits + stats.l1.misses;
        MetricsReport {
            namespace: system.redis_config().namespace.clone(),
            enabled: metrics.enabled(),
            timestamp: crate::clock::now_ms(),
            hit_rate: HitRates {
                total: percent(stats.l1.hits + stats.l2.hits, lookups),
                l1: stats.l1.hit_rate,
                l2: stats.l2.hit_rate,
            },
            latency: Latencies {
                get: metrics.get_latency().summary(),
                set: metrics.set_latency.snapshot().summary(),
            },
            health: HealthSummary {
                status: super::health::status_without_ping(system).as_str(),
                uptime: metrics.uptime().as_millis() as u64,
            },
            operations: Operations {
                gets: lookups,
                l1_hits: stats.l1.hits,
                l1_misses: stats.l1.misses,
                l2_hits: stats.l2.hits,
                l2_misses: stats.l2.misses,
                sets: metrics.sets.get(),
                deletes: metrics.deletes.get(),
            },
            errors: Errors { l2: stats.l2.errors, timeouts: metrics.l2_timeouts.get(), corrupt_entries: stats.corrupt_entries },
            redis: RedisReport {
                enabled: m.l2().is_some(),
                degraded,
                recoveries: metrics.l2_recoveries.get(),
                breaker_state,
                breaker_opened: transitions.opened,
                breaker_half_opened: transitions.half_opened,
                breaker_closed: transitions.closed,
            },
            l1: L1Report { size: stats.l1.size, max_size: stats.l1.max_size, clears: m.l1().clears() },
            bus: BusReport {
                state: bus.state.as_str(),
                tracking: bus.state == crate::bus::BusState::Live,
                messages_in: bus.received,
                messages_out: metrics.bus_published.get(),
                tracked_evictions: bus.tracked,
                reconnects: bus.reconnects,
            },
            cache_aside: CacheAsideReport {
                loads: metrics.aside_loads.get(),
                joins: metrics.aside_joins.get(),
                lock_waits: metrics.aside_lock_waits.get(),
                load_errors: metrics.aside_load_errors.get(),
                stale_served: metrics.aside_stale_served.get(),
            },
            write_behind: WriteBehindReport {
                queue_depth: wb.pending,
                flushes: metrics.write_behind_flushes.get(),
                written: wb.written,
                coalesced: wb.coalesced,
                retries: wb.retries,
                given_up: wb.failed,
            },
            rate_limit: RateLimitReport { allowed: rl.allowed, denied: rl.denied, local_fallbacks: rl.fallbacks, by_algorithm },
            sessions: SessionReport {
                created: metrics.sessions_created.get(),
                evicted: metrics.sessions_evicted.get(),
                deleted: metrics.sessions_deleted.get(),
            },
            warming: WarmingReport {
                runs: metrics.warming_runs.get(),
                failures: metrics.warming_failures.get(),
                entries: metrics.warming_entries.get(),
                skipped: metrics.warming_skipped.get(),
            },
            invalidations: InvalidationReport {
                keys: metrics.invalidated_keys.get(),
                tags: metrics.invalidated_tags.get(),
                patterns: metrics.invalidated_patterns.get(),
            },
        }
    }

    /// The report as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a metrics report always serializes")
    }
}
