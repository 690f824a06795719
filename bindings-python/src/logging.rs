//! The core's log lines (Redis unreachable, corrupt entries, a write-behind given up…) forwarded to
//! Python's `logging` (logger `stratacache`), so they reach the application's handlers.
//!
//! Warnings are rare, so taking the interpreter for each one from a tokio thread is fine. Forwarding
//! stops in the `atexit` hook, before the runtime shuts down, so nothing touches a finalizing
//! interpreter. `STRATACACHE_LOG` (`off`, `error`, `warn` default, `info`, `debug`) sets the level.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use pyo3::prelude::*;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

static INIT: Once = Once::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Stop forwarding (called at interpreter exit).
pub fn disable() {
    ENABLED.store(false, Ordering::Release);
}

/// One formatted log line, handed to Python logging when dropped.
pub struct LineWriter {
    level: i32,
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() || !ENABLED.load(Ordering::Acquire) {
            return;
        }
        let line = String::from_utf8_lossy(&self.buf).trim_end().to_owned();
        let level = self.level;
        Python::attach(|py| {
            let logged = py
                .import("logging")
                .and_then(|l| l.call_method1("getLogger", ("stratacache",)))
                .and_then(|logger| logger.call_method1("log", (level, line)));
            if let Err(e) = logged {
                e.print(py);
            }
        });
    }
}

struct ToPythonLogging;

impl<'a> MakeWriter<'a> for ToPythonLogging {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter { level: 30, buf: Vec::new() }
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        let level = match *meta.level() {
            Level::ERROR => 40,
            Level::WARN => 30,
            Level::INFO => 20,
            _ => 10,
        };
        LineWriter { level, buf: Vec::with_capacity(128) }
    }
}

/// Install the forwarding subscriber once (a no-op if the process already has one).
pub fn init() {
    INIT.call_once(|| {
        let level = stratacache::logging::level_filter();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_writer(ToPythonLogging)
            .finish();
        if tracing::subscriber::set_global_default(subscriber).is_ok() {
            ENABLED.store(true, Ordering::Release);
        }
    });
}
