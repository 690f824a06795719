//! [`StrataCache`]: the one handle that owns every component, and its builder.

use std::sync::Arc;
use std::time::Duration;

use crate::bus::{Bus, SubscriberContext};
use crate::invalidator::{CacheInvalidator, DomainInvalidator, DomainRules};
use crate::ratelimit::RateLimiter;
use crate::session::SessionManager;
use crate::config::{CacheConfig, CacheOptions, RedisConfig, RedisOptions};
use crate::error::Result;
use crate::key::KeySchema;
use crate::l1::L1;
use crate::l2::L2;
use crate::manager::CacheManager;
use crate::metrics::{Metrics, MetricsSwitch};
use crate::patterns::{CacheAside, Loaders, Patterns, ReadThrough, WriteBehind, WriteBehindOptions, WriteThrough};
use crate::tasks::Tasks;
use crate::warming::{Strategies, Warmer};

/// The user callbacks a system looks up by name: read-through loaders and domain rules. Cheap to
/// clone (clones share them). A system gets fresh ones unless given these: the bindings keep one per
/// process, so that what a user registered outlives `shutdownCacheSystem()` and re-initialization.
#[derive(Clone, Default)]
pub struct Registries {
    loaders: Loaders,
    domain_rules: DomainRules,
    metrics: MetricsSwitch,
    strategies: Strategies,
}

impl Registries {
    /// The read-through loaders.
    pub fn loaders(&self) -> &Loaders {
        &self.loaders
    }

    /// The domain rules.
    pub fn domain_rules(&self) -> &DomainRules {
        &self.domain_rules
    }

    /// The warming strategies.
    pub fn strategies(&self) -> &Strategies {
        &self.strategies
    }

    /// Whether the systems made with these record metrics (`skipMetrics: true` turns it off).
    pub fn metrics_switch(&self) -> &MetricsSwitch {
        &self.metrics
    }
}

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registries").finish_non_exhaustive()
    }
}

/// Builds a [`StrataCache`]. Every setting is optional: unset ones come from the environment, then
/// the documented defaults (see [`crate::config`]).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct StrataCacheBuilder {
    redis: RedisOptions,
    cache: CacheOptions,
    skip_metrics: bool,
}

impl StrataCacheBuilder {
    /// Redis URL (`redis://user:pass@host:port/db`).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis.url = Some(url.into());
        self
    }

    /// Key namespace shared by cooperating processes.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.redis.namespace = Some(ns.into());
        self
    }

    /// Every Redis option at once.
    pub fn redis(mut self, opts: RedisOptions) -> Self {
        self.redis = opts;
        self
    }

    /// Every cache option at once.
    pub fn cache(mut self, opts: CacheOptions) -> Self {
        self.cache = opts;
        self
    }

    /// L1 capacity in entries.
    pub fn l1_max_size(mut self, n: u64) -> Self {
        self.cache.l1_max_size = Some(n);
        self
    }

    /// Default TTL.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.cache.default_ttl = Some(ttl);
        self
    }

    /// Record metrics (default `true`); `false` is the bindings' `skipMetrics: true`.
    pub fn metrics(mut self, on: bool) -> Self {
        self.skip_metrics = !on;
        self
    }

    /// Per-command timeout.
    pub fn command_timeout(mut self, t: Duration) -> Self {
        self.redis.command_timeout = Some(t);
        self
    }

    /// Resolve the configuration and build. Opens no connection: the first Redis command connects.
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// `ERR_STRATACACHE_CONFIG` when the configuration is invalid.
    pub async fn build(self) -> Result<StrataCache> {
        let redis = self.redis.resolve()?;
        let cache = self.cache.resolve()?;
        let registries = Registries::default();
        registries.metrics_switch().set(!self.skip_metrics);
        StrataCache::start(redis, cache, registries).await
    }
}

struct Inner {
    redis: RedisConfig,
    manager: Arc<CacheManager>,
    patterns: Patterns,
    invalidator: CacheInvalidator,
    domains: DomainInvalidator,
    sessions: SessionManager,
    rate_limiter: RateLimiter,
    warmer: Warmer,
}

/// The stratacache system: one handle, cheap to clone, owning every component.
#[derive(Clone)]
pub struct StrataCache {
    inner: Arc<Inner>,
}

impl StrataCache {
    /// A builder with nothing set.
    pub fn builder() -> StrataCacheBuilder {
        StrataCacheBuilder::default()
    }

    /// How long [`StrataCache::start`] waits for the invalidation bus's first subscription.
    pub fn start_wait(redis: &RedisConfig) -> Duration {
        redis.connect_timeout.min(Duration::from_millis(500))
    }

    /// Build from resolved configuration and wait (at most [`StrataCache::start_wait`]) until the
    /// invalidation bus has subscribed, or failed to: L1 is cleared when the first subscription is
    /// made (entries filled before it may have missed invalidations), so a system that is used right
    /// away should not fill L1 before that. The data connection stays lazy.
    pub async fn start(redis: RedisConfig, cache: CacheConfig, registries: Registries) -> Result<Self> {
        let wait = Self::start_wait(&redis);
        let s = Self::from_config(redis, cache, registries)?;
        s.manager().bus().wait_settled(wait).await;
        Ok(s)
    }

    /// [`StrataCache::start`] from a thread outside the runtime `rt` (a binding whose entry point is
    /// synchronous): builds inside `rt`'s context and blocks this thread for the bounded wait.
    pub fn start_blocking(redis: RedisConfig, cache: CacheConfig, registries: Registries, rt: &tokio::runtime::Handle) -> Result<Self> {
        let s = {
            let _inside = rt.enter();
            Self::from_config(redis.clone(), cache, registries)?
        };
        rt.block_on(s.manager().bus().wait_settled(Self::start_wait(&redis)));
        Ok(s)
    }

