//! The invalidation bus: keeps every process's L1 coherent, in any language.
//!
//! - Writes and invalidations publish a [`BusMessage`] on the channel `{ns}:bus`, in the same
//!   pipeline (round trip) as the write itself; every other process applies it to its L1.
//! - Writes from outside the library (`redis-cli SET`, another tool) are caught by Redis's
//!   server-assisted client tracking in broadcast mode (`CLIENT TRACKING ON BCAST PREFIX {ns}:d:`) on
//!   the same dedicated RESP3 connection.
//! - A subscriber that lost its connection may have missed messages: when it is back it clears L1,
//!   logs it and counts it.
//! - Listeners (`onInvalidation`) get every key/tag/pattern invalidation, local ones included.
//!
//! The subscriber is one background task on the system's [`Tasks`], stopped last by its `close()`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

mod echoes;
mod message;
mod cluster;
mod subscriber;

pub use message::{BusMessage, MessageKind, BUS_VERSION};
pub use subscriber::{LIVENESS_EVERY, PING_TIMEOUT};

use crate::clock::now_ms;
use crate::tasks::{Stage, Tasks};

/// An invalidation, as listeners see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationEvent {
    /// `key`, `tag` or `pattern`.
    pub kind: MessageKind,
    /// The keys, the tags, or `[glob]`.
    pub target: Vec<String>,
    /// The id of the process that invalidated.
    pub source: String,
    /// When, epoch ms (the invalidating process's clock).
    pub timestamp: u64,
    /// Whether this process did it.
    pub local: bool,
}

/// A listener of invalidation events.
pub type Listener = Arc<dyn Fn(&InvalidationEvent) + Send + Sync>;

/// Whether this process can hear invalidations, as `healthCheck` reports it (`checks.bus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BusState {
    /// Not connected yet (L1 serves; it is cleared when the first subscription is made).
    #[default]
    Connecting,
    /// Subscribed, answering PINGs, and tracking on: L1 is trusted.
    Live,
    /// Lost, silent, or tracking could not be enabled: L1 is bypassed until the bus is back.
    Down,
    /// Redis refused the subscription or tracking (`NOPERM`, e.g. an ACL user without the channel):
    /// L1 is bypassed; retried with backoff.
    Refused,
    /// There is no bus (L1 or L2 disabled) or it was stopped.
    Off,
}

impl BusState {
    /// `connecting`, `live`, `down`, `refused` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            BusState::Connecting => "connecting",
            BusState::Live => "live",
            BusState::Down => "down",
            BusState::Refused => "refused",
            BusState::Off => "off",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => BusState::Live,
            2 => BusState::Down,
            3 => BusState::Refused,
            4 => BusState::Off,
            _ => BusState::Connecting,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            BusState::Connecting => 0,
            BusState::Live => 1,
            BusState::Down => 2,
            BusState::Refused => 3,
            BusState::Off => 4,
        }
    }
}

/// Counters of the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusStats {
    /// Whether the subscriber is connected now (and L1 trusted).
    pub connected: bool,
    /// The state, for health checks.
    pub state: BusState,
    /// Times it reconnected (each time L1 was cleared).
    pub reconnects: u64,
    /// Messages from other processes applied.
    pub received: u64,
    /// Evictions caused by writes from outside the library (client tracking).
    pub tracked: u64,
    /// Whether this Redis reports this process's own scripted writes back (then they are expected
    /// and ignored; see `docs/bus.md`).
    pub scripted_echoes: bool,
}

/// The bus of one system.
pub struct Bus {
    channel: String,
    source: String,
    listeners: RwLock<Vec<(u64, Listener)>>,
    next_listener: AtomicU64,
    connected: AtomicBool,
    state: AtomicU8,
    ever_connected: AtomicBool,
    reconnects: AtomicU64,
    received: AtomicU64,
    tracked: AtomicU64,
    stopped: AtomicBool,
    stop: Notify,
    started: AtomicBool,
    echoes: echoes::Echoes,
}

