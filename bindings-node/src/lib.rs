//! The napi-rs binding of stratacache: the native half of the npm package.
//!
//! It holds no cache logic. Each method converts arguments (JSON text and option objects given as
//! JSON text), calls the core, maps the error once ([`error`]), and bridges async on napi's tokio
//! runtime. L1 hits are served synchronously on the JS thread by [`system::NativeCache::get_l1`].
//! The TypeScript layer in `bindings-node/ts/` gives the usage guide's surface on top of this.

/// mimalloc instead of glibc malloc: buffers allocated on the JS thread are freed on the tokio worker
/// and the other way round, which glibc's arenas handle poorly (profiled: `malloc_consolidate` and
/// `_int_free` among the top symbols of the JS thread in the rate-limit benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod callbacks;
pub mod completion;
pub mod error;
pub mod hot_calls;
pub mod invalidation;
pub mod logging;
pub mod patterns;
pub mod ratelimit;
pub mod runtime;
pub mod sessions;
pub mod system;
