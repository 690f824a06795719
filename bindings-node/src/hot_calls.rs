//! The hot async calls of `NativeCache` in their batched form ([`crate::completion`]): each takes the
//! id under which the TS layer keeps the promise, starts the core future and returns at once.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::dynopts;

use crate::completion::{Completer, DrainFn, NativeCompletionsTake};
use crate::error::{parse_json, IntoNapi};
use crate::system::NativeCache;

impl NativeCache {
    /// The installed completer, or an internal error if the TS layer did not install one.
    pub(crate) fn completer(&self) -> Result<&Arc<Completer>> {
        self.completer.get().ok_or_else(|| napi::Error::from_reason("[ERR_STRATACACHE_INTERNAL] no completion drain installed"))
    }
}

#[napi]
impl NativeCache {
    /// Install the JS function that drains finished calls (once, right after creation).
    #[napi(ts_args_type = "drain: () => void")]
    pub fn set_drain(&self, drain: DrainFn) -> Result<()> {
        self.completer
            .set(Arc::new(Completer::new(drain)))
            .map_err(|_| napi::Error::from_reason("[ERR_STRATACACHE_INTERNAL] the completion drain is already installed"))
    }

    /// Every call finished since the last drain: `[id, value, …]`, errors with id `-(id + 1)`.
    #[napi(ts_return_type = "Array<number | string | boolean | null | number[]>")]
    pub fn take_completions(&self) -> Result<NativeCompletionsTake> {
        Ok(NativeCompletionsTake(self.completer()?.take()))
    }

    /// Start the Redis part of a get (after `getL1` missed); settles `id` with JSON text or `null`.
    #[napi]
    pub fn get_l2_start(&self, id: u32, key: String) -> Result<()> {
        let m = self.handle();
        self.completer()?.spawn(id, async move { Ok(m.manager().get_l2(&key).await?.map(|e| e.json.to_string())) });
        Ok(())
    }

    /// Start a set of JSON text with options `{ ttl?, tags?, compress?, compressionThreshold? }`
    /// (JSON text); bad options throw at once. Settles `id` with `null`.
    #[napi]
    pub fn set_start(&self, id: u32, key: String, json: String, options: Option<String>) -> Result<()> {
        let opts = dynopts::set_options(parse_json("set", options)?).napi()?;
        let m = self.handle();
        self.completer()?.spawn(id, async move { m.manager().set_json(&key, &json, &opts).await });
        Ok(())
    }

    /// Start a delete; settles `id` with whether the key existed.
    #[napi]
    pub fn del_start(&self, id: u32, key: String) -> Result<()> {
        let m = self.handle();
        self.completer()?.spawn(id, async move { m.manager().del(&key).await });
        Ok(())
    }
}
