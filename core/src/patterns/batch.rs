//! `cacheAside.getMany`: many keys, one loader call for all the misses (contract §9).
//!
//! 1. **Hits** come from L1, then one Redis round trip for all the L1 misses (as `mget`).
//! 2. **Per-key flights, shared with `cacheAside.get`**: a missing key that another call of this
//!    process is already loading is awaited, not loaded twice. The others are led by this call, as
//!    one batch, and each gets a flight that later calls join.
//! 3. **Cross-process locks, per key**: the batch takes the load lock of every key it leads in one
//!    pipelined round trip. Keys locked by another process are awaited (their values polled) until
//!    stored or their lock is gone; a key whose other loader gave up reads as `null`. The loader is
//!    called **once**, with the keys whose lock this batch holds (or all of them when Redis is
//!    unreachable).
//! 4. **Results**: the loader resolves to an object `{ key: value }` (the bindings accept a `Map`,
//!    an object or `[key, value]` pairs in JS, a dict in Python). Each value is stored as
//!    `cacheAside.get` stores one, with its lock, version-checked. Keys it leaves out (or maps to
//!    `null`) read as `null` and are not cached, unless `negativeTtl`. A loader error rejects the
//!    call, and the led keys' flights, and caches nothing.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use futures::FutureExt;

use super::cache_aside::{release, CacheAside, Fallback, Flight, FlightEnd, Outcome, Running, State, POLL_MAX, POLL_START};
use super::lock::LoadLock;
use super::{AsideOptions, KeyLoader};
use crate::callbacks::CallContext;
use crate::error::{Error, ErrorKind, Result};
use crate::l1::FillGuard;
use crate::l2::is_ok;

type Batch = futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<HashMap<String, Option<Arc<str>>>>>>>;

