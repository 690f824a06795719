//! Cache patterns as Python methods: convert, hand Python callables to the core through
//! [`crate::callbacks`] (bound to the caller's loop), map errors.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use stratacache::patterns::{Joined, WriteBehind};
use stratacache::{dynopts, Error, ErrorKind};

use crate::bridge::{spawn, spawn_shared, Completions};
use crate::callbacks::{self, CallSite, PyPayload};
use crate::conv::{from_json, options_value, to_json};
use crate::error::IntoPy;
use crate::handle::{key_of, System};

fn json_or_none<'py>(py: Python<'py>, v: Option<Arc<str>>) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(t) => from_json(py, &t),
        None => Ok(py.None().into_bound(py)),
    }
}

fn none<'py>(py: Python<'py>, _: ()) -> PyResult<Bound<'py, PyAny>> {
    Ok(py.None().into_bound(py))
}

fn callable(py: Python<'_>, what: &str, f: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if !f.is_callable() {
        let t = f.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(crate::error::to_py(py, &Error::new(ErrorKind::InvalidArgument, format!("{what} must be callable, got {t}"))));
    }
    Ok(f.clone().unbind())
}

#[pymethods]
impl System {
    /// `cache_aside.get` after `cache_aside_probe` missed: `fut` waits for the key's load (the core's
    /// shared completions, per event loop). The first waiter of a key starts the load with its
    /// `loader` and `options`; the others join it, and every one gets the same outcome (its own copy of
    /// the value, or the same exception object).
    fn cache_aside_get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, loader: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let loader = callable(py, "loader", loader)?;
            let sys = self.live(py)?;
            let mine = fut.clone_ref(py);
            let lead = match sys.cache_aside().join(&self.aside_waiters, completions.group(), &key, fut).py_err(py)? {
                Joined::Waiting => return Ok(()),
                Joined::Lead(lead) => lead,
            };
            let started = (|| {
                let opts = dynopts::aside_options(options_value("cache_aside", options).py_err(py)?).py_err(py)?;
                let site = CallSite::here(py, completions.shared())?;
                Ok::<_, PyErr>((callbacks::loader(site, loader, key.clone()), opts))
            })();
            match started {
                Ok((loader, opts)) => spawn_shared(completions, lead.load(loader, &opts), json_or_none),
                Err(e) => {
                    // This call raises; any other waiter of the key fails with the same error.
                    let exc = e.clone_ref(py).into_value(py);
                    for other in lead.abandon().into_iter().filter(|w| !w.is(&mine)) {
                        let _ = other.bind(py).call_method1("set_exception", (exc.clone_ref(py),));
                    }
                    Err(e)
                }
            }
        })
    }

    /// The synchronous front of `cache_aside.get` (the core's `CacheAside::probe`): checks the key and
    /// the options, looks the key up in L1; the value on a hit, the `MISS` sentinel on a miss (then
    /// join or start the load with `cache_aside_get`).
    fn cache_aside_probe<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, options: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let opts = dynopts::aside_options(options_value("cache_aside", options).py_err(py)?).py_err(py)?;
            match self.live(py)?.cache_aside().probe(&key, &opts).py_err(py)? {
                Some(e) => self.memo.value(py, &key, e.id, &e.json),
                None => crate::handle::miss(py).cloned(),
            }
        })
    }

    /// `cache_aside.get_with_refresh`.
    fn cache_aside_get_with_refresh(&self, py: Python<'_>, key: &Bound<'_, PyAny>, loader: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let loader = callable(py, "loader", loader)?;
            let opts = dynopts::refresh_options(options_value("get_with_refresh", options).py_err(py)?).py_err(py)?;
            let site = CallSite::here(py, completions.shared())?;
            let sys = self.live(py)?;
            let loader = callbacks::loader(site, loader, key.clone());
            spawn(completions, fut, async move { sys.cache_aside().get_with_refresh(&key, loader, &opts).await }, json_or_none)
        })
    }

    /// `write_through.write`: `writer` is a zero-argument callable (the Python layer binds the value).
    fn write_through(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, writer: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let json = to_json(&key, value).py_err(py)?;
            let writer = callable(py, "writer", writer)?;
            let opts = dynopts::set_options(options_value("write_through", options).py_err(py)?).py_err(py)?;
            let site = CallSite::here(py, completions.shared())?;
            let sys = self.live(py)?;
            let writer = callbacks::writer(site, writer, key.clone());
            spawn(completions, fut, async move { sys.write_through().write(&key, &json, writer, &opts).await }, none)
        })
    }

    /// `read_through.read`: the loader runs on the caller's loop.
    fn read_through(&self, py: Python<'_>, key: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let opts = dynopts::aside_options(options_value("read_through", options).py_err(py)?).py_err(py)?;
            let site: stratacache::callbacks::CallContext = Some(CallSite::here(py, completions.shared())?);
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.read_through().read_with_context(&key, &opts, site).await }, json_or_none)
        })
    }

    /// A new write-behind queue (`WriteBehindPattern`), flushed by `close()`.
    #[pyo3(signature = (options, on_error=None))]
    fn new_write_behind(&self, py: Python<'_>, options: Option<&Bound<'_, PyAny>>, on_error: Option<&Bound<'_, PyAny>>) -> PyResult<WriteBehindHandle> {
        crate::error::guarded(|| {
            let mut opts = dynopts::write_behind_options(options_value("WriteBehindPattern", options).py_err(py)?).py_err(py)?;
            let last_site: Arc<Mutex<Option<Arc<CallSite>>>> = Arc::new(Mutex::new(None));
            if let Some(hook) = on_error.filter(|h| !h.is_none()) {
                let hook = Arc::new(callable(py, "on_error", hook)?);
                let sites = last_site.clone();
                opts.on_error = Some(Arc::new(move |e: Error, key: String, json: Arc<str>| {
                    let Some(site) = sites.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
                    let hook = hook.clone();
                    site.call_soon(Box::new(move |py| {
                        let exc = match e.payload().and_then(|p| p.downcast_ref::<PyPayload>()) {
                            Some(p) => p.0.bind(py).clone(),
                            None => crate::error::to_py(py, &e).into_value(py).into_bound(py).into_any(),
                        };
                        let value = from_json(py, &json).unwrap_or_else(|_| py.None().into_bound(py));
                        if let Err(err) = hook.bind(py).call1((exc, key, value)) {
                            tracing::warn!("stratacache: WriteBehindPattern on_error raised: {err}");
                        }
                    }));
                }));
            }
            Ok(WriteBehindHandle { inner: self.live(py)?.new_write_behind(opts), last_site })
        })
    }
}

