//! What differs by topology, as L2 methods: which nodes hold keys (every master of a Cluster, or the
//! only server), `SCAN` per node, commands on every master, where the bus subscribes (the server, the
//! primary the Sentinels name now, or — on Cluster — the data connection itself, whose pushes this
//! module hands to the subscriber), and how a Cluster connection is built. See `docs/cluster.md`.

use redis::{Cmd, IntoConnectionInfo, Value};

use super::pushes::{self as push_queue, PushReceiver};
use super::{redact, tcp_settings, Conn, Node, L2};
use crate::config::RedisConfig;
use crate::error::{Error, ErrorKind, Result};

impl L2 {
    /// `SCAN … MATCH pattern` and `UNLINK` each page (never `KEYS`); returns how many were removed.
    /// On every master (Cluster) or the only server. Returns how many were removed.
    pub async fn scan_unlink(&self, pattern: &str, page: usize) -> Result<u64> {
        let mut removed = 0;
        for node in self.masters().await? {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys) = self.scan_page(&node, cursor, pattern, page).await?;
                if !keys.is_empty() {
                    // Keys of one node may still span slots: UNLINK per slot.
                    let keys: Vec<String> = keys.into_iter().map(|k| String::from_utf8_lossy(&k).into_owned()).collect();
                    removed += self.unlink(&keys, &[], None).await?;
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(removed)
    }

    /// The nodes that hold keys: every master of a Cluster, or the only server.
    pub(crate) async fn masters(&self) -> Result<Vec<Node>> {
        if !self.conn.is_cluster() {
            return Ok(vec![Node::Only]);
        }
        Ok(self.on_every_master(redis::cmd("PING")).await?.into_iter().map(|(node, _)| node).collect())
    }

    /// Run `cmd` on every master (Cluster) or the only server; each node with its reply.
    pub(crate) async fn on_every_master(&self, cmd: Cmd) -> Result<Vec<(Node, Value)>> {
        self.call(|mut c| async move { c.on_every_master(cmd).await }).await
    }

    /// One `SCAN cursor MATCH pattern COUNT page` on `node`: the next cursor (0 at the end) and the
    /// keys of this page (SCAN may return a key twice).
    pub(crate) async fn scan_page(&self, node: &Node, cursor: u64, pattern: &str, page: usize) -> Result<(u64, Vec<Vec<u8>>)> {
        let cmd = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(page).clone();
        let reply = self.call(|mut c| async move { c.on_node(node, cmd).await }).await?;
        let Value::Array(parts) = reply else { return Err(Error::new(ErrorKind::Redis, "SCAN: unexpected reply")) };
        let next = match parts.first() {
            Some(Value::BulkString(b)) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
            _ => 0,
        };
        let keys = match parts.get(1) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| match i {
                    Value::BulkString(b) => Some(b.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok((next, keys))
    }


    /// The connection (for the bus subscriber's tracking and liveness commands).
    pub(crate) fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// Cluster only: take what the data connection's nodes push (the bus subscriber holds it while it
    /// runs and gives it back with [`L2::return_pushes`]).
    pub(crate) fn take_pushes(&self) -> Option<PushReceiver> {
        self.pushes.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Give back what [`L2::take_pushes`] took.
    pub(crate) fn return_pushes(&self, rx: PushReceiver) {
        *self.pushes.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx);
    }

    /// Where the bus subscriber connects: the server itself (standalone), or the primary the
    /// Sentinels name now. `None` on Cluster (the bus shares the data connection).
    pub(crate) async fn bus_server(&self, url: &str) -> Result<Option<redis::ConnectionInfo>> {
        match &self.conn {
            Conn::Single(_) => Ok(Some(url.into_connection_info().map_err(Error::from)?)),
            Conn::Sentinel(s) => Ok(Some(s.primary_info().await.map_err(Error::from)?)),
            Conn::Cluster(_) => Ok(None),
        }
    }

    /// Behind Sentinel: check that the server in use is still the primary (a demoted one keeps
    /// answering reads) and switch when it is not. Elsewhere always true.
    pub(crate) async fn verify_primary(&self) -> bool {
        match &self.conn {
            Conn::Sentinel(s) => s.verify().await,
            _ => true,
        }
    }
}

/// A Redis Cluster connection over the seed `nodes`: RESP3 (so the bus can subscribe on it and client
/// tracking reports arrive on it; see `bus::cluster`), every node's pushes into `pushes`, reads from
/// masters only, a few quick retries on MOVED/ASK/TRYAGAIN and on reconnects, and the command timeout
/// as each request's deadline. Lazy: nodes are connected on first use.
pub(super) fn cluster_connection(nodes: &[String], redis: &RedisConfig, pushes: push_queue::PushQueue) -> Result<redis::cluster_async::ClusterConnection> {
    let bad = |e: redis::RedisError| Error::config(format!("bad Redis Cluster seeds {:?}: {e}", nodes.iter().map(|n| redact(n)).collect::<Vec<_>>()));
    let infos = nodes.iter().map(|n| n.as_str().into_connection_info().map_err(bad)).collect::<Result<Vec<_>>>()?;
    let client = redis::cluster::ClusterClientBuilder::new(infos)
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(pushes)
        .tcp_settings(tcp_settings())
        .connection_timeout(redis.connect_timeout)
        .response_timeout(redis.command_timeout)
        .retries(3)
        .min_retry_wait(20)
        .max_retry_wait(500)
        .build()
        .map_err(bad)?;
    Ok(client.get_pending_async_connection_with_config(redis::cluster::ClusterConfig::new()
        .set_connection_timeout(redis.connect_timeout)
        .set_response_timeout(redis.command_timeout)))
}
