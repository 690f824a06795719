//! `cache_warmer` as Python functions and methods: strategies are registered with the process (every
//! system, now and after a restart, runs them); runs and reports are the core's. Fetch functions run
//! on the caller's event loop (explicit warm calls) or on the loop that last attached to the system
//! (scheduled runs).

use pyo3::prelude::*;
use stratacache::warming::{self, WarmReport};
use stratacache::{Error, ErrorKind};

use crate::bridge::{spawn, Completions};
use crate::callbacks::{self, CallSite};
use crate::conv::from_json;
use crate::error::IntoPy;
use crate::handle::{System, PROCESS};

fn report_dict(py: Python<'_>, r: WarmReport) -> PyResult<Bound<'_, PyAny>> {
    from_json(py, &serde_json::to_string(&r).expect("a report always serializes"))
}

fn reports_list(py: Python<'_>, r: Vec<WarmReport>) -> PyResult<Bound<'_, PyAny>> {
    from_json(py, &serde_json::to_string(&r).expect("reports always serialize"))
}

/// `cache_warmer.register_strategy`: synchronous; raises at once on a bad name, priority or
/// schedule. A running system starts the strategy's schedule now.
#[pyfunction]
#[pyo3(signature = (name, priority, enabled, schedule, fetch_fn))]
pub fn register_strategy(py: Python<'_>, name: String, priority: f64, enabled: bool, schedule: Option<String>, fetch_fn: &Bound<'_, PyAny>) -> PyResult<()> {
    crate::error::guarded(|| {
        if !fetch_fn.is_callable() {
            let t = fetch_fn.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(crate::error::to_py(py, &Error::new(ErrorKind::InvalidArgument, format!("fetch_fn must be callable, got {t}"))));
        }
        let fetch = callbacks::fetch_fn(fetch_fn.clone().unbind(), name.clone());
        let s = warming::strategy_from_parts(name, priority, enabled, schedule.as_deref(), fetch).py_err(py)?;
        PROCESS.registries().strategies().register(s).py_err(py)
    })
}

/// `cache_warmer.unregister_strategy`: whether it was registered (its schedules stop).
#[pyfunction]
pub fn unregister_strategy(name: &str) -> bool {
    PROCESS.registries().strategies().unregister(name)
}

#[pymethods]
impl System {
    /// Run one strategy now; completes `fut` with its report (a dict).
    fn warm_strategy(&self, py: Python<'_>, name: String, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            let site: stratacache::callbacks::CallContext = Some(CallSite::here(py, completions.shared())?);
            spawn(completions, fut, async move { sys.warmer().warm_strategy(&name, &site).await }, report_dict)
        })
    }

    /// Run every enabled strategy (priority order); completes `fut` with the reports (a list).
    fn warm_all(&self, py: Python<'_>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            let site: stratacache::callbacks::CallContext = Some(CallSite::here(py, completions.shared())?);
            spawn(completions, fut, async move { Ok(sys.warmer().warm_all(&site).await) }, reports_list)
        })
    }

    /// What `warm_cache_on_startup()` does; completes `fut` with the reports (a list).
    fn warm_on_startup(&self, py: Python<'_>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            let site: stratacache::callbacks::CallContext = Some(CallSite::here(py, completions.shared())?);
            spawn(completions, fut, async move { Ok(sys.warmer().warm_on_startup(&site).await) }, reports_list)
        })
    }

    /// Scheduled runs call their fetch functions on this loop (the one `completions` belongs to).
    fn set_warm_loop(&self, py: Python<'_>, completions: &Completions) -> PyResult<()> {
        crate::error::guarded(|| {
            let site: stratacache::callbacks::CallContext = Some(CallSite::here(py, completions.shared())?);
            self.live(py)?.warmer().set_schedule_context(site);
            Ok(())
        })
    }

    /// Stop the schedules running now.
    fn stop_warming(&self, py: Python<'_>) -> PyResult<()> {
        crate::error::guarded(|| {
            self.live(py)?.warmer().stop();
            Ok(())
        })
    }

    /// The strategies whose schedule runs now.
    fn warm_scheduled(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        crate::error::guarded(|| Ok(self.live(py)?.warmer().scheduled()))
    }
}
