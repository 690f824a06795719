//! Rate limiting: five algorithms, each one atomic Redis decision (one `.lua` file per algorithm,
//! run through `redis::Script`: EVALSHA, reloaded on `NOSCRIPT`, so `SCRIPT FLUSH` or a restart is
//! invisible), with Redis's own clock, one key per identifier and algorithm, and a policy for when
//! Redis cannot be reached.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{ns}:rl:{identifier}:fw` | hash | fixed window: `w` (window start), `c` (count) |
//! | `{ns}:rl:{identifier}:sl` | zset | sliding log: one member per admitted unit, never more than `maxRequests` |
//! | `{ns}:rl:{identifier}:sc` | hash | sliding counter: `w`, `cur`, `prev` |
//! | `{ns}:rl:{identifier}:tb` | hash | token bucket: `t` (tokens), `ts` |
//! | `{ns}:rl:{identifier}:lb` | hash | leaky bucket: `l` (level), `ts` |
//!
//! The identifier sits in a hash tag, so every key of one identifier lives in one Cluster slot. Every
//! key expires when its state stops mattering. The in-process twin of every script is
//! [`algorithm::LocalLimiter`] (the `local` policy), which makes the same decisions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use crate::clock::now_ms;

use redis::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::key::validate_key;
use crate::manager::CacheManager;

pub mod algorithm;
mod batch;
pub mod headers;
pub mod presets;

pub use algorithm::{Algorithm, Decision, LocalLimiter, Params};
pub use batch::RateLimitCall;
pub use headers::headers;
pub use presets::{preset, Preset, PRESETS};

/// What a decision does when Redis cannot be reached (connection refused, timeout, breaker open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisErrorPolicy {
    /// Admit every call (fail open).
    Allow,
    /// Refuse every call (fail closed).
    Deny,
    /// Decide in this process with the same algorithm (the default). Limits are then per process
    /// until Redis answers again; the next decision after that is shared again.
    #[default]
    Local,
}

impl RedisErrorPolicy {
    /// Parse `allow`, `deny` or `local`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(RedisErrorPolicy::Allow),
            "deny" => Some(RedisErrorPolicy::Deny),
            "local" => Some(RedisErrorPolicy::Local),
            _ => None,
        }
    }
}

/// Options of `limit(identifier, options)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitOptions {
    /// The window in ms (for the buckets: `maxRequests` refill/leak over this time).
    pub window_ms: u64,
    /// `N`: units admitted per window (the bucket's capacity for the buckets).
    pub max_requests: u64,
    /// The algorithm (default `sliding-counter`).
    pub algorithm: Algorithm,
    /// Units this call consumes (default 1).
    pub cost: u64,
    /// What to do when Redis cannot be reached.
    pub on_redis_error: RedisErrorPolicy,
}

impl LimitOptions {
    /// `max_requests` per `window_ms` with the default algorithm, cost 1 and the `local` policy.
    pub fn new(window_ms: u64, max_requests: u64) -> Self {
        LimitOptions {
            window_ms,
            max_requests,
            algorithm: Algorithm::default(),
            cost: 1,
            on_redis_error: RedisErrorPolicy::default(),
        }
    }

    /// The same options with another algorithm.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The same options with another cost.
    pub fn cost(mut self, cost: u64) -> Self {
        self.cost = cost;
        self
    }

    /// The same options with another Redis-error policy.
    pub fn on_redis_error(mut self, policy: RedisErrorPolicy) -> Self {
        self.on_redis_error = policy;
        self
    }
}

/// Options of `tokenBucket` and `leakyBucket`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketOptions {
    /// The window in ms: the default rate is `maxRequests` per window; `retryAfter` is at most this.
    pub window_ms: u64,
    /// Units per window (the default capacity and rate).
    pub max_requests: u64,
    /// Tokens refilled (token bucket) or units leaked (leaky bucket) per second; default
    /// `maxRequests` per window.
    pub rate_per_sec: Option<f64>,
    /// Capacity; default `maxRequests`.
    pub bucket_size: Option<u64>,
    /// Units this call consumes (default 1).
    pub cost: u64,
    /// What to do when Redis cannot be reached.
    pub on_redis_error: RedisErrorPolicy,
}

/// One decision, as the guide's middleware reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitResult {
    /// Whether the call is admitted.
    pub allowed: bool,
    /// The limit: `maxRequests`, or the bucket's capacity.
    pub total: u64,
    /// Units left after this decision.
    pub remaining: u64,
    /// When the state is fully reset (window end, bucket full/empty), epoch ms.
    pub reset_time: u64,
    /// When denied: whole seconds to wait, `1..=ceil(window / 1 s)`.
    pub retry_after: Option<u64>,
}

