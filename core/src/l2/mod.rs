//! L2: the Redis tier. One lazily connected, auto-reconnecting connection ([`Conn`]: a standalone
//! Redis, a Redis Cluster, or the primary behind Sentinel), a response timeout on every command, an
//! overall deadline on every call, and a circuit breaker. Every method is one round trip (on Cluster,
//! one per slot, all in flight at once: see `batch`). A single-key read that starts while its binding
//! has nothing else in flight may go on the idle lane instead ([`crate::lane`]; standalone only).

mod batch;
mod conn;
pub(crate) mod pushes;
mod sentinel;
mod topology;

pub(crate) use conn::{Conn, Node};

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::{socket2, TcpSettings};
use redis::{Cmd, IntoConnectionInfo, Value};

use self::batch::{in_unit_order, ErrorReplies, Group};
use crate::breaker::Breaker;
use self::pushes::{self as push_queue, PushReceiver};
use crate::config::{CacheConfig, RedisConfig, Topology};
use crate::error::{Error, ErrorKind, Result};
use crate::lane::{Lane, LaneError};
use crate::metrics::Metrics;

/// A value read from Redis with its remaining lifetime.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The stored bytes.
    pub bytes: Vec<u8>,
    /// Remaining lifetime in ms as `PTTL` reported it (`None` for a key without expiry).
    pub pttl_ms: Option<u64>,
}

/// The Redis tier of one cache.
pub struct L2 {
    conn: Conn,
    /// Cluster only: what the data connection's nodes push (bus messages, tracking reports,
    /// disconnections), for the bus subscriber, which takes it while it runs.
    pushes: std::sync::Mutex<Option<PushReceiver>>,
    breaker: Breaker,
    errors: AtomicU64,
    on_recover: Box<dyn Fn() + Send + Sync>,
    publish_refused_logged: AtomicBool,
    metrics: Arc<Metrics>,
    /// The idle lane (see [`crate::lane`]); standalone only.
    lane: Option<Arc<Lane>>,
    command_timeout: Duration,
}

/// TCP keepalive of every connection: the kernel probes an idle connection after 5 s, every 2 s, and
/// gives up after 3 unanswered probes, so a dead peer is noticed even on a connection nothing is sent
/// on (the bus also pings; see `bus::subscriber`).
pub(crate) fn tcp_settings() -> TcpSettings {
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(2))
        .with_retries(3);
    TcpSettings::default().set_nodelay(true).set_keepalive(ka)
}

/// A client for `url` whose connections use [`tcp_settings`].
pub(crate) fn client_with_keepalive(url: &str) -> Result<redis::Client> {
    let bad = |e: redis::RedisError| Error::config(format!("bad Redis URL {:?}: {e}", redact(url)));
    let info = url.into_connection_info().map_err(bad)?.set_tcp_settings(tcp_settings());
    redis::Client::open(info).map_err(bad)
}

