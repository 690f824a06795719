//! Cache-aside (`cacheAside.get`) and refresh-ahead (`cacheAside.getWithRefresh`).
//!
//! A miss runs the loader once per key per process however many callers wait (a shared flight,
//! spawned so it finishes even if its callers go away), and once across processes: the flight takes a
//! short Redis lock with a lease; the other processes poll for the value and load themselves only if
//! the holder neither fills the key nor holds the lock any more, or the lease is over.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};

use super::lock::LoadLock;
use super::Loader;
use crate::error::{Error, ErrorKind, Result};
use crate::l2::is_ok;
use crate::clock::now_ms;
use crate::l1::{Entry, FillGuard};
use crate::manager::{CacheManager, Found, LoadStart, Stored, Tier};
use crate::options::SetOptions;
use crate::tasks::Stage;

/// Options of `cacheAside.get`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AsideOptions {
    /// Lifetime of the loaded value (default: the manager's default TTL).
    pub ttl: Option<Duration>,
    /// Tags of the loaded value.
    pub tags: Vec<String>,
    /// Cache a `null` result for this long (default: `null` is not cached).
    pub negative_ttl: Option<Duration>,
    /// Lease of the cross-process load lock (default 5 s); longer than the slowest load.
    pub lock_lease: Duration,
    /// A random 0…`ttl_jitter` added to the TTL of what is stored (default: the manager's).
    pub ttl_jitter: Option<Duration>,
    /// Give up waiting for the loader after this long (`ERR_STRATACACHE_TIMEOUT`, or the stale value
    /// under fail-safe); the load goes on in the background and its result is stored when it arrives.
    pub hard_timeout: Option<Duration>,
    /// Fail-safe (contract §9): keep what is stored `fail_safe_max_duration` past its TTL, and when
    /// the loader fails or times out, return that last value (status `stale`) instead of the error.
    pub fail_safe: bool,
    /// How long past its TTL a fail-safe entry is kept (default a day).
    pub fail_safe_max_duration: Duration,
    /// After a fallback, serve the stale value this long before trying the loader again (default 30 s).
    pub fail_safe_throttle: Duration,
    /// With a stale value at hand, return it once the loader has run this long; the load goes on and
    /// its result is stored when it arrives. Needs `fail_safe`.
    pub soft_timeout: Option<Duration>,
}

/// Default of [`AsideOptions::fail_safe_max_duration`].
pub const FAIL_SAFE_MAX_DURATION: Duration = Duration::from_secs(86_400);
/// Default of [`AsideOptions::fail_safe_throttle`].
pub const FAIL_SAFE_THROTTLE: Duration = Duration::from_secs(30);

impl Default for AsideOptions {
    fn default() -> Self {
        AsideOptions {
            ttl: None,
            tags: Vec::new(),
            negative_ttl: None,
            lock_lease: Duration::from_secs(5),
            ttl_jitter: None,
            hard_timeout: None,
            fail_safe: false,
            fail_safe_max_duration: FAIL_SAFE_MAX_DURATION,
            fail_safe_throttle: FAIL_SAFE_THROTTLE,
            soft_timeout: None,
        }
    }
}

impl AsideOptions {
    /// Options with a TTL.
    pub fn ttl(ttl: Duration) -> Self {
        AsideOptions { ttl: Some(ttl), ..Default::default() }
    }

    /// Add tags.
    #[must_use]
    pub fn with_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Turn fail-safe on, with its defaults.
    #[must_use]
    pub fn with_fail_safe(mut self) -> Self {
        self.fail_safe = true;
        self
    }

    pub(super) fn set_options(&self) -> SetOptions {
        let mut o = SetOptions::default();
        o.ttl = self.ttl;
        o.tags = self.tags.clone();
        o.ttl_jitter = self.ttl_jitter;
        o.fail_safe_max_duration = self.fail_safe.then_some(self.fail_safe_max_duration);
        o
    }

    /// How long what this load stores lives in Redis (for the tags' tokens): its TTL, plus the
    /// fail-safe extension.
    pub(super) fn kept_ttl(&self, default_ttl: Duration) -> Option<Duration> {
        let ttl = self.ttl.unwrap_or(default_ttl);
        Some(if self.fail_safe { ttl + self.fail_safe_max_duration } else { ttl })
    }
}

