//! `cacheMetrics` as JS methods: the core's health check, metrics report and Prometheus exposition,
//! handed over as text (JSON or the exposition itself); the switch behind `skipMetrics`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::handle::{NativeCache, PROCESS};

/// Turn metrics recording on or off for the process system (now and after a re-open).
#[napi(catch_unwind)]
pub fn set_metrics_enabled(on: bool) {
    PROCESS.registries().metrics_switch().set(on);
}

#[napi]
impl NativeCache {
    /// Check health now (one bounded PING); resolves to the report as JSON text.
    #[napi]
    pub async fn health_check(&self) -> Result<String> {
        let sys = self.handle();
        Ok(sys.health_check().await.to_json())
    }

    /// Every counter and latency now, as JSON text.
    #[napi(catch_unwind)]
    pub fn metrics_json(&self) -> String {
        self.handle().metrics_report().to_json()
    }

    /// The Prometheus text exposition now.
    #[napi(catch_unwind)]
    pub fn prometheus_metrics(&self) -> String {
        self.handle().prometheus_metrics()
    }
}
