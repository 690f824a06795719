//! `redisRateLimiter` for JS: decisions start synchronously and settle through the batched
//! completions ([`crate::completion`]) with `[allowed (1|0), total, remaining, resetTime, retryAfter
//! (-1 when allowed)]`; the TS layer builds the result object. The core decides everything.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::dynopts;
use stratacache::ratelimit::{self, RateLimitResult};

use crate::error::{parse_json, IntoNapi};
use crate::system::NativeCache;

fn numbers(r: RateLimitResult) -> Vec<f64> {
    vec![
        if r.allowed { 1.0 } else { 0.0 },
        r.total as f64,
        r.remaining as f64,
        r.reset_time as f64,
        r.retry_after.map_or(-1.0, |s| s as f64),
    ]
}

/// Counters of the rate limiter.
#[napi(object)]
pub struct RateLimitStatsJs {
    /// Decisions that admitted the call.
    pub allowed: f64,
    /// Decisions that refused it.
    pub denied: f64,
    /// Decisions taken without Redis (the `onRedisError` policy).
    pub fallbacks: f64,
}

#[napi]
impl NativeCache {
    /// Start one decision; `options` = `{ windowMs, maxRequests, algorithm?, cost?, onRedisError? }` (JSON text).
    #[napi]
    pub fn rate_limit_start(&self, id: u32, identifier: String, options: String) -> Result<()> {
        let opts = dynopts::limit_options(parse_json("limit", Some(options))?).napi()?;
        let h = self.handle();
        self.completer()?.spawn(id, async move { h.rate_limiter().limit(&identifier, &opts).await.map(numbers) });
        Ok(())
    }

    /// Start a token-bucket decision; `{ windowMs, maxRequests, refillRate?, bucketSize?, cost?, onRedisError? }`.
    #[napi]
    pub fn token_bucket_start(&self, id: u32, identifier: String, options: String) -> Result<()> {
        let v = parse_json("tokenBucket", Some(options))?;
        let opts = dynopts::bucket_options(v, "tokenBucket", &["refillRate", "refill_rate"]).napi()?;
        let h = self.handle();
        self.completer()?.spawn(id, async move { h.rate_limiter().token_bucket(&identifier, &opts).await.map(numbers) });
        Ok(())
    }

    /// Start a leaky-bucket decision; `{ windowMs, maxRequests, leakRate?, bucketSize?, cost?, onRedisError? }`.
    #[napi]
    pub fn leaky_bucket_start(&self, id: u32, identifier: String, options: String) -> Result<()> {
        let v = parse_json("leakyBucket", Some(options))?;
        let opts = dynopts::bucket_options(v, "leakyBucket", &["leakRate", "leak_rate"]).napi()?;
        let h = self.handle();
        self.completer()?.spawn(id, async move { h.rate_limiter().leaky_bucket(&identifier, &opts).await.map(numbers) });
        Ok(())
    }

    /// Forget every algorithm's state of `identifier`, in Redis and in this process.
    #[napi]
    pub async fn rate_limit_reset(&self, identifier: String) -> Result<()> {
        let h = self.handle();
        h.rate_limiter().reset(&identifier).await.napi()
    }

    /// Counters since the system started.
    #[napi]
    pub fn rate_limit_stats(&self) -> RateLimitStatsJs {
        let s = self.handle().rate_limiter().stats();
        RateLimitStatsJs { allowed: s.allowed as f64, denied: s.denied as f64, fallbacks: s.fallbacks as f64 }
    }
}

/// The presets as JSON text: `{ name: { windowMs, maxRequests, algorithm } }`.
#[napi]
pub fn rate_limit_presets() -> String {
    ratelimit::presets::presets_json().to_string()
}

/// The standard headers of a decision as `[name, value]` pairs (see the core's `ratelimit::headers`).
#[napi]
pub fn rate_limit_headers(
    allowed: bool,
    total: f64,
    remaining: f64,
    reset_time: f64,
    retry_after: Option<f64>,
    window_ms: Option<f64>,
    now_ms: f64,
) -> Vec<Vec<String>> {
    let r = RateLimitResult {
        allowed,
        total: total.max(0.0) as u64,
        remaining: remaining.max(0.0) as u64,
        reset_time: reset_time.max(0.0) as u64,
        retry_after: retry_after.map(|s| s.max(0.0) as u64),
    };
    ratelimit::headers(&r, window_ms.map(|w| w.max(0.0) as u64), now_ms.max(0.0) as u64)
        .into_iter()
        .map(|(n, v)| vec![n.to_owned(), v])
        .collect()
}
