//! The runnable demo (`./dev demo`): the usage guide's Basic Operations through the Rust API.

use std::time::Duration;

use serde_json::json;
use stratacache::{MsetItem, SetOptions, StrataCache};

#[tokio::main(flavor = "current_thread")]
async fn main() -> stratacache::Result<()> {
    let cache = StrataCache::builder().namespace("demo").build().await?;
    match cache.ping().await {
        Ok(()) => println!("connected to {}", stratacache::l2::redact(&cache.redis_config().url)),
        Err(e) => println!("Redis unreachable ({e}); running in degraded mode (L1 only)"),
    }
    let m = cache.manager();

    m.set("greeting", "Hello World", &SetOptions::ttl(Duration::from_secs(60))).await?;
    println!("greeting = {:?}", m.get::<String>("greeting").await?);
    m.del("greeting").await?;
    println!("after del = {:?}", m.get::<String>("greeting").await?);

    let ticket = json!({"id": 42, "title": "Printer on fire", "status": "open"});
    m.set("ticket:42", &ticket, &SetOptions::ttl(Duration::from_secs(300)).with_tags(["tickets", "ticket:42"])).await?;
    println!("ticket:42 = {}", m.get::<serde_json::Value>("ticket:42").await?.unwrap_or_default());
    m.invalidate_by_tags(&["tickets".into()]).await?;
    println!("after invalidateByTags(['tickets']) = {:?}", m.get::<serde_json::Value>("ticket:42").await?);

    let large = json!({"rows": (0..500).map(|i| json!({"id": i, "name": format!("row {i}")})).collect::<Vec<_>>()});
    m.set("doc:large", &large, &SetOptions::ttl(Duration::from_secs(3600)).compressed(Some(512))).await?;
    let back: serde_json::Value = m.get("doc:large").await?.expect("just written");
    println!("doc:large round-tripped compressed: {}", back == large);

    let users = ["Alice", "Bob", "Charlie"];
    let items: Vec<MsetItem> = users
        .iter()
        .enumerate()
        .map(|(i, n)| MsetItem::new(format!("user:{}", i + 1), json!({"name": n}).to_string(), Some(Duration::from_secs(300))))
        .collect();
    m.mset(&items).await?;
    let keys: Vec<String> = (1..=3).map(|i| format!("user:{i}")).collect();
    for (k, e) in keys.iter().zip(m.mget_entries(&keys).await?) {
        println!("{k}: {}", e.map(|e| e.json.to_string()).unwrap_or_else(|| "null".into()));
    }
    // Rate limiting: the `api` preset, shared with every process on this Redis.
    let api = stratacache::ratelimit::preset("api").expect("the api preset exists");
    let opts = stratacache::ratelimit::LimitOptions::new(api.window_ms, api.max_requests).algorithm(api.algorithm);
    let r = cache.rate_limiter().limit("api:demo", &opts).await?;
    println!("rate limit api:demo: allowed {}, remaining {} of {}", r.allowed, r.remaining, r.total);
    let s = m.stats();
    println!(
        "stats: l1 {}/{} entries, l1 hit rate {:.1}%, l2 hit rate {:.1}%, l2 errors {}",
        s.l1.size, s.l1.max_size, s.l1.hit_rate, s.l2.hit_rate, s.l2.errors
    );
    // Monitoring: health, the metrics report, the Prometheus exposition.
    let health = cache.health_check().await;
    println!("health: {} (redis {}, bus {})", health.status.as_str(), health.checks.redis.status, health.checks.bus.status);
    let report = cache.metrics_report();
    println!("get latency: {} samples, p95 {:.3} ms; {} sets", report.latency.get.count, report.latency.get.p95, report.operations.sets);
    for line in cache.prometheus_metrics().lines().filter(|l| l.starts_with("stratacache_cache_gets_total")) {
        println!("{line}");
    }
    cache.close().await;
    Ok(())
}
