//! `cacheMetrics` in the core: counters move by exactly the operations made, histogram counts equal
//! the operations, `getStats()` agrees, the Prometheus exposition is well formed, `skipMetrics`
//! stops recording, and health goes healthy → degraded → healthy as Redis stops and comes back.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::json;
use stratacache::monitor::HealthStatus;
use stratacache::patterns::{AsideOptions, Loader};
use stratacache::ratelimit::{Algorithm, LimitOptions};
use stratacache::session::SessionOptions;
use stratacache::{CacheOptions, SetOptions, StrataCache};
use support::proxy::FaultProxy;
use support::{within, cache, cache_with, redis_opts, unique_ns, RedisServer};


fn ttl() -> SetOptions {
    SetOptions::ttl(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_and_histograms_move_by_exactly_the_operations_made() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("metrics")).await;
    c.ping().await.unwrap();
    let m = c.manager();
    let before = c.metrics_report();
    // A cold cache-aside key: an L1 miss, an L2 miss, one load, its value stored; then one more
    // lookup, answered by L1 or (when the stored value's L1 fill was dropped) by Redis.
    let loader: Loader = Arc::new(|| async { Ok(Some("42".to_string())) }.boxed());
    c.cache_aside().get("aside", loader.clone(), &AsideOptions::ttl(Duration::from_secs(60))).await.unwrap();
    c.cache_aside().get("aside", loader, &AsideOptions::ttl(Duration::from_secs(60))).await.unwrap();
    for i in 0..10 {
        m.set(&format!("k{i}"), &i, &ttl()).await.unwrap();
    }
    for i in 0..10 {
        let _: Option<i32> = m.get(&format!("k{i}")).await.unwrap(); // 10 L1 hits
    }
    for i in 0..4 {
        let _: Option<i32> = m.get(&format!("absent{i}")).await.unwrap(); // 4 L1 misses, 4 L2 misses
    }
    m.clear_l1();
    for i in 0..3 {
        let _: Option<i32> = m.get(&format!("k{i}")).await.unwrap(); // 3 L2 hits
    }
    assert!(m.del("k0").await.unwrap());
    c.invalidator().invalidate_keys(&["k1".into(), "k2".into()]).await.unwrap();
    c.invalidator().invalidate_tags(&["t1".into()]).await.unwrap();
    c.invalidator().invalidate_pattern("k9*").await.unwrap();
    let lim = LimitOptions::new(60_000, 2).algorithm(Algorithm::TokenBucket);
    for _ in 0..3 {
        c.rate_limiter().limit("ip:1", &lim).await.unwrap();
    }
    let s_opts = SessionOptions { ttl: Duration::from_secs(60), max_devices: 1 };
    let (first, _) = c.sessions().create(json!({"userId": 1}), s_opts.clone()).await.unwrap();
    let (second, _) = c.sessions().create(json!({"userId": 1}), s_opts).await.unwrap(); // evicts the first
    assert!(!c.sessions().delete(&first).await.unwrap());
    assert!(c.sessions().delete(&second).await.unwrap());

    let r = c.metrics_report();
    let d = |a: u64, b: u64| a - b;
    assert_eq!(d(r.operations.sets, before.operations.sets), 11, "10 sets and one loaded value stored");
    let hits = d(r.operations.l1_hits, before.operations.l1_hits) + d(r.operations.l2_hits, before.operations.l2_hits);
    assert_eq!(hits, 10 + 3 + 1, "10 L1 hits, 3 L2 hits, and the second cache-aside get");
    assert!(d(r.operations.l1_hits, before.operations.l1_hits) >= 10);
    assert_eq!(d(r.operations.l2_misses, before.operations.l2_misses), 4 + 1, "4 absent keys and the cold cache-aside key");
    assert_eq!(d(r.operations.deletes, before.operations.deletes), 1);
    assert_eq!(d(r.latency.get.count, before.latency.get.count), 10 + 4 + 3 + 2, "one sample per key read");
    assert_eq!(d(r.latency.set.count, before.latency.set.count), 10, "one sample per key set (the loaded value is stored by script)");
    assert!(r.latency.get.max >= r.latency.get.p99 && r.latency.get.p99 >= r.latency.get.p50 && r.latency.get.avg > 0.0, "{:?}", r.latency.get);
    assert_eq!((r.invalidations.keys, r.invalidations.tags, r.invalidations.patterns), (2, 1, 1));
    let tb = r.rate_limit.by_algorithm.iter().find(|a| a.algorithm == "token-bucket").expect("token-bucket decisions");
    assert_eq!((tb.allowed, tb.denied), (2, 1));
    assert_eq!((r.sessions.created, r.sessions.evicted, r.sessions.deleted), (2, 1, 1));
    assert_eq!((r.cache_aside.loads, r.cache_aside.load_errors), (1, 0));
    assert!(r.bus.messages_out >= 10, "every write and invalidation published: {}", r.bus.messages_out);
    assert_eq!(r.health.status, "healthy");
    assert!(r.bus.tracking);

    // getStats() and the report read the same counters.
    let s = m.stats();
    assert_eq!((s.l1.hits, s.l1.misses, s.l2.hits, s.l2.misses), (r.operations.l1_hits, r.operations.l1_misses, r.operations.l2_hits, r.operations.l2_misses));
    let total = (s.l1.hits + s.l2.hits) as f64 * 100.0 / (s.l1.hits + s.l1.misses) as f64;
    assert!((r.hit_rate.total - total).abs() < 1e-9);

    // The JSON is camelCase, as the bindings hand it out.
    let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert!(j["hitRate"]["total"].is_number() && j["latency"]["get"]["p95"].is_number() && j["health"]["uptime"].is_number());
}

