//! The cache manager: `get`/`set`/`del`/`mget`/`mset`/`invalidate_by_tags`/`stats` over L1 + L2.
//!
//! Reads (`read.rs`): L1, then Redis, filling L1 with a deadline no later than the Redis expiry.
//! Writes (here): Redis first, then L1.
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

use serde::Serialize;

use crate::bus::{Bus, MessageKind};
use crate::clock::now_ms;
use crate::codec::{self, EncodeOptions, TagStamp};
use crate::config::CacheConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::key::{validate_key, validate_tag, KeySchema};
use crate::l1::{Entry, L1};
use crate::l2::L2;
use crate::metrics::Metrics;
use crate::options::{MsetItem, SetItem, SetOptions};
use crate::stats::{CacheStats, L1Stats, L2Stats};
use crate::tasks::Tasks;

mod invalidate;
mod load;
mod meta;
mod read;

pub use load::{HeldLock, LoadStart, Stored};
pub use meta::{cache_status_header, CacheStatus, ResultMeta, Tier};
pub use read::Found;

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
        if let Some(l2) = &self.l2 {
            l2.close_lane();
        }
    }

    fn check_key(&self, key: &str) -> Result<()> {
        validate_key(key, self.config.max_key_bytes)
    }

    /// Validate a key (and that the manager is open) without touching either tier.
    pub fn check_key_public(&self, key: &str) -> Result<()> {
        self.check_open()?;
        self.check_key(key)
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