impl CallSite {
    fn call_soon(&self, call: crate::bridge::LoopCall) -> bool {
        self.shared().call_soon(call)
    }
}

/// One write-behind queue.
#[pyclass(module = "stratacache._native", frozen)]
pub struct WriteBehindHandle {
    inner: WriteBehind,
    last_site: Arc<Mutex<Option<Arc<CallSite>>>>,
}

#[pymethods]
impl WriteBehindHandle {
    /// Cache now, queue `writer` (a zero-argument callable).
    fn write(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, writer: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let json = to_json(&key, value).py_err(py)?;
            let writer = callable(py, "writer", writer)?;
            let opts = dynopts::set_options(options_value("write_behind", options).py_err(py)?).py_err(py)?;
            let site = CallSite::here(py, completions.shared())?;
            *self.last_site.lock().unwrap_or_else(|p| p.into_inner()) = Some(site.clone());
            let writer = callbacks::writer(site, writer, key.clone());
            let wb = self.inner.clone();
            spawn(completions, fut, async move { wb.write(&key, &json, writer, &opts).await }, none)
        })
    }

    /// Run every queued write now; completes with how many were written.
    fn flush(&self, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let wb = self.inner.clone();
            spawn(completions, fut, async move { Ok(wb.flush().await) }, |py, n: usize| Ok(n.into_pyobject(py)?.into_any()))
        })
    }

    /// Counters as a dict: pending, written, coalesced, retries, failed.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::error::guarded(|| {
            let s = self.inner.stats();
            let d = PyDict::new(py);
            d.set_item("pending", s.pending)?;
            d.set_item("written", s.written)?;
            d.set_item("coalesced", s.coalesced)?;
            d.set_item("retries", s.retries)?;
            d.set_item("failed", s.failed)?;
            Ok(d)
        })
    }
}

/// `read_through.register_loader`: registered with the process (every system, now and after a
/// restart, uses it).
#[pyfunction]
pub fn register_loader(py: Python<'_>, pattern: &str, loader: &Bound<'_, PyAny>) -> PyResult<()> {
    crate::error::guarded(|| {
        let loader = callable(py, "loader", loader)?;
        crate::handle::PROCESS.registries().loaders().register(pattern, callbacks::key_loader(loader)).py_err(py)
    })
}

/// `read_through.unregister_loader`: whether there was one.
#[pyfunction]
pub fn unregister_loader(pattern: &str) -> PyResult<bool> {
    crate::error::guarded(|| Ok(crate::handle::PROCESS.registries().loaders().unregister(pattern)))
}
