//! `cacheWarmer`: strategies that fill the cache ahead of demand, by priority, on startup, on demand
//! and on schedules that one process of many runs per period.
//!
//! - **Strategies** live in a process-wide registry ([`Strategies`], part of
//!   [`crate::handle::Registries`]), so what a binding registered outlives a shutdown and a re-open.
//!   Registration is synchronous and refuses a bad name or schedule at once.
//! - **The warmer of a system** ([`Warmer`]) runs them: [`Warmer::warm_strategy`],
//!   [`Warmer::warm_all`] (enabled ones, higher priority first, at most [`CONCURRENCY`] at a time),
//!   [`Warmer::warm_on_startup`], and one schedule per enabled scheduled strategy, on the system's
//!   background-task owner ([`crate::tasks`], stage `Periodic`). A strategy registered while the
//!   system runs starts its schedule at once.
//! - **A run** calls the strategy's fetch function, which resolves to the JSON text of
//!   `[{ key, value, options: { ttl, tags } }]`, and writes the entries with `mset` semantics
//!   (everything validated first, then one round trip). It ends in a [`WarmReport`]; a failure is in
//!   the report, never thrown by `warm_all`/`warm_on_startup`. One log line per run (`info`, or
//!   `warn` for a failure) and the warming counters of [`crate::metrics`].
//! - **Schedules** ([`schedule`]): one process per period, through a Redis claim with a lease.

mod schedule;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use schedule::{Claim, Schedule};

use crate::callbacks::CallContext;
use crate::error::{Error, ErrorKind, Result};
use crate::manager::CacheManager;
use crate::options::MsetItem;
use crate::patterns::LoadFuture;
use crate::tasks::Stage;

/// How many strategies `warm_all` runs at once.
pub const CONCURRENCY: usize = 4;

/// Longest a fetch function may take before its run is reported as failed.
pub const FETCH_LIMIT: Duration = Duration::from_secs(300);

/// A strategy's fetch function: resolves to the JSON text of `[{ key, value, options }]` (`None`
/// when it returned nothing, an error). The context is the caller's (a binding's event loop), or
/// the one set with [`Warmer::set_schedule_context`] for scheduled runs.
pub type FetchFn = Arc<dyn Fn(&CallContext) -> LoadFuture + Send + Sync>;

/// A registered strategy.
pub struct Strategy {
    /// Unique name.
    pub name: String,
    /// Higher runs first.
    pub priority: i64,
    /// Disabled strategies are not run by `warm_all`, on startup or on schedule.
    pub enabled: bool,
    /// When to run it again.
    pub schedule: Option<Schedule>,
    /// What it writes.
    pub fetch: FetchFn,
}

impl std::fmt::Debug for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strategy")
            .field("name", &self.name)
            .field("priority", &self.priority)
            .field("enabled", &self.enabled)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WarmReport {
    /// The strategy.
    pub name: String,
    /// Entries written.
    pub entries: u64,
    /// How long the run took, ms.
    pub duration_ms: f64,
    /// Why it failed (the fetch function's error, or a bad entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The process-wide registry of strategies. Cheap to clone (clones share it).
#[derive(Clone, Default)]
pub struct Strategies {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    map: BTreeMap<String, Arc<Strategy>>,
    warmers: Vec<Weak<State>>,
}

impl std::fmt::Debug for Strategies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strategies").field("names", &self.names()).finish()
    }
}

/// A priority as the bindings receive it (a JS number, a Python int): a whole number within ±2^53.
///
/// # Errors
/// `ERR_STRATACACHE_INVALID_ARGUMENT` naming the value.
pub fn priority_from_f64(p: f64) -> Result<i64> {
    if p.is_finite() && p.fract() == 0.0 && p.abs() <= 9_007_199_254_740_992.0 {
        Ok(p as i64)
    } else {
        Err(Error::invalid_argument(format!("priority must be a whole number, got {}", crate::options::fmt_number(p))))
    }
}

/// A strategy from what a binding received: the schedule's text is parsed here (a bad one is
/// refused at registration).
///
/// # Errors
/// A bad priority or schedule.
pub fn strategy_from_parts(name: String, priority: f64, enabled: bool, schedule: Option<&str>, fetch: FetchFn) -> Result<Strategy> {
    check_name(&name)?;
    let priority = priority_from_f64(priority)?;
    let schedule = schedule.map(Schedule::parse).transpose()?;
    Ok(Strategy { name, priority, enabled, schedule, fetch })
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "strategy name must be a non-empty string of at most 200 bytes without control characters, got {name:?}"
        )));
    }
    Ok(())
}