/// Options of `cacheAside.getWithRefresh`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RefreshOptions {
    /// Cache-aside options (the TTL is required here: the threshold is a fraction of it).
    pub aside: AsideOptions,
    /// Refresh in the background once less than `refresh_threshold × ttl` remains (0 < x < 1).
    pub refresh_threshold: f64,
}

impl RefreshOptions {
    /// Refresh once less than `threshold × ttl` remains.
    pub fn new(ttl: Duration, threshold: f64) -> Self {
        RefreshOptions { aside: AsideOptions::ttl(ttl), refresh_threshold: threshold }
    }
}

pub(super) type Flight = Shared<BoxFuture<'static, Result<Option<Arc<str>>>>>;

/// Where a flight leaves the fail-safe entry it found in Redis past its logical expiry, so that its
/// callers can fall back on it even with L1 off.
pub(super) type Fallback = Arc<OnceLock<Arc<Entry>>>;

/// A running load of one key: callers join it only while nothing invalidated the key since it began.
pub(super) struct Running {
    pub(super) id: u64,
    pub(super) flight: Flight,
    pub(super) guard: FillGuard,
    pub(super) tags: Vec<String>,
    pub(super) fallback: Fallback,
}

/// How a cache-aside load ended for its caller.
pub(super) enum Outcome {
    /// The value found or loaded (`None`: the loader found nothing).
    Loaded(Option<Arc<str>>),
    /// Fail-safe's last value, from L1 or Redis.
    Stale(Arc<Entry>, crate::manager::Tier),
}

impl Outcome {
    pub(super) fn into_value(self) -> Option<Arc<str>> {
        match self {
            Outcome::Loaded(v) => v,
            Outcome::Stale(e, _) => Some(e.json.clone()),
        }
    }
}

pub(super) struct State {
    pub(super) manager: Arc<CacheManager>,
    pub(super) flights: Mutex<HashMap<String, Running>>,
    pub(super) next_flight: std::sync::atomic::AtomicU64,
    refreshing: Mutex<HashSet<String>>,
}

/// Cache-aside with single-flight and a cross-process load lock. Cheap to clone.
#[derive(Clone)]
pub struct CacheAside {
    pub(super) state: Arc<State>,
}

pub(super) const POLL_START: Duration = Duration::from_millis(5);
pub(super) const POLL_MAX: Duration = Duration::from_millis(50);

