//! Version-checked stores of loaded values (cache-aside, refresh-ahead, read-through).
//!
//! A loader's result is stored only if nothing invalidated its key or its tags since the load began,
//! in this process and in every other (contract §8, second bullet):
//!
//! - **Key, across processes.** The load holds the key's load lock (`{ns}:lk:{key}`), and
//!   `del`/`invalidateKeys` delete that lock together with the key. The store is one script
//!   (`store_loaded.lua`) that writes only while the lock is still this load's and the key is still
//!   absent (a value written meanwhile is newer than the loaded one), and releases the lock.
//! - **Tags, across processes.** The tags' version tokens are read before the loader runs and recorded
//!   in the stored envelope: a tag invalidated during the load makes the stored entry a miss for every
//!   reader, in every language.
//! - **This process's L1.** The entry is born at the load's start, so a tag mark newer than that
//!   hides it, and it is put only if nothing wrote, removed or swept the key meanwhile
//!   ([`crate::l1::L1::put_guarded`]).
//!
//! A load that began while Redis was unreachable stores in L1 only (as a `set` during an outage).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::Value;

use super::{random_token, ttl_ms, CacheManager, TAG_GRACE_MS};
use crate::clock::now_ms;
use crate::bus::MessageKind;
use crate::codec::{self, EncodeOptions, TagStamp};
use crate::error::Result;
use crate::l1::{Entry, FillGuard};
use crate::options::SetOptions;

fn store_script() -> &'static redis::Script {
    static SCRIPT: OnceLock<redis::Script> = OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(include_str!("store_loaded.lua")))
}

/// What a load records when it begins: the L1 snapshot and (when Redis answered) the tags' tokens.
#[derive(Debug, Clone)]
pub struct LoadStart {
    guard: FillGuard,
    stamps: Option<Vec<TagStamp>>,
}

/// Where [`CacheManager::store_loaded`] put a loaded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// In Redis (and L1, unless the key changed locally meanwhile). A lock the load held is released.
    InRedis,
    /// Not at all: the key or one of its tags was invalidated, or the key written, since the load
    /// began. A lock the load held is released (or was taken from it by a `del`).
    Refused,
    /// In L1 only: Redis was unreachable when the load began or when it stored, or L2 is off. A lock
    /// the load held is still held.
    L1Only,
}

impl Stored {
    /// Whether the store released (or found gone) the load lock it was given.
    pub fn released_lock(self) -> bool {
        matches!(self, Stored::InRedis | Stored::Refused)
    }
}

/// The load lock a store must still hold: its Redis key and this load's token.
#[derive(Debug, Clone, Copy)]
pub struct HeldLock<'a> {
    /// `{ns}:lk:{key}`.
    pub key: &'a str,
    /// The token the lock was taken with.
    pub token: &'a str,
}

impl CacheManager {
    /// The L1 snapshot of a load of `key`: take it before the Redis read that found the key missing.
    pub fn load_guard(&self, key: &str) -> FillGuard {
        self.l1.fill_guard(key)
    }

    /// Whether a load that started at `guard` still loads a current value: nothing removed, wrote or
    /// swept its key since, and none of `tags` was invalidated (in this process, or in another one
    /// whose bus message arrived). A caller arriving once this is false must not join that load.
    pub fn load_unchanged(&self, guard: &FillGuard, tags: &[String]) -> bool {
        self.l1.unchanged_since(guard, tags)
    }

    /// Complete the start of a load: read the current tokens of `tags` (one round trip, none without
    /// tags). Call it after taking the load lock and before running the loader.
    pub async fn begin_load(&self, guard: FillGuard, tags: &[String], ttl: Option<Duration>) -> LoadStart {
        let Some(l2) = &self.l2 else { return LoadStart { guard, stamps: Some(Vec::new()) } };
        if tags.is_empty() {
            return LoadStart { guard, stamps: Some(Vec::new()) };
        }
        let ttl = ttl.unwrap_or(self.config.default_ttl);
        let mut names: Vec<&String> = Vec::with_capacity(tags.len());
        for t in tags {
            if !names.contains(&t) {
                names.push(t);
            }
        }
        let tag_keys: Vec<String> = names.iter().map(|t| self.keys.tag(t)).collect();
        let candidates: Vec<[u8; 8]> = names.iter().map(|_| random_token()).collect();
        let stamps = l2
            .tag_tokens_for_write(&tag_keys, &candidates, ttl_ms(ttl) + TAG_GRACE_MS)
            .await
            .ok()
            .map(|tokens| names.iter().zip(tokens).map(|(t, token)| TagStamp { tag: (*t).clone(), token }).collect());
        LoadStart { guard, stamps }
    }

