//! Cache warming in the core: priority order, reports, failures that stop nothing, entries with
//! their TTL and tags, schedules that one system of many runs per period, a dead holder's lock.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use redis::AsyncCommands;
use stratacache::warming::{FetchFn, Schedule, Strategy};
use stratacache::{CacheOptions, Registries, StrataCache};
use support::{redis_opts, unique_ns, RedisServer};

fn fetch_json(json: &'static str, calls: Arc<AtomicUsize>) -> FetchFn {
    Arc::new(move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok(Some(json.to_string())) }.boxed()
    })
}

fn strategy(name: &str, priority: i64, fetch: FetchFn) -> Strategy {
    Strategy { name: name.into(), priority, enabled: true, schedule: None, fetch }
}

async fn system(url: &str, ns: &str, registries: Registries) -> StrataCache {
    let redis = redis_opts(url, ns).resolve().unwrap();
    let cache = CacheOptions::default().resolve().unwrap();
    StrataCache::start(redis, cache, registries).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_all_runs_by_priority_reports_failures_and_writes_entries_with_ttl_and_tags() {
    let server = RedisServer::start();
    let ns = unique_ns("warm");
    let registries = Registries::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let recorder = |name: &'static str, json: &'static str| -> FetchFn {
        let order = order.clone();
        Arc::new(move |_| {
            order.lock().unwrap().push(name);
            async move { Ok(Some(json.to_string())) }.boxed()
        })
    };
    let s = registries.strategies();
    s.register(strategy("low", 1, recorder("low", r#"[{"key":"low:1","value":1}]"#))).unwrap();
    s.register(strategy(
        "products",
        9,
        recorder("products", r#"[{"key":"product:1","value":{"id":1},"options":{"ttl":3600,"tags":["products","product:1"]}},{"key":"product:2","value":{"id":2},"options":{"ttl":3600,"tags":["products"]}}]"#),
    ))
    .unwrap();
    s.register(strategy("dashboard", 10, recorder("dashboard", r#"[{"key":"dashboard:metrics","value":{"open":3},"options":{"ttl":60}}]"#))).unwrap();
    let failing: FetchFn = {
        let order = order.clone();
        Arc::new(move |_| {
            order.lock().unwrap().push("broken");
            async { Err(stratacache::Error::new(stratacache::ErrorKind::Callback, "db down")) }.boxed()
        })
    };
    s.register(strategy("broken", 5, failing)).unwrap();
    let mut off = strategy("off", 100, recorder("off", "[]"));
    off.enabled = false;
    s.register(off).unwrap();

    let c = system(&server.url(), &ns, registries.clone()).await;
    let reports = c.warmer().warm_on_startup(&None).await;
    assert_eq!(*order.lock().unwrap(), vec!["dashboard", "products", "broken", "low"], "higher priority first; disabled skipped");
    let names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["dashboard", "products", "broken", "low"]);
    assert_eq!(reports[1].entries, 2);
    assert!(reports[1].error.is_none() && reports[1].duration_ms >= 0.0);
    assert_eq!(reports[2].error.as_deref(), Some("db down"), "a failure is reported, not thrown");
    assert_eq!(reports[3].entries, 1, "the strategy after the failing one still ran");

    let mut raw = server.raw().await;
    let pttl: i64 = raw.pttl(format!("{ns}:d:product:1")).await.unwrap();
    assert!(pttl > 3_590_000 && pttl <= 3_600_000, "the entry's TTL: {pttl}");
    let dash_ttl: i64 = raw.pttl(format!("{ns}:d:dashboard:metrics")).await.unwrap();
    assert!(dash_ttl > 59_000 && dash_ttl <= 60_000, "{dash_ttl}");
    assert_eq!(c.manager().get::<serde_json::Value>("product:2").await.unwrap(), Some(serde_json::json!({"id": 2})));
    c.invalidator().invalidate_tags(&["products".into()]).await.unwrap();
    assert_eq!(c.manager().get::<serde_json::Value>("product:1").await.unwrap(), None, "the tag evicts warmed entries");

    let one = c.warmer().warm_strategy("off", &None).await.unwrap();
    assert_eq!((one.name.as_str(), one.entries), ("off", 0), "asked by name, a disabled strategy runs");
    let e = c.warmer().warm_strategy("nope", &None).await.unwrap_err();
    assert!(e.message().contains("\"nope\""), "{e}");

    let r = c.metrics_report();
    assert_eq!((r.warming.runs, r.warming.failures, r.warming.entries), (4, 1, 4));
    assert!(registries.strategies().unregister("low"));
    assert!(!registries.strategies().unregister("low"));
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_entry_fails_the_run_and_writes_nothing() {
    let server = RedisServer::start();
    let ns = unique_ns("warmbad");
    let registries = Registries::default();
    let calls = Arc::new(AtomicUsize::new(0));
    registries
        .strategies()
        .register(strategy("bad", 1, fetch_json(r#"[{"key":"ok","value":1},{"key":"","value":2}]"#, calls)))
        .unwrap();
    let c = system(&server.url(), &ns, registries).await;
    let r = c.warmer().warm_strategy("bad", &None).await.unwrap();
    assert!(r.error.as_deref().unwrap_or("").contains("key"), "{r:?}");
    assert_eq!(c.manager().get::<i32>("ok").await.unwrap(), None, "mset semantics: validated before anything is written");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_systems_on_one_schedule_run_it_once_per_period() {
    let server = RedisServer::start();
    let ns = unique_ns("warmsched");
    let calls = Arc::new(AtomicUsize::new(0));
    let mut systems = Vec::new();
    let started = Instant::now();
    for _ in 0..3 {
        let registries = Registries::default();
        let mut s = strategy("tick", 1, fetch_json(r#"[{"key":"tick","value":1,"options":{"ttl":60}}]"#, calls.clone()));
        s.schedule = Some(Schedule::parse("every 1s").unwrap());
        registries.strategies().register(s).unwrap();
        let c = system(&server.url(), &ns, registries).await;
        assert_eq!(c.warmer().scheduled(), vec!["tick".to_string()], "active from registration");
        systems.push(c);
    }
    tokio::time::sleep(Duration::from_millis(5_500).saturating_sub(started.elapsed())).await;
    let runs = calls.load(Ordering::SeqCst);
    assert!((5..=6).contains(&runs), "one run per period across three systems in 5.5 s: {runs}");
    let skipped: u64 = systems.iter().map(|c| c.metrics_report().warming.skipped).sum();
    assert!(skipped >= 8, "the other systems skipped their periods: {skipped}");
    for c in &systems {
        c.close().await;
    }
    let after = calls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(calls.load(Ordering::SeqCst), after, "no schedule fires after close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holders_lock_stops_the_schedule_for_at_most_one_lease() {
    let server = RedisServer::start();
    let ns = unique_ns("warmdead");
    let calls = Arc::new(AtomicUsize::new(0));
    let registries = Registries::default();
    let mut s = strategy("tick", 1, fetch_json("[]", calls.clone()));
    s.schedule = Some(Schedule::parse("every 1s").unwrap());
    let lease = s.schedule.unwrap().lease();
    // A holder that died mid-run: its lock stays until its lease ends.
    let mut raw = server.raw().await;
    let _: () = raw.set_options(format!("{ns}:w:{{tick}}:lock"), "dead", redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(lease.as_millis() as u64))).await.unwrap();
    let planted = Instant::now();
    registries.strategies().register(s).unwrap();
    let c = system(&server.url(), &ns, registries).await;
    while calls.load(Ordering::SeqCst) == 0 {
        assert!(planted.elapsed() < lease + Duration::from_millis(1_500), "still stopped after one lease and a period");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(planted.elapsed() >= lease - Duration::from_millis(50), "never overlaps a run in progress: {:?}", planted.elapsed());
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_and_stop_end_schedules() {
    let server = RedisServer::start();
    let registries = Registries::default();
    let mut s = strategy("a", 1, fetch_json("[]", Arc::new(AtomicUsize::new(0))));
    s.schedule = Some(Schedule::every(Duration::from_millis(200)));
    registries.strategies().register(s).unwrap();
    let c = system(&server.url(), &unique_ns("warmstop"), registries.clone()).await;
    assert_eq!(c.warmer().scheduled(), vec!["a".to_string()]);
    let mut b = strategy("b", 1, fetch_json("[]", Arc::new(AtomicUsize::new(0))));
    b.schedule = Some(Schedule::every(Duration::from_millis(200)));
    registries.strategies().register(b).unwrap();
    assert_eq!(c.warmer().scheduled(), vec!["a".to_string(), "b".to_string()], "registered while running: scheduled at once");
    registries.strategies().unregister("a");
    assert_eq!(c.warmer().scheduled(), vec!["b".to_string()]);
    c.warmer().stop();
    assert!(c.warmer().scheduled().is_empty());
    c.close().await;
    assert!(!c.background_tasks().contains(&"warm schedule"));
}
