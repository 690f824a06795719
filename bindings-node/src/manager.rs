//! The hot async calls of `NativeCache` in their batched form ([`crate::completion`]): each takes the
//! id under which the TS layer keeps the promise, starts the core future and returns at once.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::{dynopts, SetItem};

use crate::completion::{Completer, DrainFn, NativeCompletionsTake};
use crate::handle::NativeCache;

impl NativeCache {
    /// The installed completer, or an internal error if the TS layer did not install one.
    pub(crate) fn completer(&self) -> Result<&Arc<Completer>> {
        self.completer.get().ok_or_else(|| crate::error::internal("no completion drain installed"))
    }
}

#[napi]
impl NativeCache {
    /// Install the JS function that drains finished calls (once, right after creation).
    #[napi(ts_args_type = "drain: () => void", catch_unwind)]
    pub fn set_drain(&self, drain: DrainFn) -> Result<()> {
        self.completer
            .set(Arc::new(Completer::new(drain)))
            .map_err(|_| crate::error::internal("the completion drain is already installed"))
    }

    /// Every call finished since the last drain: `[id, value, …]`, errors with id `-(id + 1)`.
    #[napi(ts_return_type = "Array<number | string | boolean | null | number[]>", catch_unwind)]
    pub fn take_completions(&self) -> Result<NativeCompletionsTake> {
        Ok(NativeCompletionsTake(self.completer()?.take()))
    }

    /// Start the Redis part of the gets that one tick of JS issued (after `getL1` missed), together
    /// (one Redis round trip): `ids[i]` settles with the JSON text of `keys[i]` or `null`.
    #[napi(catch_unwind)]
    pub fn get_l2_batch_start(&self, ids: Vec<u32>, keys: Vec<String>) -> Result<()> {
        if keys.len() != ids.len() {
            return Err(crate::error::internal("getL2BatchStart: columns of different lengths"));
        }
        let m = self.handle();
        self.completer()?.spawn_batch(ids, async move {
            m.manager()
                .get_l2_batch(&keys)
                .await
                .into_iter()
                .map(|r| r.map(|e| e.map(|e| e.json.to_string())))
                .collect::<Vec<_>>()
        });
        Ok(())
    }

    /// Start the sets that one tick of JS issued, together (one Redis round trip, one bus message):
    /// `ids[i]` settles with `null` or the error of `keys[i]`/`jsons[i]`/`options[i]` (options: JSON text
    /// of `{ ttl?, tags?, compress?, compressionThreshold? }`, or `null` when no set has any; bad options
    /// fail only their own set). Only the strings are converted here; everything else happens on the
    /// runtime, off the JS thread.
    #[napi(catch_unwind)]
    pub fn set_batch_start(
        &self,
        ids: Vec<u32>,
        keys: Vec<String>,
        jsons: Vec<String>,
        options: Option<Vec<Option<String>>>,
    ) -> Result<()> {
        let options = options.unwrap_or_else(|| vec![None; ids.len()]);
        if keys.len() != ids.len() || jsons.len() != ids.len() || options.len() != ids.len() {
            return Err(crate::error::internal("setBatchStart: columns of different lengths"));
        }
        let m = self.handle();
        self.completer()?.spawn_batch(ids, async move {
            let mut opts_errors: Vec<Option<stratacache::Error>> = Vec::with_capacity(keys.len());
            let mut items = Vec::with_capacity(keys.len());
            for ((key, json), o) in keys.into_iter().zip(jsons).zip(options) {
                match set_options(o) {
                    Ok(opts) => {
                        opts_errors.push(None);
                        items.push(SetItem { key, json, opts });
                    }
                    Err(e) => opts_errors.push(Some(e)),
                }
            }
            let mut written = m.manager().set_json_batch(&items).await.into_iter();
            opts_errors
                .into_iter()
                .map(|bad| match bad {
                    Some(e) => Err(e),
                    None => written.next().unwrap_or(Ok(())),
                })
                .collect::<Vec<_>>()
        });
        Ok(())
    }

    /// Start a delete; settles `id` with whether the key existed.
    #[napi(catch_unwind)]
    pub fn del_start(&self, id: u32, key: String) -> Result<()> {
        let m = self.handle();
        self.completer()?.spawn(id, async move { m.manager().del(&key).await });
        Ok(())
    }

    /// Test hook, not part of the public API: panic in native code as a bug would, to check that the
    /// call fails with `ERR_STRATACACHE_INTERNAL` and the process goes on. `mode` `sync`: this call
    /// throws; `spawned`: the future that settles promise `id` panics.
    #[napi(js_name = "_panicForTests", catch_unwind)]
    pub fn panic_for_tests(&self, id: u32, mode: String) -> Result<()> {
        match mode.as_str() {
            "sync" => panic!("test panic (sync)"),
            _ => {
                self.completer()?.spawn::<(), _>(id, async { panic!("test panic (spawned)") });
                Ok(())
            }
        }
    }
}

/// The options of one set from their JSON text (`None`: no options).
fn set_options(text: Option<String>) -> stratacache::Result<stratacache::SetOptions> {
    match text.map(|t| serde_json::from_str(&t)).transpose() {
        Ok(v) => dynopts::set_options(v.unwrap_or(serde_json::Value::Null)),
        Err(e) => Err(stratacache::Error::new(stratacache::ErrorKind::InvalidArgument, format!("set options are not valid: {e}"))),
    }
}
