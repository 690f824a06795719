//! Behind Redis Sentinel (a primary, a replica and three Sentinels, started once for this binary by
//! `tests/support/topology.py`): the basics and the bus, then a failover — SIGKILL the primary; the
//! service returns once the Sentinels promote the replica, and nothing invalidated meanwhile is served.

mod support;

use std::time::{Duration, Instant};

use stratacache::{CacheOptions, SetOptions, StrataCache};
use support::topology::Topology;
use support::unique_ns;

async fn system(t: &Topology, ns: &str) -> StrataCache {
    StrataCache::builder().redis(t.redis_opts(ns)).cache(CacheOptions::default()).build().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basics_then_a_failover_behind_sentinel() {
    let t = Topology::start("sentinel");
    let ns = unique_ns("sentinel");
    let (a, b) = (system(&t, &ns).await, system(&t, &ns).await);
    assert!(a.manager().bus().wait_connected(Duration::from_secs(10)).await);
    assert!(b.manager().bus().wait_connected(Duration::from_secs(10)).await);
    let m = a.manager();
    let opts = SetOptions::ttl(Duration::from_secs(300)).with_tags(["orders"]);
    m.set_json("greeting", "\"hello\"", &opts).await.unwrap();
    assert_eq!(b.manager().get_json("greeting").await.unwrap().as_deref(), Some("\"hello\""));
    // The writes went to the primary the Sentinels name.
    let primary = t.primary();
    let mut raw = t.raw(primary).await;
    let stored: Option<Vec<u8>> = redis::cmd("GET").arg(format!("{ns}:d:greeting")).query_async(&mut raw).await.unwrap();
    assert!(stored.is_some(), "the value is on the primary");
    // The bus between the two processes.
    support::within(Duration::from_secs(3), "B caches the greeting", || async {
        b.manager().get_json("greeting").await.unwrap().is_some() && b.manager().peek_l1("greeting").unwrap().is_some()
    })
    .await;
    a.manager().set_json("greeting", "\"hi\"", &opts).await.unwrap();
    support::within(Duration::from_secs(3), "B heard the set", || async { b.manager().peek_l1("greeting").unwrap().is_none() }).await;
    a.manager().set_json("order:1", "1", &opts).await.unwrap();
    support::within(Duration::from_secs(3), "B caches the order", || async {
        b.manager().get_json("order:1").await.unwrap().is_some() && b.manager().peek_l1("order:1").unwrap().is_some()
    })
    .await;
    // Wait for the replica to have the data before the primary dies (asynchronous replication).
    let mut replica = t.raw(t.data_ports()[1]).await;
    support::within(Duration::from_secs(5), "the replica caught up", || {
        let mut replica = replica.clone();
        let key = format!("{ns}:d:order:1");
        async move { redis::cmd("EXISTS").arg(key).query_async::<i64>(&mut replica).await.unwrap() == 1 }
    })
    .await;
    let _ = &mut replica;

    t.kill(primary);
    let killed = Instant::now();
    let mut errors = 0;
    loop {
        match a.manager().invalidate_by_tags(&["orders".into()]).await {
            Ok(()) => break,
            Err(e) => {
                errors += 1;
                assert!(killed.elapsed() < Duration::from_secs(20), "no service within 20 s: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let recovered = killed.elapsed();
    let (promoted, _) = t.wait_failover(primary, Duration::from_secs(20), None);
    eprintln!("sentinel failover: service returned {recovered:?} after the kill ({errors} failed attempts); {promoted} is the primary");
    assert!(b.manager().bus().wait_connected(Duration::from_secs(20)).await, "B's bus came back");
    assert_eq!(b.manager().get_json("order:1").await.unwrap(), None, "invalidated during the failover");
    assert_eq!(b.manager().get_json("greeting").await.unwrap(), None, "tagged too");
    a.manager().set_json("after", "2", &opts).await.unwrap();
    let mut raw = t.raw(promoted).await;
    let stored: Option<Vec<u8>> = redis::cmd("GET").arg(format!("{ns}:d:after")).query_async(&mut raw).await.unwrap();
    assert!(stored.is_some(), "writes go to the promoted primary");
}
