//! Write-behind (`WriteBehindPattern`): the cache is updated at once and the writer runs later.
//!
//! Each instance has its own queue (one pending write per key: a later write to a queued key replaces
//! the earlier one) and a background flusher that runs every `flush_interval`, or as soon as
//! `batch_size` writes wait. A failed write is retried with exponential backoff up to `max_retries`
//! times, then handed to the `on_error` hook and counted. `flush()` drains now; `close()` (called by
//! the system's shutdown) flushes and stops the flusher.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::tasks::Stage;

use super::Writer;
use crate::error::{Error, Result};
use crate::manager::CacheManager;
use crate::options::SetOptions;

/// Called once for each write given up: `(error, key, json)`.
pub type ErrorHook = Arc<dyn Fn(Error, String, Arc<str>) + Send + Sync>;

/// Options of a write-behind instance.
#[derive(Clone)]
#[non_exhaustive]
pub struct WriteBehindOptions {
    /// How often the queue is flushed (default 1 s).
    pub flush_interval: Duration,
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// Flush as soon as this many writes wait (default 100).
    pub batch_size: usize,
    /// First retry delay; doubles each retry, capped at 1 s (default 50 ms).
    pub retry_base: Duration,
    /// Dead-letter hook.
    pub on_error: Option<ErrorHook>,
}

impl Default for WriteBehindOptions {
    fn default() -> Self {
        WriteBehindOptions {
            flush_interval: Duration::from_secs(1),
            max_retries: 3,
            batch_size: 100,
            retry_base: Duration::from_millis(50),
            on_error: None,
        }
    }
}

impl std::fmt::Debug for WriteBehindOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehindOptions")
            .field("flush_interval", &self.flush_interval)
            .field("max_retries", &self.max_retries)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

/// Counters of one write-behind instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteBehindStats {
    /// Writes waiting now.
    pub pending: u64,
    /// Writer calls that succeeded.
    pub written: u64,
    /// Writes replaced by a later write to the same key before they ran.
    pub coalesced: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Writes given up after `max_retries` (handed to `on_error`).
    pub failed: u64,
}

struct Item {
    key: String,
    json: Arc<str>,
    writer: Writer,
}

pub(crate) struct Inner {
    manager: Arc<CacheManager>,
    opts: WriteBehindOptions,
    queue: Mutex<VecDeque<Item>>,
    wake: Notify,
    flushing: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    started: AtomicBool,
    written: AtomicU64,
    coalesced: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
}

/// One write-behind instance. Cheap to clone (clones share the queue).
#[derive(Clone)]
pub struct WriteBehind {
    inner: Arc<Inner>,
}

impl WriteBehind {
    pub(crate) fn new(manager: Arc<CacheManager>, opts: WriteBehindOptions) -> Self {
        WriteBehind {
            inner: Arc::new(Inner {
                manager,
                opts,
                queue: Mutex::new(VecDeque::new()),
                wake: Notify::new(),
                flushing: tokio::sync::Mutex::new(()),
                closed: AtomicBool::new(false),
                started: AtomicBool::new(false),
                written: AtomicU64::new(0),
                coalesced: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(w: &Weak<Inner>) -> Option<WriteBehind> {
        w.upgrade().map(|inner| WriteBehind { inner })
    }

    /// Update the cache now and queue `writer(json)`; a queued write to the same key is replaced.
    pub async fn write(&self, key: &str, json: &str, writer: Writer, opts: &SetOptions) -> Result<()> {
        let i = &self.inner;
        if i.closed.load(Ordering::Acquire) {
            return Err(Error::new(crate::ErrorKind::Closed, "this write-behind queue has been shut down"));
        }
        i.manager.set_json(key, json, opts).await?;
        self.ensure_flusher();
        let len = {
            let mut q = i.queue.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pos) = q.iter().position(|it| it.key == key) {
                q.remove(pos);
                i.coalesced.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(Item { key: key.to_owned(), json: Arc::from(json), writer });
            q.len()
        };
        if i.closed.load(Ordering::Acquire) {
            // close() ran while this write was on its way: flush it here instead of losing it.
            self.flush().await;
        } else if len >= i.opts.batch_size {
            i.wake.notify_one();
        }
        Ok(())
    }

    fn ensure_flusher(&self) {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        // The task holds only a weak reference: dropping every handle ends it.
        let weak = Arc::downgrade(&self.inner);
        let interval = self.inner.opts.flush_interval;
        self.inner.manager.tasks().spawn("write-behind flusher", Stage::Periodic, async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                if inner.closed.load(Ordering::Acquire) {
                    return;
                }
                let wake = async { inner.wake.notified().await };
                let _ = tokio::time::timeout(interval, wake).await;
                if inner.closed.load(Ordering::Acquire) {
                    return;
                }
                WriteBehind { inner }.flush().await;
            }
        });
    }

    /// Run every queued write now (with retries); returns how many were written.
    pub async fn flush(&self) -> usize {
        let i = &self.inner;
        let _one_at_a_time = i.flushing.lock().await;
        let items: Vec<Item> = i.queue.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        if !items.is_empty() {
            let m = i.manager.metrics();
            m.inc(&m.write_behind_flushes);
        }
        let mut written = 0;
        for item in items {
            if self.run(&item).await {
                written += 1;
            }
        }
        written
    }

    async fn run(&self, item: &Item) -> bool {
        let i = &self.inner;
        let mut delay = i.opts.retry_base;
        let mut attempt = 0;
        loop {
            // A writer that never settles must not wedge the queue (or shutdown): 30 s per attempt.
            let attempt_result = match tokio::time::timeout(Duration::from_secs(30), (item.writer)(item.json.clone())).await {
                Ok(r) => r,
                Err(_) => Err(Error::new(crate::ErrorKind::Timeout, format!("the writer of key {:?} did not finish within 30 s", item.key))),
            };
            match attempt_result {
                Ok(()) => {
                    i.written.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(e) if attempt < i.opts.max_retries => {
                    attempt += 1;
                    i.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("stratacache: write-behind of {:?} failed (attempt {attempt}): {e}", item.key);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    i.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("stratacache: write-behind of {:?} given up after {attempt} retries: {e}", item.key);
                    if let Some(hook) = &i.opts.on_error {
                        hook(e, item.key.clone(), item.json.clone());
                    }
                    return false;
                }
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> WriteBehindStats {
        let i = &self.inner;
        WriteBehindStats {
            pending: i.queue.lock().unwrap_or_else(|p| p.into_inner()).len() as u64,
            written: i.written.load(Ordering::Relaxed),
            coalesced: i.coalesced.load(Ordering::Relaxed),
            retries: i.retries.load(Ordering::Relaxed),
            failed: i.failed.load(Ordering::Relaxed),
        }
    }

    /// Flush what is queued, then stop the flusher; later writes fail with `ERR_STRATACACHE_CLOSED`.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        self.flush().await;
    }
}
