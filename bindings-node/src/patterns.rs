//! Cache patterns as JS methods: each converts, calls the core pattern with JS callbacks adapted by
//! [`crate::callbacks`], and maps errors.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use stratacache::dynopts;
use stratacache::patterns::{Entered, WriteBehind};

use crate::callbacks::{self, JsStashed};
use crate::error::{parse_json, IntoNapi};
use crate::handle::NativeCache;

// Types are spelled out in signatures (napi emits a Rust alias as an undefined TS name).
// `onError` is called once per write given up, with one array `[stashIdOrMinusOne, code, message, key, json]`.

#[napi]
impl NativeCache {
    /// `cacheAside.get`'s synchronous front, for completion `id` (the core's `CacheAside::enter`: key
    /// and options checked; a load of the key already running is joined; else, with `probe`, L1 is
    /// looked up): the hit entry's id (> 0); 0 when `id` joined a running load; -1 when `id` leads a
    /// new one: then start it with `cacheAsideLoad(id, loader, options)`. Every waiter of a load is
    /// settled by its one result (the core's shared completions).
    #[napi(catch_unwind)]
    pub fn cache_aside_enter(&self, id: u32, key: String, options: Option<String>, probe: bool) -> Result<f64> {
        let opts = self.aside_options.parse(options.as_deref()).napi()?;
        let sys = self.handle();
        match sys.cache_aside().enter(&self.aside_waiters, 0, &key, &opts, probe, || id).napi()? {
            Entered::Hit(e) => Ok(e.id as f64),
            Entered::Waiting => Ok(0.0),
            Entered::Lead(lead) => {
                self.aside_leads.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (key, lead));
                Ok(-1.0)
            }
        }
    }

    /// Start the load that completion `id` leads (after `cacheAsideEnter` returned -1) with `loader`
    /// and `options`; every waiter of the key is settled by its result.
    #[napi(catch_unwind, ts_args_type = "id: number, loader: (arg: string) => Promise<string>, options?: string | undefined | null")]
    pub fn cache_aside_load(&self, id: u32, loader: Function<'_, String, Promise<String>>, options: Option<String>) -> Result<()> {
        let completer = self.completer()?;
        let Some((key, lead)) = self.aside_leads.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) else {
            return Err(crate::error::internal(&format!("cacheAsideLoad: completion {id} leads no load")));
        };
        let started = self.aside_options.parse(options.as_deref()).napi().and_then(|opts| {
            let f = loader.build_threadsafe_function::<String>().weak::<true>().build()?;
            Ok((callbacks::loader(f, key), opts))
        });
        match started {
            Ok((loader, opts)) => {
                completer.spawn_shared(lead.load(loader, &opts));
                Ok(())
            }
            Err(e) => {
                // Nobody else can have joined yet (one JS thread), but never strand a waiter.
                let others: Vec<u32> = lead.abandon().into_iter().filter(|w| *w != id).collect();
                completer.fail_all(others, &e.reason);
                Err(e)
            }
        }
    }

    /// `cacheAside.getWithRefresh`.
    #[napi]
    pub async fn cache_aside_get_with_refresh(&self, key: String, loader: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>, options: Option<String>) -> Result<Option<String>> {
        let opts = dynopts::refresh_options(parse_json("getWithRefresh", options)?).napi()?;
        let sys = self.handle();
        let loader = callbacks::loader(loader, key.clone());
        Ok(sys.cache_aside().get_with_refresh(&key, loader, &opts).await.napi()?.map(|j| j.to_string()))
    }

    /// `writeThrough.write`: the writer first, the cache only on success.
    #[napi]
    pub async fn write_through(&self, key: String, json: String, writer: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>, options: Option<String>) -> Result<()> {
        let opts = dynopts::set_options(parse_json("writeThrough", options)?).napi()?;
        let sys = self.handle();
        sys.write_through().write(&key, &json, callbacks::writer(writer), &opts).await.napi()
    }

    /// `readThrough.read`.
    #[napi]
    pub async fn read_through(&self, key: String, options: Option<String>) -> Result<Option<String>> {
        let opts = dynopts::aside_options(parse_json("readThrough", options)?).napi()?;
        let sys = self.handle();
        Ok(sys.read_through().read(&key, &opts).await.napi()?.map(|j| j.to_string()))
    }

    /// A new write-behind queue (`WriteBehindPattern`), flushed by `close()`.
    #[napi(catch_unwind)]
    pub fn new_write_behind(&self, options: Option<String>, on_error: Option<ThreadsafeFunction<(i64, String, String, String, String), Unknown<'static>, (i64, String, String, String, String), Status, false, true>>) -> Result<NativeWriteBehind> {
        let mut opts = dynopts::write_behind_options(parse_json("WriteBehindPattern", options)?).napi()?;
        if let Some(hook) = on_error {
            let hook = std::sync::Arc::new(hook);
            opts.on_error = Some(std::sync::Arc::new(move |e: stratacache::Error, key: String, json: std::sync::Arc<str>| {
                let stash = e.payload().and_then(|p| p.downcast_ref::<JsStashed>()).map_or(-1, |s| s.0 as i64);
                hook.call((stash, e.code().to_owned(), e.message().to_owned(), key, json.to_string()), ThreadsafeFunctionCallMode::NonBlocking);
            }));
        }
        Ok(NativeWriteBehind { inner: self.handle().new_write_behind(opts) })
    }
}

