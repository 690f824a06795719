//! One latency distribution: an atomic log-linear histogram (the `histogram` crate) plus the exact
//! sum and maximum, read as a summary in milliseconds or as Prometheus buckets in seconds.

use std::sync::atomic::{AtomicU64, Ordering};

use histogram::{AtomicHistogram, Histogram};

/// Relative precision 2^-5 (≈ 3 %), values up to 2^36 ns (≈ 69 s; longer ones count as that):
/// 1,024 buckets, 8 KiB.
const GROUPING_POWER: u8 = 5;
const MAX_VALUE_POWER: u8 = 36;

/// The `le` bounds of the Prometheus histograms, in seconds (10 µs … 10 s).
pub const PROMETHEUS_BOUNDS_SECONDS: [f64; 19] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// A started measurement (a TSC read through `quanta`: a few ns).
#[derive(Debug, Clone, Copy)]
pub struct Timer(quanta::Instant);

impl Timer {
    /// Start now.
    #[inline]
    pub fn start() -> Self {
        Timer(quanta::Instant::now())
    }

    /// Nanoseconds since the start.
    #[inline]
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A latency distribution, recorded from any thread without locks.
#[derive(Debug)]
pub struct Latency {
    buckets: AtomicHistogram,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

/// A latency summary in milliseconds, as `getMetricsJSON()` reports it (zeros before any sample).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    /// Operations recorded.
    pub count: u64,
    /// Mean.
    pub avg: f64,
    /// Median (upper edge of its bucket: within 3 %).
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest recorded (exact).
    pub max: f64,
}

/// A consistent read of one [`Latency`].
#[derive(Debug, Clone)]
pub struct LatencySnapshot {
    buckets: Histogram,
    sum_ns: u64,
    max_ns: u64,
}

impl Latency {
    /// Empty.
    pub fn new() -> Self {
        Latency {
            buckets: AtomicHistogram::new(GROUPING_POWER, MAX_VALUE_POWER).expect("valid histogram parameters"),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }

    /// Record `n` operations that took `ns` each.
    #[inline]
    pub fn record(&self, ns: u64, n: u64) {
        let clamped = ns.min((1u64 << MAX_VALUE_POWER) - 1);
        // Cannot fail: the value is clamped into the histogram's range.
        let _ = self.buckets.add(clamped, n);
        self.sum_ns.fetch_add(ns.saturating_mul(n), Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Read it.
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: self.buckets.load(),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
            max_ns: self.max_ns.load(Ordering::Relaxed),
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

const NS_PER_MS: f64 = 1e6;

impl LatencySnapshot {
    /// This distribution plus `total` operations distributed like `samples` (a sample of them):
    /// each sampled bucket scaled by `total / samples.count()`, rounded so the added counts sum to
    /// exactly `total`; the sum scaled likewise; the maximum is the larger observed one. With no
    /// samples, the `total` operations count in the lowest bucket (took no measurable time).
    pub fn with_sampled(mut self, samples: &LatencySnapshot, total: u64) -> LatencySnapshot {
        if total == 0 {
            return self;
        }
        let sampled = samples.count();
        let dst = self.buckets.as_mut_slice();
        if sampled == 0 {
            dst[0] += total;
            return self;
        }
        let src = samples.buckets.as_slice();
        let mut added = 0u64;
        let mut largest = 0usize;
        for (i, &c) in src.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if c > src[largest] {
                largest = i;
            }
            let n = (u128::from(c) * u128::from(total) / u128::from(sampled)) as u64;
            dst[i] += n;
            added += n;
        }
        dst[largest] += total - added; // rounding: every operation counted once
        self.sum_ns += (u128::from(samples.sum_ns) * u128::from(total) / u128::from(sampled)) as u64;
        self.max_ns = self.max_ns.max(samples.max_ns);
        self
    }

    /// Operations recorded (the sum of the buckets).
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.count()).sum()
    }

    /// Sum of all recorded latencies, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// Count, mean, quantiles and maximum in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        let count = self.count();
        if count == 0 {
            return LatencySummary { count: 0, avg: 0.0, p50: 0.0, p95: 0.0, p99: 0.0, max: 0.0 };
        }
        let q = self.buckets.quantiles(&[0.5, 0.95, 0.99]).ok().flatten();
        let at = |i: usize| -> f64 {
            q.as_ref()
                .and_then(|r| r.entries().values().nth(i).map(|b| b.end() as f64 / NS_PER_MS))
                .unwrap_or(0.0)
        };
        let max = self.max_ns as f64 / NS_PER_MS;
        LatencySummary {
            count,
            avg: self.sum_ns as f64 / count as f64 / NS_PER_MS,
            // A bucket's upper edge can pass the exact maximum; no quantile is above it.
            p50: at(0).min(max),
            p95: at(1).min(max),
            p99: at(2).min(max),
            max,
        }
    }

