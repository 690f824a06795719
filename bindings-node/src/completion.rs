//! Batched completions: the hot async calls (`get` after an L1 miss, `set`, `del`, rate-limit
//! decisions) resolve through one queue per system instead of one threadsafe call per promise.
//!
//! A napi `async fn` costs a threadsafe-function wake-up and a JS callback per call. Here the TS layer
//! keeps the promise's resolvers under a numeric id and calls a synchronous `…Start(id, …)` method that
//! spawns the core future. Each result is pushed onto [`Completer`]'s queue; only the push that finds
//! the queue empty wakes the JS thread, whose `drain` callback takes the whole batch at once with
//! [`NativeCompletionsTake`]. At 64 calls in flight, one wake-up settles many promises — the same
//! design as the Python binding's completion queue.
//!
//! The wake-up function is weak (it never keeps Node alive); the TS layer keeps the process alive
//! while any call is pending (`ts/completion.ts`).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

use crate::error::to_napi;
use stratacache::starts::StartQueue;

/// The JS `drain()` function as a weak threadsafe function (called with `undefined`).
pub type DrainFn = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

/// What a finished call resolves to.
#[derive(Clone)]
pub enum Done {
    /// `null` (a miss).
    Null,
    /// `undefined` (a call with no result).
    Unit,
    /// JSON text or another string.
    Text(String),
    /// A boolean (`del`).
    Bool(bool),
    /// A number array (rate-limit decisions).
    Numbers(Vec<f64>),
    /// An error: the `[CODE] message` text that `ts/errors.ts` maps.
    Error(String),
    /// The outcome of the entry just before, again, for each of these ids (the other waiters of a
    /// shared completion): JS gives each its own copy of that value, or the same error object.
    Followers(Vec<u32>),
}

impl From<()> for Done {
    fn from(_: ()) -> Self {
        Done::Unit
    }
}

impl From<bool> for Done {
    fn from(b: bool) -> Self {
        Done::Bool(b)
    }
}

impl From<Option<String>> for Done {
    fn from(v: Option<String>) -> Self {
        v.map_or(Done::Null, Done::Text)
    }
}

impl From<Vec<f64>> for Done {
    fn from(v: Vec<f64>) -> Self {
        Done::Numbers(v)
    }
}

/// The completion queue of one system, and the wake-up of the JS thread.
pub struct Completer {
    queue: Mutex<Vec<(u32, Done)>>,
    wake: DrainFn,
    /// Starts the calls in the order JS made them (the core's `StartQueue`).
    starts: StartQueue,
    /// The runtime the calls run on (for calls started on the JS thread, `StartQueue::start_here`).
    runtime: tokio::runtime::Handle,
}

impl Completer {
    /// A completer that wakes the JS thread through `wake`.
    pub fn new(wake: DrainFn) -> Self {
        let starts = StartQueue::new(|starter| drop(napi::bindgen_prelude::spawn(starter)));
        let runtime = napi::bindgen_prelude::within_runtime_if_available(tokio::runtime::Handle::current);
        Completer { queue: Mutex::new(Vec::with_capacity(64)), wake, starts, runtime }
    }

    /// Whether every call started so far has finished (see `StartQueue::is_idle`).
    pub fn is_idle(&self) -> bool {
        self.starts.is_idle()
    }

