//! Result metadata (`get_with_meta`) and `cache_status_header` as Python methods: the core's
//! `manager::ResultMeta` as the native class `ResultMeta` (snake_case attributes, and a read-only
//! mapping), the L1 hit path synchronous like `get`'s.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use stratacache::manager::{CacheStatus, ResultMeta, Tier};

use crate::bridge::{spawn, Completions};
use crate::callbacks::{self, CallSite};
use crate::conv::{from_json, options_json};
use crate::error::IntoPy;
use crate::handle::{key_of, miss, System};

/// The field names, in order (the mapping view's keys).
const FIELDS: [&str; 7] = ["value", "status", "tier", "age_ms", "ttl_ms", "tags", "stored"];

/// A read's value with its metadata (the core's `manager::ResultMeta`, converted): attributes, and a
/// read-only mapping with the same keys (`meta["status"]`, `dict(meta)`, `to_dict()`). A native class,
/// so an L1 hit's metadata costs one small allocation (issue 18: `get_with_meta` as cheap as `get`).
/// `stratacache.ResultMeta` is this class, registered as a `collections.abc.Mapping`.
#[pyclass(module = "stratacache", name = "ResultMeta", frozen, freelist = 256)]
pub struct PyResultMeta {
    // Field for field `manager::ResultMeta`; an L1 hit's are computed from the entry with the core's
    // definitions (`Entry::age_and_ttl`).
    value: Py<PyAny>,
    status: CacheStatus,
    tier: Option<Tier>,
    age_ms: Option<u64>,
    ttl_ms: Option<u64>,
    /// The tags; for an L1 hit, read from the entry when asked.
    tags: Tags,
    stored: bool,
}

enum Tags {
    Owned(Vec<String>),
    Entry(std::sync::Arc<stratacache::l1::Entry>),
}

impl PyResultMeta {
    fn from_core(m: ResultMeta, value: Bound<'_, PyAny>) -> Self {
        PyResultMeta { value: value.unbind(), status: m.status, tier: m.tier, age_ms: m.age_ms, ttl_ms: m.ttl_ms, tags: Tags::Owned(m.tags), stored: m.stored }
    }

    fn field<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(Some(match name {
            "value" => self.value.bind(py).clone(),
            "status" => self.status(py).into_any(),
            "tier" => self.tier(py).into_pyobject(py)?.into_any(),
            "age_ms" => self.age_ms.into_pyobject(py)?.into_any(),
            "ttl_ms" => self.ttl_ms.into_pyobject(py)?.into_any(),
            "tags" => self.tags(py)?.into_any(),
            "stored" => pyo3::types::PyBool::new(py, self.stored).to_owned().into_any(),
            _ => return Ok(None),
        }))
    }
}

#[pymethods]
impl PyResultMeta {
    /// The value (`None` without one): this call's own copy.
    #[getter]
    fn value(&self, py: Python<'_>) -> Py<PyAny> {
        self.value.clone_ref(py)
    }

    /// `"hit"`, `"miss"` or `"stale"`.
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyString> {
        use pyo3::intern;
        match self.status {
            CacheStatus::Hit => intern!(py, "hit").clone(),
            CacheStatus::Miss => intern!(py, "miss").clone(),
            CacheStatus::Stale => intern!(py, "stale").clone(),
        }
    }

    /// `"l1"`, `"l2"`, `"loader"`, or `None` for a miss without a loader.
    #[getter]
    fn tier<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyString>> {
        use pyo3::intern;
        self.tier.map(|t| match t {
            Tier::L1 => intern!(py, "l1").clone(),
            Tier::L2 => intern!(py, "l2").clone(),
            Tier::Loader => intern!(py, "loader").clone(),
        })
    }

    /// Milliseconds since the value was written.
    #[getter]
    fn age_ms(&self) -> Option<u64> {
        self.age_ms
    }

    /// Milliseconds until its logical expiry (0 for a stale value).
    #[getter]
    fn ttl_ms(&self) -> Option<u64> {
        self.ttl_ms
    }

    /// Its tags (a new list on every read).
    #[getter]
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.tags {
            Tags::Owned(t) => PyList::new(py, t),
            Tags::Entry(e) => PyList::new(py, e.tags.iter()),
        }
    }

    /// Whether this read stored what the loader returned.
    #[getter]
    fn stored(&self) -> bool {
        self.stored
    }

    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let name: Option<String> = key.extract().ok();
        match name.as_deref().map(|n| self.field(py, n)).transpose()?.flatten() {
            Some(v) => Ok(v),
            None => Err(pyo3::exceptions::PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __len__(&self) -> usize {
        FIELDS.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyTuple::new(py, FIELDS)?.into_any().try_iter()?.into_any())
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.extract::<String>().is_ok_and(|k| FIELDS.contains(&k.as_str()))
    }

    /// The field names.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, FIELDS)
    }

    /// The field values, in `keys()` order.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let v: Vec<Bound<'py, PyAny>> = FIELDS.iter().map(|f| self.field(py, f).map(|v| v.expect("a field"))).collect::<PyResult<_>>()?;
        PyList::new(py, v)
    }

    /// `(name, value)` pairs, in `keys()` order.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let v: Vec<(&str, Bound<'py, PyAny>)> = FIELDS.iter().map(|f| self.field(py, f).map(|v| (*f, v.expect("a field")))).collect::<PyResult<_>>()?;
        PyList::new(py, v)
    }

    /// The field `key`, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, default: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let name: Option<String> = key.extract().ok();
        Ok(match name.as_deref().map(|n| self.field(py, n)).transpose()?.flatten() {
            Some(v) => v,
            None => default.unwrap_or_else(|| py.None().into_bound(py)),
        })
    }

    /// A plain dict (for `json.dumps`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for f in FIELDS {
            d.set_item(f, self.field(py, f)?)?;
        }
        Ok(d)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let mine = self.to_dict(py)?;
        if let Ok(o) = other.cast::<PyResultMeta>() {
            return mine.eq(o.get().to_dict(py)?);
        }
        match other.cast::<PyDict>() {
            Ok(d) => mine.eq(d),
            Err(_) => Ok(false),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut parts = Vec::with_capacity(FIELDS.len());
        for f in FIELDS {
            parts.push(format!("{f}={}", self.field(py, f)?.map(|v| v.repr().map(|r| r.to_string())).transpose()?.unwrap_or_default()));
        }
        Ok(format!("ResultMeta({})", parts.join(", ")))
    }
}

fn meta_from_core(py: Python<'_>, m: ResultMeta) -> PyResult<Bound<'_, PyAny>> {
    let value = match m.json.as_deref() {
        Some(j) => from_json(py, j)?,
        None => py.None().into_bound(py),
    };
    Ok(Bound::new(py, PyResultMeta::from_core(m, value))?.into_any())
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
        // An L1 hit: the core's `ResultMeta::hit` fields, with the tags left in the entry until read.
        match self.live(py)?.manager().get_l1(key).py_err(py)? {
            Some(e) => {
                let value = self.memo.value(py, key, e.id, &e.json)?;
                let (age, ttl) = e.age_and_ttl_now();
                let meta = PyResultMeta {
                    value: value.unbind(),
                    status: CacheStatus::Hit,
                    tier: Some(Tier::L1),
                    age_ms: Some(age),
                    ttl_ms: Some(ttl),
                    tags: Tags::Entry(e),
                    stored: false,
                };
                Ok(Bound::new(py, meta)?.into_any())
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
