//! Cache-aside, refresh-ahead and read-through: single-flight, cross-process locks, errors.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use redis::AsyncCommands;
use stratacache::patterns::{AsideOptions, Loader, RefreshOptions};
use stratacache::{Error, ErrorKind};
use support::{cache, unique_ns, RedisServer};

fn counting_loader(count: Arc<AtomicUsize>, delay: Duration, json: &'static str) -> Loader {
    Arc::new(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Ok(Some(json.to_string()))
        }
        .boxed()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_share_one_load() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("sf")).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let loader = counting_loader(runs.clone(), Duration::from_millis(50), "{\"id\":1}");
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let calls = (0..1000).map(|_| {
        let (c, loader, opts) = (c.clone(), loader.clone(), opts.clone());
        async move { c.cache_aside().get("user:1", loader, &opts).await }
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the loader ran more than once");
    assert!(results.iter().all(|r| r.as_ref().unwrap().as_deref() == Some("{\"id\":1}")));
    // Now cached: no more loads.
    c.cache_aside().get("user:1", loader, &opts).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[derive(Debug)]
struct MyError;

#[tokio::test]
async fn every_waiter_gets_the_same_error_and_nothing_is_cached() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("err")).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let r2 = runs.clone();
    let failing: Loader = Arc::new(move || {
        r2.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(Error::callback("db down", Arc::new(MyError)))
        }
        .boxed()
    });
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let results = futures::future::join_all((0..50).map(|_| c.cache_aside().get("k", failing.clone(), &opts))).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let first = results[0].as_ref().unwrap_err().payload().unwrap().clone();
    assert!(first.downcast_ref::<MyError>().is_some());
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Callback);
        assert!(Arc::ptr_eq(e.payload().unwrap(), &first), "a waiter got a different error object");
    }
    assert_eq!(c.manager().get_json("k").await.unwrap(), None, "a failed load cached something");
    // The lock was released: the next call loads at once.
    let ok = counting_loader(runs.clone(), Duration::ZERO, "1");
    let t = Instant::now();
    assert_eq!(c.cache_aside().get("k", ok, &opts).await.unwrap().as_deref(), Some("1"));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_cold_key_load_once() {
    let server = RedisServer::start();
    let ns = unique_ns("xproc");
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let loader = counting_loader(runs.clone(), Duration::from_millis(100), "\"v\"");
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let calls = (0..100).map(|i| {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (loader, opts) = (loader.clone(), opts.clone());
        async move { c.cache_aside().get("cold", loader, &opts).await.unwrap() }
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "two processes both loaded the key");
    assert!(results.iter().all(|r| r.as_deref() == Some("\"v\"")));
}

#[tokio::test]
async fn a_crashed_lock_holder_blocks_nobody_past_its_lease() {
    let server = RedisServer::start();
    let ns = unique_ns("crash");
    let c = cache(&server.url(), &ns).await;
    let mut raw = server.raw().await;
    // A process took the lock and died.
    let _: () = redis::cmd("SET").arg(format!("{ns}:lk:k")).arg("dead").arg("PX").arg(600).query_async(&mut raw).await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut opts = AsideOptions::ttl(Duration::from_secs(60));
    opts.lock_lease = Duration::from_secs(5);
    let t = Instant::now();
    let v = c.cache_aside().get("k", counting_loader(runs.clone(), Duration::ZERO, "1"), &opts).await.unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(500) && waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let left: bool = raw.exists(format!("{ns}:lk:k")).await.unwrap();
    assert!(!left, "our lock was not released");
}

#[tokio::test]
async fn null_results_are_cached_only_with_a_negative_ttl() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("neg")).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let r2 = runs.clone();
    let nothing: Loader = Arc::new(move || {
        r2.fetch_add(1, Ordering::SeqCst);
        async { Ok(None) }.boxed()
    });
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    assert_eq!(c.cache_aside().get("n", nothing.clone(), &opts).await.unwrap(), None);
    assert_eq!(c.cache_aside().get("n", nothing.clone(), &opts).await.unwrap(), None);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "null must not be cached by default");
    let mut neg = opts.clone();
    neg.negative_ttl = Some(Duration::from_secs(5));
    c.cache_aside().get("m", nothing.clone(), &neg).await.unwrap();
    let v = c.cache_aside().get("m", nothing.clone(), &neg).await.unwrap();
    assert_eq!(v.as_deref(), Some("null"));
    assert_eq!(runs.load(Ordering::SeqCst), 3, "negative result must be cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_ahead_returns_the_old_value_at_once_then_the_new_one() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("refresh")).await;
    let version = Arc::new(AtomicUsize::new(0));
    let v2 = version.clone();
    let loader: Loader = Arc::new(move || {
        let n = v2.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(Some(n.to_string()))
        }
        .boxed()
    });
    let opts = RefreshOptions::new(Duration::from_millis(1000), 0.5);
    assert_eq!(c.cache_aside().get_with_refresh("r", loader.clone(), &opts).await.unwrap().as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(600)).await; // < 50 % of the TTL remains
    let t = Instant::now();
    let many = futures::future::join_all((0..20).map(|_| c.cache_aside().get_with_refresh("r", loader.clone(), &opts))).await;
    assert!(t.elapsed() < Duration::from_millis(80), "refresh-ahead must not wait for the loader");
    assert!(many.iter().all(|r| r.as_ref().unwrap().as_deref() == Some("1")));
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if c.manager().get_json("r").await.unwrap().as_deref() == Some("2") {
            break;
        }
        assert!(Instant::now() < deadline, "the background refresh never stored the new value");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(version.load(Ordering::SeqCst), 2, "refreshed more than once");
    let e = c.cache_aside().get_with_refresh("r", loader, &RefreshOptions::new(Duration::from_secs(1), 1.5)).await.unwrap_err();
    assert!(e.message().contains("refresh_threshold") && e.message().contains("1.5"), "{e}");
}

