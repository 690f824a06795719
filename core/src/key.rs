//! The key schema: every Redis key stratacache writes lives under `{namespace}:`.
//!
//! | sub-namespace | key | holds |
//! |---|---|---|
//! | `d` | `{ns}:d:{key}` | a cached value (an envelope, see [`crate::codec`]) |
//! | `t` | `{ns}:t:{tag}` | the current version token of a tag (8 random bytes) |
//! | `lk` | `{ns}:lk:{key}` | the load lock of a key (cache-aside, refresh-ahead) |
//!
//! On Redis Cluster the lock key is `{ns}:lk:{S}:{key}` instead, where the hash tag `S` is the smallest
//! decimal number whose slot is the data key's slot: the script that stores a loaded value touches the
//! data key and the lock key together, so they must share a slot (see `docs/key-schema.md`).
//!
//! Later components add `s` (sessions), `rl` (rate limits), `lk` (locks) and the bus channel
//! `{ns}:bus`; `docs/key-schema.md` is the reference and `tests/vectors/v1/keys.json` pins it.

use redis::cluster_routing::Slot;

use crate::error::{Error, ErrorKind, Result};

/// Builds Redis keys for one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    namespace: String,
    data_prefix: String,
    tag_prefix: String,
    lock_prefix: String,
    cluster: bool,
}

/// For each Redis Cluster slot, the smallest decimal number (as text) that hashes to it: a hash tag
/// that puts a key in a chosen slot. Computed once, on first use (about 170,000 CRC16s).
fn slot_tags() -> &'static std::collections::HashMap<Slot, String> {
    static TAGS: std::sync::OnceLock<std::collections::HashMap<Slot, String>> = std::sync::OnceLock::new();
    TAGS.get_or_init(|| {
        let mut tags = std::collections::HashMap::with_capacity(SLOTS);
        let mut n: u64 = 0;
        while tags.len() < SLOTS {
            let s = n.to_string();
            tags.entry(Slot::for_key(&s)).or_insert(s);
            n += 1;
        }
        tags
    })
}

/// Slots of a Redis Cluster.
const SLOTS: usize = 16_384;

impl KeySchema {
    /// A schema for `namespace` (already validated by the configuration) on a standalone Redis or
    /// behind Sentinel.
    pub fn new(namespace: &str) -> Self {
        KeySchema {
            namespace: namespace.to_owned(),
            data_prefix: format!("{namespace}:d:"),
            tag_prefix: format!("{namespace}:t:"),
            lock_prefix: format!("{namespace}:lk:"),
            cluster: false,
        }
    }

    /// A schema for `namespace` on Redis Cluster (`cluster`) or not: only the lock keys differ.
    pub fn for_topology(namespace: &str, cluster: bool) -> Self {
        KeySchema { cluster, ..Self::new(namespace) }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Redis key of a cached value.
    pub fn data(&self, key: &str) -> String {
        let mut s = String::with_capacity(self.data_prefix.len() + key.len());
        s.push_str(&self.data_prefix);
        s.push_str(key);
        s
    }

    /// The Redis key holding a tag's version token.
    pub fn tag(&self, tag: &str) -> String {
        format!("{}{tag}", self.tag_prefix)
    }

    /// The Redis key of the load/refresh lock of a cached key.
    pub fn lock(&self, key: &str) -> String {
        if self.cluster {
            let tag = &slot_tags()[&Slot::for_key(self.data(key))];
            return format!("{}{{{tag}}}:{key}", self.lock_prefix);
        }
        format!("{}{key}", self.lock_prefix)
    }

    /// The Redis key of one rate-limit state: `{ns}:rl:{identifier}:{suffix}`. The identifier is a
    /// Redis Cluster hash tag, so every algorithm's state of one identifier shares a slot.
    pub fn rate_limit(&self, identifier: &str, suffix: &str) -> String {
        format!("{}:rl:{{{identifier}}}:{suffix}", self.namespace)
    }

    /// The Redis keys of a warming strategy's schedule: `{ns}:w:{{name}}:lock` (held while one
    /// process runs it) and `{ns}:w:{{name}}:slot` (the last period it ran in). The braces keep both
    /// in one Cluster slot.
    /// On Cluster a name starting with `}` would leave an empty hash tag (the keys would hash whole, to
    /// two slots): such a name gets a numeric tag of its own slot instead, `{ns}:w:{S}:{name}:lock`.
    pub fn warm(&self, name: &str) -> (String, String) {
        if self.cluster && name.starts_with('}') {
            let tag = &slot_tags()[&Slot::for_key(name)];
            return (format!("{}:w:{{{tag}}}:{name}:lock", self.namespace), format!("{}:w:{{{tag}}}:{name}:slot", self.namespace));
        }
        (format!("{}:w:{{{name}}}:lock", self.namespace), format!("{}:w:{{{name}}}:slot", self.namespace))
    }

    /// The prefix of every data key (for pattern invalidation and server-assisted tracking).
    pub fn data_prefix(&self) -> &str {
        &self.data_prefix
    }
}

/// Check a user key: non-empty, at most `max_bytes` bytes of UTF-8.
pub fn validate_key(key: &str, max_bytes: usize) -> Result<()> {
    if key.is_empty() {
        return Err(Error::new(ErrorKind::InvalidKey, "key must be a non-empty string, got \"\""));
    }
    if key.len() > max_bytes {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            format!(
                "key must be at most {max_bytes} bytes of UTF-8, got {} bytes (starting {:?})",
                key.len(),
                key.chars().take(32).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// Check a tag: non-empty, at most 1,024 bytes, and at most 65,535 bytes for the envelope anyway.
pub fn validate_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.len() > 1024 {
        return Err(Error::invalid_argument(format!(
            "tags must be non-empty strings of at most 1024 bytes, got {:?}",
            tag.chars().take(32).collect::<String>()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_namespace() {
        let k = KeySchema::new("app");
        assert_eq!(k.data("user:1"), "app:d:user:1");
        assert_eq!(k.tag("users"), "app:t:users");
    }

    #[test]
    fn cluster_lock_keys_share_the_data_keys_slot() {
        let k = KeySchema::for_topology("app", true);
        for key in ["user:1", "user:2", "{user}:3", "}{", "{}x", "é", "a}b{c}"] {
            assert_eq!(Slot::for_key(k.lock(key)), Slot::for_key(k.data(key)), "{key}");
        }
        assert_eq!(k.lock("user:1").split(':').nth(2).map(|t| t.starts_with('{')), Some(true));
        assert_eq!(KeySchema::new("app").lock("user:1"), "app:lk:user:1");
        for name in ["nightly", "}odd", "}", "a}b", "{x}"] {
            let (lock, slot) = k.warm(name);
            assert_eq!(Slot::for_key(&lock), Slot::for_key(&slot), "warming keys of {name:?} share a slot");
        }
        assert_eq!(KeySchema::new("app").warm("}odd").0, "app:w:{}odd}:lock", "standalone keeps its keys");
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(validate_key("", 10).unwrap_err().code(), "ERR_STRATACACHE_INVALID_KEY");
        let e = validate_key("abcdefghijk", 10).unwrap_err();
        assert!(e.message().contains("11 bytes"), "{e}");
        assert!(validate_key("é", 2).is_ok());
        assert!(validate_tag("").is_err());
    }
}
