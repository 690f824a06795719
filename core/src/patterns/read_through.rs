//! Read-through (`readThrough.registerLoader` / `read`): loaders registered by glob pattern; the
//! most specific pattern wins (an exact pattern beats any wildcard; among wildcards the longer literal
//! part wins; ties go to the earlier registration), then cache-aside does the rest.

use std::sync::{Arc, RwLock};

use super::{AsideOptions, CacheAside, KeyLoader, Loader};
use crate::callbacks::CallContext;
use crate::glob::glob_match;
use crate::error::{Error, ErrorKind, Result};

fn specificity(pattern: &str) -> (bool, usize) {
    let wild = pattern.contains(['*', '?']);
    (!wild, pattern.chars().filter(|c| *c != '*' && *c != '?').count())
}

/// Read-through loaders by glob pattern. Cheap to clone (clones share the loaders): the bindings keep
/// one per process so that loaders outlive a system (see `Registries`).
#[derive(Clone, Default)]
pub struct Loaders {
    table: Arc<RwLock<Vec<(String, KeyLoader)>>>,
}

impl Loaders {
    /// Register `loader` for keys matching `pattern`; a pattern registered again is replaced.
    ///
    /// # Errors
    /// An empty pattern.
    pub fn register(&self, pattern: &str, loader: KeyLoader) -> Result<()> {
        if pattern.is_empty() {
            return Err(Error::invalid_argument("pattern must be a non-empty glob, got \"\""));
        }
        let mut l = self.table.write().unwrap_or_else(|p| p.into_inner());
        match l.iter_mut().find(|(p, _)| p == pattern) {
            Some(entry) => entry.1 = loader,
            None => l.push((pattern.to_owned(), loader)),
        }
        Ok(())
    }

    /// Remove the loader of `pattern`; returns whether there was one.
    pub fn unregister(&self, pattern: &str) -> bool {
        let mut l = self.table.write().unwrap_or_else(|p| p.into_inner());
        let before = l.len();
        l.retain(|(p, _)| p != pattern);
        l.len() != before
    }

    /// The loader for `key`: the most specific matching pattern.
    fn loader_for(&self, key: &str) -> Result<(String, KeyLoader)> {
        let l = self.table.read().unwrap_or_else(|p| p.into_inner());
        let mut best: Option<&(String, KeyLoader)> = None;
        for entry in l.iter().filter(|(p, _)| glob_match(p, key)) {
            if best.is_none_or(|b| specificity(&entry.0) > specificity(&b.0)) {
                best = Some(entry);
            }
        }
        best.cloned().ok_or_else(|| {
            let patterns: Vec<&str> = l.iter().map(|(p, _)| p.as_str()).collect();
            Error::new(ErrorKind::NoLoader, format!("no read-through loader matches key {key:?} (registered patterns: {patterns:?})"))
        })
    }
}

/// The read-through pattern of one system. Cheap to clone.
#[derive(Clone)]
pub struct ReadThrough {
    aside: CacheAside,
    loaders: Loaders,
}

impl ReadThrough {
    pub(crate) fn new(aside: CacheAside, loaders: Loaders) -> Self {
        ReadThrough { aside, loaders }
    }

    /// Register `loader` for keys matching `pattern`; a pattern registered again is replaced.
    ///
    /// # Errors
    /// An empty pattern.
    pub fn register_loader(&self, pattern: &str, loader: KeyLoader) -> Result<()> {
        self.loaders.register(pattern, loader)
    }

    /// Remove the loader of `pattern`; returns whether there was one.
    pub fn unregister_loader(&self, pattern: &str) -> bool {
        self.loaders.unregister(pattern)
    }

    /// The value of `key`: a hit, or the matching loader's result through cache-aside (single-flight).
    pub async fn read(&self, key: &str, opts: &AsideOptions) -> Result<Option<Arc<str>>> {
        self.read_with_context(key, opts, None).await
    }

    /// [`ReadThrough::read`], handing `context` to the loader.
    pub async fn read_with_context(&self, key: &str, opts: &AsideOptions, context: CallContext) -> Result<Option<Arc<str>>> {
        match self.loaders.loader_for(key) {
            Ok((_, loader)) => {
                let k = key.to_owned();
                let bound: Loader = Arc::new(move || loader(k.clone(), &context));
                self.aside.get(key, bound, opts).await
            }
            // No loader: a cached value is still served; otherwise say which patterns exist.
            Err(no_loader) => match self.aside.get_cached(key).await? {
                Some(v) => Ok(Some(v)),
                None => Err(no_loader),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_wildcard_and_longer_literal_wins() {
        assert!(specificity("user:1") > specificity("user:*"));
        assert!(specificity("user:admin:*") > specificity("user:*"));
        assert!(specificity("user:*") > specificity("*"));
    }
}
