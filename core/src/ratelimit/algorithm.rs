//! The five rate-limiting algorithms as in-process state machines.
//!
//! This is the fallback limiter used when Redis is unreachable (`onRedisError: 'local'`). Each
//! algorithm mirrors, operation for operation, its Lua script next to this file
//! (`fixed_window.lua`, `sliding_log.lua`, `sliding_counter.lua`, `token_bucket.lua`,
//! `leaky_bucket.lua`), so that a decision taken here for a given clock reading is the one Redis
//! would have taken:
//!
//! - **fixed-window**: epoch-aligned windows, `start = floor(now / window) * window`; allowed iff
//!   `used + cost <= limit`; `reset = start + window`; denied ⇒ `retry = reset - now`.
//! - **sliding-log**: one timestamp per admitted unit, an entry admitted at `s` counts while
//!   `now < s + window`; allowed iff `live + cost <= limit`; `reset` = oldest entry + window;
//!   denied ⇒ `retry` = until the `(live + cost - limit)`-th oldest entry falls out (`window` when
//!   `cost > limit`). The log never holds more than `limit` entries.
//! - **sliding-counter** (the default): `estimate = prev * (window - elapsed) / window + cur`,
//!   computed exactly in integers; allowed iff `estimate + cost <= limit`; `reset` = end of the
//!   current window; denied ⇒ `retry` = the earliest time `estimate + cost <= limit` with no further
//!   traffic, capped at `window`.
//! - **token-bucket**: starts full with `limit` tokens and refills `rate_per_ms`; allowed iff
//!   `tokens >= cost`; `reset` = when full again; denied ⇒ `retry` = until `cost` tokens are there
//!   (until full when `cost > limit`).
//! - **leaky-bucket** (a meter): starts empty, leaks `rate_per_ms`; allowed iff
//!   `level + cost <= limit`; `reset` = when empty; denied ⇒ `retry` = until `cost` fits (until empty
//!   when `cost > limit`).
//!
//! For every algorithm, with limit `N`, consecutive allowed calls report `remaining` `N-1, N-2, … 0`,
//! and a denied call consumes nothing. `retry_after_ms` is `0` when allowed and at least `1` when
//! denied. State also expires exactly when the Lua script's key would, and expired state counts as
//! absent (which, for every algorithm, is equivalent to the state it would have decayed to).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Tolerance, in tokens, for float noise when comparing a bucket's contents with a cost.
const EPS: f64 = 1e-6;
/// Amount, in tokens, shaved off before converting an amount into milliseconds (see [`ms_until`]).
const DT: f64 = 1e-9;

/// A rate-limiting algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Counter per epoch-aligned window.
    FixedWindow,
    /// One timestamp per admitted unit over the last window.
    SlidingLog,
    /// Current and previous window counters, the previous one weighted by how much of it still
    /// overlaps the sliding window. The default.
    SlidingCounter,
    /// A bucket of `limit` tokens, refilled at `rate_per_ms`, starting full.
    TokenBucket,
    /// A meter of capacity `limit` leaking at `rate_per_ms`, starting empty.
    LeakyBucket,
}

impl Default for Algorithm {
    /// [`Algorithm::SlidingCounter`], the contract's default.
    fn default() -> Self {
        Algorithm::SlidingCounter
    }
}

impl Algorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::FixedWindow,
        Algorithm::SlidingLog,
        Algorithm::SlidingCounter,
        Algorithm::TokenBucket,
        Algorithm::LeakyBucket,
    ];

    /// The contract's name: `fixed-window`, `sliding-log`, `sliding-counter`, `token-bucket`,
    /// `leaky-bucket`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::FixedWindow => "fixed-window",
            Algorithm::SlidingLog => "sliding-log",
            Algorithm::SlidingCounter => "sliding-counter",
            Algorithm::TokenBucket => "token-bucket",
            Algorithm::LeakyBucket => "leaky-bucket",
        }
    }

    /// Parses a name as given by [`Algorithm::name`]; `_` is accepted for `-` (`fixed_window`) and
    /// ASCII case is ignored. `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Algorithm::ALL.into_iter().find(|a| {
            let n = a.name();
            n.len() == s.len()
                && n.bytes().zip(s.bytes()).all(|(x, y)| {
                    let y = if y == b'_' { b'-' } else { y.to_ascii_lowercase() };
                    x == y
                })
        })
    }

    /// The short suffix of the algorithm's Redis state key: `fw`, `sl`, `sc`, `tb`, `lb`.
    pub fn key_suffix(self) -> &'static str {
        match self {
            Algorithm::FixedWindow => "fw",
            Algorithm::SlidingLog => "sl",
            Algorithm::SlidingCounter => "sc",
            Algorithm::TokenBucket => "tb",
            Algorithm::LeakyBucket => "lb",
        }
    }
}