impl L2 {
    /// Create the tier. Opens no connection: the first command connects. Must run inside a tokio
    /// runtime (the connection manager spawns its reconnect task there).
    pub fn new(
        redis: &RedisConfig,
        cache: &CacheConfig,
        metrics: Arc<Metrics>,
        on_recover: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Self> {
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(redis.connect_timeout))
            .set_response_timeout(Some(redis.command_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let cannot = |e: redis::RedisError| Error::config(format!("cannot create Redis connection: {e}"));
        let (conn, lane, pushes) = match &redis.topology {
            Topology::Standalone => {
                let client = client_with_keepalive(&redis.url)?;
                let lane = Arc::new(Lane::new(client.get_connection_info(), redis.connect_timeout));
                (Conn::Single(ConnectionManager::new_lazy_with_config(client, cfg).map_err(cannot)?), Some(lane), None)
            }
            Topology::Cluster { nodes } => {
                let (tx, rx) = push_queue::bounded(push_queue::CAPACITY);
                (Conn::Cluster(topology::cluster_connection(nodes, redis, tx)?), None, Some(rx))
            }
            Topology::Sentinel { master_name, sentinels } => {
                let conn = sentinel::SentinelConn::new(master_name, sentinels, &redis.url, cfg, redis.connect_timeout).map_err(cannot)?;
                (Conn::Sentinel(conn), None, None)
            }
        };
        Ok(L2 {
            conn,
            pushes: std::sync::Mutex::new(pushes),
            // A half-open probe may take a connection attempt, its retry and a command.
            breaker: Breaker::new(
                cache.breaker_threshold,
                cache.breaker_cooldown,
                redis.connect_timeout * 2 + redis.command_timeout + Duration::from_secs(1),
            ),
            errors: AtomicU64::new(0),
            on_recover,
            publish_refused_logged: AtomicBool::new(false),
            metrics,
            lane,
            command_timeout: redis.command_timeout,
        })
    }

    /// Redis errors counted so far (including calls refused by the open breaker).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Count an L2 error that happened outside [`L2`] (e.g. a corrupt entry).
    pub fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether recent calls failed to reach Redis.
    pub fn is_degraded(&self) -> bool {
        self.breaker.is_degraded()
    }

    /// The circuit breaker (state and transition counts, for health checks and metrics).
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The connection came back: count it, log it, and let the manager clear L1.
    fn recovered(&self) {
        self.metrics.inc(&self.metrics.l2_recoveries);
        tracing::warn!("stratacache: Redis is reachable again; L1 cleared");
        (self.on_recover)();
    }

    async fn call<T, F>(&self, f: impl FnOnce(Conn) -> F) -> Result<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow() {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return Err(Error::new(
                ErrorKind::Connection,
                "Redis is unavailable (circuit breaker open after repeated failures)",
            ));
        }
        // redis-rs bounds every command (response timeout) and every connection attempt (connect
        // timeout, one retry), so no second timer per call is needed here.
        let out = f(self.conn.clone()).await.map_err(Error::from);
        self.record(&out);
        out
    }

    /// Count a call's outcome and move the circuit breaker: a timeout or an unreachable Redis is a
    /// failure; a reply, even an error reply, proves Redis answers.
    fn record<T>(&self, out: &Result<T>) {
        match out {
            Ok(_) => {
                if self.breaker.success() {
                    self.recovered();
                }
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if e.kind() == ErrorKind::Timeout {
                    self.metrics.inc(&self.metrics.l2_timeouts);
                }
                if e.is_unavailable() {
                    if !self.breaker.is_degraded() {
                        tracing::warn!("stratacache: Redis is unreachable ({e}); serving from L1 (degraded mode) and reconnecting in the background");
                    }
                    self.breaker.failure();
                } else if self.breaker.success() {
                    // An error reply (a script error, a wrong type) still proves Redis answers.
                    self.recovered();
                }
            }
        }
    }

    /// Send a raw command (used by tests, health checks and later components).
    pub async fn command(&self, cmd: Cmd) -> Result<Value> {
        self.call(|mut c| async move { cmd.query_async::<Value>(&mut c).await }).await
    }

    /// `GET` (+ `PTTL` when `with_ttl`, for an L1 deadline) of each key, in one round trip.
    pub async fn get_many(&self, keys: &[String], with_ttl: bool) -> Result<Vec<Option<Fetched>>> {
        self.get_many_after(None, keys, with_ttl).await.map(|(_, f)| f)
    }

    /// [`L2::get_many`] preceded, in the same round trip, by `first` (whose reply comes back too):
    /// the reads see what `first` did, e.g. a load lock just taken. On Cluster `first`'s key must be
    /// in the slot of `keys[0]` (see [`crate::key::KeySchema::lock`]).
    pub async fn get_many_after(
        &self,
        first: Option<&Cmd>,
        keys: &[String],
        with_ttl: bool,
    ) -> Result<(Option<Value>, Vec<Option<Fetched>>)> {
        let mut groups = self
            .batch(keys, ErrorReplies::Fail, None, |p, units| {
                if let (Some(c), Some(0)) = (first, units.first()) {
                    p.add_command(c.clone());
                }
                for &u in units {
                    p.cmd("GET").arg(&keys[u]);
                    if with_ttl {
                        p.cmd("PTTL").arg(&keys[u]);
                    }
                }
            })
            .await?;
        let first_reply = match (first, groups.first_mut()) {
            (Some(_), Some(g)) if !g.replies.is_empty() => Some(g.replies.remove(0)),
            _ => None,
        };
        let values = in_unit_order(groups, keys.len(), if with_ttl { 2 } else { 1 });
        Ok((first_reply, fetched_from(values.into_iter(), keys.len(), with_ttl)))
    }

    /// Close the idle lane's connection for good (the system is closing).
    pub fn close_lane(&self) {
        if let Some(lane) = &self.lane {
            lane.close();
        }
    }

    /// [`L2::get_many`] of one key by a call that started while its binding had nothing else in
    /// flight (`StartQueue::start_here`): on the idle lane when it is free, which writes the command
    /// in this future's first poll; otherwise, or when the lane cannot answer, on the main connection.
    /// Only for such calls: the lane is not ordered with the main connection.
    pub async fn get_one_idle(&self, key: &str, with_ttl: bool) -> Result<Vec<Option<Fetched>>> {
        let Some(lane) = self.lane.as_ref().filter(|_| !self.breaker.is_degraded()) else {
            return self.get_many(&[key.to_owned()], with_ttl).await;
        };
        let mut request = Vec::with_capacity(32 + 2 * key.len());
        redis::cmd("GET").arg(key).write_packed_command(&mut request);
        if with_ttl {
            redis::cmd("PTTL").arg(key).write_packed_command(&mut request);
        }
        let replies = if with_ttl { 2 } else { 1 };
        match lane.round_trip(&request, replies, self.command_timeout).await {
            Ok(values) => {
                // An error reply (LOADING, BUSY, WRONGTYPE…) is an error, as the main connection's
                // pipeline makes it: counted, and moving the breaker the same way.
                let out: Result<Vec<Value>> =
                    values.into_iter().map(Value::extract_error).collect::<redis::RedisResult<Vec<_>>>().map_err(Error::from);
                self.record(&out);
                Ok(fetched_from(out?.into_iter(), 1, with_ttl))
            }
            Err(LaneError::TimedOut) => {
                let out: Result<Vec<Option<Fetched>>> =
                    Err(Error::new(ErrorKind::Timeout, format!("Redis did not answer within {:?}", self.command_timeout)));
                self.record(&out);
                out
            }
            Err(LaneError::Unavailable) => self.get_many(&[key.to_owned()], with_ttl).await,
        }
    }
}

/// The values of `count` keys from the replies of their `GET`s (each followed by its `PTTL` when
/// `with_ttl`): a missing, expired or non-string reply is `None`.
fn fetched_from(mut it: impl Iterator<Item = Value>, count: usize, with_ttl: bool) -> Vec<Option<Fetched>> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let v = it.next();
        let ttl = if with_ttl { it.next() } else { Some(Value::Int(-1)) };
        out.push(match (v, ttl) {
            (Some(Value::BulkString(bytes)), Some(Value::Int(t))) if t != -2 => {
                Some(Fetched { bytes, pttl_ms: (t >= 0).then_some(t as u64) })
            }
            _ => None,
        });
    }
    out
}

