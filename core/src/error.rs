//! The one error taxonomy of stratacache.
//!
//! Every failure the core can report is an [`Error`] with an [`ErrorKind`]. Each kind has a stable
//! string code (`ERR_STRATACACHE_…`) that the Node binding puts on `err.code` and the Python binding
//! on `exc.code`; the codes are pinned by `tests/vectors/v1/error-codes.json`.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// What kind of failure an [`Error`] is. Stable: codes never change meaning once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Invalid configuration (bad URL, unsupported option, out-of-range size).
    Config,
    /// A key that is empty, too long, or otherwise unusable.
    InvalidKey,
    /// A bad argument or option (ttl ≤ 0, non-finite number, unknown option value).
    InvalidArgument,
    /// A value that cannot be stored as JSON (functions, NaN, cycles, `undefined`…).
    Serialization,
    /// A value larger than `max_value_bytes`.
    ValueTooLarge,
    /// Redis could not be reached, or the circuit breaker is open.
    Connection,
    /// A Redis command did not answer within its timeout.
    Timeout,
    /// Redis answered with an error.
    Redis,
    /// The cache system was shut down; the handle can no longer be used.
    Closed,
    /// A user callback (loader, writer, listener) failed. The error carries what the callback raised
    /// as an opaque payload, so every waiter can get the very same object back.
    Callback,
    /// `readThrough.read` found no registered loader whose pattern matches the key.
    NoLoader,
    /// A bug inside stratacache; please report it.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order (used by the vectors test and the bindings).
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Config,
        ErrorKind::InvalidKey,
        ErrorKind::InvalidArgument,
        ErrorKind::Serialization,
        ErrorKind::ValueTooLarge,
        ErrorKind::Connection,
        ErrorKind::Timeout,
        ErrorKind::Redis,
        ErrorKind::Closed,
        ErrorKind::Callback,
        ErrorKind::Internal,
        ErrorKind::NoLoader,
    ];

    /// The stable code, e.g. `ERR_STRATACACHE_CONFIG`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Config => "ERR_STRATACACHE_CONFIG",
            ErrorKind::InvalidKey => "ERR_STRATACACHE_INVALID_KEY",
            ErrorKind::InvalidArgument => "ERR_STRATACACHE_INVALID_ARGUMENT",
            ErrorKind::Serialization => "ERR_STRATACACHE_SERIALIZATION",
            ErrorKind::ValueTooLarge => "ERR_STRATACACHE_VALUE_TOO_LARGE",
            ErrorKind::Connection => "ERR_STRATACACHE_CONNECTION",
            ErrorKind::Timeout => "ERR_STRATACACHE_TIMEOUT",
            ErrorKind::Redis => "ERR_STRATACACHE_REDIS",
            ErrorKind::Closed => "ERR_STRATACACHE_CLOSED",
            ErrorKind::Callback => "ERR_STRATACACHE_CALLBACK",
            ErrorKind::Internal => "ERR_STRATACACHE_INTERNAL",
            ErrorKind::NoLoader => "ERR_STRATACACHE_NO_LOADER",
        }
    }

    /// The builtin error family a binding should map this kind to: `value`, `type`, `timeout`,
    /// `connection` or `runtime`. Pinned by the vectors so Node and Python agree.
    pub fn family(self) -> &'static str {
        match self {
            ErrorKind::Config
            | ErrorKind::InvalidKey
            | ErrorKind::InvalidArgument
            | ErrorKind::ValueTooLarge
            | ErrorKind::NoLoader => "value",
            ErrorKind::Serialization => "type",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Redis | ErrorKind::Closed | ErrorKind::Callback | ErrorKind::Internal => {
                "runtime"
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a user callback raised, kept opaque by the core (a JS error reference, a Python exception
/// object, a Rust error) so that the binding can hand the very same object to every waiter.
pub type Payload = Arc<dyn Any + Send + Sync>;

/// A stratacache error: a kind (with its stable code) and a message that names what was wrong and
/// the value received.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    payload: Option<Payload>,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("payload", &self.payload.is_some())
            .finish()
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for Error {}

/// `Result` with the stratacache [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), payload: None }
    }

    /// A callback failure carrying what the callback raised.
    pub fn callback(message: impl Into<String>, payload: Payload) -> Self {
        Error { kind: ErrorKind::Callback, message: message.into(), payload: Some(payload) }
    }

    /// What a failed callback raised, when this is a callback error.
    pub fn payload(&self) -> Option<&Payload> {
        self.payload.as_ref()
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code of the kind, e.g. `ERR_STRATACACHE_INVALID_KEY`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True for failures to reach Redis in time (connection or timeout): the degraded-mode kinds.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind, ErrorKind::Connection | ErrorKind::Timeout)
    }

    /// The error of a call whose code panicked (`Internal`, with the panic's message): bindings turn
    /// a caught panic into this, so the call fails and the process goes on.
    pub fn from_panic(panic: Box<dyn Any + Send>) -> Self {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic without a message");
        Error::new(
            ErrorKind::Internal,
            format!("stratacache panicked ({what}); the call failed, the process goes on: please report it"),
        )
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Error replies that mean "Redis cannot serve this now" rather than "this command is wrong": they
/// take the degraded-mode paths of a dead connection (contract §8, "Redis error replies are faults too").
pub const UNAVAILABLE_REPLIES: [&str; 9] =
    ["OOM", "LOADING", "BUSY", "READONLY", "MASTERDOWN", "NOPERM", "TRYAGAIN", "CLUSTERDOWN", "MISCONF"];

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        if e.is_timeout() {
            return Error::new(ErrorKind::Timeout, format!("redis: {e}"));
        }
        if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            return Error::new(ErrorKind::Connection, format!("redis: {e}"));
        }
        if let Some(code) = e.code().filter(|c| UNAVAILABLE_REPLIES.contains(c)) {
            // Redis answered, but cannot serve this now (out of memory, loading, a busy script, a
            // replica, no permission): a fault like a dead connection, for degraded mode and the breaker.
            return Error::new(ErrorKind::Connection, format!("redis cannot serve the command now ({code}): {e}"));
        }
        Error::new(ErrorKind::Redis, format!("redis: {e}"))
    }
}