/// The parameters of one decision (the Lua scripts' ARGV).
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Window length in ms (window algorithms; ignored by the buckets). `0` is treated as `1`.
    pub window_ms: u64,
    /// The limit `N`: units per window, or the bucket's capacity.
    pub limit: u64,
    /// Units this call consumes. `0` is treated as `1`.
    pub cost: u64,
    /// Token refill (token-bucket) or leak (leaky-bucket) per millisecond; ignored by the window
    /// algorithms. Must be finite and `> 0` (the Lua scripts reject anything else); here anything
    /// else means "never refills / never leaks" and times saturate at `u64::MAX`.
    pub rate_per_ms: f64,
}

/// The outcome of one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call is admitted (and its cost consumed).
    pub allowed: bool,
    /// Units left after this decision, `0..=limit`.
    pub remaining: u64,
    /// Epoch ms: end of the window (window algorithms), oldest entry + window (sliding-log), or when
    /// the bucket is back to full (token) / empty (leaky).
    pub reset_ms: u64,
    /// `0` when allowed; when denied, ms to wait (at least `1`) before this call could be allowed,
    /// barring other traffic. See each algorithm for the cases that can never succeed.
    pub retry_after_ms: u64,
}

/// One algorithm's state for one key.
#[derive(Clone, Debug)]
enum State {
    Fixed { start: u64, count: u64 },
    /// Admitted calls `(admitted at, units)`, sorted by time, and the units of all of them.
    Log { calls: VecDeque<(u64, u64)>, units: u64 },
    Counter { start: u64, cur: u64, prev: u64 },
    Token { tokens: f64, ts: u64 },
    Leaky { level: f64, ts: u64 },
}

#[derive(Clone, Debug)]
struct Slot {
    state: State,
    /// Epoch ms at which the Lua script's key would expire (alive while `now <= expires_at`).
    expires_at: u64,
    /// Epoch ms of the last write, for evicting the oldest entries.
    touched: u64,
}

impl Slot {
    fn new(state: State, expires_at: u64, now: u64) -> Option<Slot> {
        Some(Slot { state, expires_at, touched: now })
    }
}

/// Parameters after the same defaulting for every algorithm.
struct P {
    window: u64,
    limit: u64,
    cost: u64,
    rate: f64,
}

/// An in-process rate limiter for every algorithm, bounded to about `max_entries` states.
///
/// `Send + Sync`: share it behind an `Arc`. Decisions for any keys are serialized by one mutex, so
/// with limit `N` exactly `N` units are admitted per window whatever the concurrency.
#[derive(Debug)]
pub struct LocalLimiter {
    max_entries: usize,
    map: Mutex<HashMap<(Algorithm, String), Slot>>,
}

impl LocalLimiter {
    /// An empty limiter keeping at most `max_entries` states (at least 1). Past that, expired
    /// states are dropped first, then the least recently written ones.
    pub fn new(max_entries: usize) -> Self {
        LocalLimiter { max_entries: max_entries.max(1), map: Mutex::new(HashMap::new()) }
    }

    /// Decides one call of `cost` units for `key` at `now_ms` (epoch ms), exactly as the
    /// algorithm's Lua script would with Redis's clock reading `now_ms`. A denied call changes no
    /// state.
    pub fn decide(&self, algorithm: Algorithm, key: &str, params: &Params, now_ms: u64) -> Decision {
        let p = P {
            window: params.window_ms.max(1),
            limit: params.limit,
            cost: params.cost.max(1),
            rate: if params.rate_per_ms.is_finite() && params.rate_per_ms > 0.0 { params.rate_per_ms } else { 0.0 },
        };
        let now = now_ms;
        let mut map = self.lock();
        let k = (algorithm, key.to_owned());
        let mut slot = map.remove(&k).filter(|s| now <= s.expires_at);
        let decision = match algorithm {
            Algorithm::FixedWindow => fixed_window(&mut slot, &p, now),
            Algorithm::SlidingLog => sliding_log(&mut slot, &p, now),
            Algorithm::SlidingCounter => sliding_counter(&mut slot, &p, now),
            Algorithm::TokenBucket => token_bucket(&mut slot, &p, now),
            Algorithm::LeakyBucket => leaky_bucket(&mut slot, &p, now),
        };
        if let Some(slot) = slot {
            map.insert(k.clone(), slot);
            if map.len() > self.max_entries {
                self.evict(&mut map, &k, now);
            }
        }
        decision
    }

    /// Forgets `key`'s state for every algorithm.
    pub fn reset(&self, key: &str) {
        let mut map = self.lock();
        for a in Algorithm::ALL {
            map.remove(&(a, key.to_owned()));
        }
    }

