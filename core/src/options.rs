//! Per-call options of the cache manager, and the validation every front door shares.

use std::time::Duration;

use crate::error::{Error, Result};

/// Options of one `set`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SetOptions {
    /// Lifetime; `None` uses the manager's default TTL.
    pub ttl: Option<Duration>,
    /// Tags for group invalidation.
    pub tags: Vec<String>,
    /// Compress the value when it is larger than the threshold.
    pub compress: bool,
    /// Compression threshold in bytes for this call (default: the manager's).
    pub compression_threshold: Option<usize>,
    /// A random 0…`ttl_jitter` added to the TTL (default: the manager's `ttlJitter`).
    pub ttl_jitter: Option<Duration>,
    /// Fail-safe (contract §9): keep the entry this long past its TTL, in Redis and L1, as the
    /// fallback served when its loader fails. Cache-aside sets it from `failSafeMaxDuration`.
    pub fail_safe_max_duration: Option<Duration>,
}

/// Largest TTL jitter accepted (a day).
pub const MAX_TTL_JITTER: Duration = Duration::from_secs(86_400);

/// Check a TTL jitter (at most [`MAX_TTL_JITTER`]).
///
/// # Errors
/// `ERR_STRATACACHE_INVALID_ARGUMENT` naming the value.
pub fn check_ttl_jitter(j: Duration) -> crate::Result<()> {
    if j > MAX_TTL_JITTER {
        return Err(crate::Error::invalid_argument(format!("ttlJitter must be at most 86400 seconds, got {}", fmt_number(j.as_secs_f64()))));
    }
    Ok(())
}

/// `ttl` plus a random 0…`jitter` (whole milliseconds, uniform).
pub fn jittered(ttl: Duration, jitter: Duration) -> Duration {
    let max = jitter.as_millis() as u64;
    if max == 0 {
        return ttl;
    }
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS random source is available");
    ttl + Duration::from_millis(u64::from_le_bytes(b) % (max + 1))
}

impl SetOptions {
    /// Options with a TTL.
    pub fn ttl(ttl: Duration) -> Self {
        SetOptions { ttl: Some(ttl), ..Default::default() }
    }

    /// Add tags.
    #[must_use]
    pub fn with_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Ask for compression (above `threshold`, or the manager's default when `None`).
    #[must_use]
    pub fn compressed(mut self, threshold: Option<usize>) -> Self {
        self.compress = true;
        self.compression_threshold = threshold;
        self
    }
}

/// One item of an `mset`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MsetItem {
    /// The key.
    pub key: String,
    /// The value as JSON text.
    pub json: String,
    /// Lifetime; `None` uses the default TTL.
    pub ttl: Option<Duration>,
    /// Tags.
    pub tags: Vec<String>,
}

impl MsetItem {
    /// An item with JSON text.
    pub fn new(key: impl Into<String>, json: impl Into<String>, ttl: Option<Duration>) -> Self {
        MsetItem { key: key.into(), json: json.into(), ttl, tags: Vec::new() }
    }

    /// Add tags.
    #[must_use]
    pub fn with_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// A number as JS and Python users write it (`NaN`, `Infinity`, `-Infinity`, `1.5`), for messages.
pub fn fmt_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        v.to_string()
    }
}

/// A TTL given in seconds (as the Node and Python front doors take it) turned into a `Duration`.
/// Refuses zero, negative, NaN and infinite values, naming the value received.
pub fn ttl_from_secs(name: &str, secs: f64) -> Result<Duration> {
    if !secs.is_finite() || secs <= 0.0 {
        return Err(Error::invalid_argument(format!("{name} must be > 0, got {}", fmt_number(secs))));
    }
    if secs > 100.0 * 365.0 * 86_400.0 {
        return Err(Error::invalid_argument(format!("{name} must be at most 100 years, got {secs}")));
    }
    let d = Duration::from_secs_f64(secs);
    if d < Duration::from_millis(1) {
        return Err(Error::invalid_argument(format!("{name} must be at least 0.001 s, got {secs}")));
    }
    Ok(d)
}

/// A whole-number option that must be ≥ `min`, taken from a float (JS numbers); names the value.
pub fn count_from_f64(name: &str, v: f64, min: u64) -> Result<u64> {
    if !v.is_finite() || v.fract() != 0.0 || v < min as f64 || v > 9_007_199_254_740_991.0 {
        return Err(Error::invalid_argument(format!(
            "{name} must be a whole number >= {min}, got {}",
            fmt_number(v)
        )));
    }
    Ok(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_validation_names_the_value() {
        assert_eq!(ttl_from_secs("ttl", 1.5).unwrap(), Duration::from_millis(1500));
        assert_eq!(ttl_from_secs("ttl", -1.0).unwrap_err().message(), "ttl must be > 0, got -1");
        assert!(ttl_from_secs("ttl", 0.0).is_err());
        assert!(ttl_from_secs("ttl", f64::NAN).is_err());
        assert_eq!(ttl_from_secs("ttl", f64::INFINITY).unwrap_err().message(), "ttl must be > 0, got Infinity");
        assert!(count_from_f64("l1MaxSize", 2.5, 0).is_err());
    }
}

/// One write of [`crate::Manager::set_json_batch`]: JSON text under a key, with its own options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetItem {
    /// The key.
    pub key: String,
    /// The value as JSON text.
    pub json: String,
    /// The options of this write.
    pub opts: SetOptions,
}
