//! Criterion benchmarks of the core: L1 hit, envelope encode/decode of a ~1 KB JSON object, and
//! L2 get/set against a redis-server this benchmark starts on a free loopback port.
#![allow(missing_docs)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stratacache::codec::{decode, encode, EncodeOptions, TagStamp};
use stratacache::{CacheOptions, RedisOptions, SetOptions, StrataCache};

fn one_kb_json() -> String {
    let rows: Vec<_> = (0..16)
        .map(|i| serde_json::json!({"id": i, "name": format!("user {i}"), "email": format!("u{i}@example.com"), "active": i % 2 == 0}))
        .collect();
    let s = serde_json::json!({ "rows": rows }).to_string();
    assert!((900..1300).contains(&s.len()), "payload is {} bytes", s.len());
    s
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (./dev deps installs it)");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (Server(child), format!("redis://127.0.0.1:{port}"))
}

fn build(rt: &tokio::runtime::Runtime, url: &str, l1: bool) -> StrataCache {
    build_with(rt, url, l1, true)
}

fn build_with(rt: &tokio::runtime::Runtime, url: &str, l1: bool, metrics: bool) -> StrataCache {
    let mut r = RedisOptions::default();
    r.url = Some(url.into());
    r.namespace = Some(format!("bench{}{}", l1 as u8, metrics as u8));
    let mut c = CacheOptions::default();
    c.enable_l1 = Some(l1);
    rt.block_on(StrataCache::builder().redis(r).cache(c).metrics(metrics).build()).unwrap()
}

fn benches(c: &mut Criterion) {
    let json = one_kb_json();
    let tags = vec![TagStamp { tag: "users".into(), token: [9; 8] }];
    let opts = EncodeOptions { created_at_ms: 1, expires_at_ms: 2, compress_above: None, fail_safe: false };
    let bytes = encode(&json, &tags, opts);

    let mut g = c.benchmark_group("envelope_1kb");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("encode", |b| b.iter(|| encode(&json, &tags, opts)));
    g.bench_function("decode", |b| b.iter(|| decode(&bytes, 1 << 20).unwrap()));
    g.finish();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (_server, url) = start_redis();
    let with_l1 = build(&rt, &url, true);
    let no_l1 = build(&rt, &url, false);
    let ttl = SetOptions::ttl(Duration::from_secs(600));
    rt.block_on(with_l1.manager().set_json("hot", &json, &ttl)).unwrap();
    rt.block_on(no_l1.manager().set_json("hot", &json, &ttl)).unwrap();

    c.bench_function("l1_hit_get_l1", |b| b.iter(|| with_l1.manager().get_l1("hot").unwrap().unwrap()));
    // The cost of recording (a counter and a latency sample per hit): issue 16 asks for ≥ 0.95× of the
    // throughput with metrics off. Both systems in one run, side by side.
    let quiet = build_with(&rt, &url, true, false);
    rt.block_on(quiet.manager().set_json("hot", &json, &ttl)).unwrap();
    let mut g = c.benchmark_group("l1_hit_metrics");
    g.bench_function("on", |b| b.iter(|| with_l1.manager().get_l1("hot").unwrap().unwrap()));
    g.bench_function("off", |b| b.iter(|| quiet.manager().get_l1("hot").unwrap().unwrap()));
    g.finish();
    // A tagged entry older than a later invalidation of another tag: checked against the tag marks
    // once, then served on the fast path again.
    let tagged = SetOptions::ttl(Duration::from_secs(600)).with_tags(["t1", "t2"]);
    rt.block_on(with_l1.manager().set_json("hot_tagged", &json, &tagged)).unwrap();
    rt.block_on(with_l1.manager().invalidate_by_tags(&["other".into()])).unwrap();
    c.bench_function("l1_hit_get_l1_tagged_after_invalidation", |b| {
        b.iter(|| with_l1.manager().get_l1("hot_tagged").unwrap().unwrap())
    });
    let m = with_l1.clone();
    c.bench_function("l1_hit_async_get", |b| {
        b.to_async(&rt).iter(|| async { m.manager().get_entry("hot").await.unwrap().unwrap() })
    });
    // getWithMeta on an L1 hit must cost no more than get (issue 18): the two side by side, each
    // returning the value's JSON text (`get_json`; `get::<T>` would add deserializing it).
    let mut g = c.benchmark_group("l1_hit_meta");
    let m = with_l1.clone();
    g.bench_function("get", |b| b.to_async(&rt).iter(|| async { m.manager().get_json("hot").await.unwrap().unwrap() }));
    let m = with_l1.clone();
    g.bench_function("get_with_meta", |b| b.to_async(&rt).iter(|| async { m.manager().get_with_meta("hot").await.unwrap() }));
    g.finish();

    let mut g = c.benchmark_group("l2_sequential");
    let m = no_l1.clone();
    g.bench_function("get", |b| b.to_async(&rt).iter(|| async { m.manager().get_entry("hot").await.unwrap().unwrap() }));
    let payload: Arc<str> = Arc::from(json.as_str());
    g.bench_function("set", |b| {
        b.to_async(&rt).iter(|| async { m.manager().set_json("k", &payload, &ttl).await.unwrap() })
    });
    g.finish();

    let mut g = c.benchmark_group("l2_64_in_flight");
    g.throughput(Throughput::Elements(64));
    g.bench_function("get", |b| {
        b.to_async(&rt).iter(|| async {
            let futs = (0..64).map(|_| m.manager().get_entry("hot"));
            futures::future::join_all(futs).await
        })
    });
    g.bench_function("set", |b| {
        b.to_async(&rt).iter(|| async {
            let futs = (0..64).map(|i| {
                let key = format!("k{i}");
                let m = m.clone();
                let p = payload.clone();
                let ttl = ttl.clone();
                async move { m.manager().set_json(&key, &p, &ttl).await }
            });
            futures::future::join_all(futs).await
        })
    });
    g.finish();
}

criterion_group! {
    name = core;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(core);
