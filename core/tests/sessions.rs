//! Sessions: device cap, binding, sliding expiry, listing, logout everywhere, ids never stored.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{json, Value};
use stratacache::session::{id, SessionOptions};
use support::{cache, unique_ns, RedisServer};

fn login(user: u64, ip: &str) -> Value {
    json!({"userId": user, "tenantId": 1, "role": "user", "email": "u@example.com", "ipAddress": ip, "userAgent": "UA/1", "data": {"theme": "dark"}})
}

fn opts(ttl_ms: u64, max: u32) -> SessionOptions {
    SessionOptions { ttl: Duration::from_millis(ttl_ms), max_devices: max }
}

#[tokio::test]
async fn create_get_touch_delete_and_no_raw_id_in_redis() {
    let server = RedisServer::start();
    let ns = unique_ns("sess");
    let c = cache(&server.url(), &ns).await;
    let s = c.sessions();
    let (sid, session) = s.create(login(7, "1.2.3.4"), opts(60_000, 5)).await.unwrap();
    assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {sid}");
    assert_eq!(session["sessionId"], Value::String(sid.clone()));
    assert_eq!(session["data"], json!({"theme": "dark"}));
    let got = s.get(&sid, Some("1.2.3.4"), Some("UA/1")).await.unwrap().unwrap();
    assert_eq!(got["userId"], json!(7));
    assert_eq!(got["email"], json!("u@example.com"));
    assert!(got["expiresAt"].as_u64().unwrap() > got["createdAt"].as_u64().unwrap());
    assert_eq!(s.get(&sid, Some("9.9.9.9"), None).await.unwrap(), None, "IP mismatch");
    assert_eq!(s.get(&sid, None, Some("Evil/2")).await.unwrap(), None, "UA mismatch");
    assert_eq!(s.stats().await.unwrap().validation_failures, 2);

    // A dump of Redis does not contain the id.
    let mut raw = server.raw().await;
    let keys: Vec<String> = raw.keys(format!("{ns}:*")).await.unwrap();
    let secret = sid.split_once('.').unwrap().1;
    for k in &keys {
        assert!(!k.contains(secret), "raw id in key {k}");
        let t: String = redis::cmd("TYPE").arg(k).query_async(&mut raw).await.unwrap();
        if t == "hash" {
            let fields: Vec<(String, String)> = raw.hgetall(k).await.unwrap();
            assert!(fields.iter().all(|(_, v)| !v.contains(secret)), "raw id in {k}");
        }
    }

    assert!(s.touch(&sid).await.unwrap());
    assert!(s.delete(&sid).await.unwrap());
    assert_eq!(s.get(&sid, None, None).await.unwrap(), None);
    assert!(!s.touch(&sid).await.unwrap());
    assert!(!s.delete(&sid).await.unwrap());
}

