//! `NativeCache`: one stratacache system (the core's `StrataCache` handle) as a JS class: creating it,
//! `ping` and `close`. The other components' methods live in the modules named after them (`manager`,
//! `patterns`, `invalidator`, `session`, `ratelimit`).

use stratacache::patterns::Coalescer;
use std::sync::{Arc, OnceLock};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::{dynopts, StrataCache};

use crate::completion::Completer;
use crate::error::{parse_json, IntoNapi};

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
    Ok(NativeCache { inner: Arc::new(inner), completer: OnceLock::new(), aside_options: Default::default(), aside_waiters: Coalescer::new() })
}

/// One stratacache system.
#[napi]
pub struct NativeCache {
    pub(crate) inner: Arc<StrataCache>,
    /// The last `cacheAside` options text and what it parsed to (a conversion cache).
    pub(crate) aside_options: dynopts::AsideOptionsMemo,
    /// The completion ids waiting for each key's cache-aside load (the core's shared completions).
    pub(crate) aside_waiters: Arc<Coalescer<u32>>,
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
    /// Resolve when Redis answers PING; reject (connection/timeout code) otherwise.
    #[napi]
    pub async fn ping(&self) -> Result<()> {
        let m = self.inner.clone();
        m.ping().await.napi()
    }
    /// Shut the system down; later calls fail with `ERR_STRATACACHE_CLOSED`. Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let m = self.inner.clone();
        m.close().await;
        Ok(())
    }
}
