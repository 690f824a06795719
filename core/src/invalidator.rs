//! `cacheInvalidator` and `domainInvalidator`: invalidation by keys, tags and patterns, in every
//! process (through the bus), with listeners; and per-domain rules mapping an id to what to invalidate.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::bus::{InvalidationEvent, Listener};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::CacheManager;
use crate::callbacks::CallContext;

/// Invalidation by keys, tags and glob patterns, reaching every process's L1.
#[derive(Clone)]
pub struct CacheInvalidator {
    manager: Arc<CacheManager>,
}

impl CacheInvalidator {
    pub(crate) fn new(manager: Arc<CacheManager>) -> Self {
        CacheInvalidator { manager }
    }

    /// Invalidate every entry carrying any of `tags`.
    pub async fn invalidate_tags(&self, tags: &[String]) -> Result<()> {
        self.manager.invalidate_by_tags(tags).await
    }

    /// Delete `keys`; returns how many existed.
    pub async fn invalidate_keys(&self, keys: &[String]) -> Result<u64> {
        self.manager.invalidate_keys(keys).await
    }

    /// Delete every key matching `glob`; returns how many Redis keys were removed.
    pub async fn invalidate_pattern(&self, glob: &str) -> Result<u64> {
        self.manager.invalidate_pattern(glob).await
    }

    /// Call `listener` for every invalidation in any process (local ones included); returns an id
    /// for [`CacheInvalidator::off_invalidation`].
    pub fn on_invalidation(&self, listener: Listener) -> u64 {
        self.manager.bus().on(listener)
    }

    /// Remove a listener; returns whether it was there.
    pub fn off_invalidation(&self, id: u64) -> bool {
        self.manager.bus().off(id)
    }
}

/// What a domain rule says to invalidate for one id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainTargets {
    /// Keys to delete.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Tags to invalidate.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Glob patterns to delete.
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// A domain rule: an id → what to invalidate (async so bindings can call JS or Python).
pub type DomainRule = Arc<dyn Fn(String, &CallContext) -> BoxFuture<'static, Result<DomainTargets>> + Send + Sync>;

/// The built-in rules of the usage guide's conventions.
pub fn builtin_targets(domain: &str, id: &str) -> Option<DomainTargets> {
    let t = |keys: Vec<String>, tags: Vec<String>| Some(DomainTargets { keys, tags, patterns: Vec::new() });
    match domain {
        "ticket" => t(vec![format!("ticket:{id}")], vec![format!("ticket:{id}"), "tickets".into(), "dashboard".into()]),
        "user" => t(vec![format!("user:{id}")], vec![format!("user:{id}")]),
        "product" => t(vec![format!("product:{id}")], vec![format!("product:{id}"), "products".into()]),
        "category" => t(vec![format!("category:{id}")], vec![format!("category:{id}"), "categories".into()]),
        _ => None,
    }
}

/// What a binding's domain rule returned for `id` (JSON text; `None` when it returned nothing), checked
/// completely before anything is invalidated: an object with only `keys`, `tags` and `patterns`, each
/// an array of non-empty strings. Anything else is `ERR_STRATACACHE_INVALID_ARGUMENT` naming the
/// domain, the id and what was wrong.
pub fn targets_from_json(domain: &str, id: &str, json: Option<&str>) -> Result<DomainTargets> {
    let bad = |what: String| {
        Error::invalid_argument(format!(
            "the rule of domain {domain:?} must return {{ keys?, tags?, patterns? }} (arrays of non-empty strings) for id {id:?}, got {what}"
        ))
    };
    let Some(text) = json else { return Err(bad("nothing".into())) };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("{}: {e}", shown_text(text))))?;
    let serde_json::Value::Object(fields) = value else { return Err(bad(shown(&value))) };
    let mut t = DomainTargets::default();
    for (field, list) in fields {
        let slot = match field.as_str() {
            "keys" => &mut t.keys,
            "tags" => &mut t.tags,
            "patterns" => &mut t.patterns,
            _ => return Err(bad(format!("an unknown field {field:?}"))),
        };
        let serde_json::Value::Array(items) = list else { return Err(bad(format!("{field}: {}", shown(&list)))) };
        for (i, item) in items.into_iter().enumerate() {
            match item {
                serde_json::Value::String(s) if !s.is_empty() => slot.push(s),
                other => return Err(bad(format!("{field}[{i}]: {}", shown(&other)))),
            }
        }
    }
    Ok(t)
}

fn shown(v: &serde_json::Value) -> String {
    shown_text(&v.to_string())
}

