//! `cache_metrics` as Python methods: the core's health check, metrics report and Prometheus
//! exposition, as dicts with snake_case keys (the Python layer wraps them in records); the switch
//! behind `skip_metrics`.

use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::bridge::{spawn, Completions};
use crate::conv::from_json;
use crate::handle::{System, PROCESS};

/// `camelCase` → `snake_case` (`hitRate` → `hit_rate`, `l1Hits` → `l1_hits`).
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The same JSON with every object key in snake_case.
fn snake_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (snake(&k), snake_keys(v))).collect::<Map<_, _>>()),
        Value::Array(a) => Value::Array(a.into_iter().map(snake_keys).collect()),
        other => other,
    }
}

fn dict<'py>(py: Python<'py>, report: impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(report).map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    from_json(py, &snake_keys(v).to_string())
}

fn health_dict(py: Python<'_>, r: stratacache::monitor::HealthReport) -> PyResult<Bound<'_, PyAny>> {
    dict(py, r)
}

/// Turn metrics recording on or off for the process system (now and after a re-open).
#[pyfunction]
pub fn set_metrics_enabled(on: bool) {
    PROCESS.registries().metrics_switch().set(on);
}

#[pymethods]
impl System {
    /// Check health now (one bounded PING); completes `fut` with the report (a dict).
    fn health_check(&self, py: Python<'_>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { Ok(sys.health_check().await) }, health_dict)
        })
    }

    /// Every counter and latency now (a dict).
    fn metrics_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::error::guarded(|| dict(py, self.live(py)?.metrics_report()))
    }

    /// The Prometheus text exposition now.
    fn prometheus_metrics(&self, py: Python<'_>) -> PyResult<String> {
        crate::error::guarded(|| Ok(self.live(py)?.prometheus_metrics()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_snake_case() {
        let v = snake_keys(serde_json::json!({"hitRate": {"l1": 1}, "operations": {"l1Hits": 2, "corruptEntries": 0}, "byAlgorithm": [{"algorithm": "x"}]}));
        assert_eq!(v, serde_json::json!({"hit_rate": {"l1": 1}, "operations": {"l1_hits": 2, "corrupt_entries": 0}, "by_algorithm": [{"algorithm": "x"}]}));
    }
}