impl CacheAside {
    pub(crate) fn new(manager: Arc<CacheManager>) -> Self {
        CacheAside {
            state: Arc::new(State {
                manager,
                flights: Mutex::new(HashMap::new()),
                next_flight: std::sync::atomic::AtomicU64::new(0),
                refreshing: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The value of `key` (JSON text), loading it with `loader` on a miss. `None` when the loader
    /// found nothing.
    ///
    /// # Errors
    /// What the loader raised (`ERR_STRATACACHE_CALLBACK` with its payload), the same for every waiter;
    /// nothing is cached then. Bad keys or options, as for `set`.
    pub async fn get(&self, key: &str, loader: Loader, opts: &AsideOptions) -> Result<Option<Arc<str>>> {
        self.check_options(key, opts)?;
        if let Some(e) = self.state.manager.get_l1(key)? {
            return Ok(Some(e.json.clone()));
        }
        // Redis is read once per flight, inside it, not once per waiting caller.
        self.load(key, loader, opts).await
    }

    /// The checks `get`'s synchronous front makes before anything else, so that a bad option fails on
    /// a hit exactly as on a miss: the key, the tags, non-zero TTLs.
    pub fn check_options(&self, key: &str, opts: &AsideOptions) -> Result<()> {
        self.state.manager.check_key_public(key)?;
        for t in &opts.tags {
            crate::key::validate_tag(t)?;
        }
        for ttl in [opts.ttl, opts.negative_ttl].into_iter().flatten() {
            if ttl.is_zero() {
                return Err(Error::invalid_argument(format!("ttl must be > 0, got 0 (key {key:?})")));
            }
        }
        if opts.soft_timeout.is_some() && !opts.fail_safe {
            return Err(Error::invalid_argument(format!(
                "soft_timeout needs fail_safe (it returns the stale value that only fail-safe keeps; key {key:?})"
            )));
        }
        Ok(())
    }

    /// Fail-safe's throttle: the stale value of `key` a fallback served less than
    /// `failSafeThrottle` ago, served again without trying the loader.
    pub(super) fn throttled(&self, key: &str, opts: &AsideOptions) -> Option<Arc<Entry>> {
        if !opts.fail_safe {
            return None;
        }
        let e = self.state.manager.l1().peek_stale(key).filter(|e| e.throttled(now_ms()))?;
        let m = self.state.manager.metrics();
        m.inc(&m.aside_stale_served);
        Some(e)
    }

    /// L1's entry for `key` (counting the hit or miss).
    pub(super) fn probe_l1(&self, key: &str) -> Result<Option<Arc<crate::l1::Entry>>> {
        self.state.manager.get_l1(key)
    }

    /// [`CacheAside::get`] for a caller that has just looked `key` up in L1 itself and missed (the
    /// bindings' synchronous fast path): joins or starts the load without counting a second L1 miss.
    pub(super) async fn get_after_l1_miss(&self, key: &str, loader: Loader, opts: &AsideOptions) -> Result<Option<Arc<str>>> {
        self.state.manager.check_key_public(key)?;
        self.load(key, loader, opts).await
    }

    /// The cached value of `key`, if any (no loading).
    pub async fn get_cached(&self, key: &str) -> Result<Option<Arc<str>>> {
        Ok(self.state.manager.get_entry(key).await?.map(|e| e.json.clone()))
    }

    /// Join (or start) the flight loading `key`. A flight that began before an invalidation of the key
    /// (or of one of its tags) is not joined: its loader may have read what the invalidation replaced,
    /// so a caller arriving after the invalidation resolved starts a new load (contract §8).
    async fn load(&self, key: &str, loader: Loader, opts: &AsideOptions) -> Result<Option<Arc<str>>> {
        self.load_from(key, loader, opts, true).await
    }

    /// [`CacheAside::load`]; a new flight reads Redis first only when `read_l2` (the caller may have
    /// just read it, counted).
    async fn load_from(&self, key: &str, loader: Loader, opts: &AsideOptions, read_l2: bool) -> Result<Option<Arc<str>>> {
        self.load_outcome(key, loader, opts, read_l2).await.map(Outcome::into_value)
    }

    /// [`CacheAside::load_from`], saying whether the value is fail-safe's stale one.
    async fn load_outcome(&self, key: &str, loader: Loader, opts: &AsideOptions, read_l2: bool) -> Result<Outcome> {
        if let Some(e) = self.throttled(key, opts) {
            return Ok(Outcome::Stale(e, Tier::L1)); // fail-safe's stale value, within its throttle
        }
        let (flight, fallback) = {
            let m = &self.state.manager;
            let mut flights = self.state.flights.lock().unwrap_or_else(|p| p.into_inner());
            match flights.get(key) {
                Some(r) if m.load_unchanged(&r.guard, &r.tags) => {
                    m.metrics().inc(&m.metrics().aside_joins);
                    (r.flight.clone(), r.fallback.clone())
                }
                _ => {
                    let id = self.state.next_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let guard = m.load_guard(key);
                    let fallback = Fallback::default();
                    let f = start_flight(self.state.clone(), key.to_owned(), loader, opts.clone(), guard, id, read_l2, fallback.clone());
                    flights.insert(key.to_owned(), Running { id, flight: f.clone(), guard, tags: opts.tags.clone(), fallback: fallback.clone() });
                    (f, fallback)
                }
            }
        };
        self.wait_outcome(key, flight, fallback, opts).await
    }

    /// Wait for the flight loading `key` as `opts` say: at most `hardTimeoutMs`; under fail-safe,
    /// falling back on the last value when it fails or times out, or once `softTimeoutMs` passed.
    pub(super) async fn wait_outcome(&self, key: &str, flight: Flight, fallback: Fallback, opts: &AsideOptions) -> Result<Outcome> {
        if !opts.fail_safe {
            return self.await_flight(key, flight, opts.hard_timeout).await.map(Outcome::Loaded);
        }
        // Fail-safe: what the flight found in Redis, or the last value this process still has (L1
        // keeps fail-safe entries past their expiry), when Redis could not be read.
        let stale = || -> Option<(Arc<Entry>, Tier)> {
            if let Some(e) = fallback.get() {
                return Some((e.clone(), Tier::L2));
            }
            self.state.manager.l1().peek_stale(key).map(|e| (e, Tier::L1))
        };
        let started = Instant::now();
        if let Some(soft) = opts.soft_timeout {
            // The flight is its own task: returning the stale value leaves it running, and what it
            // loads is stored when it arrives.
            match tokio::time::timeout(soft, flight.clone()).await {
                Ok(r) => return Ok(self.settle_fail_safe(key, r, stale(), opts)?),
                Err(_) => {
                    if let Some((e, tier)) = stale() {
                        return Ok(Outcome::Stale(e, tier));
                    }
                }
            }
        }
        let hard = opts.hard_timeout.map(|h| h.saturating_sub(started.elapsed()));
        let r = self.await_flight(key, flight, hard).await;
        self.settle_fail_safe(key, r, stale(), opts)
    }

    /// Wait for `flight`, at most `limit` (then `ERR_STRATACACHE_TIMEOUT`). The flight is its own
    /// task: giving up waiting leaves it running, and what its loader returns is stored when it
    /// arrives (contract §9).
    async fn await_flight(&self, key: &str, flight: Flight, limit: Option<Duration>) -> Result<Option<Arc<str>>> {
        let Some(limit) = limit else { return flight.await };
        match tokio::time::timeout(limit, flight).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the loader of key {key:?} did not finish within hardTimeoutMs ({} ms); it goes on in the background and its result is stored when it arrives",
                    limit.as_millis()
                ),
            )),
        }
    }