impl Strategies {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register `strategy`, replacing one of the same name. Running systems start its schedule now.
    ///
    /// # Errors
    /// A bad name.
    pub fn register(&self, strategy: Strategy) -> Result<()> {
        check_name(&strategy.name)?;
        let s = Arc::new(strategy);
        let warmers: Vec<Arc<State>> = {
            let mut r = self.lock();
            r.map.insert(s.name.clone(), s.clone());
            r.warmers.retain(|w| w.strong_count() > 0);
            r.warmers.iter().filter_map(Weak::upgrade).collect()
        };
        for w in warmers {
            w.schedule(&s);
        }
        Ok(())
    }

    /// Remove a strategy (and stop its schedules); whether it was registered.
    pub fn unregister(&self, name: &str) -> bool {
        let (found, warmers): (bool, Vec<Arc<State>>) = {
            let mut r = self.lock();
            (r.map.remove(name).is_some(), r.warmers.iter().filter_map(Weak::upgrade).collect())
        };
        for w in warmers {
            w.unschedule(name);
        }
        found
    }

    /// The strategy named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Strategy>> {
        self.lock().map.get(name).cloned()
    }

    /// Every strategy, higher priority first (then by name).
    pub fn all(&self) -> Vec<Arc<Strategy>> {
        let mut v: Vec<Arc<Strategy>> = self.lock().map.values().cloned().collect();
        v.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
        v
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().map.keys().cloned().collect()
    }

    fn watch(&self, w: &Arc<State>) {
        let mut r = self.lock();
        r.warmers.retain(|w| w.strong_count() > 0);
        r.warmers.push(Arc::downgrade(w));
    }
}

/// Stops one schedule.
#[derive(Default)]
struct Stop {
    stopped: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
}

struct State {
    manager: Arc<CacheManager>,
    strategies: Strategies,
    schedules: Mutex<HashMap<String, Arc<Stop>>>,
    context: Mutex<CallContext>,
    running: AtomicUsize,
    idle: Notify,
    closed: AtomicBool,
}

/// The warmer of one system (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Warmer {
    state: Arc<State>,
}

impl std::fmt::Debug for Warmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warmer").field("scheduled", &self.scheduled()).finish_non_exhaustive()
    }
}

/// One entry as a fetch function returns it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    key: String,
    value: Box<serde_json::value::RawValue>,
    #[serde(default)]
    options: Option<serde_json::Value>,
}

/// The entries of a fetch function's result, validated as `mset` items.
fn parse_entries(name: &str, text: Option<&str>) -> Result<Vec<MsetItem>> {
    let shape = "an array of { key, value, options: { ttl, tags } }";
    let text = text.ok_or_else(|| Error::invalid_argument(format!("the fetchFn of strategy {name:?} must return {shape}, got nothing")))?;
    let raw: Vec<RawEntry> = serde_json::from_str(text)
        .map_err(|e| Error::invalid_argument(format!("the fetchFn of strategy {name:?} must return {shape}: {e}")))?;
    raw.into_iter()
        .map(|e| {
            let opts = e.options.unwrap_or(serde_json::Value::Null);
            crate::dynopts::mset_item(e.key, e.value.get().to_owned(), opts).map_err(|err| {
                Error::new(err.kind(), format!("strategy {name:?}: {}", err.message()))
            })
        })
        .collect()
}

/// Counts a run in `running` while it lasts.
struct RunGuard<'a>(&'a State);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl State {
    /// Start (or restart) the schedule of `s` if it has one, is enabled and the warmer runs.
    fn schedule(self: &Arc<Self>, s: &Arc<Strategy>) {
        let stop = {
            let mut map = self.schedules.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = map.remove(&s.name) {
                old.stop();
            }
            if self.closed.load(Ordering::Acquire) || !s.enabled || s.schedule.is_none() {
                return;
            }
            let stop = Arc::new(Stop::default());
            map.insert(s.name.clone(), stop.clone());
            stop
        };
        let tasks = self.manager.tasks().clone();
        let started = tasks.spawn("warm schedule", Stage::Periodic, schedule_loop(self.clone(), s.clone(), stop));
        if !started {
            self.schedules.lock().unwrap_or_else(|p| p.into_inner()).remove(&s.name);
        }
    }

    fn unschedule(&self, name: &str) {
        if let Some(stop) = self.schedules.lock().unwrap_or_else(|p| p.into_inner()).remove(name) {
            stop.stop();
        }
    }

