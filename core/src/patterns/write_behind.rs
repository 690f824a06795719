//! Write-behind (`WriteBehindPattern`): the cache is updated at once and the writer runs later.
//!
//! Each instance has its own queue (one pending write per key: a later write to a queued key replaces
//! the earlier one in O(1) and keeps its place) and a background flusher that runs every
//! `flush_interval`, or as soon as `batch_size` writes wait. A flush runs up to `concurrency` writers
//! at once, started in queue order. A failed write is retried with exponential backoff up to
//! `max_retries` times, then handed to the `on_error` hook and counted; a writer or hook that panics
//! counts as a failure, and the flusher goes on. `flush()` drains now; `close()` (called by the
//! system's shutdown) flushes for at most `shutdown_timeout` and stops the flusher.
//!
//! **Bounded** (`docs/limits.md`): at most `max_queue_size` distinct keys wait. A write to a new key
//! when the queue is full waits for room up to `queue_full_timeout`, then fails with
//! `ERR_STRATACACHE_TIMEOUT` without touching the cache (its room is taken before the cache is written).

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
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
    /// Most distinct keys waiting (default [`MAX_QUEUE_SIZE`]).
    pub max_queue_size: usize,
    /// How long a write to a new key waits for room in a full queue before it fails (default 5 s;
    /// 0 fails at once).
    pub queue_full_timeout: Duration,
    /// Writers run at once by a flush (default 8).
    pub concurrency: usize,
    /// How long `close()` (shutdown) flushes before it gives the rest up to `on_error` (default 10 s).
    pub shutdown_timeout: Duration,
    /// How long one writer attempt may take before it counts as failed (default 30 s). A flush ends
    /// when its slowest write does, so this also bounds how long a stuck writer delays the next one.
    pub write_timeout: Duration,
}

/// Default of [`WriteBehindOptions::max_queue_size`].
pub const MAX_QUEUE_SIZE: usize = 100_000;
/// Most distinct keys a queue may be given (`maxQueueSize`).
pub const MAX_QUEUE_SIZE_LIMIT: usize = 10_000_000;

impl Default for WriteBehindOptions {
    fn default() -> Self {
        WriteBehindOptions {
            flush_interval: Duration::from_secs(1),
            max_retries: 3,
            batch_size: 100,
            retry_base: Duration::from_millis(50),
            on_error: None,
            max_queue_size: MAX_QUEUE_SIZE,
            queue_full_timeout: Duration::from_secs(5),
            concurrency: 8,
            shutdown_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for WriteBehindOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehindOptions")
            .field("flush_interval", &self.flush_interval)
            .field("max_retries", &self.max_retries)
            .field("batch_size", &self.batch_size)
            .field("max_queue_size", &self.max_queue_size)
            .field("queue_full_timeout", &self.queue_full_timeout)
            .field("concurrency", &self.concurrency)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("write_timeout", &self.write_timeout)
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

/// The waiting writes: one per key, in the order their keys were first queued.
#[derive(Default)]
struct Queue {
    order: VecDeque<String>,
    items: HashMap<String, Item>,
    /// Room taken by writes on their way in (their cache write is in progress).
    reserved: usize,
}

/// The room a write took in the queue before writing the cache.
enum Room {
    /// A new key: one slot reserved.
    New,
    /// Its key was queued: the write replaces that one.
    Replace,
}

pub(crate) struct Inner {
    manager: Arc<CacheManager>,
    opts: WriteBehindOptions,
    queue: Mutex<Queue>,
    /// Writes taken out of the queue by a flush and not finished yet (for the shutdown deadline).
    running: Mutex<HashMap<String, Arc<str>>>,
    wake: Notify,
    /// Signalled when room is made in the queue.
    room: Notify,
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
                queue: Mutex::new(Queue::default()),
                running: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                room: Notify::new(),
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.inner.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take room for a write of `key`: its queued write's, or a new slot, waiting up to
    /// `queue_full_timeout` for one.
    async fn take_room(&self, key: &str) -> Result<Room> {
        let i = &self.inner;
        let deadline = tokio::time::Instant::now() + i.opts.queue_full_timeout;
        loop {
            let room = i.room.notified();
            tokio::pin!(room);
            room.as_mut().enable(); // registered before the check: no wake-up is missed
            {
                let mut q = self.lock();
                if q.items.contains_key(key) {
                    return Ok(Room::Replace);
                }
                if q.items.len() + q.reserved < i.opts.max_queue_size {
                    q.reserved += 1;
                    return Ok(Room::New);
                }
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(Error::new(
                    crate::ErrorKind::Timeout,
                    format!(
                        "the write-behind queue is full ({} keys waiting, maxQueueSize) and made no room within {} ms; the write of key {key:?} was not made",
                        i.opts.max_queue_size,
                        i.opts.queue_full_timeout.as_millis()
                    ),
                ));
            }
        }
    }

    fn give_back(&self, room: &Room) {
        if matches!(room, Room::New) {
            let mut q = self.lock();
            q.reserved = q.reserved.saturating_sub(1);
        }
        self.inner.room.notify_waiters();
    }

    /// Update the cache now and queue `writer(json)`; a queued write to the same key is replaced.
    ///
    /// # Errors
    /// `ERR_STRATACACHE_CLOSED` after `close()`; `ERR_STRATACACHE_TIMEOUT` when the queue stays full
    /// (then neither the cache nor the queue is changed); what the cache write raised.
    pub async fn write(&self, key: &str, json: &str, writer: Writer, opts: &SetOptions) -> Result<()> {
        let i = &self.inner;
        if i.closed.load(Ordering::Acquire) {
            return Err(Error::new(crate::ErrorKind::Closed, "this write-behind queue has been shut down"));
        }
        i.manager.check_write(key, json, opts)?;
        let room = self.take_room(key).await?;
        if let Err(e) = i.manager.set_json(key, json, opts).await {
            self.give_back(&room);
            return Err(e);
        }
        self.ensure_flusher();
        let len = {
            let mut q = self.lock();
            if matches!(room, Room::New) {
                q.reserved = q.reserved.saturating_sub(1);
            }
            let item = Item { key: key.to_owned(), json: Arc::from(json), writer };
            match q.items.get_mut(key) {
                Some(queued) => {
                    *queued = item; // keeps its place in the queue
                    i.coalesced.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    q.order.push_back(key.to_owned());
                    q.items.insert(key.to_owned(), item);
                }
            }
            q.items.len()
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

    /// Run every queued write now (with retries, up to `concurrency` at once, started in queue
    /// order); returns how many were written.
    pub async fn flush(&self) -> usize {
        let i = &self.inner;
        let _one_at_a_time = i.flushing.lock().await;
        let items: Vec<Item> = {
            let mut q = self.lock();
            let mut items = std::mem::take(&mut q.items);
            std::mem::take(&mut q.order).into_iter().filter_map(|k| items.remove(&k)).collect()
        };
        i.room.notify_waiters();
        if items.is_empty() {
            return 0;
        }
        let m = i.manager.metrics();
        m.inc(&m.write_behind_flushes);
        {
            let mut running = i.running.lock().unwrap_or_else(|p| p.into_inner());
            for it in &items {
                running.insert(it.key.clone(), it.json.clone());
            }
        }
        let outcomes = futures::stream::iter(items)
            .map(|item| async move {
                let ok = self.run(&item).await;
                self.inner.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&item.key);
                ok
            })
            .buffer_unordered(i.opts.concurrency.max(1))
            .collect::<Vec<bool>>()
            .await;
        outcomes.into_iter().filter(|ok| *ok).count()
    }

    /// One attempt of `item`'s writer: a panic (making or running its future) is a failure, and an
    /// attempt that does not settle in `limit` is one too.
    async fn attempt(item: &Item, limit: Duration) -> Result<()> {
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| (item.writer)(item.json.clone())));
        let Ok(fut) = started else {
            return Err(Error::new(crate::ErrorKind::Callback, format!("the writer of key {:?} panicked", item.key)));
        };
        match tokio::time::timeout(limit, AssertUnwindSafe(fut).catch_unwind()).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::new(crate::ErrorKind::Callback, format!("the writer of key {:?} panicked", item.key))),
            Err(_) => Err(Error::new(
                crate::ErrorKind::Timeout,
                format!("the writer of key {:?} did not finish within writeTimeoutMs ({} ms)", item.key, limit.as_millis()),
            )),
        }
    }