#[tokio::test]
async fn read_through_picks_the_most_specific_pattern() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("rt")).await;
    let rt = c.read_through();
    let tagged = |label: &'static str| -> stratacache::patterns::KeyLoader {
        Arc::new(move |key: String, _: &stratacache::patterns::CallContext| async move { Ok(Some(format!("\"{label}:{key}\""))) }.boxed())
    };
    rt.register_loader("*", tagged("any")).unwrap();
    rt.register_loader("user:*", tagged("user")).unwrap();
    rt.register_loader("user:admin:*", tagged("admin")).unwrap();
    rt.register_loader("user:42", tagged("exact")).unwrap();
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    assert_eq!(rt.read("user:1", &opts).await.unwrap().as_deref(), Some("\"user:user:1\""));
    assert_eq!(rt.read("user:admin:7", &opts).await.unwrap().as_deref(), Some("\"admin:user:admin:7\""));
    assert_eq!(rt.read("user:42", &opts).await.unwrap().as_deref(), Some("\"exact:user:42\""));
    assert_eq!(rt.read("ticket:1", &opts).await.unwrap().as_deref(), Some("\"any:ticket:1\""));
    assert!(rt.unregister_loader("*"));
    let e = rt.read("ticket:2", &opts).await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_NO_LOADER");
    assert!(e.message().contains("ticket:2") && e.message().contains("user:*"), "{e}");
    // A cached value is served even without a loader.
    assert_eq!(rt.read("ticket:1", &opts).await.unwrap().as_deref(), Some("\"any:ticket:1\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_after_del_resolved_does_not_receive_a_load_that_began_before_it() {
    // The loader reads "the database" when it starts; the database changes, then `del` resolves: a
    // `get` made after that must not be handed the older load's result (contract §8).
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("afterdel")).await;
    let db = Arc::new(std::sync::Mutex::new("v1"));
    let loader: Loader = {
        let db = db.clone();
        Arc::new(move || {
            let read = *db.lock().unwrap();
            async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(Some(format!("\"{read}\"")))
            }
            .boxed()
        })
    };
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let first = {
        let (c, loader, opts) = (c.clone(), loader.clone(), opts.clone());
        tokio::spawn(async move { c.cache_aside().get("doc", loader, &opts).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await; // the first load has read v1
    *db.lock().unwrap() = "v2";
    c.manager().del("doc").await.unwrap();
    let after = c.cache_aside().get("doc", loader, &opts).await.unwrap();
    assert_eq!(after.as_deref(), Some("\"v2\""), "a get after the invalidation got the older load's result");
    assert_eq!(first.await.unwrap().unwrap().as_deref(), Some("\"v1\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_timeout_rejects_in_time_and_the_value_arrives_later() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("hard")).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = counting_loader(runs.clone(), Duration::from_millis(400), "\"late\"");
    let mut opts = AsideOptions::ttl(Duration::from_secs(60));
    opts.hard_timeout = Some(Duration::from_millis(50));
    let t = Instant::now();
    let e = c.cache_aside().get("slow", slow.clone(), &opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(t.elapsed() < Duration::from_millis(300), "rejected after {:?}, well under the loader's 400 ms", t.elapsed());
    assert!(e.message().contains("hardTimeoutMs (50 ms)"), "{e}");
    // The loader goes on and its value is stored when it arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.manager().get_json("slow").await.unwrap().as_deref(), Some("\"late\""));
    assert_eq!(c.cache_aside().get("slow", slow, &opts).await.unwrap().as_deref(), Some("\"late\""));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "loaded once");
}