    async fn run(&self, s: &Strategy, ctx: &CallContext) -> WarmReport {
        self.run_after(s, ctx, None).await
    }

    /// [`State::run`] that sends on `called` once the fetch function has been called (its first
    /// poll: a binding queues the call to its event loop then), so runs started one after the other
    /// call their fetch functions in that order even when they run concurrently.
    async fn run_after(&self, s: &Strategy, ctx: &CallContext, called: Option<tokio::sync::oneshot::Sender<()>>) -> WarmReport {
        self.running.fetch_add(1, Ordering::AcqRel);
        let _guard = RunGuard(self);
        let started = Instant::now();
        let outcome: Result<u64> = async {
            let mut fetch = Box::pin(AssertUnwindSafe((s.fetch)(ctx)).catch_unwind());
            let first = futures::poll!(fetch.as_mut());
            if let Some(tx) = called {
                let _ = tx.send(());
            }
            let fetched = match first {
                std::task::Poll::Ready(r) => Ok(r),
                std::task::Poll::Pending => tokio::time::timeout(FETCH_LIMIT, fetch).await,
            };
            let text = match fetched {
                Ok(Ok(r)) => r?,
                Ok(Err(_)) => return Err(Error::new(ErrorKind::Callback, format!("the fetchFn of strategy {:?} panicked", s.name))),
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("the fetchFn of strategy {:?} did not finish within {} s", s.name, FETCH_LIMIT.as_secs()),
                    ))
                }
            };
            let items = parse_entries(&s.name, text.as_deref())?;
            self.manager.mset(&items).await?;
            Ok(items.len() as u64)
        }
        .await;
        let duration_ms = started.elapsed().as_secs_f64() * 1e3;
        let m = self.manager.metrics();
        match outcome {
            Ok(entries) => {
                m.inc(&m.warming_runs);
                m.add(&m.warming_entries, entries);
                tracing::info!("stratacache: warmed {:?}: {entries} entries in {duration_ms:.1} ms", s.name);
                WarmReport { name: s.name.clone(), entries, duration_ms, error: None }
            }
            Err(e) => {
                m.inc(&m.warming_failures);
                tracing::warn!("stratacache: warming {:?} failed after {duration_ms:.1} ms: {}", s.name, e.message());
                WarmReport { name: s.name.clone(), entries: 0, duration_ms, error: Some(e.message().to_owned()) }
            }
        }
    }
}

/// One scheduled strategy: wake at each period's start (plus jitter), claim the period, run.
async fn schedule_loop(state: Arc<State>, s: Arc<Strategy>, stop: Arc<Stop>) {
    let Some(sched) = s.schedule else { return };
    loop {
        let wait = sched.until_next(crate::clock::now_ms(), sched.jitter_ms());
        let woken = stop.notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if stop.stopped.load(Ordering::Acquire) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = woken => {}
        }
        if stop.stopped.load(Ordering::Acquire) || state.closed.load(Ordering::Acquire) {
            return;
        }
        let ctx = state.context.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(l2) = state.manager.l2() else {
            // No Redis: nothing to coordinate with; every process warms its own L1.
            state.run(&s, &ctx).await;
            continue;
        };
        let keys = state.manager.keys().warm(&s.name);
        let token = schedule::token();
        match schedule::claim(l2, &keys, &token, &sched).await {
            Ok(Claim::Won) => {
                let lease = sched.lease();
                let renew = async {
                    loop {
                        tokio::time::sleep(lease / 3).await;
                        schedule::hold(l2, &keys.0, &token, lease).await;
                    }
                };
                tokio::select! {
                    biased;
                    _ = state.run(&s, &ctx) => {}
                    _ = renew => {}
                }
                schedule::hold(l2, &keys.0, &token, Duration::ZERO).await;
            }
            Ok(_) => {
                let m = state.manager.metrics();
                m.inc(&m.warming_skipped);
            }
            Err(e) => tracing::debug!("stratacache: could not claim the warming period of {:?}: {e}", s.name),
        }
    }
}

impl Warmer {
    /// The warmer of the system `manager` belongs to, running the schedules of `strategies` now
    /// and of those registered later.
    pub(crate) fn new(manager: Arc<CacheManager>, strategies: Strategies) -> Warmer {
        let state = Arc::new(State {
            manager,
            strategies: strategies.clone(),
            schedules: Mutex::new(HashMap::new()),
            context: Mutex::new(None),
            running: AtomicUsize::new(0),
            idle: Notify::new(),
            closed: AtomicBool::new(false),
        });
        strategies.watch(&state);
        for s in strategies.all() {
            state.schedule(&s);
        }
        Warmer { state }
    }

