//! `System`: one stratacache system (the core's `StrataCache` handle) as a Python class. Every
//! method converts, calls the core, maps errors; async ones complete a future through the bridge.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};
use stratacache::{dynopts, Error, ErrorKind, StrataCache};

use crate::bridge::{spawn, Completions};
use crate::conv::{from_json, options_value, to_json};
use crate::errors::IntoPy;
use crate::memo::Memo;
use crate::runtime;

static MISS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The sentinel `get_l1` returns on a miss (a stored JSON `null` reads as `None`).
pub fn miss(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    MISS.get_or_try_init(py, || py.import("builtins")?.getattr("object")?.call0().map(Bound::unbind))
        .map(|m| m.bind(py))
}

fn describe(obj: &Bound<'_, PyAny>) -> String {
    let t = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    match obj.repr() {
        Ok(r) => format!("{t} {}", r.to_string().chars().take(40).collect::<String>()),
        Err(_) => t,
    }
}

/// A key argument as a string, or an invalid-key error naming what was given.
pub fn key_of(obj: &Bound<'_, PyAny>) -> Result<String, Error> {
    match obj.cast::<PyString>() {
        Ok(s) => s.to_cow().map(|c| c.into_owned()).map_err(|_| Error::new(ErrorKind::InvalidKey, "key must be valid UTF-8")),
        Err(_) => Err(Error::new(ErrorKind::InvalidKey, format!("key must be a non-empty string, got {}", describe(obj)))),
    }
}

fn strings_of(what: &str, obj: &Bound<'_, PyAny>) -> Result<Vec<String>, Error> {
    let bad = || Error::new(ErrorKind::InvalidArgument, format!("{what} must be a list of str, got {}", describe(obj)));
    if obj.cast::<PyString>().is_ok() {
        return Err(bad());
    }
    let iter = obj.try_iter().map_err(|_| bad())?;
    iter.map(|i| {
        let i = i.map_err(|_| bad())?;
        i.cast::<PyString>()
            .ok()
            .and_then(|s| s.to_cow().ok().map(|c| c.into_owned()))
            .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, format!("{what} must be a list of str, got an item {}", describe(&i))))
    })
    .collect()
}

fn json_or_none<'py>(py: Python<'py>, v: Option<String>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(t) => from_json(py, &t),
        None => Ok(py.None().into_bound(py)),
    }
}

fn none<'py>(py: Python<'py>, _: ()) -> PyResult<Bound<'py, PyAny>> {
    Ok(py.None().into_bound(py))
}

fn boolean<'py>(py: Python<'py>, b: bool) -> PyResult<Bound<'py, PyAny>> {
    Ok(pyo3::types::PyBool::new(py, b).to_owned().into_any())
}

/// Build a system from option dicts (`None` for defaults). Opens no connection.
#[pyfunction]
#[pyo3(signature = (redis=None, cache=None))]
pub fn create_system(py: Python<'_>, redis: Option<&Bound<'_, PyAny>>, cache: Option<&Bound<'_, PyAny>>) -> PyResult<System> {
    crate::errors::guarded(|| {
        let redis = dynopts::redis_options(options_value("redis", redis).py_err(py)?).py_err(py)?.resolve().py_err(py)?;
        let cache = dynopts::cache_options(options_value("cache", cache).py_err(py)?).py_err(py)?.resolve().py_err(py)?;
        crate::logging::init();
        let handle = runtime::handle()?;
        let memo_capacity = cache.l1_max_size.min(100_000) as usize;
        // `StrataCache::start`, from this synchronous entry point: a bounded one-time wait (a round
        // trip or two) for the bus's first subscription, detached from the interpreter.
        let inner = py.detach(|| StrataCache::start_blocking(redis, cache, &handle)).py_err(py)?;
        Ok(System { inner: Arc::new(inner), pid: std::process::id(), memo: Memo::new(memo_capacity) })
    })
}

/// Check Redis options without connecting (raises the config error naming what is wrong).
#[pyfunction]
#[pyo3(signature = (redis=None))]
pub fn validate_redis_options(py: Python<'_>, redis: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    crate::errors::guarded(|| {
        dynopts::redis_options(options_value("redis", redis).py_err(py)?).py_err(py)?.resolve().py_err(py).map(|_| ())
    })
}

/// Check cache options (raises the config error naming what is wrong).
#[pyfunction]
#[pyo3(signature = (cache=None))]
pub fn validate_cache_options(py: Python<'_>, cache: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    crate::errors::guarded(|| {
        dynopts::cache_options(options_value("cache", cache).py_err(py)?).py_err(py)?.resolve().py_err(py).map(|_| ())
    })
}

/// One stratacache system.
#[pyclass(module = "stratacache._native", frozen)]
pub struct System {
    inner: Arc<StrataCache>,
    pid: u32,
    pub(crate) memo: Memo,
}

impl System {
    /// The core handle, unless this object was created before `fork()`.
    pub fn live(&self, py: Python<'_>) -> PyResult<Arc<StrataCache>> {
        if self.pid != std::process::id() {
            let e = Error::new(ErrorKind::Closed, "this cache system was created before fork(); the child creates its own on first use");
            return Err(crate::errors::to_py(py, &e));
        }
        Ok(self.inner.clone())
    }
}

