//! Cache manager behaviour a user relies on: round trips, TTL in both tiers, compression,
//! mget/mset round-trip counts, namespaces, stats.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use serde_json::json;
use stratacache::{CacheOptions, MsetItem, SetOptions};
use support::{cache, cache_with, command_calls, unique_ns, RedisServer, SlowProxy};

#[tokio::test]
async fn set_get_del_round_trip_through_both_tiers() {
    let server = RedisServer::start();
    let ns = unique_ns("basic");
    let a = cache(&server.url(), &ns).await;
    let m = a.manager();
    m.set("greeting", "Hello World", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    assert_eq!(m.get::<String>("greeting").await.unwrap().as_deref(), Some("Hello World"));

    // A second "process" (its own L1) reads the same value from Redis.
    let b = cache(&server.url(), &ns).await;
    let doc = json!({"name": "Alice", "tags": ["a", "é", "🦀"], "n": -1.5e300, "nested": {"x": null}});
    m.set("user:1", &doc, &SetOptions::default()).await.unwrap();
    assert_eq!(b.manager().get::<serde_json::Value>("user:1").await.unwrap(), Some(doc));
    let s = b.manager().stats();
    assert_eq!((s.l1.hits, s.l1.misses, s.l2.hits), (0, 1, 1));
    // Now B's L1 serves it.
    b.manager().get::<serde_json::Value>("user:1").await.unwrap().unwrap();
    assert_eq!(b.manager().stats().l1.hits, 1);
    assert_eq!(b.manager().stats().l1.hit_rate, 50.0);

    assert!(m.del("greeting").await.unwrap());
    assert_eq!(m.get::<String>("greeting").await.unwrap(), None);
    assert_eq!(b.manager().get::<String>("greeting").await.unwrap(), None);
}

#[tokio::test]
async fn redis_expiry_equals_the_ttl_and_both_tiers_expire() {
    let server = RedisServer::start();
    let ns = unique_ns("ttl");
    let a = cache(&server.url(), &ns).await;
    let m = a.manager();
    m.set("k", &1, &SetOptions::ttl(Duration::from_millis(400))).await.unwrap();
    let mut raw = server.raw().await;
    let pttl: i64 = raw.pttl(format!("{ns}:d:k")).await.unwrap();
    assert!(pttl > 0 && pttl <= 400, "Redis expiry must equal the TTL, got PTTL {pttl}");

    let b = cache(&server.url(), &ns).await;
    assert_eq!(b.manager().get::<i32>("k").await.unwrap(), Some(1)); // fills B's L1 from PTTL
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(m.get::<i32>("k").await.unwrap(), None, "writer's L1 must expire with the TTL");
    assert_eq!(b.manager().get::<i32>("k").await.unwrap(), None, "reader's L1 must not outlive Redis");

    // Fractional TTLs and the default TTL.
    let d = cache_with(&server.url(), &ns, {
        let mut o = CacheOptions::default();
        o.default_ttl = Some(Duration::from_secs(42));
        o
    })
    .await;
    d.manager().set("dflt", &true, &SetOptions::default()).await.unwrap();
    let pttl: i64 = raw.pttl(format!("{ns}:d:dflt")).await.unwrap();
    assert!(pttl > 41_000 && pttl <= 42_000, "default TTL, got {pttl}");
}

#[tokio::test]
async fn compression_round_trips_and_shrinks_what_redis_stores() {
    let server = RedisServer::start();
    let ns = unique_ns("lz4");
    let a = cache(&server.url(), &ns).await;
    let rows: Vec<_> = (0..200).map(|i| json!({"id": i, "title": "a fairly repetitive title", "ok": true})).collect();
    let doc = json!({ "rows": rows });
    let text_len = serde_json::to_string(&doc).unwrap().len();
    let opts = SetOptions::ttl(Duration::from_secs(60)).compressed(Some(512));
    a.manager().set("doc:large", &doc, &opts).await.unwrap();
    a.manager().set("doc:plain", &doc, &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    let mut raw = server.raw().await;
    let stored: usize = raw.strlen(format!("{ns}:d:doc:large")).await.unwrap();
    let plain: usize = raw.strlen(format!("{ns}:d:doc:plain")).await.unwrap();
    assert!(stored * 4 < text_len, "compressed {stored} bytes vs JSON {text_len}");
    assert!(plain > text_len, "uncompressed envelope holds the whole JSON");
    let b = cache(&server.url(), &ns).await;
    assert_eq!(b.manager().get::<serde_json::Value>("doc:large").await.unwrap(), Some(doc));
}

#[tokio::test]
async fn mget_and_mset_cost_one_round_trip() {
    let server = RedisServer::start();
    let delay = Duration::from_millis(40);
    let proxy = SlowProxy::start(server.port, delay).await;
    let ns = unique_ns("multi");
    let a = cache_with(&proxy.url(), &ns, {
        let mut o = CacheOptions::default();
        o.enable_l1 = Some(false);
        o
    })
    .await;
    a.manager().get_json("warmup").await.unwrap(); // connect first
    let items: Vec<MsetItem> =
        (0..200).map(|i| MsetItem::new(format!("user:{i}"), format!("{{\"id\":{i}}}"), None)).collect();
    let t = Instant::now();
    a.manager().mset(&items).await.unwrap();
    let mset_time = t.elapsed();
    let keys: Vec<String> = (0..200).map(|i| format!("user:{i}")).chain(["nope".to_string()]).collect();
    let t = Instant::now();
    let got = a.manager().mget_entries(&keys).await.unwrap();
    let mget_time = t.elapsed();
    assert_eq!(got.len(), 201);
    assert_eq!(&*got[7].as_ref().unwrap().json, "{\"id\":7}", "results are in input order");
    assert!(got[200].is_none());
    // One round trip costs >= 40 ms through the proxy; one per key would cost >= 8 s.
    assert!(mset_time < delay * 5, "mset of 200 took {mset_time:?}: more than one round trip");
    assert!(mget_time < delay * 5, "mget of 201 took {mget_time:?}: more than one round trip");
}

#[tokio::test]
async fn namespaces_share_nothing() {
    let server = RedisServer::start();
    let a = cache(&server.url(), &unique_ns("a")).await;
    let b = cache(&server.url(), &unique_ns("b")).await;
    a.manager().set("k", "from a", &SetOptions::default().with_tags(["t"])).await.unwrap();
    assert_eq!(b.manager().get::<String>("k").await.unwrap(), None);
    b.manager().set("k", "from b", &SetOptions::default().with_tags(["t"])).await.unwrap();
    b.manager().invalidate_by_tags(&["t".into()]).await.unwrap();
    assert_eq!(a.manager().get::<String>("k").await.unwrap().as_deref(), Some("from a"));
}

#[tokio::test]
async fn l1_is_bounded_and_l1_hits_do_not_touch_redis() {
    let server = RedisServer::start();
    let ns = unique_ns("bound");
    let a = cache_with(&server.url(), &ns, {
        let mut o = CacheOptions::default();
        o.l1_max_size = Some(50);
        o
    })
    .await;
    for i in 0..500 {
        a.manager().set(&format!("k{i}"), &i, &SetOptions::default()).await.unwrap();
    }
    let s = a.manager().stats();
    assert!(s.l1.size <= 50, "L1 holds {} entries with maxSize 50", s.l1.size);
    assert_eq!(s.l1.max_size, 50);

    let mut raw = server.raw().await;
    a.manager().set("hot", "v", &SetOptions::default()).await.unwrap();
    let before: String = redis::cmd("INFO").arg("commandstats").query_async(&mut raw).await.unwrap();
    for _ in 0..100 {
        assert!(a.manager().get_l1("hot").unwrap().is_some());
        a.manager().get::<String>("hot").await.unwrap().unwrap();
    }
    let after: String = redis::cmd("INFO").arg("commandstats").query_async(&mut raw).await.unwrap();
    let gets = |s: &str| s.lines().find(|l| l.starts_with("cmdstat_get:")).map(str::to_owned);
    assert_eq!(gets(&before), gets(&after), "L1 hits sent GETs to Redis");
}

#[tokio::test]
async fn a_batch_of_sets_keeps_each_outcome_and_sends_one_bus_message() {
    let server = RedisServer::start();
    let ns = unique_ns("setbatch");
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    let m = a.manager();
    // B caches an old value, so it must hear about the batch to drop it.
    m.set("k0", &"old", &SetOptions::default()).await.unwrap();
    assert_eq!(b.manager().get::<String>("k0").await.unwrap().as_deref(), Some("old"));

    let mut raw = server.raw().await;
    let before = command_calls(&mut raw, "publish").await;
    let item = |key: &str, json: &str, opts: SetOptions| stratacache::SetItem { key: key.into(), json: json.into(), opts };
    let results = m
        .set_json_batch(&[
            item("k0", "\"new\"", SetOptions::default()),
            item("k1", "1", SetOptions::default().with_tags(["t"])),
            item("", "2", SetOptions::default()),
            item("k3", "not json", SetOptions::default()),
            item("k4", "4", SetOptions::ttl(Duration::ZERO)),
            item("k1", "11", SetOptions::default().with_tags(["t"])),
        ])
        .await;
    let after = command_calls(&mut raw, "publish").await;
    let kinds: Vec<_> = results.iter().map(|r| r.as_ref().err().map(|e| e.code())).collect();
    assert_eq!(
        kinds,
        [None, None, Some("ERR_STRATACACHE_INVALID_KEY"), Some("ERR_STRATACACHE_SERIALIZATION"), Some("ERR_STRATACACHE_INVALID_ARGUMENT"), None]
    );
    assert_eq!(after - before, 1, "one bus message for the whole batch");
    // The later of two writes to one key wins, in both tiers; B dropped its old copy.
    assert_eq!(m.get::<i64>("k1").await.unwrap(), Some(11));
    assert_eq!(b.manager().get::<i64>("k1").await.unwrap(), Some(11));
    for _ in 0..100 {
        if b.manager().get::<String>("k0").await.unwrap().as_deref() == Some("new") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(b.manager().get::<String>("k0").await.unwrap().as_deref(), Some("new"));
    assert!(!raw.exists::<_, bool>(format!("{ns}:d:k3")).await.unwrap());
    assert!(!raw.exists::<_, bool>(format!("{ns}:d:k4")).await.unwrap());
    // Tags travelled per item.
    m.invalidate_by_tags(&["t".to_owned()]).await.unwrap();
    assert_eq!(b.manager().get::<i64>("k1").await.unwrap(), None);
    assert_eq!(m.get::<String>("k0").await.unwrap().as_deref(), Some("new"));
}

#[tokio::test]
async fn a_batch_of_l2_gets_reads_every_key_in_one_go_and_fails_only_bad_keys() {
    let server = RedisServer::start();
    let ns = unique_ns("getbatch");
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    a.manager().set("x", &1, &SetOptions::default()).await.unwrap();
    a.manager().set("y", &"two", &SetOptions::default()).await.unwrap();
    let keys = ["x", "", "missing", "y", "x"].map(String::from);
    let got = b.manager().get_l2_batch(&keys).await;
    let view: Vec<_> = got
        .iter()
        .map(|r| match r {
            Ok(e) => Ok(e.as_ref().map(|e| e.json.to_string())),
            Err(e) => Err(e.code()),
        })
        .collect();
    assert_eq!(
        view,
        [Ok(Some("1".into())), Err("ERR_STRATACACHE_INVALID_KEY"), Ok(None), Ok(Some("\"two\"".into())), Ok(Some("1".into()))]
    );
    let s = b.manager().stats();
    assert_eq!((s.l2.hits, s.l2.misses), (3, 1));
    // The batch filled B's L1.
    assert!(b.manager().get_l1("y").unwrap().is_some());
}

#[tokio::test]
async fn begin_writes_makes_l1_forget_older_values_at_once() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("begin")).await;
    let m = c.manager();
    m.set("k", "old", &SetOptions::default()).await.unwrap();
    assert!(m.get_l1("k").unwrap().is_some(), "the set filled L1");
    m.begin_writes(["k"]);
    assert!(m.get_l1("k").unwrap().is_none(), "L1 still serves the value a started write replaces");
    m.set("k", "new", &SetOptions::default()).await.unwrap();
    assert_eq!(m.get::<String>("k").await.unwrap().as_deref(), Some("new"));
}

#[tokio::test]
async fn ttl_jitter_spreads_the_expiry_of_keys_written_together() {
    let server = support::RedisServer::start();
    let ns = support::unique_ns("jitter");
    let mut opts = stratacache::CacheOptions::default();
    opts.ttl_jitter = Some(std::time::Duration::from_secs(30));
    let c = support::cache_with(&server.url(), &ns, opts).await;
    let m = c.manager();
    let items: Vec<stratacache::SetItem> = (0..40)
        .map(|i| stratacache::SetItem { key: format!("j{i}"), json: "1".into(), opts: stratacache::SetOptions::ttl(std::time::Duration::from_secs(60)) })
        .collect();
    assert!(m.set_json_batch(&items).await.iter().all(|r| r.is_ok()));
    let mut per_call = stratacache::SetOptions::ttl(std::time::Duration::from_secs(60));
    per_call.ttl_jitter = Some(std::time::Duration::ZERO);
    m.set("exact", &1, &per_call).await.unwrap();
    let mut raw = server.raw().await;
    let mut pttls = Vec::new();
    for i in 0..40 {
        let p: i64 = redis::AsyncCommands::pttl(&mut raw, format!("{ns}:d:j{i}")).await.unwrap();
        assert!((59_000..=90_000).contains(&p), "TTL 60 s plus 0..30 s: {p}");
        pttls.push(p);
    }
    pttls.sort_unstable();
    assert!(pttls[39] - pttls[0] > 10_000, "40 keys written together expire over more than 10 s: {pttls:?}");
    let exact: i64 = redis::AsyncCommands::pttl(&mut raw, format!("{ns}:d:exact")).await.unwrap();
    assert!((59_000..=60_000).contains(&exact), "ttlJitter: 0 on the call turns it off: {exact}");
    let mut bad = stratacache::CacheOptions::default();
    bad.ttl_jitter = Some(std::time::Duration::from_secs(100_000));
    assert!(bad.resolve().unwrap_err().message().contains("ttlJitter must be at most 86400"));
}