    /// A fail-safe load's result: the value, or on a failure the stale value (throttled for
    /// `failSafeThrottle`), or the failure when there is none.
    fn settle_fail_safe(&self, key: &str, r: Result<Option<Arc<str>>>, stale: Option<(Arc<Entry>, Tier)>, opts: &AsideOptions) -> Result<Outcome> {
        match (r, stale) {
            (Ok(v), _) => Ok(Outcome::Loaded(v)),
            (Err(e), Some((entry, tier))) => {
                entry.throttle_until(now_ms() + opts.fail_safe_throttle.as_millis() as u64);
                let m = self.state.manager.metrics();
                m.inc(&m.aside_stale_served);
                tracing::debug!("stratacache: fail-safe serves the stale value of {key:?}: {e}");
                Ok(Outcome::Stale(entry, tier))
            }
            (Err(e), None) => Err(e),
        }
    }

    /// [`CacheAside::get`] with the result's metadata: an L1 or L2 hit, or a miss answered by the
    /// loader (`stored` when its value, or a cached `null`, was stored). A value another process
    /// stored while this call's load was waiting for its lock also reports as loaded.
    pub async fn get_with_meta(&self, key: &str, loader: Loader, opts: &AsideOptions) -> Result<crate::manager::ResultMeta> {
        use crate::manager::{ResultMeta, Tier};
        self.check_options(key, opts)?;
        if let Some(e) = self.state.manager.get_l1(key)? {
            return Ok(ResultMeta::hit(&e, Tier::L1));
        }
        self.get_with_meta_after_l1_miss(key, loader, opts).await
    }