impl L2 {

    /// `SET key value PX ttl` for each item, then the bus message, in one round trip.
    pub async fn set_many(&self, items: &[(String, Vec<u8>, u64)], publish: Option<(&str, String)>) -> Result<()> {
        let keys: Vec<&str> = items.iter().map(|(k, _, _)| k.as_str()).collect();
        self.write_batch(&keys, publish, |p, units| {
            for &u in units {
                let (k, v, ttl_ms) = &items[u];
                p.cmd("SET").arg(k).arg(v).arg("PX").arg(*ttl_ms);
            }
        })
        .await
        .map(|_| ())
    }

    /// `UNLINK` keys (and `also`, whose count is not returned), then the bus message, in one round
    /// trip; returns how many of `keys` existed.
    pub async fn unlink(&self, keys: &[String], also: &[String], publish: Option<(&str, String)>) -> Result<u64> {
        let all: Vec<&String> = keys.iter().chain(also).collect();
        // Per group: one UNLINK of its counted keys (when it has any), then one of the others.
        let groups = self
            .write_batch(&all, publish, |p, units| {
                let (counted, others): (Vec<usize>, Vec<usize>) = units.iter().partition(|&&u| u < keys.len());
                if !counted.is_empty() {
                    p.cmd("UNLINK").arg(counted.iter().map(|&u| all[u]).collect::<Vec<_>>());
                }
                if !others.is_empty() {
                    p.cmd("UNLINK").arg(others.iter().map(|&u| all[u]).collect::<Vec<_>>()).ignore();
                }
            })
            .await?;
        let removed = groups
            .iter()
            .filter(|g| g.units.iter().any(|&u| u < keys.len()))
            .filter_map(|g| match g.replies.first() {
                Some(Value::Int(n)) => Some((*n).max(0) as u64),
                _ => None,
            })
            .sum();
        Ok(removed)
    }

