//! The bus on Redis Cluster. The data connection (redis-rs's `ClusterConnection`, RESP3) carries it:
//!
//! - It `SUBSCRIBE`s the bus channel. Classic pub/sub reaches every node of a cluster, so a message
//!   published through any node reaches every process, whatever node each is subscribed through; the
//!   cost is that every node forwards every bus message over the cluster bus (sharded pub/sub would
//!   not, but `SPUBLISH` cannot ride in a write's pipeline to another slot; see `docs/bus.md`).
//! - `CLIENT TRACKING ON BCAST PREFIX {ns}:d: NOLOOP` on every master's connection, without a
//!   redirect: RESP3 brings the reports on the same connection, so `NOLOOP` (set where this process
//!   writes) keeps this process's own writes out, as on a single server.
//! - Every node's pushes arrive in one queue: messages, tracking reports, and a `Disconnection` when
//!   any node's connection drops.
//!
//! Liveness: every second a `PING` and a `CLIENT TRACKINGINFO` on every master. A master that does not
//! answer, a node connection that dropped, or a master whose connection is not tracking (a new
//! connection after a failover or a reconnect) means invalidations may have been missed: the bus is
//! re-established (subscribe, tracking on every master) and L1 cleared before it is trusted again.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::{PushKind, Value};

use crate::l2::pushes::{self as queue, PushReceiver};
use super::subscriber::{bytes, handle, probe_echoes, Context, LIVENESS_EVERY, PING_TIMEOUT};
use super::{Bus, BusState};
use crate::l2::Conn;

/// Why the bus was given up.
enum Lost {
    Stopped,
    Dropped,
    Silent(String),
}

/// Run until the bus is stopped; gives the push queue back.
pub(super) async fn run(bus: &Arc<Bus>, ctx: &Context, mut rx: PushReceiver) -> PushReceiver {
    let mut backoff = Duration::from_millis(50);
    loop {
        if bus.stopped.load(Ordering::Acquire) {
            return rx;
        }
        match establish(bus, ctx).await {
            Ok(()) => {
                let was_connected = bus.ever_connected.swap(true, Ordering::AcqRel);
                ctx.l1.clear();
                if was_connected {
                    bus.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("stratacache: invalidation bus re-established on the cluster; L1 cleared (messages may have been missed)");
                }
                backoff = Duration::from_millis(50);
                bus.set_state(BusState::Live, &ctx.l1, "");
                bus.echoes.set_echoing(false);
                probe_echoes(bus, ctx).await;
                match serve(bus, ctx, &mut rx).await {
                    Lost::Stopped => return rx,
                    Lost::Dropped => bus.set_state(BusState::Down, &ctx.l1, "a cluster node's connection dropped"),
                    Lost::Silent(why) => bus.set_state(BusState::Down, &ctx.l1, &why),
                }
            }
            Err(e) => {
                let state = if e.message().contains("NOPERM") { BusState::Refused } else { BusState::Down };
                bus.set_state(state, &ctx.l1, &format!("cannot subscribe and track on the cluster: {e}"));
            }
        }
        tokio::select! {
            _ = bus.stop.notified() => return rx,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Subscribe the bus channel and turn tracking on on every master.
async fn establish(bus: &Bus, ctx: &Context) -> crate::Result<()> {
    let Conn::Cluster(mut c) = ctx.l2.conn() else {
        return Err(crate::Error::new(crate::error::ErrorKind::Internal, "the cluster bus needs a cluster connection"));
    };
    tokio::time::timeout(ctx.connect_timeout * 2, c.subscribe(&bus.channel))
        .await
        .map_err(|_| crate::Error::new(crate::error::ErrorKind::Timeout, "SUBSCRIBE did not answer"))?
        .map_err(crate::Error::from)?;
    enable_tracking(ctx).await
}

/// `CLIENT TRACKING ON BCAST PREFIX {ns}:d: NOLOOP` on every master (off first: Redis refuses a
/// second overlapping prefix).
async fn enable_tracking(ctx: &Context) -> crate::Result<()> {
    ctx.l2.on_every_master(redis::cmd("CLIENT").arg("TRACKING").arg("OFF").clone()).await?;
    let on = redis::cmd("CLIENT").arg("TRACKING").arg("ON").arg("BCAST").arg("PREFIX").arg(ctx.keys.data_prefix()).arg("NOLOOP").clone();
    ctx.l2.on_every_master(on).await.map(|_| ())
}

/// Every master answers a `PING`, and every master's connection is tracking; otherwise why not.
async fn check(ctx: &Context) -> Result<(), String> {
    let ping = tokio::time::timeout(PING_TIMEOUT, ctx.l2.on_every_master(redis::cmd("PING"))).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("a master did not answer PING: {e}")),
        Err(_) => return Err("a master did not answer PING within 1 s".into()),
    }
    let info = tokio::time::timeout(PING_TIMEOUT, ctx.l2.on_every_master(redis::cmd("CLIENT").arg("TRACKINGINFO").clone())).await;
    match info {
        Ok(Ok(nodes)) => match nodes.iter().find(|(_, v)| !tracking_on(v)) {
            None => Ok(()),
            Some((node, _)) => Err(format!("client tracking is off on {node:?} (a new connection)")),
        },
        Ok(Err(e)) => Err(format!("CLIENT TRACKINGINFO failed: {e}")),
        Err(_) => Err("CLIENT TRACKINGINFO did not answer within 1 s".into()),
    }
}

/// Whether a `CLIENT TRACKINGINFO` reply (RESP3 map or RESP2 pairs) says tracking is on.
fn tracking_on(v: &Value) -> bool {
    let pairs: Vec<(&Value, &Value)> = match v {
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        Value::Array(items) => items.chunks(2).filter(|c| c.len() == 2).map(|c| (&c[0], &c[1])).collect(),
        _ => return false,
    };
    pairs.iter().any(|(k, v)| {
        bytes(k) == Some(b"flags")
            && matches!(v, Value::Array(f) | Value::Set(f) if f.iter().filter_map(bytes).any(|f| f == b"on"))
    })
}

/// Apply pushes until the bus is stopped or found broken.
async fn serve(bus: &Bus, ctx: &Context, rx: &mut PushReceiver) -> Lost {
    let mut tick = tokio::time::interval(LIVENESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = bus.stop.notified() => return Lost::Stopped,
            _ = tick.tick() => {
                if let Err(why) = check(ctx).await {
                    return Lost::Silent(why);
                }
            }
            push = rx.rx.recv() => {
                match push {
                    None => return Lost::Dropped,
                    Some(p) if p.kind == PushKind::Disconnection => return Lost::Dropped,
                    Some(p) => handle(bus, ctx, p),
                }
                if rx.take_lost() {
                    ctx.l1.clear();
                    bus.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("stratacache: the invalidation bus's queue overflowed ({} messages); L1 cleared", queue::CAPACITY);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackinginfo_in_both_protocols() {
        let flags = |f: &[&str]| Value::Set(f.iter().map(|s| Value::BulkString(s.as_bytes().to_vec())).collect());
        let key = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert!(tracking_on(&Value::Map(vec![(key("flags"), flags(&["on", "bcast", "noloop"])), (key("redirect"), Value::Int(-1))])));
        assert!(!tracking_on(&Value::Map(vec![(key("flags"), flags(&["off"]))])));
        assert!(tracking_on(&Value::Array(vec![key("flags"), Value::Array(vec![key("on")])])));
        assert!(!tracking_on(&Value::Nil));
    }
}
