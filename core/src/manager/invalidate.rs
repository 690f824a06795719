//! Invalidation by keys, tags and patterns, in this process and (through Redis and the bus) in every
//! other. Each is exact when it resolves (see `crate::l1`); one that cannot reach Redis clears this
//! process's L1 and rejects, naming what was not propagated (contract §8, `docs/consistency.md` §4).

use super::{random_token, CacheManager};
use crate::bus::MessageKind;
use crate::error::{Error, Result};
use crate::glob::{escape_all, escape_brackets};
use crate::key::validate_tag;

impl CacheManager {
    /// Delete `key` from both tiers, in every process. Returns whether it existed.
    pub async fn del(&self, key: &str) -> Result<bool> {
        let existed = self.remove_keys(&[key.to_owned()]).await? > 0;
        self.metrics.inc(&self.metrics.deletes);
        Ok(existed)
    }

    /// Delete keys from both tiers, in every process (one round trip, one bus message), together with
    /// their load locks (a load in flight then cannot store an older value). Returns how many existed
    /// in Redis (in this L1 when L2 is disabled).
    ///
    /// # Errors
    /// `Connection`/`Timeout` when Redis could not be told (L1 is cleared of the keys anyway).
    pub async fn invalidate_keys(&self, keys: &[String]) -> Result<u64> {
        let n = self.remove_keys(keys).await?;
        self.metrics.add(&self.metrics.invalidated_keys, keys.len() as u64);
        Ok(n)
    }

    async fn remove_keys(&self, keys: &[String]) -> Result<u64> {
        self.check_open()?;
        for k in keys {
            self.check_key(k)?;
        }
        if keys.is_empty() {
            return Ok(0);
        }
        let msg = self.bus.message(MessageKind::Key, keys.to_vec());
        let in_l1 = keys.iter().filter(|k| self.l1.peek(k).is_some()).count() as u64;
        let existed = match &self.l2 {
            Some(l2) => {
                let data_keys: Vec<String> = keys.iter().map(|k| self.keys.data(k)).collect();
                // The load locks go too: a load in flight in any process then cannot store its
                // older result (see `load`).
                let lock_keys: Vec<String> = keys.iter().map(|k| self.keys.lock(k)).collect();
                match l2.unlink(&data_keys, &lock_keys, Some((self.bus.channel(), msg.encode()))).await {
                    Ok(n) => n,
                    Err(e) => {
                        for k in keys {
                            self.l1.remove(k);
                        }
                        return Err(not_propagated("deletion of keys", keys, &e));
                    }
                }
            }
            None => in_l1,
        };
        for k in keys {
            self.l1.remove(k);
        }
        self.bus.emit_local(&msg);
        Ok(existed)
    }

    /// Delete every key matching `glob` (`*`, `?`) from Redis (`SCAN` + `UNLINK` in pages, never
    /// `KEYS`) and from the L1 of every process. Returns how many Redis keys were removed.
    pub async fn invalidate_pattern(&self, glob: &str) -> Result<u64> {
        self.check_open()?;
        if glob.is_empty() {
            return Err(Error::invalid_argument("pattern must be a non-empty glob, got \"\""));
        }
        let msg = self.bus.message(MessageKind::Pattern, vec![glob.to_owned()]);
        let result = match &self.l2 {
            Some(l2) => {
                // Only `*` and `?` are wildcards (as in L1's matcher); brackets and backslashes are literal.
                let pattern = format!("{}{}", escape_all(self.keys.data_prefix()), escape_brackets(glob));
                match l2.scan_unlink(&pattern, 500).await {
                    Ok(n) => l2.publish(self.bus.channel(), msg.encode()).await.map(|_| n),
                    Err(e) => Err(e),
                }
                .map_err(|e| not_propagated("invalidation of pattern", &[glob.to_owned()], &e))
            }
            None => Ok(0),
        };
        self.l1.invalidate_glob(glob);
        if result.is_ok() {
            self.metrics.inc(&self.metrics.invalidated_patterns);
            self.bus.emit_local(&msg);
        }
        result
    }

    /// Invalidate every entry carrying any of `tags`, in every process that reads Redis. O(1) per tag.
    ///
    /// # Errors
    /// `Connection`/`Timeout` when Redis could not be told (L1 is cleared of those tags anyway).
    pub async fn invalidate_by_tags(&self, tags: &[String]) -> Result<()> {
        self.check_open()?;
        for t in tags {
            validate_tag(t)?;
        }
        if tags.is_empty() {
            return Ok(());
        }
        let msg = self.bus.message(MessageKind::Tag, tags.to_vec());
        let result = match &self.l2 {
            Some(l2) => {
                let keys: Vec<String> = tags.iter().map(|t| self.keys.tag(t)).collect();
                let tokens: Vec<[u8; 8]> = tags.iter().map(|_| random_token()).collect();
                l2.bump_tags(&keys, &tokens, Some((self.bus.channel(), msg.encode())))
                    .await
                    .map_err(|e| not_propagated("invalidation of tags", tags, &e))
            }
            None => Ok(()),
        };
        self.l1.invalidate_tags(tags);
        if result.is_ok() {
            self.metrics.add(&self.metrics.invalidated_tags, tags.len() as u64);
            // The local event is the very message other processes receive (same timestamp).
            self.bus.emit_local(&msg);
        }
        result
    }

}

/// The error of an invalidation that did not reach Redis: it was applied to this process's L1 only,
/// so the caller must know that other processes (and Redis) still hold the old values. Contract §8:
/// `del`, `invalidateKeys`, tag and pattern invalidations all reject alike.
fn not_propagated(what: &str, targets: &[String], e: &Error) -> Error {
    let shown: Vec<&str> = targets.iter().take(5).map(String::as_str).collect();
    let more = if targets.len() > 5 { format!(" and {} more", targets.len() - 5) } else { String::new() };
    Error::new(
        e.kind(),
        format!(
            "the {what} {shown:?}{more} did not reach Redis ({}); applied to this process's L1 only, other processes and Redis keep the old values: retry when Redis is back",
            e.message()
        ),
    )
}
