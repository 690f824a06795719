//! The one wall clock of the core: epoch milliseconds, as stored in envelopes (creation time, logical
//! expiry) and bus messages. Nothing compares clocks of different processes for correctness (tags use
//! version tokens, rate limits Redis's `TIME`); monotonic deadlines use `Instant`.
//!
//! [`coarse_now_ms`] is the same clock read at the kernel's tick resolution, for result metadata.
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

/// The wall clock at the kernel's tick resolution (Linux `CLOCK_REALTIME_COARSE`: one tick, at most
/// 4 ms behind [`now_ms`]), plus the test offset. A read costs ~5 ns against ~40 ns for [`now_ms`]
/// (measured on the CI machine), which is what keeps `getWithMeta` on an L1 hit at `get`'s cost:
/// result metadata's age and remaining TTL use it ([`crate::l1::Entry::age_and_ttl_now`]). Elsewhere
/// it is [`now_ms`].
pub fn coarse_now_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME_COARSE exists since Linux 2.6.32.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 && ts.tv_sec >= 0 {
            let real = ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000;
            return real.saturating_add_signed(OFFSET_MS.load(Ordering::Relaxed));
        }
    }
    now_ms()
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

    #[test]
    fn the_coarse_clock_is_at_most_a_tick_behind() {
        for _ in 0..1000 {
            let coarse = coarse_now_ms();
            let precise = now_ms();
            assert!(coarse <= precise + 1 && precise - coarse.min(precise) <= 20, "coarse {coarse}, precise {precise}");
        }
    }
}
