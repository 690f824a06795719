//! The subscriber task: one dedicated RESP3 connection subscribed to `{ns}:bus`, receiving the
//! client-tracking invalidations of the data connection (broadcast mode on `{ns}:d:`, redirected here,
//! NOLOOP). Tag keys are not tracked: every tagged write may extend its tag
//! key's lifetime, which Redis would report as a change, evicting that tag's entries everywhere; tag
//! invalidations travel on the bus instead.
//!
//! Liveness: TCP keepalive on the connection, and every second a `PING` that must answer within a
//! second plus a check that tracking is still on. A connection that closes, goes silent, or whose
//! tracking cannot be re-enabled is dropped; L1 is untrusted (bypassed) until a new connection is
//! subscribed and tracking, then cleared and trusted again. Reconnects with backoff.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};

use crate::l2::pushes::{self as queue, PushReceiver};

use super::{Bus, BusMessage, BusState, InvalidationEvent, MessageKind};
use crate::key::KeySchema;
use crate::l1::L1;
use crate::l2::{tcp_settings, L2};

/// What the subscriber needs.
pub(crate) struct Context {
    pub(crate) url: String,
    pub(crate) keys: KeySchema,
    pub(crate) l1: Arc<L1>,
    /// The data connection: tracking is enabled there (NOLOOP: its own writes are not reported).
    pub(crate) l2: Arc<L2>,
    pub(crate) connect_timeout: Duration,
}

/// How often the subscriber proves the bus connection alive (a `PING` on it) and checks that the
/// data connection still tracks (it may have reconnected).
pub const LIVENESS_EVERY: Duration = Duration::from_secs(1);
/// How long that `PING` may take before the connection is declared dead (half-open, frozen).
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

async fn connect(
    ctx: &Context,
    channel: &str,
) -> redis::RedisResult<(redis::aio::MultiplexedConnection, PushReceiver, i64)> {
    // The server itself, or the primary the Sentinels name now.
    let info = match ctx.l2.bus_server(&ctx.url).await {
        Ok(Some(info)) => info,
        Ok(None) => return Err(redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no bus server"))),
        Err(e) => return Err(redis::RedisError::from((redis::ErrorKind::Io, "cannot find the server", e.to_string()))),
    };
    let redis_settings = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(redis_settings).set_tcp_settings(tcp_settings()))?;
    let (tx, rx) = queue::bounded(queue::CAPACITY);
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(ctx.connect_timeout))
        .set_response_timeout(Some(ctx.connect_timeout))
        .set_push_sender(tx);
    let mut conn = client.get_multiplexed_async_connection_with_config(&config).await?;
    let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut conn).await?;
    conn.subscribe(channel).await?;
    Ok((conn, rx, id))
}

/// Make the data connection report changes by any *other* client to keys under `{ns}:d:` to the
/// subscriber connection `redirect` (broadcast mode, NOLOOP: this process's own writes are not
/// reported, so they do not evict what it just cached).
async fn enable_tracking(ctx: &Context, redirect: i64) -> crate::Result<()> {
    // Turn it off first: Redis refuses a second BCAST prefix that overlaps the one still registered
    // for the old redirect target.
    ctx.l2.command(redis::cmd("CLIENT").arg("TRACKING").arg("OFF").clone()).await?;
    let cmd = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("REDIRECT")
        .arg(redirect)
        .arg("BCAST")
        .arg("PREFIX")
        .arg(ctx.keys.data_prefix())
        .arg("NOLOOP")
        .clone();
    ctx.l2.command(cmd).await.map(|_| ())
}

/// Whether the data connection still tracks into `redirect` (it is a new connection after a
/// reconnect, or the redirect broke).
async fn tracking_intact(ctx: &Context, redirect: i64) -> bool {
    let Ok(Value::Array(items)) = ctx.l2.command(redis::cmd("CLIENT").arg("TRACKINGINFO").clone()).await else {
        return false;
    };
    let mut on = false;
    let mut broken = false;
    let mut target = None;
    let mut it = items.iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        match bytes(k) {
            Some(b"flags") => {
                if let Value::Array(flags) | Value::Set(flags) = v {
                    for f in flags.iter().filter_map(bytes) {
                        on |= f == b"on";
                        broken |= f == b"broken_redirect";
                    }
                }
            }
            Some(b"redirect") => target = if let Value::Int(n) = v { Some(*n) } else { None },
            _ => {}
        }
    }
    on && !broken && target == Some(redirect)
}

