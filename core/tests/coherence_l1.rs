//! Contract §8, first bullet: after an invalidation resolves, nothing invalidated is served, by any
//! process, from any tier — however many entries were written concurrently just before.

mod support;

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use stratacache::{MsetItem, SetOptions, StrataCache};
use support::{cache, unique_ns, RedisServer};

const N: usize = 10_000;

async fn set_tagged(c: &StrataCache, n: usize, tag: &str, value: &str) {
    let m = c.manager();
    stream::iter(0..n)
        .for_each_concurrent(64, |i| async move {
            let opts = SetOptions::ttl(Duration::from_secs(300)).with_tags([tag]);
            m.set(&format!("k:{i}"), value, &opts).await.unwrap();
        })
        .await;
}

/// How many of `k:0..n` the cache still serves (from any tier).
async fn served(c: &StrataCache, n: usize) -> usize {
    let m = c.manager();
    stream::iter(0..n)
        .map(|i| async move { m.get::<String>(&format!("k:{i}")).await.unwrap().is_some() as usize })
        .buffer_unordered(64)
        .fold(0, |a, b| async move { a + b })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidation_of_10000_fresh_entries_leaves_none_in_any_l1() {
    let server = RedisServer::start();
    let ns = unique_ns("coh_tags");
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    b.ping().await.unwrap();
    for round in 0..3 {
        let tag = format!("burst{round}");
        set_tagged(&a, N, &tag, "old").await;
        assert_eq!(served(&a, N).await, N, "round {round}: every entry is served before");
        assert_eq!(served(&b, N).await, N, "round {round}: process B reads them too (fills its L1)");
        let l1_hits_before = a.manager().stats().l1.hits;
        a.manager().invalidate_by_tags(&[tag.clone()]).await.unwrap();
        let stale_a = served(&a, N).await;
        assert_eq!(stale_a, 0, "round {round}: {stale_a} of {N} entries still served in the invalidating process");
        assert_eq!(a.manager().stats().l1.hits, l1_hits_before, "round {round}: no L1 hit after the invalidation");
        // Process B hears it through the bus within milliseconds.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut stale_b = served(&b, N).await;
        while stale_b > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stale_b = served(&b, N).await;
        }
        assert_eq!(stale_b, 0, "round {round}: {stale_b} of {N} entries still served by process B");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_invalidation_leaves_no_matching_l1_entry() {
    let server = RedisServer::start();
    let ns = unique_ns("coh_pattern");
    let a = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    let m = a.manager();
    let keys: Vec<String> = (0..2_500).map(|i| format!("p:item:{i}")).collect();
    for round in 0..5 {
        for chunk in keys.chunks(500) {
            let items: Vec<MsetItem> = chunk
                .iter()
                .map(|k| MsetItem::new(k.clone(), format!("\"v{round}\""), Some(Duration::from_secs(300))))
                .collect();
            m.mset(&items).await.unwrap();
        }
        let cached = keys.iter().filter(|k| m.peek_l1(k).unwrap().is_some()).count();
        assert_eq!(cached, keys.len(), "round {round}: every write of a batch stays in the writer's L1");
        m.invalidate_pattern("p:item:*").await.unwrap();
        let got = m.mget_entries(&keys).await.unwrap();
        let stale = got.iter().filter(|e| e.is_some()).count();
        assert_eq!(stale, 0, "round {round}: {stale} keys still served after invalidatePattern resolved");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_l1_leaves_nothing_served_from_it() {
    let server = RedisServer::start();
    let ns = unique_ns("coh_clear");
    let a = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    set_tagged(&a, 2_000, "c", "v").await;
    a.manager().clear_l1();
    let m = a.manager();
    let mut in_l1 = 0;
    for i in 0..2_000 {
        in_l1 += m.peek_l1(&format!("k:{i}")).unwrap().is_some() as usize;
    }
    assert_eq!(in_l1, 0, "{in_l1} entries still in L1 after clear_l1()");
}
