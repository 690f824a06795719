//! `cache_invalidator` / `domain_invalidator` as Python methods, and invalidation listeners.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use stratacache::bus::InvalidationEvent;
use stratacache::invalidator::{targets_from_json, DomainRule, DomainTargets};

use crate::bridge::{spawn, Completions};
use crate::callbacks::{self, CallSite};
use crate::error::IntoPy;
use crate::handle::{key_of, System};

fn count<'py>(py: Python<'py>, n: u64) -> PyResult<Bound<'py, PyAny>> {
    Ok(n.into_pyobject(py)?.into_any())
}

fn targets_dict<'py>(py: Python<'py>, t: DomainTargets) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("keys", PyList::new(py, t.keys)?)?;
    d.set_item("tags", PyList::new(py, t.tags)?)?;
    d.set_item("patterns", PyList::new(py, t.patterns)?)?;
    Ok(d.into_any())
}

#[pymethods]
impl System {
    /// Delete keys in every process: completes with how many existed.
    fn invalidate_keys(&self, py: Python<'_>, keys: Vec<Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let keys = keys.iter().map(key_of).collect::<Result<Vec<_>, _>>().py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.invalidator().invalidate_keys(&keys).await }, count)
        })
    }

    /// Delete every key matching a glob in every process: completes with how many.
    fn invalidate_pattern(&self, py: Python<'_>, glob: String, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.invalidator().invalidate_pattern(&glob).await }, count)
        })
    }

    /// Call `dispatcher(event_dict)` on the loop of `completions` for every invalidation; returns an id.
    fn on_invalidation(&self, py: Python<'_>, dispatcher: Py<PyAny>, completions: &Completions) -> PyResult<u64> {
        crate::error::guarded(|| {
            let shared = completions.shared();
            let dispatcher = Arc::new(dispatcher);
            Ok(self.live(py)?.invalidator().on_invalidation(Arc::new(move |e: &InvalidationEvent| {
                let (e, dispatcher) = (e.clone(), dispatcher.clone());
                shared.call_soon(Box::new(move |py| {
                    let built = (|| -> PyResult<()> {
                        let d = PyDict::new(py);
                        d.set_item("type", e.kind.as_str())?;
                        d.set_item("target", PyList::new(py, &e.target)?)?;
                        d.set_item("source", &e.source)?;
                        d.set_item("timestamp", e.timestamp)?;
                        d.set_item("local", e.local)?;
                        dispatcher.bind(py).call1((d,))?;
                        Ok(())
                    })();
                    if let Err(err) = built {
                        err.print(py);
                    }
                }));
            })))
        })
    }

    /// Remove a listener.
    fn off_invalidation(&self, py: Python<'_>, id: u64) -> PyResult<bool> {
        crate::error::guarded(|| {
            Ok(self.live(py)?.invalidator().off_invalidation(id))
        })
    }

    /// Invalidate what a domain's rule says for `id`: completes with the targets dict.
    fn invalidate_domain(&self, py: Python<'_>, domain: String, id: String, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let site: stratacache::callbacks::CallContext = Some(CallSite::here(py, completions.shared())?);
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.domains().invalidate_with_context(&domain, &id, site).await }, targets_dict)
        })
    }

    /// Counters of the invalidation bus.
    fn bus_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::error::guarded(|| {
            let s = self.live(py)?.manager().bus().stats();
            let d = PyDict::new(py);
            d.set_item("connected", s.connected)?;
            d.set_item("state", s.state.as_str())?;
            d.set_item("reconnects", s.reconnects)?;
            d.set_item("received", s.received)?;
            d.set_item("tracked", s.tracked)?;
            Ok(d)
        })
    }

    /// This process's id on the bus.
    fn bus_source(&self, py: Python<'_>) -> PyResult<String> {
        crate::error::guarded(|| {
            Ok(self.live(py)?.manager().bus().source().to_owned())
        })
    }
}

/// Register the rule of a domain with the process (every system, now and after a restart, uses it):
/// `rule(id)` returns (or resolves to) `{"keys": …, "tags": …, "patterns": …}`.
#[pyfunction]
pub fn register_domain(py: Python<'_>, domain: &str, rule: Py<PyAny>) -> PyResult<()> {
    crate::error::guarded(|| {
        let loader = callbacks::key_loader(rule);
        let name = domain.to_owned();
        let rule: DomainRule = Arc::new(move |id: String, ctx: &stratacache::callbacks::CallContext| {
            let fut = loader(id.clone(), ctx);
            let name = name.clone();
            Box::pin(async move { targets_from_json(&name, &id, fut.await?.as_deref()) })
        });
        crate::handle::PROCESS.registries().domain_rules().register(domain, rule).py_err(py)
    })
}

/// Remove the registered rule of a domain (a built-in domain falls back to its built-in rule);
/// whether there was one.
#[pyfunction]
pub fn unregister_domain(domain: &str) -> PyResult<bool> {
    crate::error::guarded(|| Ok(crate::handle::PROCESS.registries().domain_rules().unregister(domain)))
}
