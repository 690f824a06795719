//! Result metadata (contract §9): `get_with_meta` on the manager and on cache-aside, and the RFC 9211
//! `Cache-Status` value built from it.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use stratacache::manager::{CacheStatus, Tier};
use stratacache::patterns::{AsideOptions, Loader};
use stratacache::SetOptions;
use support::{cache, unique_ns, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_reports_tier_age_ttl_and_tags() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("meta")).await;
    let m = c.manager();
    m.set("k", &serde_json::json!({"a": 1}), &SetOptions::ttl(Duration::from_secs(60)).with_tags(["t1"])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let hit = m.get_with_meta("k").await.unwrap();
    assert_eq!((hit.status, hit.tier), (CacheStatus::Hit, Some(Tier::L1)));
    assert_eq!(hit.json.as_deref(), Some(r#"{"a":1}"#));
    // The metadata clock is the kernel's coarse clock (`clock::coarse_now_ms`, documented in
    // docs/resilience.md): it may read up to one tick (4 ms here, 10 ms at HZ=100) behind.
    assert!(hit.age_ms.unwrap() >= 30 - 10 && hit.age_ms.unwrap() < 5_000, "{hit:?}");
    assert!(hit.ttl_ms.unwrap() > 55_000 && hit.ttl_ms.unwrap() <= 60_000, "{hit:?}");
    assert_eq!(hit.tags, vec!["t1".to_string()]);
    assert_eq!(hit.cache_status("stratacache").unwrap(), format!("stratacache; hit; ttl={}", hit.ttl_ms.unwrap() / 1000));

    m.clear_l1();
    let l2 = m.get_with_meta("k").await.unwrap();
    assert_eq!((l2.status, l2.tier), (CacheStatus::Hit, Some(Tier::L2)));
    assert!(l2.age_ms.unwrap() >= 30 - 10, "the age comes from the envelope: {l2:?}");
    let miss = m.get_with_meta("absent").await.unwrap();
    assert_eq!((miss.status, miss.tier, miss.json.clone()), (CacheStatus::Miss, None, None));
    assert_eq!(miss.cache_status("stratacache").unwrap(), "stratacache; fwd=miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_aside_reports_loaded_then_hit_and_counts_each_read_once() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("metaaside")).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let loader: Loader = {
        let runs = runs.clone();
        Arc::new(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async { Ok(Some("42".to_string())) }.boxed()
        })
    };
    let opts = AsideOptions::ttl(Duration::from_secs(30));
    let before = c.manager().stats();
    let first = c.cache_aside().get_with_meta("n", loader.clone(), &opts).await.unwrap();
    assert_eq!((first.status, first.tier, first.stored), (CacheStatus::Miss, Some(Tier::Loader), true));
    assert_eq!(first.json.as_deref(), Some("42"));
    assert_eq!(first.cache_status("stratacache").unwrap(), "stratacache; fwd=miss; stored");
    let s = c.manager().stats();
    assert_eq!((s.l1.misses - before.l1.misses, s.l2.misses - before.l2.misses), (1, 1), "one lookup per tier, counted once");
    let second = c.cache_aside().get_with_meta("n", loader, &opts).await.unwrap();
    // L1, or Redis when Redis's client tracking has just reported the load's own scripted store
    // (NOLOOP does not cover script writes here; docs/bus.md): a hit either way, never a reload.
    assert_eq!(second.status, CacheStatus::Hit);
    assert!(matches!(second.tier, Some(Tier::L1) | Some(Tier::L2)), "{second:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(c.cache_aside().get_with_meta("", Arc::new(|| async { Ok(None) }.boxed()), &opts).await.is_err(), "keys are checked");
}
