//! The one mapping from core errors to Python exceptions.
//!
//! The exception classes are declared once, in Python (`stratacache/errors.py`), because each must
//! subclass both `StrataCacheError` and the builtin that fits (`ValueError`, `TypeError`,
//! `TimeoutError`, `ConnectionError`), which `create_exception!` cannot express. This file looks the
//! class up by the core's stable code.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static FROM_CODE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Convert a core error into the matching `StrataCacheError` subclass.
pub fn to_py(py: Python<'_>, e: &stratacache::Error) -> PyErr {
    // A user callback's exception: raise that very object.
    if let Some(p) = e.payload().and_then(|p| p.downcast_ref::<crate::callbacks::PyPayload>()) {
        return PyErr::from_value(p.0.bind(py).clone());
    }
    let made = FROM_CODE
        .import(py, "stratacache.errors", "_from_code")
        .and_then(|f| f.call1((e.code(), e.message())));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// `Result` mapping for core calls made while attached to the interpreter.
pub trait IntoPy<T> {
    /// Map the error to its Python exception.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for stratacache::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}

/// Run the body of a native entry point, turning a panic into `InternalError`
/// (`ERR_STRATACACHE_INTERNAL`, in the `StrataCacheError` tree) instead of PyO3's `PanicException`,
/// which no `except Exception` catches. Every `#[pymethods]`/`#[pyfunction]` body that returns a
/// `PyResult` goes through it; async work is guarded the same way in [`crate::bridge::spawn`].
pub fn guarded<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(panic) => Err(Python::attach(|py| to_py(py, &stratacache::Error::from_panic(panic)))),
    }
}
