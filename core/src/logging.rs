//! The log level every front door uses for the core's messages: `STRATACACHE_LOG` = `off`, `error`,
//! `warn` (default), `info` or `debug`. The bindings install their own sink (stderr in Node, Python
//! `logging` in Python) with this level.

use tracing::level_filters::LevelFilter;

/// The level from `STRATACACHE_LOG` (default `warn`).
pub fn level_filter() -> LevelFilter {
    match std::env::var("STRATACACHE_LOG").unwrap_or_default().to_ascii_lowercase().as_str() {
        "off" | "none" => LevelFilter::OFF,
        "error" => LevelFilter::ERROR,
        "info" => LevelFilter::INFO,
        "debug" | "trace" => LevelFilter::DEBUG,
        _ => LevelFilter::WARN,
    }
}
