//! Background work has one owner: every task the system runs on its own is listed while it runs and
//! is gone after `close()` (which stops refreshes, then flushers, then the bus).

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use stratacache::patterns::{Loader, RefreshOptions, WriteBehindOptions, Writer};
use stratacache::SetOptions;
use support::{cache, unique_ns, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_tasks_are_owned_and_stopped_by_close() {
    let server = RedisServer::start();
    let c = cache(&server.url(), &unique_ns("tasks")).await;
    assert_eq!(c.background_tasks(), vec!["bus subscriber"]);

    // A write-behind instance starts its flusher on first write.
    let wb = c.new_write_behind(WriteBehindOptions::default());
    let writer: Writer = Arc::new(|_| async { Ok(()) }.boxed());
    wb.write("wb:1", "1", writer, &SetOptions::default()).await.unwrap();
    // A refresh-ahead load that never finishes on its own (stopped by close).
    c.manager().set("r", "1", &SetOptions::ttl(Duration::from_secs(10))).await.unwrap();
    let slow: Loader = Arc::new(|| async { std::future::pending::<stratacache::Result<Option<String>>>().await }.boxed());
    tokio::time::sleep(Duration::from_millis(120)).await;
    c.cache_aside().get_with_refresh("r", slow, &RefreshOptions::new(Duration::from_secs(10), 0.999)).await.unwrap();
    let mut running = c.background_tasks();
    running.sort_unstable();
    assert_eq!(running, vec!["bus subscriber", "refresh-ahead", "write-behind flusher"]);

    tokio::time::timeout(Duration::from_secs(5), c.close()).await.expect("close() returns");
    assert!(c.background_tasks().is_empty(), "still running after close: {:?}", c.background_tasks());
}