    /// Per-bound counts for a Prometheus histogram (bounds in seconds; not cumulative: the encoder
    /// sums them). A bucket of the underlying histogram counts under the first bound at or above its
    /// upper edge, so a bound's count can miss values within 3 % below it; never values above.
    pub fn prometheus_buckets(&self) -> Vec<(f64, u64)> {
        let mut out: Vec<(f64, u64)> = PROMETHEUS_BOUNDS_SECONDS.iter().map(|b| (*b, 0)).collect();
        for b in self.buckets.iter().filter(|b| b.count() > 0) {
            let end_s = b.end() as f64 / 1e9;
            if let Some(slot) = out.iter_mut().find(|(bound, _)| end_s <= *bound) {
                slot.1 += b.count();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_in_milliseconds() {
        let l = Latency::new();
        for ms in 1..=100u64 {
            l.record(ms * 1_000_000, 1);
        }
        let s = l.snapshot().summary();
        assert_eq!(s.count, 100);
        assert!((s.avg - 50.5).abs() < 1e-9, "{s:?}");
        assert!((s.p50 - 50.0).abs() / 50.0 < 0.04, "{s:?}");
        assert!((s.p99 - 99.0).abs() / 99.0 < 0.04, "{s:?}");
        assert_eq!(s.max, 100.0);
    }

    #[test]
    fn prometheus_buckets_partition_the_count() {
        let l = Latency::new();
        l.record(5_000, 3); // 5 µs
        l.record(2_000_000, 2); // 2 ms
        l.record(60_000_000_000, 1); // 60 s: only in +Inf
        let snap = l.snapshot();
        let b = snap.prometheus_buckets();
        assert_eq!(b[0], (0.00001, 3));
        assert_eq!(b.iter().find(|(le, _)| *le == 0.0025).unwrap().1, 2);
        assert_eq!(b.iter().map(|(_, c)| c).sum::<u64>(), 5);
        assert_eq!(snap.count(), 6);
    }

    #[test]
    fn sampled_operations_count_exactly_and_scale_the_sum() {
        let exact = Latency::new();
        exact.record(100_000, 2); // two L2 gets of 100 µs
        let samples = Latency::new();
        samples.record(200, 3); // three sampled L1 hits of 200 ns
        samples.record(400, 1);
        let merged = exact.snapshot().with_sampled(&samples.snapshot(), 1_000);
        assert_eq!(merged.count(), 1_002, "every operation exactly once");
        let s = merged.summary();
        // 750 hits at ~200 ns, 250 at ~400 ns, 2 at 100 µs.
        let expected_sum_ms = (1_000.0 * 250.0 + 200_000.0) / 1e6;
        assert!((s.avg * 1_002.0 - expected_sum_ms).abs() < 1e-9, "{s:?}");
        assert!(s.p50 < 0.001 && s.max >= 0.1, "{s:?}");
        assert_eq!(Latency::new().snapshot().with_sampled(&Latency::new().snapshot(), 5).count(), 5);
    }

    #[test]
    fn empty_summary_is_zero() {
        assert_eq!(Latency::new().snapshot().summary().count, 0);
    }
}