/// Why a live bus connection was given up.
enum Lost {
    Stopped,
    Closed,
    Silent,
    Tracking(crate::Error),
}

/// Run until the bus is stopped.
///
/// Trust: L1 is trusted only while this task has a live subscription *and* tracking on the data
/// connection. On every (re)connection L1 is cleared before it is trusted again: entries filled
/// before the subscription existed, or during a gap, may have missed invalidations.
pub(crate) async fn run(bus: Arc<Bus>, ctx: Context) {
    if let Some(rx) = ctx.l2.take_pushes() {
        // Redis Cluster: the bus shares the data connection.
        let rx = super::cluster::run(&bus, &ctx, rx).await;
        ctx.l2.return_pushes(rx);
        return;
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        if bus.stopped.load(Ordering::Acquire) {
            return;
        }
        match connect(&ctx, &bus.channel).await {
            Ok((mut conn, mut rx, id)) => match enable_tracking(&ctx, id).await {
                Ok(()) => {
                    let was_connected = bus.ever_connected.swap(true, Ordering::AcqRel);
                    ctx.l1.clear();
                    if was_connected {
                        bus.reconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("stratacache: invalidation bus connected again; L1 cleared (messages may have been missed)");
                    }
                    backoff = Duration::from_millis(50);
                    bus.set_state(BusState::Live, &ctx.l1, "");
                    bus.echoes.set_echoing(false);
                    probe_echoes(&bus, &ctx).await;
                    let lost = serve(&bus, &ctx, &mut conn, &mut rx, id).await;
                    drop(conn);
                    match lost {
                        Lost::Stopped => return,
                        Lost::Closed => bus.set_state(BusState::Down, &ctx.l1, "the connection closed"),
                        Lost::Silent => bus.set_state(BusState::Down, &ctx.l1, "no answer to PING within 1 s (half-open or frozen connection)"),
                        Lost::Tracking(e) => bus.set_state(BusState::Down, &ctx.l1, &format!("client tracking could not be re-enabled: {e}")),
                    }
                }
                Err(e) => {
                    drop(conn);
                    let state = if e.message().contains("NOPERM") { BusState::Refused } else { BusState::Down };
                    bus.set_state(state, &ctx.l1, &format!("client tracking could not be enabled: {e}"));
                }
            },
            Err(e) => {
                let state = if e.code() == Some("NOPERM") { BusState::Refused } else { BusState::Down };
                bus.set_state(state, &ctx.l1, &format!("cannot subscribe: {e}"));
            }
        }
        // Behind Sentinel the primary may have changed: check it before the next attempt.
        ctx.l2.verify_primary().await;
        tokio::select! {
            _ = bus.stop.notified() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Apply messages until the connection is lost, silent, or tracking cannot be kept on.
async fn serve(
    bus: &Bus,
    ctx: &Context,
    conn: &mut redis::aio::MultiplexedConnection,
    rx: &mut PushReceiver,
    id: i64,
) -> Lost {
    let mut check = tokio::time::interval(LIVENESS_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.tick().await;
    loop {
        tokio::select! {
            _ = bus.stop.notified() => return Lost::Stopped,
            _ = check.tick() => {
                let ping = tokio::time::timeout(PING_TIMEOUT, redis::cmd("PING").query_async::<Value>(conn)).await;
                if !matches!(ping, Ok(Ok(_))) {
                    return Lost::Silent;
                }
                if !ctx.l2.verify_primary().await {
                    // Behind Sentinel: the primary changed; the subscription is on the old one.
                    return Lost::Closed;
                }
                if !tracking_intact(ctx, id).await {
                    if let Err(e) = enable_tracking(ctx, id).await {
                        return Lost::Tracking(e);
                    }
                    // Changes by other clients may have gone unreported meanwhile.
                    ctx.l1.clear();
                    bus.echoes.set_echoing(false);
                    probe_echoes(bus, ctx).await;
                    bus.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("stratacache: client tracking was lost (the data connection reconnected); enabled again, L1 cleared");
                }
            }
            push = rx.rx.recv() => {
                match push {
                    None => return Lost::Closed,
                    Some(p) if p.kind == PushKind::Disconnection => return Lost::Closed,
                    Some(p) => handle(bus, ctx, p),
                }
                if rx.take_lost() {
                    // Pushes were dropped (a burst past the queue's bound): some invalidations may
                    // be among them, so L1 starts over, as after a gap.
                    ctx.l1.clear();
                    bus.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("stratacache: the invalidation bus's queue overflowed ({} messages); L1 cleared", queue::CAPACITY);
                }
            }
        }
    }
}

/// The user-key part of this process's echo probe key (`{ns}:d:` + this).
fn echo_probe_suffix(bus: &Bus) -> String {
    format!("\u{0}echo-probe:{}", bus.source)
}

/// Write (and at once delete) the echo probe key from a script on the data connection: if its
/// tracking report comes back, this Redis echoes scripted writes (see `echoes`). Nothing is left in
/// Redis.
pub(super) async fn probe_echoes(bus: &Bus, ctx: &Context) {
    static PROBE: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    let script = PROBE.get_or_init(|| redis::Script::new("redis.call('SET', KEYS[1], '1') redis.call('DEL', KEYS[1]) return 1"));
    let key = format!("{}{}", ctx.keys.data_prefix(), echo_probe_suffix(bus));
    if let Err(e) = ctx.l2.eval_with_publish(script, &[&key], &[], None).await {
        tracing::debug!("stratacache: the echo probe failed ({e}); scripted stores evict their own L1 entries");
    }
}

pub(super) fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

pub(super) fn handle(bus: &Bus, ctx: &Context, push: PushInfo) {
    match push.kind {
        PushKind::Message => {
            let Some(payload) = push.data.get(1).and_then(bytes) else { return };
            let Some(msg) = BusMessage::decode(payload) else { return };
            if msg.src == bus.source {
                return; // applied locally already
            }
            apply(&ctx.l1, &msg);
            bus.received.fetch_add(1, Ordering::Relaxed);
            if msg.kind != MessageKind::Write {
                bus.emit(&InvalidationEvent { kind: msg.kind, target: msg.target, source: msg.src, timestamp: msg.ts, local: false });
            }
        }
        PushKind::Invalidate => match push.data.first() {
            Some(Value::Array(keys)) => {
                let data = ctx.keys.data_prefix();
                for k in keys.iter().filter_map(bytes) {
                    let Ok(k) = std::str::from_utf8(k) else { continue };
                    if let Some(user_key) = k.strip_prefix(data) {
                        if user_key == echo_probe_suffix(bus) {
                            bus.echoes.set_echoing(true);
                            continue;
                        }
                        if bus.echoes.take(user_key) {
                            continue; // this process's own scripted store (see `echoes`)
                        }
                        ctx.l1.supersede(user_key);
                        bus.tracked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // FLUSHALL / FLUSHDB: everything may be gone.
            _ => ctx.l1.clear(),
        },
        _ => {}
    }
}

/// Apply a message to L1.
pub(crate) fn apply(l1: &L1, msg: &BusMessage) {
    match msg.kind {
        MessageKind::Key => {
            for k in &msg.target {
                l1.remove(k);
            }
        }
        // Written elsewhere: not an invalidation, so a fail-safe entry stays as the fallback.
        MessageKind::Write => {
            for k in &msg.target {
                l1.supersede(k);
            }
        }
        MessageKind::Tag => l1.invalidate_tags(&msg.target),
        MessageKind::Pattern => {
            for g in &msg.target {
                l1.invalidate_glob(g);
            }
        }
    }
}
