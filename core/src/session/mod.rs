//! Sessions: `createSession` with a per-user index and a device cap, `getSession` with IP/user-agent
//! binding, sliding expiry, per-user listing and logout everywhere. Ids never reach Redis (see
//! [`id`]); every multi-key step is one Lua script over keys that share the user's hash tag.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{ns}:s:{tag}:{hash}` | hash | `doc` (the session's JSON document), `created`, `last`, `exp` (epoch ms, Redis clock), `ttl` (ms), `idx` (the index key) |
//! | `{ns}:su:{tag}:{userId}` | zset | the user's live sessions: member = id hash, score = activity order |

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::manager::CacheManager;

pub mod id;

use id::SessionRef;

fn script(cell: &'static OnceLock<redis::Script>, src: &'static str) -> &'static redis::Script {
    cell.get_or_init(|| redis::Script::new(src))
}
static CREATE: OnceLock<redis::Script> = OnceLock::new();
static TOUCH: OnceLock<redis::Script> = OnceLock::new();
static DELETE: OnceLock<redis::Script> = OnceLock::new();
static DELETE_USER: OnceLock<redis::Script> = OnceLock::new();

/// Options of `createSession`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionOptions {
    /// Lifetime (sliding: `touchSession` restarts it).
    pub ttl: Duration,
    /// At most this many sessions per user; creating more evicts the least recently active.
    pub max_devices: u32,
}

/// The stats as JSON text for the bindings: `{ totalSessions, sessionsByUser: {user: n}, validationFailures }`.
pub fn stats_json(s: &SessionStats) -> String {
    serde_json::json!({
        "totalSessions": s.total_sessions,
        "sessionsByUser": s.sessions_by_user,
        "validationFailures": s.validation_failures,
    })
    .to_string()
}

/// Counters of the session manager.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// Live sessions.
    pub total_sessions: u64,
    /// Live sessions per user id.
    pub sessions_by_user: BTreeMap<String, u64>,
    /// `getSession` calls refused because the IP or user agent did not match.
    pub validation_failures: u64,
}

/// The session manager of one system.
pub struct SessionManager {
    manager: Arc<CacheManager>,
    validation_failures: AtomicU64,
    /// The key of the user tags (see `id`), read from Redis once.
    secret: tokio::sync::OnceCell<Vec<u8>>,
}

static SECRET: OnceLock<redis::Script> = OnceLock::new();

fn user_key_of(v: &Value) -> Result<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.len() <= 512 => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Error::invalid_argument(format!("userId must be a non-empty string or a number, got {other}"))),
    }
}

impl SessionManager {
    pub(crate) fn new(manager: Arc<CacheManager>) -> Self {
        SessionManager { manager, validation_failures: AtomicU64::new(0), secret: tokio::sync::OnceCell::new() }
    }

