//! Configuration: explicit options, then environment variables, then defaults.
//!
//! [`RedisOptions`] and [`CacheOptions`] hold what the caller said (every field optional);
//! [`RedisOptions::resolve`] and [`CacheOptions::resolve`] fill the gaps from the environment
//! (`REDIS_URL`, `REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`, `REDIS_DB`, `REDIS_CLUSTER_NODES`,
//! `REDIS_SENTINEL_MASTER` + `REDIS_SENTINELS`, `STRATACACHE_NAMESPACE`, `STRATACACHE_L1_MAX_SIZE`,
//! `STRATACACHE_DEFAULT_TTL`) and then from the documented defaults. Explicit `host`/`port` beat
//! `REDIS_URL`; any explicit choice of server (`url`, `host`, `port`, `cluster`, `sentinel`) beats the
//! topology variables.

use std::time::Duration;

use crate::error::{Error, Result};

mod topology;

pub use topology::{SentinelOptions, Topology};
use topology::Choice;

/// Default Redis URL when nothing is configured.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default namespace (`STRATACACHE_NAMESPACE`).
pub const DEFAULT_NAMESPACE: &str = "sc";
/// Default L1 capacity in entries.
pub const DEFAULT_L1_MAX_SIZE: u64 = 10_000;
/// Default budget of one batch read (`mget`, a batch of gets): 64 MiB of decoded values.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Default L1 capacity in bytes of what it holds (keys, JSON texts, tags): 256 MiB.
pub const DEFAULT_L1_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default TTL (600 s).
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Default compression threshold in bytes.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;
/// Default maximum size of one value (encoded JSON, before compression): 16 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// Default maximum key length in bytes of UTF-8.
pub const DEFAULT_MAX_KEY_BYTES: usize = 1024;

/// A source of environment variables; [`std::env::var`] in production, a map in tests.
pub trait EnvSource {
    /// The value of `name`, if set and non-empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> EnvSource for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// How to reach Redis, as the caller said it. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RedisOptions {
    /// A full URL (`redis://user:pass@host:port/db`). Overridden field by field by `host`, `port`…
    pub url: Option<String>,
    /// Host name or address.
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// ACL user name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Database number.
    pub db: Option<i64>,
    /// Redis Cluster mode (`nodes` are its seeds; without them, `url`/`host`/`port` is the one seed).
    pub cluster: Option<bool>,
    /// Cluster seed nodes, `host:port` each (only with `cluster`).
    pub nodes: Option<Vec<String>>,
    /// A Sentinel-managed primary: its name and the Sentinels to ask.
    pub sentinel: Option<SentinelOptions>,
    /// TLS (not yet supported: refused with a config error when true).
    pub tls: Option<bool>,
    /// Timeout for establishing a connection (default 2 s).
    pub connect_timeout: Option<Duration>,
    /// Timeout for each command (default 1 s).
    pub command_timeout: Option<Duration>,
    /// Key namespace shared by cooperating processes (default `sc`).
    pub namespace: Option<String>,
}

/// Resolved Redis settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// `redis://` URL to connect to (password included). Under Cluster, the first seed; under
    /// Sentinel, only the credentials and db in it are used.
    pub url: String,
    /// Standalone, Cluster or Sentinel.
    pub topology: Topology,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Per-command response timeout.
    pub command_timeout: Duration,
    /// Namespace prefix of every key.
    pub namespace: String,
}

impl RedisOptions {
    /// Resolve against the process environment.
    pub fn resolve(&self) -> Result<RedisConfig> {
        self.resolve_with(&ProcessEnv)
    }

