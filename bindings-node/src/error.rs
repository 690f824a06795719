//! The one mapping from core errors to JS errors.
//!
//! napi rejections keep only a status and a message across async boundaries, so the stable code
//! travels as a `[ERR_STRATACACHE_…] ` prefix of the message; `ts/errors.ts` turns it back into an
//! `Error`/`TypeError` with `err.code` (the only place that does).

/// Convert a core error into a napi error carrying the code in its message.
pub fn to_napi(e: stratacache::Error) -> napi::Error {
    let stash = e.payload().and_then(|p| p.downcast_ref::<crate::callbacks::JsStashed>());
    let message = match stash {
        // A user callback's error: `ts/errors.ts` returns the stashed original object.
        Some(s) => format!("[{}] {{stash:{}}} {}", e.code(), s.0, e.message()),
        None => format!("[{}] {}", e.code(), e.message()),
    };
    napi::Error::new(napi::Status::GenericFailure, message)
}


/// An `ERR_STRATACACHE_INTERNAL` error of the binding itself (the TS layer broke a calling rule).
pub fn internal(message: &str) -> napi::Error {
    to_napi(stratacache::Error::new(stratacache::ErrorKind::Internal, message))
}

/// `Result` mapping for core calls.
pub trait IntoNapi<T> {
    /// Map the error to a napi error carrying its code.
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for stratacache::Result<T> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}

/// Parse option JSON text produced by the TS layer.
pub fn parse_json(what: &str, text: Option<String>) -> napi::Result<serde_json::Value> {
    match text {
        None => Ok(serde_json::Value::Null),
        Some(t) => serde_json::from_str(&t).map_err(|e| {
            to_napi(stratacache::Error::new(
                stratacache::ErrorKind::InvalidArgument,
                format!("{what} options are not valid: {e}"),
            ))
        }),
    }
}
