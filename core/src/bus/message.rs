//! Bus messages, format version 1: one JSON object per Redis pub/sub message on `{ns}:bus`.
//!
//! ```json
//! {"v":1,"src":"3f2a…","type":"tag","target":["tickets"],"ts":1767225600000}
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `v` | format version (1); a message with another version is ignored |
//! | `src` | the sending process's random id (a process ignores its own messages) |
//! | `type` | `key` (keys deleted/invalidated), `tag`, `pattern` (a glob over keys), or `write` (keys set: evict, no event) |
//! | `target` | the keys, the tags, or `[glob]` |
//! | `ts` | the sender's clock, epoch ms (informational) |
//!
//! `docs/bus.md` documents it and `tests/vectors/v1/bus.json` pins it for Rust, Node and Python.

use serde::{Deserialize, Serialize};

/// The bus format version this build writes and reads.
pub const BUS_VERSION: u32 = 1;

/// What a message invalidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Keys deleted or invalidated.
    Key,
    /// Tags invalidated.
    Tag,
    /// Keys matching a glob invalidated.
    Pattern,
    /// Keys written: other processes evict them from L1 (no invalidation event).
    Write,
}

impl MessageKind {
    /// The name used on the wire and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Key => "key",
            MessageKind::Tag => "tag",
            MessageKind::Pattern => "pattern",
            MessageKind::Write => "write",
        }
    }
}

/// One bus message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusMessage {
    /// Format version.
    pub v: u32,
    /// Sending process id.
    pub src: String,
    /// What is invalidated.
    #[serde(rename = "type")]
    pub kind: MessageKind,
    /// Keys, tags, or `[glob]`.
    pub target: Vec<String>,
    /// Sender's clock, epoch ms.
    pub ts: u64,
}

impl BusMessage {
    /// Encode as JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("bus messages always serialize")
    }

    /// Decode JSON text; `None` for anything that is not a v1 message.
    pub fn decode(text: &[u8]) -> Option<BusMessage> {
        let m: BusMessage = serde_json::from_slice(text).ok()?;
        (m.v == BUS_VERSION).then_some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_messages() {
        let m = BusMessage { v: 1, src: "a".into(), kind: MessageKind::Tag, target: vec!["t".into()], ts: 5 };
        let text = m.encode();
        assert_eq!(text, r#"{"v":1,"src":"a","type":"tag","target":["t"],"ts":5}"#);
        assert_eq!(BusMessage::decode(text.as_bytes()), Some(m));
        assert_eq!(BusMessage::decode(br#"{"v":2,"src":"a","type":"tag","target":[],"ts":1}"#), None);
        assert_eq!(BusMessage::decode(b"garbage"), None);
    }
}
