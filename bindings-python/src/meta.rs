//! Result metadata (`get_with_meta`) and `cache_status_header` as Python methods: the core's
//! `manager::ResultMeta` as a dict with snake_case keys (the Python layer wraps it in a record), the
//! L1 hit path synchronous like `get`'s.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use stratacache::manager::{CacheStatus, ResultMeta, Tier};

use crate::bridge::{spawn, Completions};
use crate::callbacks::{self, CallSite};
use crate::conv::{from_json, options_json};
use crate::error::IntoPy;
use crate::handle::{key_of, miss, System};

/// `{value, status, tier, age_ms, ttl_ms, tags, stored}` with `value` already converted.
fn meta_dict<'py>(py: Python<'py>, m: &ResultMeta, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::intern;
    let d = PyDict::new(py);
    d.set_item(intern!(py, "value"), value)?;
    let status = match m.status {
        CacheStatus::Hit => intern!(py, "hit"),
        CacheStatus::Miss => intern!(py, "miss"),
        CacheStatus::Stale => intern!(py, "stale"),
    };
    d.set_item(intern!(py, "status"), status)?;
    let tier = m.tier.map(|t| match t {
        Tier::L1 => intern!(py, "l1"),
        Tier::L2 => intern!(py, "l2"),
        Tier::Loader => intern!(py, "loader"),
    });
    d.set_item(intern!(py, "tier"), tier)?;
    d.set_item(intern!(py, "age_ms"), m.age_ms)?;
    d.set_item(intern!(py, "ttl_ms"), m.ttl_ms)?;
    d.set_item(intern!(py, "tags"), &m.tags)?;
    d.set_item(intern!(py, "stored"), m.stored)?;
    Ok(d.into_any())
}

fn meta_from_core(py: Python<'_>, m: ResultMeta) -> PyResult<Bound<'_, PyAny>> {
    let value = match m.json.as_deref() {
        Some(j) => from_json(py, j)?,
        None => py.None().into_bound(py),
    };
    meta_dict(py, &m, value)
}

/// RFC 9211 `Cache-Status` field value (the core's `cache_status_header`).
#[pyfunction]
#[pyo3(signature = (status, ttl_ms, stored, name))]
pub fn cache_status_header(py: Python<'_>, status: &str, ttl_ms: Option<f64>, stored: bool, name: &str) -> PyResult<String> {
    let ttl = ttl_ms.filter(|t| t.is_finite() && *t >= 0.0).map(|t| t as u64);
    stratacache::manager::cache_status_header(status, ttl, stored, name).py_err(py)
}

impl System {
    fn l1_meta<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.live(py)?.manager().get_l1_with_meta(key).py_err(py)? {
            Some((e, m)) => {
                let value = self.memo.value(py, key, e.id, &e.json)?;
                meta_dict(py, &m, value)
            }
            None => miss(py).cloned(),
        }
    }
}

#[pymethods]
impl System {
    /// The L1 lookup with metadata, synchronous: the metadata dict on a hit, `MISS` on a miss.
    fn get_l1_meta<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            self.l1_meta(py, &key)
        })
    }

    /// After an L1 miss: Redis, with metadata; completes `fut` with the dict.
    fn get_l2_meta(&self, py: Python<'_>, key: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.manager().get_l2_with_meta(&key).await }, meta_from_core)
        })
    }

    /// `cache_aside.get_with_meta`'s L1 lookup: the key and the options are checked first (a bad one
    /// fails on a hit as on a miss); the metadata dict on a hit, `MISS` on a miss.
    fn cache_aside_l1_meta<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, options: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let opts = self.aside_options.parse(options_json("cache_aside", options).py_err(py)?.as_deref()).py_err(py)?;
            self.live(py)?.cache_aside().check_options(&key, &opts).py_err(py)?;
            self.l1_meta(py, &key)
        })
    }

    /// `cache_aside.get_with_meta` after an L1 miss: Redis, then the loader on this loop; completes
    /// `fut` with the dict.
    fn cache_aside_meta(&self, py: Python<'_>, key: &Bound<'_, PyAny>, loader: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let opts = self.aside_options.parse(options_json("cache_aside", options).py_err(py)?.as_deref()).py_err(py)?;
            let site = CallSite::here(py, completions.shared())?;
            let loader = callbacks::loader(site, loader.clone().unbind(), key.clone());
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.cache_aside().get_with_meta_after_l1_miss(&key, loader, &opts).await }, meta_from_core)
        })
    }
}