    /// Resolve against `env`: explicit > environment > defaults.
    pub fn resolve_with(&self, env: &dyn EnvSource) -> Result<RedisConfig> {
        let choice = self.topology_choice(env)?;
        if self.tls == Some(true) {
            return Err(Error::config("tls is not supported yet: got tls=true"));
        }
        let explicit_parts = self.host.is_some() || self.port.is_some();
        let env_url = env.get("REDIS_URL").filter(|_| !explicit_parts);
        let mut parts = match (&self.url, env_url) {
            (Some(u), _) => UrlParts::parse(u)?,
            (None, Some(u)) => UrlParts::parse(&u)?,
            (None, None) => {
                // No URL at all: the default, with the REDIS_* parts over it.
                let mut parts = UrlParts::parse(DEFAULT_REDIS_URL)?;
                if let Some(h) = env.get("REDIS_HOST") {
                    parts.host = h;
                }
                if let Some(p) = env.get("REDIS_PORT") {
                    parts.port = p.parse().map_err(|_| {
                        Error::config(format!("REDIS_PORT must be a port number, got {p:?}"))
                    })?;
                }
                if let Some(p) = env.get("REDIS_PASSWORD") {
                    parts.password = Some(p);
                }
                if let Some(db) = env.get("REDIS_DB") {
                    parts.db = db.parse().map_err(|_| {
                        Error::config(format!("REDIS_DB must be a database number, got {db:?}"))
                    })?;
                }
                parts
            }
        };
        if let Some(h) = &self.host {
            if h.is_empty() {
                return Err(Error::config("host must be a non-empty string, got \"\""));
            }
            parts.host = h.clone();
        }
        if let Some(p) = self.port {
            if p == 0 {
                return Err(Error::config("port must be 1..65535, got 0"));
            }
            parts.port = p;
        }
        if let Some(u) = &self.username {
            parts.username = Some(u.clone());
        }
        if let Some(p) = &self.password {
            parts.password = Some(p.clone());
        }
        if let Some(db) = self.db {
            if db < 0 {
                return Err(Error::config(format!("db must be >= 0, got {db}")));
            }
            parts.db = db;
        }
        let namespace = match &self.namespace {
            Some(n) => n.clone(),
            None => env.get("STRATACACHE_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
        };
        validate_namespace(&namespace)?;
        let connect_timeout = positive_duration("connectTimeoutMs", self.connect_timeout, 2000)?;
        let command_timeout = positive_duration("commandTimeoutMs", self.command_timeout, 1000)?;
        let topology = match choice {
            Choice::Standalone => Topology::Standalone,
            Choice::Cluster(seeds) => {
                if parts.db != 0 {
                    return Err(Error::config(format!("Redis Cluster has only db 0, got db {}", parts.db)));
                }
                let seeds = if seeds.is_empty() { vec![format!("{}:{}", parts.host, parts.port)] } else { seeds };
                let nodes = seeds.iter().map(|n| parts.url_at(n)).collect::<Result<Vec<_>>>()?;
                // The first seed stands for the cluster wherever one URL is shown (health checks, logs).
                parts = UrlParts::parse(&nodes[0])?;
                Topology::Cluster { nodes }
            }
            Choice::Sentinel(o) => {
                let bare = UrlParts { host: String::new(), port: 0, username: None, password: None, db: 0 };
                let sentinels = o.nodes.iter().map(|n| bare.url_at(n)).collect::<Result<Vec<_>>>()?;
                Topology::Sentinel { master_name: o.master_name, sentinels }
            }
        };
        Ok(RedisConfig { url: parts.to_url(), topology, connect_timeout, command_timeout, namespace })
    }

}

fn positive_duration(name: &str, d: Option<Duration>, default_ms: u64) -> Result<Duration> {
    match d {
        None => Ok(Duration::from_millis(default_ms)),
        Some(d) if d.is_zero() => Err(Error::config(format!("{name} must be > 0, got 0"))),
        Some(d) => Ok(d),
    }
}

fn validate_namespace(ns: &str) -> Result<()> {
    if ns.is_empty() || ns.len() > 128 || ns.chars().any(|c| c.is_whitespace() || c == '{' || c == '}') {
        return Err(Error::config(format!(
            "namespace must be 1..128 bytes without whitespace or braces, got {ns:?}"
        )));
    }
    Ok(())
}

/// The parts of a `redis://` URL that configuration may override one by one.
#[derive(Debug, Clone, PartialEq)]
struct UrlParts {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

impl UrlParts {
    fn parse(url: &str) -> Result<UrlParts> {
        if url.starts_with("rediss://") {
            return Err(Error::config(format!("TLS (rediss://) is not supported yet, got {url:?}")));
        }
        let rest = url.strip_prefix("redis://").ok_or_else(|| {
            Error::config(format!("REDIS_URL must start with redis://, got {url:?}"))
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.find(':') {
                Some(i) => (non_empty(&ui[..i]), Some(percent_decode(&ui[i + 1..]))),
                None => (non_empty(ui), None),
            },
        };
        let (host, port) = match hostport.rfind(':') {
            Some(i) if !hostport.ends_with(']') => {
                let p = &hostport[i + 1..];
                let port = p
                    .parse()
                    .map_err(|_| Error::config(format!("bad port {p:?} in Redis URL {url:?}")))?;
                (&hostport[..i], port)
            }
            _ => (hostport, 6379),
        };
        let host = if host.is_empty() { "127.0.0.1" } else { host };
        let db = if path.is_empty() {
            0
        } else {
            path.parse().map_err(|_| Error::config(format!("bad db {path:?} in Redis URL {url:?}")))?
        };
        Ok(UrlParts { host: host.into(), port, username, password, db })
    }

    /// The URL of node `addr` (`host:port`, or a `redis://` URL) with these credentials.
    fn url_at(&self, addr: &str) -> Result<String> {
        let bad = || Error::config(format!("a node must be host:port, got {addr:?}"));
        let (host, port) = if addr.starts_with("redis://") {
            let p = UrlParts::parse(addr)?;
            (p.host, p.port)
        } else {
            let (h, p) = addr.rsplit_once(':').ok_or_else(bad)?;
            let port: u16 = p.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
            if h.is_empty() {
                return Err(bad());
            }
            (h.to_owned(), port)
        };
        Ok(UrlParts { host, port, ..self.clone() }.to_url())
    }

    fn to_url(&self) -> String {
        let auth = match (&self.username, &self.password) {
            (None, None) => String::new(),
            (Some(u), None) => format!("{}@", percent_encode(u)),
            (u, Some(p)) => {
                format!("{}:{}@", percent_encode(u.as_deref().unwrap_or("")), percent_encode(p))
            }
        };
        format!("redis://{auth}{}:{}/{}", self.host, self.port, self.db)
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| percent_decode(s))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Cache-manager settings as the caller said them. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CacheOptions {
    /// L1 capacity in entries (default 10,000; env `STRATACACHE_L1_MAX_SIZE`).
    pub l1_max_size: Option<u64>,
    /// L1 capacity in bytes of keys, JSON texts and tags (default 256 MiB). Both bounds hold: see
    /// `docs/limits.md`.
    pub l1_max_bytes: Option<u64>,
    /// TTL used when a call gives none (default 600 s; env `STRATACACHE_DEFAULT_TTL` in seconds).
    pub default_ttl: Option<Duration>,
    /// Keep an in-process L1 (default true).
    pub enable_l1: Option<bool>,
    /// Use Redis as L2 (default true).
    pub enable_l2: Option<bool>,
    /// Compress values larger than this many bytes when `compress` is asked (default 1,024).
    pub compression_threshold: Option<usize>,
    /// Largest value accepted, and largest decompressed size read back (default 16 MiB).
    pub max_value_bytes: Option<usize>,
    /// Largest key in bytes of UTF-8 (default 1,024).
    pub max_key_bytes: Option<usize>,
    /// Most bytes of values one batch read decodes (default 64 MiB, and never below
    /// `max_value_bytes`); entries past it read as misses (see `docs/limits.md`).
    pub max_batch_bytes: Option<usize>,
    /// Consecutive Redis failures that open the circuit breaker (default 3).
    pub breaker_threshold: Option<u32>,
    /// How long the breaker stays open before one probe is let through (default 1 s).
    pub breaker_cooldown: Option<Duration>,
    /// How long L1 keeps serving after the invalidation bus was found down (default 2.5 s, at most
    /// 60 s; 0 bypasses L1 at once). Add the bus's detection time (at most 2 s) for the staleness bound.
    pub bus_stale: Option<Duration>,
    /// Default TTL jitter: a random 0…`ttl_jitter` added to the TTL of what is stored, so keys written
    /// together do not all expire together (contract §9; default 0, at most a day).
    pub ttl_jitter: Option<Duration>,
}

/// Resolved cache-manager settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// L1 capacity in entries.
    pub l1_max_size: u64,
    /// L1 capacity in bytes.
    pub l1_max_bytes: u64,
    /// Default TTL.
    pub default_ttl: Duration,
    /// L1 on.
    pub enable_l1: bool,
    /// L2 on.
    pub enable_l2: bool,
    /// Default compression threshold in bytes.
    pub compression_threshold: usize,
    /// Largest value in bytes.
    pub max_value_bytes: usize,
    /// Largest key in bytes.
    pub max_key_bytes: usize,
    /// Most bytes of values one batch read decodes (at least `max_value_bytes`).
    pub max_batch_bytes: usize,
    /// Breaker threshold (consecutive failures).
    pub breaker_threshold: u32,
    /// Breaker cooldown.
    pub breaker_cooldown: Duration,
    /// How long an untrusted L1 still serves (see [`CacheOptions::bus_stale`]).
    pub bus_stale: Duration,
    /// Default TTL jitter (see [`CacheOptions::ttl_jitter`]).
    pub ttl_jitter: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            l1_max_size: DEFAULT_L1_MAX_SIZE,
            l1_max_bytes: DEFAULT_L1_MAX_BYTES,
            default_ttl: DEFAULT_TTL,
            enable_l1: true,
            enable_l2: true,
            compression_threshold: DEFAULT_COMPRESSION_THRESHOLD,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_key_bytes: DEFAULT_MAX_KEY_BYTES,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(1),
            bus_stale: crate::l1::UNTRUSTED_SERVE,
            ttl_jitter: Duration::ZERO,
        }
    }
}

impl CacheOptions {
    /// Resolve against the process environment.
    pub fn resolve(&self) -> Result<CacheConfig> {
        self.resolve_with(&ProcessEnv)
    }