#[tokio::test]
async fn prometheus_exposition_has_histograms_counters_and_the_namespace_label() {
    let server = RedisServer::start();
    let ns = unique_ns("prom");
    let c = cache(&server.url(), &ns).await;
    c.manager().set("a", &1, &ttl()).await.unwrap();
    let _: Option<i32> = c.manager().get("a").await.unwrap();
    let text = c.prometheus_metrics();
    let label = format!("namespace=\"{ns}\"");
    assert!(text.contains("# TYPE stratacache_cache_gets_total counter"), "{text}");
    assert!(text.contains("# HELP stratacache_cache_gets_total "), "{text}");
    assert!(text.contains(&format!("stratacache_cache_gets_total{{{label},tier=\"l1\",outcome=\"hit\"}} 1")), "{text}");
    assert!(text.contains("# TYPE stratacache_cache_get_duration_seconds histogram"));
    assert!(text.contains(&format!("stratacache_cache_get_duration_seconds_bucket{{{label},le=\"+Inf\"}} 1")), "{text}");
    assert!(text.contains(&format!("stratacache_cache_get_duration_seconds_count{{{label}}} 1")), "{text}");
    assert!(text.contains(&format!("stratacache_cache_set_duration_seconds_count{{{label}}} 1")), "{text}");
    // Cumulative buckets never decrease and end at the count.
    let buckets: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("stratacache_cache_get_duration_seconds_bucket"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]) && *buckets.last().unwrap() == 1, "{buckets:?}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("stratacache_") && line.contains(&label), "every sample is prefixed and labelled: {line}");
    }
}

#[tokio::test]
async fn skip_metrics_stops_recording_but_get_stats_keeps_counting() {
    let server = RedisServer::start();
    let c = StrataCache::builder()
        .redis(redis_opts(&server.url(), &unique_ns("skip")))
        .metrics(false)
        .build()
        .await
        .unwrap();
    c.manager().set("a", &1, &ttl()).await.unwrap();
    let _: Option<i32> = c.manager().get("a").await.unwrap();
    let r = c.metrics_report();
    assert!(!r.enabled);
    assert_eq!((r.latency.get.count, r.latency.set.count, r.operations.sets), (0, 0, 0));
    assert_eq!(c.manager().stats().l1.hits, 1, "getStats() is not metrics: it keeps counting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_degraded_when_redis_stops_and_healthy_when_it_is_back() {
    let mut server = RedisServer::start();
    let port = server.port;
    let c = cache(&server.url(), &unique_ns("health")).await;
    c.ping().await.unwrap();
    let h = c.health_check().await;
    assert_eq!(h.status, HealthStatus::Healthy, "{h:?}");
    assert_eq!((h.checks.redis.status, h.checks.bus.status, h.checks.l1.status), ("up", "up", "up"));
    assert!(h.checks.redis.latency_ms.is_some() && h.checks.bus.tracking);

    server.kill();
    within(Duration::from_secs(5), "degraded after Redis stopped", || async {
        let h = c.health_check().await;
        h.status == HealthStatus::Degraded && h.checks.redis.status == "down"
    })
    .await;
    let t = Instant::now();
    let h = c.health_check().await;
    assert!(t.elapsed() < Duration::from_millis(1_500), "a check is bounded: {:?}", t.elapsed());
    assert!(h.checks.redis.error.is_some());
    assert_eq!(c.metrics_report().health.status, "degraded");

    let _server = RedisServer::start_on(port);
    within(Duration::from_secs(10), "healthy after Redis is back", || async {
        c.health_check().await.status == HealthStatus::Healthy
    })
    .await;
    let r = c.metrics_report();
    assert!(r.redis.recoveries >= 1 && r.redis.breaker_state == "closed", "{:?}", r.redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_bus_is_degraded_until_it_answers_again() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port);
    let c = cache(&proxy.url(), &unique_ns("frozen")).await;
    c.ping().await.unwrap();
    assert_eq!(c.health_check().await.status, HealthStatus::Healthy);
    proxy.freeze();
    within(Duration::from_secs(6), "degraded while frozen", || async {
        let h = c.health_check().await;
        h.status == HealthStatus::Degraded && h.checks.bus.status == "down"
    })
    .await;
    proxy.pass();
    within(Duration::from_secs(8), "healthy once it answers", || async {
        c.health_check().await.status == HealthStatus::Healthy
    })
    .await;
}

#[tokio::test]
async fn unhealthy_after_shutdown_and_without_redis_or_l1() {
    let mut no_l1 = CacheOptions::default();
    no_l1.enable_l1 = Some(false);
    let c = cache_with(&format!("redis://127.0.0.1:{}", support::free_port()), &unique_ns("nothing"), no_l1).await;
    assert_eq!(c.health_check().await.status, HealthStatus::Unhealthy, "no Redis and no L1: nothing can serve");
    let server = RedisServer::start();
    let ok = cache(&server.url(), &unique_ns("closing")).await;
    ok.close().await;
    assert_eq!(ok.health_check().await.status, HealthStatus::Unhealthy);
}


