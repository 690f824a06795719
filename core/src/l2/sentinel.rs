//! The primary behind Redis Sentinel, as one auto-reconnecting connection. redis-rs resolves a
//! primary through the Sentinels (`SentinelClient`, which also checks the answer with `ROLE`) but has
//! no connection that follows a failover, so this wraps it: the resolved primary is used through a
//! `ConnectionManager` (its own reconnects, timeouts and retries) until a reply shows that it is no
//! longer the primary — a dead or refused connection, `READONLY` (a demoted primary), `MASTERDOWN` —
//! or [`SentinelConn::verify`] finds it demoted; then the next call asks the Sentinels again.
//!
//! Resolving is serialized (one question to the Sentinels at a time) and bounded by the connect
//! timeout; calls made meanwhile wait for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// A connection to whichever server the Sentinels name as the primary.
#[derive(Clone)]
pub(crate) struct SentinelConn {
    shared: Arc<Shared>,
}

struct Shared {
    client: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<Primary>>,
    generation: AtomicU64,
    manager_config: ConnectionManagerConfig,
    resolve_timeout: Duration,
}

/// The primary in use: where it is, and the connection to it.
#[derive(Clone)]
struct Primary {
    generation: u64,
    info: ConnectionInfo,
    conn: ConnectionManager,
}

impl SentinelConn {
    /// A connection to `master_name` as the `sentinels` (URLs) name it, with the credentials and db of
    /// `primary_url`. Opens nothing until the first command.
    pub(crate) fn new(
        master_name: &str,
        sentinels: &[String],
        primary_url: &str,
        manager_config: ConnectionManagerConfig,
        connect_timeout: Duration,
    ) -> RedisResult<Self> {
        let primary = primary_url.into_connection_info()?;
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(primary.redis_settings().clone())
            .set_tcp_settings(super::tcp_settings());
        let client = SentinelClient::build(sentinels.to_vec(), master_name.to_owned(), Some(node), SentinelServerType::Master)?;
        Ok(SentinelConn {
            shared: Arc::new(Shared {
                client: tokio::sync::Mutex::new(client),
                current: Mutex::new(None),
                generation: AtomicU64::new(0),
                manager_config,
                // Each Sentinel may take a connect timeout; a few of them, and the primary's ROLE check.
                resolve_timeout: connect_timeout * 3,
            }),
        })
    }

    fn current(&self) -> Option<Primary> {
        self.shared.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The primary in use, asking the Sentinels when there is none.
    async fn primary(&self) -> RedisResult<Primary> {
        if let Some(p) = self.current() {
            return Ok(p);
        }
        let mut client = self.shared.client.lock().await;
        if let Some(p) = self.current() {
            return Ok(p); // another call resolved it while this one waited
        }
        let resolved = tokio::time::timeout(self.shared.resolve_timeout, client.async_get_client()).await.map_err(|_| {
            RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "no Sentinel named the primary in time"))
        })??;
        let info = resolved.get_connection_info().clone();
        let conn = ConnectionManager::new_lazy_with_config(resolved, self.shared.manager_config.clone())?;
        let generation = self.shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
        tracing::info!("stratacache: Sentinel primary is {}", info.addr());
        let p = Primary { generation, info, conn };
        *self.shared.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
        Ok(p)
    }

    /// Stop using the primary of `generation` (it failed over); the next call asks the Sentinels.
    fn forget(&self, generation: u64) {
        let mut current = self.shared.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|p| p.generation == generation) {
            tracing::warn!("stratacache: the Sentinel primary stopped answering as a primary; asking the Sentinels again");
            *current = None;
        }
    }

    /// Where the primary is now (resolving it if needed), for connections of its own (the bus).
    pub(crate) async fn primary_info(&self) -> RedisResult<ConnectionInfo> {
        Ok(self.primary().await?.info)
    }

    /// Check with `ROLE` that the primary in use still is one (a demoted primary keeps answering
    /// reads); if not, forget it. Returns whether it is.
    pub(crate) async fn verify(&self) -> bool {
        let Ok(p) = self.primary().await else { return false };
        let role = redis::cmd("ROLE").query_async::<Value>(&mut p.conn.clone()).await;
        let is_primary = matches!(&role, Ok(Value::Array(items)) if matches!(items.first(), Some(Value::BulkString(b)) if b == b"master"));
        if !is_primary {
            self.forget(p.generation);
        }
        is_primary
    }
}

/// Whether an outcome says the server is not (or no longer) the primary.
fn failed_over(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || matches!(e.code(), Some("READONLY" | "MASTERDOWN"))
}

fn replies_failed_over(values: &[Value]) -> bool {
    values.iter().any(|v| matches!(v, Value::ServerError(e) if matches!(e.code(), "READONLY" | "MASTERDOWN")))
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let p = self.primary().await?;
            let out = p.conn.clone().req_packed_command(cmd).await;
            if out.as_ref().err().is_some_and(failed_over) {
                self.forget(p.generation);
            }
            out
        })
    }

    fn req_packed_commands<'a>(&'a mut self, cmd: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let p = self.primary().await?;
            let out = p.conn.clone().req_packed_commands(cmd, offset, count).await;
            let gone = match &out {
                Err(e) => failed_over(e),
                Ok(values) => replies_failed_over(values),
            };
            if gone {
                self.forget(p.generation);
            }
            out
        })
    }

    fn get_db(&self) -> i64 {
        self.current().map(|p| p.info.redis_settings().db()).unwrap_or(0)
    }
}
