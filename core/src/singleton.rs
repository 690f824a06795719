//! The rules of the process-wide system behind the bindings' module-level API (`getCacheManager`,
//! `cacheAside`, `initializeCacheSystem`, `shutdownCacheSystem`, and their snake_case twins), kept once
//! here so that both front doors follow them alike:
//!
//! - options are set before first use; setting *other* options while the system runs is refused
//!   (`ERR_STRATACACHE_CONFIG`), setting the same ones again is fine; a bad option is named even then;
//! - the system is created lazily, from the options set so far;
//! - after shutdown every call fails with `ERR_STRATACACHE_CLOSED` until the system is opened again
//!   (`createRedisClient` / `initializeCacheSystem`);
//! - read-through loaders and domain rules belong to the process, not to one system: they outlive a
//!   shutdown and are there again after re-initialization ([`Registries`]).
//!
//! A binding keeps one `Singleton` in a static and its own object for the running system (a JS
//! object, a Python object); it asks this type what is allowed and with which configuration to start.

use std::sync::Mutex;

use serde_json::Value;

use crate::config::{CacheConfig, RedisConfig};
use crate::dynopts;
use crate::error::{Error, ErrorKind, Result};
use crate::handle::Registries;

/// Which options [`Singleton::configure`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Options {
    /// The Redis connection (`createRedisClient`, `initializeCacheSystem({ redis })`).
    Redis,
    /// The cache (`getCacheManager(options)`, `initializeCacheSystem({ cache })`).
    Cache,
}

impl Options {
    fn name(self) -> &'static str {
        match self {
            Options::Redis => "redis",
            Options::Cache => "cache",
        }
    }
}

/// How a binding spells its entry points, for the messages of refused calls.
#[derive(Debug, Clone, Copy)]
pub struct EntryNames {
    /// e.g. `initializeCacheSystem()`.
    pub initialize: &'static str,
    /// e.g. `shutdownCacheSystem()`.
    pub shutdown: &'static str,
}

#[derive(Debug, Default)]
struct State {
    redis: Option<Value>,
    cache: Option<Value>,
    /// A system exists or is being created.
    running: bool,
    /// Shut down, and not opened again since.
    closed: bool,
}

/// The process-wide system's rules and registries (one per binding, in a static).
pub struct Singleton {
    names: EntryNames,
    state: Mutex<State>,
    registries: Registries,
}

impl std::fmt::Debug for Singleton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Singleton").field("state", &*self.lock()).finish_non_exhaustive()
    }
}

/// `None` and `{}` both mean "nothing set".
fn normalized(options: Option<Value>) -> Option<Value> {
    match options {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        other => other,
    }
}

impl Singleton {
    /// Nothing configured, nothing running.
    pub fn new(names: EntryNames) -> Self {
        Singleton { names, state: Mutex::new(State::default()), registries: Registries::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loaders and rules every system of this process uses.
    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    /// Set the `kind` options (loosely typed, as the binding received them).
    ///
    /// # Errors
    /// A bad option (named, even while running); other options than the running system's.
    pub fn configure(&self, kind: Options, options: Option<Value>) -> Result<()> {
        let options = normalized(options);
        let given = options.clone().unwrap_or(Value::Null);
        match kind {
            Options::Redis => dynopts::redis_options(given)?.resolve().map(drop)?,
            Options::Cache => dynopts::cache_options(given)?.resolve().map(drop)?,
        }
        let mut s = self.lock();
        let slot = match kind {
            Options::Redis => &mut s.redis,
            Options::Cache => &mut s.cache,
        };
        if *slot == options {
            return Ok(());
        }
        if s.running {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the cache system is already running with other {} options; configure it before first use, or call {} first",
                    kind.name(),
                    self.names.shutdown
                ),
            ));
        }
        let slot = match kind {
            Options::Redis => &mut s.redis,
            Options::Cache => &mut s.cache,
        };
        *slot = options;
        Ok(())
    }

    /// Allow the system to be created again after a shutdown (`createRedisClient`,
    /// `initializeCacheSystem`).
    pub fn reopen(&self) {
        self.lock().closed = false;
    }

    /// The resolved configuration to create the system with now (explicit options, then the
    /// environment, then the defaults); from now on other options are refused.
    ///
    /// # Errors
    /// `ERR_STRATACACHE_CLOSED` after a shutdown; a configuration error from the environment.
    pub fn begin_start(&self) -> Result<(RedisConfig, CacheConfig)> {
        let mut s = self.lock();
        if s.closed {
            return Err(Error::new(
                ErrorKind::Closed,
                format!("the cache system has been shut down; call {} to start it again", self.names.initialize),
            ));
        }
        let redis = dynopts::redis_options(s.redis.clone().unwrap_or(Value::Null))?.resolve()?;
        let cache = dynopts::cache_options(s.cache.clone().unwrap_or(Value::Null))?.resolve()?;
        s.running = true;
        Ok((redis, cache))
    }

    /// Creating the system failed: options may change again.
    pub fn start_failed(&self) {
        self.lock().running = false;
    }

    /// The system is being shut down: calls fail with `ERR_STRATACACHE_CLOSED` until
    /// [`Singleton::reopen`]. The options and registries stay.
    pub fn shut_down(&self) {
        let mut s = self.lock();
        s.running = false;
        s.closed = true;
    }

    /// In a child process after `fork()`: the parent's system is not this process's; the child
    /// creates its own on first use.
    pub fn forget_after_fork(&self) {
        self.lock().running = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAMES: EntryNames = EntryNames { initialize: "init()", shutdown: "shutdown()" };

    #[test]
    fn other_options_are_refused_while_running_the_same_ones_are_fine() {
        let s = Singleton::new(NAMES);
        s.configure(Options::Redis, Some(json!({"url": "redis://127.0.0.1:1", "namespace": "a"}))).unwrap();
        s.begin_start().unwrap();
        // The same options (key order does not matter) are accepted again.
        s.configure(Options::Redis, Some(json!({"namespace": "a", "url": "redis://127.0.0.1:1"}))).unwrap();
        let e = s.configure(Options::Redis, Some(json!({"url": "redis://127.0.0.1:2"}))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("other redis options") && e.message().contains("shutdown()"), "{e}");
        // Nothing set and `{}` are the same.
        s.configure(Options::Cache, Some(json!({}))).unwrap();
        s.configure(Options::Cache, None).unwrap();
        // A bad option is named even while running.
        let e = s.configure(Options::Cache, Some(json!({"l1MaxSize": -1}))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.message().contains("l1MaxSize"), "{e}");
    }

    #[test]
    fn closed_after_shutdown_until_reopened_and_failed_starts_free_the_options() {
        let s = Singleton::new(NAMES);
        s.begin_start().unwrap();
        s.shut_down();
        let e = s.begin_start().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Closed);
        assert!(e.message().contains("init()"), "{e}");
        // Shut down, options may change; then open again.
        s.configure(Options::Cache, Some(json!({"defaultTTL": 5}))).unwrap();
        s.reopen();
        let (_, cache) = s.begin_start().unwrap();
        assert_eq!(cache.default_ttl, std::time::Duration::from_secs(5));
        s.start_failed();
        s.configure(Options::Cache, Some(json!({"defaultTTL": 6}))).unwrap();
        s.begin_start().unwrap();
        s.forget_after_fork();
        s.configure(Options::Cache, Some(json!({"defaultTTL": 7}))).unwrap();
    }
}
