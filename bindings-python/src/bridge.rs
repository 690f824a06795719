//! The await bridge: Rust futures complete Python `asyncio.Future`s without a tokio thread ever
//! waiting for the interpreter.
//!
//! Each event loop has one [`Completions`] queue and a socket pair whose read end is registered with
//! `loop.add_reader`. A finished task pushes `(future, outcome)` on the queue and, when the queue was
//! idle, writes one byte to wake the loop; the loop thread then calls [`Completions::drain`], which
//! converts every finished outcome and sets every future's result at once, in a batch. (pyo3's own
//! `future_into_py` takes the interpreter from a tokio thread for every completion, which cost 50–140 µs
//! per await here.)

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use crate::error::to_py;
use crate::runtime;

/// Turns a finished task's output into the future's result, on the loop thread.
pub type Outcome = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>> + Send>;

/// Work for the loop thread: start a user callback there.
pub type LoopCall = Box<dyn for<'py> FnOnce(Python<'py>) + Send>;

enum Item {
    /// Set a future's result.
    Complete(Py<PyAny>, Outcome),
    /// Set the results of futures waiting for one load: the outcome converted once, then each
    /// future its own copy of the value (or the same exception object).
    CompleteShared(Vec<Py<PyAny>>, Outcome),
    /// Run something on the loop thread (start a user callback).
    Call(LoopCall),
}

struct Queue {
    items: Vec<Item>,
    signaled: bool,
    closed: bool,
}

/// The shared half of a loop's queue, held by tasks and callbacks.
pub struct Shared {
    queue: Mutex<Queue>,
    wake_fd: RawFd,
}

impl Shared {
    fn complete(&self, fut: Py<PyAny>, outcome: Outcome) {
        self.push(Item::Complete(fut, outcome));
    }

    /// Run `call` on the loop thread soon. Returns false when the loop's bridge is closed.
    pub fn call_soon(&self, call: LoopCall) -> bool {
        self.push(Item::Call(call))
    }

    fn push(&self, item: Item) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.closed {
            return false;
        }
        q.items.push(item);
        if !q.signaled {
            q.signaled = true;
            // Written under the lock, so `close()` (which Python calls before closing the socket)
            // guarantees no write ever reaches a closed, possibly reused, descriptor.
            // SAFETY: writing one byte from a valid buffer to a descriptor that is open until close().
            let _ = unsafe { libc::write(self.wake_fd, b"x".as_ptr().cast(), 1) };
        }
        true
    }
}

/// The completion queue of one event loop.
#[pyclass(module = "stratacache._native", frozen)]
pub struct Completions {
    shared: Arc<Shared>,
}

#[pymethods]
impl Completions {
    /// A queue that wakes its loop by writing to `wake_fd` (the write end of a non-blocking socket pair).
    #[new]
    fn new(wake_fd: i32) -> Self {
        Completions {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue { items: Vec::new(), signaled: false, closed: false }),
                wake_fd,
            }),
        }
    }

    /// Set the result (or exception) of every finished future. Call on the loop thread.
    fn drain(&self, py: Python<'_>) -> PyResult<usize> {
        crate::error::guarded(|| {
            let items = {
                let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                q.signaled = false;
                std::mem::take(&mut q.items)
            };
            let n = items.len();
            for item in items {
                match item {
                    Item::Call(call) => call(py),
                    Item::Complete(fut, outcome) => {
                        // One item's failure never strands the rest of the batch.
                        if let Err(e) = complete_one(py, fut.bind(py), outcome) {
                            e.print(py);
                        }
                    }
                    Item::CompleteShared(futs, outcome) => {
                        if let Err(e) = complete_shared(py, futs, outcome) {
                            e.print(py);
                        }
                    }
                }
            }
            Ok(n)
        })
    }

    /// Stop writing to the wake descriptor (call before closing the socket pair). Idempotent.
    /// Returns the futures of shared completions that were waiting in the queue (each caller's
    /// future of one load): the caller fails them; the other futures are in the bridge's own set.
    fn close(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        let items = {
            let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.closed = true;
            std::mem::take(&mut q.items)
        };
        let mut stranded = Vec::new();
        for item in items {
            if let Item::CompleteShared(futs, _) = item {
                stranded.extend(futs.into_iter().filter(|f| !f.bind(py).is_none()));
            }
        }
        stranded
    }
}

fn complete_one(py: Python<'_>, fut: &Bound<'_, PyAny>, outcome: Outcome) -> PyResult<()> {
    if fut.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
        return Ok(()); // cancelled by the caller meanwhile
    }
    match outcome(py) {
        Ok(v) => fut.call_method1(pyo3::intern!(py, "set_result"), (v,)).map(|_| ()),
        Err(e) => set_exception(py, fut, &e.into_value(py)),
    }
}

fn set_exception(py: Python<'_>, fut: &Bound<'_, PyAny>, exc: &Py<pyo3::exceptions::PyBaseException>) -> PyResult<()> {
    if fut.call_method1(pyo3::intern!(py, "set_exception"), (exc.clone_ref(py),)).is_err() {
        // e.g. StopIteration, which a Future refuses: wrap it so the caller still gets an error.
        let wrapped = pyo3::exceptions::PyRuntimeError::new_err(format!("callback raised {}", exc.bind(py)));
        fut.call_method1(pyo3::intern!(py, "set_exception"), (wrapped.into_value(py),))?;
    }
    Ok(())
}

