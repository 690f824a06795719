//! The idle lane: a second, read-only connection to Redis for a single-key read that starts while
//! nothing else its binding started is still in flight (issue 15).
//!
//! On the main connection (redis-rs's multiplexed `ConnectionManager`), a command is written by the
//! connection's driver task, so a call made on the JS thread first wakes a tokio worker, and an idle
//! worker on this kind of VM takes ~30 µs to wake. Here the caller writes its command to the socket
//! itself, synchronously, in the call's first poll (`StartQueue::start_here` runs that poll on the
//! caller's thread); only the reply is read on the runtime. A sequential `get` then pays the Redis
//! round trip and one wake-up of the caller, as a client whose socket lives on the JS thread does.
//!
//! - **Order.** A binding uses the lane only when every call it started before has finished
//!   (`StartQueue::is_idle`), so a read on the lane cannot overtake an earlier write on the main
//!   connection. It is never used for a batch: concurrent calls keep the main connection's pipelining.
//! - **Nothing but reads.** `GET` and `PTTL`; the lane sends no write, so client tracking (broadcast
//!   mode, on the main connection) and the bus are unaffected.
//! - **Never a different answer.** Anything short of a reply (not connected yet, busy, a write that
//!   would block, a broken connection) makes the read go through the main connection instead; the
//!   lane is then closed and reconnects in the background, at most once a second. A reply that does
//!   not come within the command timeout is a timeout, as on the main connection.
//! - **Plain TCP only**, with the main connection's credentials and database (`AUTH`, `SELECT`); it is
//!   off for other addresses. It is named `stratacache-idle-lane` in `CLIENT LIST`.

use std::io;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use combine::parser::combinator::AnySendSyncPartialState;
use combine::stream::{Decoder, PointerOffset};
use redis::{ConnectionAddr, ConnectionInfo, Value};
use tokio::net::TcpStream;

/// The lane's name in `CLIENT LIST`.
pub const LANE_CLIENT_NAME: &str = "stratacache-idle-lane";

/// How long a lane that failed waits before it connects again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// redis-rs's incremental reply decoder (kept with its connection: it holds unread bytes).
type ReplyDecoder = Decoder<AnySendSyncPartialState, PointerOffset<[u8]>>;

/// Where and how to connect.
struct Target {
    host: String,
    port: u16,
    /// `AUTH` and `SELECT`, packed, sent after connecting.
    handshake: Vec<u8>,
    /// How many replies the handshake gets.
    handshake_replies: usize,
}

enum State {
    /// Closed for good (its system closed): never used again.
    Shut,
    /// No connection: the next use starts connecting once `retry_at` has passed.
    Closed { retry_at: Instant, connecting: bool },
    /// Connected and free.
    Idle(Box<(TcpStream, ReplyDecoder)>),
    /// A read is using it.
    Busy,
}

/// The lane of one [`crate::l2::L2`].
pub(crate) struct Lane {
    target: Option<Target>,
    connect_timeout: Duration,
    state: Mutex<State>,
    runtime: tokio::runtime::Handle,
}

/// Why a round trip on the lane gave no reply.
#[derive(Debug)]
pub(crate) enum LaneError {
    /// Nothing was sent (or what was sent is harmless to send again: reads only): use the main
    /// connection.
    Unavailable,
    /// No reply within the command timeout.
    TimedOut,
}

