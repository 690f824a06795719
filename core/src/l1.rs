//! L1: the in-process tier, a bounded moka cache with a deadline per entry.
//!
//! An entry's deadline is never later than its Redis expiry: entries filled from Redis take their
//! deadline from `PTTL` measured from *before* the command was sent. Fills from Redis race with local
//! writes; [`FillGuard`] (an epoch per key stripe plus a global one) makes sure a fill that started
//! before a write or an invalidation never leaves an older value behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use moka::Expiry;

const STRIPES: usize = 256;

/// One value held in L1.
#[derive(Debug)]
pub struct Entry {
    /// The value as JSON text.
    pub json: Arc<str>,
    /// The tags the value was written with (for local tag invalidation).
    pub tags: Box<[String]>,
    /// When this entry stops being served.
    pub deadline: Instant,
    /// The logical expiry from the envelope, epoch ms (refresh-ahead uses it).
    pub expires_at_ms: u64,
    /// A process-unique id; bindings key their parsed-object memo on it.
    pub id: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Entry {
    /// A new entry with a fresh id.
    pub fn new(json: Arc<str>, tags: Box<[String]>, deadline: Instant, expires_at_ms: u64) -> Self {
        Entry { json, tags, deadline, expires_at_ms, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) }
    }
}

struct DeadlineExpiry;

impl Expiry<String, Arc<Entry>> for DeadlineExpiry {
    fn expire_after_create(&self, _: &String, v: &Arc<Entry>, now: Instant) -> Option<Duration> {
        Some(v.deadline.saturating_duration_since(now))
    }
    fn expire_after_update(
        &self,
        _: &String,
        v: &Arc<Entry>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.deadline.saturating_duration_since(now))
    }
}

/// The L1 tier. Disabled (`enable_l1: false`) it stores nothing and every lookup misses.
pub struct L1 {
    cache: Option<Cache<String, Arc<Entry>>>,
    max_size: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    global_epoch: AtomicU64,
    stripes: Box<[AtomicU64]>,
}

/// A snapshot of the epochs a fill must still see unchanged after it inserted.
#[derive(Debug, Clone, Copy)]
pub struct FillGuard {
    global: u64,
    stripe: usize,
    stripe_epoch: u64,
}

