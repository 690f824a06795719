//! Write-behind under hostile load (issue 19, `docs/limits.md`): a bounded queue that refuses rather
//! than grows, writers run concurrently so one stuck writer does not hold the rest, a flusher that
//! survives panicking writers and hooks, and a shutdown that ends by its deadline.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use stratacache::patterns::{WriteBehindOptions, Writer};
use stratacache::{Error, ErrorKind, SetOptions};
use support::{cache, recording_writer as recording, unique_ns, RedisServer};

/// A writer that never settles.
fn stuck() -> Writer {
    Arc::new(|_| futures::future::pending().boxed())
}

fn quiet(max_queue_size: usize) -> WriteBehindOptions {
    let mut o = WriteBehindOptions::default();
    o.flush_interval = Duration::from_secs(60);
    o.batch_size = 1_000_000;
    o.max_queue_size = max_queue_size;
    o
}

#[tokio::test]
async fn a_full_queue_refuses_a_new_key_in_time_without_touching_the_cache() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("wbfull")).await;
    let mut o = quiet(1_000);
    o.queue_full_timeout = Duration::from_millis(100);
    let wb = c.new_write_behind(o);
    let opts = SetOptions::ttl(Duration::from_secs(60));
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..1_000 {
        wb.write(&format!("q:{i}"), &i.to_string(), recording(log.clone()), &opts).await.unwrap();
    }
    assert_eq!(wb.stats().pending, 1_000);
    let t = Instant::now();
    let e = wb.write("q:extra", "1", recording(log.clone()), &opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.message().contains("write-behind queue is full (1000 keys waiting"), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(90) && t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(c.manager().get_json("q:extra").await.unwrap(), None, "a refused write leaves the cache alone");
    assert_eq!(wb.stats().pending, 1_000, "the queue did not grow");
    // A write to a queued key replaces it: no room needed.
    wb.write("q:7", "\"seven\"", recording(log.clone()), &opts).await.unwrap();
    assert_eq!(wb.stats().coalesced, 1);

    // A write waiting for room gets it when a flush drains the queue.
    let waiting = {
        let wb = wb.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let mut o = SetOptions::ttl(Duration::from_secs(60));
            o.tags = Vec::new();
            wb.write("q:late", "2", recording(log), &o).await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(wb.flush().await, 1_000);
    waiting.await.unwrap().unwrap();
    assert_eq!(wb.stats().pending, 1);
    assert_eq!(log.lock().unwrap()[7], "\"seven\"", "the replacing write kept its key's place");
}

#[tokio::test]
async fn one_stuck_writer_does_not_hold_the_others_and_panics_do_not_stop_the_flusher() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("wbconc")).await;
    let dead = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let d2 = dead.clone();
    let mut o = WriteBehindOptions::default();
    o.flush_interval = Duration::from_millis(30);
    o.max_retries = 0;
    o.concurrency = 4;
    o.write_timeout = Duration::from_millis(400);
    o.on_error = Some(Arc::new(move |e: Error, k: String, _| {
        d2.lock().unwrap().push((k, e.message().to_owned()));
        panic!("a broken onError hook");
    }));
    let wb = c.new_write_behind(o);
    let opts = SetOptions::ttl(Duration::from_secs(60));
    let log = Arc::new(Mutex::new(Vec::new()));
    wb.write("stuck", "0", stuck(), &opts).await.unwrap();
    let panicking: Writer = Arc::new(|_| panic!("a broken writer"));
    wb.write("panics", "1", panicking, &opts).await.unwrap();
    for i in 0..20 {
        wb.write(&format!("ok:{i}"), &i.to_string(), recording(log.clone()), &opts).await.unwrap();
    }
    support::within(Duration::from_secs(3), "the 20 good writes behind a stuck one", || {
        let log = log.clone();
        async move { log.lock().unwrap().len() == 20 }
    })
    .await;
    assert_eq!(dead.lock().unwrap().iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), vec!["panics"]);
    assert!(dead.lock().unwrap()[0].1.contains("panicked"));
    // The stuck writer is given up at writeTimeoutMs; the flusher survived the panicking writer and
    // hook, and flushes what comes next.
    wb.write("after", "\"after\"", recording(log.clone()), &opts).await.unwrap();
    support::within(Duration::from_secs(3), "the write after the stuck one", || {
        let log = log.clone();
        async move { log.lock().unwrap().iter().any(|v| v == "\"after\"") }
    })
    .await;
    let dead = dead.lock().unwrap();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[1].0, "stuck");
    assert!(dead[1].1.contains("writeTimeoutMs (400 ms)"), "{}", dead[1].1);
    assert_eq!(wb.stats().failed, 2);
}

#[tokio::test]
async fn shutdown_ends_by_its_deadline_and_hands_the_unwritten_to_on_error() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("wbclose")).await;
    let dead = Arc::new(Mutex::new(Vec::<String>::new()));
    let d2 = dead.clone();
    let mut o = quiet(100);
    o.shutdown_timeout = Duration::from_millis(200);
    o.concurrency = 1;
    o.on_error = Some(Arc::new(move |e: Error, k: String, _| {
        assert_eq!(e.kind(), ErrorKind::Timeout);
        d2.lock().unwrap().push(k);
    }));
    let wb = c.new_write_behind(o);
    let opts = SetOptions::ttl(Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let counting_stuck: Writer = Arc::new(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
        futures::future::pending().boxed()
    });
    wb.write("a", "1", counting_stuck.clone(), &opts).await.unwrap();
    wb.write("b", "2", counting_stuck, &opts).await.unwrap();
    let t = Instant::now();
    c.close().await;
    assert!(t.elapsed() < Duration::from_secs(2), "shutdown took {:?}", t.elapsed());
    let mut left = dead.lock().unwrap().clone();
    left.sort();
    assert_eq!(left, vec!["a".to_string(), "b".to_string()], "both writes were given up, none lost silently");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "concurrency 1: the second never started");
    assert_eq!(wb.stats().failed, 2);
}
