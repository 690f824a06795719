//! `rateLimitPresets`: named limits for common endpoints. Each preset has exactly the fields of
//! `limit()`'s options (`windowMs`, `maxRequests`, `algorithm`), so it spreads (`...preset`) or
//! splats (`**preset`) into a call; the guide overrides `algorithm` per call.
//!
//! | name | limit | algorithm | for |
//! |---|---|---|---|
//! | `api` | 100 per minute | sliding-counter | general API traffic: smooth, O(1) per identifier |
//! | `auth` | 5 per 15 minutes | sliding-log | logins and password resets: exact, no burst at window edges |
//! | `strict` | 10 per minute | fixed-window | expensive or abuse-prone endpoints |
//! | `upload` | 10 per hour | token-bucket | uploads: a burst of 10, then one per 6 minutes |
//! | `search` | 30 per minute | leaky-bucket | search-as-you-type: bursts absorbed, drained at 0.5/s |

use super::Algorithm;

/// One preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The window in ms.
    pub window_ms: u64,
    /// Units per window.
    pub max_requests: u64,
    /// The algorithm.
    pub algorithm: Algorithm,
}

/// Every preset, by name.
pub const PRESETS: [(&str, Preset); 5] = [
    ("api", Preset { window_ms: 60_000, max_requests: 100, algorithm: Algorithm::SlidingCounter }),
    ("auth", Preset { window_ms: 900_000, max_requests: 5, algorithm: Algorithm::SlidingLog }),
    ("strict", Preset { window_ms: 60_000, max_requests: 10, algorithm: Algorithm::FixedWindow }),
    ("upload", Preset { window_ms: 3_600_000, max_requests: 10, algorithm: Algorithm::TokenBucket }),
    ("search", Preset { window_ms: 60_000, max_requests: 30, algorithm: Algorithm::LeakyBucket }),
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<Preset> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Every preset as a JSON object `{ name: { windowMs, maxRequests, algorithm } }` (camelCase; the
/// Python binding renames the fields).
pub fn presets_json() -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (name, p) in PRESETS {
        m.insert(
            name.to_owned(),
            serde_json::json!({ "windowMs": p.window_ms, "maxRequests": p.max_requests, "algorithm": p.algorithm.name() }),
        );
    }
    serde_json::Value::Object(m)
}