impl Bus {
    /// A bus on `{namespace}:bus` with a fresh random process id.
    pub fn new(namespace: &str) -> Self {
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).expect("the OS random source is available");
        Bus {
            channel: format!("{namespace}:bus"),
            source: raw.iter().map(|b| format!("{b:02x}")).collect(),
            listeners: RwLock::new(Vec::new()),
            next_listener: AtomicU64::new(1),
            connected: AtomicBool::new(false),
            state: AtomicU8::new(BusState::Off.to_u8()),
            ever_connected: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            received: AtomicU64::new(0),
            tracked: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
            started: AtomicBool::new(false),
            echoes: echoes::Echoes::default(),
        }
    }

    /// A scripted write of `key` is about to be made: its report by client tracking, if this Redis
    /// sends one back (`echoes`), is not a foreign write. Returns whether one is expected; call
    /// [`Bus::cancel_echo`] if the script then wrote nothing.
    pub fn expect_echo(&self, key: &str) -> bool {
        self.echoes.expect(key)
    }

    /// The scripted write announced by [`Bus::expect_echo`] did not write.
    pub fn cancel_echo(&self, key: &str) {
        self.echoes.cancel(key);
    }

    /// The pub/sub channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// This process's id on the bus (`source` of its events).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A message from this process.
    pub fn message(&self, kind: MessageKind, target: Vec<String>) -> BusMessage {
        BusMessage { v: BUS_VERSION, src: self.source.clone(), kind, target, ts: now_ms() }
    }

    /// Add a listener; returns its id for [`Bus::off`].
    pub fn on(&self, listener: Listener) -> u64 {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        self.listeners.write().unwrap_or_else(|p| p.into_inner()).push((id, listener));
        id
    }

    /// Remove a listener; returns whether it was there.
    pub fn off(&self, id: u64) -> bool {
        let mut l = self.listeners.write().unwrap_or_else(|p| p.into_inner());
        let before = l.len();
        l.retain(|(i, _)| *i != id);
        l.len() != before
    }

    /// Tell every listener (a panicking listener is logged, never propagated).
    pub(crate) fn emit(&self, event: &InvalidationEvent) {
        let listeners: Vec<Listener> =
            self.listeners.read().unwrap_or_else(|p| p.into_inner()).iter().map(|(_, l)| l.clone()).collect();
        for l in listeners {
            if std::panic::catch_unwind(AssertUnwindSafe(|| l(event))).is_err() {
                tracing::warn!("stratacache: an invalidation listener panicked");
            }
        }
    }

    /// Emit the local event for a message this process just published.
    pub(crate) fn emit_local(&self, msg: &BusMessage) {
        if msg.kind != MessageKind::Write {
            self.emit(&InvalidationEvent {
                kind: msg.kind,
                target: msg.target.clone(),
                source: msg.src.clone(),
                timestamp: msg.ts,
                local: true,
            });
        }
    }

    /// Counters.
    pub fn stats(&self) -> BusStats {
        BusStats {
            connected: self.connected.load(Ordering::Relaxed),
            state: self.state(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            tracked: self.tracked.load(Ordering::Relaxed),
            scripted_echoes: self.echoes.echoing(),
        }
    }

    /// The state now.
    pub fn state(&self) -> BusState {
        BusState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Move to `state`, trusting L1 only when live; a change to `down` or `refused` is logged once
    /// (with `why`), repeats at debug level.
    pub(crate) fn set_state(&self, state: BusState, l1: &crate::l1::L1, why: &str) {
        let live = state == BusState::Live;
        l1.set_trusted(live || state == BusState::Off);
        self.connected.store(live, Ordering::Release);
        let before = BusState::from_u8(self.state.swap(state.to_u8(), Ordering::AcqRel));
        // Warn once per outage of the bus itself; a bus that never connected because Redis is
        // unreachable altogether is covered by the degraded-mode warning of the data connection.
        let warn = match state {
            BusState::Refused => before != BusState::Refused,
            BusState::Down => before == BusState::Live,
            _ => false,
        };
        match state {
            BusState::Down | BusState::Refused if warn => tracing::warn!(
                "stratacache: invalidation bus {} ({why}); L1 is served for at most 2.5 s more, then bypassed until the bus is back",
                state.as_str()
            ),
            BusState::Down | BusState::Refused => tracing::debug!("stratacache: invalidation bus still {}: {why}", state.as_str()),
            BusState::Live if matches!(before, BusState::Down | BusState::Refused) => {
                tracing::warn!("stratacache: invalidation bus live again; L1 cleared and trusted")
            }
            _ => {}
        }
    }

    /// Wait (at most `timeout`) until the subscriber's first attempt has an outcome (live, down or
    /// refused). Returns at once when there is no bus.
    pub async fn wait_settled(&self, timeout: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.state() == BusState::Connecting && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Wait (at most `timeout`) until the subscriber is connected; returns whether it is.
    pub async fn wait_connected(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.connected.load(Ordering::Acquire) {
            if tokio::time::Instant::now() >= deadline || self.stopped.load(Ordering::Acquire) {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        true
    }

    /// Start the subscriber task on `tasks` (idempotent). Needs a tokio runtime.
    pub(crate) fn start(self: &Arc<Self>, ctx: subscriber::Context, tasks: &Tasks) {
        if self.started.swap(true, Ordering::AcqRel) || self.stopped.load(Ordering::Acquire) {
            return;
        }
        self.state.store(BusState::Connecting.to_u8(), Ordering::Release);
        tasks.spawn("bus subscriber", Stage::Bus, subscriber::run(self.clone(), ctx));
    }

    /// Tell the subscriber to stop (its task is then awaited by [`Tasks::shutdown`]). Idempotent.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop.notify_waiters();
        self.connected.store(false, Ordering::Release);
        self.state.store(BusState::Off.to_u8(), Ordering::Release);
    }
}

pub(crate) use subscriber::Context as SubscriberContext;
