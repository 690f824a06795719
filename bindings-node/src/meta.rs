//! Result metadata (`getWithMeta`) and `cacheStatusHeader` as JS methods: the core's
//! `manager::ResultMeta`, with the L1 hit path synchronous like `get`'s.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::callbacks;
use crate::error::IntoNapi;
use crate::handle::NativeCache;
use stratacache::l1::Entry;

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

/// Where the L1 lookups (`getL1Id`, `cacheAsideL1MetaId`) report a hit's age, remaining
/// TTL and number of tags: a `Float64Array` of at least 3 numbers that the TS layer (`ts/meta.ts`)
/// owns and registers once per system with `setMetaOut`. Writing three numbers there instead of
/// returning an object keeps an L1 hit with metadata at the cost of `get`'s: both make this one call
/// returning a number (measured: a second, otherwise identical native function for `getWithMeta` made
/// its cost vary between processes by up to 15 %).
pub(crate) struct MetaOut {
    /// Holds a reference to the JS array, so its memory lives as long as this system.
    _array: Float64Array,
    /// Its first element.
    ptr: *mut f64,
}

// SAFETY: `ptr` is only written by the synchronous methods below, which run on the JS thread while no
// JS runs; the memory is an `ArrayBuffer`'s backing store, which V8 never moves, kept alive by `_array`.
unsafe impl Send for MetaOut {}
unsafe impl Sync for MetaOut {}

impl MetaOut {
    /// Wrap the TS layer's array (it must hold at least 3 numbers).
    fn new(mut array: Float64Array) -> Result<Self> {
        if array.len() < 3 {
            return Err(crate::error::internal("setMetaOut: the array must hold 3 numbers"));
        }
        // SAFETY: called on the JS thread during a synchronous call; the slice is not kept.
        let ptr = unsafe { array.as_mut() }.as_mut_ptr();
        Ok(MetaOut { _array: array, ptr })
    }

    /// Report the hit `e`: its age and remaining TTL now (the core's definitions), and its tag count.
    fn report(&self, e: &Entry) -> f64 {
        let (age, ttl) = e.age_and_ttl_now();
        // SAFETY: see the `Send`/`Sync` note; the array holds at least 3 numbers (checked in `new`).
        unsafe {
            *self.ptr = age as f64;
            *self.ptr.add(1) = ttl as f64;
            *self.ptr.add(2) = e.tags.len() as f64;
        }
        e.id as f64
    }
}

#[napi]
impl NativeCache {
    /// Register the array the L1 lookups with metadata write to (the TS layer does it once, right
    /// after creating the system).
    #[napi(catch_unwind)]
    pub fn set_meta_out(&self, array: Float64Array) -> Result<()> {
        self.meta_out.set(MetaOut::new(array)?).map_err(|_| crate::error::internal("setMetaOut called twice"))
    }

    /// `cacheAside.getWithMeta`'s L1 lookup: the key and the options (JSON text) are checked first
    /// (a bad option fails on a hit as on a miss); then as `getL1Id`.
    #[napi(js_name = "cacheAsideL1MetaId", catch_unwind)]
    pub fn cache_aside_l1_meta_id(&self, key: String, options: Option<String>) -> Result<f64> {
        let opts = self.aside_options.parse(options.as_deref()).napi()?;
        let sys = self.handle();
        sys.cache_aside().check_options(&key, &opts).napi()?;
        let hit = sys.manager().get_l1(&key).napi()?;
        self.report_hit(hit.as_deref())
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

impl NativeCache {
    /// The id of the hit `e` (0 for none), its metadata numbers written to the `setMetaOut` array
    /// (when the TS layer registered one, which it does as it creates the system).
    pub(crate) fn report_hit(&self, e: Option<&Entry>) -> Result<f64> {
        let Some(e) = e else { return Ok(0.0) };
        Ok(match self.meta_out.get() {
            Some(out) => out.report(e),
            None => e.id as f64,
        })
    }
}
