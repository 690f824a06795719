//! Result metadata (`getWithMeta`) and `cacheStatusHeader` as JS methods: the core's
//! `manager::ResultMeta`, with the L1 hit path synchronous like `get`'s.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::callbacks;
use crate::error::IntoNapi;
use crate::handle::NativeCache;

/// RFC 9211 `Cache-Status` field value (the core's `cache_status_header`).
#[napi(catch_unwind)]
pub fn cache_status_header(status: String, ttl_ms: Option<f64>, stored: bool, name: String) -> Result<String> {
    let ttl = ttl_ms.filter(|t| t.is_finite() && *t >= 0.0).map(|t| t as u64);
    stratacache::manager::cache_status_header(&status, ttl, stored, &name).napi()
}

/// An L1 entry's tags with its id (see `l1EntryTags`).
#[napi(object)]
pub struct L1EntryTags {
    /// The entry's id.
    pub id: f64,
    /// Its tags.
    pub tags: Vec<String>,
}

#[napi]
impl NativeCache {
    /// `cacheAside.getWithMeta`'s L1 lookup: the key and the options (JSON text) are checked first
    /// (a bad option fails on a hit as on a miss); then as `l1Id` (`crate::hot`).
    #[napi(js_name = "cacheAsideL1MetaId", catch_unwind)]
    pub fn cache_aside_l1_meta_id(&self, key: String, options: Option<String>) -> Result<f64> {
        let opts = self.aside_options.parse(options.as_deref()).napi()?;
        let sys = self.handle();
        sys.cache_aside().check_options(&key, &opts).napi()?;
        let hit = sys.manager().get_l1(&key).napi()?;
        Ok(crate::hot::report_hit(hit.as_deref()))
    }

    /// The tags of the L1 entry of `key` with its id (uncounted; `null` when gone). The TS layer keeps
    /// them per entry id beside the parsed value.
    #[napi(js_name = "l1EntryTags", catch_unwind)]
    pub fn l1_entry_tags(&self, key: String) -> Result<Option<L1EntryTags>> {
        Ok(self.inner.manager().peek_l1(&key).napi()?.map(|e| L1EntryTags { id: e.id as f64, tags: e.tags.to_vec() }))
    }

    /// After an L1 miss: Redis, with metadata (JSON text of `{ value, status, tier, ageMs, ttlMs, tags, stored }`).
    #[napi]
    pub async fn get_l2_with_meta(&self, key: String) -> Result<String> {
        let sys = self.handle();
        Ok(sys.manager().get_l2_with_meta(&key).await.napi()?.to_json())
    }

    /// `cacheAside.getWithMeta` after an L1 miss: Redis, then the loader (single-flight, load lock).
    #[napi]
    pub async fn cache_aside_with_meta(
        &self,
        key: String,
        loader: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>,
        options: Option<String>,
    ) -> Result<String> {
        let sys = self.handle();
        let opts = self.aside_options.parse(options.as_deref()).napi()?;
        let loader = callbacks::loader(loader, key.clone());
        Ok(sys.cache_aside().get_with_meta_after_l1_miss(&key, loader, &opts).await.napi()?.to_json())
    }
}