#[tokio::test]
async fn twenty_concurrent_logins_leave_the_five_most_recent() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("cap")).await;
    let logins = (0..20).map(|i| {
        let c = c.clone();
        async move { c.sessions().create(login(42, &format!("10.0.0.{i}")), opts(60_000, 5)).await.unwrap().0 }
    });
    let ids = futures::future::join_all(logins).await;
    let live = c.sessions().user_sessions(&json!(42)).await.unwrap();
    assert_eq!(live.len(), 5, "exactly maxDevices sessions survive");
    let mut alive = Vec::new();
    for id in &ids {
        if c.sessions().get(id, None, None).await.unwrap().is_some() {
            alive.push(id.clone());
        }
    }
    assert_eq!(alive.len(), 5);
    let stats = c.sessions().stats().await.unwrap();
    assert_eq!(stats.total_sessions, 5);
    assert_eq!(stats.sessions_by_user.get("42"), Some(&5));
    // Most recent first, and their handles log a device out.
    let handle = live[0]["sessionId"].as_str().unwrap().to_owned();
    assert!(c.sessions().get(&handle, None, None).await.unwrap().is_none(), "a handle is not a session id");
    assert!(c.sessions().delete(&handle).await.unwrap());
    assert_eq!(c.sessions().user_sessions(&json!(42)).await.unwrap().len(), 4);
    assert_eq!(c.sessions().delete_user(&json!(42)).await.unwrap(), 4);
    assert!(c.sessions().user_sessions(&json!(42)).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_least_recently_active_session_is_evicted() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("lru")).await;
    let s = c.sessions();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s.create(login(9, &format!("ip{i}")), opts(60_000, 5)).await.unwrap().0);
    }
    assert!(s.touch(&ids[0]).await.unwrap()); // the oldest login is now the most recently active
    for i in 5..7 {
        ids.push(s.create(login(9, &format!("ip{i}")), opts(60_000, 5)).await.unwrap().0);
    }
    let alive: Vec<bool> = futures::future::join_all(ids.iter().map(|id| s.get(id, None, None)))
        .await
        .into_iter()
        .map(|r| r.unwrap().is_some())
        .collect();
    assert_eq!(alive, vec![true, false, false, true, true, true, true]);
    let listed = s.user_sessions(&json!(9)).await.unwrap();
    let ips: Vec<&str> = listed.iter().map(|x| x["ipAddress"].as_str().unwrap()).collect();
    assert_eq!(ips[0], "ip6", "most recently active first: {ips:?}");
}

