//! Contract §8, second bullet: a load that started before an invalidation does not store its result
//! as valid afterwards — for `del`, for a tag of the key, in the loading process and in others.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use stratacache::patterns::{AsideOptions, Loader, RefreshOptions};
use stratacache::{SetOptions, StrataCache};
use support::{cache, unique_ns, RedisServer};
use tokio::sync::Notify;

/// A loader that says when it started and waits for `go` before returning `value` (the "old" value
/// it read from the database before the invalidation).
fn gated_loader(started: Arc<Notify>, go: Arc<Notify>, value: &'static str) -> Loader {
    Arc::new(move || {
        let (started, go) = (started.clone(), go.clone());
        async move {
            started.notify_one();
            go.notified().await;
            Ok(Some(value.to_string()))
        }
        .boxed()
    })
}

async fn two_processes(name: &str) -> (RedisServer, StrataCache, StrataCache) {
    let server = RedisServer::start();
    let ns = unique_ns(name);
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    b.ping().await.unwrap();
    (server, a, b)
}

/// Run a cache-aside load of `key` in `a`; while the loader runs, `invalidate` runs; then the loader
/// returns its (older) value. Returns what the load call resolved to.
async fn load_across(a: &StrataCache, key: &str, opts: AsideOptions, invalidate: impl std::future::Future<Output = ()>) -> Option<String> {
    let (started, go) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let loader = gated_loader(started.clone(), go.clone(), "\"old\"");
    let a2 = a.clone();
    let key2 = key.to_owned();
    let load = tokio::spawn(async move { a2.cache_aside().get(&key2, loader, &opts).await });
    tokio::time::timeout(Duration::from_secs(5), started.notified()).await.expect("the loader started");
    invalidate.await;
    go.notify_one();
    let got = tokio::time::timeout(Duration::from_secs(5), load).await.expect("the load settles").unwrap().unwrap();
    got.map(|j| j.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_del_in_another_process_during_a_load_wins() {
    let (_server, a, b) = two_processes("load_del").await;
    let got = load_across(&a, "user:1", AsideOptions::ttl(Duration::from_secs(60)), async {
        b.manager().del("user:1").await.unwrap();
    })
    .await;
    assert_eq!(got.as_deref(), Some("\"old\""), "the waiting caller still gets what was loaded");
    assert_eq!(a.manager().get::<String>("user:1").await.unwrap(), None, "not stored in A (L1 or Redis)");
    assert_eq!(b.manager().get::<String>("user:1").await.unwrap(), None, "not stored for B either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_del_in_the_same_process_during_a_load_wins() {
    let (_server, a, b) = two_processes("load_del_local").await;
    let got = load_across(&a, "user:2", AsideOptions::ttl(Duration::from_secs(60)), async {
        a.manager().del("user:2").await.unwrap();
    })
    .await;
    assert_eq!(got.as_deref(), Some("\"old\""));
    assert_eq!(a.manager().get::<String>("user:2").await.unwrap(), None);
    assert_eq!(b.manager().get::<String>("user:2").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidation_during_a_load_wins() {
    let (_server, a, b) = two_processes("load_tag").await;
    let opts = AsideOptions::ttl(Duration::from_secs(60)).with_tags(["users"]);
    let got = load_across(&a, "user:3", opts, async {
        b.manager().invalidate_by_tags(&["users".into()]).await.unwrap();
    })
    .await;
    assert_eq!(got.as_deref(), Some("\"old\""));
    assert_eq!(a.manager().get::<String>("user:3").await.unwrap(), None, "A serves no entry older than the tag invalidation");
    assert_eq!(b.manager().get::<String>("user:3").await.unwrap(), None, "nor B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_during_a_load_is_not_overwritten_by_it() {
    let (_server, a, b) = two_processes("load_write").await;
    let got = load_across(&a, "user:4", AsideOptions::ttl(Duration::from_secs(60)), async {
        b.manager().set("user:4", "new", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    })
    .await;
    assert_eq!(got.as_deref(), Some("\"old\""));
    assert_eq!(a.manager().get::<String>("user:4").await.unwrap().as_deref(), Some("new"));
    assert_eq!(b.manager().get::<String>("user:4").await.unwrap().as_deref(), Some("new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undisturbed_load_is_stored_for_everyone() {
    let (_server, a, b) = two_processes("load_ok").await;
    let got = load_across(&a, "user:5", AsideOptions::ttl(Duration::from_secs(60)).with_tags(["users"]), async {}).await;
    assert_eq!(got.as_deref(), Some("\"old\""));
    assert_eq!(b.manager().get::<String>("user:5").await.unwrap().as_deref(), Some("old"));
    assert_eq!(a.manager().get::<String>("user:5").await.unwrap().as_deref(), Some("old"), "and for the loader's process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_raced_a_del_does_not_bring_the_value_back() {
    let (_server, a, b) = two_processes("refresh_del").await;
    let key = "report";
    a.manager().set(key, "v1", &SetOptions::ttl(Duration::from_secs(10))).await.unwrap();
    let (started, go) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let loader = gated_loader(started.clone(), go.clone(), "\"v2 read before the delete\"");
    // 10 s TTL, threshold 0.99: the next read triggers a background refresh.
    let opts = RefreshOptions::new(Duration::from_secs(10), 0.99);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let got = a.cache_aside().get_with_refresh(key, loader, &opts).await.unwrap();
    assert_eq!(got.as_deref(), Some("\"v1\""));
    tokio::time::timeout(Duration::from_secs(5), started.notified()).await.expect("refresh started");
    b.manager().del(key).await.unwrap();
    go.notify_one();
    // Give the refresh time to finish and (wrongly) store.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        assert_eq!(a.manager().get::<String>(key).await.unwrap(), None, "A serves the refreshed value after the delete");
        assert_eq!(b.manager().get::<String>(key).await.unwrap(), None, "B serves the refreshed value after the delete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_found_nothing_releases_its_lock_at_once() {
    let (_server, a, b) = two_processes("load_none").await;
    let none: Loader = Arc::new(|| async { Ok(None) }.boxed());
    let opts = AsideOptions::ttl(Duration::from_secs(60));
    assert_eq!(a.cache_aside().get("absent", none.clone(), &opts).await.unwrap(), None);
    // Another process loads the same key right after: it must not wait for the first load's lease.
    let t = std::time::Instant::now();
    assert_eq!(b.cache_aside().get("absent", none, &opts).await.unwrap(), None);
    assert!(t.elapsed() < Duration::from_secs(1), "waited {:?} for a lock nobody held any more", t.elapsed());
}
