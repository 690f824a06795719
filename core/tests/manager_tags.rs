//! Tag invalidation: lazy, exact, O(1) per tag, no per-tag key sets.

mod support;

use std::time::Duration;

use redis::AsyncCommands;
use stratacache::{CacheOptions, MsetItem, SetOptions};
use support::{cache, cache_with, unique_ns, RedisServer};

fn tagged(tags: &[&str]) -> SetOptions {
    SetOptions::ttl(Duration::from_secs(60)).with_tags(tags.iter().copied())
}

#[tokio::test]
async fn invalidation_is_exact_across_instances() {
    let server = RedisServer::start();
    let ns = unique_ns("tags");
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    let m = a.manager();
    m.set("ticket:1", "t1", &tagged(&["tickets", "ticket:1"])).await.unwrap();
    m.set("ticket:2", "t2", &tagged(&["tickets", "ticket:2"])).await.unwrap();
    m.set("user:1", "u1", &tagged(&["users"])).await.unwrap();
    m.set("plain", "p", &SetOptions::default()).await.unwrap();

    m.invalidate_by_tags(&["tickets".into()]).await.unwrap();
    // No stale read once it returned: not in the invalidating process, not in another.
    assert_eq!(m.get::<String>("ticket:1").await.unwrap(), None);
    assert_eq!(b.manager().get::<String>("ticket:2").await.unwrap(), None);
    assert_eq!(b.manager().get::<String>("user:1").await.unwrap().as_deref(), Some("u1"));
    assert_eq!(m.get::<String>("plain").await.unwrap().as_deref(), Some("p"));

    // A fresh write after the invalidation is not treated as invalidated.
    m.set("ticket:1", "t1 again", &tagged(&["tickets"])).await.unwrap();
    assert_eq!(b.manager().get::<String>("ticket:1").await.unwrap().as_deref(), Some("t1 again"));
    let fresh = cache(&server.url(), &ns).await;
    assert_eq!(fresh.manager().get::<String>("ticket:1").await.unwrap().as_deref(), Some("t1 again"));
}

#[tokio::test]
async fn interleaved_writes_and_invalidations_never_read_stale() {
    let server = RedisServer::start();
    let ns = unique_ns("race");
    let writer = cache(&server.url(), &ns).await;
    let reader = cache_with(&server.url(), &ns, {
        let mut o = CacheOptions::default();
        o.enable_l1 = Some(false);
        o
    })
    .await;
    for round in 0..200 {
        let v = format!("v{round}");
        writer.manager().set("k", &v, &tagged(&["g"])).await.unwrap();
        assert_eq!(reader.manager().get::<String>("k").await.unwrap(), Some(v.clone()), "round {round}");
        writer.manager().invalidate_by_tags(&["g".into()]).await.unwrap();
        assert_eq!(reader.manager().get::<String>("k").await.unwrap(), None, "stale after round {round}");
        assert_eq!(writer.manager().get::<String>("k").await.unwrap(), None, "stale L1 after round {round}");
    }
}

#[tokio::test]
async fn tag_keys_are_bounded_and_expire() {
    let server = RedisServer::start();
    let ns = unique_ns("tagkeys");
    let a = cache(&server.url(), &ns).await;
    let items: Vec<MsetItem> = (0..100)
        .map(|i| MsetItem::new(format!("k{i}"), "1", Some(Duration::from_secs(5))).with_tags(["shared"]))
        .collect();
    a.manager().mset(&items).await.unwrap();
    let mut raw = server.raw().await;
    let keys: Vec<String> = raw.keys(format!("{ns}:t:*")).await.unwrap();
    assert_eq!(keys, vec![format!("{ns}:t:shared")], "one small key per tag, no member sets");
    let kind: String = redis::cmd("TYPE").arg(&keys[0]).query_async(&mut raw).await.unwrap();
    assert_eq!(kind, "string");
    let pttl: i64 = raw.pttl(&keys[0]).await.unwrap();
    assert!(pttl > 5_000 && pttl <= 15_000, "tag key outlives its longest entry by 10 s, got {pttl}");
    // A longer-lived entry extends the tag key; a shorter one never shortens it.
    a.manager().set("long", "1", &SetOptions::ttl(Duration::from_secs(100)).with_tags(["shared"])).await.unwrap();
    a.manager().set("short", "1", &SetOptions::ttl(Duration::from_secs(1)).with_tags(["shared"])).await.unwrap();
    let pttl: i64 = raw.pttl(&keys[0]).await.unwrap();
    assert!(pttl > 100_000, "got {pttl}");
}

#[tokio::test]
async fn a_vanished_tag_key_reads_as_invalidated() {
    let server = RedisServer::start();
    let ns = unique_ns("gone");
    let a = cache(&server.url(), &ns).await;
    a.manager().set("k", "v", &tagged(&["t"])).await.unwrap();
    let mut raw = server.raw().await;
    let _: () = raw.del(format!("{ns}:t:t")).await.unwrap();
    let b = cache(&server.url(), &ns).await;
    assert_eq!(b.manager().get::<String>("k").await.unwrap(), None);
}

#[tokio::test]
async fn mget_checks_tags_of_every_entry() {
    let server = RedisServer::start();
    let ns = unique_ns("mgettags");
    let a = cache(&server.url(), &ns).await;
    a.manager().set("a", "1", &tagged(&["x"])).await.unwrap();
    a.manager().set("b", "2", &tagged(&["y"])).await.unwrap();
    a.manager().set("c", "3", &SetOptions::default()).await.unwrap();
    a.manager().invalidate_by_tags(&["x".into()]).await.unwrap();
    let b = cache(&server.url(), &ns).await;
    let keys: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let got: Vec<Option<String>> = b
        .manager()
        .mget_entries(&keys)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.map(|e| e.json.to_string()))
        .collect();
    assert_eq!(got, vec![None, Some("\"2\"".into()), Some("\"3\"".into())]);
}
