//! The Prometheus text exposition (format 0.0.4) of a [`MetricsReport`] and the latency histograms,
//! encoded by `prometheus-client`: names prefixed `stratacache_`, counters suffixed `_total`,
//! latencies as histograms in seconds, and the system's namespace as the label `namespace` on
//! every sample.

use std::borrow::Cow;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::report::MetricsReport;
use crate::handle::StrataCache;
use crate::metrics::LatencySnapshot;

/// The `Content-Type` to serve the exposition with.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Everything one scrape encodes, read once.
#[derive(Debug)]
struct Scrape {
    report: MetricsReport,
    get: LatencySnapshot,
    set: LatencySnapshot,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

impl Scrape {
    fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, samples: &[(Labels<'_>, u64)]) -> std::fmt::Result {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, v) in samples {
            if labels.is_empty() {
                m.encode_counter::<NoLabelSet, _, u64>(v, None)?;
            } else {
                m.encode_family(labels)?.encode_counter::<NoLabelSet, _, u64>(v, None)?;
            }
        }
        Ok(())
    }

    fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) -> std::fmt::Result {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, v) in samples {
            if labels.is_empty() {
                m.encode_gauge(v)?;
            } else {
                m.encode_family(labels)?.encode_gauge(v)?;
            }
        }
        Ok(())
    }

    fn histogram(enc: &mut DescriptorEncoder, name: &str, help: &str, h: &LatencySnapshot) -> std::fmt::Result {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
        m.encode_histogram::<NoLabelSet>(h.sum_seconds(), h.count(), &h.prometheus_buckets(), None)
    }
}

