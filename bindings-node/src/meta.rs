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

/// The constants of an L1 entry's metadata (see `l1EntryMeta`).
#[napi(object)]
pub struct L1EntryMeta {
    /// The entry's id.
    pub id: f64,
    /// When it was written, epoch ms.
    pub created_at_ms: f64,
    /// Its logical expiry, epoch ms.
    pub expires_at_ms: f64,
    /// Its tags.
    pub tags: Vec<String>,
}

#[napi]
impl NativeCache {
    /// `cacheAside.getWithMeta`'s L1 lookup: the key and the options (JSON text) are checked first
    /// (a bad option fails on a hit as on a miss); then the entry's id, 0 on a miss (counted like
    /// `get`'s lookup).
    #[napi(catch_unwind)]
    pub fn cache_aside_l1_id(&self, key: String, options: Option<String>) -> Result<f64> {
        let opts = self.aside_options.parse(options.as_deref()).napi()?;
        let sys = self.handle();
        sys.cache_aside().check_options(&key, &opts).napi()?;
        Ok(sys.manager().get_l1(&key).napi()?.map_or(0.0, |e| e.id as f64))
    }

    /// The constants of the L1 entry of `key` that its metadata is made of (uncounted; `null` when
    /// gone): its id, when it was written and when it expires (epoch ms), and its tags. The TS layer
    /// keeps them per entry id, so an L1 hit with metadata costs one lookup, as `get`'s does.
    #[napi(catch_unwind)]
    pub fn l1_entry_meta(&self, key: String) -> Result<Option<L1EntryMeta>> {
        Ok(self.inner.manager().peek_l1(&key).napi()?.map(|e| L1EntryMeta {
            id: e.id as f64,
            created_at_ms: e.created_at_ms as f64,
            expires_at_ms: e.expires_at_ms as f64,
            tags: e.tags.to_vec(),
        }))
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