/// Counters of the rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitStats {
    /// Decisions that admitted the call.
    pub allowed: u64,
    /// Decisions that refused it.
    pub denied: u64,
    /// Decisions taken without Redis (by the `onRedisError` policy).
    pub fallbacks: u64,
}

const LOCAL_MAX_ENTRIES: usize = 100_000;
/// `N × window` must stay exact in the scripts' doubles (sliding counter).
const MAX_PRODUCT: u128 = 1 << 53;

/// The Lua source of an algorithm's script: `prelude.lua` (helpers, the key, the repeat count and
/// Redis's clock), its own file, then `repeat.lua` (the loop that decides `ARGV[4]` identical calls in
/// a row); the prelude and the loop are shared by every algorithm.
pub fn script_source(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::FixedWindow => concat!(include_str!("prelude.lua"), include_str!("fixed_window.lua"), include_str!("repeat.lua")),
        Algorithm::SlidingLog => concat!(include_str!("prelude.lua"), include_str!("sliding_log.lua"), include_str!("repeat.lua")),
        Algorithm::SlidingCounter => concat!(include_str!("prelude.lua"), include_str!("sliding_counter.lua"), include_str!("repeat.lua")),
        Algorithm::TokenBucket => concat!(include_str!("prelude.lua"), include_str!("token_bucket.lua"), include_str!("repeat.lua")),
        Algorithm::LeakyBucket => concat!(include_str!("prelude.lua"), include_str!("leaky_bucket.lua"), include_str!("repeat.lua")),
    }
}

fn script(algorithm: Algorithm) -> &'static redis::Script {
    static CELLS: [OnceLock<redis::Script>; 5] = [const { OnceLock::new() }; 5];
    let i = match algorithm {
        Algorithm::FixedWindow => 0,
        Algorithm::SlidingLog => 1,
        Algorithm::SlidingCounter => 2,
        Algorithm::TokenBucket => 3,
        Algorithm::LeakyBucket => 4,
    };
    CELLS[i].get_or_init(|| redis::Script::new(script_source(algorithm)))
}


/// A rate (per ms) as the scripts read it: the shortest text that reads back as the same double, so
/// Lua and [`LocalLimiter`] compute with the same number.
fn rate_arg(rate_per_ms: f64) -> String {
    format!("{rate_per_ms}")
}

fn check_limits(window_ms: u64, limit: u64, what: &str) -> Result<()> {
    if window_ms == 0 || window_ms > 31_536_000_000 {
        return Err(Error::invalid_argument(format!("windowMs must be between 1 and 31536000000 (a year), got {window_ms}")));
    }
    if limit == 0 {
        return Err(Error::invalid_argument(format!("{what} must be a whole number >= 1, got 0")));
    }
    if (window_ms as u128) * (limit as u128) >= MAX_PRODUCT {
        return Err(Error::invalid_argument(format!(
            "{what} × windowMs must be below 2^53 to count exactly, got {limit} × {window_ms}"
        )));
    }
    Ok(())
}

/// The rate limiter of one system.
pub struct RateLimiter {
    manager: Arc<CacheManager>,
    local: LocalLimiter,
    allowed: AtomicU64,
    denied: AtomicU64,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("stats", &self.stats()).finish()
    }
}

