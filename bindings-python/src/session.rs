//! `session_manager` as Python methods: dicts in, JSON-shaped dicts (camelCase, as stored) out; the
//! Python layer renames fields to snake_case. The core does everything else.

use pyo3::prelude::*;
use stratacache::{dynopts, session};

use crate::bridge::{spawn, Completions};
use crate::conv::{from_json, options_value, to_json};
use crate::error::IntoPy;
use crate::handle::System;

fn json<'py>(py: Python<'py>, text: String) -> PyResult<Bound<'py, PyAny>> {
    from_json(py, &text)
}

/// A value (session data, a user id) as JSON, refusing what JSON cannot hold (as `set` does).
fn value_of(py: Python<'_>, what: &str, v: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let text = to_json(what, v).py_err(py)?;
    serde_json::from_str(&text).map_err(|e| {
        let e = stratacache::Error::new(stratacache::ErrorKind::Serialization, format!("{what} is not valid JSON: {e}"));
        crate::error::to_py(py, &e)
    })
}

fn user_of(py: Python<'_>, user_id: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    value_of(py, "user_id", user_id)
}

#[pymethods]
impl System {
    /// Create a session: completes with `{"sessionId", "session"}`.
    fn create_session(&self, py: Python<'_>, data: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let input = value_of(py, "session", data)?;
            let opts = dynopts::session_options(options_value("create_session", options).py_err(py)?).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move {
                let (id, s) = sys.sessions().create(input, opts).await?;
                Ok(serde_json::json!({ "sessionId": id, "session": s }).to_string())
            }, json)
        })
    }

    /// The session (a dict) or `None`.
    fn get_session(&self, py: Python<'_>, id: String, options: Option<&Bound<'_, PyAny>>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let (ip, ua) = dynopts::session_validation(options_value("get_session", options).py_err(py)?).py_err(py)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move {
                Ok(sys.sessions().get(&id, ip.as_deref(), ua.as_deref()).await?.map(|s| s.to_string()))
            }, |py, s: Option<String>| match s {
                Some(t) => from_json(py, &t),
                None => Ok(py.None().into_bound(py)),
            })
        })
    }

    /// Slide the expiry: completes with whether the session exists.
    fn touch_session(&self, py: Python<'_>, id: String, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.sessions().touch(&id).await }, |py, b: bool| Ok(pyo3::types::PyBool::new(py, b).to_owned().into_any()))
        })
    }

    /// Delete by id or handle: completes with whether it existed.
    fn delete_session(&self, py: Python<'_>, id: String, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.sessions().delete(&id).await }, |py, b: bool| Ok(pyo3::types::PyBool::new(py, b).to_owned().into_any()))
        })
    }

    /// Delete every session of a user: completes with how many.
    fn delete_user_sessions(&self, py: Python<'_>, user_id: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let user = user_of(py, user_id)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.sessions().delete_user(&user).await }, |py, n: u64| Ok(n.into_pyobject(py)?.into_any()))
        })
    }

    /// A user's sessions (list of dicts), most recently active first.
    fn get_user_sessions(&self, py: Python<'_>, user_id: &Bound<'_, PyAny>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let user = user_of(py, user_id)?;
            let sys = self.live(py)?;
            spawn(completions, fut, async move {
                Ok(serde_json::Value::Array(sys.sessions().user_sessions(&user).await?).to_string())
            }, json)
        })
    }

    /// Session counters (a dict).
    fn session_stats(&self, py: Python<'_>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { Ok(session::stats_json(&sys.sessions().stats().await?)) }, json)
        })
    }
}
