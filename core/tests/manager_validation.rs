//! Bad input gets a clear error naming what was wrong, and never changes state.

mod support;

use std::time::Duration;

use stratacache::{CacheOptions, MsetItem, SetOptions, StrataCache};
use support::{cache, cache_with, unique_ns, RedisServer};

#[tokio::test]
async fn bad_keys_ttls_tags_and_values_are_refused_with_codes() {
    let server = RedisServer::start();
    let ns = unique_ns("bad");
    let a = cache_with(&server.url(), &ns, {
        let mut o = CacheOptions::default();
        o.max_value_bytes = Some(1000);
        o
    })
    .await;
    let m = a.manager();
    let e = m.get::<String>("").await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_INVALID_KEY");
    assert!(e.message().contains("non-empty"), "{e}");
    let long = "k".repeat(1025);
    assert_eq!(m.set(&long, &1, &SetOptions::default()).await.unwrap_err().code(), "ERR_STRATACACHE_INVALID_KEY");
    let e = m.set("k", &1, &SetOptions::ttl(Duration::ZERO)).await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_INVALID_ARGUMENT");
    assert!(e.message().contains("ttl must be > 0, got 0"), "{e}");
    let e = m.set("k", &1, &SetOptions::default().with_tags([""])).await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_INVALID_ARGUMENT");
    let e = m.set_json("k", "{not json", &SetOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_SERIALIZATION");
    assert!(e.message().contains("\"k\""), "names the key: {e}");
    let e = m.set("big", &"x".repeat(2000), &SetOptions::default()).await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_VALUE_TOO_LARGE");
    assert!(e.message().contains("2002 bytes"), "{e}");
    let e = m.set("nan", &f64::NAN, &SetOptions::default()).await;
    // serde_json writes NaN as null; the typed Rust API cannot refuse it (documented).
    assert!(e.is_ok());

    // Empty batches are no-ops, not Redis errors.
    m.mset(&[]).await.unwrap();
    assert!(m.mget_entries(&[]).await.unwrap().is_empty());

    // mset with one bad item writes nothing.
    let items = vec![MsetItem::new("good", "1", None), MsetItem::new("", "2", None)];
    assert_eq!(m.mset(&items).await.unwrap_err().code(), "ERR_STRATACACHE_INVALID_KEY");
    let fresh = cache(&server.url(), &ns).await;
    assert_eq!(fresh.manager().get::<i32>("good").await.unwrap(), None, "nothing half-written");
    assert_eq!(m.get::<i32>("good").await.unwrap(), None);
}

#[tokio::test]
async fn bad_configuration_is_a_config_error_naming_the_value() {
    let e = StrataCache::builder().redis_url("http://nope").build().await.err().unwrap();
    assert_eq!(e.code(), "ERR_STRATACACHE_CONFIG");
    assert!(e.message().contains("http://nope"), "{e}");
    let e = StrataCache::builder().namespace("has space").build().await.err().unwrap();
    assert!(e.message().contains("has space"), "{e}");
}