/// Complete every future still waiting (a cancelled one is skipped) with one outcome: the first gets
/// the converted value, each other one its own deep copy; on failure all get the same exception.
fn complete_shared(py: Python<'_>, futs: Vec<Py<PyAny>>, outcome: Outcome) -> PyResult<()> {
    let mut live = Vec::with_capacity(futs.len());
    for f in futs {
        if !f.bind(py).is_none() && !f.bind(py).call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
            live.push(f);
        }
    }
    if live.is_empty() {
        return Ok(());
    }
    let outcome = outcome(py);
    let values = match &outcome {
        Ok(v) => crate::memo::json_copies(v, live.len() - 1).map(|copies| std::iter::once(v.clone()).chain(copies).collect::<Vec<_>>()),
        Err(e) => Err(e.clone_ref(py)),
    };
    match values {
        Ok(values) => {
            for (f, v) in live.iter().zip(values) {
                f.bind(py).call_method1(pyo3::intern!(py, "set_result"), (v,))?;
            }
        }
        Err(e) => {
            // Each future gets the same exception object (a copy of the value may fail too: then
            // every caller gets that error rather than waiting for ever).
            let exc = e.into_value(py);
            for f in &live {
                set_exception(py, f.bind(py), &exc)?;
            }
        }
    }
    Ok(())
}

impl Completions {
    /// The caller group of this loop's calls: a load started for one loop is never joined from
    /// another (its futures must complete on their own loop).
    pub fn group(&self) -> u64 {
        Arc::as_ptr(&self.shared) as usize as u64
    }

    /// The shared half, for callbacks that must run on this loop.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

/// Run `task` on the binding's runtime and complete `fut` through `completions` with `convert`.
pub fn spawn<T, F>(
    completions: &Completions,
    fut: Py<PyAny>,
    task: F,
    convert: for<'py> fn(Python<'py>, T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<()>
where
    T: Send + 'static,
    F: Future<Output = stratacache::Result<T>> + Send + 'static,
{
    runtime::start(settle(completions, fut, task, convert))
}

/// [`spawn`] for a read that may use the core's idle lane: `task(true)` when nothing else is in
/// flight (its first poll runs on this thread), `task(false)` otherwise (see [`runtime::start_read`]).
pub fn spawn_read<T, F>(
    completions: &Completions,
    fut: Py<PyAny>,
    task: impl FnOnce(bool) -> F,
    convert: for<'py> fn(Python<'py>, T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<()>
where
    T: Send + 'static,
    F: Future<Output = stratacache::Result<T>> + Send + 'static,
{
    runtime::start_read(|idle| settle(completions, fut, task(idle), convert))
}

/// `task`, then its outcome converted and completed on `fut`'s loop.
fn settle<T, F>(
    completions: &Completions,
    fut: Py<PyAny>,
    task: F,
    convert: for<'py> fn(Python<'py>, T) -> PyResult<Bound<'py, PyAny>>,
) -> futures::future::BoxFuture<'static, ()>
where
    T: Send + 'static,
    F: Future<Output = stratacache::Result<T>> + Send + 'static,
{
    let shared = completions.shared.clone();
    Box::pin(async move {
        let result = match AssertUnwindSafe(task).catch_unwind().await {
            Ok(r) => r,
            Err(panic) => Err(stratacache::Error::from_panic(panic)),
        };
        let outcome: Outcome = Box::new(move |py| match result {
            Ok(v) => convert(py, v),
            Err(e) => Err(to_py(py, &e)),
        });
        shared.complete(fut, outcome);
    })
}

/// Run `task`, one load that several futures wait for (the core's shared completions), and complete
/// them all through `completions` with the result converted once by `convert`.
pub fn spawn_shared<T, F>(completions: &Completions, task: F, convert: for<'py> fn(Python<'py>, T) -> PyResult<Bound<'py, PyAny>>) -> PyResult<()>
where
    T: Send + 'static,
    F: Future<Output = (stratacache::Result<T>, Vec<Py<PyAny>>)> + Send + 'static,
{
    let shared = completions.shared.clone();
    runtime::start(Box::pin(async move {
        // The core's future catches a panic of the load itself and still returns the waiters.
        let (result, futs) = task.await;
        let outcome: Outcome = Box::new(move |py| match result {
            Ok(v) => convert(py, v),
            Err(e) => Err(to_py(py, &e)),
        });
        shared.push(Item::CompleteShared(futs, outcome));
    }))?;
    Ok(())
}

/// Test hook, not part of the public API: panic in native code as a bug would, to check that the call
/// fails with `InternalError` and the interpreter goes on. `mode` `sync`: this call raises; `spawned`:
/// the task that completes `fut` panics.
#[pyfunction]
pub fn _panic_for_tests(mode: &str, completions: &Completions, fut: Py<PyAny>) -> PyResult<()> {
    crate::error::guarded(|| {
        if mode == "sync" {
            panic!("test panic (sync)");
        }
        spawn(completions, fut, async { panic!("test panic (spawned)") }, |py, _: ()| Ok(py.None().into_bound(py)))
    })
}