impl CacheAside {
    /// The values of `keys` in input order (`None`: absent and not loaded). `loader` is called once
    /// with the JSON text of the array of keys it must load, and resolves to the JSON text of an
    /// object `{ key: value }`. See the module docs.
    ///
    /// # Errors
    /// A bad key or option; what the loader raised (nothing is cached then).
    pub async fn get_many(&self, keys: &[String], loader: KeyLoader, ctx: CallContext, opts: &AsideOptions) -> Result<Vec<Option<Arc<str>>>> {
        for k in keys {
            self.check_options(k, opts)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let m = &self.state.manager;
        let found = m.mget_entries(keys).await?;
        let mut out: Vec<Option<Arc<str>>> = found.iter().map(|e| e.as_ref().map(|e| e.json.clone())).collect();
        let mut missing: Vec<String> = Vec::new();
        let mut values: HashMap<String, Option<Arc<str>>> = HashMap::new();
        for (k, v) in keys.iter().zip(&out) {
            if v.is_some() || missing.contains(k) || values.contains_key(k) {
                continue;
            }
            match self.throttled(k, opts) {
                // Fail-safe's stale value, within its throttle: no load.
                Some(e) => {
                    values.insert(k.clone(), Some(e.json.clone()));
                }
                None => missing.push(k.clone()),
            }
        }
        if !missing.is_empty() {
            let waits: Vec<(String, Flight)> = self.join_or_lead(&missing, loader, ctx, opts);
            // Each key as `cacheAside.get` waits for it: timeouts and fail-safe apply per key.
            let results = join_all(waits.iter().map(|(k, f)| self.wait_outcome(k, f.clone(), Fallback::default(), opts))).await;
            for ((k, _), r) in waits.into_iter().zip(results) {
                values.insert(k, r.map(Outcome::into_value)?);
            }
        }
        for (k, v) in keys.iter().zip(out.iter_mut()) {
            if v.is_none() {
                *v = values.get(k).cloned().flatten();
            }
        }
        Ok(out)
    }

    /// A flight per missing key: joined when one runs (and began after the key's last
    /// invalidation), else led by one new batch for all such keys.
    fn join_or_lead(&self, missing: &[String], loader: KeyLoader, ctx: CallContext, opts: &AsideOptions) -> Vec<(String, Flight)> {
        let m = &self.state.manager;
        let mut flights = self.state.flights.lock().unwrap_or_else(|p| p.into_inner());
        let mut waits = Vec::with_capacity(missing.len());
        let mut led: Vec<(String, FillGuard)> = Vec::new();
        for k in missing {
            match flights.get(k) {
                Some(r) if m.load_unchanged(&r.guard, &r.tags) => {
                    m.metrics().inc(&m.metrics().aside_joins);
                    waits.push((k.clone(), r.flight.clone()));
                }
                _ => led.push((k.clone(), m.load_guard(k))),
            }
        }
        if led.is_empty() {
            return waits;
        }
        let id = self.state.next_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let batch = start_batch(self.state.clone(), led.clone(), id, loader, ctx, opts.clone());
        for (k, guard) in led {
            let key = k.clone();
            let flight: Flight = batch.clone().map(move |r| r.map(|map| map.get(&key).cloned().flatten())).boxed().shared();
            flights.insert(k.clone(), Running { id, flight: flight.clone(), guard, tags: opts.tags.clone(), fallback: Fallback::default() });
            waits.push((k, flight));
        }
        waits
    }
}

/// The batch task: its own task, so a caller that stops waiting does not stop it.
fn start_batch(state: Arc<State>, led: Vec<(String, FillGuard)>, id: u64, loader: KeyLoader, ctx: CallContext, opts: AsideOptions) -> Batch {
    let ends: Vec<FlightEnd> = led.iter().map(|(k, _)| FlightEnd { state: state.clone(), key: k.clone(), id }).collect();
    let task = tokio::spawn(async move {
        let _ends = ends;
        load_batch(&state, led, &loader, &ctx, &opts).await.map(Arc::new)
    });
    async move {
        match task.await {
            Ok(r) => r,
            Err(e) => Err(Error::new(ErrorKind::Internal, format!("the batch load was aborted: {e}"))),
        }
    }
    .boxed()
    .shared()
}

/// Lock, load once, store; see the module docs.
async fn load_batch(state: &State, led: Vec<(String, FillGuard)>, loader: &KeyLoader, ctx: &CallContext, opts: &AsideOptions) -> Result<HashMap<String, Option<Arc<str>>>> {
    let m = &state.manager;
    let mut result: HashMap<String, Option<Arc<str>>> = HashMap::with_capacity(led.len());
    // 1. The load locks, in one pipelined round trip.
    let mut ours: Vec<(String, FillGuard, Option<LoadLock>)> = Vec::new();
    let mut elsewhere: Vec<(String, String)> = Vec::new(); // (key, lock key)
    match m.l2() {
        None => ours = led.into_iter().map(|(k, g)| (k, g, None)).collect(),
        Some(l2) => {
            let locks: Vec<LoadLock> = led.iter().map(|(k, _)| LoadLock::candidate(m.keys().lock(k))).collect();
            let replies = join_all(locks.iter().map(|l| l2.command(l.acquire_cmd(opts.lock_lease)))).await;
            for (((k, g), lock), reply) in led.into_iter().zip(locks).zip(replies) {
                match reply {
                    Ok(v) if is_ok(&v) => ours.push((k, g, Some(lock))),
                    Ok(_) => {
                        let lock_key = m.keys().lock(&k);
                        elsewhere.push((k, lock_key));
                    }
                    // Redis unreachable: load without a lock (stored in L1 only, as `cacheAside.get` does).
                    Err(e) if e.is_unavailable() => ours.push((k, g, None)),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    // 2. One loader call for the keys this batch holds.
    if !ours.is_empty() {
        let kept = opts.kept_ttl(m.config().default_ttl);
        let starts = join_all(ours.iter().map(|(_, g, _)| m.begin_load(*g, &opts.tags, kept))).await;
        let arg = serde_json::to_string(&ours.iter().map(|(k, _, _)| k.as_str()).collect::<Vec<_>>()).expect("keys serialize");
        let limit = opts.lock_lease * 2;
        let loaded = match tokio::time::timeout(limit, AssertUnwindSafe(loader(arg, ctx)).catch_unwind()).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::new(ErrorKind::Callback, "the batch loader panicked")),
            Err(_) => Err(Error::new(ErrorKind::Timeout, format!("the batch loader did not finish within {} ms (twice lockLeaseMs)", limit.as_millis()))),
        };
        let metrics = m.metrics();
        metrics.inc(&metrics.aside_loads);
        let map = match loaded.and_then(|text| parse_loaded(text.as_deref())) {
            Ok(map) => map,
            Err(e) => {
                metrics.inc(&metrics.aside_load_errors);
                for (_, _, lock) in ours {
                    if let Some(lock) = lock {
                        release(m, lock).await;
                    }
                }
                return Err(e);
            }
        };
        let stores = ours.into_iter().zip(starts).map(|((k, _, lock), start)| {
            let value = map.get(&k).cloned().flatten();
            async move {
                let (json, ttl) = match (&value, opts.negative_ttl) {
                    (Some(v), _) => (v.to_string(), opts.ttl),
                    (None, Some(nt)) => ("null".to_owned(), Some(nt)),
                    (None, None) => {
                        if let Some(lock) = lock {
                            release(m, lock).await;
                        }
                        return Ok::<_, Error>((k, None));
                    }
                };
                let mut set = opts.set_options();
                set.ttl = ttl;
                let stored = m.store_loaded(&k, &json, &set, &start, lock.as_ref().map(LoadLock::held), false).await;
                if !matches!(stored, Ok(s) if s.released_lock()) {
                    if let Some(lock) = lock {
                        release(m, lock).await;
                    }
                }
                stored?;
                Ok((k, value))
            }
        });
        for r in join_all(stores).await {
            let (k, v) = r?;
            result.insert(k, v);
        }
    }
    // 3. Keys another process is loading: wait for their values, or for their locks to go.
    let give_up = Instant::now() + opts.lock_lease * 2 + POLL_MAX;
    let mut poll = POLL_START;
    while !elsewhere.is_empty() {
        let mut still = Vec::new();
        for (k, lock_key) in elsewhere {
            match m.peek_l2(&k).await? {
                Some(e) => {
                    result.insert(k, Some(e.json.clone()));
                }
                None => {
                    let held = match m.l2() {
                        Some(l2) => l2.exists(&lock_key).await.unwrap_or(false),
                        None => false,
                    };
                    if held && Instant::now() < give_up {
                        still.push((k, lock_key));
                    } else {
                        result.insert(k, None); // its loader gave up or found nothing
                    }
                }
            }
        }
        elsewhere = still;
        if !elsewhere.is_empty() {
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(POLL_MAX);
        }
    }
    Ok(result)
}

/// The loader's object `{ key: value }` as exact JSON texts (`null` values as `None`).
fn parse_loaded(text: Option<&str>) -> Result<HashMap<String, Option<Arc<str>>>> {
    let Some(text) = text else { return Ok(HashMap::new()) };
    let raw: HashMap<String, Box<serde_json::value::RawValue>> = serde_json::from_str(text)
        .map_err(|e| Error::invalid_argument(format!("the getMany loader must return an object (or Map) of key to value: {e}")))?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = v.get();
            (k, (v != "null").then(|| Arc::from(v)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_results_keep_exact_json_and_nulls_are_absent() {
        let m = parse_loaded(Some(r#"{"a":{"x":1.50},"b":null}"#)).unwrap();
        assert_eq!(m["a"].as_deref(), Some(r#"{"x":1.50}"#));
        assert_eq!(m["b"], None);
        assert!(parse_loaded(None).unwrap().is_empty());
        assert!(parse_loaded(Some("[1]")).unwrap_err().message().contains("must return an object"));
    }
}
