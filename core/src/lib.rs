//! stratacache: a two-tier cache — an in-process L1 (moka) over a shared Redis L2 — whose values,
//! tags and invalidations are shared byte for byte by Rust, Node and Python processes.
//!
//! ```no_run
//! # async fn demo() -> stratacache::Result<()> {
//! use std::time::Duration;
//! use stratacache::{SetOptions, StrataCache};
//!
//! let cache = StrataCache::builder().redis_url("redis://127.0.0.1:6379").namespace("app").build().await?;
//! let m = cache.manager();
//! m.set("greeting", "Hello World", &SetOptions::ttl(Duration::from_secs(60))).await?;
//! let g: Option<String> = m.get("greeting").await?;
//! assert_eq!(g.as_deref(), Some("Hello World"));
//! m.set("user:1", &serde_json::json!({"name": "Alice"}), &SetOptions::default().with_tags(["users"])).await?;
//! m.invalidate_by_tags(&["users".to_string()]).await?;
//! # Ok(()) }
//! ```

pub mod breaker;
pub mod bus;
pub mod callbacks;
pub mod clock;
pub mod codec;
pub mod config;
pub mod dynopts;
pub mod error;
pub mod glob;
pub mod handle;
pub mod invalidator;
pub mod key;
pub mod l1;
pub mod logging;
pub mod l2;
pub mod lane;
pub mod manager;
pub mod metrics;
pub mod monitor;
pub mod options;
pub mod patterns;
pub mod ratelimit;
pub mod session;
pub mod singleton;
pub mod starts;
pub mod stats;
pub mod tasks;
pub mod warming;

pub use config::{CacheConfig, CacheOptions, RedisConfig, RedisOptions};
pub use error::{Error, ErrorKind, Result};
pub use handle::{Registries, StrataCache, StrataCacheBuilder};
pub use l1::Entry;
pub use manager::CacheManager;
pub use options::{count_from_f64, ttl_from_secs, MsetItem, SetItem, SetOptions};
pub use stats::{CacheStats, L1Stats, L2Stats};
