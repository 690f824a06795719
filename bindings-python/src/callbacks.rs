//! Python callables (coroutine functions or plain functions) as core loaders and writers.
//!
//! A callback runs on the event loop of the call that handed it over, in that call's
//! `contextvars` context: the tokio side queues a start request on the loop's completion queue
//! ([`crate::bridge`]), the loop thread starts the coroutine as a task (`stratacache._bridge._start`),
//! and the task's outcome comes back through a [`Resolver`]. What the callback raised travels as the
//! core error's payload, so every waiter gets the very same exception object.

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use stratacache::patterns::{CallContext, KeyLoader, LoadFuture, Loader, Writer};
use stratacache::{Error, ErrorKind};
use tokio::sync::oneshot;

use crate::bridge::Shared;
use crate::conv::to_json;

/// A Python exception raised by a user callback, carried as a core error payload.
pub struct PyPayload(pub Py<PyAny>);

/// Where a callback must run: the caller's loop queue and `contextvars` context.
pub struct CallSite {
    shared: Arc<Shared>,
    context: Py<PyAny>,
}

impl CallSite {
    /// The loop queue of this call site.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The call site of the current call (on the loop thread).
    pub fn here(py: Python<'_>, shared: Arc<Shared>) -> PyResult<Arc<CallSite>> {
        let context = py.import("contextvars")?.call_method0("copy_context")?.unbind();
        Ok(Arc::new(CallSite { shared, context }))
    }
}

#[derive(Clone, Copy)]
enum Want {
    Value,
    Nothing,
}

type Reply = oneshot::Sender<stratacache::Result<Option<String>>>;

/// Receives a callback's outcome on the loop thread: `resolver(True, value)` or `resolver(False, exc)`.
#[pyclass(module = "stratacache._native", frozen)]
pub struct Resolver {
    reply: Mutex<Option<Reply>>,
    key: String,
    want: Want,
}

#[pymethods]
impl Resolver {
    fn __call__(&self, py: Python<'_>, ok: bool, value: &Bound<'_, PyAny>) {
        let Some(reply) = self.reply.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        let result = if ok {
            match self.want {
                Want::Nothing => Ok(None),
                Want::Value if value.is_none() => Ok(None),
                Want::Value => to_json(&self.key, value).map(Some),
            }
        } else {
            let message = value.str().map(|s| s.to_string()).unwrap_or_else(|_| "callback failed".into());
            Err(Error::callback(message, Arc::new(PyPayload(value.clone().unbind()))))
        };
        let _ = py;
        let _ = reply.send(result);
    }
}

static START: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn run(site: &Arc<CallSite>, func: &Arc<Py<PyAny>>, arg: Option<String>, key: String, want: Want) -> LoadFuture {
    let (tx, rx) = oneshot::channel();
    let (site2, func) = (site.clone(), func.clone());
    let queued = site.shared.call_soon(Box::new(move |py| {
        let resolver = Resolver { reply: Mutex::new(Some(tx)), key, want };
        let started = START.import(py, "stratacache._bridge", "_start").and_then(|start| {
            let args = match arg {
                Some(a) => pyo3::types::PyTuple::new(py, [a])?.into_any(),
                None => pyo3::types::PyTuple::empty(py).into_any(),
            };
            start.call1((site2.context.bind(py), func.bind(py), args, Py::new(py, resolver)?))
        });
        if let Err(e) = started {
            // The resolver was moved into Python (or never made): report through a fresh error.
            tracing::warn!("stratacache: could not start a Python callback: {e}");
        }
    }));
    async move {
        if !queued {
            return Err(Error::new(ErrorKind::Callback, "the event loop that handed over this callback is closed"));
        }
        rx.await.unwrap_or_else(|_| Err(Error::new(ErrorKind::Callback, "the callback's event loop went away before it finished")))
    }
    .boxed()
}

/// A cache-aside loader from a Python callable.
pub fn loader(site: Arc<CallSite>, func: Py<PyAny>, key: String) -> Loader {
    let func = Arc::new(func);
    Arc::new(move || run(&site, &func, None, key.clone(), Want::Value))
}

/// A writer from a Python callable; it is called with the original value, not the JSON text.
pub fn writer(site: Arc<CallSite>, func: Py<PyAny>, key: String) -> Writer {
    let func = Arc::new(func);
    Arc::new(move |_json: Arc<str>| run(&site, &func, None, key.clone(), Want::Nothing).map(|r| r.map(|_| ())).boxed())
}

/// A warming strategy's fetch function: runs where the warm call came from, or (a scheduled run)
/// on the loop the warmer was given ([`stratacache::warming::Warmer::set_schedule_context`]).
pub fn fetch_fn(func: Py<PyAny>, name: String) -> stratacache::warming::FetchFn {
    let func = Arc::new(func);
    Arc::new(move |ctx: &CallContext| match ctx.as_ref().and_then(|c| c.clone().downcast::<CallSite>().ok()) {
        Some(site) => run(&site, &func, None, format!("warming strategy {name}"), Want::Value),
        None => {
            let name = name.clone();
            async move {
                Err(Error::new(
                    ErrorKind::Callback,
                    format!("the fetch_fn of strategy {name:?} needs an event loop: no loop has used the cache system yet"),
                ))
            }
            .boxed()
        }
    })
}

/// A read-through loader: runs where the `read` call came from (its [`CallSite`] is the context).
pub fn key_loader(func: Py<PyAny>) -> KeyLoader {
    let func = Arc::new(func);
    Arc::new(move |key: String, ctx: &CallContext| {
        match ctx.as_ref().and_then(|c| c.clone().downcast::<CallSite>().ok()) {
            Some(site) => run(&site, &func, Some(key.clone()), key, Want::Value),
            None => async { Err(Error::new(ErrorKind::Internal, "a Python read-through loader needs the caller's event loop")) }.boxed(),
        }
    })
}
