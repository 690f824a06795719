//! napi's tokio runtime, configured for this addon: one worker thread. Redis I/O is multiplexed on
//! one connection, so more workers only add cross-thread wake-ups and compete with the JS thread
//! and Redis for the cores (measured: fewer hops per call with one worker).

use napi_derive::module_init;

#[module_init]
fn init() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("stratacache-io")
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime");
    napi::bindgen_prelude::create_custom_tokio_runtime(rt);
}