    /// Hand a write given up to `on_error` (a panicking hook is logged, never propagated).
    fn give_up(&self, e: Error, key: String, json: Arc<str>) {
        self.inner.failed.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &self.inner.opts.on_error {
            if std::panic::catch_unwind(AssertUnwindSafe(|| hook(e, key.clone(), json))).is_err() {
                tracing::warn!("stratacache: the write-behind onError hook panicked for key {key:?}");
            }
        }
    }

    async fn run(&self, item: &Item) -> bool {
        let i = &self.inner;
        let mut delay = i.opts.retry_base;
        let mut attempt = 0;
        loop {
            let attempt_result = Self::attempt(item, i.opts.write_timeout).await;
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
                    tracing::warn!("stratacache: write-behind of {:?} given up after {attempt} retries: {e}", item.key);
                    self.give_up(e, item.key.clone(), item.json.clone());
                    return false;
                }
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> WriteBehindStats {
        let i = &self.inner;
        WriteBehindStats {
            pending: self.lock().items.len() as u64,
            written: i.written.load(Ordering::Relaxed),
            coalesced: i.coalesced.load(Ordering::Relaxed),
            retries: i.retries.load(Ordering::Relaxed),
            failed: i.failed.load(Ordering::Relaxed),
        }
    }

    /// Flush what is queued, for at most `shutdown_timeout`, then stop the flusher; later writes fail
    /// with `ERR_STRATACACHE_CLOSED`. Writes not made by the deadline go to `on_error` (an
    /// `ERR_STRATACACHE_TIMEOUT` error) and count as failed.
    pub async fn close(&self) {
        let i = &self.inner;
        i.closed.store(true, Ordering::Release);
        i.wake.notify_one();
        i.room.notify_waiters();
        let limit = i.opts.shutdown_timeout;
        if tokio::time::timeout(limit, self.flush()).await.is_ok() {
            return;
        }
        let mut left: Vec<(String, Arc<str>)> = i.running.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        {
            let mut q = self.lock();
            let mut items = std::mem::take(&mut q.items);
            left.extend(std::mem::take(&mut q.order).into_iter().filter_map(|k| items.remove(&k)).map(|it| (it.key, it.json)));
        }
        tracing::warn!("stratacache: write-behind shutdown deadline ({} ms) passed with {} writes not made; they go to onError", limit.as_millis(), left.len());
        for (key, json) in left {
            let e = Error::new(crate::ErrorKind::Timeout, format!("the write of key {key:?} was not made before the write-behind shutdown deadline ({} ms)", limit.as_millis()));
            self.give_up(e, key, json);
        }
    }
}
