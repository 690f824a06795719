//! `NativeCache`: one stratacache system (the core's `StrataCache` handle) as a JS class.

use std::sync::{Arc, OnceLock};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::{dynopts, StrataCache};

use crate::completion::Completer;
use crate::error::{parse_json, to_napi, IntoNapi};

/// L1 counters as `getStats()` reports them.
#[napi(object)]
pub struct L1StatsJs {
    /// Entries held now.
    pub size: f64,
    /// Capacity.
    pub max_size: f64,
    /// L1 hits.
    pub hits: f64,
    /// L1 misses.
    pub misses: f64,
    /// Hit rate, percent 0–100.
    pub hit_rate: f64,
}

/// L2 counters as `getStats()` reports them.
#[napi(object)]
pub struct L2StatsJs {
    /// Redis hits.
    pub hits: f64,
    /// Redis misses.
    pub misses: f64,
    /// Hit rate, percent 0–100.
    pub hit_rate: f64,
    /// Failed Redis calls and undecodable entries.
    pub errors: f64,
}

/// Everything `getStats()` reports.
#[napi(object)]
pub struct CacheStatsJs {
    /// L1 counters.
    pub l1: L1StatsJs,
    /// L2 counters.
    pub l2: L2StatsJs,
    /// Entries that did not decode.
    pub corrupt_entries: f64,
}

/// An L1 entry: its id (changes whenever the entry does) and its JSON text.
#[napi(object)]
pub struct L1Peek {
    /// The core's entry id.
    pub id: f64,
    /// The value as JSON text.
    pub json: String,
}

/// Check Redis options (JSON text) without connecting; throws a config error naming what is wrong.
#[napi(catch_unwind)]
pub fn validate_redis_options(redis: Option<String>) -> Result<()> {
    dynopts::redis_options(parse_json("redis", redis)?).napi()?.resolve().napi().map(|_| ())
}

/// Check cache options (JSON text); throws a config error naming what is wrong.
#[napi(catch_unwind)]
pub fn validate_cache_options(cache: Option<String>) -> Result<()> {
    dynopts::cache_options(parse_json("cache", cache)?).napi()?.resolve().napi().map(|_| ())
}

/// Build a system from Redis and cache options (JSON text); resolves once the invalidation bus has
/// subscribed or failed to (bounded, see `StrataCache::start`).
#[napi]
pub async fn create_system(redis: Option<String>, cache: Option<String>) -> Result<NativeCache> {
    crate::logging::init();
    let redis = dynopts::redis_options(parse_json("redis", redis)?).napi()?.resolve().napi()?;
    let cache = dynopts::cache_options(parse_json("cache", cache)?).napi()?.resolve().napi()?;
    let inner = StrataCache::start(redis, cache).await.napi()?;
    Ok(NativeCache { inner: Arc::new(inner), completer: OnceLock::new() })
}

/// One stratacache system.
#[napi]
pub struct NativeCache {
    inner: Arc<StrataCache>,
    /// Set once by the TS layer right after creation ([`crate::completion`]).
    pub(crate) completer: OnceLock<Arc<Completer>>,
}

impl NativeCache {
    /// The core handle.
    pub fn handle(&self) -> Arc<StrataCache> {
        self.inner.clone()
    }
}

#[napi]
impl NativeCache {
    /// The L1 lookup, synchronous: JSON text on a hit, `null` on a miss. Counts the hit or miss.
    #[napi(catch_unwind)]
    pub fn get_l1(&self, key: String) -> Result<Option<String>> {
        Ok(self.inner.manager().get_l1(&key).napi()?.map(|e| e.json.to_string()))
    }

    /// The L1 lookup, synchronous, returning only the entry's id (0 on a miss); counts the hit or
    /// miss. With `peekL1` it lets the TS layer reuse an object it already parsed for that entry.
    #[napi(js_name = "getL1Id", catch_unwind)]
    pub fn get_l1_id(&self, key: String) -> Result<f64> {
        Ok(self.inner.manager().get_l1(&key).napi()?.map_or(0.0, |e| e.id as f64))
    }

    /// The L1 entry's id and JSON text without counting (`null` if it is gone).
    #[napi(js_name = "peekL1", catch_unwind)]
    pub fn peek_l1(&self, key: String) -> Result<Option<L1Peek>> {
        Ok(self.inner.manager().peek_l1(&key).napi()?.map(|e| L1Peek { id: e.id as f64, json: e.json.to_string() }))
    }

    /// Get many keys (L1, then one Redis round trip); JSON text or `null` per key, in input order.
    #[napi]
    pub async fn mget(&self, keys: Vec<String>) -> Result<Vec<Option<String>>> {
        let m = self.inner.clone();
        let entries = m.manager().mget_entries(&keys).await.napi()?;
        Ok(entries.into_iter().map(|e| e.map(|e| e.json.to_string())).collect())
    }

    /// Store many values: `keys[i]` gets `jsons[i]` with `options[i]` (`{ ttl?, tags? }` as JSON text).
    #[napi]
    pub async fn mset(&self, keys: Vec<String>, jsons: Vec<String>, options: Vec<Option<String>>) -> Result<()> {
        if keys.len() != jsons.len() || keys.len() != options.len() {
            return Err(crate::error::internal("mset: columns of different lengths"));
        }
        let items = keys
            .into_iter()
            .zip(jsons)
            .zip(options)
            .map(|((k, j), o)| dynopts::mset_item(k, j, parse_json("mset item", o)?).map_err(to_napi))
            .collect::<Result<Vec<_>>>()?;
        let m = self.inner.clone();
        m.manager().mset(&items).await.napi()
    }

    /// Invalidate every entry carrying any of `tags`.
    #[napi]
    pub async fn invalidate_by_tags(&self, tags: Vec<String>) -> Result<()> {
        let m = self.inner.clone();
        m.manager().invalidate_by_tags(&tags).await.napi()
    }

    /// Counters snapshot.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> CacheStatsJs {
        let s = self.inner.manager().stats();
        CacheStatsJs {
            l1: L1StatsJs {
                size: s.l1.size as f64,
                max_size: s.l1.max_size as f64,
                hits: s.l1.hits as f64,
                misses: s.l1.misses as f64,
                hit_rate: s.l1.hit_rate,
            },
            l2: L2StatsJs {
                hits: s.l2.hits as f64,
                misses: s.l2.misses as f64,
                hit_rate: s.l2.hit_rate,
                errors: s.l2.errors as f64,
            },
            corrupt_entries: s.corrupt_entries as f64,
        }
    }

    /// Resolve when Redis answers PING; reject (connection/timeout code) otherwise.
    #[napi]
    pub async fn ping(&self) -> Result<()> {
        let m = self.inner.clone();
        m.ping().await.napi()
    }

    /// Whether Redis calls are currently failing (degraded mode).
    #[napi(catch_unwind)]
    pub fn is_degraded(&self) -> bool {
        self.inner.manager().is_degraded()
    }

    /// Shut the system down; later calls fail with `ERR_STRATACACHE_CLOSED`. Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let m = self.inner.clone();
        m.close().await;
        Ok(())
    }
}
