//! Result metadata (contract §9): what `getWithMeta` reports about a read (hit, miss or stale; the
//! tier that answered; age and remaining TTL; tags), and its RFC 9211 `Cache-Status` field value.

use std::sync::Arc;
use std::time::Duration;

use super::CacheManager;
use crate::error::{Error, Result};
use crate::l1::Entry;

/// How a read was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// From the cache.
    Hit,
    /// Not in the cache (loaded, when a loader was given).
    Miss,
    /// A value past its logical expiry, served because the source failed (fail-safe).
    Stale,
}

impl CacheStatus {
    /// `hit`, `miss` or `stale`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
        }
    }
}

/// Which tier answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// This process's memory.
    L1,
    /// Redis.
    L2,
    /// The caller's loader.
    Loader,
}

impl Tier {
    /// `l1`, `l2` or `loader`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "l1",
            Tier::L2 => "l2",
            Tier::Loader => "loader",
        }
    }
}

/// A read's value with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultMeta {
    /// The value's JSON text (`None`: no value).
    pub json: Option<Arc<str>>,
    /// Hit, miss or stale.
    pub status: CacheStatus,
    /// Who answered (`None` on a miss without a loader).
    pub tier: Option<Tier>,
    /// Milliseconds since the value was written.
    pub age_ms: Option<u64>,
    /// Milliseconds until its logical expiry.
    pub ttl_ms: Option<u64>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether this read stored what the loader returned.
    pub stored: bool,
}

impl ResultMeta {
    /// A hit on `e` in `tier`.
    pub fn hit(e: &Entry, tier: Tier) -> Self {
        let (age, ttl) = e.age_and_ttl_now();
        ResultMeta { json: Some(e.json.clone()), status: CacheStatus::Hit, tier: Some(tier), age_ms: Some(age), ttl_ms: Some(ttl), tags: e.tags.to_vec(), stored: false }
    }

    /// Fail-safe's stale value `e`, from `tier` (its TTL is 0: it is past its logical expiry).
    pub fn stale(e: &Entry, tier: Tier) -> Self {
        let (age, _) = e.age_and_ttl_now();
        ResultMeta { json: Some(e.json.clone()), status: CacheStatus::Stale, tier: Some(tier), age_ms: Some(age), ttl_ms: Some(0), tags: e.tags.to_vec(), stored: false }
    }

    /// Nothing cached and no loader.
    pub fn miss() -> Self {
        ResultMeta { json: None, status: CacheStatus::Miss, tier: None, age_ms: None, ttl_ms: None, tags: Vec::new(), stored: false }
    }

    /// What a loader returned after a miss (stored for `ttl` when `stored`).
    pub fn loaded(json: Option<Arc<str>>, ttl: Duration, tags: Vec<String>, stored: bool) -> Self {
        ResultMeta {
            json,
            status: CacheStatus::Miss,
            tier: Some(Tier::Loader),
            age_ms: Some(0),
            ttl_ms: stored.then(|| ttl.as_millis() as u64),
            tags,
            stored,
        }
    }

    /// `{"value":…,"status":…,"tier":…,"ageMs":…,"ttlMs":…,"tags":[…],"stored":…}` (the value as
    /// its JSON text, `null` when absent).
    pub fn to_json(&self) -> String {
        let opt = |v: Option<u64>| v.map_or_else(|| "null".to_owned(), |n| n.to_string());
        format!(
            r#"{{"value":{},"status":"{}","tier":{},"ageMs":{},"ttlMs":{},"tags":{},"stored":{}}}"#,
            self.json.as_deref().unwrap_or("null"),
            self.status.as_str(),
            self.tier.map_or_else(|| "null".to_owned(), |t| format!("\"{}\"", t.as_str())),
            opt(self.age_ms),
            opt(self.ttl_ms),
            serde_json::to_string(&self.tags).expect("strings always serialize"),
            self.stored
        )
    }