    /// Number of states held (one per algorithm and key).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no state is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(Algorithm, String), Slot>> {
        // A panic while holding the lock cannot leave a half-written state (each slot is replaced
        // whole), so a poisoned map is still good.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops expired states, then, if still over the bound, the least recently written ones down
    /// to 7/8 of it (so that a full map of live states is not rescanned on every insert). `keep`
    /// (the state just written) is never dropped.
    fn evict(&self, map: &mut HashMap<(Algorithm, String), Slot>, keep: &(Algorithm, String), now: u64) {
        map.retain(|k, s| k == keep || now <= s.expires_at);
        if map.len() <= self.max_entries {
            return;
        }
        let target = self.max_entries - self.max_entries / 8;
        let excess = map.len().saturating_sub(target.max(1));
        let mut by_age: Vec<(u64, (Algorithm, String))> =
            map.iter().filter(|(k, _)| *k != keep).map(|(k, s)| (s.touched, k.clone())).collect();
        let excess = excess.min(by_age.len());
        if excess == 0 {
            return;
        }
        if excess < by_age.len() {
            by_age.select_nth_unstable_by_key(excess - 1, |(t, _)| *t);
        }
        for (_, k) in by_age.into_iter().take(excess) {
            map.remove(&k);
        }
    }
}

/// `ceil((amount - DT) / rate)` ms: how long refilling/leaking `amount` takes, `0` if there is
/// nothing to wait for. Shaving `DT` (below the `EPS` tolerance of the comparisons) keeps float
/// noise such as `500.00000000000006` from adding a millisecond.
fn ms_until(amount: f64, rate: f64) -> u64 {
    if amount <= DT {
        return 0;
    }
    if rate <= 0.0 {
        return u64::MAX;
    }
    ((amount - DT) / rate).ceil() as u64
}

/// `fixed_window.lua`.
fn fixed_window(slot: &mut Option<Slot>, p: &P, now: u64) -> Decision {
    let start = now / p.window * p.window;
    let reset = start + p.window;
    let used = match slot {
        Some(Slot { state: State::Fixed { start: s, count }, .. }) if *s == start => *count,
        _ => 0,
    };
    match used.checked_add(p.cost) {
        Some(c) if c <= p.limit => {
            *slot = Slot::new(State::Fixed { start, count: c }, reset, now);
            Decision { allowed: true, remaining: p.limit - c, reset_ms: reset, retry_after_ms: 0 }
        }
        _ => Decision {
            allowed: false,
            remaining: p.limit.saturating_sub(used),
            reset_ms: reset,
            retry_after_ms: reset - now,
        },
    }
}

/// `sliding_log.lua`. The log is kept sorted (like the zset's scores), even if `now` goes back. A call
/// of any cost is one entry carrying its units, so a decision never costs O(cost).
fn sliding_log(slot: &mut Option<Slot>, p: &P, now: u64) -> Decision {
    let w = p.window;
    let none = VecDeque::new();
    let (log, units) = match slot.as_ref() {
        Some(Slot { state: State::Log { calls, units }, .. }) => (calls, *units),
        _ => (&none, 0),
    };
    // Calls admitted at s count while now < s + window: the first live one.
    let first_live = log.partition_point(|&(s, _)| s.saturating_add(w) <= now);
    let expired: u64 = log.iter().take(first_live).map(|&(_, u)| u).sum();
    let live = units - expired;
    if p.cost <= p.limit && live + p.cost <= p.limit {
        let mut calls = match slot.take() {
            Some(Slot { state: State::Log { calls, .. }, .. }) => calls,
            _ => VecDeque::new(),
        };
        calls.drain(..first_live);
        let at = calls.partition_point(|&(s, _)| s <= now);
        calls.insert(at, (now, p.cost));
        let reset = calls[0].0 + w;
        *slot = Slot::new(State::Log { calls, units: live + p.cost }, now + w, now);
        return Decision { allowed: true, remaining: p.limit - live - p.cost, reset_ms: reset, retry_after_ms: 0 };
    }
    let reset = log.get(first_live).map_or(now + w, |&(s, _)| s + w);
    let retry = if p.cost <= p.limit {
        // The call holding the k-th oldest live unit must fall out (k >= 1).
        let k = live + p.cost - p.limit;
        let mut acc = 0;
        let at = log.iter().skip(first_live).find(|&&(_, u)| {
            acc += u;
            acc >= k
        });
        at.map_or(w, |&(s, _)| (s + w).saturating_sub(now))
    } else {
        w
    };
    Decision { allowed: false, remaining: p.limit.saturating_sub(live), reset_ms: reset, retry_after_ms: retry.max(1) }
}

