//! `System`: one stratacache system (the core's `StrataCache` handle) as a Python class: creating it,
//! `ping` and `close`. The other components' methods live in the modules named after them (`manager`,
//! `patterns`, `invalidator`, `session`, `ratelimit`). Every method converts, calls the core, maps
//! errors; async ones complete a future through the bridge.

use stratacache::patterns::Coalescer;
use std::sync::{Arc, LazyLock};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;
use stratacache::singleton::{EntryNames, Options, Singleton};
use stratacache::{Error, ErrorKind, StrataCache};

use crate::bridge::{spawn, Completions};
use crate::conv::options_value;
use crate::error::IntoPy;
use crate::memo::Memo;
use crate::runtime;

static MISS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The sentinel `get_l1` returns on a miss (a stored JSON `null` reads as `None`).
pub fn miss(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    MISS.get_or_try_init(py, || py.import("builtins")?.getattr("object")?.call0().map(Bound::unbind))
        .map(|m| m.bind(py))
}

pub(crate) fn describe(obj: &Bound<'_, PyAny>) -> String {
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



pub(crate) fn none<'py>(py: Python<'py>, _: ()) -> PyResult<Bound<'py, PyAny>> {
    Ok(py.None().into_bound(py))
}


/// The process-wide system's rules and registries (the core's `Singleton`), with this binding's names.
pub(crate) static PROCESS: LazyLock<Singleton> =
    LazyLock::new(|| Singleton::new(EntryNames { initialize: "initialize_cache_system()", shutdown: "shutdown_cache_system()" }));

/// Set the process system's `"redis"` or `"cache"` options (a dict); raises `ConfigError` naming a bad
/// option, or when the system already runs with other options.
#[pyfunction]
pub fn configure(py: Python<'_>, kind: &str, options: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    crate::error::guarded(|| {
        let which = match kind {
            "redis" => Options::Redis,
            "cache" => Options::Cache,
            other => return Err(crate::error::to_py(py, &Error::new(ErrorKind::Internal, format!("unknown options kind {other:?}")))),
        };
        PROCESS.configure(which, Some(options_value(kind, options).py_err(py)?)).py_err(py)
    })
}

/// Allow the process system to be created again after a shutdown.
#[pyfunction]
pub fn reopen() {
    PROCESS.reopen();
}

/// Mark the process system shut down (calls raise `ClosedError` until `reopen`).
#[pyfunction]
pub fn mark_shut_down() {
    PROCESS.shut_down();
}

/// Create the process system from the options set so far. Opens no connection; raises `ClosedError`
/// after a shutdown.
#[pyfunction]
pub fn create_system(py: Python<'_>) -> PyResult<System> {
    crate::error::guarded(|| {
        let (redis, cache) = PROCESS.begin_start().py_err(py)?;
        crate::logging::init();
        let started = (|| {
            let handle = runtime::handle()?;
            // `StrataCache::start`, from this synchronous entry point: a bounded one-time wait (a round
            // trip or two) for the bus's first subscription, detached from the interpreter.
            let memo_capacity = cache.l1_max_size.min(100_000) as usize;
            let inner = py.detach(|| StrataCache::start_blocking(redis, cache, PROCESS.registries().clone(), &handle)).py_err(py)?;
            Ok(System { inner: Arc::new(inner), pid: std::process::id(), memo: Memo::new(memo_capacity), aside_waiters: Coalescer::new(), aside_options: Default::default() })
        })();
        if started.is_err() {
            PROCESS.start_failed();
        }
        started
    })
}

/// One stratacache system.
#[pyclass(module = "stratacache._native", frozen)]
pub struct System {
    pub(crate) inner: Arc<StrataCache>,
    pid: u32,
    pub(crate) memo: Memo,
    /// The futures waiting for each key's cache-aside load, per event loop (the core's shared
    /// completions).
    pub(crate) aside_waiters: Arc<Coalescer<Py<PyAny>>>,
    /// The last `cache_aside` options text and what it parsed to (a conversion cache).
    pub(crate) aside_options: stratacache::dynopts::AsideOptionsMemo,
}

impl System {
    /// The core handle, unless this object was created before `fork()`.
    pub fn live(&self, py: Python<'_>) -> PyResult<Arc<StrataCache>> {
        if self.pid != std::process::id() {
            let e = Error::new(ErrorKind::Closed, "this cache system was created before fork(); the child creates its own on first use");
            return Err(crate::error::to_py(py, &e));
        }
        Ok(self.inner.clone())
    }
}

#[pymethods]
impl System {
    /// Completes when Redis answers PING; fails with a connection or timeout error otherwise.
    fn ping(&self, py: Python<'_>, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            let sys = self.live(py)?;
            spawn(completions, fut, async move { sys.ping().await }, none)
        })
    }

    /// The parsed-object memo's size: values held, and the bytes of JSON they came from (for tests).
    fn _memo_stats(&self) -> (usize, usize) {
        self.memo.stats()
    }

    /// Writes waiting in every write-behind queue of this system (0 once it is closed).
    fn write_behind_pending(&self) -> u64 {
        self.inner.write_behind_totals().pending
    }

    /// Completes `fut` when done. Idempotent.
    /// Shut the system down: flush write-behind queues, then later calls raise `ClosedError`.
    fn close(&self, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
        crate::error::guarded(|| {
            self.memo.clear();
            let sys = self.inner.clone();
            spawn(completions, fut, async move {
                sys.close().await;
                Ok(())
            }, none)
        })
    }
}
