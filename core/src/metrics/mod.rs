//! What every component records for `cacheMetrics`: counters, and the latencies of gets and sets.
//!
//! One [`Metrics`] per system, shared (`Arc`) by every component that records into it. Recording is
//! one relaxed atomic add per counter; a latency is two reads of a TSC clock ([`quanta`]) and one
//! atomic bucket increment ([`histogram::AtomicHistogram`], log-linear buckets, ≤ 3 % relative
//! error). Nothing is hand-rolled: the quantiles come from the `histogram` crate and the
//! exposition from `prometheus-client` (`crate::monitor`).
//!
//! Recording can be switched off ([`Metrics::set_enabled`], the bindings' `skipMetrics: true`):
//! then only the counters `getStats()` reports keep counting (they live with their components).

pub mod latency;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use latency::{Latency, LatencySnapshot, LatencySummary, Timer, PROMETHEUS_BOUNDS_SECONDS};

/// One L1 hit in this many (per thread, the first included) is timed; the others are counted and
/// distributed like the timed ones. An L1 hit costs ~100–300 ns, and two clock reads would be a
/// fifth of that; a 1-in-64 sample of a distribution this narrow loses nothing a dashboard shows.
pub const L1_HIT_SAMPLE: u32 = 64;

thread_local! {
    static L1_LOOKUPS: Cell<u32> = const { Cell::new(0) };
}

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// Rate-limit algorithms, in the order of [`RateLimitCounters`] (their contract names).
pub const ALGORITHMS: [&str; 5] = ["fixed-window", "sliding-log", "sliding-counter", "token-bucket", "leaky-bucket"];

/// Decisions of one algorithm.
#[derive(Debug, Default)]
pub struct Decisions {
    /// Calls admitted.
    pub allowed: Counter,
    /// Calls refused.
    pub denied: Counter,
}

/// Rate-limit decisions by algorithm (index into [`ALGORITHMS`]).
#[derive(Debug, Default)]
pub struct RateLimitCounters {
    /// Per algorithm, in [`ALGORITHMS`] order.
    pub by_algorithm: [Decisions; 5],
}

/// The switch shared by the systems a binding creates (so `skipMetrics` outlives a re-open).
#[derive(Debug, Clone)]
pub struct MetricsSwitch(Arc<AtomicBool>);

impl Default for MetricsSwitch {
    fn default() -> Self {
        MetricsSwitch(Arc::new(AtomicBool::new(true)))
    }
}

impl MetricsSwitch {
    /// Turn recording on or off.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    /// Whether recording is on.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything recorded beyond the components' own `getStats()` counters.
#[derive(Debug)]
pub struct Metrics {
    switch: MetricsSwitch,
    started: Instant,
    /// Latency of gets answered past L1 (the Redis round trip), per key read; see
    /// [`Metrics::get_latency`] for all gets.
    pub get_latency_past_l1: Latency,
    /// Timed L1 hits (1 in [`L1_HIT_SAMPLE`]).
    pub l1_hit_samples: Latency,
    /// L1 hits while recording was on (all of them, timed or not).
    pub l1_hits: Counter,
    /// Latency of sets, per key written (the Redis round trip).
    pub set_latency: Latency,
    /// Keys written (`set`, `mset` items, write-through and loaded values stored).
    pub sets: Counter,
    /// `del` calls.
    pub deletes: Counter,
    /// Redis commands that timed out (`commandTimeoutMs`).
    pub l2_timeouts: Counter,
    /// Times the data connection came back after a failure.
    pub l2_recoveries: Counter,
    /// Breaker transitions to open.
    pub breaker_opened: Counter,
    /// Breaker transitions to half-open (a probe allowed through).
    pub breaker_half_opened: Counter,
    /// Breaker transitions back to closed.
    pub breaker_closed: Counter,
    /// Bus messages this process published.
    pub bus_published: Counter,
    /// Cache-aside loads run (this process led the load).
    pub aside_loads: Counter,
    /// Cache-aside callers that joined a load already running (single-flight).
    pub aside_joins: Counter,
    /// Cache-aside loads that waited for another process's lock.
    pub aside_lock_waits: Counter,
    /// Cache-aside loads that failed (the loader threw or returned garbage).
    pub aside_load_errors: Counter,
    /// Calls answered with fail-safe's stale value.
    pub aside_stale_served: Counter,
    /// Write-behind flush rounds that wrote something.
    pub write_behind_flushes: Counter,
    /// Rate-limit decisions by algorithm and outcome.
    pub rate_limit: RateLimitCounters,
    /// Sessions created.
    pub sessions_created: Counter,
    /// Sessions evicted by `maxDevices`.
    pub sessions_evicted: Counter,
    /// Sessions deleted (`deleteSession`, `deleteUserSessions`).
    pub sessions_deleted: Counter,
    /// Warming runs that completed.
    pub warming_runs: Counter,
    /// Warming runs that failed.
    pub warming_failures: Counter,
    /// Entries written by warming.
    pub warming_entries: Counter,
    /// Scheduled periods this process skipped because another process ran them (or was running).
    pub warming_skipped: Counter,
    /// Invalidations by key (keys named).
    pub invalidated_keys: Counter,
    /// Invalidations by tag (tags named).
    pub invalidated_tags: Counter,
    /// Invalidations by pattern.
    pub invalidated_patterns: Counter,
}

impl Metrics {
    /// Fresh counters, recording while `switch` is on.
    pub fn new(switch: MetricsSwitch) -> Self {
        Metrics {
            switch,
            started: Instant::now(),
            get_latency_past_l1: Latency::new(),
            l1_hit_samples: Latency::new(),
            l1_hits: Counter::default(),
            set_latency: Latency::new(),
            sets: Counter::default(),
            deletes: Counter::default(),
            l2_timeouts: Counter::default(),
            l2_recoveries: Counter::default(),
            breaker_opened: Counter::default(),
            breaker_half_opened: Counter::default(),
            breaker_closed: Counter::default(),
            bus_published: Counter::default(),
            aside_loads: Counter::default(),
            aside_joins: Counter::default(),
            aside_lock_waits: Counter::default(),
            aside_load_errors: Counter::default(),
            aside_stale_served: Counter::default(),
            write_behind_flushes: Counter::default(),
            rate_limit: RateLimitCounters::default(),
            sessions_created: Counter::default(),
            sessions_evicted: Counter::default(),
            sessions_deleted: Counter::default(),
            warming_runs: Counter::default(),
            warming_failures: Counter::default(),
            warming_entries: Counter::default(),
            warming_skipped: Counter::default(),
            invalidated_keys: Counter::default(),
            invalidated_tags: Counter::default(),
            invalidated_patterns: Counter::default(),
        }
    }

