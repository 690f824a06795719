//! The one connection abstraction of L2: a standalone (or Sentinel-resolved) Redis behind redis-rs's
//! auto-reconnecting `ConnectionManager`, or a Redis Cluster behind redis-rs's `ClusterConnection`
//! (its own slot map, MOVED/ASK handling and reconnects). Everything above L2 — the manager, tags,
//! patterns, sessions, rate limits, locks, the bus and warming — goes through [`Conn`], so every
//! topology shares every code path; the few things that differ by topology (how a batch is split into
//! pipelines, where `SCAN` runs, how tracking is enabled) are methods here.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use super::sentinel::SentinelConn;

/// A connection to Redis, whatever its topology. Cheap to clone (every variant is a handle).
#[derive(Clone)]
pub(crate) enum Conn {
    /// One Redis server.
    Single(ConnectionManager),
    /// A Redis Cluster: every master, one multiplexed connection each.
    Cluster(ClusterConnection),
    /// The primary that a set of Sentinels names, re-resolved after a failover.
    Sentinel(SentinelConn),
}

/// One node of the topology, for commands that must run on every master (`SCAN`, tracking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// The only server (standalone, Sentinel's primary).
    Only,
    /// A cluster master at `host:port`.
    At { host: String, port: u16 },
}

impl Conn {
    /// Whether keys are spread over slots (a batch must be split into one pipeline per slot).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Send `p` to the master of `slot` (cluster), or to the only server. Unlike the pipeline routing
    /// of redis-rs, this allows commands whose keys are not in `slot`, such as a `PUBLISH` after the
    /// writes (classic pub/sub reaches every node of a cluster).
    pub(crate) async fn pipeline_on(&mut self, p: &Pipeline, slot: Option<Slot>) -> RedisResult<Vec<Value>> {
        match (self, slot) {
            (Conn::Cluster(c), Some(slot)) => p.query_async(&mut OnSlot { c, slot }).await,
            (c, _) => p.query_async(c).await,
        }
    }

    /// Run `cmd` on every master; returns each node with its reply (one entry on a single server).
    /// An error on any node is the call's error.
    pub(crate) async fn on_every_master(&mut self, cmd: Cmd) -> RedisResult<Vec<(Node, Value)>> {
        match self {
            Conn::Cluster(c) => {
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let reply = c.route_command(cmd, routing).await?;
                let entries = match reply {
                    Value::Map(entries) => entries,
                    other => return Err(unexpected("a map of node replies", &other)),
                };
                entries
                    .into_iter()
                    .map(|(addr, v)| {
                        let addr = match &addr {
                            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                            Value::SimpleString(s) => s.clone(),
                            other => return Err(unexpected("a node address", other)),
                        };
                        Ok((node_at(&addr)?, v))
                    })
                    .collect()
            }
            c => Ok(vec![(Node::Only, cmd.query_async(c).await?)]),
        }
    }

    /// Run `cmd` on one node (as named by [`Conn::on_every_master`]).
    pub(crate) async fn on_node(&mut self, node: &Node, cmd: Cmd) -> RedisResult<Value> {
        match (self, node) {
            (Conn::Cluster(c), Node::At { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
                c.route_command(cmd, routing).await
            }
            (c, _) => cmd.query_async(c).await,
        }
    }
}

/// A cluster connection whose pipelines all go to one slot's master, whatever keys they name.
struct OnSlot<'a> {
    c: &'a mut ClusterConnection,
    slot: Slot,
}

impl ConnectionLike for OnSlot<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.c.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(&'a mut self, p: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        let route = SingleNodeRoutingInfo::SpecificNode(Route::with_slot(self.slot, SlotAddr::Master));
        Box::pin(self.c.route_pipeline(p.clone(), offset, count, route))
    }

    fn get_db(&self) -> i64 {
        0
    }
}

fn unexpected(what: &str, got: &Value) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "unexpected reply", format!("expected {what}, got {got:?}")))
}

/// `host:port` (the port after the last colon, so IPv6 addresses work) as a [`Node`].
fn node_at(addr: &str) -> RedisResult<Node> {
    let parsed = addr.rsplit_once(':').and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?)));
    match parsed {
        Some((host, port)) => Ok(Node::At { host, port }),
        None => Err(unexpected("host:port", &Value::SimpleString(addr.to_owned()))),
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, cmd: &'a Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_parse() {
        assert_eq!(node_at("127.0.0.1:7000").unwrap(), Node::At { host: "127.0.0.1".into(), port: 7000 });
        assert_eq!(node_at("[::1]:7001").unwrap(), Node::At { host: "::1".into(), port: 7001 });
        assert!(node_at("nonsense").is_err());
    }
}