    /// A batch of writes followed by the bus message, judging every reply on its own: an error reply
    /// to a write is the call's error (a fault like a dead connection when it is one of
    /// [`crate::error::UNAVAILABLE_REPLIES`]); an error reply to the `PUBLISH` (an ACL user without
    /// the channel) is logged once and does not fail the write, which Redis did apply. Returns the
    /// groups with the replies of the writes.
    async fn write_batch<K: AsRef<str>>(
        &self,
        keys: &[K],
        publish: Option<(&str, String)>,
        build: impl Fn(&mut redis::Pipeline, &[usize]),
    ) -> Result<Vec<Group>> {
        let groups = self.batch(keys, ErrorReplies::Keep, publish, build).await?;
        if let Some(e) = groups.iter().flat_map(|g| &g.replies).find_map(|v| match v {
            Value::ServerError(e) => Some(Error::from(redis::RedisError::from(e.clone()))),
            _ => None,
        }) {
            self.fault(&e);
            return Err(e);
        }
        Ok(groups)
    }

    /// Log (once) and count a refused bus `PUBLISH`.
    fn check_publish(&self, reply: Option<Value>) {
        if !matches!(reply, Some(Value::ServerError(_))) {
            self.metrics.inc(&self.metrics.bus_published);
        }
        if let Some(Value::ServerError(e)) = reply {
            self.errors.fetch_add(1, Ordering::Relaxed);
            if !self.publish_refused_logged.swap(true, Ordering::AcqRel) {
                tracing::warn!("stratacache: cannot publish on the invalidation bus ({}: {}); other processes will not hear this process's writes (logged once)", e.code(), e.details().unwrap_or(""));
            }
        }
    }

    /// Run `script` with `keys` and binary `args`, followed by the bus message, in one round trip
    /// (`EVALSHA`; a script Redis does not know is loaded and run again, after the message went).
    /// Returns the script's reply.
    pub async fn eval_with_publish(
        &self,
        script: &redis::Script,
        keys: &[&str],
        args: &[&[u8]],
        publish: Option<(&str, String)>,
    ) -> Result<Value> {
        // Routed by the first key (a script's keys share its slot).
        let route = &keys[..keys.len().min(1)];
        let mut groups = self
            .batch(route, ErrorReplies::Keep, publish, |p, _| {
                p.cmd("EVALSHA").arg(script.get_hash()).arg(keys.len()).arg(keys);
                for a in args {
                    p.arg(*a);
                }
            })
            .await?;
        match groups.pop().and_then(|mut g| g.replies.pop()).unwrap_or(Value::Nil) {
            Value::ServerError(e) if e.kind() == Some(redis::ServerErrorKind::NoScript) => self.script(script, keys, args).await,
            Value::ServerError(e) => {
                let e = Error::from(redis::RedisError::from(e));
                self.fault(&e);
                Err(e)
            }
            v => Ok(v),
        }
    }