    /// Run `fut` on the runtime; its outcome settles the JS promise registered under `id`.
    pub fn spawn<T, F>(self: &Arc<Self>, id: u32, fut: F)
    where
        T: Into<Done>,
        F: Future<Output = stratacache::Result<T>> + Send + 'static,
    {
        let me = self.clone();
        self.starts.start(Box::pin(async move {
            let done = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(v)) => v.into(),
                Ok(Err(e)) => Done::Error(to_napi(e).reason),
                Err(panic) => Done::Error(to_napi(stratacache::Error::from_panic(panic)).reason),
            };
            me.push(id, done);
        }));
    }

    /// Run `fut`, which settles a batch of calls at once: its `i`-th result settles `ids[i]`.
    pub fn spawn_batch<T, F>(self: &Arc<Self>, ids: Vec<u32>, fut: F)
    where
        T: Into<Done>,
        F: Future<Output = Vec<stratacache::Result<T>>> + Send + 'static,
    {
        self.starts.start(self.settle_batch(ids, fut));
    }

    /// [`Completer::spawn_batch`] started on the JS thread, now (`StartQueue::start_here`): only when
    /// [`Completer::is_idle`]. Its first poll runs here, so a read on the core's idle lane writes its
    /// command before this returns.
    pub fn spawn_batch_here<T, F>(self: &Arc<Self>, ids: Vec<u32>, fut: F)
    where
        T: Into<Done>,
        F: Future<Output = Vec<stratacache::Result<T>>> + Send + 'static,
    {
        self.starts.start_here(&self.runtime, self.settle_batch(ids, fut));
    }

    /// `fut`, then its results pushed for `ids`.
    fn settle_batch<T, F>(self: &Arc<Self>, ids: Vec<u32>, fut: F) -> futures::future::BoxFuture<'static, ()>
    where
        T: Into<Done>,
        F: Future<Output = Vec<stratacache::Result<T>>> + Send + 'static,
    {
        let me = self.clone();
        Box::pin(async move {
            let results = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(results) => results,
                Err(panic) => {
                    let e = stratacache::Error::from_panic(panic);
                    ids.iter().map(|_| Err(e.clone())).collect()
                }
            };
            me.push_all(ids.into_iter().zip(results).map(|(id, r)| {
                let done = match r {
                    Ok(v) => v.into(),
                    Err(e) => Done::Error(to_napi(e).reason),
                };
                (id, done)
            }));
        })
    }

    /// Run `fut`, one load that several calls wait for (the core's shared completions): its one
    /// result settles every id it returns, converted once on the JS side.
    pub fn spawn_shared<F>(self: &Arc<Self>, fut: F)
    where
        F: Future<Output = stratacache::patterns::Settled<u32>> + Send + 'static,
    {
        let me = self.clone();
        self.starts.start(Box::pin(async move {
            // The core's future never panics out (it catches a panic of the load and still returns
            // the waiters).
            let (result, ids) = fut.await;
            let first = match result {
                Ok(v) => v.map(|t| t.to_string()).into(),
                Err(e) => Done::Error(to_napi(e).reason),
            };
            let mut ids = ids.into_iter();
            if let Some(lead) = ids.next() {
                let followers: Vec<u32> = ids.collect();
                if followers.is_empty() {
                    me.push(lead, first);
                } else {
                    me.push_all([(lead, first), (0, Done::Followers(followers))].into_iter());
                }
            }
        }));
    }

    /// Settle `ids` with the error `reason` (`[CODE] message`).
    pub fn fail_all(&self, ids: Vec<u32>, reason: &str) {
        if !ids.is_empty() {
            self.push_all(ids.into_iter().map(|id| (id, Done::Error(reason.to_owned()))));
        }
    }

    fn push_all(&self, batch: impl Iterator<Item = (u32, Done)>) {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let was_empty = q.is_empty();
            q.extend(batch);
            was_empty
        };
        if was_empty {
            let _ = self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    fn push(&self, id: u32, done: Done) {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let was_empty = q.is_empty();
            q.push((id, done));
            was_empty
        };
        if was_empty {
            // Non-blocking: the queue is unbounded; a closed environment just drops the wake-up.
            let _ = self.wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Everything finished so far, in completion order.
    pub fn take(&self) -> Vec<(u32, Done)> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One batch as JS sees it: a flat array `[id, value, id, value, …]`; an error has a negative id
/// (`-(id + 1)`) and its `[CODE] message` text as the value. A `Uint32Array` in place of an id lists
/// the other waiters of a shared completion: each gets the outcome of the entry before (its value
/// `null` is unused). One typed array instead of two JS values per waiter.
pub struct NativeCompletionsTake(pub Vec<(u32, Done)>);

impl ToNapiValue for NativeCompletionsTake {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        let items = val.0;
        let mut out: Vec<Either6<f64, String, bool, Null, Vec<f64>, Uint32Array>> = Vec::with_capacity(items.len() * 2);
        for (id, done) in items {
            let (id, value) = match done {
                Done::Null => (id as f64, Either6::D(Null)),
                Done::Unit => (id as f64, Either6::D(Null)),
                Done::Text(s) => (id as f64, Either6::B(s)),
                Done::Bool(b) => (id as f64, Either6::C(b)),
                Done::Numbers(v) => (id as f64, Either6::E(v)),
                Done::Error(s) => (-(id as f64) - 1.0, Either6::B(s)),
                Done::Followers(ids) => {
                    out.push(Either6::F(Uint32Array::new(ids)));
                    out.push(Either6::D(Null));
                    continue;
                }
            };
            out.push(Either6::A(id));
            out.push(value);
        }
        unsafe { Vec::to_napi_value(env, out) }
    }
}
