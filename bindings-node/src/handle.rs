//! `NativeCache`: one stratacache system (the core's `StrataCache` handle) as a JS class: creating it,
//! `ping` and `close`. The other components' methods live in the modules named after them (`manager`,
//! `patterns`, `invalidator`, `session`, `ratelimit`).

use stratacache::patterns::{Coalescer, Lead};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::singleton::{EntryNames, Options, Singleton};
use stratacache::{dynopts, StrataCache};

use crate::completion::Completer;
use crate::error::{parse_json, IntoNapi};

/// The process-wide system's rules and registries (the core's `Singleton`), with this binding's names.
pub(crate) static PROCESS: LazyLock<Singleton> =
    LazyLock::new(|| Singleton::new(EntryNames { initialize: "initializeCacheSystem()", shutdown: "shutdownCacheSystem()" }));

/// Set the process system's `redis` or `cache` options (JSON text); throws a config error naming a bad
/// option, or when the system already runs with other options.
#[napi(catch_unwind)]
pub fn configure(kind: String, options: Option<String>) -> Result<()> {
    let which = match kind.as_str() {
        "redis" => Options::Redis,
        "cache" => Options::Cache,
        other => return Err(crate::error::internal(&format!("unknown options kind {other:?}"))),
    };
    PROCESS.configure(which, Some(parse_json(&kind, options)?)).napi()
}

/// Allow the process system to be created again after a shutdown.
#[napi(catch_unwind)]
pub fn reopen() {
    PROCESS.reopen();
}

/// Mark the process system shut down (calls reject with `ERR_STRATACACHE_CLOSED` until `reopen`).
#[napi(catch_unwind)]
pub fn mark_shut_down() {
    PROCESS.shut_down();
}

/// Create the process system from the options set so far; resolves once the invalidation bus has
/// subscribed or failed to (bounded, see `StrataCache::start`). Rejects with `ERR_STRATACACHE_CLOSED`
/// after a shutdown.
#[napi]
pub async fn create_system() -> Result<NativeCache> {
    crate::logging::init();
    let (redis, cache) = PROCESS.begin_start().napi()?;
    match StrataCache::start(redis, cache, PROCESS.registries().clone()).await {
        Ok(inner) => Ok(NativeCache { inner: Arc::new(inner), completer: OnceLock::new(), aside_options: Default::default(), aside_waiters: Coalescer::new(), aside_leads: Default::default() }),
        Err(e) => {
            PROCESS.start_failed();
            Err(e).napi()
        }
    }
}

/// One stratacache system.
#[napi]
pub struct NativeCache {
    pub(crate) inner: Arc<StrataCache>,
    /// The last `cacheAside` options text and what it parsed to (a conversion cache).
    pub(crate) aside_options: dynopts::AsideOptionsMemo,
    /// The completion ids waiting for each key's cache-aside load (the core's shared completions).
    pub(crate) aside_waiters: Arc<Coalescer<u32>>,
    /// Loads led by a completion id, from `cacheAsideEnter` until `cacheAsideLoad` starts them.
    pub(crate) aside_leads: Mutex<HashMap<u32, (String, Lead<u32>)>>,
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
    /// Writes waiting in every write-behind queue of this system.
    #[napi]
    pub fn write_behind_pending(&self) -> f64 {
        self.inner.write_behind_totals().pending as f64
    }

    /// Flush every write-behind queue now (a process about to exit without a shutdown); resolves to
    /// how many writes were made.
    #[napi]
    pub async fn flush_write_behind(&self) -> Result<f64> {
        let m = self.inner.clone();
        Ok(m.flush_write_behind().await as f64)
    }

    /// Shut the system down; later calls fail with `ERR_STRATACACHE_CLOSED`. Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let m = self.inner.clone();
        m.close().await;
        Ok(())
    }
}
