//! Write-through (`writeThrough.write`): the writer first; the cache only when it succeeded.

use std::sync::Arc;

use super::Writer;
use crate::error::Result;
use crate::manager::CacheManager;
use crate::options::SetOptions;

/// Write-through over one cache manager.
#[derive(Clone)]
pub struct WriteThrough {
    manager: Arc<CacheManager>,
}

impl WriteThrough {
    pub(crate) fn new(manager: Arc<CacheManager>) -> Self {
        WriteThrough { manager }
    }

    /// Validate, run `writer(json)`, and only when it succeeded store `json` under `key`.
    ///
    /// # Errors
    /// Bad input (before the writer runs), or what the writer raised (the cache is untouched).
    pub async fn write(&self, key: &str, json: &str, writer: Writer, opts: &SetOptions) -> Result<()> {
        self.manager.check_write(key, json, opts)?;
        let value: Arc<str> = Arc::from(json);
        writer(value).await?;
        self.manager.set_json(key, json, opts).await
    }
}