#[pymethods]
impl System {
    /// The L1 lookup, synchronous: the value on a hit, the `MISS` sentinel on a miss.
    fn get_l1<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        crate::errors::guarded(|| {
            let key = key_of(key).py_err(py)?;
            match self.live(py)?.manager().get_l1(&key).py_err(py)? {
                Some(e) => self.memo.value(py, &key, e.id, &e.json),
                None => miss(py).cloned(),
            }
        })
    }

    /// The Redis part of a get (after `get_l1` missed): completes `fut` with the value or `None`.
    fn get_l2(&self, py: Python<'_>, key: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { Ok(sys.manager().get_l2(&key).await?.map(|e| e.json.to_string())) }, json_or_none)
        })
    }

    /// Store a value with an options dict (`ttl`, `tags`, `compress`, `compression_threshold`).
    #[pyo3(signature = (key, value, options, completions, fut))]
    fn set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let json = to_json(&key, value).py_err(py)?;
            let opts = dynopts::set_options(options_value("set", options).py_err(py)?).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.manager().set_json(&key, &json, &opts).await }, none)
        })
    }

    /// Delete a key: completes with whether it existed.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.manager().del(&key).await }, boolean)
        })
    }

    /// Get many keys: completes with a dict in input order (`None` for misses).
    fn mget(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            let keys = strings_of("keys", keys).map_err(|e| Error::new(ErrorKind::InvalidKey, e.message().to_owned())).py_err(py)?;
            let sys = self.live(py)?;
            spawn(
                completions,
                fut,
                async move {
                    let entries = sys.manager().mget_entries(&keys).await?;
                    Ok(keys.into_iter().zip(entries.into_iter().map(|e| e.map(|e| e.json.to_string()))).collect::<Vec<_>>())
                },
                |py, pairs: Vec<(String, Option<String>)>| {
                    let d = PyDict::new(py);
                    for (k, v) in pairs {
                        d.set_item(k, json_or_none(py, v)?)?;
                    }
                    Ok(d.into_any())
                },
            )
        })
    }

    /// Store many `{"key", "value", "ttl"?, "tags"?}` dicts; everything is checked before anything is written.
    fn mset(&self, py: Python<'_>, items: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            let bad = |what: String| crate::errors::to_py(py, &Error::new(ErrorKind::InvalidArgument, what));
            let list = items.cast::<PyList>().map_err(|_| bad(format!("mset expects a list of dicts, got {}", describe(items))))?;
            let mut parsed = Vec::with_capacity(list.len());
            for item in list.iter() {
                let d = item.cast::<PyDict>().map_err(|_| bad(format!("mset items must be dicts, got {}", describe(&item))))?;
                let rest = d.copy()?;
                let key = rest.get_item("key")?.ok_or_else(|| bad("mset item without \"key\"".into()))?;
                let key = key_of(&key).py_err(py)?;
                let value = rest.get_item("value")?.ok_or_else(|| bad(format!("mset item {key:?} without \"value\"")))?;
                let json = to_json(&key, &value).py_err(py)?;
                rest.del_item("key")?;
                rest.del_item("value")?;
                let opts = options_value("mset item", Some(rest.as_any())).py_err(py)?;
                parsed.push(dynopts::mset_item(key, json, opts).py_err(py)?);
            }
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.manager().mset(&parsed).await }, none)
        })
    }

    /// Invalidate every entry carrying any of `tags`.
    fn invalidate_by_tags(&self, py: Python<'_>, tags: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            let tags = strings_of("tags", tags).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.manager().invalidate_by_tags(&tags).await }, none)
        })
    }

    /// Completes when Redis answers PING; fails with a connection or timeout error otherwise.
    fn ping(&self, py: Python<'_>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.ping().await }, none)
        })
    }

    /// Counters as a dict (the Python layer wraps it in records).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::errors::guarded(|| {
            let s = self.inner.manager().stats();
            let l1 = PyDict::new(py);
            l1.set_item("size", s.l1.size)?;
            l1.set_item("max_size", s.l1.max_size)?;
            l1.set_item("hits", s.l1.hits)?;
            l1.set_item("misses", s.l1.misses)?;
            l1.set_item("hit_rate", s.l1.hit_rate)?;
            let l2 = PyDict::new(py);
            l2.set_item("hits", s.l2.hits)?;
            l2.set_item("misses", s.l2.misses)?;
            l2.set_item("hit_rate", s.l2.hit_rate)?;
            l2.set_item("errors", s.l2.errors)?;
            let d = PyDict::new(py);
            d.set_item("l1", l1)?;
            d.set_item("l2", l2)?;
            d.set_item("corrupt_entries", s.corrupt_entries)?;
            Ok(d)
        })
    }

    /// Whether Redis calls are currently failing (degraded mode).
    fn is_degraded(&self) -> bool {
        self.inner.manager().is_degraded()
    }

    /// Shut the system down: flush write-behind queues, then later calls raise `ClosedError`.
    /// Completes `fut` when done. Idempotent.
    fn close(&self, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::errors::guarded(|| {
            self.memo.clear();
            let sys = self.inner.clone();
            spawn(completions, fut, async move {
                sys.close().await;
                Ok(())
            }, none)
        })
    }
}
