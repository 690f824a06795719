//! The core's cache manager on `NativeCache`: the synchronous L1 calls, `mget`/`mset`/tag invalidation
//! and the counters, and the hot async calls in their batched form ([`crate::completion`]): each of
//! those takes the id under which the TS layer keeps the promise, starts the core future and returns
//! at once.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use stratacache::{dynopts, SetItem};

use crate::completion::{Completer, DrainFn, NativeCompletionsTake};
use crate::error::{parse_json, to_napi, IntoNapi};
use crate::handle::NativeCache;

/// L1 counters as `getStats()` reports them.
#[napi(object)]
pub struct L1StatsJs {
    /// Entries held now.
    pub size: f64,
    /// Capacity.
    pub max_size: f64,
    /// L1 hits.
    pub hits: f64,
    /// L1 misses.
    pub misses: f64,
    /// Hit rate, percent 0–100.
    pub hit_rate: f64,
}

/// L2 counters as `getStats()` reports them.
#[napi(object)]
pub struct L2StatsJs {
    /// Redis hits.
    pub hits: f64,
    /// Redis misses.
    pub misses: f64,
    /// Hit rate, percent 0–100.
    pub hit_rate: f64,
    /// Failed Redis calls and undecodable entries.
    pub errors: f64,
}

/// Everything `getStats()` reports.
#[napi(object)]
pub struct CacheStatsJs {
    /// L1 counters.
    pub l1: L1StatsJs,
    /// L2 counters.
    pub l2: L2StatsJs,
    /// Entries that did not decode.
    pub corrupt_entries: f64,
}

/// An L1 entry: its id (changes whenever the entry does) and its JSON text.
#[napi(object)]
pub struct L1Peek {
    /// The core's entry id.
    pub id: f64,
    /// The value as JSON text.
    pub json: String,
}

#[napi]
impl NativeCache {
    /// The L1 lookup, synchronous: JSON text on a hit, `null` on a miss. Counts the hit or miss.
    #[napi(catch_unwind)]
    pub fn get_l1(&self, key: String) -> Result<Option<String>> {
        Ok(self.inner.manager().get_l1(&key).napi()?.map(|e| e.json.to_string()))
    }

    /// The L1 entry's id and JSON text without counting (`null` if it is gone).
    #[napi(js_name = "peekL1", catch_unwind)]
    pub fn peek_l1(&self, key: String) -> Result<Option<L1Peek>> {
        Ok(self.inner.manager().peek_l1(&key).napi()?.map(|e| L1Peek { id: e.id as f64, json: e.json.to_string() }))
    }

    /// Get many keys (L1, then one Redis round trip); JSON text or `null` per key, in input order.
    #[napi]
    pub async fn mget(&self, keys: Vec<String>) -> Result<Vec<Option<String>>> {
        let m = self.inner.clone();
        let entries = m.manager().mget_entries(&keys).await.napi()?;
        Ok(entries.into_iter().map(|e| e.map(|e| e.json.to_string())).collect())
    }

    /// Start storing many values (settles `id`): `keys[i]` gets `jsons[i]` with `options[i]`
    /// (`{ ttl?, tags? }` as JSON text). L1 forgets the keys' older values at once (the core's
    /// `begin_writes`), so a `get` made after this call never reads them.
    #[napi(catch_unwind)]
    pub fn mset_start(&self, id: u32, keys: Vec<String>, jsons: Vec<String>, options: Vec<Option<String>>) -> Result<()> {
        if keys.len() != jsons.len() || keys.len() != options.len() {
            return Err(crate::error::internal("mset: columns of different lengths"));
        }
        let items = keys
            .into_iter()
            .zip(jsons)
            .zip(options)
            .map(|((k, j), o)| dynopts::mset_item(k, j, parse_json("mset item", o)?).map_err(to_napi))
            .collect::<Result<Vec<_>>>()?;
        let m = self.inner.clone();
        m.manager().begin_writes(items.iter().map(|i| i.key.as_str()));
        self.completer()?.spawn(id, async move { m.manager().mset(&items).await });
        Ok(())
    }

    /// Invalidate every entry carrying any of `tags`.
    #[napi]
    pub async fn invalidate_by_tags(&self, tags: Vec<String>) -> Result<()> {
        let m = self.inner.clone();
        m.manager().invalidate_by_tags(&tags).await.napi()
    }

    /// Counters snapshot.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> CacheStatsJs {
        let s = self.inner.manager().stats();
        CacheStatsJs {
            l1: L1StatsJs {
                size: s.l1.size as f64,
                max_size: s.l1.max_size as f64,
                hits: s.l1.hits as f64,
                misses: s.l1.misses as f64,
                hit_rate: s.l1.hit_rate,
            },
            l2: L2StatsJs {
                hits: s.l2.hits as f64,
                misses: s.l2.misses as f64,
                hit_rate: s.l2.hit_rate,
                errors: s.l2.errors as f64,
            },
            corrupt_entries: s.corrupt_entries as f64,
        }
    }

    /// Whether Redis calls are currently failing (degraded mode).
    #[napi(catch_unwind)]
    pub fn is_degraded(&self) -> bool {
        self.inner.manager().is_degraded()
    }
}

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

    /// Every call finished since the last drain: `[id, value, …]`, errors with id `-(id + 1)`, the
    /// other waiters of a shared completion as a `Uint32Array` in place of an id.
    #[napi(ts_return_type = "Array<number | string | boolean | null | number[] | Uint32Array>", catch_unwind)]
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
        let completer = self.completer()?;
        if keys.len() == 1 && completer.is_idle() {
            // Nothing else in flight: the read may write its command on the core's idle lane from
            // this thread, without waking a runtime thread first (`core/src/lane.rs`).
            let key = keys.into_iter().next().unwrap_or_default();
            completer.spawn_batch_here(ids, async move {
                vec![m.manager().get_l2_idle(&key).await.map(|e| e.map(|e| e.json.to_string()))]
            });
            return Ok(());
        }
        completer.spawn_batch(ids, async move {
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
        m.manager().begin_writes(keys.iter().map(String::as_str));
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