/// `sliding_counter.lua`, in exact integer arithmetic.
fn sliding_counter(slot: &mut Option<Slot>, p: &P, now: u64) -> Decision {
    let w = p.window;
    let start = now / w * w;
    let elapsed = now - start;
    let reset = start + w;
    // Roll: same window keeps the counts, the next one makes prev = cur, later zeroes both.
    let (mut cur, prev) = match slot {
        Some(Slot { state: State::Counter { start: s, cur, prev }, .. }) => {
            if *s == start {
                (*cur, *prev)
            } else if s.checked_add(w) == Some(start) {
                (0, *cur)
            } else {
                (0, 0)
            }
        }
        _ => (0, 0),
    };
    let (wi, n, c) = (w as i128, p.limit as i128, p.cost as i128);
    let decay = (w - elapsed) as i128; // weight of prev, in 1/window units
    let cap = n * wi;
    let remaining = |cur: u64| -> u64 {
        let x = cap - prev as i128 * decay - cur as i128 * wi;
        if x <= 0 {
            0
        } else {
            (x / wi) as u64
        }
    };
    if prev as i128 * decay + (cur as i128 + c) * wi <= cap {
        cur += p.cost;
        *slot = Slot::new(State::Counter { start, cur, prev }, start + 2 * w, now);
        return Decision { allowed: true, remaining: remaining(cur), reset_ms: reset, retry_after_ms: 0 };
    }
    let mut retry = wi;
    if c <= n {
        let (cur_i, prev_i) = (cur as i128, prev as i128);
        let r = n - cur_i - c;
        let mut found = false;
        if r >= 0 && prev_i > 0 {
            // This window: prev * (window - e) <= r * window.
            let x = r * wi / prev_i;
            if x > 0 {
                retry = (wi - x) - elapsed as i128;
                found = true;
            }
        }
        if !found {
            // Next window: prev' = cur decays, cur' = 0.
            let e = if cur_i > n - c { wi - (n - c) * wi / cur_i } else { 0 };
            retry = decay + e;
        }
        retry = retry.min(wi);
    }
    Decision { allowed: false, remaining: remaining(cur), reset_ms: reset, retry_after_ms: retry.max(1) as u64 }
}

/// `token_bucket.lua`.
fn token_bucket(slot: &mut Option<Slot>, p: &P, now: u64) -> Decision {
    let cap = p.limit as f64;
    let cost = p.cost as f64;
    let mut tokens = match slot {
        Some(Slot { state: State::Token { tokens, ts }, .. }) => {
            cap.min(*tokens + now.saturating_sub(*ts) as f64 * p.rate)
        }
        _ => cap,
    };
    if tokens + EPS >= cost {
        tokens -= cost;
        if tokens < 0.0 {
            tokens = 0.0;
        }
        let full = ms_until(cap - tokens, p.rate);
        *slot = Slot::new(State::Token { tokens, ts: now }, now.saturating_add(full.max(1)), now);
        return Decision {
            allowed: true,
            remaining: (tokens + EPS).floor() as u64,
            reset_ms: now.saturating_add(full),
            retry_after_ms: 0,
        };
    }
    let full = ms_until(cap - tokens, p.rate);
    let retry = if cost > cap { full } else { ms_until(cost - tokens, p.rate) };
    Decision {
        allowed: false,
        remaining: (tokens + EPS).floor() as u64,
        reset_ms: now.saturating_add(full),
        retry_after_ms: retry.max(1),
    }
}

