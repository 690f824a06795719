//! The core's log lines (Redis unavailable, corrupt entries, a write-behind given up…) printed to
//! stderr, as `console.warn` would. `STRATACACHE_LOG` sets the level: `off`, `error`, `warn`
//! (default), `info`, `debug`. Installed once, when the first system is created.

use std::sync::Once;


static INIT: Once = Once::new();

/// Install the stderr logger once (a no-op if the process already has a global subscriber).
pub fn init() {
    INIT.call_once(|| {
        let level = stratacache::logging::level_filter();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(std::io::stderr)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
