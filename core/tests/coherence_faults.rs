//! Contract §8 under faults: a bus that cannot hear (frozen, tracking refused, channel refused by an
//! ACL), Redis error replies (OOM), and a paused server. Faults come from `tests/support/fault_proxy.py`
//! (the same proxy the Node and Python suites use) and from Redis's own ACL/CONFIG/CLIENT PAUSE.

mod support;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use stratacache::bus::BusState;
use stratacache::ratelimit::{LimitOptions, RedisErrorPolicy};
use stratacache::{SetOptions, StrataCache};
use support::proxy::FaultProxy;
use support::{within, cache, unique_ns, RedisServer};

fn ttl() -> SetOptions {
    SetOptions::ttl(Duration::from_secs(60))
}

/// Poll `check` every 50 ms until it holds or `limit` passes; returns how long it took.

fn state(c: &StrataCache) -> BusState {
    c.manager().bus().stats().state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_connection_stops_l1_serving_within_5_s_and_recovers() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port);
    let ns = unique_ns("freeze");
    let a = cache(&proxy.url(), &ns).await; // behind the proxy
    let b = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    b.ping().await.unwrap();
    a.manager().set("k", "old", &ttl()).await.unwrap();
    assert_eq!(a.manager().get::<String>("k").await.unwrap().as_deref(), Some("old"));

    proxy.freeze(); // half-open: nothing closes, nothing answers
    b.manager().del("k").await.unwrap();
    let t = Instant::now();
    let ma = a.manager();
    // Every read settles within the command timeout (500 ms) plus a margin, and the old value is
    // gone within the documented bound (5 s).
    let took = within(Duration::from_secs(6), "A stops serving the deleted value", || async {
        let call = Instant::now();
        let v = ma.get::<String>("k").await.unwrap();
        assert!(call.elapsed() < Duration::from_millis(1_500), "a get took {:?}", call.elapsed());
        v.is_none()
    })
    .await;
    assert!(t.elapsed() <= Duration::from_millis(5_500), "stale for {took:?}");
    assert_eq!(state(&a), BusState::Down, "the bus says it is down");

    proxy.pass();
    within(Duration::from_secs(5), "the bus is live again", || async { state(&a) == BusState::Live }).await;
    assert_eq!(a.manager().get::<String>("k").await.unwrap(), None);
    a.manager().set("k", "new", &ttl()).await.unwrap();
    assert_eq!(b.manager().get::<String>("k").await.unwrap().as_deref(), Some("new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_bus_connection_reconnects_and_clears_l1() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port);
    let ns = unique_ns("reset");
    let a = cache(&proxy.url(), &ns).await;
    a.ping().await.unwrap();
    a.manager().set("k", "v", &ttl()).await.unwrap();
    let reconnects = a.manager().bus().stats().reconnects;
    proxy.reset();
    within(Duration::from_secs(5), "the bus reconnects", || async {
        a.manager().bus().stats().reconnects > reconnects && state(&a) == BusState::Live
    })
    .await;
    let hits = a.manager().stats().l1.hits;
    assert_eq!(a.manager().get::<String>("k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(a.manager().stats().l1.hits, hits, "L1 was cleared: the value came from Redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_that_cannot_be_re_enabled_stops_trusting_l1() {
    let server = RedisServer::start();
    let ns = unique_ns("tracking");
    let a = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    a.manager().set("k", "old", &ttl()).await.unwrap();
    let mut raw = server.raw().await;
    // Tracking can no longer be enabled, and the data connection loses it (a new connection).
    let _: () = redis::cmd("ACL").arg("SETUSER").arg("default").arg("-client|tracking").query_async(&mut raw).await.unwrap();
    let _: () = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").arg("SKIPME").arg("yes").query_async(&mut raw).await.unwrap();
    let _ = a.manager().get::<String>("other").await; // the data connection reconnects
    within(Duration::from_secs(5), "the bus reports it", || async { matches!(state(&a), BusState::Down | BusState::Refused) }).await;
    // A write from outside the library that tracking would have reported: seen within the bound.
    let _: () = raw.set(format!("{ns}:d:k"), b"not an envelope".as_slice()).await.unwrap();
    within(Duration::from_secs(5), "L1 stops serving the old value", || async {
        a.manager().get::<String>("k").await.unwrap().is_none()
    })
    .await;
    let _: () = redis::cmd("ACL").arg("SETUSER").arg("default").arg("+client|tracking").query_async(&mut raw).await.unwrap();
    within(Duration::from_secs(5), "the bus is live again", || async { state(&a) == BusState::Live }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_refused_by_an_acl_is_reported_and_writes_still_reach_redis() {
    let server = RedisServer::start();
    let mut raw = server.raw().await;
    // Redis 7's default for new users: no channels.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">secret")
        .arg("~*")
        .arg("resetchannels")
        .arg("+@all")
        .query_async(&mut raw)
        .await
        .unwrap();
    let ns = unique_ns("acl");
    let url = format!("redis://app:secret@127.0.0.1:{}", server.port);
    let a = cache(&url, &ns).await;
    let b = cache(&server.url(), &ns).await;
    within(Duration::from_secs(3), "the bus says it was refused", || async { state(&a) == BusState::Refused }).await;
    a.manager().set("k", "from app", &ttl()).await.unwrap();
    assert_eq!(b.manager().get::<String>("k").await.unwrap().as_deref(), Some("from app"), "the write reached Redis");
    assert_eq!(a.manager().stats().l2.errors, 1, "the refused PUBLISH is counted");
    b.manager().set("k", "from default", &ttl()).await.unwrap();
    within(Duration::from_secs(5), "A, which cannot hear the bus, reads the new value", || async {
        a.manager().get::<String>("k").await.unwrap().as_deref() == Some("from default")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_replies_take_the_degraded_paths() {
    let server = RedisServer::start();
    let ns = unique_ns("oom");
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    let mut raw = server.raw().await;
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query_async(&mut raw).await.unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1").query_async(&mut raw).await.unwrap();

    let errors = a.manager().stats().l2.errors;
    a.manager().set("k", "v", &ttl()).await.expect("a set during OOM is a set during an outage: L1 only");
    assert!(a.manager().stats().l2.errors > errors, "counted as an L2 error");
    assert_eq!(a.manager().get::<String>("k").await.unwrap().as_deref(), Some("v"), "served from L1");
    assert_eq!(b.manager().get::<String>("k").await.unwrap(), None, "never reported as stored in Redis");

    let rl = a.rate_limiter();
    let mut opts = LimitOptions::new(60_000, 1);
    opts.on_redis_error = RedisErrorPolicy::Deny;
    assert!(!rl.limit("oom:deny", &opts).await.unwrap().allowed, "onRedisError: deny applies");
    opts.on_redis_error = RedisErrorPolicy::Allow;
    assert!(rl.limit("oom:allow", &opts).await.unwrap().allowed, "onRedisError: allow applies");
    assert!(a.manager().is_degraded());

    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0").query_async(&mut raw).await.unwrap();
    within(Duration::from_secs(5), "writes reach Redis again", || async {
        a.manager().set("k2", "v2", &ttl()).await.unwrap();
        b.manager().get::<String>("k2").await.unwrap().is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_client_pause_every_call_settles_within_the_command_timeout() {
    let server = RedisServer::start();
    let ns = unique_ns("pause");
    let a = cache(&server.url(), &ns).await;
    a.ping().await.unwrap();
    let mut raw = server.raw().await;
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(3_000).arg("ALL").query_async(&mut raw).await.unwrap();
    let m = a.manager();
    let bound = Duration::from_millis(500 + 700); // commandTimeoutMs + margin
    macro_rules! settles {
        ($what:expr, $call:expr) => {{
            let t = Instant::now();
            let _ = $call.await;
            assert!(t.elapsed() < bound, "{} took {:?}", $what, t.elapsed());
        }};
    }
    // All at once first (before the breaker opens, every call meets the paused server), then one by one.
    let t = Instant::now();
    let limit_opts = LimitOptions::new(1_000, 5);
    let keys: Vec<String> = vec!["a".into(), "b".into()];
    let tags: Vec<String> = vec!["t".into()];
    let set_opts = ttl();
    let _ = tokio::join!(
        m.get::<String>("absent0"),
        m.set("k0", "v", &set_opts),
        m.del("k0"),
        m.mget_entries(&keys),
        m.invalidate_by_tags(&tags),
        a.rate_limiter().limit("pause0", &limit_opts),
    );
    assert!(t.elapsed() < bound, "the calls together took {:?}", t.elapsed());
    settles!("get", m.get::<String>("absent"));
    settles!("set", m.set("k", "v", &ttl()));
    settles!("del", m.del("k"));
    settles!("mget", m.mget_entries(&["a".into(), "b".into()]));
    settles!("invalidate_by_tags", m.invalidate_by_tags(&["t".into()]));
    settles!("limit", a.rate_limiter().limit("pause", &LimitOptions::new(1_000, 5)));
}
