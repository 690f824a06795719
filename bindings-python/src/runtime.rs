//! The one tokio runtime of the Python binding: created on first use, re-created after `fork()`
//! (a child must not reuse the parent's threads or sockets), and shut down from an `atexit` hook with
//! the interpreter detached (shutting down while finalizing crashed 25–85 % of short scripts here).

use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use stratacache::starts::StartQueue;
use tokio::runtime::{Handle, Runtime};

struct Owned {
    pid: u32,
    runtime: Runtime,
    /// Starts the calls in the order Python made them (the core's `StartQueue`).
    starts: StartQueue,
}

// Only touched while attached to the interpreter, so no other Python thread holds it across fork().
static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// A handle to the runtime, creating it (again, after a fork or shutdown) when needed.
pub fn handle() -> PyResult<Handle> {
    with_owned(|o| o.runtime.handle().clone())
}

/// Run `call` on the runtime after every call started before it (see the core's `starts`): a
/// `set` then a `get` of one key reach Redis in that order.
pub fn start(call: futures::future::BoxFuture<'static, ()>) -> PyResult<()> {
    with_owned(|o| o.starts.start(call))
}

/// Start a read: when every call started before it has finished, `make(true)` starts at once with
/// its first poll on this thread (the core's `StartQueue::start_here`: a read on the idle lane writes
/// its command here, without waking the runtime's thread first); otherwise `make(false)` is started
/// as [`start`] does.
pub fn start_read(make: impl FnOnce(bool) -> futures::future::BoxFuture<'static, ()>) -> PyResult<()> {
    with_owned(|o| {
        if o.starts.is_idle() {
            o.starts.start_here(o.runtime.handle(), make(true));
        } else {
            o.starts.start(make(false));
        }
    })
}

fn with_owned<T>(f: impl FnOnce(&Owned) -> T) -> PyResult<T> {
    let mut guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some(o) = guard.as_ref() {
        if o.pid == pid {
            return Ok(f(o));
        }
        // Inherited from the parent across fork(): its threads do not exist here. Leak it.
        std::mem::forget(guard.take());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .thread_name("stratacache-io")
        .enable_all()
        .build()
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start the tokio runtime: {e}")))?;
    let starts = StartQueue::new(|starter| drop(runtime.spawn(starter)));
    let owned = guard.insert(Owned { pid, runtime, starts });
    Ok(f(owned))
}

/// Forget the runtime inherited across `fork()` (called in the child by `os.register_at_fork`).
#[pyfunction]
pub fn _after_fork_in_child() {
    crate::handle::PROCESS.forget_after_fork();
    let mut guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if guard.as_ref().is_some_and(|o| o.pid != std::process::id()) {
        std::mem::forget(guard.take());
    }
}

/// Shut the runtime down (atexit). Waits at most one second for tasks to finish.
#[pyfunction]
pub fn _shutdown_runtime(py: Python<'_>) {
    crate::logging::disable();
    let owned = RUNTIME.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(o) = owned {
        if o.pid == std::process::id() {
            py.detach(move || o.runtime.shutdown_timeout(Duration::from_secs(1)));
        } else {
            std::mem::forget(o);
        }
    }
}
