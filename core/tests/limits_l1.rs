//! L1 bounded by bytes as well as entries (issue 19, `docs/limits.md`).

mod support;

use std::time::Duration;

use stratacache::{CacheOptions, SetOptions};
use support::{cache_with, unique_ns, RedisServer};

#[tokio::test]
async fn small_values_are_bounded_by_l1_max_size_and_large_ones_by_l1_max_bytes() {
    let server = RedisServer::start();
    let mut o = CacheOptions::default();
    o.l1_max_size = Some(1_000);
    o.l1_max_bytes = Some(1024 * 1024);
    let c = cache_with(&server.url(), &unique_ns("l1bytes"), o).await;
    let opts = SetOptions::ttl(Duration::from_secs(60));
    let l1 = c.manager().l1();
    // Small values: the entry bound holds (each weighs at least 1 MiB / 1,000).
    for i in 0..3_000 {
        c.manager().set_json(&format!("small:{i}"), "1", &opts).await.unwrap();
    }
    assert!((500..=1_000).contains(&l1.size()), "{} small entries", l1.size());
    // Large values: the byte bound holds.
    let big = format!("\"{}\"", "x".repeat(100 * 1024));
    for i in 0..100 {
        c.manager().set_json(&format!("big:{i}"), &big, &opts).await.unwrap();
        c.manager().get_json(&format!("big:{i}")).await.unwrap();
    }
    assert!(l1.weighted_bytes() <= 1024 * 1024, "weighed {} bytes", l1.weighted_bytes());
    let held = (0..100).filter(|i| l1.peek(&format!("big:{i}")).is_some()).count();
    assert!(held <= 10, "100 KB values in a 1 MiB L1: {held} held");
    // Everything is still readable (from Redis).
    for i in 0..100 {
        assert_eq!(c.manager().get_json(&format!("big:{i}")).await.unwrap().as_deref(), Some(big.as_str()));
    }
    let mut bad = CacheOptions::default();
    bad.l1_max_bytes = Some(0);
    assert!(bad.resolve().unwrap_err().message().contains("l1MaxBytes must be 1.."));
    c.close().await;
}

#[tokio::test]
async fn a_batch_read_decodes_at_most_max_batch_bytes() {
    // Issue 19: small LZ4 blocks that each declare 16 MiB, read together with mget.
    use stratacache::codec::{encode, EncodeOptions};
    let server = RedisServer::start();
    let ns = unique_ns("budget");
    let c = cache_with(&server.url(), &ns, CacheOptions::default()).await;
    let huge = format!("\"{}\"", "x".repeat(16 * 1024 * 1024 - 2));
    let now = stratacache::clock::now_ms();
    let bytes = encode(&huge, &[], EncodeOptions { created_at_ms: now, expires_at_ms: now + 600_000, compress_above: Some(1024), fail_safe: false });
    assert!(bytes.len() < 200_000, "a small block: {} bytes", bytes.len());
    let mut raw = server.raw().await;
    let keys: Vec<String> = (0..1_000).map(|i| format!("bomb:{i}")).collect();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("SET").arg(format!("{ns}:d:{k}")).arg(&bytes).ignore();
    }
    let _: () = pipe.query_async(&mut raw).await.unwrap();
    let got = c.manager().mget_entries(&keys).await.unwrap();
    let decoded = got.iter().filter(|e| e.is_some()).count();
    // 64 MiB of budget: four 16 MiB values, not a thousand (16 GiB).
    assert_eq!(decoded, 4, "decoded {decoded} of 1,000");
    assert_eq!(c.manager().over_budget_reads(), 996);
    // One at a time, each is readable.
    assert_eq!(c.manager().get_json("bomb:999").await.unwrap().map(|j| j.len()), Some(huge.len()));
    c.close().await;
}
