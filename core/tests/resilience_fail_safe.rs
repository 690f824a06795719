//! Fail-safe and the soft timeout (contract §9): the last value when the loader fails or is slow,
//! kept past its TTL only for fail-safe entries, throttled, never after an invalidation, from L1 or
//! from Redis, and while Redis is stopped.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use stratacache::manager::{CacheStatus, Tier};
use stratacache::patterns::{AsideOptions, KeyLoader, Loader};
use stratacache::{CacheOptions, ErrorKind};
use support::{cache, cache_with, unique_ns, RedisServer};

/// A loader whose answer the test switches: `Some(json)` returns it, `None` fails ("db down").
/// Counts its calls.
#[derive(Clone)]
struct Source {
    answer: Arc<Mutex<Option<String>>>,
    calls: Arc<AtomicUsize>,
    delay: Arc<Mutex<Duration>>,
}

impl Source {
    fn new(answer: &str) -> Self {
        Source { answer: Arc::new(Mutex::new(Some(answer.into()))), calls: Arc::default(), delay: Arc::default() }
    }
    fn set(&self, answer: Option<&str>) {
        *self.answer.lock().unwrap() = answer.map(Into::into);
    }
    fn slow(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn loader(&self) -> Loader {
        let s = self.clone();
        Arc::new(move || {
            let s = s.clone();
            async move {
                s.calls.fetch_add(1, Ordering::SeqCst);
                let delay = *s.delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                match s.answer.lock().unwrap().clone() {
                    Some(v) => Ok(Some(v)),
                    None => Err(stratacache::Error::new(ErrorKind::Callback, "db down")),
                }
            }
            .boxed()
        })
    }
}

fn fail_safe(ttl_ms: u64, throttle_ms: u64) -> AsideOptions {
    let mut o = AsideOptions::ttl(Duration::from_millis(ttl_ms)).with_fail_safe();
    o.fail_safe_max_duration = Duration::from_secs(60);
    o.fail_safe_throttle = Duration::from_millis(throttle_ms);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_value_answers_a_failing_loader_and_the_throttle_spares_the_source() {
    let server = RedisServer::start();
    let ns = unique_ns("failsafe");
    let c = cache(&server.url(), &ns).await;
    let aside = c.cache_aside();
    let src = Source::new("\"v1\"");
    let opts = fail_safe(200, 400);
    assert_eq!(aside.get("k", src.loader(), &opts).await.unwrap().as_deref(), Some("\"v1\""));

    // Kept in Redis past its TTL (only because it is fail-safe), and marked so in its envelope.
    let mut raw = server.raw().await;
    let pttl: i64 = redis::cmd("PTTL").arg(format!("{ns}:d:k")).query_async(&mut raw).await.unwrap();
    assert!(pttl > 59_000, "kept 60 s past the 200 ms TTL: {pttl}");
    let bytes: Vec<u8> = redis::cmd("GET").arg(format!("{ns}:d:k")).query_async(&mut raw).await.unwrap();
    assert_eq!(bytes[3] & 0x10, 0x10, "the fail-safe flag");
    let plain = AsideOptions::ttl(Duration::from_millis(200));
    aside.get("plain", src.loader(), &plain).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg(format!("{ns}:d:plain")).query_async(&mut raw).await.unwrap();
    assert!(pttl <= 200, "without fail-safe the Redis expiry is the TTL (§7): {pttl}");

    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(c.manager().get_json("k").await.unwrap(), None, "past its TTL a plain read misses, in L1 and Redis");
    src.set(None);
    let before = src.calls();
    assert_eq!(aside.get("k", src.loader(), &opts).await.unwrap().as_deref(), Some("\"v1\""), "the stale value, not the error");
    assert_eq!(src.calls(), before + 1);
    let meta = aside.get_with_meta("k", src.loader(), &opts).await.unwrap();
    assert_eq!((meta.status, meta.ttl_ms), (CacheStatus::Stale, Some(0)));
    assert_eq!(meta.cache_status("stratacache").unwrap(), "stratacache; hit; fwd=stale");
    for _ in 0..5 {
        assert_eq!(aside.get("k", src.loader(), &opts).await.unwrap().as_deref(), Some("\"v1\""));
    }
    assert_eq!(src.calls(), before + 1, "within the throttle the loader is not called again");
    assert_eq!(c.metrics_report().cache_aside.stale_served, 7, "the fallback, the throttled meta read, five throttled gets");

    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(aside.get("k", src.loader(), &opts).await.unwrap().as_deref(), Some("\"v1\""));
    assert_eq!(src.calls(), before + 2, "after the throttle the loader is tried again");

    tokio::time::sleep(Duration::from_millis(450)).await;
    src.set(Some("\"v2\""));
    assert_eq!(aside.get("k", src.loader(), &opts).await.unwrap().as_deref(), Some("\"v2\""), "the source is back");
    // The new value replaced the stale entry in Redis too (a cold store treats it as absent).
    let other = cache(&server.url(), &ns).await;
    assert_eq!(other.manager().get_json("k").await.unwrap().as_deref(), Some("\"v2\""));
    other.close().await;
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_last_value_means_the_error_and_an_invalidation_removes_the_last_value() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("failsafe2")).await;
    let aside = c.cache_aside();
    let src = Source::new("1");
    src.set(None);
    let opts = fail_safe(100, 30_000).with_tags(["grp"]);
    let e = aside.get("cold", src.loader(), &opts).await.unwrap_err();
    assert_eq!((e.kind(), e.message()), (ErrorKind::Callback, "db down"));

    src.set(Some("1"));
    aside.get("a", src.loader(), &opts).await.unwrap();
    aside.get("b", src.loader(), &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    src.set(None);
    c.manager().del("a").await.unwrap();
    c.invalidator().invalidate_tags(&["grp".to_string()]).await.unwrap();
    for key in ["a", "b"] {
        let e = aside.get(key, src.loader(), &opts).await.unwrap_err();
        assert_eq!(e.message(), "db down", "{key}: an invalidated value is never the fallback");
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_falls_back_on_the_value_in_redis_even_without_l1() {
    let server = RedisServer::start();
    let ns = unique_ns("failsafe3");
    let writer = cache(&server.url(), &ns).await;
    let src = Source::new("{\"n\":1}");
    let opts = fail_safe(100, 30_000);
    writer.cache_aside().get("shared", src.loader(), &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    src.set(None);
    let mut no_l1 = CacheOptions::default();
    no_l1.enable_l1 = Some(false);
    for reader in [cache(&server.url(), &ns).await, cache_with(&server.url(), &ns, no_l1).await] {
        let meta = reader.cache_aside().get_with_meta("shared", src.loader(), &opts).await.unwrap();
        assert_eq!((meta.status, meta.tier, meta.json.as_deref()), (CacheStatus::Stale, Some(Tier::L2), Some("{\"n\":1}")));
        assert_eq!(reader.cache_aside().get("shared", src.loader(), &opts).await.unwrap().as_deref(), Some("{\"n\":1}"));
        reader.close().await;
    }
    writer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soft_timeout_returns_the_stale_value_at_once_and_the_load_lands_later() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("soft")).await;
    let aside = c.cache_aside();
    let src = Source::new("\"old\"");
    let mut opts = fail_safe(100, 30_000);
    opts.soft_timeout = Some(Duration::from_millis(50));
    aside.get("s", src.loader(), &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    src.set(Some("\"new\""));
    src.slow(Duration::from_millis(600));
    let t = Instant::now();
    let meta = aside.get_with_meta("s", src.loader(), &opts).await.unwrap();
    let took = t.elapsed();
    assert_eq!((meta.status, meta.json.as_deref()), (CacheStatus::Stale, Some("\"old\"")));
    assert!(took < Duration::from_millis(400), "well under the loader's 600 ms: {took:?}");
    support::within(Duration::from_secs(3), "the slow load's value is stored", || {
        let c = c.clone();
        async move { c.manager().get_json("s").await.unwrap().as_deref() == Some("\"new\"") }
    })
    .await;
    assert_eq!(src.calls(), 2, "one load, finished in the background");

    // A hard timeout under fail-safe also answers with the stale value.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut hard = fail_safe(100, 30_000);
    hard.hard_timeout = Some(Duration::from_millis(80));
    let t = Instant::now();
    assert_eq!(aside.get("s", src.loader(), &hard).await.unwrap().as_deref(), Some("\"new\""));
    assert!(t.elapsed() < Duration::from_millis(400), "{:?}", t.elapsed());
    // softTimeoutMs without failSafe is refused, naming the option.
    let mut bad = AsideOptions::ttl(Duration::from_secs(1));
    bad.soft_timeout = Some(Duration::from_millis(10));
    let e = aside.get("s2", src.loader(), &bad).await.unwrap_err();
    assert!(e.message().contains("soft_timeout needs fail_safe"), "{e}");
    let e = stratacache::dynopts::aside_options(serde_json::json!({"softTimeoutMs": 10})).unwrap_err();
    assert_eq!(e.message(), "softTimeoutMs needs failSafe: true (it returns the stale value that only fail-safe keeps)");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_stopped_the_last_value_in_l1_answers_a_failing_loader() {
    let mut server = RedisServer::start();
    let ns = unique_ns("failsafe_down");
    let c = cache(&server.url(), &ns).await;
    let aside = c.cache_aside();
    let src = Source::new("\"kept\"");
    let opts = fail_safe(300, 150);
    // Connecting the bus clears L1 (it may have missed invalidations), and its probe finds out
    // whether the load's scripted store will come back through client tracking: load after both.
    support::within(Duration::from_secs(5), "the bus is live", || async { c.manager().bus().stats().state == stratacache::bus::BusState::Live }).await;
    let probed = Instant::now() + Duration::from_secs(1); // a Redis that does not echo never says so
    while !c.manager().bus().stats().scripted_echoes && Instant::now() < probed {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    aside.get("d", src.loader(), &opts).await.unwrap();
    server.kill();
    tokio::time::sleep(Duration::from_millis(400)).await;
    src.set(None);
    let meta = aside.get_with_meta("d", src.loader(), &opts).await.unwrap();
    assert_eq!((meta.status, meta.tier, meta.json.as_deref()), (CacheStatus::Stale, Some(Tier::L1), Some("\"kept\"")));
    // The source works again (Redis still down): after the throttle, its value, not the stale one.
    src.set(Some("\"fresh\""));
    assert_eq!(aside.get("d", src.loader(), &opts).await.unwrap().as_deref(), Some("\"kept\""), "throttled");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(aside.get("d", src.loader(), &opts).await.unwrap().as_deref(), Some("\"fresh\""));
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_falls_back_per_key_and_fails_when_a_key_has_no_last_value() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("failsafe_many")).await;
    let ok: KeyLoader = Arc::new(|arg: String, _| {
        async move {
            let keys: Vec<String> = serde_json::from_str(&arg).unwrap();
            let map: serde_json::Map<String, serde_json::Value> = keys.iter().map(|k| (k.clone(), serde_json::json!(format!("v-{k}")))).collect();
            Ok(Some(serde_json::Value::Object(map).to_string()))
        }
        .boxed()
    });
    let failing: KeyLoader = Arc::new(|_, _| async { Err(stratacache::Error::new(ErrorKind::Callback, "db down")) }.boxed());
    let opts = fail_safe(100, 30_000);
    let keys = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    c.cache_aside().get_many(&keys(&["x", "y"]), ok, None, &opts).await.unwrap();
    c.manager().get_json("x").await.unwrap();
    c.manager().get_json("y").await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let got = c.cache_aside().get_many(&keys(&["x", "y"]), failing.clone(), None, &opts).await.unwrap();
    assert_eq!(got.iter().map(|v| v.as_deref()).collect::<Vec<_>>(), vec![Some("\"v-x\""), Some("\"v-y\"")]);
    let e = c.cache_aside().get_many(&keys(&["x", "never"]), failing, None, &opts).await.unwrap_err();
    assert_eq!(e.message(), "db down");
    c.close().await;
}
