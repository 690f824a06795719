//! Plain snapshots of the cache counters, as `getStats()` returns them.

use serde::Serialize;

/// L1 counters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Stats {
    /// Entries held now.
    pub size: u64,
    /// Capacity.
    pub max_size: u64,
    /// Lookups served from L1.
    pub hits: u64,
    /// Lookups L1 could not serve.
    pub misses: u64,
    /// hits / (hits + misses), as a percentage 0–100.
    pub hit_rate: f64,
}

/// L2 counters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Stats {
    /// Reads answered by Redis.
    pub hits: u64,
    /// Reads Redis could not answer (absent, expired, invalidated, corrupt, or Redis down).
    pub misses: u64,
    /// hits / (hits + misses), as a percentage 0–100.
    pub hit_rate: f64,
    /// Failed Redis calls and undecodable entries.
    pub errors: u64,
}

/// Everything `getStats()` reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// L1 counters.
    pub l1: L1Stats,
    /// L2 counters.
    pub l2: L2Stats,
    /// Entries that did not decode (corrupt, foreign, future version, too large).
    pub corrupt_entries: u64,
}
