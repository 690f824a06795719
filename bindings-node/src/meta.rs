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

#[napi]
impl NativeCache {
    /// The L1 lookup with metadata, synchronous: the entry's id (0 on a miss; counted like `get`),
    /// with `out` = `[ageMs, ttlMs, number of tags]` on a hit.
    #[napi(catch_unwind)]
    pub fn get_l1_meta(&self, key: String, out: Float64Array) -> Result<f64> {
        self.l1_meta(&key, out)
    }

    /// [`NativeCache::get_l1_meta`] for `cacheAside.getWithMeta`: the key and the options (JSON text)
    /// are checked first, so a bad option fails on a hit as on a miss.
    #[napi(catch_unwind)]
    pub fn cache_aside_l1_meta(&self, key: String, options: Option<String>, out: Float64Array) -> Result<f64> {
        let opts = self.aside_options.parse(options.as_deref()).napi()?;
        self.handle().cache_aside().check_options(&key, &opts).napi()?;
        self.l1_meta(&key, out)
    }

    fn l1_meta(&self, key: &str, mut out: Float64Array) -> Result<f64> {
        match self.inner.manager().get_l1_with_meta(key).napi()? {
            None => Ok(0.0),
            Some((e, m)) => {
                // SAFETY: a synchronous call on the JS thread: nothing else touches the array meanwhile.
                let out = unsafe { out.as_mut() };
                if out.len() >= 3 {
                    out[0] = m.age_ms.unwrap_or(0) as f64;
                    out[1] = m.ttl_ms.unwrap_or(0) as f64;
                    out[2] = e.tags.len() as f64;
                }
                Ok(e.id as f64)
            }
        }
    }

    /// The tags of the L1 entry of `key` (uncounted; `[]` when gone).
    #[napi(catch_unwind)]
    pub fn l1_tags(&self, key: String) -> Result<Vec<String>> {
        Ok(self.inner.manager().peek_l1(&key).napi()?.map(|e| e.tags.to_vec()).unwrap_or_default())
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
