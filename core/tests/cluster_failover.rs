//! Failover on a local Redis Cluster (its own, since it kills a master): SIGKILL the master of a test
//! key's slot; calls recover once its replica is promoted, and no process serves an entry that was
//! invalidated meanwhile once its bus is back.

mod support;

use std::time::{Duration, Instant};

use stratacache::{CacheOptions, SetOptions, StrataCache};
use support::topology::Topology;
use support::unique_ns;

async fn system_via(t: &Topology, ns: &str, port: u16) -> StrataCache {
    StrataCache::builder().redis(t.redis_opts_via(ns, port)).cache(CacheOptions::default()).build().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_master_fails_over_and_nothing_invalidated_is_served() {
    let t = Topology::start("cluster");
    let ns = unique_ns("failover");
    let key = "order:42";
    let victim = t.master_of(&format!("{ns}:d:{key}"));
    // A and B are seeded through nodes other than the victim; B's subscription may still be on it.
    let others: Vec<u16> = t.data_ports().into_iter().filter(|p| *p != victim).collect();
    let (a, b) = (system_via(&t, &ns, others[0]).await, system_via(&t, &ns, others[1]).await);
    assert!(a.manager().bus().wait_connected(Duration::from_secs(10)).await);
    assert!(b.manager().bus().wait_connected(Duration::from_secs(10)).await);
    let opts = SetOptions::ttl(Duration::from_secs(300)).with_tags(["orders"]);
    a.manager().set_json(key, "\"v1\"", &opts).await.unwrap();
    a.manager().set_json("order:43", "\"w1\"", &opts).await.unwrap();
    support::within(Duration::from_secs(3), "B caches the order", || async {
        b.manager().get_json(key).await.unwrap().is_some() && b.manager().peek_l1(key).unwrap().is_some()
    })
    .await;

    t.kill(victim);
    let killed = Instant::now();
    // While the replica takes over, A keeps trying to invalidate: each attempt either fails with a
    // clear error or succeeds; the first success is the recovery.
    let mut errors = 0;
    loop {
        match a.manager().del(key).await {
            Ok(_) => break,
            Err(e) => {
                errors += 1;
                assert!(killed.elapsed() < Duration::from_secs(15), "no recovery within 15 s: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let recovered = killed.elapsed();
    a.manager().invalidate_by_tags(&["orders".into()]).await.unwrap();
    let (promoted, took) = t.wait_failover(victim, Duration::from_secs(15), Some(&format!("{ns}:d:{key}")));
    assert_ne!(promoted, victim);
    eprintln!("cluster failover: calls recovered {recovered:?} after the kill ({errors} failed attempts); the replica on {promoted} was promoted within {took:?} of the wait");

    // B: once its bus is live again, neither invalidated entry is served, from any tier.
    assert!(b.manager().bus().wait_connected(Duration::from_secs(15)).await, "B's bus came back");
    for k in [key, "order:43"] {
        assert_eq!(b.manager().get_json(k).await.unwrap(), None, "{k} was invalidated during the failover");
    }
    // And the cluster serves writes and reads in the failed-over slot.
    a.manager().set_json(key, "\"v2\"", &opts).await.unwrap();
    support::within(Duration::from_secs(3), "B reads the new value", || async {
        b.manager().get_json(key).await.unwrap().as_deref().map(|s| s.to_string()) == Some("\"v2\"".into())
    })
    .await;
}
