//! Options given as loosely typed maps (a JS object, a Python dict) turned into the typed options.
//!
//! The bindings pass what the user wrote as a `serde_json::Value`; this module is the one place that
//! checks names and types, so a wrong option gives the same clear error in Node and Python. Names are
//! accepted in camelCase (Node) and snake_case (Python); unknown names are refused (typos must not
//! silently do nothing); `null` means "not given".

use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::{CacheOptions, RedisOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{count_from_f64, ttl_from_secs, MsetItem, SetOptions};

/// Reads fields out of one options object, remembering which names were used.
struct Fields<'a> {
    what: &'a str,
    map: Map<String, Value>,
    kind: ErrorKind,
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string {s:?}"),
        Value::Number(n) => format!("number {n}"),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        Value::Null => "null".into(),
    }
}

impl<'a> Fields<'a> {
    fn new(what: &'a str, v: Value, kind: ErrorKind) -> Result<Self> {
        match v {
            Value::Object(map) => Ok(Fields { what, map, kind }),
            Value::Null => Ok(Fields { what, map: Map::new(), kind }),
            other => Err(Error::new(kind, format!("{what} must be an object, got {}", describe(&other)))),
        }
    }

    fn err(&self, msg: String) -> Error {
        Error::new(self.kind, msg)
    }

    /// Take the first of `names` present and not null.
    fn take(&mut self, names: &[&str]) -> Option<(String, Value)> {
        let mut found = None;
        for n in names {
            if let Some(v) = self.map.remove(*n) {
                if !v.is_null() && found.is_none() {
                    found = Some((n.to_string(), v));
                }
            }
        }
        found
    }

    fn string(&mut self, names: &[&str]) -> Result<Option<String>> {
        match self.take(names) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s)),
            Some((n, v)) => Err(self.err(format!("{n} must be a string, got {}", describe(&v)))),
        }
    }

    fn boolean(&mut self, names: &[&str]) -> Result<Option<bool>> {
        match self.take(names) {
            None => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(b)),
            Some((n, v)) => Err(self.err(format!("{n} must be a boolean, got {}", describe(&v)))),
        }
    }

    fn number(&mut self, names: &[&str]) -> Result<Option<(String, f64)>> {
        match self.take(names) {
            None => Ok(None),
            Some((n, Value::Number(x))) => Ok(Some((n, x.as_f64().unwrap_or(f64::NAN)))),
            // JSON has no NaN/Infinity: the bindings pass them as these strings so they can be named.
            Some((n, Value::String(s))) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                Ok(Some((n, s.parse::<f64>().unwrap_or(f64::NAN))))
            }
            Some((n, v)) => Err(self.err(format!("{n} must be a number, got {}", describe(&v)))),
        }
    }

    fn count(&mut self, names: &[&str], min: u64) -> Result<Option<u64>> {
        match self.number(names)? {
            None => Ok(None),
            Some((n, x)) => count_from_f64(&n, x, min).map(Some).map_err(|e| self.err(e.message().into())),
        }
    }

    fn seconds(&mut self, names: &[&str]) -> Result<Option<Duration>> {
        match self.number(names)? {
            None => Ok(None),
            Some((n, x)) => ttl_from_secs(&n, x).map(Some).map_err(|e| self.err(e.message().into())),
        }
    }

    /// Seconds that may be 0 (a TTL jitter): finite, 0…86,400.
    fn seconds_or_zero(&mut self, names: &[&str]) -> Result<Option<Duration>> {
        match self.number(names)? {
            None => Ok(None),
            Some((_, x)) if x.is_finite() && (0.0..=86_400.0).contains(&x) => Ok(Some(Duration::from_secs_f64(x))),
            Some((n, x)) => Err(self.err(format!("{n} must be 0..86400 seconds, got {}", crate::options::fmt_number(x)))),
        }
    }

    fn millis(&mut self, names: &[&str]) -> Result<Option<Duration>> {
        match self.number(names)? {
            None => Ok(None),
            // At most a year: a bigger value is a mistake (and would overflow a Duration).
            Some((_, x)) if x.is_finite() && x > 0.0 && x <= 31_536_000_000.0 => Ok(Some(Duration::from_secs_f64(x / 1000.0))),
            Some((n, x)) if x.is_finite() && x > 0.0 => {
                Err(self.err(format!("{n} must be at most 31536000000 (a year), got {}", crate::options::fmt_number(x))))
            }
            Some((n, x)) => Err(self.err(format!("{n} must be > 0, got {}", crate::options::fmt_number(x)))),
        }
    }

    fn strings(&mut self, names: &[&str]) -> Result<Option<Vec<String>>> {
        match self.take(names) {
            None => Ok(None),
            Some((n, Value::Array(items))) => items
                .into_iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s),
                    other => Err(self.err(format!("{n} must be an array of strings, got an item {}", describe(&other)))),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some((n, v)) => Err(self.err(format!("{n} must be an array of strings, got {}", describe(&v)))),
        }
    }

    /// Refuse any name not taken.
    fn finish(self) -> Result<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(self.err(format!("unknown {} option {k:?}", self.what))),
        }
    }
}

