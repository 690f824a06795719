//! The cache manager: `get`/`set`/`del`/`mget`/`mset`/`invalidate_by_tags`/`stats` over L1 + L2.
//!
//! Reads: L1, then Redis (`GET`+`PTTL` in one round trip; tagged entries need one more for the tag
//! tokens), filling L1 with a deadline no later than the Redis expiry. Writes: Redis first, then L1.
//!
//! Tag invalidation is lazy and exact: each tag has a random 8-byte version token in Redis
//! (`{ns}:t:{tag}`); a tagged write records the tags' current tokens in its envelope; invalidating a
//! tag gives it a new token; a read whose recorded tokens differ from the current ones is a miss.
//! That is O(1) per tag, keeps no per-tag key sets, and never compares client clocks.
//!
//! When Redis is unreachable reads fall back to L1, writes update L1 only, and both count L2 errors;
//! `invalidate_by_tags` clears L1 locally and then reports the failure, because an invalidation that did
//! not reach Redis cannot be promised to other processes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bus::{Bus, MessageKind};
use crate::clock::now_ms;
use crate::codec::{self, EncodeOptions, TagStamp};
use crate::config::CacheConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::key::{validate_key, validate_tag, KeySchema};
use crate::l1::{Entry, FillGuard, L1};
use crate::l2::{Fetched, L2};
use crate::metrics::Metrics;
use crate::options::{MsetItem, SetItem, SetOptions};
use crate::stats::{CacheStats, L1Stats, L2Stats};
use crate::tasks::Tasks;

mod invalidate;
mod load;
mod meta;

pub use load::{HeldLock, LoadStart, Stored};
pub use meta::{cache_status_header, CacheStatus, ResultMeta, Tier};

/// Extra lifetime of a tag key beyond the longest entry that records it.
const TAG_GRACE_MS: u64 = 10_000;

/// The two-tier cache. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct CacheManager {
    config: CacheConfig,
    keys: KeySchema,
    l1: Arc<L1>,
    l2: Option<Arc<L2>>,
    l2_hits: AtomicU64,
    l2_misses: AtomicU64,
    corrupt: AtomicU64,
    corrupt_logged: AtomicBool,
    /// Entries read as misses because their batch passed `max_batch_bytes`.
    over_budget: AtomicU64,
    over_budget_logged: AtomicBool,
    closed: AtomicBool,
    bus: Arc<Bus>,
    tasks: Arc<Tasks>,
    metrics: Arc<Metrics>,
}


/// What a Redis read found for one key.
#[derive(Debug, Clone)]
pub enum Found {
    /// Nothing (or nothing valid: an undecodable entry, an invalidated tag, Redis unreachable).
    Miss,
    /// A value to serve.
    Fresh(Arc<Entry>),
    /// A fail-safe entry past its logical expiry: not a hit, only fail-safe's fallback.
    Stale(Arc<Entry>),
}

impl Found {
    /// The value to serve, if any.
    pub fn fresh(self) -> Option<Arc<Entry>> {
        match self {
            Found::Fresh(e) => Some(e),
            _ => None,
        }
    }
}

fn random_token() -> [u8; 8] {
    let mut t = [0u8; 8];
    getrandom::fill(&mut t).expect("the OS random source is available");
    t
}

fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

/// A validated write, ready to encode.
struct PreparedWrite<'a> {
    key: &'a str,
    json: &'a str,
    ttl: Duration,
    tags: &'a [String],
    compress_above: Option<usize>,
}

impl CacheManager {
    /// Build a manager. `l2` is `None` when L2 is disabled.
    pub(crate) fn new(
        config: CacheConfig,
        keys: KeySchema,
        l1: Arc<L1>,
        l2: Option<Arc<L2>>,
        bus: Arc<Bus>,
        tasks: Arc<Tasks>,
        metrics: Arc<Metrics>,
    ) -> Self {
        CacheManager {
            config,
            keys,
            l1,
            l2,
            l2_hits: AtomicU64::new(0),
            l2_misses: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            corrupt_logged: AtomicBool::new(false),
            over_budget: AtomicU64::new(0),
            over_budget_logged: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            bus,
            tasks,
            metrics,
        }
    }

