//! JS callbacks as core loaders and writers.
//!
//! The TS layer wraps every user function in an async function that never throws and resolves to an
//! outcome string: `v<json>` (a value), `n` (null/undefined), or `e<id>\0<message>` (the user's error,
//! kept in a JS-side stash under `id`). The core carries the id as the error's payload; [`crate::error`]
//! puts it back in the message, and `ts/errors.ts` returns the stashed object itself, so every waiter
//! gets the very error the user threw. Threadsafe functions are weak: they never keep Node alive.

use std::sync::Arc;

use futures::FutureExt;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use stratacache::patterns::{KeyLoader, Loader, Writer};
use stratacache::{Error, ErrorKind};

/// A JS function called with one string, resolving to an outcome string.
pub type JsCallback = ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;

/// The stash id of a JS error, carried as a callback error's payload.
#[derive(Debug, Clone, Copy)]
pub struct JsStashed(pub u32);

fn decode(outcome: &str) -> stratacache::Result<Option<String>> {
    match outcome.as_bytes().first() {
        Some(b'v') => Ok(Some(outcome[1..].to_owned())),
        Some(b'n') => Ok(None),
        Some(b'e') => {
            let (id, message) = outcome[1..].split_once('\0').unwrap_or((&outcome[1..], ""));
            let id: u32 = id.parse().unwrap_or(0);
            Err(Error::callback(message.to_owned(), Arc::new(JsStashed(id))))
        }
        _ => Err(Error::new(ErrorKind::Internal, format!("bad callback outcome {:?}", outcome.chars().take(20).collect::<String>()))),
    }
}

async fn invoke(f: &JsCallback, arg: String) -> stratacache::Result<Option<String>> {
    let promise = f
        .call_async_catch(arg)
        .await
        .map_err(|e| Error::new(ErrorKind::Callback, format!("the callback could not be called: {e}")))?;
    let outcome = promise
        .await
        .map_err(|e| Error::new(ErrorKind::Callback, format!("the callback failed: {e}")))?;
    decode(&outcome)
}

/// A cache-aside loader from a JS function (called with the key).
pub fn loader(f: JsCallback, key: String) -> Loader {
    let f = Arc::new(f);
    Arc::new(move || {
        let (f, key) = (f.clone(), key.clone());
        async move { invoke(&f, key).await }.boxed()
    })
}

/// A read-through loader from a JS function (called with the key).
pub fn key_loader(f: JsCallback) -> KeyLoader {
    let f = Arc::new(f);
    Arc::new(move |key: String, _: &stratacache::callbacks::CallContext| {
        let f = f.clone();
        async move { invoke(&f, key).await }.boxed()
    })
}

/// A warming strategy's fetch function (called with no argument; resolves to the JSON text of the
/// entries).
pub fn fetch_fn(f: JsCallback) -> stratacache::warming::FetchFn {
    let f = Arc::new(f);
    Arc::new(move |_: &stratacache::callbacks::CallContext| {
        let f = f.clone();
        async move { invoke(&f, String::new()).await }.boxed()
    })
}

/// A writer from a JS function (called with the JSON text; the TS wrapper passes the original value).
pub fn writer(f: JsCallback) -> Writer {
    let f = Arc::new(f);
    Arc::new(move |json: Arc<str>| {
        let f = f.clone();
        async move { invoke(&f, json.to_string()).await.map(|_| ()) }.boxed()
    })
}
