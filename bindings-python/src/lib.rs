//! The PyO3 binding of stratacache: the private native module `stratacache._native`.
//!
//! It holds no cache logic: [`conv`] turns Python objects into JSON text and back, [`errors`] maps
//! core errors to the exception tree of `stratacache/errors.py`, [`bridge`] completes asyncio futures
//! in batches on the loop thread, [`runtime`] owns the one fork-safe tokio runtime, and [`handle`]
//! exposes the core's `StrataCache`, [`manager`] its cache manager. The other modules are named after the core
//! module they wrap ([`patterns`], [`invalidator`], [`session`], [`ratelimit`], [`callbacks`],
//! [`logging`]); [`memo`] keeps parsed objects of L1 entries. The public API is the pure-Python
//! package around it.

use pyo3::prelude::*;

pub mod bridge;
pub mod callbacks;
pub mod conv;
pub mod error;
pub mod handle;
pub mod invalidator;
pub mod logging;
pub mod manager;
pub mod meta;
pub mod monitor;
pub mod memo;
pub mod patterns;
pub mod ratelimit;
pub mod runtime;
pub mod session;
pub mod warming;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<handle::System>()?;
    m.add_class::<bridge::Completions>()?;
    m.add_class::<patterns::WriteBehindHandle>()?;
    m.add_class::<callbacks::Resolver>()?;
    m.add_class::<meta::PyResultMeta>()?;
    m.add_function(wrap_pyfunction!(handle::create_system, m)?)?;
    m.add_function(wrap_pyfunction!(handle::configure, m)?)?;
    m.add_function(wrap_pyfunction!(handle::reopen, m)?)?;
    m.add_function(wrap_pyfunction!(handle::mark_shut_down, m)?)?;
    m.add_function(wrap_pyfunction!(monitor::set_metrics_enabled, m)?)?;
    m.add_function(wrap_pyfunction!(warming::register_strategy, m)?)?;
    m.add_function(wrap_pyfunction!(warming::unregister_strategy, m)?)?;
    m.add_function(wrap_pyfunction!(meta::cache_status_header, m)?)?;
    m.add_function(wrap_pyfunction!(patterns::register_loader, m)?)?;
    m.add_function(wrap_pyfunction!(patterns::unregister_loader, m)?)?;
    m.add_function(wrap_pyfunction!(invalidator::register_domain, m)?)?;
    m.add_function(wrap_pyfunction!(invalidator::unregister_domain, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_shutdown_runtime, m)?)?;
    m.add_function(wrap_pyfunction!(ratelimit::rate_limit_presets, m)?)?;
    m.add_function(wrap_pyfunction!(ratelimit::rate_limit_headers, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_panic_for_tests, m)?)?;
    m.add("MISS", handle::miss(m.py())?)?;
    Ok(())
}
