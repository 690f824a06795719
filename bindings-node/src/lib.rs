//! The napi-rs binding of stratacache: the native half of the npm package.
//!
//! It holds no cache logic. Each method converts arguments (JSON text and option objects given as
//! JSON text), calls the core, maps the error once ([`error`]), and bridges async on napi's tokio
//! runtime. L1 hits are served synchronously on the JS thread by [`handle::NativeCache::get_l1`].
//! The TypeScript layer in `bindings-node/ts/` gives the usage guide's surface on top of this.
//!
//! Each module is named after the core module it wraps: [`handle`] (`StrataCache` and the manager's
//! direct calls), [`manager`] (the manager's batched hot calls), [`patterns`], [`invalidator`],
//! [`session`], [`ratelimit`], [`callbacks`], [`logging`]; [`error`] is the one error map, and
//! [`completion`] and [`runtime`] are the binding's own async plumbing.

/// mimalloc instead of glibc malloc: buffers allocated on the JS thread are freed on the tokio worker
/// and the other way round, which glibc's arenas handle poorly (profiled: `malloc_consolidate` and
/// `_int_free` among the top symbols of the JS thread in the rate-limit benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod callbacks;
pub mod completion;
pub mod error;
pub mod handle;
pub mod hot;
pub mod invalidator;
pub mod logging;
pub mod manager;
pub mod meta;
pub mod monitor;
pub mod patterns;
pub mod ratelimit;
pub mod runtime;
pub mod session;
pub mod warming;
