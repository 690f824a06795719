//! `redis_rate_limiter` as Python methods: keyword options (snake_case) in, a `RateLimitResult`
//! record out, built here so the awaited future already holds it. The core decides everything.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use stratacache::dynopts;
use stratacache::ratelimit::{self, RateLimitResult};

use crate::bridge::{spawn, Completions};
use crate::conv::{from_json, options_value};
use crate::error::IntoPy;
use crate::handle::System;

static RESULT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn result<'py>(py: Python<'py>, r: RateLimitResult) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("allowed", r.allowed)?;
    d.set_item("total", r.total)?;
    d.set_item("remaining", r.remaining)?;
    d.set_item("reset_time", r.reset_time)?;
    d.set_item("retry_after", r.retry_after)?;
    RESULT.import(py, "stratacache._ratelimit", "RateLimitResult")?.call1((d,))
}

#[pymethods]
impl System {
    /// One decision: `options` = `{window_ms, max_requests, algorithm?, cost?, on_redis_error?}`.
    fn rate_limit(&self, py: Python<'_>, identifier: String, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let opts = dynopts::limit_options(options_value("limit", options).py_err(py)?).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.rate_limiter().limit(&identifier, &opts).await }, result)
        })
    }

    /// A token-bucket decision: `{window_ms, max_requests, refill_rate?, bucket_size?, cost?, on_redis_error?}`.
    fn token_bucket(&self, py: Python<'_>, identifier: String, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let v = options_value("token_bucket", options).py_err(py)?;
            let opts = dynopts::bucket_options(v, "token_bucket", &["refillRate", "refill_rate"]).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.rate_limiter().token_bucket(&identifier, &opts).await }, result)
        })
    }

    /// A leaky-bucket decision: `{window_ms, max_requests, leak_rate?, bucket_size?, cost?, on_redis_error?}`.
    fn leaky_bucket(&self, py: Python<'_>, identifier: String, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let v = options_value("leaky_bucket", options).py_err(py)?;
            let opts = dynopts::bucket_options(v, "leaky_bucket", &["leakRate", "leak_rate"]).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.rate_limiter().leaky_bucket(&identifier, &opts).await }, result)
        })
    }

    /// Forget an identifier's state (every algorithm); completes with `None`.
    fn rate_limit_reset(&self, py: Python<'_>, identifier: String, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.rate_limiter().reset(&identifier).await }, |py, _: ()| Ok(py.None().into_bound(py)))
        })
    }

    /// `(allowed, denied, fallbacks)` counters.
    fn rate_limit_stats(&self, py: Python<'_>) -> PyResult<(u64, u64, u64)> {
        crate::error::guarded(|| {
            let s = self.live(py)?.rate_limiter().stats();
            Ok((s.allowed, s.denied, s.fallbacks))
        })
    }
}

/// The presets as a dict `{name: {"window_ms", "max_requests", "algorithm"}}`.
#[pyfunction]
pub fn rate_limit_presets(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    crate::error::guarded(|| {
        let mut m = serde_json::Map::new();
        for (name, p) in ratelimit::PRESETS {
            m.insert(name.into(), serde_json::json!({"window_ms": p.window_ms, "max_requests": p.max_requests, "algorithm": p.algorithm.name()}));
        }
        from_json(py, &serde_json::Value::Object(m).to_string())
    })
}

/// The standard headers of a decision, as `[(name, value), …]` (see the core's `ratelimit::headers`).
#[pyfunction]
#[pyo3(signature = (allowed, total, remaining, reset_time, retry_after, window_ms))]
#[allow(clippy::too_many_arguments)]
pub fn rate_limit_headers<'py>(
    py: Python<'py>,
    allowed: bool,
    total: u64,
    remaining: u64,
    reset_time: u64,
    retry_after: Option<u64>,
    window_ms: Option<u64>,
) -> PyResult<Bound<'py, PyList>> {
    crate::error::guarded(|| {
        let r = RateLimitResult { allowed, total, remaining, reset_time, retry_after };
        PyList::new(py, ratelimit::headers(&r, window_ms))
    })
}