    /// The registry this warmer runs.
    pub fn strategies(&self) -> &Strategies {
        &self.state.strategies
    }

    /// The context scheduled runs hand their fetch functions (a binding's event loop).
    pub fn set_schedule_context(&self, ctx: CallContext) {
        *self.state.context.lock().unwrap_or_else(|p| p.into_inner()) = ctx;
    }

    /// Run one strategy now (even a disabled one: it was asked for by name).
    ///
    /// # Errors
    /// `ERR_STRATACACHE_INVALID_ARGUMENT` when no strategy has that name. A failing run is not an
    /// error: its report says why.
    pub async fn warm_strategy(&self, name: &str, ctx: &CallContext) -> Result<WarmReport> {
        let s = self
            .state
            .strategies
            .get(name)
            .ok_or_else(|| Error::invalid_argument(format!("no warming strategy named {name:?} is registered")))?;
        Ok(self.state.run(&s, ctx).await)
    }

    /// Run every enabled strategy, higher priority first, at most [`CONCURRENCY`] at a time; one
    /// report per strategy, in that order.
    pub async fn warm_all(&self, ctx: &CallContext) -> Vec<WarmReport> {
        let list: Vec<Arc<Strategy>> = self.state.strategies.all().into_iter().filter(|s| s.enabled).collect();
        let state = &self.state;
        // Each run calls its fetch function only after the run before it has called its own, so the
        // calls happen in priority order; then they proceed concurrently.
        let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
        let runs = list.into_iter().map(|s| {
            let after = previous.take();
            let (tx, rx) = tokio::sync::oneshot::channel();
            previous = Some(rx);
            async move {
                if let Some(after) = after {
                    let _ = after.await;
                }
                state.run_after(&s, ctx, Some(tx)).await
            }
        });
        futures::stream::iter(runs.collect::<Vec<_>>()).buffered(CONCURRENCY).collect().await
    }

    /// What `warmCacheOnStartup()` does: [`Warmer::warm_all`].
    pub async fn warm_on_startup(&self, ctx: &CallContext) -> Vec<WarmReport> {
        self.warm_all(ctx).await
    }

    /// Stop every schedule running now (strategies stay registered; ones registered later start
    /// theirs).
    pub fn stop(&self) {
        let stops: Vec<Arc<Stop>> = self.state.schedules.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, s)| s).collect();
        for s in stops {
            s.stop();
        }
    }

    /// The strategies whose schedule runs in this system, sorted.
    pub fn scheduled(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state.schedules.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        v.sort();
        v
    }

    /// Stop every schedule and wait (at most `limit`) for the runs in progress to end.
    pub(crate) async fn close(&self, limit: Duration) {
        self.state.closed.store(true, Ordering::Release);
        self.stop();
        let deadline = tokio::time::Instant::now() + limit;
        while self.state.running.load(Ordering::Acquire) > 0 {
            let idle = self.state.idle.notified();
            if self.state.running.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                tracing::warn!("stratacache: a warm-up was still running at shutdown after {limit:?}; it is stopped");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_exact_json_and_options() {
        let items = parse_entries("s", Some(r#"[{"key":"a","value":{"x":1.50},"options":{"ttl":60,"tags":["t"]}},{"key":"b","value":2}]"#)).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].key.as_str(), items[0].json.as_str()), ("a", r#"{"x":1.50}"#));
        assert_eq!(items[0].ttl, Some(Duration::from_secs(60)));
        assert_eq!(items[0].tags, vec!["t".to_string()]);
        assert_eq!((items[1].ttl, items[1].tags.len()), (None, 0));
    }

    #[test]
    fn bad_results_name_the_strategy() {
        for (text, want) in [
            (None, "got nothing"),
            (Some("{}"), "must return an array"),
            (Some(r#"[{"key":"a"}]"#), "missing field `value`"),
            (Some(r#"[{"key":"a","value":1,"options":{"ttl":-1}}]"#), "ttl"),
            (Some(r#"[{"key":"a","value":1,"extra":1}]"#), "unknown field `extra`"),
        ] {
            let e = parse_entries("products", text).unwrap_err();
            assert!(e.message().contains("\"products\"") && e.message().contains(want), "{text:?}: {e}");
        }
    }
}