impl Lane {
    /// A lane to the server of `info`; off (never used) for anything but a plain TCP address. Must
    /// be created inside the runtime it reconnects on.
    pub(crate) fn new(info: &ConnectionInfo, connect_timeout: Duration) -> Self {
        let target = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let settings = info.redis_settings();
                let mut handshake = Vec::new();
                let mut handshake_replies = 0;
                if let Some(password) = settings.password() {
                    let mut auth = redis::cmd("AUTH");
                    if let Some(user) = settings.username() {
                        auth.arg(user);
                    }
                    auth.arg(password).write_packed_command(&mut handshake);
                    handshake_replies += 1;
                }
                if settings.db() != 0 {
                    redis::cmd("SELECT").arg(settings.db()).write_packed_command(&mut handshake);
                    handshake_replies += 1;
                }
                // Named, so an operator (and the tests) can tell it in `CLIENT LIST`.
                redis::cmd("CLIENT").arg("SETNAME").arg(LANE_CLIENT_NAME).write_packed_command(&mut handshake);
                handshake_replies += 1;
                Some(Target { host: host.clone(), port: *port, handshake, handshake_replies })
            }
            _ => None,
        };
        Lane {
            target,
            connect_timeout,
            state: Mutex::new(State::Closed { retry_at: Instant::now(), connecting: false }),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Send `request` (`replies` commands, packed) and read the replies, within `timeout`. The
    /// request is written in the future's first poll (which `StartQueue::start_here` runs on the
    /// caller's thread); `Unavailable` means the caller should use the main connection.
    pub(crate) async fn round_trip(self: &Arc<Self>, request: &[u8], replies: usize, timeout: Duration) -> Result<Vec<Value>, LaneError> {
        let Some(conn) = self.take() else { return Err(LaneError::Unavailable) };
        // Busy until put back; dropped mid-read (the future dropped), the lane closes and reconnects.
        let mut borrowed = Borrowed { lane: self, conn: Some(conn) };
        let conn = borrowed.conn.as_mut().expect("taken above");
        match tokio::time::timeout(timeout, exchange(conn, request, replies)).await {
            Ok(Ok(values)) => {
                borrowed.give_back();
                Ok(values)
            }
            Ok(Err(e)) => {
                tracing::debug!("stratacache: the idle lane failed ({e}); reads use the main connection until it reconnects");
                Err(LaneError::Unavailable)
            }
            // A late reply would answer the next request: the connection cannot be reused.
            Err(_) => Err(LaneError::TimedOut),
        }
    }

    /// The connection when it is free; otherwise `None`, after starting a connection if there is
    /// none (and the retry time has passed).
    fn take(self: &Arc<Self>) -> Option<Box<(TcpStream, ReplyDecoder)>> {
        self.target.as_ref()?;
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Busy) {
            State::Idle(conn) => Some(conn),
            State::Busy => None,
            State::Shut => {
                *state = State::Shut;
                None
            }
            State::Closed { retry_at, connecting } => {
                let start = !connecting && Instant::now() >= retry_at;
                *state = State::Closed { retry_at, connecting: connecting || start };
                drop(state);
                if start {
                    self.runtime.spawn(connect(Arc::downgrade(self)));
                }
                None
            }
        }
    }

    /// The connection failed: drop it; reconnect after [`RETRY_AFTER`].
    fn closed(&self) {
        let mut state = self.lock();
        if !matches!(*state, State::Shut) {
            *state = State::Closed { retry_at: Instant::now() + RETRY_AFTER, connecting: false };
        }
    }

    /// Close the connection for good (the system is closing); a read using it finishes first.
    pub(crate) fn close(&self) {
        *self.lock() = State::Shut;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The lane's connection while a read uses it: put back by [`Borrowed::give_back`] after a whole
/// exchange; dropped otherwise (an error, a timeout, the read's future dropped), which closes the
/// lane until it reconnects.
struct Borrowed<'a> {
    lane: &'a Lane,
    conn: Option<Box<(TcpStream, ReplyDecoder)>>,
}

impl Borrowed<'_> {
    fn give_back(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut state = self.lane.lock();
            if !matches!(*state, State::Shut) {
                *state = State::Idle(conn);
            }
        }
    }
}

impl Drop for Borrowed<'_> {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.lane.closed();
        }
    }
}

/// Connect the lane (bounded by the connect timeout); on failure it stays closed until the retry time.
async fn connect(lane: Weak<Lane>) {
    let Some(me) = lane.upgrade() else { return };
    let Some(target) = me.target.as_ref() else { return };
    let result = tokio::time::timeout(me.connect_timeout, open(target)).await;
    match result {
        Ok(Ok(conn)) => {
            let mut state = me.lock();
            if !matches!(*state, State::Shut) {
                *state = State::Idle(Box::new(conn));
            }
        }
        Ok(Err(e)) => {
            tracing::debug!("stratacache: the idle lane could not connect ({e}); retrying in {RETRY_AFTER:?}");
            me.closed();
        }
        Err(_) => me.closed(),
    }
}

/// A connection with the handshake done.
async fn open(target: &Target) -> io::Result<(TcpStream, ReplyDecoder)> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port)).await?;
    stream.set_nodelay(true)?;
    let keepalive = redis::io::tcp::socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(2))
        .with_retries(3);
    redis::io::tcp::socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
    let mut decoder = ReplyDecoder::new();
    if target.handshake_replies > 0 {
        write(&stream, &target.handshake).await?;
        for _ in 0..target.handshake_replies {
            match redis::parse_redis_value_async(&mut decoder, &mut stream).await {
                Ok(Value::Okay) | Ok(Value::SimpleString(_)) => {}
                Ok(other) => return Err(io::Error::other(format!("unexpected handshake reply {other:?}"))),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
    Ok((stream, decoder))
}

/// Write `request` and read `replies` replies. The write is attempted at once (`try_write`, no
/// waiting), so it happens in the first poll, on whichever thread polls.
async fn exchange(conn: &mut (TcpStream, ReplyDecoder), request: &[u8], replies: usize) -> io::Result<Vec<Value>> {
    let (stream, decoder) = conn;
    write(stream, request).await?;
    let mut out = Vec::with_capacity(replies);
    for _ in 0..replies {
        out.push(redis::parse_redis_value_async(decoder, stream).await.map_err(io::Error::other)?);
    }
    Ok(out)
}

/// Write all of `bytes`, trying at once first (no waiting when the socket takes them, as it does for
/// a small request on an idle connection).
async fn write(stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        match stream.try_write(&bytes[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