fn one(v: u64) -> [(Labels<'static>, u64); 1] {
    [(Vec::new(), v)]
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let r = &self.report;
        let o = &r.operations;
        Scrape::counter(
            &mut e,
            "cache_gets",
            "Key lookups by the tier that answered and the outcome.",
            &[
                (vec![("tier", "l1"), ("outcome", "hit")], o.l1_hits),
                (vec![("tier", "l2"), ("outcome", "hit")], o.l2_hits),
                (vec![("tier", "l2"), ("outcome", "miss")], o.l2_misses),
            ],
        )?;
        Scrape::counter(&mut e, "cache_sets", "Keys written.", &one(o.sets))?;
        Scrape::counter(&mut e, "cache_deletes", "Delete calls.", &one(o.deletes))?;
        Scrape::histogram(&mut e, "cache_get_duration_seconds", "Latency of a key lookup (an L1 hit, or the Redis round trip).", &self.get)?;
        Scrape::histogram(&mut e, "cache_set_duration_seconds", "Latency of a key write (the Redis round trip).", &self.set)?;
        Scrape::gauge(
            &mut e,
            "cache_hit_ratio",
            "Hit rates (0-1) by tier; total is hits at either tier over lookups.",
            &[
                (vec![("tier", "total")], r.hit_rate.total / 100.0),
                (vec![("tier", "l1")], r.hit_rate.l1 / 100.0),
                (vec![("tier", "l2")], r.hit_rate.l2 / 100.0),
            ],
        )?;
        Scrape::gauge(&mut e, "l1_entries", "Entries held in L1.", &[(Vec::new(), r.l1.size as f64)])?;
        Scrape::gauge(&mut e, "l1_capacity_entries", "L1 capacity.", &[(Vec::new(), r.l1.max_size as f64)])?;
        Scrape::counter(&mut e, "l1_clears", "Times L1 was cleared whole.", &one(r.l1.clears))?;
        Scrape::counter(&mut e, "l2_errors", "Failed Redis calls and undecodable entries.", &one(r.errors.l2))?;
        Scrape::counter(&mut e, "l2_timeouts", "Redis commands that timed out.", &one(r.errors.timeouts))?;
        Scrape::counter(&mut e, "l2_corrupt_entries", "Entries that did not decode.", &one(r.errors.corrupt_entries))?;
        Scrape::counter(&mut e, "l2_recoveries", "Times the Redis connection came back after failing.", &one(r.redis.recoveries))?;
        Scrape::gauge(&mut e, "l2_degraded", "1 while the last Redis calls failed (serving from L1).", &[(Vec::new(), f64::from(u8::from(r.redis.degraded)))])?;
        Scrape::counter(
            &mut e,
            "breaker_transitions",
            "Circuit breaker state changes, by the state entered.",
            &[
                (vec![("to", "open")], r.redis.breaker_opened),
                (vec![("to", "half-open")], r.redis.breaker_half_opened),
                (vec![("to", "closed")], r.redis.breaker_closed),
            ],
        )?;
        Scrape::gauge(
            &mut e,
            "breaker_state",
            "1 for the circuit breaker's current state.",
            &["closed", "open", "half-open"].map(|s| (vec![("state", s)], f64::from(u8::from(r.redis.breaker_state == s)))),
        )?;
        Scrape::counter(
            &mut e,
            "bus_messages",
            "Invalidation bus messages, received from other processes (in) and published (out).",
            &[(vec![("direction", "in")], r.bus.messages_in), (vec![("direction", "out")], r.bus.messages_out)],
        )?;
        Scrape::counter(&mut e, "bus_reconnects", "Times the bus subscriber reconnected (each cleared L1).", &one(r.bus.reconnects))?;
        Scrape::counter(&mut e, "bus_tracked_evictions", "L1 evictions caused by writes from outside the library.", &one(r.bus.tracked_evictions))?;
        Scrape::gauge(&mut e, "bus_live", "1 while the bus is subscribed, live and tracking.", &[(Vec::new(), f64::from(u8::from(r.bus.tracking)))])?;
        let a = &r.cache_aside;
        Scrape::counter(&mut e, "cache_aside_loads", "Cache-aside loader runs.", &one(a.loads))?;
        Scrape::counter(&mut e, "cache_aside_joins", "Cache-aside callers that joined a running load (single-flight).", &one(a.joins))?;
        Scrape::counter(&mut e, "cache_aside_lock_waits", "Cache-aside loads that waited for another process's lock.", &one(a.lock_waits))?;
        Scrape::counter(&mut e, "cache_aside_load_errors", "Cache-aside loads that failed.", &one(a.load_errors))?;
        Scrape::counter(&mut e, "cache_aside_stale_served", "Calls answered with fail-safe's stale value.", &one(a.stale_served))?;
        let w = &r.write_behind;
        Scrape::gauge(&mut e, "write_behind_queue_depth", "Write-behind writes waiting.", &[(Vec::new(), w.queue_depth as f64)])?;
        Scrape::counter(&mut e, "write_behind_flushes", "Write-behind flush rounds that had work.", &one(w.flushes))?;
        Scrape::counter(&mut e, "write_behind_written", "Write-behind writes done.", &one(w.written))?;
        Scrape::counter(&mut e, "write_behind_coalesced", "Write-behind writes replaced before they ran.", &one(w.coalesced))?;
        Scrape::counter(&mut e, "write_behind_retries", "Write-behind attempts retried.", &one(w.retries))?;
        Scrape::counter(&mut e, "write_behind_given_up", "Write-behind writes given up after their retries.", &one(w.given_up))?;
        let decisions: Vec<(Labels<'_>, u64)> = r
            .rate_limit
            .by_algorithm
            .iter()
            .flat_map(|d| {
                [
                    (vec![("algorithm", d.algorithm), ("outcome", "allowed")], d.allowed),
                    (vec![("algorithm", d.algorithm), ("outcome", "denied")], d.denied),
                ]
            })
            .collect();
        if !decisions.is_empty() {
            Scrape::counter(&mut e, "rate_limit_decisions", "Rate-limit decisions by algorithm and outcome.", &decisions)?;
        }
        Scrape::counter(&mut e, "rate_limit_local_fallbacks", "Rate-limit decisions taken without Redis.", &one(r.rate_limit.local_fallbacks))?;
        Scrape::counter(
            &mut e,
            "sessions",
            "Session events.",
            &[
                (vec![("event", "created")], r.sessions.created),
                (vec![("event", "evicted")], r.sessions.evicted),
                (vec![("event", "deleted")], r.sessions.deleted),
            ],
        )?;
        Scrape::counter(
            &mut e,
            "warming_runs",
            "Cache warming runs by outcome (skipped: another process ran the period).",
            &[
                (vec![("outcome", "ok")], r.warming.runs),
                (vec![("outcome", "failed")], r.warming.failures),
                (vec![("outcome", "skipped")], r.warming.skipped),
            ],
        )?;
        Scrape::counter(&mut e, "warming_entries", "Entries written by cache warming.", &one(r.warming.entries))?;
        Scrape::counter(
            &mut e,
            "invalidations",
            "Invalidations made by this process, by type (keys and tags count each one named).",
            &[
                (vec![("type", "key")], r.invalidations.keys),
                (vec![("type", "tag")], r.invalidations.tags),
                (vec![("type", "pattern")], r.invalidations.patterns),
            ],
        )?;
        Scrape::gauge(
            &mut e,
            "health_status",
            "1 for the current health status (without a PING: from the last calls).",
            &["healthy", "degraded", "unhealthy"].map(|s| (vec![("status", s)], f64::from(u8::from(r.health.status == s)))),
        )?;
        Scrape::gauge(&mut e, "uptime_seconds", "Seconds since this cache system started.", &[(Vec::new(), r.health.uptime as f64 / 1e3)])?;
        Ok(())
    }
}

/// The exposition of `system` now.
pub(super) fn exposition(system: &StrataCache) -> String {
    let metrics = system.manager().metrics();
    let scrape = Scrape {
        report: MetricsReport::of(system),
        get: metrics.get_latency(),
        set: metrics.set_latency.snapshot(),
    };
    let ns: Cow<'static, str> = Cow::Owned(system.redis_config().namespace.clone());
    let mut registry = Registry::with_prefix_and_labels("stratacache", [(Cow::Borrowed("namespace"), ns)].into_iter());
    registry.register_collector(Box::new(scrape));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("writing to a String cannot fail");
    out
}
