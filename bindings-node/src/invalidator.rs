//! `cacheInvalidator` / `domainInvalidator` as JS methods, and invalidation listeners.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use stratacache::bus::InvalidationEvent;
use stratacache::invalidator::{event_json, targets_from_json, DomainRule};

use crate::callbacks;
use crate::error::IntoNapi;
use crate::handle::NativeCache;

/// Counters of the invalidation bus.
#[napi(object)]
pub struct BusStatsJs {
    /// Whether the subscriber is connected now.
    pub connected: bool,
    /// `connecting`, `live`, `down`, `refused` or `off` (L1 is trusted only while `live`).
    pub state: String,
    /// Times it reconnected (each time L1 was cleared).
    pub reconnects: f64,
    /// Messages from other processes applied.
    pub received: f64,
    /// Evictions caused by writes from outside the library.
    pub tracked: f64,
}

#[napi]
impl NativeCache {
    /// Delete keys in every process; resolves to how many existed.
    #[napi]
    pub async fn invalidate_keys(&self, keys: Vec<String>) -> Result<f64> {
        let sys = self.handle();
        Ok(sys.invalidator().invalidate_keys(&keys).await.napi()? as f64)
    }

    /// Delete every key matching the glob (SCAN + UNLINK) in every process; resolves to how many.
    #[napi]
    pub async fn invalidate_pattern(&self, glob: String) -> Result<f64> {
        let sys = self.handle();
        Ok(sys.invalidator().invalidate_pattern(&glob).await.napi()? as f64)
    }

    /// Call `listener(eventJson)` for every invalidation in any process; returns an id for `offInvalidation`.
    /// The listener is held weakly: it never keeps the process alive.
    #[napi(catch_unwind)]
    pub fn on_invalidation(&self, listener: ThreadsafeFunction<String, Unknown<'static>, String, Status, false, true>) -> f64 {
        let listener = Arc::new(listener);
        self.handle().invalidator().on_invalidation(Arc::new(move |e: &InvalidationEvent| {
            listener.call(event_json(e), ThreadsafeFunctionCallMode::NonBlocking);
        })) as f64
    }

    /// Remove a listener.
    #[napi(catch_unwind)]
    pub fn off_invalidation(&self, id: f64) -> bool {
        self.handle().invalidator().off_invalidation(id as u64)
    }

    /// Invalidate what a domain's rule (registered, else built-in) says for `id`; resolves to the
    /// targets as JSON text.
    #[napi]
    pub async fn invalidate_domain(&self, domain: String, id: String) -> Result<String> {
        let sys = self.handle();
        let t = sys.domains().invalidate(&domain, &id).await.napi()?;
        Ok(format!(
            "{{\"keys\":{},\"tags\":{},\"patterns\":{}}}",
            serde_json::to_string(&t.keys).unwrap_or_default(),
            serde_json::to_string(&t.tags).unwrap_or_default(),
            serde_json::to_string(&t.patterns).unwrap_or_default()
        ))
    }

    /// Counters of the invalidation bus.
    #[napi(catch_unwind)]
    pub fn bus_stats(&self) -> BusStatsJs {
        let s = self.handle().manager().bus().stats();
        BusStatsJs { connected: s.connected, state: s.state.as_str().to_owned(), reconnects: s.reconnects as f64, received: s.received as f64, tracked: s.tracked as f64 }
    }

    /// This process's id on the bus (the `source` of its events).
    #[napi(catch_unwind)]
    pub fn bus_source(&self) -> String {
        self.handle().manager().bus().source().to_owned()
    }
}

/// Register the rule of a domain with the process (every system, now and after a restart, uses it):
/// `rule(id)` resolves to the outcome of `{ keys?, tags?, patterns? }`.
#[napi(catch_unwind)]
pub fn register_domain(domain: String, rule: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>) -> Result<()> {
    let loader = callbacks::key_loader(rule);
    let name = domain.clone();
    let rule: DomainRule = Arc::new(move |id: String, ctx: &stratacache::callbacks::CallContext| {
        let (loader, name) = (loader.clone(), name.clone());
        let fut = loader(id.clone(), ctx);
        Box::pin(async move { targets_from_json(&name, &id, fut.await?.as_deref()) })
    });
    crate::handle::PROCESS.registries().domain_rules().register(&domain, rule).napi()
}

/// Remove the registered rule of a domain (a built-in domain falls back to its built-in rule);
/// whether there was one.
#[napi(catch_unwind)]
pub fn unregister_domain(domain: String) -> bool {
    crate::handle::PROCESS.registries().domain_rules().unregister(&domain)
}