    /// [`CacheAside::get_with_meta`] after an L1 miss the caller counted (the bindings look L1 up
    /// synchronously first).
    pub async fn get_with_meta_after_l1_miss(&self, key: &str, loader: Loader, opts: &AsideOptions) -> Result<crate::manager::ResultMeta> {
        use crate::manager::{ResultMeta, Tier};
        self.check_options(key, opts)?;
        if let Some(e) = self.throttled(key, opts) {
            return Ok(ResultMeta::stale(&e, Tier::L1));
        }
        let m = &self.state.manager;
        let fallback = match m.get_l2_found(key).await? {
            Found::Fresh(e) => return Ok(ResultMeta::hit(&e, Tier::L2)),
            Found::Stale(e) => Some(e),
            Found::Miss => None,
        };
        let value = match self.load_outcome(key, loader, opts, false).await {
            Ok(Outcome::Stale(e, tier)) => return Ok(ResultMeta::stale(&e, tier)),
            Ok(Outcome::Loaded(v)) => v,
            // The stale value this call read itself (L1 may be off).
            Err(err) => match fallback.filter(|_| opts.fail_safe) {
                Some(e) => match self.settle_fail_safe(key, Err(err), Some((e, Tier::L2)), opts)? {
                    Outcome::Stale(e, tier) => return Ok(ResultMeta::stale(&e, tier)),
                    Outcome::Loaded(v) => v,
                },
                None => return Err(err),
            },
        };
        let stored = value.is_some() || opts.negative_ttl.is_some();
        let ttl = match value {
            Some(_) => opts.ttl.unwrap_or(m.config().default_ttl),
            None => opts.negative_ttl.unwrap_or_default(),
        };
        Ok(ResultMeta::loaded(value, ttl, if stored { opts.tags.clone() } else { Vec::new() }, stored))
    }

    /// The snapshot a shared-completion load starts with (see `coalesce`).
    /// Count a caller that joined a load already running (single-flight).
    pub(super) fn count_join(&self) {
        let m = self.state.manager.metrics();
        m.inc(&m.aside_joins);
    }

    pub(super) fn load_guard(&self, key: &str) -> FillGuard {
        self.state.manager.load_guard(key)
    }

    /// Whether a load that started at `guard` still loads a current value.
    pub(super) fn load_unchanged(&self, guard: &FillGuard, tags: &[String]) -> bool {
        self.state.manager.load_unchanged(guard, tags)
    }

    /// Like [`CacheAside::get`], but when less than `refresh_threshold × ttl` remains the current
    /// value is returned at once and refreshed in the background, once per key (and once across
    /// processes, through the load lock).
    pub async fn get_with_refresh(&self, key: &str, loader: Loader, opts: &RefreshOptions) -> Result<Option<Arc<str>>> {
        let t = opts.refresh_threshold;
        if !(t.is_finite() && t > 0.0 && t < 1.0) {
            return Err(Error::invalid_argument(format!("refresh_threshold must be between 0 and 1 (exclusive), got {}", crate::options::fmt_number(t))));
        }
        let ttl = opts.aside.ttl.unwrap_or(self.state.manager.config().default_ttl);
        match self.state.manager.get_entry(key).await? {
            Some(e) => {
                let remaining = e.deadline.saturating_duration_since(Instant::now());
                if remaining < ttl.mul_f64(t) {
                    self.refresh_in_background(key, loader, &opts.aside);
                }
                Ok(Some(e.json.clone()))
            }
            None => self.load(key, loader, &opts.aside).await,
        }
    }

    fn refresh_in_background(&self, key: &str, loader: Loader, opts: &AsideOptions) {
        if !self.state.refreshing.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned()) {
            return; // already refreshing in this process
        }
        let state = self.state.clone();
        let key = key.to_owned();
        let opts = opts.clone();
        let tasks = state.manager.tasks().clone();
        let key2 = key.clone();
        let started = tasks.spawn("refresh-ahead", Stage::Requests, async move {
            let m = &state.manager;
            let guard = m.load_guard(&key);
            let lock = match m.l2() {
                Some(l2) => match LoadLock::try_acquire(l2, m.keys().lock(&key), opts.lock_lease).await {
                    Ok(Some(lock)) => Some(lock),
                    Ok(None) => None, // another process refreshes it
                    Err(_) => None,
                },
                None => None,
            };
            // Refreshing: the key holds a value, so the store may replace it (no "still absent" check),
            // but only while this refresh holds its lock (a `del` meanwhile removes it).
            if lock.is_some() || m.l2().is_none() {
                let start = m.begin_load(guard, &opts.tags, opts.kept_ttl(m.config().default_ttl)).await;
                if let Err(e) = run_and_store(m, &key, &loader, &opts, &start, lock.as_ref(), Store::Replace).await {
                    tracing::warn!("stratacache: background refresh of {key:?} failed, keeping the old value: {e}");
                }
            }
            if let (Some(lock), Some(l2)) = (lock, m.l2()) {
                lock.release(l2).await;
            }
            state.refreshing.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        });
        if !started {
            // Shutting down: no refresh.
            self.state.refreshing.lock().unwrap_or_else(|p| p.into_inner()).remove(&key2);
        }
    }
}