    /// Count an error reply that arrived inside a successful round trip; one that means Redis cannot
    /// serve now also counts against the breaker.
    fn fault(&self, e: &Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if e.is_unavailable() {
            if !self.breaker.is_degraded() {
                tracing::warn!("stratacache: Redis cannot serve commands ({e}); serving from L1 (degraded mode)");
            }
            self.breaker.failure();
        }
    }

    /// `PUBLISH channel payload`.
    pub async fn publish(&self, channel: &str, payload: String) -> Result<()> {
        self.command(redis::cmd("PUBLISH").arg(channel).arg(payload).clone()).await?;
        self.metrics.inc(&self.metrics.bus_published);
        Ok(())
    }

    /// Current tokens of tags, for a write: a missing tag gets its candidate token, and every tag
    /// key is kept alive at least `min_ttl_ms`. One round trip.
    pub async fn tag_tokens_for_write(
        &self,
        tag_keys: &[String],
        candidates: &[[u8; 8]],
        min_ttl_ms: u64,
    ) -> Result<Vec<[u8; 8]>> {
        let groups = self
            .batch(tag_keys, ErrorReplies::Fail, None, |p, units| {
                for &u in units {
                    let (k, cand) = (&tag_keys[u], &candidates[u]);
                    p.cmd("SET").arg(k).arg(&cand[..]).arg("NX").arg("GET").arg("PX").arg(min_ttl_ms);
                    p.cmd("PEXPIRE").arg(k).arg(min_ttl_ms).arg("GT").ignore();
                }
            })
            .await?;
        let values = in_unit_order(groups, tag_keys.len(), 1);
        tag_keys
            .iter()
            .zip(candidates)
            .zip(values)
            .map(|((k, cand), v)| match v {
                Value::Nil => Ok(*cand),
                Value::BulkString(b) => token_of(k, &b),
                other => Err(Error::new(ErrorKind::Redis, format!("tag {k}: unexpected {other:?}"))),
            })
            .collect()
    }

    /// Current tokens of tags for a read (`None` where the tag key is gone). One round trip.
    pub async fn tag_tokens(&self, tag_keys: &[String]) -> Result<Vec<Option<[u8; 8]>>> {
        let v = self.command(redis::cmd("MGET").arg(tag_keys).clone()).await?;
        let Value::Array(items) = v else {
            return Err(Error::new(ErrorKind::Redis, format!("MGET: unexpected {v:?}")));
        };
        Ok(items
            .into_iter()
            .map(|i| match i {
                Value::BulkString(b) => <[u8; 8]>::try_from(b.as_slice()).ok(),
                _ => None,
            })
            .collect())
    }

    /// Give each existing tag a new token (`SET … XX KEEPTTL`), then the bus message. One round trip.
    pub async fn bump_tags(&self, tag_keys: &[String], tokens: &[[u8; 8]], publish: Option<(&str, String)>) -> Result<()> {
        self.write_batch(tag_keys, publish, |p, units| {
            for &u in units {
                p.cmd("SET").arg(&tag_keys[u]).arg(&tokens[u][..]).arg("XX").arg("KEEPTTL");
            }
        })
        .await
        .map(|_| ())
    }
}