impl RateLimiter {
    pub(crate) fn new(manager: Arc<CacheManager>) -> Self {
        RateLimiter {
            manager,
            local: LocalLimiter::new(LOCAL_MAX_ENTRIES),
            allowed: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// One decision for `identifier` with any of the five algorithms.
    pub async fn limit(&self, identifier: &str, opts: &LimitOptions) -> Result<RateLimitResult> {
        let params = limit_params(opts)?;
        self.decide(identifier, opts.algorithm, params, opts.on_redis_error).await
    }

    /// A token-bucket decision: bursts up to `bucketSize`, refilled at `refillRate` per second.
    pub async fn token_bucket(&self, identifier: &str, opts: &BucketOptions) -> Result<RateLimitResult> {
        let params = bucket_params(opts, "refillRate")?;
        self.decide(identifier, Algorithm::TokenBucket, params, opts.on_redis_error).await
    }

    /// A leaky-bucket decision: at most `bucketSize` waiting, drained at `leakRate` per second.
    pub async fn leaky_bucket(&self, identifier: &str, opts: &BucketOptions) -> Result<RateLimitResult> {
        let params = bucket_params(opts, "leakRate")?;
        self.decide(identifier, Algorithm::LeakyBucket, params, opts.on_redis_error).await
    }

    /// Forget every algorithm's state of `identifier`, in Redis (one `UNLINK`) and in this process.
    pub async fn reset(&self, identifier: &str) -> Result<()> {
        self.check_identifier(identifier)?;
        self.local.reset(identifier);
        let Some(l2) = self.manager.l2() else { return Ok(()) };
        let keys = self.manager.keys();
        let mut cmd = redis::cmd("UNLINK");
        for a in Algorithm::ALL {
            cmd.arg(keys.rate_limit(identifier, a.key_suffix()));
        }
        l2.command(cmd).await.map(|_| ())
    }

    /// Counters since the system started.
    pub fn stats(&self) -> RateLimitStats {
        RateLimitStats {
            allowed: self.allowed.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
        }
    }

    fn check_identifier(&self, identifier: &str) -> Result<()> {
        validate_key(identifier, self.manager.config().max_key_bytes)
            .map_err(|e| Error::new(ErrorKind::InvalidKey, e.message().replacen("key", "identifier", 1)))
    }

    async fn decide(&self, identifier: &str, algorithm: Algorithm, params: Params, policy: RedisErrorPolicy) -> Result<RateLimitResult> {
        self.check_identifier(identifier)?;
        let decision = match self.manager.l2() {
            None => self.fallback(identifier, algorithm, &params, RedisErrorPolicy::Local),
            Some(l2) => {
                let key = self.manager.keys().rate_limit(identifier, algorithm.key_suffix());
                let args = script_args(algorithm, &params, 1);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match l2.script(script(algorithm), &[&key], &args).await {
                    Ok(v) => parse_replies(&v, 1)?[0],
                    Err(e) if e.is_unavailable() => self.fallback(identifier, algorithm, &params, policy),
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(self.record(decision, algorithm, &params))
    }

    /// Count a decision and turn it into the result the user sees.
    fn record(&self, decision: Decision, algorithm: Algorithm, params: &Params) -> RateLimitResult {
        self.manager.metrics().rate_limit_decision(algorithm.name(), decision.allowed);
        if decision.allowed {
            self.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.denied.fetch_add(1, Ordering::Relaxed);
        }
        result_of(decision, params.limit, params.cost, params.window_ms)
    }

    fn fallback(&self, identifier: &str, algorithm: Algorithm, params: &Params, policy: RedisErrorPolicy) -> Decision {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        match policy {
            RedisErrorPolicy::Local => self.local.decide(algorithm, identifier, params, now),
            RedisErrorPolicy::Allow => Decision {
                allowed: true,
                remaining: params.limit.saturating_sub(params.cost),
                reset_ms: now + params.window_ms,
                retry_after_ms: 0,
            },
            RedisErrorPolicy::Deny => Decision {
                allowed: false,
                remaining: 0,
                reset_ms: now + params.window_ms,
                retry_after_ms: params.window_ms,
            },
        }
    }
}

/// `ARGV` of a script deciding `n` identical calls in a row: `window, limit, cost, n` (buckets:
/// `capacity, rate per ms, cost, n`).
fn script_args(algorithm: Algorithm, params: &Params, n: usize) -> Vec<String> {
    let first = match algorithm {
        Algorithm::TokenBucket | Algorithm::LeakyBucket => params.limit.to_string(),
        _ => params.window_ms.to_string(),
    };
    let second = match algorithm {
        Algorithm::TokenBucket | Algorithm::LeakyBucket => rate_arg(params.rate_per_ms),
        _ => params.limit.to_string(),
    };
    vec![first, second, params.cost.to_string(), n.to_string()]
}

fn check_cost(cost: u64) -> Result<u64> {
    if cost == 0 {
        return Err(Error::invalid_argument("cost must be a whole number >= 1, got 0"));
    }
    Ok(cost)
}

fn limit_params(opts: &LimitOptions) -> Result<Params> {
    check_limits(opts.window_ms, opts.max_requests, "maxRequests")?;
    let cost = check_cost(opts.cost)?;
    let rate_per_ms = opts.max_requests as f64 / opts.window_ms as f64;
    Ok(Params { window_ms: opts.window_ms, limit: opts.max_requests, cost, rate_per_ms })
}

fn bucket_params(opts: &BucketOptions, rate_name: &str) -> Result<Params> {
    check_limits(opts.window_ms, opts.max_requests, "maxRequests")?;
    let capacity = opts.bucket_size.unwrap_or(opts.max_requests);
    check_limits(opts.window_ms, capacity, "bucketSize")?;
    let rate_per_ms = match opts.rate_per_sec {
        None => opts.max_requests as f64 / opts.window_ms as f64,
        Some(r) if r.is_finite() && r > 0.0 && r <= 1e9 => r / 1000.0,
        Some(r) => {
            return Err(Error::invalid_argument(format!(
                "{rate_name} must be a number of units per second > 0 (at most 1e9), got {}",
                crate::options::fmt_number(r)
            )))
        }
    };
    // The scripts turn "time until full" into a key expiry in whole ms: it must stay a sane integer
    // (a tiny rate would overflow it, and a negative expiry deletes the state).
    let full_ms = capacity as f64 / rate_per_ms;
    if !(full_ms <= MAX_FILL_MS) {
        return Err(Error::invalid_argument(format!(
            "{rate_name} is too small: {} units at {} per second take more than a year (31536000000 ms) to fill or drain",
            capacity,
            crate::options::fmt_number(rate_per_ms * 1000.0)
        )));
    }
    Ok(Params { window_ms: opts.window_ms, limit: capacity, cost: check_cost(opts.cost)?, rate_per_ms })
}

/// Longest time a bucket may take to fill or drain (a year, as the longest `windowMs`).
const MAX_FILL_MS: f64 = 31_536_000_000.0;

/// The `n` decisions of one script reply: `{allowed, remaining, reset_ms, retry_after_ms}` per call,
/// then `now_ms`.
fn parse_replies(v: &Value, n: usize) -> Result<Vec<Decision>> {
    let bad = || Error::new(ErrorKind::Redis, format!("unexpected rate-limit script reply: {v:?}"));
    let Value::Array(items) = v else { return Err(bad()) };
    if items.len() != 4 * n + 1 {
        return Err(bad());
    }
    let mut nums = Vec::with_capacity(items.len());
    for item in items {
        nums.push(match item {
            Value::Int(i) if *i >= 0 => *i as u64,
            _ => return Err(bad()),
        });
    }
    Ok(nums
        .chunks_exact(4)
        .map(|c| Decision { allowed: c[0] == 1, remaining: c[1], reset_ms: c[2], retry_after_ms: c[3] })
        .collect())
}

/// The result the user sees: `retryAfter` in whole seconds, `1..=ceil(window)`, only when denied; a
/// cost above the limit can never be admitted, so it is told to wait the whole window.
fn result_of(d: Decision, total: u64, cost: u64, window_ms: u64) -> RateLimitResult {
    let max_secs = window_ms.div_ceil(1000).max(1);
    let retry_ms = if cost > total { u64::MAX } else { d.retry_after_ms };
    RateLimitResult {
        allowed: d.allowed,
        total,
        remaining: d.remaining.min(total),
        reset_time: d.reset_ms,
        retry_after: (!d.allowed).then(|| retry_ms.div_ceil(1000).clamp(1, max_secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_within_the_window() {
        let d = |ms| Decision { allowed: false, remaining: 0, reset_ms: 0, retry_after_ms: ms };
        assert_eq!(result_of(d(1), 5, 1, 60_000).retry_after, Some(1));
        assert_eq!(result_of(d(1_001), 5, 1, 60_000).retry_after, Some(2));
        assert_eq!(result_of(d(500_000), 5, 1, 60_000).retry_after, Some(60));
        assert_eq!(result_of(d(2_000), 5, 1, 500).retry_after, Some(1));
        assert_eq!(result_of(d(1), 5, 6, 60_000).retry_after, Some(60), "a cost above the limit waits the window");
        let ok = Decision { allowed: true, remaining: 4, reset_ms: 9, retry_after_ms: 0 };
        assert_eq!(result_of(ok, 5, 1, 1000).retry_after, None);
    }

    #[test]
    fn limits_are_checked_with_names() {
        assert!(check_limits(0, 5, "maxRequests").unwrap_err().message().contains("windowMs"));
        assert!(check_limits(1000, 0, "maxRequests").unwrap_err().message().contains("maxRequests"));
        assert!(check_limits(31_536_000_000, 1_000_000, "maxRequests").unwrap_err().message().contains("2^53"));
        assert!(check_limits(60_000, 100, "maxRequests").is_ok());
    }

    #[test]
    fn rates_read_back_exactly() {
        for r in [0.002, 1.0 / 3.0, 100.0 / 60_000.0, 1e-9] {
            assert_eq!(rate_arg(r).parse::<f64>().unwrap(), r);
        }
    }
}
