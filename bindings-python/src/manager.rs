//! The core's cache manager on `System`: the synchronous L1 lookup, get/set/delete/mget/mset, tag
//! invalidation and the counters. Each converts, calls the core, maps errors; async ones complete a
//! future through the bridge.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use stratacache::{dynopts, Error, ErrorKind};

use crate::bridge::{spawn, spawn_read, Completions};
use crate::conv::{from_json, options_value, to_json};
use crate::error::IntoPy;
use crate::handle::{describe, key_of, miss, none, System};

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

fn boolean<'py>(py: Python<'py>, b: bool) -> PyResult<Bound<'py, PyAny>> {
    Ok(pyo3::types::PyBool::new(py, b).to_owned().into_any())
}

#[pymethods]
impl System {
    /// The L1 lookup, synchronous: the value on a hit, the `MISS` sentinel on a miss.
    fn get_l1<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            match self.live(py)?.manager().get_l1(&key).py_err(py)? {
                Some(e) => self.memo.value(py, &key, e.id, &e.json),
                None => miss(py).cloned(),
            }
        })
    }

    /// The Redis part of a get (after `get_l1` missed): completes `fut` with the value or `None`.
    fn get_l2(&self, py: Python<'_>, key: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let sys = self.live(py)?;
            spawn_read(
                completions,
                fut,
                |idle| async move {
                    let m = sys.manager();
                    let entry = if idle { m.get_l2_idle(&key).await? } else { m.get_l2(&key).await? };
                    Ok(entry.map(|e| e.json.to_string()))
                },
                json_or_none,
            )
        })
    }

    /// Store a value with an options dict (`ttl`, `tags`, `compress`, `compression_threshold`).
    #[pyo3(signature = (key, value, options, completions, fut))]
    fn set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let json = to_json(&key, value).py_err(py)?;
            let opts = dynopts::set_options(options_value("set", options).py_err(py)?).py_err(py)?;
            let sys = self.live(py)?;
            sys.manager().begin_writes([key.as_str()]);
            spawn(completions, fut, async move { sys.manager().set_json(&key, &json, &opts).await }, none)
        })
    }

    /// Delete a key: completes with whether it existed.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.manager().del(&key).await }, boolean)
        })
    }

    /// Get many keys: completes with a dict in input order (`None` for misses).
    fn mget(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
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
        crate::error::guarded(|| {
            let bad = |what: String| crate::error::to_py(py, &Error::new(ErrorKind::InvalidArgument, what));
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
            sys.manager().begin_writes(parsed.iter().map(|i| i.key.as_str()));
            spawn(completions, fut, async move { sys.manager().mset(&parsed).await }, none)
        })
    }

    /// Invalidate every entry carrying any of `tags`.
    fn invalidate_by_tags(&self, py: Python<'_>, tags: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let tags = strings_of("tags", tags).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.manager().invalidate_by_tags(&tags).await }, none)
        })
    }

    /// Counters as a dict (the Python layer wraps it in records).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::error::guarded(|| {
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

}
