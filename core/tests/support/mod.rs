//! Test support: throwaway `redis-server` processes on free loopback ports, unique namespaces, and
//! a latency-injecting TCP proxy for counting round trips. Never touches a server it did not start.

#![allow(dead_code, unreachable_pub)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stratacache::{CacheOptions, RedisOptions, StrataCache};

/// A `redis-server` child process, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
}

fn redis_server_bin() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into())
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl RedisServer {
    /// Start a server on a free port and wait until it answers.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Start a server on `port` (used to restart one after a kill).
    pub fn start_on(port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("stratacache-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(redis_server_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}); run `./dev deps` to install it"));
        let server = RedisServer { port, child: Some(child), dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.ping() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {port} did not become ready within 10 s");
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        s.set_read_timeout(Some(Duration::from_millis(500))).ok();
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill the server (SIGKILL) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A plain redis-rs connection for inspecting what the cache wrote.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}

/// How many times Redis has run `command` (lowercase, e.g. `"publish"`), from `INFO commandstats`.
#[allow(dead_code)] // not every test binary uses every helper
pub async fn command_calls(raw: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(raw).await.unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A namespace no other test uses.
pub fn unique_ns(name: &str) -> String {
    format!("t{}_{}_{name}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Redis options for `url` and `ns` with short timeouts.
pub fn redis_opts(url: &str, ns: &str) -> RedisOptions {
    let mut o = RedisOptions::default();
    o.url = Some(url.to_owned());
    o.namespace = Some(ns.to_owned());
    o.connect_timeout = Some(Duration::from_millis(500));
    o.command_timeout = Some(Duration::from_millis(500));
    o
}

/// A cache on `url` in namespace `ns` with default cache options.
pub async fn cache(url: &str, ns: &str) -> StrataCache {
    cache_with(url, ns, CacheOptions::default()).await
}

/// A cache with explicit cache options.
pub async fn cache_with(url: &str, ns: &str, opts: CacheOptions) -> StrataCache {
    StrataCache::builder().redis(redis_opts(url, ns)).cache(opts).build().await.unwrap()
}

/// A TCP proxy that delays every chunk the server sends back by `delay`. Sequential round trips
/// through it each cost at least `delay`, so elapsed time bounds the number of round trips.
pub struct SlowProxy {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SlowProxy {
    pub async fn start(target_port: u16, delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                tokio::time::sleep(delay).await;
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    up.abort();
                });
            }
        });
        SlowProxy { port, task }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
pub mod proxy;
pub mod topology;

/// Poll `check` every 50 ms until it holds; fail the test naming `what` after `limit`. Returns how
/// long it took.
pub async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = Instant::now();
    loop {
        if check().await {
            return t.elapsed();
        }
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A write-through/write-behind writer that records every value it is given, in call order.
pub fn recording_writer(log: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> stratacache::patterns::Writer {
    use futures::FutureExt;
    std::sync::Arc::new(move |json: std::sync::Arc<str>| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(json.to_string());
            Ok(())
        }
        .boxed()
    })
}
