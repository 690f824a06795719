//! Every component on a local Redis Cluster (3 masters + 3 replicas, started once for this binary by
//! `tests/support/topology.py`): basics, batches across slots, tags and patterns across masters, the
//! bus between processes seeded through different nodes, client tracking on every master, rate-limit
//! exactness, sessions, and cache-aside's lock. Failover has its own binary (`cluster_failover.rs`).

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::json;
use stratacache::patterns::{AsideOptions, Loader};
use stratacache::ratelimit::{Algorithm, LimitOptions};
use stratacache::session::SessionOptions;
use stratacache::{CacheOptions, MsetItem, SetOptions, StrataCache};
use support::topology::Topology;
use support::{command_calls, unique_ns};

/// Tests that count commands per master hold this exclusively; the others share it.
static COUNTING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn cluster() -> &'static Topology {
    static CLUSTER: OnceLock<Topology> = OnceLock::new();
    CLUSTER.get_or_init(|| Topology::start("cluster"))
}

async fn system(ns: &str) -> StrataCache {
    StrataCache::builder().redis(cluster().redis_opts(ns)).cache(CacheOptions::default()).build().await.unwrap()
}

/// A system whose only seed is the node on `port`.
async fn system_via(ns: &str, port: u16) -> StrataCache {
    StrataCache::builder().redis(cluster().redis_opts_via(ns, port)).cache(CacheOptions::default()).build().await.unwrap()
}

async fn live_bus(c: &StrataCache) {
    assert!(c.manager().bus().wait_connected(Duration::from_secs(10)).await, "the bus went live on the cluster");
}

/// Masters only (a replica's commandstats would not move).
async fn masters() -> Vec<u16> {
    let mut out = Vec::new();
    for p in cluster().data_ports() {
        let mut raw = cluster().raw(p).await;
        let role: redis::Value = redis::cmd("ROLE").query_async(&mut raw).await.unwrap();
        if matches!(&role, redis::Value::Array(v) if matches!(v.first(), Some(redis::Value::BulkString(b)) if b == b"master")) {
            out.push(p);
        }
    }
    out
}

