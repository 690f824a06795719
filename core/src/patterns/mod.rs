//! Cache patterns over the cache manager: cache-aside with single-flight and a cross-process load
//! lock, refresh-ahead, write-through, write-behind and read-through.
//!
//! User callbacks (loaders, writers) are async functions that produce or take **JSON text**; the
//! bindings adapt JS functions and Python coroutines to them once. A callback's failure travels as
//! an [`ErrorKind::Callback`](crate::ErrorKind::Callback) error whose payload is what the callback
//! raised, so every waiter gets that same object back.

use std::sync::{Arc, Mutex, Weak};

use futures::future::BoxFuture;

use crate::manager::CacheManager;

mod batch;
mod cache_aside;
mod coalesce;
mod lock;
mod read_through;
mod write_behind;
mod write_through;

pub use cache_aside::{AsideOptions, CacheAside, RefreshOptions, FAIL_SAFE_MAX_DURATION, FAIL_SAFE_THROTTLE};
pub use coalesce::{Coalescer, Entered, Lead, Settled};
pub use lock::LoadLock;
pub use read_through::{Loaders, ReadThrough};

pub use write_behind::{ErrorHook, WriteBehind, WriteBehindOptions, WriteBehindStats, MAX_QUEUE_SIZE, MAX_QUEUE_SIZE_LIMIT};
pub use write_through::WriteThrough;

/// What a loader returns: the JSON text of the value, or `None` (nothing to cache).
pub type LoadFuture = BoxFuture<'static, crate::Result<Option<String>>>;
/// A cache-aside loader (the key is known to the caller).
pub type Loader = Arc<dyn Fn() -> LoadFuture + Send + Sync>;
pub use crate::callbacks::CallContext;
/// A read-through loader, given the key and the caller's context.
pub type KeyLoader = Arc<dyn Fn(String, &CallContext) -> LoadFuture + Send + Sync>;
/// A writer (write-through, write-behind), given the value's JSON text.
pub type Writer = Arc<dyn Fn(Arc<str>) -> BoxFuture<'static, crate::Result<()>> + Send + Sync>;

/// Every pattern of one system.
pub(crate) struct Patterns {
    pub(crate) cache_aside: CacheAside,
    pub(crate) write_through: WriteThrough,
    pub(crate) read_through: ReadThrough,
    pub(crate) write_behind: WriteBehind,
    manager: Arc<CacheManager>,
    behinds: Mutex<Vec<Weak<write_behind::Inner>>>,
}

impl Patterns {
    pub(crate) fn new(manager: Arc<CacheManager>, loaders: Loaders) -> Self {
        let cache_aside = CacheAside::new(manager.clone());
        Patterns {
            write_through: WriteThrough::new(manager.clone()),
            read_through: ReadThrough::new(cache_aside.clone(), loaders),
            write_behind: WriteBehind::new(manager.clone(), WriteBehindOptions::default()),
            cache_aside,
            manager,
            behinds: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn new_write_behind(&self, opts: WriteBehindOptions) -> WriteBehind {
        let wb = WriteBehind::new(self.manager.clone(), opts);
        let mut list = self.behinds.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.push(wb.downgrade());
        wb
    }

    /// The counters of every write-behind instance of this system, summed.
    pub(crate) fn write_behind_totals(&self) -> WriteBehindStats {
        let others: Vec<WriteBehind> = {
            let list = self.behinds.lock().unwrap_or_else(|p| p.into_inner());
            list.iter().filter_map(WriteBehind::upgrade).collect()
        };
        let mut t = self.write_behind.stats();
        for s in others.iter().map(WriteBehind::stats) {
            t.pending += s.pending;
            t.written += s.written;
            t.coalesced += s.coalesced;
            t.retries += s.retries;
            t.failed += s.failed;
        }
        t
    }

    /// Flush every write-behind instance now (they keep running); returns how many writes were made.
    pub(crate) async fn flush_write_behind(&self) -> usize {
        let others: Vec<WriteBehind> = {
            let list = self.behinds.lock().unwrap_or_else(|p| p.into_inner());
            list.iter().filter_map(WriteBehind::upgrade).collect()
        };
        let mut written = self.write_behind.flush().await;
        for wb in others {
            written += wb.flush().await;
        }
        written
    }

    /// Flush and stop every write-behind instance.
    pub(crate) async fn close(&self) {
        let others: Vec<WriteBehind> = {
            let list = self.behinds.lock().unwrap_or_else(|p| p.into_inner());
            list.iter().filter_map(WriteBehind::upgrade).collect()
        };
        self.write_behind.close().await;
        for wb in others {
            wb.close().await;
        }
    }
}
