//! The read path of the cache manager: L1, then Redis (`GET`+`PTTL` in one round trip; tagged
//! entries need one more for the tag tokens), filling L1 with a deadline no later than the Redis
//! expiry. A fail-safe entry past its logical expiry is [`Found::Stale`]: a miss, kept only as
//! fail-safe's fallback. A batch decodes at most `max_batch_bytes` of values.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::CacheManager;
use crate::clock::now_ms;
use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::l1::{Entry, FillGuard};
use crate::l2::{Fetched, L2};

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

impl CacheManager {
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

    /// [`CacheManager::get_l2`] for a call that started while its binding had nothing else in flight
    /// (`StartQueue::start_here`, which polls it first on the caller's thread): the read may go on the
    /// idle lane, which writes the command in that first poll ([`crate::lane`]). The answer is the
    /// one `get_l2` gives; only for such calls, as the lane is not ordered with other calls.
    pub async fn get_l2_idle(&self, key: &str) -> Result<Option<Arc<Entry>>> {
        self.check_open()?;
        self.check_key(key)?;
        let keys = [key.to_owned()];
        let timer = self.metrics.timer();
        let out = self.fetch_via(&keys, true, true).await;
        self.metrics.observe(&self.metrics.get_latency_past_l1, timer, 1);
        Ok(out.into_iter().next().and_then(Found::fresh))
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
        let out = self.fetch_via(keys, count, false).await;
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

    /// The Redis read of `keys` (latency not recorded): on the idle lane when `idle` and there is
    /// one key, else on the main connection.
    async fn fetch_via(&self, keys: &[String], count: bool, idle: bool) -> Vec<Found> {
        let Some(l2) = &self.l2 else { return vec![Found::Miss; keys.len()] };
        let guards: Vec<_> = keys.iter().map(|k| self.l1.fill_guard(k)).collect();
        let started = Instant::now();
        let data_keys: Vec<String> = keys.iter().map(|k| self.keys.data(k)).collect();
        // The remaining lifetime only matters for an L1 deadline: without L1, one command per key.
        let read = if idle && data_keys.len() == 1 {
            l2.get_one_idle(&data_keys[0], self.l1.enabled()).await
        } else {
            l2.get_many(&data_keys, self.l1.enabled()).await
        };
        let fetched = match read {
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
}
