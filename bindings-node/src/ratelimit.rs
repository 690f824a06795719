//! `redisRateLimiter` for JS: decisions start synchronously and settle through the batched
//! completions ([`crate::completion`]) with `[allowed (1|0), total, remaining, resetTime, retryAfter
//! (-1 when allowed)]`; the TS layer builds the result object. The core decides everything.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::dynopts;
use stratacache::ratelimit::{self, RateLimitCall, RateLimitResult};

use crate::error::IntoNapi;
use crate::handle::NativeCache;

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
    /// Start the decisions that one tick of JS asked for, together (one Redis round trip): `ids[i]`
    /// settles with the decision of `identifiers[i]` under `options[i]` (JSON text), where `kinds[i]`
    /// is 0 for `limit` (`{ windowMs, maxRequests, algorithm?, cost?, onRedisError? }`), 1 for
    /// `tokenBucket` and 2 for `leakyBucket` (`{ windowMs, maxRequests, refillRate | leakRate?,
    /// bucketSize?, cost?, onRedisError? }`). Bad options fail only their own decision.
    #[napi(catch_unwind)]
    pub fn rate_limit_batch_start(&self, ids: Vec<u32>, kinds: Vec<u32>, identifiers: Vec<String>, options: Vec<String>) -> Result<()> {
        if kinds.len() != ids.len() || identifiers.len() != ids.len() || options.len() != ids.len() {
            return Err(crate::error::internal("rateLimitBatchStart: columns of different lengths"));
        }
        let h = self.handle();
        self.completer()?.spawn_batch(ids, async move {
            let mut bad: Vec<Option<stratacache::Error>> = Vec::with_capacity(kinds.len());
            let mut calls = Vec::with_capacity(kinds.len());
            for ((kind, identifier), text) in kinds.into_iter().zip(identifiers).zip(options) {
                match call_of(kind, &text) {
                    Ok(call) => {
                        bad.push(None);
                        calls.push((identifier, call));
                    }
                    Err(e) => bad.push(Some(e)),
                }
            }
            let mut decided = h.rate_limiter().decide_batch(&calls).await.into_iter();
            bad.into_iter()
                .map(|b| match b {
                    Some(e) => Err(e),
                    None => decided.next().unwrap_or_else(|| Err(internal("a decision is missing"))).map(numbers),
                })
                .collect::<Vec<_>>()
        });
        Ok(())
    }

    /// Forget every algorithm's state of `identifier`, in Redis and in this process.
    #[napi]
    pub async fn rate_limit_reset(&self, identifier: String) -> Result<()> {
        let h = self.handle();
        h.rate_limiter().reset(&identifier).await.napi()
    }

    /// Counters since the system started.
    #[napi(catch_unwind)]
    pub fn rate_limit_stats(&self) -> RateLimitStatsJs {
        let s = self.handle().rate_limiter().stats();
        RateLimitStatsJs { allowed: s.allowed as f64, denied: s.denied as f64, fallbacks: s.fallbacks as f64 }
    }
}

/// The presets as JSON text: `{ name: { windowMs, maxRequests, algorithm } }`.
#[napi(catch_unwind)]
pub fn rate_limit_presets() -> String {
    ratelimit::presets::presets_json().to_string()
}

/// The standard headers of a decision as `[name, value]` pairs (see the core's `ratelimit::headers`).
#[napi(catch_unwind)]
pub fn rate_limit_headers(
    allowed: bool,
    total: f64,
    remaining: f64,
    reset_time: f64,
    retry_after: Option<f64>,
    window_ms: Option<f64>,
) -> Vec<Vec<String>> {
    let r = RateLimitResult {
        allowed,
        total: total.max(0.0) as u64,
        remaining: remaining.max(0.0) as u64,
        reset_time: reset_time.max(0.0) as u64,
        retry_after: retry_after.map(|s| s.max(0.0) as u64),
    };
    ratelimit::headers(&r, window_ms.map(|w| w.max(0.0) as u64))
        .into_iter()
        .map(|(n, v)| vec![n.to_owned(), v])
        .collect()
}

fn internal(what: &str) -> stratacache::Error {
    stratacache::Error::new(stratacache::ErrorKind::Internal, what)
}

/// One decision's options from their JSON text, named as the JS method that was called.
fn call_of(kind: u32, text: &str) -> stratacache::Result<RateLimitCall> {
    let what = match kind {
        0 => "limit",
        1 => "tokenBucket",
        2 => "leakyBucket",
        _ => return Err(internal("unknown rate-limit call kind")),
    };
    let v = serde_json::from_str(text).map_err(|e| {
        stratacache::Error::new(stratacache::ErrorKind::InvalidArgument, format!("{what} options are not valid: {e}"))
    })?;
    Ok(match kind {
        0 => RateLimitCall::Limit(dynopts::limit_options(v)?),
        1 => RateLimitCall::TokenBucket(dynopts::bucket_options(v, what, &["refillRate", "refill_rate"])?),
        _ => RateLimitCall::LeakyBucket(dynopts::bucket_options(v, what, &["leakRate", "leak_rate"])?),
    })
}