/// `createRedisClient({...})` / `create_redis_client(...)` options.
pub fn redis_options(v: Value) -> Result<RedisOptions> {
    let mut f = Fields::new("redis", v, ErrorKind::Config)?;
    let mut o = RedisOptions::default();
    o.url = f.string(&["url"])?;
    o.host = f.string(&["host"])?;
    o.port = match f.number(&["port"])? {
        None => None,
        Some((_, p)) if p.fract() == 0.0 && (1.0..=65535.0).contains(&p) => Some(p as u16),
        Some((n, p)) => return Err(f.err(format!("{n} must be a port number 1..65535, got {}", crate::options::fmt_number(p)))),
    };
    o.username = f.string(&["username"])?;
    o.password = f.string(&["password"])?;
    o.db = f.count(&["db"], 0)?.map(|d| d as i64);
    o.cluster = f.boolean(&["cluster"])?;
    o.nodes = f.strings(&["nodes"])?;
    o.sentinel = match f.take(&["sentinel"]) {
        None | Some((_, Value::Null)) => None,
        Some((_, v)) => {
            let mut s = Fields::new("sentinel", v, ErrorKind::Config)?;
            let master_name = s.string(&["masterName", "master_name"])?.unwrap_or_default();
            let nodes = s.strings(&["nodes"])?.unwrap_or_default();
            s.finish()?;
            Some(crate::config::SentinelOptions::new(master_name, nodes))
        }
    };
    o.tls = f.boolean(&["tls"])?;
    o.connect_timeout = f.millis(&["connectTimeoutMs", "connect_timeout_ms"])?;
    o.command_timeout = f.millis(&["commandTimeoutMs", "command_timeout_ms"])?;
    o.namespace = f.string(&["namespace"])?;
    f.finish()?;
    Ok(o)
}

/// `getCacheManager({...})` / `get_cache_manager(...)` options.
pub fn cache_options(v: Value) -> Result<CacheOptions> {
    let mut f = Fields::new("cache", v, ErrorKind::Config)?;
    let mut o = CacheOptions::default();
    o.l1_max_size = f.count(&["l1MaxSize", "l1_max_size"], 0)?;
    o.l1_max_bytes = f.count(&["l1MaxBytes", "l1_max_bytes"], 1)?;
    o.default_ttl = f.seconds(&["defaultTTL", "defaultTtl", "default_ttl"])?;
    o.enable_l1 = f.boolean(&["enableL1", "enable_l1"])?;
    o.enable_l2 = f.boolean(&["enableL2", "enable_l2"])?;
    o.compression_threshold = f.count(&["compressionThreshold", "compression_threshold"], 0)?.map(|n| n as usize);
    o.max_value_bytes = f.count(&["maxValueBytes", "max_value_bytes"], 1)?.map(|n| n as usize);
    o.max_key_bytes = f.count(&["maxKeyBytes", "max_key_bytes"], 1)?.map(|n| n as usize);
    o.max_batch_bytes = f.count(&["maxBatchBytes", "max_batch_bytes"], 1)?.map(|n| n as usize);
    o.bus_stale = f.count(&["busStaleMs", "bus_stale_ms"], 0)?.map(Duration::from_millis);
    o.ttl_jitter = f.seconds_or_zero(&["ttlJitter", "ttl_jitter"])?;
    f.finish()?;
    Ok(o)
}

