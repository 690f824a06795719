//! `cacheAside.getMany` in the core: one loader call for exactly the missing keys, per-key
//! single-flight shared across overlapping calls, keys the loader leaves out, loader errors.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use stratacache::patterns::{AsideOptions, KeyLoader};
use stratacache::{ErrorKind, SetOptions};
use support::{cache, unique_ns, RedisServer};

/// A batch loader recording the keys of each call; it returns `{k: "v-" + k}` for every key but
/// those starting with `none`, after `delay`.
fn recording(calls: Arc<Mutex<Vec<Vec<String>>>>, delay: Duration) -> KeyLoader {
    Arc::new(move |arg: String, _| {
        let calls = calls.clone();
        async move {
            let keys: Vec<String> = serde_json::from_str(&arg).unwrap();
            calls.lock().unwrap().push(keys.clone());
            tokio::time::sleep(delay).await;
            let map: serde_json::Map<String, serde_json::Value> =
                keys.iter().filter(|k| !k.starts_with("none")).map(|k| (k.clone(), serde_json::json!(format!("v-{k}")))).collect();
            Ok(Some(serde_json::Value::Object(map).to_string()))
        }
        .boxed()
    })
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_loader_call_for_exactly_the_missing_keys() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("batch")).await;
    c.manager().set("a", "cached-a", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let out = c
        .cache_aside()
        .get_many(&keys(&["a", "b", "none1", "c", "b"]), recording(calls.clone(), Duration::ZERO), None, &opts)
        .await
        .unwrap();
    let out: Vec<Option<String>> = out.into_iter().map(|v| v.map(|j| j.to_string())).collect();
    assert_eq!(out, vec![Some("\"cached-a\"".into()), Some("\"v-b\"".into()), None, Some("\"v-c\"".into()), Some("\"v-b\"".into())]);
    assert_eq!(*calls.lock().unwrap(), vec![keys(&["b", "none1", "c"])], "once, with the missing keys (each once)");
    assert_eq!(c.manager().get::<String>("c").await.unwrap().as_deref(), Some("v-c"), "loaded values are stored");
    assert_eq!(c.manager().get_json("none1").await.unwrap(), None, "a key the loader left out is not cached");
    // Everything cached now: no loader call.
    c.cache_aside().get_many(&keys(&["a", "b", "c"]), recording(calls.clone(), Duration::ZERO), None, &opts).await.unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_calls_load_each_key_once_and_share_with_cache_aside_get() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("batch2")).await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let loader = recording(calls.clone(), Duration::from_millis(150));
    let xy = keys(&["x", "y"]);
    let first = c.cache_aside().get_many(&xy, loader.clone(), None, &opts);
    let second = async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        c.cache_aside().get_many(&keys(&["y", "z"]), loader.clone(), None, &opts).await
    };
    let single = async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let never: stratacache::patterns::Loader = Arc::new(|| async { panic!("x is being loaded by the batch") }.boxed());
        c.cache_aside().get("x", never, &opts).await
    };
    let (a, b, s) = tokio::join!(first, second, single);
    assert_eq!(a.unwrap().iter().map(|v| v.as_deref().map(str::to_owned)).collect::<Vec<_>>(), vec![Some("\"v-x\"".into()), Some("\"v-y\"".into())]);
    assert_eq!(b.unwrap().iter().map(|v| v.as_deref().map(str::to_owned)).collect::<Vec<_>>(), vec![Some("\"v-y\"".into()), Some("\"v-z\"".into())]);
    assert_eq!(s.unwrap().as_deref(), Some("\"v-x\""), "cacheAside.get joined the batch's flight of x");
    let mut seen: Vec<String> = calls.lock().unwrap().iter().flatten().cloned().collect();
    seen.sort();
    assert_eq!(seen, keys(&["x", "y", "z"]), "each key loaded once: {:?}", calls.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loader_error_rejects_and_caches_nothing_and_negative_ttl_caches_nulls() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("batch3")).await;
    let failing: KeyLoader = Arc::new(|_, _| async { Err(stratacache::Error::new(ErrorKind::Callback, "db down")) }.boxed());
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    let e = c.cache_aside().get_many(&keys(&["p", "q"]), failing, None, &opts).await.unwrap_err();
    assert_eq!(e.message(), "db down");
    assert_eq!(c.manager().get_json("p").await.unwrap(), None);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut neg = opts.clone();
    neg.negative_ttl = Some(Duration::from_secs(30));
    c.cache_aside().get_many(&keys(&["none-n", "p"]), recording(calls.clone(), Duration::ZERO), None, &neg).await.unwrap();
    c.cache_aside().get_many(&keys(&["none-n", "p"]), recording(calls.clone(), Duration::ZERO), None, &neg).await.unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1, "the cached null answers the second call");
    assert!(c.cache_aside().get_many(&keys(&["ok", ""]), recording(calls, Duration::ZERO), None, &opts).await.is_err(), "keys are checked first");
}