#[tokio::test]
async fn touch_slides_the_expiry_and_the_index_never_lists_dead_sessions() {
    let server = RedisServer::start();
    let ns = unique_ns("slide");
    let c = cache(&server.url(), &ns).await;
    let s = c.sessions();
    let (keep, _) = s.create(login(1, "ip"), opts(400, 5)).await.unwrap();
    let (lapse, _) = s.create(login(1, "ip"), opts(400, 5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(s.touch(&keep).await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(s.get(&keep, None, None).await.unwrap().is_some(), "touch must slide the expiry");
    assert!(s.get(&lapse, None, None).await.unwrap().is_none(), "the untouched one expired");
    let listed = s.user_sessions(&json!(1)).await.unwrap();
    assert_eq!(listed.len(), 1);
    let mut raw = server.raw().await;
    let index: Vec<String> = raw.keys(format!("{ns}:su:*")).await.unwrap();
    let members: u64 = raw.zcard(&index[0]).await.unwrap();
    assert_eq!(members, 1, "the index dropped the expired session");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(s.user_sessions(&json!(1)).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_is_an_error_or_a_null_never_a_redis_error() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("bad")).await;
    let s = c.sessions();
    for forged in ["", "nope", "12345678.short", "zzzzzzzz.AAAAAAAAAAAAAAAAAAAAAA", "12345678.AAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(s.get(forged, None, None).await.unwrap(), None, "{forged}");
        assert!(!s.touch(forged).await.unwrap());
        assert!(!s.delete(forged).await.unwrap());
    }
    let e = s.create(json!({"role": "x"}), opts(1000, 5)).await.unwrap_err();
    assert!(e.message().contains("userId"), "{e}");
    let e = s.create(login(1, "ip"), opts(1000, 0)).await.unwrap_err();
    assert!(e.message().contains("maxDevices must be >= 1, got 0"), "{e}");
    let e = s.create(json!({"userId": 1, "email": 5}), opts(1000, 5)).await.unwrap_err();
    assert!(e.message().contains("email must be a string"), "{e}");
}

#[test]
fn ids_are_unique_over_100k() {
    let mut seen = HashSet::new();
    for _ in 0..100_000 {
        assert!(seen.insert(id::new_id("0123abcd")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_with_100000_sessions_does_not_slow_a_login_or_stall_redis() {
    // Issue 19: every createSession used to scan the user's whole index with one EXISTS per entry.
    use futures::StreamExt;
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("sess_many")).await;
    let sessions = c.sessions();
    let made = futures::stream::iter(0..100_000)
        .map(|_| {
            let s = sessions;
            async move { s.create(login(42, "10.0.0.1"), opts(3_600_000, u32::MAX)).await.unwrap() }
        })
        .buffer_unordered(64)
        .count()
        .await;
    assert_eq!(made, 100_000);
    let mut probe = server.raw().await;
    let pinger = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let _: String = redis::cmd("PING").query_async(&mut probe).await.unwrap();
            worst = worst.max(t.elapsed());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        worst
    });
    let t = std::time::Instant::now();
    for _ in 0..5 {
        sessions.create(login(42, "10.0.0.2"), opts(3_600_000, u32::MAX)).await.unwrap();
    }
    let five = t.elapsed();
    let worst = pinger.await.unwrap();
    assert!(worst < Duration::from_millis(50), "PING took {worst:?} during the logins");
    assert!(five < Duration::from_millis(250), "five more logins took {five:?}");
    // Expired sessions still leave the indexes: a short session, then a login after it expired.
    let (short, _) = sessions.create(login(43, "10.0.0.3"), opts(50, u32::MAX)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    sessions.create(login(43, "10.0.0.3"), opts(60_000, u32::MAX)).await.unwrap();
    let mut raw = server.raw().await;
    let ns = c.redis_config().namespace.clone();
    let tag = &short[..8];
    let members: u64 = raw.zcard(format!("{ns}:su:{{{tag}}}:43")).await.unwrap();
    assert_eq!(members, 1, "the expired session left the index ({short} expired)");
    c.close().await;
}

#[tokio::test]
async fn the_user_tag_is_keyed_shared_by_processes_and_earlier_unkeyed_sessions_are_still_found() {
    // Issue 19: the tag was SHA-256(userId), which linked a user's sessions and let a numeric id be
    // recovered by hashing candidates.
    let server = RedisServer::start();
    let ns = unique_ns("sess_tag");
    let a = cache(&server.url(), &ns).await;
    let b = cache(&server.url(), &ns).await;
    let (id1, _) = a.sessions().create(login(77, "10.0.0.7"), opts(60_000, u32::MAX)).await.unwrap();
    let (id2, _) = b.sessions().create(login(77, "10.0.0.8"), opts(60_000, u32::MAX)).await.unwrap();
    assert_ne!(&id1[..8], id::legacy_user_tag("77"), "the tag is not SHA-256 of the user id");
    assert_eq!(&id1[..8], &id2[..8], "every process keys the tag with the same secret");
    let mut raw = server.raw().await;
    let secret: Vec<u8> = raw.get(format!("{ns}:sk")).await.unwrap();
    assert_eq!(secret.len(), 32);
    assert_eq!(&id1[..8], id::user_tag(&secret, "77"));

    // A session an earlier build stored under the unkeyed tag: listed and deleted per user.
    let legacy = id::legacy_user_tag("77");
    let hash = "0123456789abcdef0123456789abcdef";
    let index = format!("{ns}:su:{{{legacy}}}:77");
    let key = format!("{ns}:s:{{{legacy}}}:{hash}");
    let now = stratacache::clock::now_ms();
    let doc = json!({"userId": 77, "role": "user"}).to_string();
    let _: () = redis::cmd("HSET").arg(&key).arg("doc").arg(&doc).arg("created").arg(now).arg("last").arg(now)
        .arg("exp").arg(now + 60_000).arg("ttl").arg(60_000).arg("idx").arg(&index).query_async(&mut raw).await.unwrap();
    let _: () = raw.pexpire(&key, 60_000).await.unwrap();
    let _: () = raw.zadd(&index, hash, now as f64).await.unwrap();
    let listed = b.sessions().user_sessions(&json!(77)).await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().any(|s| s["sessionId"] == json!(format!("{legacy}:{hash}"))));
    let stats = a.sessions().stats().await.unwrap();
    assert_eq!(stats.sessions_by_user.get("77"), Some(&3), "counted once per user across both indexes");
    assert_eq!(a.sessions().delete_user(&json!(77)).await.unwrap(), 3);
    assert_eq!(raw.exists::<_, bool>(&key).await.unwrap(), false, "log out everywhere reaches it too");
    a.close().await;
    b.close().await;
}