    /// Store what a load begun at `start` returned, unless its key or tags were invalidated (or the key
    /// written) since. `lock`: the load lock the load holds in Redis (released here); `None` when it
    /// holds none. `replace`: the key may hold a value that this one replaces (a refresh); otherwise
    /// the key must still be absent. Returns where the value went.
    ///
    /// # Errors
    /// Bad key, TTL, tags or value, as for `set`; Redis errors other than unavailability.
    pub async fn store_loaded(
        &self,
        key: &str,
        json: &str,
        opts: &SetOptions,
        start: &LoadStart,
        lock: Option<HeldLock<'_>>,
        replace: bool,
    ) -> Result<Stored> {
        self.check_open()?;
        let w = self.prepare(key, json, opts.ttl, &opts.tags, None, opts.ttl_jitter)?;
        self.metrics.inc(&self.metrics.sets);
        let created = now_ms();
        let started = Instant::now();
        // A fail-safe entry lives on, physically, past its logical expiry (contract §9).
        let kept = w.ttl + opts.fail_safe_max_duration.unwrap_or_default();
        if let (Some(l2), Some(stamps)) = (&self.l2, &start.stamps) {
            let enc = EncodeOptions {
                created_at_ms: created,
                expires_at_ms: created + ttl_ms(w.ttl),
                compress_above: None,
                fail_safe: opts.fail_safe_max_duration.is_some(),
            };
            let bytes = codec::encode(json, stamps, enc);
            let msg = self.bus.message(MessageKind::Write, vec![key.to_owned()]);
            let publish = Some((self.bus.channel(), msg.encode()));
            let data_key = self.keys.data(key);
            let stored = match lock {
                Some(lock) => {
                    let px = ttl_ms(kept).to_string();
                    let mode: &[u8] = if replace { b"replace" } else { b"absent" };
                    let now = now_ms().to_string();
                    let args: [&[u8]; 5] = [lock.token.as_bytes(), &bytes, px.as_bytes(), mode, now.as_bytes()];
                    // Redis 7.0 reports a script's writes back to this process's own tracking.
                    let echo = self.bus.expect_echo(key);
                    let stored = l2.eval_with_publish(store_script(), &[&data_key, lock.key], &args, publish).await.map(|v| matches!(v, Value::Int(1)));
                    if echo && !matches!(stored, Ok(true)) {
                        self.bus.cancel_echo(key);
                    }
                    stored
                }
                None => l2.set_many(&[(data_key, bytes, ttl_ms(kept))], publish).await.map(|()| true),
            };
            let outcome = match stored {
                Ok(true) => Stored::InRedis,
                Ok(false) => return Ok(Stored::Refused),
                Err(e) if e.is_unavailable() => Stored::L1Only, // as a set during an outage
                Err(e) => return Err(e),
            };
            self.put_loaded(key, json, w.tags, w.ttl, kept, created, started, start);
            return Ok(outcome);
        }
        self.put_loaded(key, json, w.tags, w.ttl, kept, created, started, start);
        Ok(Stored::L1Only)
    }

    #[allow(clippy::too_many_arguments)]
    fn put_loaded(&self, key: &str, json: &str, tags: &[String], ttl: Duration, kept: Duration, created: u64, started: Instant, start: &LoadStart) {
        let entry = Entry::new(Arc::from(json), tags.to_vec().into_boxed_slice(), started + ttl, created + ttl_ms(ttl))
            .kept_until(started + kept)
            .created_at(created);
        self.l1.put_guarded(key, Arc::new(entry), start.guard);
    }
}