/// `leaky_bucket.lua`.
fn leaky_bucket(slot: &mut Option<Slot>, p: &P, now: u64) -> Decision {
    let cap = p.limit as f64;
    let cost = p.cost as f64;
    let remaining = |level: f64| -> u64 {
        let r = (cap - level + EPS).floor();
        if r < 0.0 {
            0
        } else {
            r as u64
        }
    };
    let mut level = match slot {
        Some(Slot { state: State::Leaky { level, ts }, .. }) => {
            (*level - now.saturating_sub(*ts) as f64 * p.rate).max(0.0)
        }
        _ => 0.0,
    };
    if level + cost <= cap + EPS {
        level += cost;
        let empty = ms_until(level, p.rate);
        *slot = Slot::new(State::Leaky { level, ts: now }, now.saturating_add(empty.max(1)), now);
        return Decision {
            allowed: true,
            remaining: remaining(level),
            reset_ms: now.saturating_add(empty),
            retry_after_ms: 0,
        };
    }
    let empty = ms_until(level, p.rate);
    let retry = if cost > cap { empty } else { ms_until(level + cost - cap, p.rate) };
    Decision {
        allowed: false,
        remaining: remaining(level),
        reset_ms: now.saturating_add(empty),
        retry_after_ms: retry.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000; // a multiple of 1000, 100 and 10

    fn win(window_ms: u64, limit: u64, cost: u64) -> Params {
        Params { window_ms, limit, cost, rate_per_ms: 0.0 }
    }

    fn bucket(limit: u64, rate_per_ms: f64, cost: u64) -> Params {
        Params { window_ms: 1000, limit, cost, rate_per_ms }
    }

    /// Parameters under which `algorithm` admits `limit` units at once (buckets refill slowly).
    fn params(algorithm: Algorithm, limit: u64, cost: u64) -> Params {
        match algorithm {
            Algorithm::TokenBucket | Algorithm::LeakyBucket => bucket(limit, 0.001, cost),
            _ => win(60_000, limit, cost),
        }
    }

    #[test]
    fn names_parse_and_suffixes() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(a.name()), Some(a));
            assert_eq!(Algorithm::parse(&a.name().replace('-', "_")), Some(a));
            assert_eq!(Algorithm::parse(&a.name().to_uppercase()), Some(a));
        }
        assert_eq!(Algorithm::parse("fixed_window"), Some(Algorithm::FixedWindow));
        assert_eq!(Algorithm::parse("sliding-counter"), Some(Algorithm::SlidingCounter));
        assert_eq!(Algorithm::parse("sliding"), None);
        assert_eq!(Algorithm::parse(""), None);
        let suffixes: Vec<_> = Algorithm::ALL.iter().map(|a| a.key_suffix()).collect();
        assert_eq!(suffixes, ["fw", "sl", "sc", "tb", "lb"]);
        assert_eq!(Algorithm::default(), Algorithm::SlidingCounter);
    }

    #[test]
    fn countdown_then_denied_for_every_algorithm() {
        for a in Algorithm::ALL {
            let l = LocalLimiter::new(100);
            let p = params(a, 5, 1);
            for expect in (0..5).rev() {
                let d = l.decide(a, "k", &p, T0);
                assert!(d.allowed, "{a:?}");
                assert_eq!(d.remaining, expect, "{a:?}");
                assert_eq!(d.retry_after_ms, 0, "{a:?}");
                assert!(d.reset_ms > T0, "{a:?}");
            }
            let d = l.decide(a, "k", &p, T0);
            assert!(!d.allowed, "{a:?}");
            assert_eq!(d.remaining, 0, "{a:?}");
            assert!(d.retry_after_ms >= 1, "{a:?}");
            // Another key is independent.
            assert_eq!(l.decide(a, "other", &p, T0).remaining, 4, "{a:?}");
        }
    }

    #[test]
    fn countdown_with_time_passing_inside_the_window() {
        // Calls spread over a window still count down for the window algorithms.
        for a in [Algorithm::FixedWindow, Algorithm::SlidingLog, Algorithm::SlidingCounter] {
            let l = LocalLimiter::new(100);
            let p = win(1000, 4, 1);
            for (i, expect) in (0..4).rev().enumerate() {
                let d = l.decide(a, "k", &p, T0 + 200 * i as u64);
                assert_eq!((d.allowed, d.remaining), (true, expect), "{a:?}");
            }
            assert!(!l.decide(a, "k", &p, T0 + 900).allowed, "{a:?}");
        }
    }

    #[test]
    fn cost_larger_than_remaining_is_denied_and_consumes_nothing() {
        for a in Algorithm::ALL {
            let l = LocalLimiter::new(100);
            assert_eq!(l.decide(a, "k", &params(a, 5, 3), T0).remaining, 2, "{a:?}");
            let denied = l.decide(a, "k", &params(a, 5, 3), T0);
            assert!(!denied.allowed, "{a:?}");
            assert_eq!(denied.remaining, 2, "{a:?}");
            // Denying again gives the same answer: nothing was consumed.
            assert_eq!(l.decide(a, "k", &params(a, 5, 3), T0), denied, "{a:?}");
            let d = l.decide(a, "k", &params(a, 5, 2), T0);
            assert_eq!((d.allowed, d.remaining), (true, 0), "{a:?}");
        }
    }

    #[test]
    fn cost_above_the_limit_is_denied_and_stores_nothing() {
        for a in Algorithm::ALL {
            let l = LocalLimiter::new(100);
            let d = l.decide(a, "k", &params(a, 5, 6), T0);
            assert!(!d.allowed, "{a:?}");
            assert_eq!(d.remaining, 5, "{a:?}");
            assert!(d.retry_after_ms >= 1, "{a:?}");
            assert_eq!(l.len(), 0, "{a:?}");
            assert_eq!(l.decide(a, "k", &params(a, 5, 5), T0).remaining, 0, "{a:?}");
        }
        // Limit 0 admits nothing.
        for a in Algorithm::ALL {
            let l = LocalLimiter::new(100);
            let d = l.decide(a, "k", &params(a, 0, 1), T0);
            assert!(!d.allowed && d.remaining == 0 && d.retry_after_ms >= 1, "{a:?}");
        }
    }

    #[test]
    fn fixed_window_rolls_over_at_the_boundary() {
        let l = LocalLimiter::new(100);
        let p = win(1000, 3, 1);
        let a = Algorithm::FixedWindow;
        for _ in 0..3 {
            assert!(l.decide(a, "k", &p, T0 + 400).allowed);
        }
        let d = l.decide(a, "k", &p, T0 + 400);
        assert_eq!(d, Decision { allowed: false, remaining: 0, reset_ms: T0 + 1000, retry_after_ms: 600 });
        let d = l.decide(a, "k", &p, T0 + 999);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 1));
        let d = l.decide(a, "k", &p, T0 + 1000);
        assert_eq!(d, Decision { allowed: true, remaining: 2, reset_ms: T0 + 2000, retry_after_ms: 0 });
    }

    #[test]
    fn sliding_log_entries_fall_out_one_window_later() {
        let l = LocalLimiter::new(100);
        let p = win(1000, 3, 1);
        let a = Algorithm::SlidingLog;
        assert_eq!(l.decide(a, "k", &p, T0).remaining, 2);
        assert_eq!(l.decide(a, "k", &p, T0 + 100).remaining, 1);
        let d = l.decide(a, "k", &p, T0 + 200);
        assert_eq!(d, Decision { allowed: true, remaining: 0, reset_ms: T0 + 1000, retry_after_ms: 0 });
        // A cost of 2 needs the two oldest entries gone: the second falls out at T0 + 1100.
        let d = l.decide(a, "k", &Params { cost: 2, ..p }, T0 + 500);
        assert_eq!(d, Decision { allowed: false, remaining: 0, reset_ms: T0 + 1000, retry_after_ms: 600 });
        assert!(!l.decide(a, "k", &p, T0 + 999).allowed);
        let d = l.decide(a, "k", &p, T0 + 1000);
        assert_eq!(d, Decision { allowed: true, remaining: 0, reset_ms: T0 + 1100, retry_after_ms: 0 });
        assert!(!l.decide(a, "k", &p, T0 + 1099).allowed);
        assert!(l.decide(a, "k", &p, T0 + 1100).allowed);
    }

    #[test]
    fn sliding_log_never_holds_more_than_the_limit() {
        let l = LocalLimiter::new(100);
        let p = win(1000, 7, 2);
        for i in 0..500u64 {
            l.decide(Algorithm::SlidingLog, "k", &p, T0 + i * 37);
            let map = l.lock();
            match &map[&(Algorithm::SlidingLog, "k".to_string())].state {
                State::Log { calls, units } => {
                    assert!(*units <= 7 && calls.iter().map(|c| c.1).sum::<u64>() == *units);
                    assert!(calls.iter().zip(calls.iter().skip(1)).all(|(a, b)| a.0 <= b.0));
                }
                s => panic!("{s:?}"),
            }
        }
    }

    #[test]
    fn sliding_counter_weights_the_previous_window() {
        let l = LocalLimiter::new(100);
        let p = win(1000, 10, 1);
        let a = Algorithm::SlidingCounter;
        for _ in 0..10 {
            assert!(l.decide(a, "k", &p, T0 + 100).allowed);
        }
        // A quarter into the next window: estimate = 10 * 0.75 = 7.5.
        let d = l.decide(a, "k", &p, T0 + 1250);
        assert_eq!(d, Decision { allowed: true, remaining: 1, reset_ms: T0 + 2000, retry_after_ms: 0 }); // 8.5
        let d = l.decide(a, "k", &p, T0 + 1250);
        assert_eq!((d.allowed, d.remaining), (true, 0)); // 9.5
        // 10.5 > 10: denied. Allowed once 10 * (1000 - e) / 1000 + 2 + 1 <= 10, i.e. e >= 300.
        let d = l.decide(a, "k", &p, T0 + 1250);
        assert_eq!(d, Decision { allowed: false, remaining: 0, reset_ms: T0 + 2000, retry_after_ms: 50 });
        assert!(!l.decide(a, "k", &p, T0 + 1299).allowed);
        assert!(l.decide(a, "k", &p, T0 + 1300).allowed);
        // Two windows later everything has decayed.
        let d = l.decide(a, "k", &p, T0 + 3000);
        assert_eq!((d.allowed, d.remaining), (true, 9));
    }

    #[test]
    fn sliding_counter_retry_into_the_next_window() {
        let l = LocalLimiter::new(100);
        let p = win(1000, 4, 1);
        let a = Algorithm::SlidingCounter;
        for _ in 0..4 {
            assert!(l.decide(a, "k", &p, T0 + 900).allowed);
        }
        // No previous window: nothing decays in this one. Next window, prev = 4 must decay to 3:
        // 4 * (1000 - e) / 1000 <= 3 ⇔ e >= 250, so retry = 100 + 250.
        let d = l.decide(a, "k", &p, T0 + 900);
        assert_eq!(d, Decision { allowed: false, remaining: 0, reset_ms: T0 + 1000, retry_after_ms: 350 });
        assert!(!l.decide(a, "k", &p, T0 + 1249).allowed);
        assert!(l.decide(a, "k", &p, T0 + 1250).allowed);
        // A retry beyond one window is capped at the window.
        let l = LocalLimiter::new(100);
        for _ in 0..4 {
            l.decide(a, "k", &p, T0 + 10);
        }
        let d = l.decide(a, "k", &Params { cost: 4, ..p }, T0 + 10);
        assert_eq!(d.retry_after_ms, 1000); // really 990 + 1000
    }

    #[test]
    fn token_bucket_refills_at_the_rate() {
        let l = LocalLimiter::new(100);
        let p = bucket(5, 0.01, 1); // one token per 100 ms
        let a = Algorithm::TokenBucket;
        for _ in 0..5 {
            assert!(l.decide(a, "k", &p, T0).allowed);
        }
        let d = l.decide(a, "k", &p, T0);
        assert_eq!(d, Decision { allowed: false, remaining: 0, reset_ms: T0 + 500, retry_after_ms: 100 });
        // 250 ms later: 2.5 tokens, exactly two calls.
        assert_eq!(l.decide(a, "k", &p, T0 + 250).remaining, 1);
        assert_eq!(l.decide(a, "k", &p, T0 + 250).remaining, 0);
        let d = l.decide(a, "k", &p, T0 + 250);
        assert_eq!(d, Decision { allowed: false, remaining: 0, reset_ms: T0 + 250 + 450, retry_after_ms: 50 });
        assert!(l.decide(a, "k", &p, T0 + 300).allowed);
        // Never above capacity.
        let d = l.decide(a, "k", &p, T0 + 100_000);
        assert_eq!(d, Decision { allowed: true, remaining: 4, reset_ms: T0 + 100_100, retry_after_ms: 0 });
        // cost > capacity: retry = time until full.
        let d = l.decide(a, "k", &bucket(5, 0.01, 6), T0 + 100_000);
        assert_eq!((d.allowed, d.remaining, d.retry_after_ms), (false, 4, 100));
    }

    #[test]
    fn token_bucket_float_rates_are_exact_enough() {
        // 0.002 tokens/ms: a token every 500 ms, although 0.002 is not exact in binary.
        let l = LocalLimiter::new(100);
        let p = bucket(3, 0.002, 1);
        let a = Algorithm::TokenBucket;
        for _ in 0..3 {
            l.decide(a, "k", &p, T0);
        }
        let mut now = T0;
        for _ in 0..1000 {
            let d = l.decide(a, "k", &p, now);
            assert!(!d.allowed);
            assert_eq!(d.retry_after_ms, 500);
            now += 500;
            assert!(!l.decide(a, "k", &p, now - 1).allowed);
            assert!(l.decide(a, "k", &p, now).allowed);
        }
    }

    #[test]
    fn leaky_bucket_leaks_at_the_rate() {
        let l = LocalLimiter::new(100);
        let p = bucket(4, 0.02, 1); // one unit per 50 ms
        let a = Algorithm::LeakyBucket;
        for expect in (0..4).rev() {
            let d = l.decide(a, "k", &p, T0);
            assert_eq!((d.allowed, d.remaining), (true, expect));
        }
        let d = l.decide(a, "k", &p, T0);
        assert_eq!(d, Decision { allowed: false, remaining: 0, reset_ms: T0 + 200, retry_after_ms: 50 });
        // 120 ms later 2.4 units have leaked: two calls fit, the third needs 30 ms more.
        assert!(l.decide(a, "k", &p, T0 + 120).allowed);
        assert!(l.decide(a, "k", &p, T0 + 120).allowed);
        let d = l.decide(a, "k", &p, T0 + 120);
        assert_eq!((d.allowed, d.retry_after_ms), (false, 30));
        assert!(l.decide(a, "k", &p, T0 + 150).allowed);
        // Empty again after a long pause; cost > capacity waits until empty.
        assert_eq!(l.decide(a, "k", &bucket(4, 0.02, 2), T0 + 10_000).remaining, 2);
        let d = l.decide(a, "k", &bucket(4, 0.02, 5), T0 + 10_000);
        assert_eq!((d.allowed, d.remaining, d.retry_after_ms), (false, 2, 100));
    }

    #[test]
    fn reset_forgets_every_algorithm_for_that_key_only() {
        let l = LocalLimiter::new(100);
        for a in Algorithm::ALL {
            let p = params(a, 2, 2);
            l.decide(a, "k", &p, T0);
            l.decide(a, "other", &p, T0);
        }
        assert_eq!(l.len(), 10);
        l.reset("k");
        assert_eq!(l.len(), 5);
        for a in Algorithm::ALL {
            assert_eq!(l.decide(a, "k", &params(a, 2, 1), T0).remaining, 1, "{a:?}");
            assert!(!l.decide(a, "other", &params(a, 2, 1), T0).allowed, "{a:?}");
        }
        assert!(!l.is_empty());
    }

    #[test]
    fn expired_state_counts_as_absent_and_is_evicted_first() {
        let l = LocalLimiter::new(10);
        let short = win(100, 5, 1);
        for i in 0..10 {
            l.decide(Algorithm::FixedWindow, &format!("old{i}"), &short, T0);
        }
        assert_eq!(l.len(), 10);
        let long = win(60_000, 5, 1);
        l.decide(Algorithm::SlidingCounter, "live", &long, T0 + 50);
        // Over the bound but nothing expired yet: the oldest writes go.
        assert!(l.len() <= 10);
        assert!(l.lock().contains_key(&(Algorithm::SlidingCounter, "live".to_string())));
        // Past the short windows' expiry, their states are dropped before any live one.
        for i in 0..5 {
            l.decide(Algorithm::SlidingCounter, &format!("new{i}"), &long, T0 + 200);
        }
        let map = l.lock();
        assert!(map.keys().all(|(a, _)| *a == Algorithm::SlidingCounter), "{:?}", map.keys());
        assert_eq!(map.len(), 6);
    }

    #[test]
    fn entries_stay_bounded() {
        let l = LocalLimiter::new(64);
        for i in 0..10_000u64 {
            for a in Algorithm::ALL {
                l.decide(a, &format!("user:{i}"), &params(a, 10, 1), T0 + i);
                assert!(l.len() <= 64);
            }
        }
        // The most recent key survives eviction.
        assert!(l.lock().contains_key(&(Algorithm::LeakyBucket, "user:9999".to_string())));
        let l = LocalLimiter::new(0);
        l.decide(Algorithm::FixedWindow, "a", &win(1000, 1, 1), T0);
        l.decide(Algorithm::FixedWindow, "b", &win(1000, 1, 1), T0);
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn exactly_n_admitted_under_concurrency() {
        use std::sync::Arc;
        for a in Algorithm::ALL {
            let l = Arc::new(LocalLimiter::new(100));
            let admitted: u64 = (0..8)
                .map(|_| {
                    let l = Arc::clone(&l);
                    std::thread::spawn(move || {
                        (0..100).filter(|_| l.decide(a, "k", &params(a, 50, 1), T0).allowed).count() as u64
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .sum();
            assert_eq!(admitted, 50, "{a:?}");
        }
    }

    /// A small deterministic generator (no dependencies).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// Random traffic: whenever a call is denied, the same call is allowed `retry_after_ms` later
    /// (when the retry is not capped), and not one millisecond earlier for the window algorithms.
    /// A denial never changes state.
    #[test]
    fn retry_after_is_honoured_and_tight() {
        let mut rng = Lcg(7);
        let mut checked = 0;
        for round in 0..300 {
            for a in Algorithm::ALL {
                let window = 1 + rng.next(2000);
                let limit = rng.next(12);
                let rate = [0.001, 0.002, 0.01, 0.0333, 0.5, 1.0, 3.0][rng.next(7) as usize];
                let p = Params { window_ms: window, limit, cost: 1, rate_per_ms: rate };
                let l = LocalLimiter::new(100);
                let mut now = T0 + rng.next(10_000);
                for _ in 0..40 {
                    now += rng.next(window / 3 + 2);
                    let p = Params { cost: 1 + rng.next(4), ..p };
                    let d = l.decide(a, "k", &p, now);
                    assert!(d.remaining <= limit, "{a:?} {p:?} {d:?}");
                    assert!(d.reset_ms >= now, "{a:?} {p:?} {d:?}");
                    if d.allowed {
                        assert_eq!(d.retry_after_ms, 0);
                        continue;
                    }
                    assert!(d.retry_after_ms >= 1);
                    if matches!(a, Algorithm::FixedWindow | Algorithm::SlidingLog | Algorithm::SlidingCounter) {
                        assert!(d.retry_after_ms <= window, "{a:?} {p:?} {d:?}");
                    }
                    assert_eq!(l.decide(a, "k", &p, now), d, "denial changed state");
                    if p.cost > limit {
                        continue;
                    }
                    // Try the retry on a copy (same state).
                    let probe = LocalLimiter::new(100);
                    *probe.lock() = l.lock().clone();
                    let later = probe.decide(a, "k", &p, now + d.retry_after_ms);
                    let capped = a == Algorithm::SlidingCounter && d.retry_after_ms == window;
                    if !capped {
                        assert!(later.allowed, "round {round} {a:?} {p:?} {d:?} at +retry: {later:?}");
                        checked += 1;
                    }
                    if !capped && d.retry_after_ms > 1 && a != Algorithm::TokenBucket && a != Algorithm::LeakyBucket {
                        let probe = LocalLimiter::new(100);
                        *probe.lock() = l.lock().clone();
                        let earlier = probe.decide(a, "k", &p, now + d.retry_after_ms - 1);
                        assert!(!earlier.allowed, "round {round} {a:?} {p:?} {d:?} at +retry-1: {earlier:?}");
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }
}
