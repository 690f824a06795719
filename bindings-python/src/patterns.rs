//! Cache patterns as Python methods: convert, hand Python callables to the core through
//! [`crate::callbacks`] (bound to the caller's loop), map errors.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use stratacache::patterns::{Entered, WriteBehind};
use stratacache::{dynopts, Error, ErrorKind};

use crate::bridge::{spawn, spawn_shared, Completions};
use crate::callbacks::{self, CallSite, PyPayload};
use crate::conv::{from_json, options_json, options_value, to_json};
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

/// Fail the waiters of an abandoned load (all but `except`, the caller that raises itself).
fn fail_waiters(py: Python<'_>, waiters: Vec<Py<PyAny>>, except: Option<&Bound<'_, PyAny>>, e: &PyErr) {
    let exc = e.clone_ref(py).into_value(py);
    for w in waiters {
        let w = w.bind(py);
        if w.is_none() || except.is_some_and(|x| w.is(x)) {
            continue;
        }
        let _ = w.call_method1("set_exception", (exc.clone_ref(py),));
    }
}

#[pymethods]
impl System {
    /// `cache_aside.get`'s synchronous front (the core's `CacheAside::enter`): the key and the options
    /// are checked; a load of the key already running on this loop (`completions`) is joined; else L1
    /// is looked up; else `loader` starts a load. Returns the value on an L1 hit, else a new future of
    /// `loop` that the load's one result completes (each waiter its own copy, or the same exception).
    /// A load's first future is added to `pending` (the bridge's set that shutdown settles): the
    /// others complete with it, and shutdown fails those still waiting (`abandon_loads`).
    #[allow(clippy::too_many_arguments)]
    fn cache_aside_enter<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>, loader: &Bound<'py, PyAny>, options: Option<&Bound<'py, PyAny>>, event_loop: &Bound<'py, PyAny>, completions: &Completions, pending: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        crate::error::guarded(|| {
            let key = key_of(key).py_err(py)?;
            let loader = callable(py, "loader", loader)?;
            let opts = self.aside_options.parse(options_json("cache_aside", options).py_err(py)?.as_deref()).py_err(py)?;
            let sys = self.live(py)?;
            // The future is made only when a waiter is needed (not for a hit), outside the core's lock.
            let mut mine: Option<Bound<'py, PyAny>> = None;
            let mut failed: Option<PyErr> = None;
            let entered = sys.cache_aside().enter(&self.aside_waiters, completions.group(), &key, &opts, true, || {
                match event_loop.call_method0(pyo3::intern!(py, "create_future")) {
                    Ok(f) => {
                        mine = Some(f.clone());
                        f.unbind()
                    }
                    Err(e) => {
                        failed = Some(e);
                        py.None()
                    }
                }
            });
            let entered = entered.py_err(py)?;
            let lead = match entered {
                Entered::Hit(e) => return self.memo.value(py, &key, e.id, &e.json),
                Entered::Waiting => None,
                Entered::Lead(lead) => Some(lead),
            };
            let fut = match (failed, mine) {
                (None, Some(fut)) => fut,
                (failed, _) => {
                    let e = failed.unwrap_or_else(|| crate::error::to_py(py, &Error::new(ErrorKind::Internal, "cache_aside: no future was made")));
                    if let Some(lead) = lead {
                        fail_waiters(py, lead.abandon(), None, &e);
                    }
                    return Err(e);
                }
            };
            let Some(lead) = lead else { return Ok(fut) };
            match CallSite::here(py, completions.shared()) {
                Ok(site) => {
                    let loader = callbacks::loader(site, loader, key.clone());
                    spawn_shared(completions, lead.load(loader, &opts), json_or_none)?;
                    pending.call_method1(pyo3::intern!(py, "add"), (&fut,))?;
                    Ok(fut)
                }
                Err(e) => {
                    // This call raises; any other waiter of the key fails with the same error.
                    fail_waiters(py, lead.abandon(), Some(&fut), &e);
                    Err(e)
                }
            }
        })
    }

    /// The futures still waiting for a cache-aside load, taken out so that shutdown can fail them
    /// (the loads run on and find nobody waiting).
    fn abandon_loads(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        crate::error::guarded(|| Ok(self.aside_waiters.take_all().into_iter().filter(|f| !f.bind(py).is_none()).collect()))
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

/// The values of `getMany` (JSON text or `None` per key) as a list.
fn values_list(py: Python<'_>, values: Vec<Option<String>>) -> PyResult<Bound<'_, PyAny>> {
    let list = pyo3::types::PyList::empty(py);
    for v in values {
        match v {
            Some(j) => list.append(from_json(py, &j)?)?,
            None => list.append(py.None())?,
        }
    }
    Ok(list.into_any())
}

#[pymethods]
impl System {
    /// `cache_aside.get_many`: completes `fut` with the list of values (or `None`) in input order.
    /// `loader` is called on this loop with the JSON text of the missing keys (the Python layer
    /// wraps the user's loader) and returns a dict.
    fn cache_aside_get_many(&self, py: Python<'_>, keys: Vec<String>, loader: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let opts = self.aside_options.parse(options_json("cache_aside", options).py_err(py)?.as_deref()).py_err(py)?;
            let ctx: stratacache::callbacks::CallContext = Some(CallSite::here(py, completions.shared())?);
            let loader = callbacks::key_loader(loader.clone().unbind());
            let sys = self.live(py)?;
            spawn(
                completions,
                fut,
                async move {
                    let out = sys.cache_aside().get_many(&keys, loader, ctx, &opts).await?;
                    Ok(out.into_iter().map(|v| v.map(|j| j.to_string())).collect::<Vec<_>>())
                },
                values_list,
            )
        })
    }
}
