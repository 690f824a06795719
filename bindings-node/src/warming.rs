//! `cacheWarmer` as JS functions and methods: strategies are registered with the process (every
//! system, now and after a restart, runs them); runs and reports are the core's.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::warming;

use napi::threadsafe_function::ThreadsafeFunction;

use crate::callbacks;
use crate::error::IntoNapi;
use crate::handle::{NativeCache, PROCESS};

/// `cacheWarmer.registerStrategy`: synchronous; throws at once on a bad name, priority or schedule.
/// A running system starts the strategy's schedule now.
#[napi(catch_unwind)]
pub fn register_strategy(
    name: String,
    priority: f64,
    enabled: bool,
    schedule: Option<String>,
    fetch: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>,
) -> Result<()> {
    let s = warming::strategy_from_parts(name, priority, enabled, schedule.as_deref(), callbacks::fetch_fn(fetch)).napi()?;
    PROCESS.registries().strategies().register(s).napi()
}

/// `cacheWarmer.unregisterStrategy`: whether it was registered (its schedules stop).
#[napi(catch_unwind)]
pub fn unregister_strategy(name: String) -> bool {
    PROCESS.registries().strategies().unregister(&name)
}

fn reports(r: &[warming::WarmReport]) -> String {
    serde_json::to_string(r).expect("reports always serialize")
}

#[napi]
impl NativeCache {
    /// Run one strategy now; resolves to its report (JSON text).
    #[napi]
    pub async fn warm_strategy(&self, name: String) -> Result<String> {
        let sys = self.handle();
        let r = sys.warmer().warm_strategy(&name, &None).await.napi()?;
        Ok(serde_json::to_string(&r).expect("a report always serializes"))
    }

    /// Run every enabled strategy (priority order); resolves to the reports (JSON text).
    #[napi]
    pub async fn warm_all(&self) -> Result<String> {
        let sys = self.handle();
        Ok(reports(&sys.warmer().warm_all(&None).await))
    }

    /// What `warmCacheOnStartup()` does; resolves to the reports (JSON text).
    #[napi]
    pub async fn warm_on_startup(&self) -> Result<String> {
        let sys = self.handle();
        Ok(reports(&sys.warmer().warm_on_startup(&None).await))
    }

    /// Stop the schedules running now.
    #[napi(catch_unwind)]
    pub fn stop_warming(&self) {
        self.handle().warmer().stop();
    }

    /// The strategies whose schedule runs now.
    #[napi(catch_unwind)]
    pub fn warm_scheduled(&self) -> Vec<String> {
        self.handle().warmer().scheduled()
    }
}
