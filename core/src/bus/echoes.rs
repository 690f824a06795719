//! This process's own scripted writes, as client tracking reports them back.
//!
//! `CLIENT TRACKING … NOLOOP` keeps a client's own writes out of its tracking reports, but Redis 7.0
//! does not apply it to keys a Lua script modifies: cache-aside's `store_loaded.lua` comes back to
//! this process's subscriber as if another client had written the key, and would evict (or, racing
//! the store, refuse) the value just loaded. So:
//!
//! - **A probe per subscription.** Once tracking is on, the subscriber writes and deletes one probe
//!   key (`{ns}:d:\u{0}echo-probe:{source}`) from a script on the data connection. Only if its report
//!   comes back does this Redis echo scripted writes; until then (and on a Redis that does not) no
//!   echo is expected and every report evicts, as before.
//! - **Expected, then ignored once each.** Before a scripted store the manager registers one echo for
//!   its key, and cancels it when the script wrote nothing. The subscriber ignores one report of the
//!   key per registered echo, for at most [`ECHO_WINDOW`]; anything else evicts. A foreign write of
//!   the key in the same moment is then evicted by the report of the store's own echo instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an expected echo waits for its report (they arrive within milliseconds).
pub(crate) const ECHO_WINDOW: Duration = Duration::from_secs(1);

/// Most keys with echoes waiting before the oldest are dropped (bounds memory under a stalled bus).
const MAX_WAITING: usize = 10_000;

/// The echoes one process waits for.
#[derive(Default)]
pub(crate) struct Echoes {
    /// Whether the probe showed that this Redis reports scripted writes back.
    echoing: AtomicBool,
    waiting: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Echoes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Instant>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Set by the subscriber's probe: whether scripted writes come back (false until shown).
    pub(crate) fn set_echoing(&self, echoing: bool) {
        self.echoing.store(echoing, Ordering::Release);
        if !echoing {
            self.lock().clear();
        }
    }

    /// Whether this Redis was shown to echo scripted writes.
    pub(crate) fn echoing(&self) -> bool {
        self.echoing.load(Ordering::Acquire)
    }

    /// Expect one report of `key` from a scripted write about to be made. Returns whether one is
    /// expected (only when this Redis echoes scripted writes).
    pub(crate) fn expect(&self, key: &str) -> bool {
        if !self.echoing.load(Ordering::Acquire) {
            return false;
        }
        let now = Instant::now();
        let mut waiting = self.lock();
        if waiting.len() >= MAX_WAITING {
            waiting.retain(|_, d| {
                d.retain(|t| *t > now);
                !d.is_empty()
            });
            if waiting.len() >= MAX_WAITING {
                waiting.clear();
            }
        }
        waiting.entry(key.to_owned()).or_default().push(now + ECHO_WINDOW);
        true
    }

    /// The scripted write expected by [`Echoes::expect`] wrote nothing: no report will come.
    pub(crate) fn cancel(&self, key: &str) {
        let mut waiting = self.lock();
        if let Some(d) = waiting.get_mut(key) {
            d.pop();
            if d.is_empty() {
                waiting.remove(key);
            }
        }
    }

    /// A report of `key` arrived: whether it is an expected echo (then consumed).
    pub(crate) fn take(&self, key: &str) -> bool {
        let mut waiting = self.lock();
        let Some(d) = waiting.get_mut(key) else { return false };
        let now = Instant::now();
        d.retain(|t| *t > now);
        let found = !d.is_empty();
        if found {
            d.remove(0);
        }
        if d.is_empty() {
            waiting.remove(key);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_expected_only_when_redis_echoes_and_consumed_once() {
        let e = Echoes::default();
        assert!(!e.expect("k"), "not before the probe showed echoes");
        assert!(!e.take("k"));
        e.set_echoing(true);
        assert!(e.expect("k"));
        assert!(e.expect("k"));
        assert!(e.take("k") && e.take("k"));
        assert!(!e.take("k"), "a third report is a foreign write");
        assert!(e.expect("c"));
        e.cancel("c");
        assert!(!e.take("c"), "a cancelled echo is not waited for");
    }
}
