//! L1: the in-process tier, a bounded moka cache with a deadline per entry, made exact by checks of
//! its own.
//!
//! Correctness never rests on moka's lazy or background maintenance (its `invalidate_entries_if` and
//! `invalidate_all` compare entry timestamps with a registration time, and entries stamped around that
//! moment escape). Instead:
//!
//! - **A sequence.** L1 keeps a counter. Every entry records `born`: the counter's value when the
//!   value was read from Redis or written (before the round trip, see [`FillGuard`]).
//! - **Tags** are invalidated in O(1): each invalidated tag gets a *mark* (the next counter value).
//!   A lookup serves an entry only if none of its tags has a mark newer than the entry. One atomic
//!   load answers for the common case (the entry is newer than every mark); otherwise one map lookup
//!   per tag, after which the entry remembers up to which mark it was checked.
//! - **Clears** (after a bus gap, or when the mark table is full) set a floor: entries born before it
//!   are never served.
//! - **Keys** are removed from moka directly (exact); **patterns** remove every matching entry in
//!   one synchronous sweep before the call returns.
//! - **Fills that raced** a write or invalidation of their key (or a pattern sweep) are dropped by
//!   [`FillGuard`]: an epoch per key stripe and one for sweeps, checked again after the insert.
//! - **Trust.** While the invalidation bus is down L1 is *untrusted*: it keeps serving for
//!   [`UNTRUSTED_SERVE`] after the bus was found down (so a short blip or a Redis restart keeps the
//!   degraded mode of contract §6), then every lookup misses until the bus is back and L1 has been
//!   cleared. With the bus's detection time (≤ 2 s) no invalidation made elsewhere is missed for
//!   more than 4.5 s (contract §8: at most 5 s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use moka::Expiry;

const STRIPES: usize = 1024;

/// How long an untrusted L1 still serves after the bus was found down, by default (the cache option
/// `busStaleMs` changes it).
pub const UNTRUSTED_SERVE: Duration = Duration::from_millis(2_500);

/// Largest `l1MaxBytes` (a weigher counts in `u32`s; moka sums them in a `u64`).
pub const MAX_BYTES_LIMIT: u64 = 1 << 40;

/// Bytes an entry weighs besides its key, JSON text and tags (the entry and map bookkeeping).
const ENTRY_OVERHEAD: u64 = 160;

/// Most tag marks kept before L1 is cleared and the table starts over (bounds memory in a process
/// that invalidates many distinct tags; documented in `docs/consistency.md`).
pub const MAX_TAG_MARKS: usize = 65_536;

/// One value held in L1.
#[derive(Debug)]
pub struct Entry {
    /// The value as JSON text.
    pub json: Arc<str>,
    /// The tags the value was written with (for local tag invalidation).
    pub tags: Box<[String]>,
    /// When this entry stops being served.
    pub deadline: Instant,
    /// When L1 lets it go: its deadline, or later for a fail-safe entry, kept as the fallback that
    /// [`L1::peek_stale`] finds (contract §9).
    pub keep_until: Instant,
    /// Fail-safe's throttle: until when (epoch ms) a fail-safe read serves this stale entry without
    /// trying the loader again (0: not throttled).
    retry_at_ms: AtomicU64,
    /// The logical expiry from the envelope, epoch ms (refresh-ahead uses it).
    pub expires_at_ms: u64,
    /// When the value was written, epoch ms (the envelope's; result metadata's `ageMs`).
    pub created_at_ms: u64,
    /// A process-unique id; bindings key their parsed-object memo on it.
    pub id: u64,
    /// L1's sequence when the value was read or written (set by L1 when it stores the entry).
    born: AtomicU64,
    /// The newest tag mark this entry was checked against and found valid.
    verified: AtomicU64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Entry {
    /// The same entry, written at `ms` (epoch ms) rather than now.
    pub fn created_at(mut self, ms: u64) -> Self {
        self.created_at_ms = ms;
        self
    }

    /// Milliseconds since it was written, and until its logical expiry, at `now_ms`.
    pub fn age_and_ttl(&self, now_ms: u64) -> (u64, u64) {
        (now_ms.saturating_sub(self.created_at_ms), self.expires_at_ms.saturating_sub(now_ms))
    }

    /// [`Entry::age_and_ttl`] now, as result metadata reports it: read from the coarse clock
    /// ([`crate::clock::coarse_now_ms`], one kernel tick), so the age may be up to a tick short and
    /// the TTL never exceeds the entry's whole lifetime.
    pub fn age_and_ttl_now(&self) -> (u64, u64) {
        let (age, ttl) = self.age_and_ttl(crate::clock::coarse_now_ms());
        (age, ttl.min(self.expires_at_ms.saturating_sub(self.created_at_ms)))
    }

    /// The same entry, kept in L1 until `keep_until` (fail-safe; never before its deadline).
    pub fn kept_until(mut self, keep_until: Instant) -> Self {
        self.keep_until = keep_until.max(self.deadline);
        self
    }

    /// Whether it is still served as fresh at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.deadline > now
    }

