//! Write-through and write-behind.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use stratacache::patterns::{WriteBehindOptions, Writer};
use stratacache::{Error, SetOptions};
use support::{cache, recording_writer, unique_ns, RedisServer};

#[tokio::test]
async fn write_through_updates_the_cache_only_after_the_writer_succeeds() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("wt")).await;
    let opts = SetOptions::ttl(Duration::from_secs(60));
    c.manager().set_json("user:1", "{\"v\":1}", &opts).await.unwrap();
    let failing: Writer = Arc::new(|_| async { Err(Error::callback("db rejected", Arc::new("nope"))) }.boxed());
    let e = c.write_through().write("user:1", "{\"v\":2}", failing, &opts).await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_CALLBACK");
    assert_eq!(c.manager().get_json("user:1").await.unwrap().as_deref(), Some("{\"v\":1}"), "cache changed after a failed write");
    let log = Arc::new(Mutex::new(Vec::new()));
    c.write_through().write("user:1", "{\"v\":3}", recording_writer(log.clone()), &opts).await.unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["{\"v\":3}".to_string()]);
    let other = cache(&server.url(), c.redis_config().namespace.as_str()).await;
    assert_eq!(other.manager().get_json("user:1").await.unwrap().as_deref(), Some("{\"v\":3}"));
    // Bad input never reaches the writer.
    let e = c.write_through().write("", "1", recording_writer(log.clone()), &opts).await.unwrap_err();
    assert_eq!(e.code(), "ERR_STRATACACHE_INVALID_KEY");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn write_behind_caches_at_once_batches_and_coalesces() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("wb")).await;
    let mut o = WriteBehindOptions::default();
    o.flush_interval = Duration::from_secs(30);
    o.batch_size = 3;
    let wb = c.new_write_behind(o);
    let log = Arc::new(Mutex::new(Vec::new()));
    let opts = SetOptions::ttl(Duration::from_secs(60));
    wb.write("e:1", "1", recording_writer(log.clone()), &opts).await.unwrap();
    assert_eq!(c.manager().get_json("e:1").await.unwrap().as_deref(), Some("1"), "cache must be updated at once");
    wb.write("e:1", "2", recording_writer(log.clone()), &opts).await.unwrap(); // replaces the queued write
    wb.write("e:2", "3", recording_writer(log.clone()), &opts).await.unwrap();
    assert!(log.lock().unwrap().is_empty(), "written before a flush was due");
    wb.write("e:3", "4", recording_writer(log.clone()), &opts).await.unwrap(); // batch of 3 → flush now
    let deadline = Instant::now() + Duration::from_secs(5);
    while log.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "batch flush did not happen: {:?}", log.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*log.lock().unwrap(), vec!["2", "3", "4"]);
    let s = wb.stats();
    assert_eq!((s.written, s.coalesced, s.pending), (3, 1, 0));
}

#[tokio::test]
async fn write_behind_retries_then_dead_letters_and_flushes_on_close() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("wbr")).await;
    let dead = Arc::new(Mutex::new(Vec::<(String, String, String)>::new()));
    let d2 = dead.clone();
    let mut o = WriteBehindOptions::default();
    o.flush_interval = Duration::from_millis(50);
    o.max_retries = 2;
    o.retry_base = Duration::from_millis(5);
    o.on_error = Some(Arc::new(move |e: Error, k: String, v: Arc<str>| d2.lock().unwrap().push((e.message().into(), k, v.to_string()))));
    let wb = c.new_write_behind(o);
    let attempts = Arc::new(AtomicUsize::new(0));
    let a2 = attempts.clone();
    let flaky: Writer = Arc::new(move |_| {
        let n = a2.fetch_add(1, Ordering::SeqCst);
        async move { if n < 2 { Err(Error::callback("flaky", Arc::new(n))) } else { Ok(()) } }.boxed()
    });
    let always: Writer = Arc::new(|_| async { Err(Error::callback("down", Arc::new(()))) }.boxed());
    let opts = SetOptions::ttl(Duration::from_secs(60));
    wb.write("flaky", "1", flaky, &opts).await.unwrap();
    wb.write("doomed", "2", always, &opts).await.unwrap();
    wb.flush().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "two failures then a success");
    assert_eq!(*dead.lock().unwrap(), vec![("down".to_string(), "doomed".to_string(), "2".to_string())]);
    let s = wb.stats();
    assert_eq!((s.written, s.failed, s.retries), (1, 1, 4));

    // Shutdown flushes what is still queued.
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut slow = WriteBehindOptions::default();
    slow.flush_interval = Duration::from_secs(60);
    let wb2 = c.new_write_behind(slow);
    wb2.write("late", "9", recording_writer(log.clone()), &opts).await.unwrap();
    c.close().await;
    assert_eq!(*log.lock().unwrap(), vec!["9".to_string()]);
    assert_eq!(wb2.write("after", "1", recording_writer(log), &opts).await.unwrap_err().code(), "ERR_STRATACACHE_CLOSED");
}
