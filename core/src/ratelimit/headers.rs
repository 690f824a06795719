//! The standard response headers of one decision, so a middleware sets them in one call.
//!
//! | header | value |
//! |---|---|
//! | `X-RateLimit-Limit` | `total` |
//! | `X-RateLimit-Remaining` | `remaining` |
//! | `X-RateLimit-Reset` | `resetTime` as epoch **seconds** (rounded up), as GitHub and most APIs send it |
//! | `RateLimit-Policy` | IETF draft (draft-ietf-httpapi-ratelimit-headers): `"default";q=<total>;w=<window s>`, only when the window is known |
//! | `RateLimit` | IETF draft: `"default";r=<remaining>;t=<seconds until reset>` |
//! | `Retry-After` | whole seconds, only when denied |

use super::RateLimitResult;

/// The headers for `result`, in a stable order. `window_ms` (the call's window) adds `RateLimit-Policy`;
/// the relative `t=` of `RateLimit` is measured from now ([`crate::clock::now_ms`]), the same clock in
/// every front door.
pub fn headers(result: &RateLimitResult, window_ms: Option<u64>) -> Vec<(&'static str, String)> {
    headers_at(result, window_ms, crate::clock::now_ms())
}

/// [`headers`] as of `now_ms` (for tests).
pub fn headers_at(result: &RateLimitResult, window_ms: Option<u64>, now_ms: u64) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("X-RateLimit-Limit", result.total.to_string()),
        ("X-RateLimit-Remaining", result.remaining.to_string()),
        ("X-RateLimit-Reset", result.reset_time.div_ceil(1000).to_string()),
    ];
    if let Some(w) = window_ms {
        out.push(("RateLimit-Policy", format!("\"default\";q={};w={}", result.total, w.div_ceil(1000).max(1))));
    }
    let until_reset = result.reset_time.saturating_sub(now_ms).div_ceil(1000);
    out.push(("RateLimit", format!("\"default\";r={};t={}", result.remaining, until_reset)));
    if let Some(s) = result.retry_after {
        out.push(("Retry-After", s.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_result_gets_every_header() {
        let r = RateLimitResult { allowed: false, total: 100, remaining: 0, reset_time: 1_767_225_630_500, retry_after: Some(31) };
        let h = headers_at(&r, Some(60_000), 1_767_225_600_000);
        assert_eq!(
            h,
            vec![
                ("X-RateLimit-Limit", "100".to_owned()),
                ("X-RateLimit-Remaining", "0".to_owned()),
                ("X-RateLimit-Reset", "1767225631".to_owned()),
                ("RateLimit-Policy", "\"default\";q=100;w=60".to_owned()),
                ("RateLimit", "\"default\";r=0;t=31".to_owned()),
                ("Retry-After", "31".to_owned()),
            ]
        );
    }

    #[test]
    fn allowed_result_has_no_retry_after_and_policy_needs_the_window() {
        let r = RateLimitResult { allowed: true, total: 5, remaining: 4, reset_time: 2_000, retry_after: None };
        let h = headers_at(&r, None, 1_000);
        assert!(h.iter().all(|(n, _)| *n != "Retry-After" && *n != "RateLimit-Policy"));
        assert!(h.contains(&("RateLimit", "\"default\";r=4;t=1".to_owned())));
    }
}