    /// Build from resolved configuration (the bindings resolve it themselves). Needs a tokio
    /// runtime context; opens no connection. See [`StrataCache::start`].
    pub fn from_config(redis: RedisConfig, cache: CacheConfig, registries: Registries) -> Result<Self> {
        let keys = KeySchema::for_topology(&redis.namespace, redis.topology.is_cluster());
        let metrics = Arc::new(Metrics::new(registries.metrics.clone()));
        let l1 = Arc::new(L1::with_limits(cache.enable_l1, cache.l1_max_size, cache.l1_max_bytes, cache.bus_stale));
        let l2 = if cache.enable_l2 {
            let l1_for_recovery = l1.clone();
            Some(Arc::new(L2::new(&redis, &cache, metrics.clone(), Box::new(move || l1_for_recovery.clear()))?))
        } else {
            None
        };
        let tasks = Arc::new(Tasks::new());
        let bus = Arc::new(Bus::new(&redis.namespace));
        if let (Some(l2), true) = (&l2, cache.enable_l1) {
            let ctx = SubscriberContext {
                url: redis.url.clone(),
                keys: keys.clone(),
                l1: l1.clone(),
                l2: l2.clone(),
                connect_timeout: redis.connect_timeout,
            };
            bus.start(ctx, &tasks);
        }
        let manager = Arc::new(CacheManager::new(cache, keys, l1, l2, bus, tasks, metrics));
        let patterns = Patterns::new(manager.clone(), registries.loaders);
        let invalidator = CacheInvalidator::new(manager.clone());
        let domains = DomainInvalidator::new(invalidator.clone(), registries.domain_rules);
        let sessions = SessionManager::new(manager.clone());
        let rate_limiter = RateLimiter::new(manager.clone());
        let warmer = Warmer::new(manager.clone(), registries.strategies);
        Ok(StrataCache { inner: Arc::new(Inner { redis, manager, patterns, invalidator, domains, sessions, rate_limiter, warmer }) })
    }

    /// The cache manager.
    pub fn manager(&self) -> &CacheManager {
        &self.inner.manager
    }

    /// The cache manager, shared (for components that outlive a borrow).
    pub fn manager_arc(&self) -> Arc<CacheManager> {
        self.inner.manager.clone()
    }

    /// Invalidation by keys, tags and patterns in every process, with listeners.
    pub fn invalidator(&self) -> &CacheInvalidator {
        &self.inner.invalidator
    }

    /// Sessions.
    pub fn sessions(&self) -> &SessionManager {
        &self.inner.sessions
    }

    /// The rate limiter (five algorithms, one atomic Redis decision each).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.rate_limiter
    }

    /// Cache warming: strategies, startup warming, schedules.
    pub fn warmer(&self) -> &Warmer {
        &self.inner.warmer
    }

    /// Domain invalidation rules (`invalidateTicket` & co.).
    pub fn domains(&self) -> &DomainInvalidator {
        &self.inner.domains
    }

    /// Cache-aside and refresh-ahead.
    pub fn cache_aside(&self) -> &CacheAside {
        &self.inner.patterns.cache_aside
    }

    /// Write-through.
    pub fn write_through(&self) -> &WriteThrough {
        &self.inner.patterns.write_through
    }

    /// Read-through (loaders registered by key pattern).
    pub fn read_through(&self) -> &ReadThrough {
        &self.inner.patterns.read_through
    }

    /// The default write-behind instance (`writeBehind`).
    pub fn write_behind(&self) -> &WriteBehind {
        &self.inner.patterns.write_behind
    }

    /// A new write-behind instance with its own queue and flusher; flushed by [`StrataCache::close`].
    pub fn new_write_behind(&self, opts: WriteBehindOptions) -> WriteBehind {
        self.inner.patterns.new_write_behind(opts)
    }

    /// The resolved Redis configuration (the URL includes the password; use
    /// [`crate::l2::redact`] before printing it).
    pub fn redis_config(&self) -> &RedisConfig {
        &self.inner.redis
    }

    /// Check that Redis answers `PING`. Degraded mode is not an error elsewhere; this says which.
    pub async fn ping(&self) -> Result<()> {
        match self.manager().l2() {
            Some(l2) => {
                l2.command(redis::cmd("PING")).await?;
                // Ready means invalidations reach this process: wait briefly for the bus.
                if self.manager().config().enable_l1 {
                    self.manager().bus().wait_connected(std::time::Duration::from_secs(2)).await;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Shut down, in this order: flush every write-behind queue; stop the warm schedules and wait (at
    /// most 5 s) for warm-ups in progress; stop every background task
    /// ([`crate::tasks`]: refreshes, then flushers, then the bus subscriber) and wait for them (at most
    /// 2 s per stage); then make every later call fail with `ERR_STRATACACHE_CLOSED`. Idempotent.
    pub async fn close(&self) {
        self.inner.patterns.close().await;
        self.inner.warmer.close(Duration::from_secs(5)).await;
        self.manager().bus().stop();
        self.manager().tasks().shutdown(Duration::from_secs(2)).await;
        self.manager().close();
    }

    /// Flush every write-behind queue now, without stopping them (the bindings do this when a
    /// process is about to exit without a shutdown); returns how many writes were made.
    pub async fn flush_write_behind(&self) -> usize {
        self.inner.patterns.flush_write_behind().await
    }

    /// Every write-behind instance's counters, summed (for the metrics report).
    pub fn write_behind_totals(&self) -> crate::patterns::WriteBehindStats {
        self.inner.patterns.write_behind_totals()
    }

    /// The background tasks running now (by name), for tests and health checks.
    pub fn background_tasks(&self) -> Vec<&'static str> {
        self.manager().tasks().running()
    }
}