/// Options of one `set`: `{ ttl?, tags?, compress?, compressionThreshold? }`.
pub fn set_options(v: Value) -> Result<SetOptions> {
    let mut f = Fields::new("set", v, ErrorKind::InvalidArgument)?;
    let mut o = SetOptions::default();
    o.ttl = f.seconds(&["ttl"])?;
    o.tags = f.strings(&["tags"])?.unwrap_or_default();
    o.compress = f.boolean(&["compress"])?.unwrap_or(false);
    o.compression_threshold = f.count(&["compressionThreshold", "compression_threshold"], 0)?.map(|n| n as usize);
    o.ttl_jitter = f.seconds_or_zero(&["ttlJitter", "ttl_jitter"])?;
    f.finish()?;
    Ok(o)
}

/// One `mset` item's options (`ttl`, `tags`) with its key and JSON text.
pub fn mset_item(key: String, json: String, opts: Value) -> Result<MsetItem> {
    let mut f = Fields::new("mset item", opts, ErrorKind::InvalidArgument)?;
    let ttl = f.seconds(&["ttl"])?;
    let tags = f.strings(&["tags"])?.unwrap_or_default();
    f.finish()?;
    Ok(MsetItem::new(key, json, ttl).with_tags(tags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guide_shapes_parse() {
        let r = redis_options(json!({"host": "redis.example.com", "port": 6380, "password": "my-secret", "db": 1, "cluster": false})).unwrap();
        assert_eq!(r.port, Some(6380));
        let c = cache_options(json!({"l1MaxSize": 1000, "defaultTTL": 600, "enableL1": true, "enableL2": true})).unwrap();
        assert_eq!(c.l1_max_size, Some(1000));
        let s = set_options(json!({"ttl": 3600, "compress": true, "compressionThreshold": 512})).unwrap();
        assert!(s.compress);
        let p = cache_options(json!({"l1_max_size": 5, "default_ttl": 1.5})).unwrap();
        assert_eq!(p.default_ttl, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn wrong_types_and_names_are_named() {
        let e = redis_options(json!({"port": "abc"})).unwrap_err();
        assert_eq!(e.message(), "port must be a number, got string \"abc\"");
        assert_eq!(e.code(), "ERR_STRATACACHE_CONFIG");
        let e = set_options(json!({"ttl": -1})).unwrap_err();
        assert_eq!(e.message(), "ttl must be > 0, got -1");
        assert_eq!(e.code(), "ERR_STRATACACHE_INVALID_ARGUMENT");
        let e = set_options(json!({"ttl": "NaN"})).unwrap_err();
        assert_eq!(e.message(), "ttl must be > 0, got NaN");
        let e = set_options(json!({"tll": 5})).unwrap_err();
        assert!(e.message().contains("\"tll\""), "{e}");
        let e = set_options(json!({"tags": ["a", 1]})).unwrap_err();
        assert!(e.message().contains("number 1"), "{e}");
        assert!(cache_options(json!({"l1MaxSize": 1.5})).is_err());
        assert_eq!(cache_options(json!({"busStaleMs": 0})).unwrap().bus_stale, Some(Duration::ZERO));
        assert!(cache_options(json!({"busStaleMs": -1})).is_err());
        let e = cache_options(json!({"busStaleMs": 120_000})).unwrap().resolve().unwrap_err();
        assert!(e.message().contains("busStaleMs must be at most 60000, got 120000"), "{e}");
        let e = aside_options(json!({"lockLeaseMs": 1e30})).unwrap_err();
        assert!(e.message().contains("lockLeaseMs must be at most"), "{e}");
        assert!(redis_options(json!({"commandTimeoutMs": 1e30})).is_err());
    }
}

/// [`aside_options`] from JSON text, remembering the last text it parsed: the concurrent callers of
/// one key usually pass the same options, and a stampede of 1,000 then parses them once.
#[derive(Default)]
pub struct AsideOptionsMemo {
    last: std::sync::Mutex<Option<(String, crate::patterns::AsideOptions)>>,
}

impl AsideOptionsMemo {
    /// The options in `text` (`None`: none given), as [`aside_options`] reads them.
    pub fn parse(&self, text: Option<&str>) -> Result<crate::patterns::AsideOptions> {
        let Some(text) = text else { return aside_options(Value::Null) };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((t, o)) = last.as_ref() {
            if t == text {
                return Ok(o.clone());
            }
        }
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("cacheAside options are not valid: {e}")))?;
        let o = aside_options(v)?;
        *last = Some((text.to_owned(), o.clone()));
        Ok(o)
    }
}

/// Options of `cacheAside.get` / `readThrough.read`: `{ ttl?, tags?, negativeTtl?, lockLeaseMs? }`.
pub fn aside_options(v: Value) -> Result<crate::patterns::AsideOptions> {
    let mut f = Fields::new("cacheAside", v, ErrorKind::InvalidArgument)?;
    let o = aside_fields(&mut f)?;
    f.finish()?;
    Ok(o)
}

fn aside_fields(f: &mut Fields<'_>) -> Result<crate::patterns::AsideOptions> {
    let mut o = crate::patterns::AsideOptions::default();
    o.ttl = f.seconds(&["ttl"])?;
    o.tags = f.strings(&["tags"])?.unwrap_or_default();
    o.negative_ttl = f.seconds(&["negativeTtl", "negativeTTL", "negative_ttl"])?;
    if let Some(lease) = f.millis(&["lockLeaseMs", "lock_lease_ms"])? {
        o.lock_lease = lease;
    }
    o.ttl_jitter = f.seconds_or_zero(&["ttlJitter", "ttl_jitter"])?;
    o.hard_timeout = f.millis(&["hardTimeoutMs", "hard_timeout_ms"])?;
    let snake = f.map.contains_key("soft_timeout_ms");
    o.soft_timeout = f.millis(&["softTimeoutMs", "soft_timeout_ms"])?;
    o.fail_safe = f.boolean(&["failSafe", "fail_safe"])?.unwrap_or(false);
    if o.soft_timeout.is_some() && !o.fail_safe {
        let (soft, fs) = if snake { ("soft_timeout_ms", "fail_safe=True") } else { ("softTimeoutMs", "failSafe: true") };
        return Err(f.err(format!("{soft} needs {fs} (it returns the stale value that only fail-safe keeps)")));
    }
    if let Some(d) = f.seconds(&["failSafeMaxDuration", "fail_safe_max_duration"])? {
        o.fail_safe_max_duration = d;
    }
    if let Some(d) = f.seconds(&["failSafeThrottle", "fail_safe_throttle"])? {
        o.fail_safe_throttle = d;
    }
    Ok(o)
}

/// Options of `cacheAside.getWithRefresh`: `{ ttl, refreshThreshold, tags?, … }`.
pub fn refresh_options(v: Value) -> Result<crate::patterns::RefreshOptions> {
    let mut f = Fields::new("getWithRefresh", v, ErrorKind::InvalidArgument)?;
    let aside = aside_fields(&mut f)?;
    let threshold = match f.number(&["refreshThreshold", "refresh_threshold"])? {
        Some((_, t)) if t.is_finite() && t > 0.0 && t < 1.0 => t,
        Some((n, t)) => {
            return Err(f.err(format!("{n} must be between 0 and 1 (exclusive), got {}", crate::options::fmt_number(t))))
        }
        None => return Err(f.err("getWithRefresh needs refreshThreshold (a fraction of the ttl, 0 < x < 1)".into())),
    };
    if aside.ttl.is_none() {
        return Err(f.err("getWithRefresh needs ttl (seconds > 0)".into()));
    }
    f.finish()?;
    let mut o = crate::patterns::RefreshOptions::new(aside.ttl.unwrap_or_default(), threshold);
    o.aside = aside;
    Ok(o)
}

/// Options of a write-behind instance: `{ flushIntervalMs?, maxRetries?, batchSize?, maxQueueSize?,
/// queueFullTimeoutMs?, concurrency?, shutdownTimeoutMs? }` (`onError` is a callback, passed
/// separately by the bindings).
pub fn write_behind_options(v: Value) -> Result<crate::patterns::WriteBehindOptions> {
    let mut f = Fields::new("WriteBehindPattern", v, ErrorKind::InvalidArgument)?;
    let mut o = crate::patterns::WriteBehindOptions::default();
    if let Some(d) = f.millis(&["flushIntervalMs", "flush_interval_ms"])? {
        o.flush_interval = d;
    }
    if let Some(n) = f.count(&["maxRetries", "max_retries"], 0)? {
        o.max_retries = n.min(100) as u32;
    }
    if let Some(n) = f.count(&["batchSize", "batch_size"], 1)? {
        o.batch_size = n as usize;
    }
    let limit = crate::patterns::MAX_QUEUE_SIZE_LIMIT;
    match f.number(&["maxQueueSize", "max_queue_size"])? {
        None => {}
        Some((_, x)) if x.fract() == 0.0 && (1.0..=limit as f64).contains(&x) => o.max_queue_size = x as usize,
        Some((n, x)) => return Err(f.err(format!("{n} must be a whole number 1..{limit}, got {}", crate::options::fmt_number(x)))),
    }
    if let Some(ms) = f.count(&["queueFullTimeoutMs", "queue_full_timeout_ms"], 0)? {
        o.queue_full_timeout = Duration::from_millis(ms.min(3_600_000));
    }
    match f.number(&["concurrency"])? {
        None => {}
        Some((_, x)) if x.fract() == 0.0 && (1.0..=1024.0).contains(&x) => o.concurrency = x as usize,
        Some((n, x)) => return Err(f.err(format!("{n} must be a whole number 1..1024, got {}", crate::options::fmt_number(x)))),
    }
    if let Some(ms) = f.count(&["shutdownTimeoutMs", "shutdown_timeout_ms"], 0)? {
        o.shutdown_timeout = Duration::from_millis(ms.min(3_600_000));
    }
    if let Some(d) = f.millis(&["writeTimeoutMs", "write_timeout_ms"])? {
        o.write_timeout = d;
    }
    f.finish()?;
    Ok(o)
}

/// Options of `createSession`: `{ ttl?, maxDevices? }` (ttl in seconds, default 86,400; no device cap
/// by default).
pub fn session_options(v: Value) -> Result<crate::session::SessionOptions> {
    let mut f = Fields::new("createSession", v, ErrorKind::InvalidArgument)?;
    let ttl = f.seconds(&["ttl"])?.unwrap_or(Duration::from_secs(86_400));
    let max_devices = match f.count(&["maxDevices", "max_devices"], 1)? {
        Some(n) => n.min(u32::MAX as u64) as u32,
        None => u32::MAX,
    };
    f.finish()?;
    Ok(crate::session::SessionOptions { ttl, max_devices })
}

/// Options of `getSession`: `{ validateIp?, validateUserAgent? }`.
pub fn session_validation(v: Value) -> Result<(Option<String>, Option<String>)> {
    let mut f = Fields::new("getSession", v, ErrorKind::InvalidArgument)?;
    let ip = f.string(&["validateIp", "validate_ip"])?;
    let ua = f.string(&["validateUserAgent", "validate_user_agent"])?;
    f.finish()?;
    Ok((ip, ua))
}

/// A whole number option with the name the caller used (camelCase or snake_case).
fn named_count(f: &mut Fields<'_>, names: &[&str], min: u64) -> Result<Option<(String, u64)>> {
    match f.number(names)? {
        None => Ok(None),
        Some((n, x)) => count_from_f64(&n, x, min).map(|c| Some((n, c))).map_err(|e| f.err(e.message().into())),
    }
}

/// `windowMs` and `maxRequests` (required), range-checked with the names the caller used: the window
/// at most a year, and `maxRequests × windowMs` below 2^53 so the scripts count exactly.
fn window_and_limit(f: &mut Fields<'_>, what: &str) -> Result<(u64, u64)> {
    let (wn, window) = named_count(f, &["windowMs", "window_ms"], 1)?
        .ok_or_else(|| Error::invalid_argument(format!("{what} options need windowMs (window_ms)")))?;
    if window > 31_536_000_000 {
        return Err(Error::invalid_argument(format!("{wn} must be at most 31536000000 (a year), got {window}")));
    }
    let (ln, limit) = named_count(f, &["maxRequests", "max_requests"], 1)?
        .ok_or_else(|| Error::invalid_argument(format!("{what} options need maxRequests (max_requests)")))?;
    if (window as u128) * (limit as u128) >= 1u128 << 53 {
        return Err(Error::invalid_argument(format!("{ln} × {wn} must be below 2^53 to count exactly, got {limit} × {window}")));
    }
    Ok((window, limit))
}

/// Options of `limit(identifier, options)`: `{ windowMs, maxRequests, algorithm?, cost?, onRedisError? }`.
pub fn limit_options(v: Value) -> Result<crate::ratelimit::LimitOptions> {
    let mut f = Fields::new("limit", v, ErrorKind::InvalidArgument)?;
    let (window_ms, max_requests) = window_and_limit(&mut f, "limit")?;
    let algorithm = match f.string(&["algorithm"])? {
        None => crate::ratelimit::Algorithm::default(),
        Some(a) => crate::ratelimit::Algorithm::parse(&a).ok_or_else(|| {
            Error::invalid_argument(format!(
                "algorithm must be one of fixed-window, sliding-log, sliding-counter, token-bucket, leaky-bucket, got {a:?}"
            ))
        })?,
    };
    let cost = f.count(&["cost"], 1)?.unwrap_or(1);
    let on_redis_error = redis_error_policy(&mut f)?;
    f.finish()?;
    Ok(crate::ratelimit::LimitOptions { window_ms, max_requests, algorithm, cost, on_redis_error })
}

/// Options of `tokenBucket` (`rate_names` = `refillRate`/`refill_rate`) and `leakyBucket`
/// (`leakRate`/`leak_rate`): `{ windowMs, maxRequests, <rate>?, bucketSize?, cost?, onRedisError? }`.
pub fn bucket_options(v: Value, what: &str, rate_names: &[&str]) -> Result<crate::ratelimit::BucketOptions> {
    let mut f = Fields::new(what, v, ErrorKind::InvalidArgument)?;
    let (window_ms, max_requests) = window_and_limit(&mut f, what)?;
    let rate_per_sec = match f.number(rate_names)? {
        None => None,
        Some((_, r)) if r.is_finite() && r > 0.0 && r <= 1e9 => Some(r),
        Some((n, r)) => {
            return Err(Error::invalid_argument(format!(
                "{n} must be a number of units per second > 0 (at most 1e9), got {}",
                crate::options::fmt_number(r)
            )))
        }
    };
    let bucket_size = match named_count(&mut f, &["bucketSize", "bucket_size"], 1)? {
        Some((n, b)) if (window_ms as u128) * (b as u128) >= 1u128 << 53 => {
            return Err(Error::invalid_argument(format!("{n} × windowMs must be below 2^53 to count exactly, got {b} × {window_ms}")))
        }
        other => other.map(|(_, b)| b),
    };
    let cost = f.count(&["cost"], 1)?.unwrap_or(1);
    let on_redis_error = redis_error_policy(&mut f)?;
    f.finish()?;
    Ok(crate::ratelimit::BucketOptions { window_ms, max_requests, rate_per_sec, bucket_size, cost, on_redis_error })
}

fn redis_error_policy(f: &mut Fields<'_>) -> Result<crate::ratelimit::RedisErrorPolicy> {
    match f.take(&["onRedisError", "on_redis_error"]) {
        None => Ok(crate::ratelimit::RedisErrorPolicy::default()),
        Some((n, Value::String(p))) => crate::ratelimit::RedisErrorPolicy::parse(&p)
            .ok_or_else(|| Error::invalid_argument(format!("{n} must be allow, deny or local, got {p:?}"))),
        Some((n, v)) => Err(Error::invalid_argument(format!("{n} must be allow, deny or local, got {}", describe(&v)))),
    }
}
