//! Many rate-limit decisions at once: each is validated and decided as if it were its own call, but
//! all of them reach Redis in one round trip, and identical calls that follow each other on one
//! identifier (same algorithm and parameters) share one script run. The bindings use this for the
//! decisions that one tick of their event loop asks for.
//!
//! A script run for `n` identical calls decides them one after the other at one Redis `now`, exactly
//! as `n` runs would (each re-reads the state the previous one wrote; a denial writes nothing, so the
//! calls after it get the same denial). Order is kept per identifier, which is the only order a
//! decision can observe: calls on other identifiers touch other keys.

use std::collections::HashMap;

use super::{bucket_params, limit_params, parse_replies, script, script_args, RateLimiter};
use super::{Algorithm, BucketOptions, LimitOptions, Params, RateLimitResult, RedisErrorPolicy};
use crate::error::Result;
use crate::l2::ScriptCall;

/// The most identical calls one script run decides (the scripts accept up to 1000).
const MAX_RUN: usize = 256;

/// One decision of [`RateLimiter::decide_batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum RateLimitCall {
    /// As [`RateLimiter::limit`].
    Limit(LimitOptions),
    /// As [`RateLimiter::token_bucket`].
    TokenBucket(BucketOptions),
    /// As [`RateLimiter::leaky_bucket`].
    LeakyBucket(BucketOptions),
}

impl RateLimitCall {
    fn plan(&self) -> Result<(Algorithm, Params, RedisErrorPolicy)> {
        match self {
            RateLimitCall::Limit(o) => Ok((o.algorithm, limit_params(o)?, o.on_redis_error)),
            RateLimitCall::TokenBucket(o) => Ok((Algorithm::TokenBucket, bucket_params(o, "refillRate")?, o.on_redis_error)),
            RateLimitCall::LeakyBucket(o) => Ok((Algorithm::LeakyBucket, bucket_params(o, "leakRate")?, o.on_redis_error)),
        }
    }
}

/// A validated call waiting for its decision.
struct Planned<'a> {
    index: usize,
    identifier: &'a str,
    algorithm: Algorithm,
    params: Params,
    policy: RedisErrorPolicy,
}

/// Consecutive identical calls on one key, decided by one script run.
struct Run {
    key: String,
    algorithm: Algorithm,
    params: Params,
    /// Indexes into the planned calls, in order.
    members: Vec<usize>,
}

fn same_params(a: &Params, b: &Params) -> bool {
    a.window_ms == b.window_ms && a.limit == b.limit && a.cost == b.cost && a.rate_per_ms.to_bits() == b.rate_per_ms.to_bits()
}

impl RateLimiter {
    /// Decide `calls` (identifier, call) as if each were its own [`RateLimiter::limit`],
    /// [`RateLimiter::token_bucket`] or [`RateLimiter::leaky_bucket`], in order per identifier: a bad
    /// call fails alone, and when Redis cannot be reached each call follows its own `onRedisError`.
    /// One Redis round trip for all of them. Results in input order.
    pub async fn decide_batch(&self, calls: &[(String, RateLimitCall)]) -> Vec<Result<RateLimitResult>> {
        let mut out: Vec<Option<Result<RateLimitResult>>> = Vec::with_capacity(calls.len());
        let mut planned = Vec::with_capacity(calls.len());
        for (index, (identifier, call)) in calls.iter().enumerate() {
            match self.check_identifier(identifier).and_then(|_| call.plan()) {
                Ok((algorithm, params, policy)) => {
                    out.push(None);
                    planned.push(Planned { index, identifier, algorithm, params, policy });
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let Some(l2) = self.manager.l2() else {
            for p in &planned {
                let d = self.fallback(p.identifier, p.algorithm, &p.params, RedisErrorPolicy::Local);
                out[p.index] = Some(Ok(self.record(d, p.algorithm, &p.params)));
            }
            return out.into_iter().flatten().collect();
        };
        let runs = self.runs(&planned);
        let script_calls: Vec<ScriptCall<'_>> = runs
            .iter()
            .map(|r| ScriptCall {
                script: script(r.algorithm),
                key: r.key.clone(),
                args: script_args(r.algorithm, &r.params, r.members.len()),
            })
            .collect();
        let replies: Vec<Option<Result<redis::Value>>> = match l2.script_many(&script_calls).await {
            Ok(replies) => replies.into_iter().map(Some).collect(),
            Err(e) if e.is_unavailable() => runs.iter().map(|_| None).collect(),
            Err(e) => runs.iter().map(|_| Some(Err(e.clone()))).collect(),
        };
        for (run, reply) in runs.iter().zip(replies) {
            let decided = match reply {
                Some(Ok(v)) => parse_replies(&v, run.members.len()).map(Some),
                Some(Err(e)) if e.is_unavailable() => Ok(None),
                Some(Err(e)) => Err(e),
                None => Ok(None),
            };
            for (i, &m) in run.members.iter().enumerate() {
                let p = &planned[m];
                let result = match &decided {
                    Ok(Some(decisions)) => Ok(self.record(decisions[i], p.algorithm, &p.params)),
                    Ok(None) => Ok(self.record(self.fallback(p.identifier, p.algorithm, &p.params, p.policy), p.algorithm, &p.params)),
                    Err(e) => Err(e.clone()),
                };
                out[p.index] = Some(result);
            }
        }
        out.into_iter().flatten().collect()
    }

    /// Group the calls into runs: a call joins the latest run on its key when its parameters are the
    /// same (calls on other keys in between do not matter), else it starts a new run.
    fn runs(&self, planned: &[Planned<'_>]) -> Vec<Run> {
        let keys = self.manager.keys();
        let mut runs: Vec<Run> = Vec::new();
        let mut latest: HashMap<String, usize> = HashMap::new();
        for (i, p) in planned.iter().enumerate() {
            let key = keys.rate_limit(p.identifier, p.algorithm.key_suffix());
            if let Some(&r) = latest.get(&key) {
                let run = &mut runs[r];
                if same_params(&run.params, &p.params) && run.members.len() < MAX_RUN {
                    run.members.push(i);
                    continue;
                }
            }
            latest.insert(key.clone(), runs.len());
            runs.push(Run { key, algorithm: p.algorithm, params: p.params, members: vec![i] });
        }
        runs
    }
}