    /// Serve this (stale) entry without trying the loader until `until_ms` (epoch ms).
    pub fn throttle_until(&self, until_ms: u64) {
        self.retry_at_ms.fetch_max(until_ms, Ordering::AcqRel);
    }

    /// Whether fail-safe's throttle still holds at `now_ms` (see [`Entry::throttle_until`]).
    pub fn throttled(&self, now_ms: u64) -> bool {
        self.retry_at_ms.load(Ordering::Acquire) > now_ms
    }

    /// A new entry with a fresh id.
    pub fn new(json: Arc<str>, tags: Box<[String]>, deadline: Instant, expires_at_ms: u64) -> Self {
        Entry {
            json,
            tags,
            deadline,
            keep_until: deadline,
            retry_at_ms: AtomicU64::new(0),
            expires_at_ms,
            created_at_ms: crate::clock::now_ms(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            born: AtomicU64::new(0),
            verified: AtomicU64::new(0),
        }
    }
}

struct DeadlineExpiry;

impl Expiry<String, Arc<Entry>> for DeadlineExpiry {
    fn expire_after_create(&self, _: &String, v: &Arc<Entry>, now: Instant) -> Option<Duration> {
        Some(v.keep_until.saturating_duration_since(now))
    }
    fn expire_after_update(
        &self,
        _: &String,
        v: &Arc<Entry>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.keep_until.saturating_duration_since(now))
    }
}

/// The L1 tier. Disabled (`enable_l1: false`) it stores nothing and every lookup misses.
pub struct L1 {
    cache: Option<Cache<String, Arc<Entry>>>,
    max_size: u64,
    max_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    clears: AtomicU64,
    /// The sequence: guards read it, invalidations advance it.
    clock: AtomicU64,
    /// Entries born before this are never served.
    floor: AtomicU64,
    /// Tag → the sequence value of its last invalidation. Written under the lock together with
    /// `last_mark`, so a reader holding the read lock sees both consistently.
    marks: RwLock<HashMap<String, u64>>,
    last_mark: AtomicU64,
    /// Bumped by pattern sweeps and clears; fills that started before fail their guard.
    sweep_epoch: AtomicU64,
    stripes: Box<[AtomicU64]>,
    /// 0 while trusted; else when trust was lost, in ms since `base` (at least 1).
    untrusted_since: AtomicU64,
    base: Instant,
    /// How long an untrusted L1 still serves, ms.
    untrusted_serve_ms: u64,
}

/// A snapshot taken before reading Redis for (or writing) a key: the sequence the value will be
/// born at, and the epochs a fill must still see unchanged after it inserted.
#[derive(Debug, Clone, Copy)]
pub struct FillGuard {
    born: u64,
    sweep: u64,
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
    /// A new L1 holding at most `max_size` entries, or a disabled one, that serves for
    /// [`UNTRUSTED_SERVE`] once untrusted.
    pub fn new(enabled: bool, max_size: u64) -> Self {
        Self::with_untrusted_serve(enabled, max_size, UNTRUSTED_SERVE)
    }

    /// [`L1::new`] that serves for `untrusted_serve` once untrusted (0: misses at once).
    pub fn with_untrusted_serve(enabled: bool, max_size: u64, untrusted_serve: Duration) -> Self {
        Self::with_limits(enabled, max_size, crate::config::DEFAULT_L1_MAX_BYTES, untrusted_serve)
    }