/// `readThrough.registerLoader`: registered with the process (every system, now and after a restart,
/// uses it).
#[napi(catch_unwind)]
pub fn register_loader(pattern: String, loader: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>) -> Result<()> {
    crate::handle::PROCESS.registries().loaders().register(&pattern, callbacks::key_loader(loader)).napi()
}

/// `readThrough.unregisterLoader`.
#[napi(catch_unwind)]
pub fn unregister_loader(pattern: String) -> bool {
    crate::handle::PROCESS.registries().loaders().unregister(&pattern)
}

/// Counters of a write-behind queue.
#[napi(object)]
pub struct WriteBehindStatsJs {
    /// Writes waiting now.
    pub pending: f64,
    /// Writer calls that succeeded.
    pub written: f64,
    /// Writes replaced by a later write to the same key.
    pub coalesced: f64,
    /// Failed attempts that were retried.
    pub retries: f64,
    /// Writes given up (handed to onError).
    pub failed: f64,
}

/// One write-behind queue.
#[napi]
pub struct NativeWriteBehind {
    inner: WriteBehind,
}

#[napi]
impl NativeWriteBehind {
    /// Update the cache now and queue the writer.
    #[napi]
    pub async fn write(&self, key: String, json: String, writer: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>, options: Option<String>) -> Result<()> {
        let opts = dynopts::set_options(parse_json("writeBehind", options)?).napi()?;
        let wb = self.inner.clone();
        wb.write(&key, &json, callbacks::writer(writer), &opts).await.napi()
    }

    /// Run every queued write now; resolves to how many were written.
    #[napi]
    pub async fn flush(&self) -> Result<u32> {
        let wb = self.inner.clone();
        Ok(wb.flush().await as u32)
    }

    /// Counters.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> WriteBehindStatsJs {
        let s = self.inner.stats();
        WriteBehindStatsJs {
            pending: s.pending as f64,
            written: s.written as f64,
            coalesced: s.coalesced as f64,
            retries: s.retries as f64,
            failed: s.failed as f64,
        }
    }
}

#[napi]
impl NativeCache {
    /// `cacheAside.getMany`: JSON text or `null` per key, in input order. `loader` is called once
    /// with the JSON text of the missing keys and resolves to the JSON text of `{ key: value }`.
    #[napi]
    pub async fn cache_aside_get_many(
        &self,
        keys: Vec<String>,
        loader: ThreadsafeFunction<String, Promise<String>, String, Status, false, true>,
        options: Option<String>,
    ) -> Result<Vec<Option<String>>> {
        let sys = self.handle();
        let opts = self.aside_options.parse(options.as_deref()).napi()?;
        let out = sys.cache_aside().get_many(&keys, callbacks::key_loader(loader), None, &opts).await.napi()?;
        Ok(out.into_iter().map(|v| v.map(|j| j.to_string())).collect())
    }
}