    /// The invalidation bus.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// What every component records into (`cacheMetrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The L1 tier.
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// The owner of this system's background tasks.
    pub fn tasks(&self) -> &Arc<Tasks> {
        &self.tasks
    }

    /// The resolved configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The key schema (namespace).
    pub fn keys(&self) -> &KeySchema {
        &self.keys
    }

    /// The Redis tier, when enabled.
    pub fn l2(&self) -> Option<&L2> {
        self.l2.as_deref()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the cache system has been shut down"));
        }
        Ok(())
    }

    /// Mark the manager closed: every later call fails with `ERR_STRATACACHE_CLOSED`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.l1.clear();
    }

    fn check_key(&self, key: &str) -> Result<()> {
        validate_key(key, self.config.max_key_bytes)
    }

    /// Validate a key (and that the manager is open) without touching either tier.
    pub fn check_key_public(&self, key: &str) -> Result<()> {
        self.check_open()?;
        self.check_key(key)
    }

    // ----- reads -------------------------------------------------------------------------------

    /// The L1 lookup alone: synchronous, never does I/O. Counts an L1 hit or miss. Bindings serve
    /// L1 hits through this without crossing threads.
    pub fn get_l1(&self, key: &str) -> Result<Option<Arc<Entry>>> {
        self.check_open()?;
        self.check_key(key)?;
        let timer = self.metrics.l1_timer();
        let hit = self.l1.get(key);
        if hit.is_some() {
            self.metrics.l1_hit(timer);
        }
        Ok(hit)
    }

    /// The L1 entry of `key` without counting a hit or miss (bindings re-read an entry they have
    /// just counted).
    pub fn peek_l1(&self, key: &str) -> Result<Option<Arc<Entry>>> {
        self.check_open()?;
        self.check_key(key)?;
        Ok(self.l1.peek(key))
    }

    /// Get the entry for `key` (L1, then Redis). `None` on a miss.
    pub async fn get_entry(&self, key: &str) -> Result<Option<Arc<Entry>>> {
        if let Some(e) = self.get_l1(key)? {
            return Ok(Some(e));
        }
        self.get_l2(key).await
    }

    /// The Redis part of a get, after an L1 miss that the caller already counted.
    pub async fn get_l2(&self, key: &str) -> Result<Option<Arc<Entry>>> {
        self.check_open()?;
        self.check_key(key)?;
        let keys = [key.to_owned()];
        Ok(self.fetch(&keys, true).await.pop().flatten())
    }

    /// [`Manager::get_l2`] of many keys at once, as if each were its own call (a bad key fails alone),
    /// with one Redis round trip for all of them. Results in input order. The bindings use this for
    /// the L1 misses that one tick of their event loop produces.
    pub async fn get_l2_batch(&self, keys: &[String]) -> Vec<Result<Option<Arc<Entry>>>> {
        if let Err(e) = self.check_open() {
            return keys.iter().map(|_| Err(e.clone())).collect();
        }
        let mut out: Vec<Result<Option<Arc<Entry>>>> = keys.iter().map(|k| self.check_key(k).map(|_| None)).collect();
        let valid: Vec<String> = keys.iter().zip(&out).filter(|(_, r)| r.is_ok()).map(|(k, _)| k.clone()).collect();
        let mut fetched = self.fetch(&valid, true).await.into_iter();
        for r in out.iter_mut().filter(|r| r.is_ok()) {
            *r = Ok(fetched.next().flatten());
        }
        out
    }

    /// Read `key` from Redis without counting a hit or miss (used while waiting for another
    /// process's load). Fills L1 on a hit.
    pub async fn peek_l2(&self, key: &str) -> Result<Option<Arc<Entry>>> {
        self.check_open()?;
        self.check_key(key)?;
        let keys = [key.to_owned()];
        Ok(self.fetch(&keys, false).await.pop().flatten())
    }

    /// Get the JSON text of `key`.
    pub async fn get_json(&self, key: &str) -> Result<Option<Arc<str>>> {
        Ok(self.get_entry(key).await?.map(|e| e.json.clone()))
    }

    /// Get and deserialize `key`. A stored value that does not fit `T` is a `Serialization` error.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get_json(key).await? {
            None => Ok(None),
            Some(j) => serde_json::from_str(&j).map(Some).map_err(|e| {
                Error::new(ErrorKind::Serialization, format!("value of key {key:?} does not fit the requested type: {e}"))
            }),
        }
    }

    /// Get many keys: L1 first, then one Redis round trip for all misses (plus one for tag tokens if
    /// any tagged entry came back). Results are in input order.
    pub async fn mget_entries(&self, keys: &[String]) -> Result<Vec<Option<Arc<Entry>>>> {
        self.check_open()?;
        for k in keys {
            self.check_key(k)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut out: Vec<Option<Arc<Entry>>> = keys
            .iter()
            .map(|k| {
                let timer = self.metrics.l1_timer();
                let hit = self.l1.get(k);
                if hit.is_some() {
                    self.metrics.l1_hit(timer);
                }
                hit
            })
            .collect();
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| out[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let miss_keys: Vec<String> = missing.iter().map(|&i| keys[i].clone()).collect();
        for (i, e) in missing.into_iter().zip(self.fetch(&miss_keys, true).await) {
            out[i] = e;
        }
        Ok(out)
    }

    /// Read `key` from Redis like [`CacheManager::peek_l2`], right after `first` in the same round
    /// trip (cache-aside takes its load lock and re-reads the key this way); returns `first`'s reply
    /// too. Unlike the plain reads, a failure to reach Redis is an error here.
    pub async fn peek_l2_after(&self, first: &redis::Cmd, key: &str) -> Result<(redis::Value, Found)> {
        self.check_open()?;
        self.check_key(key)?;
        let Some(l2) = &self.l2 else { return Err(Error::new(ErrorKind::Connection, "Redis is disabled (enableL2: false)")) };
        let keys = [key.to_owned()];
        let guards = [self.l1.fill_guard(key)];
        let started = Instant::now();
        let (reply, fetched) = l2.get_many_after(Some(first), &[self.keys.data(key)], self.l1.enabled()).await?;
        let found = self.settle(l2, &keys, fetched, guards.to_vec(), started, false).await.pop().unwrap_or(Found::Miss);
        Ok((reply.unwrap_or(redis::Value::Nil), found))
    }

    /// Read `keys` (already counted as L1 misses) from Redis and fill L1. Redis failures and
    /// undecodable entries read as misses.
    /// With `count`, each key is a get: a hit or miss in the counters, and its latency recorded.
    async fn fetch(&self, keys: &[String], count: bool) -> Vec<Option<Arc<Entry>>> {
        self.fetch_found(keys, count).await.into_iter().map(Found::fresh).collect()
    }

    /// [`CacheManager::fetch`], keeping the fail-safe entries found past their logical expiry.
    async fn fetch_found(&self, keys: &[String], count: bool) -> Vec<Found> {
        let timer = if count { self.metrics.timer() } else { None };
        let out = self.fetch_uncounted_latency(keys, count).await;
        self.metrics.observe(&self.metrics.get_latency_past_l1, timer, keys.len() as u64);
        out
    }

    /// The Redis part of a cache-aside read, after an L1 miss the caller counted: like
    /// [`CacheManager::get_l2`], but a fail-safe entry past its logical expiry comes back as
    /// [`Found::Stale`] (a miss in the counters) for fail-safe's fallback.
    pub async fn get_l2_found(&self, key: &str) -> Result<Found> {
        self.check_open()?;
        self.check_key(key)?;
        let keys = [key.to_owned()];
        Ok(self.fetch_found(&keys, true).await.pop().unwrap_or(Found::Miss))
    }

    async fn fetch_uncounted_latency(&self, keys: &[String], count: bool) -> Vec<Found> {
        let Some(l2) = &self.l2 else { return vec![Found::Miss; keys.len()] };
        let guards: Vec<_> = keys.iter().map(|k| self.l1.fill_guard(k)).collect();
        let started = Instant::now();
        let data_keys: Vec<String> = keys.iter().map(|k| self.keys.data(k)).collect();
        // The remaining lifetime only matters for an L1 deadline: without L1, one command per key.
        let fetched = match l2.get_many(&data_keys, self.l1.enabled()).await {
            Ok(f) => f,
            Err(_) => {
                // Redis down reads as a miss, and counts as one.
                if count {
                    self.l2_misses.fetch_add(keys.len() as u64, Ordering::Relaxed);
                }
                return vec![Found::Miss; keys.len()];
            }
        };
        self.settle(l2, keys, fetched, guards, started, count).await
    }

    /// Decode what Redis returned for `keys`, drop entries whose tags were invalidated, fill L1
    /// (unless a write or invalidation happened since `guards`) and count hits and misses. A
    /// fail-safe entry past its logical expiry is [`Found::Stale`]: a miss, kept in L1 only as
    /// fail-safe's fallback.
    async fn settle(
        &self,
        l2: &L2,
        keys: &[String],
        fetched: Vec<Option<Fetched>>,
        guards: Vec<FillGuard>,
        started: Instant,
        count: bool,
    ) -> Vec<Found> {
        // A batch decodes at most `max_batch_bytes` of values: past it, entries read as misses (so
        // 1,000 small blocks that each declare 16 MiB cannot take the process's memory).
        let mut budget = self.config.max_batch_bytes;
        let decoded: Vec<Option<(codec::Envelope, Option<u64>)>> = fetched
            .into_iter()
            .zip(keys)
            .map(|(f, k)| {
                f.and_then(|Fetched { bytes, pttl_ms }| {
                    // An entry past `max_value_bytes` is refused by `decode` before it allocates
                    // (counted as corrupt); it takes nothing from the budget.
                    let size = codec::payload_len(&bytes).unwrap_or(0);
                    if size <= self.config.max_value_bytes {
                        if size > budget {
                            self.over_budget(k, size);
                            return None;
                        }
                        budget -= size;
                    }
                    self.decode(k, &bytes).map(|e| (e, pttl_ms))
                })
            })
            .collect();
        let tag_ok = self.check_tags(l2, &decoded).await;
        let now = now_ms();
        let mut out = Vec::with_capacity(keys.len());
        for ((d, k), g) in decoded.into_iter().zip(keys).zip(guards) {
            match d {
                Some((env, pttl)) if tag_ok(&env) => {
                    // Served until the Redis expiry, or for a fail-safe entry until its logical
                    // expiry (its Redis expiry is later: it is then kept as the fallback). Without
                    // PTTL (L1 off) the logical expiry serves refresh-ahead's remaining-time check.
                    let logical = env.expires_at_ms.saturating_sub(now);
                    let (life, keep) = match (pttl, env.fail_safe) {
                        (Some(p), true) => (logical.min(p), p),
                        (Some(p), false) => (p, p),
                        (None, _) => (logical, logical),
                    };
                    let stale = env.fail_safe && logical == 0;
                    if count {
                        let counter = if stale { &self.l2_misses } else { &self.l2_hits };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    if stale {
                        // The fallback L1 already holds (and may be throttling) stays as it is.
                        if let Some(e) = self.l1.peek_stale(k).filter(|e| e.created_at_ms == env.created_at_ms && e.expires_at_ms == env.expires_at_ms) {
                            out.push(Found::Stale(e));
                            continue;
                        }
                    }
                    let entry = Arc::new(
                        Entry::new(env.json, env.tags.into_iter().map(|t| t.tag).collect(), started + Duration::from_millis(life), env.expires_at_ms)
                            .kept_until(started + Duration::from_millis(keep))
                            .created_at(env.created_at_ms),
                    );
                    self.l1.fill(k, entry.clone(), g);
                    out.push(if stale { Found::Stale(entry) } else { Found::Fresh(entry) });
                }
                _ => {
                    if count {
                        self.l2_misses.fetch_add(1, Ordering::Relaxed);
                    }
                    out.push(Found::Miss);
                }
            }
        }
        out
    }

    /// Fetch the current tokens of every tag the decoded entries record (one round trip) and return
    /// a predicate saying whether an envelope is still valid.
    async fn check_tags(
        &self,
        l2: &L2,
        decoded: &[Option<(codec::Envelope, Option<u64>)>],
    ) -> impl Fn(&codec::Envelope) -> bool {
        let mut names: Vec<&str> = Vec::new();
        for (env, _) in decoded.iter().flatten() {
            for t in &env.tags {
                if !names.contains(&t.tag.as_str()) {
                    names.push(&t.tag);
                }
            }
        }
        let current: HashMap<String, Option<[u8; 8]>> = if names.is_empty() {
            HashMap::new()
        } else {
            let tag_keys: Vec<String> = names.iter().map(|t| self.keys.tag(t)).collect();
            match l2.tag_tokens(&tag_keys).await {
                Ok(tokens) => names.iter().map(|n| n.to_string()).zip(tokens).collect(),
                // Cannot prove the tags are current: treat tagged entries as misses.
                Err(_) => names.iter().map(|n| (n.to_string(), None)).collect(),
            }
        };
        move |env: &codec::Envelope| {
            env.tags.iter().all(|t| current.get(&t.tag).copied().flatten() == Some(t.token))
        }
    }

    fn over_budget(&self, key: &str, size: usize) {
        self.over_budget.fetch_add(1, Ordering::Relaxed);
        if !self.over_budget_logged.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                "stratacache: a batch read passed maxBatchBytes ({} bytes); {key:?} ({size} bytes) and the rest past it read as misses (logged once)",
                self.config.max_batch_bytes
            );
        }
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Option<codec::Envelope> {
        match codec::decode(bytes, self.config.max_value_bytes) {
            Ok(env) => Some(env),
            Err(e) => {
                self.corrupt.fetch_add(1, Ordering::Relaxed);
                if let Some(l2) = &self.l2 {
                    l2.count_error();
                }
                if !self.corrupt_logged.swap(true, Ordering::AcqRel) {
                    tracing::warn!("stratacache: entry {key:?} does not decode ({e}); read as a miss (logged once)");
                }
                None
            }
        }
    }

    // ----- writes ------------------------------------------------------------------------------

    fn prepare<'a>(
        &self,
        key: &'a str,
        json: &'a str,
        ttl: Option<Duration>,
        tags: &'a [String],
        compress_above: Option<usize>,
        ttl_jitter: Option<Duration>,
    ) -> Result<PreparedWrite<'a>> {
        self.check_key(key)?;
        let ttl = ttl.unwrap_or(self.config.default_ttl);
        if ttl.is_zero() {
            return Err(Error::invalid_argument(format!("ttl must be > 0, got 0 (key {key:?})")));
        }
        let jitter = ttl_jitter.unwrap_or(self.config.ttl_jitter);
        crate::options::check_ttl_jitter(jitter)?;
        let ttl = crate::options::jittered(ttl, jitter);
        for t in tags {
            validate_tag(t)?;
        }
        if tags.len() > 256 {
            return Err(Error::invalid_argument(format!("at most 256 tags per entry, got {}", tags.len())));
        }
        if json.len() > self.config.max_value_bytes {
            return Err(Error::new(
                ErrorKind::ValueTooLarge,
                format!(
                    "value of key {key:?} is {} bytes, over maxValueBytes ({})",
                    json.len(),
                    self.config.max_value_bytes
                ),
            ));
        }
        if let Err(why) = codec::check_portable_json(json) {
            return Err(Error::new(
                ErrorKind::Serialization,
                format!("value of key {key:?} is not portable JSON ({why})"),
            ));
        }
        Ok(PreparedWrite { key, json, ttl, tags, compress_above })
    }

    /// Check a write without doing it (write-through validates before calling the writer).
    pub fn check_write(&self, key: &str, json: &str, opts: &SetOptions) -> Result<()> {
        self.check_open()?;
        self.prepare(key, json, opts.ttl, &opts.tags, None, opts.ttl_jitter).map(|_| ())
    }

    /// Store JSON text under `key`.
    pub async fn set_json(&self, key: &str, json: &str, opts: &SetOptions) -> Result<()> {
        self.check_open()?;
        let compress_above = opts
            .compress
            .then(|| opts.compression_threshold.unwrap_or(self.config.compression_threshold));
        let w = self.prepare(key, json, opts.ttl, &opts.tags, compress_above, opts.ttl_jitter)?;
        self.write_all(&[w]).await
    }

    /// A write of `keys` has started: L1 forgets their older values now. The bindings call this
    /// synchronously, in call order, before the write's own future runs, so a read made after the
    /// write in the caller's order never serves an older value from L1 (`set(k, v)` then `get(k)` in
    /// one tick reads `v`: the get misses L1 and its Redis read is sent after the write).
    pub fn begin_writes<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        for k in keys {
            self.l1.remove(k);
        }
    }

    /// Store independent writes together, as if each were its own [`Manager::set_json`]: each is
    /// validated alone (a bad one fails alone), the valid ones reach Redis in one round trip with one
    /// bus message naming all their keys, in input order (a key written twice keeps the later value).
    /// Results come back in input order. The bindings use this for the `set` calls that one tick of
    /// their event loop issues.
    pub async fn set_json_batch(&self, items: &[SetItem]) -> Vec<Result<()>> {
        if let Err(e) = self.check_open() {
            return items.iter().map(|_| Err(e.clone())).collect();
        }
        let mut results: Vec<Result<()>> = Vec::with_capacity(items.len());
        let mut writes = Vec::with_capacity(items.len());
        for i in items {
            let compress_above =
                i.opts.compress.then(|| i.opts.compression_threshold.unwrap_or(self.config.compression_threshold));
            match self.prepare(&i.key, &i.json, i.opts.ttl, &i.opts.tags, compress_above, i.opts.ttl_jitter) {
                Ok(w) => {
                    writes.push(w);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if let Err(e) = self.write_all(&writes).await {
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e.clone());
            }
        }
        results
    }

    /// Serialize and store `value` under `key`.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T, opts: &SetOptions) -> Result<()> {
        let json = serde_json::to_string(value).map_err(|e| {
            Error::new(ErrorKind::Serialization, format!("value of key {key:?} cannot be serialized: {e}"))
        })?;
        self.set_json(key, &json, opts).await
    }

    /// Store many values: everything is validated before anything is written; then one round trip
    /// (two when items carry tags).
    pub async fn mset(&self, items: &[MsetItem]) -> Result<()> {
        self.check_open()?;
        let writes = items
            .iter()
            .map(|i| self.prepare(&i.key, &i.json, i.ttl, &i.tags, None, None))
            .collect::<Result<Vec<_>>>()?;
        self.write_all(&writes).await
    }

    /// Write, counting each key as a set and recording its latency.
    async fn write_all(&self, writes: &[PreparedWrite<'_>]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let timer = self.metrics.timer();
        let out = self.write_all_unmeasured(writes).await;
        let n = writes.len() as u64;
        self.metrics.add(&self.metrics.sets, n);
        self.metrics.observe(&self.metrics.set_latency, timer, n);
        out
    }

    async fn write_all_unmeasured(&self, writes: &[PreparedWrite<'_>]) -> Result<()> {
        let created = now_ms();
        let started = Instant::now();
        let guards: Vec<_> = writes.iter().map(|w| self.l1.fill_guard(w.key)).collect();
        let mut l2_ok = true;
        let mut stamps: Vec<Vec<TagStamp>> = writes.iter().map(|_| Vec::new()).collect();
        if let Some(l2) = &self.l2 {
            match self.stamp_tags(l2, writes).await {
                Ok(s) => stamps = s,
                Err(e) if e.is_unavailable() => l2_ok = false,
                Err(e) => return Err(e),
            }
            if l2_ok {
                let items: Vec<(String, Vec<u8>, u64)> = writes
                    .iter()
                    .zip(&stamps)
                    .map(|(w, tags)| {
                        let opts = EncodeOptions {
                            created_at_ms: created,
                            expires_at_ms: created + ttl_ms(w.ttl),
                            compress_above: w.compress_above,
                            fail_safe: false,
                        };
                        (self.keys.data(w.key), codec::encode(w.json, tags, opts), ttl_ms(w.ttl))
                    })
                    .collect();
                let msg = self.bus.message(MessageKind::Write, writes.iter().map(|w| w.key.to_owned()).collect());
                match l2.set_many(&items, Some((self.bus.channel(), msg.encode()))).await {
                    Ok(()) => {}
                    Err(e) if e.is_unavailable() => {}
                    Err(e) => {
                        for w in writes {
                            self.l1.remove(w.key);
                        }
                        return Err(e);
                    }
                }
            }
        }
        // The batch's own writes bump their stripes too: count them, so they do not undo each other.
        let mut earlier: HashMap<usize, u64> = HashMap::new();
        for (w, g) in writes.iter().zip(guards) {
            let n = earlier.entry(L1::stripe(w.key)).or_insert(0);
            let before = *n;
            *n += 1;
            let entry = Entry::new(
                Arc::from(w.json),
                w.tags.to_vec().into_boxed_slice(),
                started + w.ttl,
                created + ttl_ms(w.ttl),
            )
            .created_at(created);
            self.l1.put_guarded_after(w.key, Arc::new(entry), g, before);
        }
        Ok(())
    }

    /// The current token of every tag the writes carry, in one round trip.
    async fn stamp_tags(&self, l2: &L2, writes: &[PreparedWrite<'_>]) -> Result<Vec<Vec<TagStamp>>> {
        let mut names: Vec<&str> = Vec::new();
        let mut longest: HashMap<&str, u64> = HashMap::new();
        for w in writes {
            for t in w.tags {
                let ms = longest.entry(t.as_str()).or_insert(0);
                *ms = (*ms).max(ttl_ms(w.ttl));
                if !names.contains(&t.as_str()) {
                    names.push(t);
                }
            }
        }
        if names.is_empty() {
            return Ok(writes.iter().map(|_| Vec::new()).collect());
        }
        let min_ttl = names.iter().map(|n| longest[n]).max().unwrap_or(0) + TAG_GRACE_MS;
        let tag_keys: Vec<String> = names.iter().map(|t| self.keys.tag(t)).collect();
        let candidates: Vec<[u8; 8]> = names.iter().map(|_| random_token()).collect();
        let tokens = l2.tag_tokens_for_write(&tag_keys, &candidates, min_ttl).await?;
        let by_name: HashMap<&str, [u8; 8]> = names.into_iter().zip(tokens).collect();
        Ok(writes
            .iter()
            .map(|w| w.tags.iter().map(|t| TagStamp { tag: t.clone(), token: by_name[t.as_str()] }).collect())
            .collect())
    }

    /// Drop every L1 entry of this process.
    pub fn clear_l1(&self) {
        self.l1.clear();
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let (h, m) = self.l1.counts();
        let (l2h, l2m) = (self.l2_hits.load(Ordering::Relaxed), self.l2_misses.load(Ordering::Relaxed));
        CacheStats {
            l1: L1Stats { size: self.l1.size(), max_size: self.l1.max_size(), hits: h, misses: m, hit_rate: rate(h, m) },
            l2: L2Stats {
                hits: l2h,
                misses: l2m,
                hit_rate: rate(l2h, l2m),
                errors: self.l2.as_ref().map_or(0, |l| l.errors()),
            },
            corrupt_entries: self.corrupt.load(Ordering::Relaxed),
        }
    }

    /// Entries read as misses because their batch read passed `maxBatchBytes`.
    pub fn over_budget_reads(&self) -> u64 {
        self.over_budget.load(Ordering::Relaxed)
    }

    /// Whether Redis calls are currently failing.
    pub fn is_degraded(&self) -> bool {
        self.l2.as_ref().is_some_and(|l| l.is_degraded())
    }
}


fn rate(hits: u64, misses: u64) -> f64 {
    if hits + misses == 0 {
        0.0
    } else {
        hits as f64 * 100.0 / (hits + misses) as f64
    }
}
