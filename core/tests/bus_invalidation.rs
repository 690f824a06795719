//! The invalidation bus: every process's L1 stays coherent; listeners see every invalidation.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use redis::AsyncCommands;
use stratacache::bus::{InvalidationEvent, MessageKind};
use stratacache::invalidator::DomainTargets;
use stratacache::{SetOptions, StrataCache};
use support::{cache, unique_ns, RedisServer};

async fn connected(c: &StrataCache) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.manager().bus().stats().connected {
        assert!(Instant::now() < deadline, "the bus did not connect");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Wait until `key` is gone from `c`'s L1 (bounded).
async fn evicted(c: &StrataCache, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while c.manager().peek_l1(key).unwrap().is_some() {
        assert!(Instant::now() < deadline, "{key} was not evicted from the other process's L1");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn recorder(c: &StrataCache) -> Arc<Mutex<Vec<InvalidationEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    c.invalidator().on_invalidation(Arc::new(move |e: &InvalidationEvent| s.lock().unwrap().push(e.clone())));
    seen
}

async fn warm(c: &StrataCache, key: &str) {
    c.manager().get_json(key).await.unwrap().expect("value present");
    assert!(c.manager().peek_l1(key).unwrap().is_some());
}

#[tokio::test]
async fn writes_and_invalidations_evict_other_processes_l1() {
    let server = RedisServer::start();
    let ns = unique_ns("bus");
    let (a, b) = (cache(&server.url(), &ns).await, cache(&server.url(), &ns).await);
    connected(&a).await;
    connected(&b).await;
    let seen_b = recorder(&b);
    let seen_a = recorder(&a);
    let opts = SetOptions::ttl(Duration::from_secs(60)).with_tags(["grp"]);
    for k in ["k1", "k2", "k3", "p:1", "p:2", "t1"] {
        a.manager().set_json(k, "1", &opts).await.unwrap();
    }
    // set: B holds the old value in L1, A writes a new one → B sees the new one.
    warm(&b, "k1").await;
    a.manager().set_json("k1", "2", &opts).await.unwrap();
    evicted(&b, "k1").await;
    assert_eq!(b.manager().get_json("k1").await.unwrap().as_deref(), Some("2"));
    // del
    warm(&b, "k2").await;
    a.manager().del("k2").await.unwrap();
    evicted(&b, "k2").await;
    // keys
    warm(&b, "k3").await;
    assert_eq!(a.invalidator().invalidate_keys(&["k3".into(), "absent".into()]).await.unwrap(), 1);
    evicted(&b, "k3").await;
    // pattern
    warm(&b, "p:1").await;
    warm(&b, "p:2").await;
    assert_eq!(a.invalidator().invalidate_pattern("p:*").await.unwrap(), 2);
    evicted(&b, "p:1").await;
    evicted(&b, "p:2").await;
    assert_eq!(b.manager().get_json("p:2").await.unwrap(), None);
    // tag
    warm(&b, "t1").await;
    a.invalidator().invalidate_tags(&["grp".into()]).await.unwrap();
    evicted(&b, "t1").await;

    let deadline = Instant::now() + Duration::from_secs(3);
    while seen_b.lock().unwrap().len() < 4 {
        assert!(Instant::now() < deadline, "B saw {:?}", seen_b.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events = seen_b.lock().unwrap().clone();
    let kinds: Vec<(MessageKind, Vec<String>, bool)> = events.iter().map(|e| (e.kind, e.target.clone(), e.local)).collect();
    assert_eq!(
        kinds,
        vec![
            (MessageKind::Key, vec!["k2".to_string()], false),
            (MessageKind::Key, vec!["k3".to_string(), "absent".to_string()], false),
            (MessageKind::Pattern, vec!["p:*".to_string()], false),
            (MessageKind::Tag, vec!["grp".to_string()], false),
        ],
        "writes are not events; every invalidation is"
    );
    assert!(events.iter().all(|e| e.source == a.manager().bus().source()));
    let local = seen_a.lock().unwrap().clone();
    assert_eq!(local.len(), 4);
    assert!(local.iter().all(|e| e.local));
}

#[tokio::test]
async fn a_write_from_outside_the_library_evicts_l1() {
    let server = RedisServer::start();
    let ns = unique_ns("track");
    let b = cache(&server.url(), &ns).await;
    connected(&b).await;
    b.manager().set_json("ext", "1", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // NOLOOP: this process's own write is not reported back, so what it just cached stays in L1.
    assert!(b.manager().peek_l1("ext").unwrap().is_some(), "a local write evicted itself");
    let mut raw = server.raw().await;
    let _: () = raw.set(format!("{ns}:d:ext"), "garbage from redis-cli").await.unwrap();
    evicted(&b, "ext").await;
    assert!(b.manager().bus().stats().tracked >= 1);
}

#[tokio::test]
async fn a_subscriber_that_lost_its_connection_clears_l1_when_back() {
    let server = RedisServer::start();
    let ns = unique_ns("kill");
    let b = cache(&server.url(), &ns).await;
    connected(&b).await;
    b.manager().set_json("x", "1", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    warm(&b, "x").await;
    let mut raw = server.raw().await;
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async(&mut raw).await.unwrap();
    assert!(killed >= 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.manager().bus().stats().reconnects == 0 {
        assert!(Instant::now() < deadline, "the bus did not reconnect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(b.manager().peek_l1("x").unwrap().is_none(), "L1 must be cleared after a gap");
}

#[tokio::test]
async fn domain_rules_builtin_and_registered() {
    let server = RedisServer::start();
    let ns = unique_ns("domain");
    let a = cache(&server.url(), &ns).await;
    let opts = SetOptions::ttl(Duration::from_secs(60));
    a.manager().set_json("ticket:7", "1", &opts).await.unwrap();
    a.manager().set_json("dash", "1", &SetOptions::ttl(Duration::from_secs(60)).with_tags(["dashboard"])).await.unwrap();
    let t = a.domains().invalidate("ticket", "7").await.unwrap();
    assert_eq!(t.tags, vec!["ticket:7", "tickets", "dashboard"]);
    assert_eq!(a.manager().get_json("ticket:7").await.unwrap(), None);
    assert_eq!(a.manager().get_json("dash").await.unwrap(), None);
    a.manager().set_json("order:9:lines", "1", &opts).await.unwrap();
    a.domains()
        .register(
            "order",
            Arc::new(|id: String, _: &stratacache::patterns::CallContext| {
                async move { Ok(DomainTargets { patterns: vec![format!("order:{id}:*")], ..Default::default() }) }.boxed()
            }),
        )
        .unwrap();
    a.domains().invalidate("order", "9").await.unwrap();
    assert_eq!(a.manager().get_json("order:9:lines").await.unwrap(), None);
    let e = a.domains().invalidate("nope", "1").await.unwrap_err();
    assert!(e.message().contains("\"nope\""), "{e}");
    let mut raw = server.raw().await;
    let stats: String = redis::cmd("INFO").arg("commandstats").query_async(&mut raw).await.unwrap();
    assert!(!stats.contains("cmdstat_keys:"), "pattern invalidation must never use KEYS");
}

#[tokio::test]
async fn a_loaded_value_stays_in_l1_despite_its_own_scripted_echo_and_a_foreign_write_still_evicts() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("echo")).await;
    connected(&c).await;
    // Redis 7.0 reports a script's writes back to the writer's own tracking; the probe finds out.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !c.manager().bus().stats().scripted_echoes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tracked = c.manager().bus().stats().tracked;
    let loader: stratacache::patterns::Loader = Arc::new(|| async { Ok(Some("\"loaded\"".to_string())) }.boxed());
    let opts = stratacache::patterns::AsideOptions::ttl(Duration::from_secs(60));
    c.cache_aside().get("echo:k", loader, &opts).await.unwrap();
    // The store's own report arrives within milliseconds; give it ample time to (wrongly) evict.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(c.manager().peek_l1("echo:k").unwrap().is_some(), "the loaded value is still in L1");
    assert_eq!(c.manager().bus().stats().tracked, tracked, "its own store was not counted as a foreign write");
    let mut raw = server.raw().await;
    let key = c.manager().keys().data("echo:k");
    let _: () = raw.set(&key, "foreign").await.unwrap();
    evicted(&c, "echo:k").await;
    c.close().await;
}