/// Removes a flight from the map when its task ends, however it ends (a panic included), so a key
/// never stays wedged on a dead flight; a newer flight of the key (after an invalidation) stays.
pub(super) struct FlightEnd {
    pub(super) state: Arc<State>,
    pub(super) key: String,
    pub(super) id: u64,
}

impl Drop for FlightEnd {
    fn drop(&mut self) {
        let mut flights = self.state.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights.get(&self.key).is_some_and(|r| r.id == self.id) {
            flights.remove(&self.key);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn start_flight(state: Arc<State>, key: String, loader: Loader, opts: AsideOptions, guard: FillGuard, id: u64, read_l2: bool, fallback: Fallback) -> Flight {
    let end = FlightEnd { state: state.clone(), key: key.clone(), id };
    let task = tokio::spawn(async move {
        let end = end;
        let m = &end.state.manager;
        if !read_l2 {
            // The caller has just read Redis; the load's own lock round trip reads it again.
            return load_once(m, &end.key, &loader, &opts, guard, &fallback).await;
        }
        match m.get_l2_found(&end.key).await {
            Ok(Found::Fresh(e)) => Ok(Some(e.json.clone())),
            Ok(found) => {
                if let Found::Stale(e) = found {
                    let _ = fallback.set(e);
                }
                load_once(m, &end.key, &loader, &opts, guard, &fallback).await
            }
            Err(e) => Err(e),
        }
    });
    async move {
        match task.await {
            Ok(r) => r,
            Err(e) => Err(Error::new(ErrorKind::Internal, format!("the load of key {key:?} was aborted: {e}"))),
        }
    }
    .boxed()
    .shared()
}

/// Load under the cross-process lock (or without it when Redis is unavailable). Each attempt takes
/// the lock and re-reads the key in one round trip: a value stored by another process just before is
/// used, not loaded again.
///
/// The store is version-checked (see `manager::load`): it happens only while this load still holds
/// its lock and the key is still absent, and with the tag tokens read before the loader ran.
async fn load_once(
    m: &CacheManager,
    key: &str,
    loader: &Loader,
    opts: &AsideOptions,
    guard: FillGuard,
    fallback: &Fallback,
) -> Result<Option<Arc<str>>> {
    let kept = opts.kept_ttl(m.config().default_ttl);
    if m.l2().is_none() {
        let start = m.begin_load(guard, &opts.tags, kept).await;
        return run_and_store(m, key, loader, opts, &start, None, Store::IfAbsent).await.map(|(v, _)| v);
    }
    let lock = LoadLock::candidate(m.keys().lock(key));
    let take = lock.acquire_cmd(opts.lock_lease);
    // A lock lives at most its lease, so waiting a little longer always ends with the value stored
    // by its holder or with the lock ours; the bound only stops a pathological loop.
    let give_up = Instant::now() + opts.lock_lease * 2 + POLL_MAX;
    let mut poll = POLL_START;
    let mut waited = false;
    loop {
        let read = m.peek_l2_after(&take, key).await.map(|(reply, found)| match found {
            Found::Fresh(e) => (reply, Some(e)),
            Found::Stale(e) => {
                let _ = fallback.set(e);
                (reply, None)
            }
            Found::Miss => (reply, None),
        });
        match read {
            Ok((reply, found)) if is_ok(&reply) => {
                return match found {
                    Some(e) => {
                        release(m, lock).await;
                        Ok(Some(e.json.clone()))
                    }
                    None => {
                        let start = m.begin_load(guard, &opts.tags, kept).await;
                        let r = run_and_store(m, key, loader, opts, &start, Some(&lock), Store::IfAbsent).await;
                        if !matches!(r, Ok((_, Some(s))) if s.released_lock()) {
                            release(m, lock).await; // nothing was stored in Redis with it
                        }
                        r.map(|(v, _)| v)
                    }
                };
            }
            Ok((_, Some(e))) => return Ok(Some(e.json.clone())), // the holder stored it
            Ok((_, None)) => {
                if Instant::now() >= give_up {
                    // Returned, never stored: without the lock a store could outlive a `del`.
                    let start = m.begin_load(guard, &opts.tags, kept).await;
                    return run_and_store(m, key, loader, opts, &start, None, Store::No).await.map(|(v, _)| v);
                }
                if !waited {
                    waited = true;
                    m.metrics().inc(&m.metrics().aside_lock_waits);
                }
                tokio::time::sleep(poll).await;
                poll = (poll * 2).min(POLL_MAX);
                // Loop: if the holder crashed or failed, its lock is gone and we take it.
            }
            Err(e) if e.is_unavailable() => {
                let start = m.begin_load(guard, &opts.tags, kept).await;
                return run_and_store(m, key, loader, opts, &start, None, Store::IfAbsent).await.map(|(v, _)| v);
            }
            Err(e) => return Err(e),
        }
    }
}

pub(super) async fn release(m: &CacheManager, lock: LoadLock) {
    if let Some(l2) = m.l2() {
        lock.release(l2).await;
    }
}

/// How a load's result may be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    /// Only where the key is still absent (a cold load).
    IfAbsent,
    /// Over the current value (a refresh).
    Replace,
    /// Not at all (the value is only handed back).
    No,
}

/// Run the loader once and store what it returned as `store` says, version-checked against `start`
/// (and `lock`, when the load holds one). Returns the value and where it was stored (`None`: nothing
/// was stored, e.g. the loader found nothing).
async fn run_and_store(
    m: &CacheManager,
    key: &str,
    loader: &Loader,
    opts: &AsideOptions,
    start: &LoadStart,
    lock: Option<&LoadLock>,
    store: Store,
) -> Result<(Option<Arc<str>>, Option<Stored>)> {
    let metrics = m.metrics();
    metrics.inc(&metrics.aside_loads);
    let out = run_and_store_uncounted(m, key, loader, opts, start, lock, store).await;
    if out.is_err() {
        metrics.inc(&metrics.aside_load_errors);
    }
    out
}

async fn run_and_store_uncounted(
    m: &CacheManager,
    key: &str,
    loader: &Loader,
    opts: &AsideOptions,
    start: &LoadStart,
    lock: Option<&LoadLock>,
    store: Store,
) -> Result<(Option<Arc<str>>, Option<Stored>)> {
    // A loader that never settles must not wedge its key: it gets twice the lock lease.
    let limit = opts.lock_lease * 2;
    let loaded = match tokio::time::timeout(limit, AssertUnwindSafe(loader()).catch_unwind()).await {
        Ok(Ok(r)) => r?,
        Ok(Err(_)) => return Err(Error::new(ErrorKind::Callback, format!("the loader of key {key:?} panicked"))),
        Err(_) => {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("the loader of key {key:?} did not finish within {} ms (twice lockLeaseMs)", limit.as_millis()),
            ))
        }
    };
    let (json, set_opts) = match (&loaded, opts.negative_ttl) {
        (Some(json), _) => (json.as_str(), opts.set_options()),
        (None, Some(nt)) => {
            let mut o = opts.set_options();
            o.ttl = Some(nt);
            ("null", o)
        }
        (None, None) => return Ok((None, None)),
    };
    let stored = if store == Store::No {
        m.check_write(key, json, &set_opts)?;
        None
    } else {
        Some(m.store_loaded(key, json, &set_opts, start, lock.map(LoadLock::held), store == Store::Replace).await?)
    };
    Ok((loaded.map(Arc::from), stored))
}