    /// Whether recording is on.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.switch.is_on()
    }

    /// Turn recording on or off (for every system sharing this switch).
    pub fn set_enabled(&self, on: bool) {
        self.switch.set(on);
    }

    /// Time since this system started.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Add one to `c` (when recording is on).
    #[inline]
    pub fn inc(&self, c: &Counter) {
        self.add(c, 1);
    }

    /// Add `n` to `c` (when recording is on).
    #[inline]
    pub fn add(&self, c: &Counter, n: u64) {
        if n > 0 && self.enabled() {
            c.add(n);
        }
    }

    /// A started timer when recording is on (`None` costs nothing to finish).
    #[inline]
    pub fn timer(&self) -> Option<Timer> {
        self.enabled().then(Timer::start)
    }

    /// Record `n` operations that took the time since `timer` started, each, into `latency`.
    #[inline]
    pub fn observe(&self, latency: &Latency, timer: Option<Timer>, n: u64) {
        if let Some(t) = timer {
            latency.record(t.elapsed_ns(), n);
        }
    }

    /// Before an L1 lookup: a timer for the 1 in [`L1_HIT_SAMPLE`] lookups of this thread that are
    /// timed (`None` for the others, and when recording is off). Costs a thread-local increment.
    #[inline]
    pub fn l1_timer(&self) -> Option<Timer> {
        if !self.enabled() {
            return None;
        }
        L1_LOOKUPS.with(|n| {
            let v = n.get();
            n.set(v.wrapping_add(1));
            (v % L1_HIT_SAMPLE == 0).then(Timer::start)
        })
    }

    /// After an L1 lookup that hit, with the timer [`Metrics::l1_timer`] gave (when recording is on).
    #[inline]
    pub fn l1_hit(&self, timer: Option<Timer>) {
        if self.enabled() {
            self.l1_hits.add(1);
            if let Some(t) = timer {
                self.l1_hit_samples.record(t.elapsed_ns(), 1);
            }
        }
    }

    /// Every get: the ones answered past L1, exactly, plus every L1 hit distributed like the timed
    /// ones (its count is exact).
    pub fn get_latency(&self) -> LatencySnapshot {
        self.get_latency_past_l1.snapshot().with_sampled(&self.l1_hit_samples.snapshot(), self.l1_hits.get())
    }

    /// Record one rate-limit decision of `algorithm` (a name in [`ALGORITHMS`]).
    pub fn rate_limit_decision(&self, algorithm: &str, allowed: bool) {
        if let Some(i) = ALGORITHMS.iter().position(|a| *a == algorithm) {
            let d = &self.rate_limit.by_algorithm[i];
            self.inc(if allowed { &d.allowed } else { &d.denied });
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(MetricsSwitch::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_only_while_enabled() {
        let m = Metrics::default();
        m.inc(&m.sets);
        m.add(&m.deletes, 3);
        m.set_enabled(false);
        m.inc(&m.sets);
        assert!(m.timer().is_none());
        m.set_enabled(true);
        assert_eq!((m.sets.get(), m.deletes.get()), (1, 3));
    }

    #[test]
    fn rate_limit_decisions_by_algorithm() {
        let m = Metrics::default();
        m.rate_limit_decision("token-bucket", true);
        m.rate_limit_decision("token-bucket", false);
        m.rate_limit_decision("no-such", true);
        let d = &m.rate_limit.by_algorithm[3];
        assert_eq!((d.allowed.get(), d.denied.get()), (1, 1));
    }
}