    /// Resolve against `env`: explicit > environment > defaults.
    pub fn resolve_with(&self, env: &dyn EnvSource) -> Result<CacheConfig> {
        let d = CacheConfig::default();
        let l1_max_size = match self.l1_max_size {
            Some(n) => n,
            None => match env.get("STRATACACHE_L1_MAX_SIZE") {
                Some(s) => s.parse().map_err(|_| {
                    Error::config(format!(
                        "STRATACACHE_L1_MAX_SIZE must be a whole number, got {s:?}"
                    ))
                })?,
                None => d.l1_max_size,
            },
        };
        let default_ttl = match self.default_ttl {
            Some(t) => t,
            None => match env.get("STRATACACHE_DEFAULT_TTL") {
                Some(s) => match s.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 => Duration::from_secs_f64(v),
                    _ => {
                        return Err(Error::config(format!(
                            "STRATACACHE_DEFAULT_TTL must be seconds > 0, got {s:?}"
                        )))
                    }
                },
                None => d.default_ttl,
            },
        };
        if default_ttl.is_zero() {
            return Err(Error::config("defaultTTL must be > 0, got 0"));
        }
        let max_value_bytes = self.max_value_bytes.unwrap_or(d.max_value_bytes);
        if max_value_bytes == 0 {
            return Err(Error::config("maxValueBytes must be > 0, got 0"));
        }
        let max_key_bytes = self.max_key_bytes.unwrap_or(d.max_key_bytes);
        if max_key_bytes == 0 || max_key_bytes > 65_536 {
            return Err(Error::config(format!("maxKeyBytes must be 1..65536, got {max_key_bytes}")));
        }
        let breaker_threshold = self.breaker_threshold.unwrap_or(d.breaker_threshold).max(1);
        let bus_stale = self.bus_stale.unwrap_or(d.bus_stale);
        if bus_stale > Duration::from_secs(60) {
            return Err(Error::config(format!("busStaleMs must be at most 60000, got {}", bus_stale.as_millis())));
        }
        let ttl_jitter = self.ttl_jitter.unwrap_or(d.ttl_jitter);
        crate::options::check_ttl_jitter(ttl_jitter).map_err(|e| Error::config(e.message().to_owned()))?;
        let l1_max_bytes = self.l1_max_bytes.unwrap_or(d.l1_max_bytes);
        if l1_max_bytes == 0 || l1_max_bytes > crate::l1::MAX_BYTES_LIMIT {
            return Err(Error::config(format!("l1MaxBytes must be 1..{}, got {l1_max_bytes}", crate::l1::MAX_BYTES_LIMIT)));
        }
        let max_batch_bytes = self.max_batch_bytes.unwrap_or(d.max_batch_bytes);
        if max_batch_bytes == 0 {
            return Err(Error::config("maxBatchBytes must be > 0, got 0"));
        }
        let max_batch_bytes = max_batch_bytes.max(max_value_bytes);
        Ok(CacheConfig {
            l1_max_size,
            l1_max_bytes,
            max_batch_bytes,
            default_ttl,
            enable_l1: self.enable_l1.unwrap_or(true),
            enable_l2: self.enable_l2.unwrap_or(true),
            compression_threshold: self.compression_threshold.unwrap_or(d.compression_threshold),
            max_value_bytes,
            max_key_bytes,
            breaker_threshold,
            breaker_cooldown: self.breaker_cooldown.unwrap_or(d.breaker_cooldown),
            bus_stale,
            ttl_jitter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn defaults_without_env() {
        let c = RedisOptions::default().resolve_with(&env(&[])).unwrap();
        assert_eq!(c.url, "redis://127.0.0.1:6379/0");
        assert_eq!(c.namespace, "sc");
    }

    #[test]
    fn env_url_with_credentials_and_db() {
        let c = RedisOptions::default()
            .resolve_with(&env(&[("REDIS_URL", "redis://bob:s%40cret@cache:6380/2")]))
            .unwrap();
        assert_eq!(c.url, "redis://bob:s%40cret@cache:6380/2");
    }

    #[test]
    fn explicit_host_port_beat_redis_url() {
        let opts = RedisOptions { host: Some("10.0.0.9".into()), port: Some(7000), ..Default::default() };
        let c = opts.resolve_with(&env(&[("REDIS_URL", "redis://other:1234/3")])).unwrap();
        assert_eq!(c.url, "redis://10.0.0.9:7000/0");
    }

    #[test]
    fn env_parts_when_no_url() {
        let c = RedisOptions::default()
            .resolve_with(&env(&[
                ("REDIS_HOST", "h"),
                ("REDIS_PORT", "6390"),
                ("REDIS_PASSWORD", "p w"),
                ("REDIS_DB", "4"),
                ("STRATACACHE_NAMESPACE", "app"),
            ]))
            .unwrap();
        assert_eq!(c.url, "redis://:p%20w@h:6390/4");
        assert_eq!(c.namespace, "app");
    }

    #[test]
    fn bad_values_name_what_was_received() {
        let e = RedisOptions::default().resolve_with(&env(&[("REDIS_PORT", "x")])).unwrap_err();
        assert!(e.message().contains("\"x\""), "{e}");
        let e = RedisOptions { cluster: Some(true), sentinel: Some(SentinelOptions::new("m", vec!["h:1".into()])), ..Default::default() }
            .resolve_with(&env(&[]))
            .unwrap_err();
        assert_eq!(e.code(), "ERR_STRATACACHE_CONFIG");
        let e = CacheOptions::default()
            .resolve_with(&env(&[("STRATACACHE_DEFAULT_TTL", "-5")]))
            .unwrap_err();
        assert!(e.message().contains("-5"), "{e}");
    }

    #[test]
    fn cache_env_and_explicit() {
        let e = env(&[("STRATACACHE_L1_MAX_SIZE", "50"), ("STRATACACHE_DEFAULT_TTL", "1.5")]);
        let c = CacheOptions::default().resolve_with(&e).unwrap();
        assert_eq!(c.l1_max_size, 50);
        assert_eq!(c.default_ttl, Duration::from_millis(1500));
        let c = CacheOptions { l1_max_size: Some(7), ..Default::default() }.resolve_with(&e).unwrap();
        assert_eq!(c.l1_max_size, 7);
    }
}
