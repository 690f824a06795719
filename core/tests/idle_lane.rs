//! The idle lane (issue 15): a single-key read made while nothing else is in flight goes on a second,
//! read-only connection and answers exactly what the main connection would; a broken lane falls back
//! and reconnects; a Redis that stops answering is a timeout within the command timeout.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use stratacache::lane::LANE_CLIENT_NAME;
use stratacache::{CacheOptions, SetOptions};
use support::proxy::FaultProxy;
use support::{cache, cache_with, unique_ns, within, RedisServer};

/// The `CLIENT LIST` line of the lane, if it is connected.
async fn lane_client(raw: &mut redis::aio::MultiplexedConnection) -> Option<String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(raw).await.unwrap();
    list.lines().find(|l| l.contains(&format!(" name={LANE_CLIENT_NAME} "))).map(str::to_owned)
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or("")
}

/// Store `k` = "v", read it idle once (which connects the lane) and wait until the lane is connected.
async fn lane_in_use(m: &stratacache::manager::CacheManager, raw: &redis::aio::MultiplexedConnection) {
    m.set("k", &"v", &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    m.clear_l1();
    m.get_l2_idle("k").await.unwrap();
    within(Duration::from_secs(3), "the lane connects", || {
        let mut raw = raw.clone();
        async move { lane_client(&mut raw).await.is_some() }
    })
    .await;
}

#[tokio::test]
async fn idle_reads_answer_what_the_main_connection_answers_and_go_on_the_lane() {
    let server = RedisServer::start();
    let ns = unique_ns("lane");
    let writer = cache(&server.url(), &ns).await;
    let reader = cache(&server.url(), &ns).await;
    let w = writer.manager();
    let r = reader.manager();
    let mut raw = server.raw().await;
    let doc = json!({"name": "Alice", "n": [1, 2, 3]});
    w.set("user:1", &doc, &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    let mut tagged = SetOptions::ttl(Duration::from_secs(60));
    tagged.tags = vec!["team".into()];
    w.set("tagged", &"t", &tagged).await.unwrap();

    // The first idle read connects the lane in the background and is answered on the main connection.
    assert_eq!(r.get_l2_idle("user:1").await.unwrap().map(|e| e.json.to_string()), Some(doc.to_string()));
    within(Duration::from_secs(3), "the lane connects", || {
        let mut raw = raw.clone();
        async move { lane_client(&mut raw).await.is_some() }
    })
    .await;

    // Now on the lane: a present key (L1 filled, with a deadline from PTTL), a missing key, a tagged key.
    r.clear_l1();
    let before = lane_client(&mut raw).await.unwrap();
    let hit = r.get_l2_idle("user:1").await.unwrap().expect("a hit");
    assert_eq!(hit.json.to_string(), doc.to_string());
    assert!(r.get_l1("user:1").unwrap().is_some(), "the read fills L1 as get does");
    assert_eq!(r.get_l2_idle("absent").await.unwrap().map(|e| e.json.to_string()), None);
    assert_eq!(r.get_l2_idle("tagged").await.unwrap().map(|e| e.json.to_string()), Some("\"t\"".into()));
    let after = lane_client(&mut raw).await.unwrap();
    assert_eq!(field(&before, "id"), field(&after, "id"), "the same lane connection");
    assert_eq!(field(&after, "cmd"), "pttl", "the lane sent the reads (GET + PTTL): {after}");

    // An invalidated tag and a deleted key read as misses on the lane too.
    w.invalidate_by_tags(&["team".to_string()]).await.unwrap();
    r.clear_l1();
    assert_eq!(r.get_l2_idle("tagged").await.unwrap().map(|e| e.json.to_string()), None);
    w.del("user:1").await.unwrap();
    r.clear_l1();
    assert_eq!(r.get_l2_idle("user:1").await.unwrap().map(|e| e.json.to_string()), None);

    // Counted like get's Redis reads: two hits (one before the lane), misses for the rest.
    let s = r.stats();
    assert_eq!((s.l2.hits, s.l2.misses, s.l2.errors), (3, 3, 0), "{s:?}");

    // An error reply is an error, as on the main connection: a miss, counted as a Redis error.
    let _: () = redis::cmd("HSET").arg(format!("{ns}:d:h")).arg("f").arg("v").query_async(&mut raw).await.unwrap();
    assert_eq!(r.get_l2_idle("h").await.unwrap().map(|e| e.json.to_string()), None);
    assert_eq!(r.stats().l2.errors, 1, "WRONGTYPE counted");
    assert_eq!(field(&lane_client(&mut raw).await.unwrap(), "cmd"), "pttl", "read on the lane");

    // Without L1 the lane sends only GET.
    let mut no_l1 = CacheOptions::default();
    no_l1.enable_l1 = Some(false);
    let plain = cache_with(&server.url(), &ns, no_l1).await;
    w.set("k", &1, &SetOptions::ttl(Duration::from_secs(60))).await.unwrap();
    let mut lanes_seen = 0;
    for _ in 0..50 {
        assert_eq!(plain.manager().get_l2_idle("k").await.unwrap().map(|e| e.json.to_string()), Some("1".into()));
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut raw).await.unwrap();
        lanes_seen = list.lines().filter(|l| l.contains(&format!(" name={LANE_CLIENT_NAME} ")) && field(l, "cmd") == "get").count();
        if lanes_seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lanes_seen, 1, "the L1-less cache's lane sent a lone GET");
}

#[tokio::test]
async fn a_broken_lane_falls_back_to_the_main_connection_and_reconnects() {
    let server = RedisServer::start();
    let ns = unique_ns("lanebreak");
    let c = cache(&server.url(), &ns).await;
    let m = c.manager();
    let mut raw = server.raw().await;
    lane_in_use(m, &raw).await;
    let old = lane_client(&mut raw).await.unwrap();
    let _: () = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(field(&old, "id")).query_async(&mut raw).await.unwrap();

    // Every read still answers, through the main connection while the lane is down.
    for _ in 0..5 {
        m.clear_l1();
        assert_eq!(m.get_l2_idle("k").await.unwrap().map(|e| e.json.to_string()), Some("\"v\"".into()));
    }
    let old_id = field(&old, "id").to_owned();
    let waited = within(Duration::from_secs(5), "the lane reconnects", || {
        let (mut raw, old_id) = (raw.clone(), old_id.clone());
        async move {
            m.clear_l1();
            assert_eq!(m.get_l2_idle("k").await.unwrap().map(|e| e.json.to_string()), Some("\"v\"".into()));
            lane_client(&mut raw).await.is_some_and(|l| field(&l, "id") != old_id)
        }
    })
    .await;
    assert!(waited >= Duration::from_millis(500), "reconnects are spaced (about 1 s): {waited:?}");
    assert_eq!(m.stats().l2.errors, 0, "a broken lane is not a Redis error: the read went on the main connection");
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_a_timeout_within_the_command_timeout() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port);
    let ns = unique_ns("lanefreeze");
    let c = cache(&proxy.url(), &ns).await;
    let m = c.manager();
    let raw = server.raw().await;
    lane_in_use(m, &raw).await;

    proxy.freeze();
    m.clear_l1();
    let t = Instant::now();
    let read = m.get_l2_idle("k").await.unwrap();
    let took = t.elapsed();
    assert_eq!(read.map(|e| e.json.to_string()), None, "no answer reads as a miss, as on the main connection");
    assert!(took >= Duration::from_millis(450) && took < Duration::from_millis(1500), "bounded by the 500 ms command timeout: {took:?}");
    // At least this read; the bus's own liveness checks through the frozen proxy may time out too.
    assert!(m.metrics().l2_timeouts.get() >= 1, "counted as a timeout");

    proxy.reset();
    proxy.pass();
    within(Duration::from_secs(5), "reads answer again", || {
        async move {
            m.clear_l1();
            m.get_l2_idle("k").await.unwrap().is_some()
        }
    })
    .await;
}

#[tokio::test]
async fn closing_the_system_closes_the_lane() {
    let server = RedisServer::start();
    let ns = unique_ns("laneclose");
    let c = cache(&server.url(), &ns).await;
    let raw = server.raw().await;
    lane_in_use(c.manager(), &raw).await;
    c.close().await;
    within(Duration::from_secs(3), "the lane's connection ends with the system", || {
        let mut raw = raw.clone();
        async move { lane_client(&mut raw).await.is_none() }
    })
    .await;
}