fn shown_text(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Registered domain rules by domain. Cheap to clone (clones share the rules): the bindings keep one
/// per process so that rules outlive a system (see `Registries`).
#[derive(Clone, Default)]
pub struct DomainRules {
    table: Arc<RwLock<HashMap<String, DomainRule>>>,
}

impl DomainRules {
    /// Register (or replace) the rule of `domain`.
    ///
    /// # Errors
    /// An empty domain.
    pub fn register(&self, domain: &str, rule: DomainRule) -> Result<()> {
        if domain.is_empty() {
            return Err(Error::invalid_argument("domain must be a non-empty string, got \"\""));
        }
        self.table.write().unwrap_or_else(|p| p.into_inner()).insert(domain.to_owned(), rule);
        Ok(())
    }

    /// Remove the registered rule of `domain` (a built-in domain falls back to its built-in rule);
    /// returns whether there was one.
    pub fn unregister(&self, domain: &str) -> bool {
        self.table.write().unwrap_or_else(|p| p.into_inner()).remove(domain).is_some()
    }

    fn get(&self, domain: &str) -> Option<DomainRule> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).get(domain).cloned()
    }
}

/// Domain rules: `register(domain, id => targets)`, `invalidate(domain, id)`, and the built-ins.
#[derive(Clone)]
pub struct DomainInvalidator {
    invalidator: CacheInvalidator,
    rules: DomainRules,
}

impl DomainInvalidator {
    pub(crate) fn new(invalidator: CacheInvalidator, rules: DomainRules) -> Self {
        DomainInvalidator { invalidator, rules }
    }

    /// Register (or replace) the rule of `domain`.
    ///
    /// # Errors
    /// An empty domain.
    pub fn register(&self, domain: &str, rule: DomainRule) -> Result<()> {
        self.rules.register(domain, rule)
    }

    /// Remove the registered rule of `domain`; returns whether there was one.
    pub fn unregister(&self, domain: &str) -> bool {
        self.rules.unregister(domain)
    }

    /// Invalidate what `domain`'s rule (a registered one, else a built-in) says for `id`.
    pub async fn invalidate(&self, domain: &str, id: &str) -> Result<DomainTargets> {
        self.invalidate_with_context(domain, id, None).await
    }

    /// [`DomainInvalidator::invalidate`], handing `context` to a registered rule.
    pub async fn invalidate_with_context(&self, domain: &str, id: &str, context: CallContext) -> Result<DomainTargets> {
        if domain.is_empty() {
            return Err(Error::invalid_argument("domain must be a non-empty string, got \"\""));
        }
        if id.is_empty() {
            return Err(Error::invalid_argument(format!("id must be a non-empty string or a number, got \"\" (domain {domain:?})")));
        }
        let rule = self.rules.get(domain);
        let targets = match rule {
            Some(rule) => rule(id.to_owned(), &context).await?,
            None => builtin_targets(domain, id).ok_or_else(|| {
                Error::new(ErrorKind::InvalidArgument, format!("no invalidation rule for domain {domain:?}; register one first"))
            })?,
        };
        // Check every target before applying any, so a bad one never leaves a half-done invalidation.
        for k in &targets.keys {
            crate::key::validate_key(k, self.invalidator.manager.config().max_key_bytes)?;
        }
        for t in &targets.tags {
            crate::key::validate_tag(t)?;
        }
        if targets.patterns.iter().any(|p| p.is_empty()) {
            return Err(Error::invalid_argument(format!("the rule of domain {domain:?} returned an empty pattern")));
        }
        if !targets.keys.is_empty() {
            self.invalidator.invalidate_keys(&targets.keys).await?;
        }
        if !targets.tags.is_empty() {
            self.invalidator.invalidate_tags(&targets.tags).await?;
        }
        for p in &targets.patterns {
            self.invalidator.invalidate_pattern(p).await?;
        }
        Ok(targets)
    }
}

/// An event as JSON text for the bindings: `{type, target, source, timestamp, local}`.
pub fn event_json(e: &InvalidationEvent) -> String {
    serde_json::json!({
        "type": e.kind.as_str(),
        "target": e.target,
        "source": e.source,
        "timestamp": e.timestamp,
        "local": e.local,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_result_is_checked_completely() {
        let ok = targets_from_json("order", "7", Some(r#"{"keys":["order:7"],"tags":["orders"]}"#)).unwrap();
        assert_eq!(ok.keys, vec!["order:7"]);
        assert_eq!(ok.tags, vec!["orders"]);
        for (json, says) in [
            (None, "got nothing"),
            (Some("42"), "got 42"),
            (Some(r#"{"keys":"a"}"#), r#"keys: "a""#),
            (Some(r#"{"keys":[1]}"#), "keys[0]: 1"),
            (Some(r#"{"keys":["a"],"patterns":[""]}"#), r#"patterns[0]: """#),
            (Some(r#"{"kees":["a"]}"#), r#"an unknown field "kees""#),
            (Some(r#"{"tags":null}"#), "tags: null"),
            (Some(r#"{"keys":[null]}"#), "keys[0]: null"),
        ] {
            let e = targets_from_json("order", "7", json).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains("\"order\"") && e.message().contains("\"7\"") && e.message().contains(says), "{e}");
        }
    }
}