fn stripe_of(key: &str) -> usize {
    // FNV-1a: cheap and good enough to spread keys over stripes.
    let mut h: u32 = 0x811c_9dc5;
    for b in key.as_bytes() {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h as usize % STRIPES
}

impl L1 {
    /// A new L1 holding at most `max_size` entries, or a disabled one.
    pub fn new(enabled: bool, max_size: u64) -> Self {
        let cache = (enabled && max_size > 0).then(|| {
            Cache::builder()
                .max_capacity(max_size)
                .expire_after(DeadlineExpiry)
                .support_invalidation_closures()
                .build()
        });
        L1 {
            cache,
            max_size,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            global_epoch: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether L1 stores anything.
    pub fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// Look `key` up, counting a hit or a miss. Never blocks on I/O.
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let found = self.peek(key);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Look `key` up without counting.
    pub fn peek(&self, key: &str) -> Option<Arc<Entry>> {
        let e = self.cache.as_ref()?.get(key)?;
        (e.deadline > Instant::now()).then_some(e)
    }

    /// Take a snapshot before reading Redis for `key`.
    pub fn fill_guard(&self, key: &str) -> FillGuard {
        let stripe = stripe_of(key);
        FillGuard {
            global: self.global_epoch.load(Ordering::Acquire),
            stripe,
            stripe_epoch: self.stripes[stripe].load(Ordering::Acquire),
        }
    }

    fn guard_holds(&self, g: &FillGuard) -> bool {
        self.global_epoch.load(Ordering::Acquire) == g.global
            && self.stripes[g.stripe].load(Ordering::Acquire) == g.stripe_epoch
    }

    /// Insert a value read from Redis, unless a local write or invalidation happened since `guard`.
    pub fn fill(&self, key: &str, entry: Arc<Entry>, guard: FillGuard) {
        let Some(cache) = &self.cache else { return };
        if entry.deadline <= Instant::now() || !self.guard_holds(&guard) {
            return;
        }
        cache.insert(key.to_owned(), entry);
        if !self.guard_holds(&guard) {
            // A writer raced us; its value (or its removal) must win, so drop ours.
            cache.invalidate(key);
        }
    }

    /// Insert a value this process just wrote to Redis, unless something else changed `key` since
    /// `guard` was taken before the write (a remote delete or invalidation that Redis applied after
    /// this write must win; then the key is removed instead).
    pub fn put_guarded(&self, key: &str, entry: Arc<Entry>, guard: FillGuard) {
        self.bump(key);
        let Some(cache) = &self.cache else { return };
        let untouched = |g: &FillGuard| {
            self.global_epoch.load(Ordering::Acquire) == g.global
                && self.stripes[g.stripe].load(Ordering::Acquire) == g.stripe_epoch + 1
        };
        if untouched(&guard) {
            cache.insert(key.to_owned(), entry);
            if untouched(&guard) {
                return;
            }
        }
        cache.invalidate(key);
    }

    /// Insert a value this process just wrote.
    pub fn put(&self, key: &str, entry: Arc<Entry>) {
        self.bump(key);
        if let Some(cache) = &self.cache {
            cache.insert(key.to_owned(), entry);
        }
    }

    /// Remove `key`.
    pub fn remove(&self, key: &str) {
        self.bump(key);
        if let Some(cache) = &self.cache {
            cache.invalidate(key);
        }
    }

    /// Remove every entry carrying any of `tags`.
    pub fn invalidate_tags(&self, tags: &[String]) {
        self.global_epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.cache {
            let tags: Vec<String> = tags.to_vec();
            cache
                .invalidate_entries_if(move |_, v| v.tags.iter().any(|t| tags.contains(t)))
                .expect("invalidation closures are enabled");
        }
    }

    /// Remove every entry whose key matches the glob (`*`, `?`).
    pub fn invalidate_glob(&self, glob: &str) {
        self.global_epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.cache {
            let glob = glob.to_owned();
            cache
                .invalidate_entries_if(move |k, _| crate::patterns::glob_match(&glob, k))
                .expect("invalidation closures are enabled");
        }
    }

    /// Remove everything (after a Redis outage: another process may have invalidated meanwhile).
    pub fn clear(&self) {
        self.global_epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    fn bump(&self, key: &str) {
        self.stripes[stripe_of(key)].fetch_add(1, Ordering::AcqRel);
    }

    /// Entries currently held (approximate until pending maintenance runs).
    pub fn size(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        })
    }

    /// Configured capacity.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str, ttl_ms: u64, tags: &[&str]) -> Arc<Entry> {
        Arc::new(Entry::new(
            json.into(),
            tags.iter().map(|t| t.to_string()).collect(),
            Instant::now() + Duration::from_millis(ttl_ms),
            0,
        ))
    }

    #[test]
    fn deadline_is_respected() {
        let l1 = L1::new(true, 10);
        l1.put("a", entry("1", 30, &[]));
        assert!(l1.get("a").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l1.get("a").is_none());
        assert_eq!(l1.counts(), (1, 1));
    }

    #[test]
    fn a_fill_that_raced_a_write_is_dropped() {
        let l1 = L1::new(true, 10);
        let g = l1.fill_guard("k");
        l1.put("k", entry("\"new\"", 10_000, &[]));
        l1.fill("k", entry("\"old\"", 10_000, &[]), g);
        assert_eq!(&*l1.peek("k").unwrap().json, "\"new\"");
        let g = l1.fill_guard("k");
        l1.invalidate_tags(&["x".into()]);
        l1.fill("k", entry("\"stale\"", 10_000, &[]), g);
        assert_eq!(&*l1.peek("k").unwrap().json, "\"new\"");
    }

    #[test]
    fn a_write_that_raced_a_remote_delete_does_not_resurrect_the_value() {
        let l1 = L1::new(true, 10);
        let g = l1.fill_guard("k");
        l1.remove("k"); // a bus message applied while our SET was in flight (Redis applied it after)
        l1.put_guarded("k", entry("\"mine\"", 10_000, &[]), g);
        assert!(l1.peek("k").is_none());
        let g = l1.fill_guard("k");
        l1.put_guarded("k", entry("\"mine\"", 10_000, &[]), g);
        assert!(l1.peek("k").is_some(), "an undisturbed write is cached");
    }

    #[test]
    fn tag_invalidation_removes_only_tagged() {
        let l1 = L1::new(true, 10);
        l1.put("a", entry("1", 10_000, &["t1"]));
        l1.put("b", entry("2", 10_000, &["t2"]));
        l1.invalidate_tags(&["t1".into()]);
        assert!(l1.peek("a").is_none());
        assert!(l1.peek("b").is_some());
    }

    #[test]
    fn disabled_stores_nothing() {
        let l1 = L1::new(false, 10);
        l1.put("a", entry("1", 10_000, &[]));
        assert!(l1.get("a").is_none());
    }
}