fn token_of(key: &str, bytes: &[u8]) -> Result<[u8; 8]> {
    <[u8; 8]>::try_from(bytes).map_err(|_| {
        Error::new(ErrorKind::Redis, format!("tag key {key} holds {} bytes, not a token", bytes.len()))
    })
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl L2 {
    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        Ok(matches!(self.command(redis::cmd("EXISTS").arg(key).clone()).await?, Value::Int(n) if n > 0))
    }

    /// Run a script (EVALSHA, loading it on `NOSCRIPT`) with `keys` and `args` (text or bytes).
    pub async fn script<A: AsRef<[u8]>>(&self, script: &redis::Script, keys: &[&str], args: &[A]) -> Result<Value> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(a.as_ref());
        }
        self.call(|mut c| async move { inv.invoke_async::<Value>(&mut c).await }).await
    }

    /// Many script calls (one key each) in one round trip, each with its own outcome. A call whose
    /// script Redis does not know (`NOSCRIPT` after a restart or `SCRIPT FLUSH`) is sent again on its
    /// own through [`L2::script`], which loads the script, so a flush stays invisible. The outer error
    /// is a failure to reach Redis at all.
    pub async fn script_many(&self, calls: &[ScriptCall<'_>]) -> Result<Vec<Result<Value>>> {
        let keys: Vec<&str> = calls.iter().map(|c| c.key.as_str()).collect();
        let groups = self
            .batch(&keys, ErrorReplies::Keep, None, |p, units| {
                for &u in units {
                    let c = &calls[u];
                    p.cmd("EVALSHA").arg(c.script.get_hash()).arg(1).arg(&c.key).arg(&c.args);
                }
            })
            .await?;
        let replies = in_unit_order(groups, calls.len(), 1);
        let mut out = Vec::with_capacity(calls.len());
        for (c, reply) in calls.iter().zip(replies) {
            out.push(match reply {
                Value::ServerError(e) if e.kind() == Some(redis::ServerErrorKind::NoScript) => {
                    let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
                    self.script(c.script, &[&c.key], &args).await
                }
                Value::ServerError(e) => {
                    let e = Error::from(redis::RedisError::from(e));
                    self.fault(&e);
                    Err(e)
                }
                v => Ok(v),
            });
        }
        Ok(out)
    }
}

/// `SET key token NX PX lease_ms`: take a lock unless somebody holds it.
pub fn lock_cmd(key: &str, token: &str, lease_ms: u64) -> Cmd {
    redis::cmd("SET").arg(key).arg(token).arg("NX").arg("PX").arg(lease_ms).clone()
}

/// Whether a reply is `OK` (e.g. a `SET … NX` that set the key).
pub fn is_ok(v: &Value) -> bool {
    matches!(v, Value::Okay) || matches!(v, Value::SimpleString(s) if s == "OK")
}

/// One call of [`L2::script_many`]: a script, its one key and its arguments.
pub struct ScriptCall<'a> {
    /// The script.
    pub script: &'a redis::Script,
    /// `KEYS[1]`.
    pub key: String,
    /// `ARGV`.
    pub args: Vec<String>,
}

impl L2 {
    /// `HGETALL` of each key, in one round trip (an empty map for a missing key).
    pub async fn hgetall_many(&self, keys: &[String]) -> Result<Vec<Vec<(String, String)>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let groups = self
            .batch(keys, ErrorReplies::Fail, None, |p, units| {
                for &u in units {
                    p.cmd("HGETALL").arg(&keys[u]);
                }
            })
            .await?;
        let values = in_unit_order(groups, keys.len(), 1);
        Ok(values.into_iter().map(|v| pairs(&v)).collect())
    }
}

/// The field/value pairs of an `HGETALL` reply (RESP2 array or RESP3 map).
pub fn pairs(v: &Value) -> Vec<(String, String)> {
    let s = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    };
    match v {
        Value::Array(items) => items.chunks(2).filter(|c| c.len() == 2).map(|c| (s(&c[0]), s(&c[1]))).collect(),
        Value::Map(items) => items.iter().map(|(k, v)| (s(k), s(v))).collect(),
        _ => Vec::new(),
    }
}