    /// The namespace's tag secret: `{ns}:sk`, 32 random bytes made by the first process that needs
    /// them (one script: read, or set if absent), then kept for the life of this system.
    async fn secret(&self) -> Result<&[u8]> {
        let v = self
            .secret
            .get_or_try_init(|| async {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).expect("the OS random source is available");
                let src = "local v = redis.call('GET', KEYS[1]) if v then return v end redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]";
                let key = format!("{}:sk", self.ns());
                match self.l2()?.script(script(&SECRET, src), &[&key], &[&fresh[..]]).await? {
                    redis::Value::BulkString(b) if !b.is_empty() => Ok(b),
                    other => Err(Error::new(ErrorKind::Redis, format!("unexpected session secret in {key}: {other:?}"))),
                }
            })
            .await?;
        Ok(v)
    }

    /// The user's tag for new sessions (keyed with the namespace's secret).
    async fn tag(&self, user: &str) -> Result<String> {
        Ok(id::user_tag(self.secret().await?, user))
    }

    /// Every tag a user's sessions may live under: the keyed one, and the unkeyed one of earlier builds.
    async fn lookup_tags(&self, user: &str) -> Result<Vec<String>> {
        let keyed = self.tag(user).await?;
        let legacy = id::legacy_user_tag(user);
        Ok(if keyed == legacy { vec![keyed] } else { vec![keyed, legacy] })
    }

    fn l2(&self) -> Result<&crate::l2::L2> {
        self.manager.l2().ok_or_else(|| Error::new(ErrorKind::Config, "sessions need Redis (enableL2 is false)"))
    }

    fn ns(&self) -> &str {
        self.manager.keys().namespace()
    }

    fn session_prefix(&self, tag: &str) -> String {
        format!("{}:s:{{{tag}}}:", self.ns())
    }

    fn index_key(&self, tag: &str, user: &str) -> String {
        format!("{}:su:{{{tag}}}:{user}", self.ns())
    }

    /// The user's sessions by expiry (epoch ms): expired ones leave the indexes in O(log n).
    fn expiry_key(&self, tag: &str, user: &str) -> String {
        format!("{}:sx:{{{tag}}}:{user}", self.ns())
    }

    /// Create a session from a JSON object `{ userId, tenantId, role, email, ipAddress, userAgent,
    /// deviceId?, data? }` (snake_case names accepted too). Returns `(sessionId, session JSON)`.
    pub async fn create(&self, input: Value, opts: SessionOptions) -> Result<(String, Value)> {
        if opts.ttl < Duration::from_millis(1) {
            return Err(Error::invalid_argument("ttl must be > 0"));
        }
        if opts.max_devices < 1 {
            return Err(Error::invalid_argument(format!("maxDevices must be >= 1, got {}", opts.max_devices)));
        }
        let Value::Object(mut fields) = input else {
            return Err(Error::invalid_argument("session data must be an object with userId, tenantId, role, email, ipAddress, userAgent"));
        };
        let mut take = |camel: &str, snake: &str| fields.remove(camel).or_else(|| fields.remove(snake));
        let user_id = take("userId", "user_id").ok_or_else(|| Error::invalid_argument("session data needs userId"))?;
        let user = user_key_of(&user_id)?;
        let mut doc = Map::new();
        doc.insert("userId".into(), user_id);
        for (camel, snake) in [("tenantId", "tenant_id"), ("role", "role"), ("email", "email"), ("ipAddress", "ip_address"), ("userAgent", "user_agent"), ("deviceId", "device_id"), ("data", "data")] {
            if let Some(v) = take(camel, snake) {
                if !v.is_null() {
                    doc.insert(camel.into(), v);
                }
            }
        }
        if let Some(k) = fields.keys().next() {
            return Err(Error::invalid_argument(format!("unknown session field {k:?}")));
        }
        for f in ["role", "email", "ipAddress", "userAgent", "deviceId"] {
            if let Some(v) = doc.get(f) {
                if !v.is_string() {
                    return Err(Error::invalid_argument(format!("{f} must be a string, got {v}")));
                }
            }
        }
        let tag = self.tag(&user).await?;
        let id = id::new_id(&tag);
        let hash = id::id_hash(&id);
        if !doc.contains_key("deviceId") {
            doc.insert("deviceId".into(), Value::String(format!("device-{}", &hash[..12])));
        }
        let doc_text = Value::Object(doc.clone()).to_string();
        let prefix = self.session_prefix(&tag);
        let index = self.index_key(&tag, &user);
        let expiry = self.expiry_key(&tag, &user);
        let key = format!("{prefix}{hash}");
        let ttl_ms = (opts.ttl.as_millis() as u64).max(1).to_string();
        let max = opts.max_devices.to_string();
        let reply = self
            .l2()?
            .script(script(&CREATE, include_str!("create.lua")), &[&index, &key, &expiry], &[&hash, &doc_text, &ttl_ms, &max, &prefix, &index, &expiry])
            .await?;
        let int_at = |i: usize| match &reply {
            redis::Value::Array(v) => match v.get(i) {
                Some(redis::Value::Int(n)) => (*n).max(0) as u64,
                _ => 0,
            },
            _ => 0,
        };
        let (now, evicted) = (int_at(0), int_at(1));
        let metrics = self.manager.metrics();
        metrics.inc(&metrics.sessions_created);
        metrics.add(&metrics.sessions_evicted, evicted);
        let ttl = opts.ttl.as_millis() as u64;
        Ok((id.clone(), session_json(&id, doc, now, now, now + ttl)))
    }

    /// The session of `id`, or `None` (unknown, expired, malformed, or an IP / user-agent mismatch).
    pub async fn get(&self, id: &str, validate_ip: Option<&str>, validate_user_agent: Option<&str>) -> Result<Option<Value>> {
        let Some(SessionRef::Id { tag, hash }) = id::parse(id) else { return Ok(None) };
        let key = format!("{}{hash}", self.session_prefix(&tag));
        let fields = self.l2()?.hgetall_many(&[key]).await?.pop().unwrap_or_default();
        let Some(s) = from_fields(id, &fields) else { return Ok(None) };
        let mismatch = |field: &str, want: Option<&str>| want.is_some_and(|w| s.get(field).and_then(Value::as_str) != Some(w));
        if mismatch("ipAddress", validate_ip) || mismatch("userAgent", validate_user_agent) {
            self.validation_failures.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        Ok(Some(s))
    }

    /// Record activity and slide the expiry; `false` if the session is gone.
    pub async fn touch(&self, id: &str) -> Result<bool> {
        let Some(SessionRef::Id { tag, hash }) = id::parse(id) else { return Ok(false) };
        let key = format!("{}{hash}", self.session_prefix(&tag));
        let r = self.l2()?.script(script(&TOUCH, include_str!("touch.lua")), &[&key], &[&hash]).await?;
        Ok(matches!(r, redis::Value::Int(_)))
    }

    /// Delete a session by id or by the handle `getUserSessions` returned; `true` if it existed.
    pub async fn delete(&self, id_or_handle: &str) -> Result<bool> {
        let (tag, hash) = match id::parse(id_or_handle) {
            Some(SessionRef::Id { tag, hash }) | Some(SessionRef::Handle { tag, hash }) => (tag, hash),
            None => return Ok(false),
        };
        let key = format!("{}{hash}", self.session_prefix(&tag));
        let r = self.l2()?.script(script(&DELETE, include_str!("delete.lua")), &[&key], &[&hash]).await?;
        let existed = matches!(r, redis::Value::Int(n) if n > 0);
        if existed {
            let metrics = self.manager.metrics();
            metrics.inc(&metrics.sessions_deleted);
        }
        Ok(existed)
    }

    /// Delete every session of a user (log out everywhere); returns how many.
    pub async fn delete_user(&self, user_id: &Value) -> Result<u64> {
        let user = user_key_of(user_id)?;
        let mut n = 0;
        for tag in self.lookup_tags(&user).await? {
            let index = self.index_key(&tag, &user);
            let expiry = self.expiry_key(&tag, &user);
            let prefix = self.session_prefix(&tag);
            n += match self.l2()?.script(script(&DELETE_USER, include_str!("delete_user.lua")), &[&index, &expiry], &[&prefix]).await? {
                redis::Value::Int(n) => n.max(0) as u64,
                _ => 0,
            };
        }
        let metrics = self.manager.metrics();
        metrics.add(&metrics.sessions_deleted, n);
        Ok(n)
    }

    async fn user_sessions_of_key(&self, user: &str) -> Result<usize> {
        Ok(self.user_sessions_by_key(user.to_owned()).await?.len())
    }

    /// A user's live sessions, most recently active first. Their `sessionId` is a handle that
    /// `delete` accepts (the raw id is never stored).
    pub async fn user_sessions(&self, user_id: &Value) -> Result<Vec<Value>> {
        self.user_sessions_by_key(user_key_of(user_id)?).await
    }

    async fn user_sessions_by_key(&self, user: String) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for tag in self.lookup_tags(&user).await? {
            out.extend(self.user_sessions_under(&tag, &user).await?);
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.get("lastActivity").and_then(Value::as_u64).unwrap_or(0)));
        Ok(out)
    }

    /// The live sessions of `user` under one tag (expired ones leave its indexes as they are seen).
    async fn user_sessions_under(&self, tag: &str, user: &str) -> Result<Vec<Value>> {
        let index = self.index_key(tag, user);
        let l2 = self.l2()?;
        let members = match l2.command(redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).arg("REV").clone()).await? {
            redis::Value::Array(v) => v.iter().filter_map(|m| if let redis::Value::BulkString(b) = m { String::from_utf8(b.clone()).ok() } else { None }).collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = self.session_prefix(tag);
        let keys: Vec<String> = members.iter().map(|h| format!("{prefix}{h}")).collect();
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (h, fields) in members.iter().zip(l2.hgetall_many(&keys).await?) {
            match from_fields(&id::handle(tag, h), &fields) {
                Some(s) => out.push(s),
                None => gone.push(h.clone()),
            }
        }
        if !gone.is_empty() {
            // Expired sessions leave the indexes as soon as anyone looks.
            let _ = l2.command(redis::cmd("ZREM").arg(&index).arg(&gone).clone()).await;
            let _ = l2.command(redis::cmd("ZREM").arg(self.expiry_key(tag, user)).arg(&gone).clone()).await;
        }
        Ok(out)
    }

    /// Live sessions in total and per user, by scanning the user indexes (never `KEYS`, never all
    /// sessions in memory at once). The users of one `SCAN` page (up to 500) are read together: their
    /// commands share the connection's pipeline, so a page costs a few round trips, not one per user.
    pub async fn stats(&self) -> Result<SessionStats> {
        let l2 = self.l2()?;
        let pattern = format!("{}:su:*", self.ns());
        let mut cursor: u64 = 0;
        let mut stats = SessionStats { validation_failures: self.validation_failures.load(Ordering::Relaxed), ..Default::default() };
        // A user can have two indexes (this build's tag and an earlier build's), and SCAN may return
        // a key twice: each user is counted once.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        // Every master of a cluster holds some users' indexes.
        let nodes = l2.masters().await?;
        let mut nodes = nodes.iter();
        let Some(mut node) = nodes.next() else { return Ok(stats) };
        loop {
            let (next, keys) = l2.scan_page(node, cursor, &pattern, 500).await?;
            cursor = next;
            {
                let users: Vec<String> = keys
                    .into_iter()
                    .filter_map(|k| String::from_utf8(k).ok())
                    .filter_map(|k| k.split_once("}:").map(|(_, user)| user.to_owned()))
                    .filter(|u| seen.insert(u.clone()))
                    .collect();
                let counts = futures::future::join_all(users.iter().map(|u| self.user_sessions_of_key(u))).await;
                for (user, n) in users.into_iter().zip(counts) {
                    let sessions = n? as u64;
                    if sessions > 0 {
                        stats.total_sessions += sessions;
                        stats.sessions_by_user.insert(user, sessions);
                    }
                }
            }
            if cursor == 0 {
                match nodes.next() {
                    Some(n) => node = n,
                    None => break,
                }
            }
        }
        Ok(stats)
    }
}

fn session_json(id: &str, doc: Map<String, Value>, created: u64, last: u64, expires: u64) -> Value {
    let mut s = Map::new();
    s.insert("sessionId".into(), Value::String(id.to_owned()));
    for (k, v) in doc {
        s.insert(k, v);
    }
    s.insert("createdAt".into(), created.into());
    s.insert("lastActivity".into(), last.into());
    s.insert("expiresAt".into(), expires.into());
    Value::Object(s)
}

fn from_fields(id: &str, fields: &[(String, String)]) -> Option<Value> {
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let doc: Map<String, Value> = serde_json::from_str(get("doc")?).ok()?;
    let num = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(session_json(id, doc, num("created"), num("last"), num("exp")))
}
