//! The one wall clock of the core: epoch milliseconds, as stored in envelopes (creation time, logical
//! expiry) and bus messages. Nothing compares clocks of different processes for correctness (tags use
//! version tokens, rate limits Redis's `TIME`); monotonic deadlines use `Instant`.
//!
//! Tests can move this clock: [`set_offset_for_tests`] shifts every reading of this process.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Current wall-clock time in Unix epoch ms (plus the test offset, normally 0).
pub fn now_ms() -> u64 {
    let real = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    real.saturating_add_signed(OFFSET_MS.load(Ordering::Relaxed))
}

/// Shift this process's [`now_ms`] by `offset_ms` (tests of expiry and refresh-ahead; 0 restores it).
pub fn set_offset_for_tests(offset_ms: i64) {
    OFFSET_MS.store(offset_ms, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_moves_the_clock() {
        let before = now_ms();
        set_offset_for_tests(60_000);
        assert!(now_ms() >= before + 60_000);
        set_offset_for_tests(0);
        assert!(now_ms() < before + 60_000);
    }
}