async fn calls_per_master(command: &str) -> HashMap<u16, u64> {
    let mut out = HashMap::new();
    for p in masters().await {
        out.insert(p, command_calls(&mut cluster().raw(p).await, command).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basics_and_batches_across_slots() {
    let ns = unique_ns("basics");
    let c = system(&ns).await;
    let m = c.manager();
    m.set("greeting", "Hello World", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    assert_eq!(m.get::<String>("greeting").await.unwrap().as_deref(), Some("Hello World"));
    assert!(m.del("greeting").await.unwrap());
    assert_eq!(m.get::<String>("greeting").await.unwrap(), None);

    // 100 keys spread over every master: one call each way, every key where it belongs.
    let keys: Vec<String> = (0..100).map(|i| format!("user:{i}")).collect();
    let reader = system(&ns).await;
    live_bus(&c).await;
    live_bus(&reader).await;
    let _alone = COUNTING.write().await;
    let mut on_master: HashMap<u16, u64> = HashMap::new();
    for k in &keys {
        *on_master.entry(cluster().master_of(&format!("{ns}:d:{k}"))).or_default() += 1;
    }
    assert_eq!(on_master.len(), 3, "the keys span all three masters");
    let items: Vec<MsetItem> = keys.iter().map(|k| MsetItem::new(k.clone(), format!("{{\"k\":\"{k}\"}}"), None)).collect();
    let sets_before = calls_per_master("set").await;
    m.mset(&items).await.unwrap();
    let sets_after = calls_per_master("set").await;
    for (port, n) in &on_master {
        assert_eq!(sets_after[port] - sets_before[port], *n, "master {port} ran one SET per key it owns, no retries");
    }
    // A reader with an empty L1: the mget goes to Redis, each master serving its own keys once.
    let gets_before = calls_per_master("get").await;
    let mut asked = keys.clone();
    asked.push("missing".into());
    let got = reader.manager().mget_entries(&asked).await.unwrap();
    let gets_after = calls_per_master("get").await;
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(got[i].as_ref().map(|e| e.json.to_string()), Some(format!("{{\"k\":\"{k}\"}}")), "in input order");
    }
    assert!(got[100].is_none());
    let total: u64 = gets_after.iter().map(|(p, n)| n - gets_before[p]).sum();
    assert_eq!(total, 101, "one GET per key, no redirects retried");
    for (port, n) in &on_master {
        assert!(gets_after[port] - gets_before[port] >= *n, "master {port} served its keys");
    }
    // Deleting many keys across slots.
    assert_eq!(m.invalidate_keys(&keys[..50]).await.unwrap(), 50);
    assert!(reader.manager().mget_entries(&keys[..50]).await.unwrap().iter().all(Option::is_none));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_patterns_invalidate_across_masters_and_processes() {
    let _shared = COUNTING.read().await;
    let ns = unique_ns("tags");
    let (ports, a) = (cluster().data_ports(), system(&ns).await);
    let b = system_via(&ns, ports[1]).await;
    live_bus(&a).await;
    live_bus(&b).await;
    let tagged = SetOptions::ttl(Duration::from_secs(60)).with_tags(["team", "org"]);
    let keys: Vec<String> = (0..60).map(|i| format!("member:{i}")).collect();
    for k in &keys {
        a.manager().set_json(k, "1", &tagged).await.unwrap();
    }
    for k in ["page:1", "page:2", "page:3", "other:1"] {
        a.manager().set_json(k, "1", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    }
    // B reads everything into its L1.
    let all: Vec<String> = keys.iter().cloned().chain(["page:1", "page:2", "page:3", "other:1"].map(String::from)).collect();
    assert!(b.manager().mget_entries(&all).await.unwrap().iter().all(Option::is_some));
    assert!(b.manager().peek_l1("member:7").unwrap().is_some());

    a.manager().invalidate_by_tags(&["team".into()]).await.unwrap();
    // Same process at once; the other within milliseconds; from Redis too.
    assert!(a.manager().mget_entries(&keys).await.unwrap().iter().all(Option::is_none));
    support::within(Duration::from_secs(3), "B's L1 dropped the tagged keys", || async {
        keys.iter().all(|k| b.manager().peek_l1(k).unwrap().is_none())
    })
    .await;
    assert!(b.manager().mget_entries(&keys).await.unwrap().iter().all(Option::is_none));

    assert_eq!(b.invalidator().invalidate_pattern("page:*").await.unwrap(), 3, "SCAN reached every master");
    assert!(a.manager().get_json("page:2").await.unwrap().is_none());
    assert!(a.manager().get_json("other:1").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_and_tracking_reach_processes_on_different_nodes() {
    let _shared = COUNTING.read().await;
    let ns = unique_ns("bus");
    let ports = cluster().data_ports();
    let a = system_via(&ns, ports[0]).await;
    let b = system_via(&ns, ports[2]).await;
    live_bus(&a).await;
    live_bus(&b).await;
    let opts = SetOptions::ttl(Duration::from_secs(60));
    let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
    for k in &keys {
        a.manager().set_json(k, "1", &opts).await.unwrap();
    }
    // B reads them into its L1 (a read that races the bus message of A's write is not kept, so read
    // until the copy stays).
    for k in &keys {
        support::within(Duration::from_secs(3), "B keeps A's write in its L1", || async {
            b.manager().get_json(k).await.unwrap().expect("B reads A's write");
            b.manager().peek_l1(k).unwrap().is_some()
        })
        .await;
    }
    // A's writes and deletes reach B's L1.
    a.manager().set_json("k0", "2", &opts).await.unwrap();
    support::within(Duration::from_secs(3), "B heard A's set", || async { b.manager().peek_l1("k0").unwrap().is_none() }).await;
    assert_eq!(&*b.manager().get_json("k0").await.unwrap().unwrap(), "2");
    a.manager().del("k1").await.unwrap();
    support::within(Duration::from_secs(3), "B heard A's del", || async { b.manager().peek_l1("k1").unwrap().is_none() }).await;
    // A write from outside the library, on whichever master holds each key: tracking reports it.
    let t = Instant::now();
    for k in &keys[2..] {
        let port = cluster().master_of(&format!("{ns}:d:{k}"));
        let mut raw = cluster().raw(port).await;
        let _: () = redis::cmd("SET").arg(format!("{ns}:d:{k}")).arg("foreign").query_async(&mut raw).await.unwrap();
    }
    support::within(Duration::from_secs(3), "tracking on every master evicted B's copies", || async {
        keys[2..].iter().all(|k| b.manager().peek_l1(k).unwrap().is_none())
    })
    .await;
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_exact_across_processes() {
    let _shared = COUNTING.read().await;
    let ns = unique_ns("rl");
    let ports = cluster().data_ports();
    let (a, b) = (system_via(&ns, ports[0]).await, system_via(&ns, ports[1]).await);
    for algorithm in Algorithm::ALL {
        let n = 20u64;
        let id = format!("client:{}", algorithm.name());
        let opts = LimitOptions::new(3_600_000, n).algorithm(algorithm);
        let calls = (0..60).map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            async move { c.rate_limiter().limit(&id, &opts).await.unwrap().allowed }
        });
        let allowed = futures::future::join_all(calls).await.into_iter().filter(|x| *x).count();
        assert_eq!(allowed as u64, n, "{}: exactly n of 3n allowed", algorithm.name());
        a.rate_limiter().reset(&id).await.unwrap();
        assert!(b.rate_limiter().limit(&id, &opts).await.unwrap().allowed, "reset on the cluster");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_keep_their_device_cap() {
    let _shared = COUNTING.read().await;
    let c = system(&unique_ns("sess")).await;
    let login = |i: u32| json!({"userId": 42, "ipAddress": format!("10.0.0.{i}"), "userAgent": "UA/1"});
    let opts = SessionOptions { ttl: Duration::from_secs(60), max_devices: 3 };
    let ids = futures::future::join_all((0..10).map(|i| {
        let c = c.clone();
        async move { c.sessions().create(login(i), opts).await.unwrap().0 }
    }))
    .await;
    assert_eq!(c.sessions().user_sessions(&json!(42)).await.unwrap().len(), 3, "the cap holds on the cluster");
    let mut alive = 0;
    for id in &ids {
        alive += usize::from(c.sessions().get(id, None, None).await.unwrap().is_some());
    }
    assert_eq!(alive, 3);
    c.sessions().create(json!({"userId": 7}), opts).await.unwrap();
    let stats = c.sessions().stats().await.unwrap();
    assert_eq!((stats.total_sessions, stats.sessions_by_user.get("42"), stats.sessions_by_user.get("7")), (4, Some(&3), Some(&1)), "stats scan every master");
    assert_eq!(c.sessions().delete_user(&json!(42)).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_aside_loads_once_across_processes() {
    let _shared = COUNTING.read().await;
    let ns = unique_ns("aside");
    let ports = cluster().data_ports();
    let (a, b) = (system_via(&ns, ports[0]).await, system_via(&ns, ports[2]).await);
    let loads = Arc::new(AtomicUsize::new(0));
    let loader: Loader = {
        let loads = loads.clone();
        Arc::new(move || {
            let loads = loads.clone();
            async move {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(Some("{\"v\":1}".to_string()))
            }
            .boxed()
        })
    };
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    for key in ["report:1", "report:2", "{x}report:3"] {
        loads.store(0, Ordering::SeqCst);
        let calls = (0..8).map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (loader, opts) = (loader.clone(), opts.clone());
            async move { c.cache_aside().get(key, loader, &opts).await.unwrap() }
        });
        for got in futures::future::join_all(calls).await {
            assert_eq!(got.unwrap().to_string(), "{\"v\":1}");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "{key}: the lock kept the load to one process");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_schedules_run_once_per_period_across_systems() {
    use stratacache::warming::{FetchFn, Schedule, Strategy};
    use stratacache::Registries;
    let _shared = COUNTING.read().await;
    let ns = unique_ns("warm");
    let calls = Arc::new(AtomicUsize::new(0));
    let mut systems = Vec::new();
    let started = Instant::now();
    for port in [cluster().data_ports()[0], cluster().data_ports()[2]] {
        let registries = Registries::default();
        // Two strategies, one of them named so that its hash tag would be empty (`{ns}:w:{}…`).
        for name in ["tick", "}odd"] {
            let calls = calls.clone();
            let fetch: FetchFn = Arc::new(move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { Ok(Some(r#"[{"key":"warm:1","value":1,"options":{"ttl":60}}]"#.to_string())) }.boxed()
            });
            let s = Strategy { name: name.into(), priority: 1, enabled: true, schedule: Some(Schedule::parse("every 1s").unwrap()), fetch };
            registries.strategies().register(s).unwrap();
        }
        let redis = cluster().redis_opts_via(&ns, port).resolve().unwrap();
        systems.push(StrataCache::start(redis, CacheOptions::default().resolve().unwrap(), registries).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(3_500).saturating_sub(started.elapsed())).await;
    let runs = calls.load(Ordering::SeqCst);
    assert!((5..=8).contains(&runs), "each of two schedules once per period across two systems in 3.5 s: {runs}");
    assert_eq!(systems[1].manager().get::<i32>("warm:1").await.unwrap(), Some(1));
    for c in &systems {
        c.close().await;
    }
}