    /// An L1 bounded by `max_size` entries **and** `max_bytes` bytes of keys, JSON texts and tags.
    ///
    /// moka bounds one weight, so each entry weighs its bytes, but at least `max_bytes / max_size`:
    /// the byte budget then also admits at most `max_size` entries.
    pub fn with_limits(enabled: bool, max_size: u64, max_bytes: u64, untrusted_serve: Duration) -> Self {
        let max_bytes = max_bytes.clamp(1, MAX_BYTES_LIMIT);
        let floor = (max_bytes / max_size.max(1)).max(1);
        let cache = (enabled && max_size > 0).then(|| {
            Cache::builder()
                .max_capacity(max_bytes)
                .weigher(move |k: &String, v: &Arc<Entry>| -> u32 {
                    let bytes = ENTRY_OVERHEAD + k.len() as u64 + v.json.len() as u64 + v.tags.iter().map(|t| t.len() as u64 + 24).sum::<u64>();
                    bytes.max(floor).min(u32::MAX as u64) as u32
                })
                .expire_after(DeadlineExpiry)
                .build()
        });
        L1 {
            cache,
            max_size,
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            clears: AtomicU64::new(0),
            clock: AtomicU64::new(1),
            floor: AtomicU64::new(0),
            marks: RwLock::new(HashMap::new()),
            last_mark: AtomicU64::new(0),
            sweep_epoch: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            untrusted_since: AtomicU64::new(0),
            base: Instant::now(),
            untrusted_serve_ms: untrusted_serve.as_millis() as u64,
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

    /// Look `key` up without counting. Misses once L1 has been untrusted for the configured time.
    pub fn peek(&self, key: &str) -> Option<Arc<Entry>> {
        if !self.serving() {
            return None;
        }
        let cache = self.cache.as_ref()?;
        let e = cache.get(key)?;
        let now = Instant::now();
        if !e.is_fresh(now) {
            return None; // expired (a fail-safe entry stays, as the fallback, until `keep_until`)
        }
        if self.current(&e) {
            Some(e)
        } else {
            // Invalidated: drop it now rather than when moka evicts it.
            cache.invalidate(key);
            None
        }
    }

    /// Fail-safe's fallback: the entry of `key`, fresh or past its deadline but still kept, if no
    /// invalidation this process heard of (of the key, its tags, or a clear) removed or hid it.
    /// Unlike [`L1::peek`] it answers while L1 is untrusted: fail-safe serves the last value when the
    /// source failed, and a process that cannot reach Redis hears no invalidation (see
    /// `docs/resilience.md`). Not counted as a hit or miss.
    pub fn peek_stale(&self, key: &str) -> Option<Arc<Entry>> {
        let cache = self.cache.as_ref()?;
        let e = cache.get(key)?;
        if e.keep_until <= Instant::now() {
            return None;
        }
        if self.current(&e) {
            Some(e)
        } else {
            cache.invalidate(key);
            None
        }
    }

    /// Whether `e` is not older than a clear, and none of its tags was invalidated after it was born
    /// (its expiry aside).
    fn current(&self, e: &Entry) -> bool {
        let born = e.born.load(Ordering::Acquire);
        if born < self.floor.load(Ordering::Acquire) {
            return false;
        }
        let last = self.last_mark.load(Ordering::Acquire);
        if born >= last || e.tags.is_empty() || e.verified.load(Ordering::Acquire) >= last {
            return true;
        }
        let marks = self.marks.read().unwrap_or_else(|p| p.into_inner());
        let last = self.last_mark.load(Ordering::Acquire);
        if e.tags.iter().any(|t| marks.get(t).is_some_and(|&m| m > born)) {
            return false;
        }
        e.verified.fetch_max(last, Ordering::AcqRel);
        true
    }

    /// Mark L1 untrusted (the bus cannot tell it about invalidations) or trusted again. Losing trust
    /// again while untrusted keeps the first moment.
    pub fn set_trusted(&self, trusted: bool) {
        if trusted {
            self.untrusted_since.store(0, Ordering::Release);
        } else {
            let now = (self.base.elapsed().as_millis() as u64).max(1);
            let _ = self.untrusted_since.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Whether L1 is trusted (the bus is live, or there is no bus).
    pub fn is_trusted(&self) -> bool {
        self.untrusted_since.load(Ordering::Acquire) == 0
    }

    /// Whether lookups are served: trusted, or untrusted for less than the configured time.
    pub fn serving(&self) -> bool {
        let since = self.untrusted_since.load(Ordering::Acquire);
        since == 0 || (self.base.elapsed().as_millis() as u64).saturating_sub(since) < self.untrusted_serve_ms
    }

    /// Take a snapshot before reading Redis for `key` (or writing it).
    pub fn fill_guard(&self, key: &str) -> FillGuard {
        let stripe = stripe_of(key);
        FillGuard {
            sweep: self.sweep_epoch.load(Ordering::Acquire),
            stripe,
            stripe_epoch: self.stripes[stripe].load(Ordering::Acquire),
            born: self.clock.load(Ordering::Acquire),
        }
    }

    fn guard_holds(&self, g: &FillGuard, stripe_bumps: u64) -> bool {
        self.sweep_epoch.load(Ordering::Acquire) == g.sweep
            && self.stripes[g.stripe].load(Ordering::Acquire) == g.stripe_epoch + stripe_bumps
    }

    /// Whether nothing removed, wrote or swept `key` since `guard` was taken, and none of `tags` was
    /// invalidated or L1 cleared since then. A load that started at `guard` may store its result
    /// only if this holds.
    pub fn unchanged_since(&self, guard: &FillGuard, tags: &[String]) -> bool {
        if !self.guard_holds(guard, 0) || self.floor.load(Ordering::Acquire) > guard.born {
            return false;
        }
        if tags.is_empty() || self.last_mark.load(Ordering::Acquire) <= guard.born {
            return true;
        }
        let marks = self.marks.read().unwrap_or_else(|p| p.into_inner());
        !tags.iter().any(|t| marks.get(t).is_some_and(|&m| m > guard.born))
    }

    /// Insert a value read from Redis, unless a local write or invalidation happened since `guard`.
    pub fn fill(&self, key: &str, entry: Arc<Entry>, guard: FillGuard) {
        let Some(cache) = &self.cache else { return };
        if entry.keep_until <= Instant::now() || !self.guard_holds(&guard, 0) {
            return;
        }
        entry.born.store(guard.born, Ordering::Release);
        cache.insert(key.to_owned(), entry);
        if !self.guard_holds(&guard, 0) {
            // A writer raced us; its value (or its removal) must win, so drop ours.
            cache.invalidate(key);
        }
    }

    /// Insert a value this process just wrote to Redis, unless something else changed `key` since
    /// `guard` was taken before the write (a remote delete or invalidation that Redis applied after
    /// this write must win; then the key is removed instead).
    pub fn put_guarded(&self, key: &str, entry: Arc<Entry>, guard: FillGuard) {
        self.put_guarded_after(key, entry, guard, 0);
    }

    /// [`L1::put_guarded`] for the writes of one batch, put one after the other: `earlier` is how many
    /// writes of the same batch, put before this one, fell on the same stripe (see
    /// [`L1::same_stripe`]); their own bumps are not somebody else's change.
    pub fn put_guarded_after(&self, key: &str, entry: Arc<Entry>, guard: FillGuard, earlier: u64) {
        self.bump(key);
        let Some(cache) = &self.cache else { return };
        entry.born.store(guard.born, Ordering::Release);
        let ours = earlier + 1;
        if self.guard_holds(&guard, ours) {
            cache.insert(key.to_owned(), entry);
            if self.guard_holds(&guard, ours) {
                return;
            }
        }
        cache.invalidate(key);
    }

    /// Whether two keys share a stripe (their guards see each other's writes).
    pub fn same_stripe(a: &str, b: &str) -> bool {
        stripe_of(a) == stripe_of(b)
    }

    /// The stripe of `key`, for counting a batch's own writes per stripe.
    pub fn stripe(key: &str) -> usize {
        stripe_of(key)
    }

    /// Insert a value this process just wrote.
    pub fn put(&self, key: &str, entry: Arc<Entry>) {
        self.bump(key);
        if let Some(cache) = &self.cache {
            entry.born.store(self.clock.load(Ordering::Acquire), Ordering::Release);
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

    /// `key` was written elsewhere (another process's write, or a change client tracking reported):
    /// stop serving this process's value. A fail-safe entry stays, past its deadline, as fail-safe's
    /// fallback (a last value, served only when the loader fails); any other entry is removed. An
    /// invalidation (`del`, tags, patterns) removes it with [`L1::remove`] instead.
    pub fn supersede(&self, key: &str) {
        self.bump(key);
        let Some(cache) = &self.cache else { return };
        cache.entry(key.to_owned()).and_compute_with(|cur| {
            use moka::ops::compute::Op;
            match cur.map(moka::Entry::into_value) {
                Some(e) if e.keep_until > e.deadline => {
                    let now = Instant::now();
                    if e.deadline <= now {
                        return Op::Nop; // already only the fallback
                    }
                    let mut stale = Entry::new(e.json.clone(), e.tags.clone(), now, e.expires_at_ms).kept_until(e.keep_until).created_at(e.created_at_ms);
                    stale.born = AtomicU64::new(e.born.load(Ordering::Acquire));
                    stale.retry_at_ms = AtomicU64::new(e.retry_at_ms.load(Ordering::Acquire));
                    Op::Put(Arc::new(stale))
                }
                Some(_) => Op::Remove,
                None => Op::Nop,
            }
        });
    }

    /// Stop serving every entry carrying any of `tags`. O(number of tags): the entries are checked
    /// when they are looked up.
    pub fn invalidate_tags(&self, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let mut marks = self.marks.write().unwrap_or_else(|p| p.into_inner());
        let mark = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        if marks.len() + tags.len() > MAX_TAG_MARKS {
            // Too many marks to keep: everything older than now goes instead (exact, coarser).
            marks.clear();
            self.clears.fetch_add(1, Ordering::Relaxed);
            self.floor.fetch_max(mark, Ordering::AcqRel);
            if let Some(cache) = &self.cache {
                cache.invalidate_all();
            }
            tracing::debug!("stratacache: L1 tag-mark table full ({MAX_TAG_MARKS}); L1 cleared instead");
        } else {
            for t in tags {
                marks.insert(t.clone(), mark);
            }
        }
        self.last_mark.store(mark, Ordering::Release);
    }

    /// Remove every entry whose key matches the glob (`*`, `?`), in one sweep before returning.
    pub fn invalidate_glob(&self, glob: &str) {
        self.sweep_epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.cache {
            let doomed: Vec<Arc<String>> =
                cache.iter().filter(|(k, _)| crate::glob::glob_match(glob, k)).map(|(k, _)| k).collect();
            for k in doomed {
                cache.invalidate(k.as_str());
            }
        }
    }

    /// Stop serving everything held now (after a bus gap: another process may have invalidated
    /// meanwhile). Exact at once; memory is reclaimed by moka later.
    pub fn clear(&self) {
        self.clears.fetch_add(1, Ordering::Relaxed);
        let floor = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        self.floor.fetch_max(floor, Ordering::AcqRel);
        self.sweep_epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    fn bump(&self, key: &str) {
        self.stripes[stripe_of(key)].fetch_add(1, Ordering::AcqRel);
    }

    /// Entries currently held (approximate until pending maintenance runs; may include
    /// invalidated entries not looked up since).
    pub fn size(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        })
    }

    /// What the entries held weigh, in bytes (each at least `max_bytes / max_size`; see
    /// [`L1::with_limits`]).
    pub fn weighted_bytes(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.weighted_size()
        })
    }

    /// Configured capacity in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Configured capacity.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Times L1 was cleared whole (bus reconnects, Redis recoveries, a full tag-mark table,
    /// shutdown).
    pub fn clears(&self) -> u64 {
        self.clears.load(Ordering::Relaxed)
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
        l1.invalidate_glob("zzz*");
        l1.fill("k", entry("\"stale\"", 10_000, &[]), g);
        assert_eq!(&*l1.peek("k").unwrap().json, "\"new\"");
    }

    #[test]
    fn a_fill_read_before_a_tag_invalidation_is_never_served() {
        let l1 = L1::new(true, 10);
        let g = l1.fill_guard("k");
        l1.invalidate_tags(&["t".into()]);
        l1.fill("k", entry("\"old\"", 10_000, &["t"]), g);
        assert!(l1.peek("k").is_none(), "born before the mark of its tag");
        let g = l1.fill_guard("k");
        l1.fill("k", entry("\"new\"", 10_000, &["t"]), g);
        assert_eq!(&*l1.peek("k").unwrap().json, "\"new\"", "born after the mark");
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
    fn the_writes_of_one_batch_do_not_count_as_each_others_changes() {
        let l1 = L1::new(true, 100);
        let a = "k0";
        let b = (1..10_000).map(|i| format!("k{i}")).find(|k| L1::same_stripe(a, k)).unwrap();
        let (ga, gb) = (l1.fill_guard(a), l1.fill_guard(&b));
        l1.put_guarded_after(a, entry("1", 60_000, &[]), ga, 0);
        l1.put_guarded_after(&b, entry("2", 60_000, &[]), gb, 1);
        assert!(l1.peek(a).is_some() && l1.peek(&b).is_some(), "both writes of the batch are cached");
        let (ga, gb) = (l1.fill_guard(a), l1.fill_guard(&b));
        l1.remove(a); // somebody else's change meanwhile
        l1.put_guarded_after(a, entry("1", 60_000, &[]), ga, 0);
        l1.put_guarded_after(&b, entry("2", 60_000, &[]), gb, 1);
        assert!(l1.peek(a).is_none() && l1.peek(&b).is_none(), "a foreign change still wins (conservatively for b)");
    }

    #[test]
    fn tag_invalidation_is_exact_for_every_entry() {
        let l1 = L1::new(true, 20_000);
        for i in 0..10_000 {
            l1.put(&format!("k{i}"), entry("1", 60_000, &["t1"]));
        }
        l1.put("other", entry("2", 60_000, &["t2"]));
        l1.invalidate_tags(&["t1".into()]);
        assert_eq!((0..10_000).filter(|i| l1.peek(&format!("k{i}")).is_some()).count(), 0);
        assert!(l1.peek("other").is_some());
        l1.put("k1", entry("3", 60_000, &["t1"]));
        assert!(l1.peek("k1").is_some(), "a write after the invalidation is served");
    }

    #[test]
    fn a_full_mark_table_clears_instead_of_growing() {
        let l1 = L1::new(true, 10);
        l1.put("a", entry("1", 60_000, &["keep"]));
        for i in 0..=MAX_TAG_MARKS {
            l1.invalidate_tags(&[format!("t{i}")]);
        }
        assert!(l1.marks.read().unwrap().len() <= MAX_TAG_MARKS);
        assert!(l1.peek("a").is_none(), "cleared rather than forgotten");
        l1.put("b", entry("1", 60_000, &["t1"]));
        assert!(l1.peek("b").is_some());
    }

    #[test]
    fn an_untrusted_l1_serves_for_a_bounded_time_only() {
        let mut l1 = L1::new(true, 10);
        l1.base -= UNTRUSTED_SERVE * 2; // the clock L1 measures trust with, moved back
        l1.put("a", entry("1", 60_000, &[]));
        l1.set_trusted(false);
        assert!(l1.get("a").is_some(), "within the bound");
        l1.untrusted_since.store(1, Ordering::Release); // trust lost UNTRUSTED_SERVE * 2 ago
        assert!(l1.get("a").is_none(), "past the bound");
        l1.set_trusted(true);
        assert!(l1.get("a").is_some());
    }

    #[test]
    fn with_a_zero_bound_an_untrusted_l1_misses_at_once() {
        let l1 = L1::with_untrusted_serve(true, 10, Duration::ZERO);
        l1.put("a", entry("1", 60_000, &[]));
        l1.set_trusted(false);
        assert!(l1.get("a").is_none());
        l1.set_trusted(true);
        assert!(l1.get("a").is_some());
    }

    #[test]
    fn clear_and_patterns_are_exact() {
        let l1 = L1::new(true, 100);
        for i in 0..50 {
            l1.put(&format!("p:{i}"), entry("1", 60_000, &[]));
            l1.put(&format!("q:{i}"), entry("1", 60_000, &[]));
        }
        l1.invalidate_glob("p:*");
        assert_eq!((0..50).filter(|i| l1.peek(&format!("p:{i}")).is_some()).count(), 0);
        assert_eq!((0..50).filter(|i| l1.peek(&format!("q:{i}")).is_some()).count(), 50);
        l1.clear();
        assert_eq!((0..50).filter(|i| l1.peek(&format!("q:{i}")).is_some()).count(), 0);
    }

    #[test]
    fn disabled_stores_nothing() {
        let l1 = L1::new(false, 10);
        l1.put("a", entry("1", 10_000, &[]));
        assert!(l1.get("a").is_none());
    }
}
