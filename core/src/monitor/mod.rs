//! `cacheMetrics` of one system: its health check, its metrics report (the JSON of
//! `getMetricsJSON()`) and its Prometheus exposition, read from what every component recorded
//! (`crate::metrics`) and from the components' own counters (`getStats()` & co.), so the two always
//! agree.

mod health;
mod prometheus;
mod report;

pub use health::{BusCheck, HealthChecks, HealthReport, HealthStatus, L1Check, RedisCheck, PING_BOUND};
pub use prometheus::CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE;
pub use report::{
    AlgorithmDecisions, BusReport, CacheAsideReport, Errors, HealthSummary, HitRates, InvalidationReport, L1Report,
    Latencies, MetricsReport, Operations, RateLimitReport, RedisReport, SessionReport, WarmingReport, WriteBehindReport,
};

use crate::handle::StrataCache;

impl StrataCache {
    /// Check health now (one bounded PING; see [`HealthReport`]).
    pub async fn health_check(&self) -> HealthReport {
        health::check(self).await
    }

    /// Every counter and latency now (`getMetricsJSON()`).
    pub fn metrics_report(&self) -> MetricsReport {
        MetricsReport::of(self)
    }

    /// The Prometheus text exposition now (`getPrometheusMetrics()`).
    pub fn prometheus_metrics(&self) -> String {
        prometheus::exposition(self)
    }
}
