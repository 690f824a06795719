//! What the core knows about user callbacks (loaders, writers, listeners, domain rules) beyond their
//! signatures: the context a binding hands along so that a callback runs where its caller is.

use std::sync::Arc;

/// What a binding passes along with a call so that a registered callback can run where the caller is
/// (Python: the caller's event loop and context). Rust callers pass `None`.
pub type CallContext = Option<Arc<dyn std::any::Any + Send + Sync>>;
