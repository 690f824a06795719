//! When Redis misbehaves: down at start, killed mid-run, back again; corrupt entries.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use stratacache::{ErrorKind, SetOptions};
use support::{cache, free_port, unique_ns, RedisServer};

#[tokio::test]
async fn redis_down_at_start_degrades_to_l1_without_hanging() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let a = cache(&url, &unique_ns("down")).await;
    let m = a.manager();
    let t = Instant::now();
    m.set("k", "v", &SetOptions::default()).await.unwrap();
    assert_eq!(m.get::<String>("k").await.unwrap().as_deref(), Some("v"), "served from L1");
    assert_eq!(m.get::<String>("absent").await.unwrap(), None);
    // Contract §8: a delete that cannot reach Redis is never silently lost: it rejects (as a tag
    // invalidation does), after removing the key from this process's L1.
    let e = m.del("k").await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(e.message().contains("did not reach Redis") && e.message().contains("\"k\""), "names what was lost: {e}");
    assert_eq!(m.get::<String>("k").await.unwrap(), None, "removed from L1 all the same");
    let e = a.ping().await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "degraded calls must not hang: {:?}", t.elapsed());
    assert!(m.stats().l2.errors >= 1);
    assert!(m.is_degraded());
    let e = m.invalidate_by_tags(&["t".into()]).await.unwrap_err();
    assert!(e.is_unavailable(), "an invalidation that did not reach Redis is reported: {e:?}");
}

#[tokio::test]
async fn server_killed_mid_run_then_back_recovers_and_clears_l1() {
    let mut server = RedisServer::start();
    let port = server.port;
    let ns = unique_ns("kill");
    let a = cache(&server.url(), &ns).await;
    a.ping().await.unwrap(); // ready: subscribed to the bus (its first subscription clears L1)
    let m = a.manager();
    m.set("k", "before", &SetOptions::default()).await.unwrap();

    // Operations in flight while the server dies all finish, without panics.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("c{i}");
            for _ in 0..20 {
                let _ = a.manager().set(&key, &i, &SetOptions::default()).await;
                let _ = a.manager().get::<i32>(&key).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.kill();
    let t = Instant::now();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task).await.expect("ops finish").unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(30));

    assert_eq!(m.get::<String>("k").await.unwrap().as_deref(), Some("before"), "L1 serves while down");
    m.set("during", "x", &SetOptions::default()).await.unwrap();
    assert!(m.stats().l2.errors > 0);

    // Another process changes the value while this one cannot hear about it.
    let server = RedisServer::start_on(port);
    let other = cache(&server.url(), &ns).await;
    other.manager().set("k", "after", &SetOptions::default()).await.unwrap();

    // Within seconds, service returns to normal and the stale L1 entry is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = a.manager().get::<String>("probe").await;
        if a.ping().await.is_ok() && !m.is_degraded() {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(m.get::<String>("k").await.unwrap().as_deref(), Some("after"));
}

#[tokio::test]
async fn corrupt_and_foreign_entries_read_as_counted_misses() {
    let server = RedisServer::start();
    let ns = unique_ns("corrupt");
    let a = cache(&server.url(), &ns).await;
    let mut raw = server.raw().await;
    let _: () = raw.set(format!("{ns}:d:foreign"), "plain text from another client").await.unwrap();
    let _: () = raw.set(format!("{ns}:d:future"), b"SC\x09\x00garbage".as_slice()).await.unwrap();
    let _: () = raw.hset(format!("{ns}:d:wrongtype"), "f", "v").await.unwrap();
    assert_eq!(a.manager().get::<String>("foreign").await.unwrap(), None);
    assert_eq!(a.manager().get::<String>("future").await.unwrap(), None);
    assert_eq!(a.manager().get::<String>("wrongtype").await.unwrap(), None);
    let s = a.manager().stats();
    assert_eq!(s.corrupt_entries, 2);
    assert!(s.l2.errors >= 3);
    // The cache still works, and a set repairs the key.
    a.manager().set("foreign", "mine", &SetOptions::default()).await.unwrap();
    let b = cache(&server.url(), &ns).await;
    assert_eq!(b.manager().get::<String>("foreign").await.unwrap().as_deref(), Some("mine"));
}

#[tokio::test]
async fn closed_handle_refuses_calls() {
    let server = RedisServer::start();
    let a = cache(&server.url(), &unique_ns("closed")).await;
    a.close().await;
    a.close().await;
    let e = a.manager().get::<String>("k").await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_CLOSED");
}