    /// The RFC 9211 `Cache-Status` field value of this read, cache name `name` ([`cache_status_header`]).
    ///
    /// # Errors
    /// A name that is not an RFC 8941 token.
    pub fn cache_status(&self, name: &str) -> Result<String> {
        cache_status_header(self.status.as_str(), self.ttl_ms, self.stored, name)
    }
}

/// An RFC 9211 `Cache-Status` field value: `name; hit; ttl=42` for a hit (remaining TTL in whole
/// seconds), `name; fwd=miss` for a miss, `; stored` when the loaded value was stored, and
/// `name; hit; fwd=stale` for a stale value (fail-safe).
///
/// # Errors
/// A `name` that is not an RFC 8941 token, or an unknown `status`.
pub fn cache_status_header(status: &str, ttl_ms: Option<u64>, stored: bool, name: &str) -> Result<String> {
    let token = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '*')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:/".contains(c));
    if !token {
        return Err(Error::invalid_argument(format!("the Cache-Status name must be a token (letters first, then letters, digits or !#$%&'*+-.^_`|~:/), got {name:?}")));
    }
    Ok(match status {
        "hit" => match ttl_ms {
            Some(ms) => format!("{name}; hit; ttl={}", ms / 1000),
            None => format!("{name}; hit"),
        },
        "miss" if stored => format!("{name}; fwd=miss; stored"),
        "miss" => format!("{name}; fwd=miss"),
        "stale" => format!("{name}; hit; fwd=stale"),
        other => return Err(Error::invalid_argument(format!("status must be hit, miss or stale, got {other:?}"))),
    })
}

impl CacheManager {
    /// The L1 part of [`CacheManager::get_with_meta`]: synchronous, never does I/O (`None`: L1
    /// cannot answer). Counts like [`CacheManager::get_l1`].
    pub fn get_l1_with_meta(&self, key: &str) -> Result<Option<(Arc<Entry>, ResultMeta)>> {
        Ok(self.get_l1(key)?.map(|e| {
            let meta = ResultMeta::hit(&e, Tier::L1);
            (e, meta)
        }))
    }

    /// The value of `key` with its metadata: an L1 hit, an L2 hit, or a miss.
    pub async fn get_with_meta(&self, key: &str) -> Result<ResultMeta> {
        if let Some(e) = self.get_l1(key)? {
            return Ok(ResultMeta::hit(&e, Tier::L1));
        }
        self.get_l2_with_meta(key).await
    }

    /// The Redis part of [`CacheManager::get_with_meta`], after an L1 miss the caller counted.
    pub async fn get_l2_with_meta(&self, key: &str) -> Result<ResultMeta> {
        Ok(match self.get_l2(key).await? {
            Some(e) => ResultMeta::hit(&e, Tier::L2),
            None => ResultMeta::miss(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_values() {
        assert_eq!(cache_status_header("hit", Some(42_900), false, "stratacache").unwrap(), "stratacache; hit; ttl=42");
        assert_eq!(cache_status_header("miss", None, true, "stratacache").unwrap(), "stratacache; fwd=miss; stored");
        assert_eq!(cache_status_header("miss", None, false, "edge-1").unwrap(), "edge-1; fwd=miss");
        assert_eq!(cache_status_header("stale", Some(0), false, "stratacache").unwrap(), "stratacache; hit; fwd=stale");
        assert!(cache_status_header("hit", None, false, "1bad").is_err());
        assert!(cache_status_header("hit", None, false, "has space").is_err());
        assert!(cache_status_header("maybe", None, false, "x").is_err());
    }

    #[test]
    fn meta_json_embeds_the_value() {
        let m = ResultMeta::loaded(Some(Arc::from(r#"{"a":1}"#)), Duration::from_secs(60), vec!["t".into()], true);
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"value": {"a": 1}, "status": "miss", "tier": "loader", "ageMs": 0, "ttlMs": 60000, "tags": ["t"], "stored": true}));
        let v: serde_json::Value = serde_json::from_str(&ResultMeta::miss().to_json()).unwrap();
        assert_eq!(v["value"], serde_json::Value::Null);
        assert_eq!(v["tier"], serde_json::Value::Null);
    }
}
