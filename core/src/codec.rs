//! The value envelope, format version 1: how one cached value is laid out in Redis.
//!
//! All integers are big-endian. `docs/wire-format.md` is the byte-by-byte reference and
//! `tests/vectors/v1/envelopes.json` pins it for Rust, Node and Python.
//!
//! ```text
//! offset  size  field
//! 0       2     magic "SC" (0x53 0x43)
//! 2       1     format version = 1
//! 3       1     flags: bit 0 = compressed; bits 1-3 = algorithm (0 none, 1 LZ4 block);
//!               bit 4 = fail-safe (kept in Redis past expires_at_ms: a miss after it, except as
//!               the fail-safe fallback); bits 5-7 = 0
//! 4       8     created_at_ms  (u64, Unix epoch ms, writer's clock; informational)
//! 12      8     expires_at_ms  (u64, logical expiry, writer's clock; used by refresh-ahead, and
//!               by readers of fail-safe entries)
//! 20      2     tag count N (u16)
//! 22      ...   N × { u16 byte length L, L bytes of UTF-8 tag, 8 bytes tag version token }
//! ...     ...   payload: uncompressed → the JSON text (UTF-8) up to the end;
//!               compressed → u32 uncompressed length, then an LZ4 block up to the end
//! ```
//!
//! Decoding never panics: anything that does not match (foreign bytes, a future version, unknown
//! flags, truncation, a bad LZ4 block, a decompressed size past `max_value_bytes`, invalid UTF-8 or
//! JSON) is a [`DecodeError`], which the cache manager counts and treats as a miss.

use std::sync::Arc;

/// The two magic bytes that start every envelope.
pub const MAGIC: [u8; 2] = *b"SC";
/// The envelope format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Flag bit: the payload is compressed.
pub const FLAG_COMPRESSED: u8 = 0b0000_0001;
/// Algorithm id (bits 1-3 of the flags) for an LZ4 block.
pub const ALGO_LZ4: u8 = 1;
/// Flag bit: a fail-safe entry, kept in Redis past its logical expiry (contract §9). Readers treat it
/// as a miss once `expires_at_ms` has passed, except as fail-safe's fallback. Builds that predate the
/// bit refuse the flags and read the entry as a miss, so they never serve it stale.
pub const FLAG_FAIL_SAFE: u8 = 0b0001_0000;
const HEADER_LEN: usize = 22;

/// A tag and the version token it had when the entry was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagStamp {
    /// The tag name.
    pub tag: String,
    /// The tag's version token at write time.
    pub token: [u8; 8],
}

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Creation time, Unix epoch ms.
    pub created_at_ms: u64,
    /// Logical expiry, Unix epoch ms.
    pub expires_at_ms: u64,
    /// Whether the payload was stored compressed.
    pub compressed: bool,
    /// Whether the entry is kept past its logical expiry (fail-safe).
    pub fail_safe: bool,
    /// Tags with their version tokens.
    pub tags: Vec<TagStamp>,
    /// The JSON text of the value.
    pub json: Arc<str>,
}

/// Why bytes did not decode as an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a stratacache envelope (wrong magic).
    Foreign,
    /// A format version this build does not know.
    FutureVersion(u8),
    /// Flags with unknown bits or an unknown algorithm.
    UnknownFlags(u8),
    /// Truncated or inconsistent bytes.
    Corrupt(&'static str),
    /// The (decompressed) payload is larger than allowed.
    TooLarge(u64),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Foreign => f.write_str("not a stratacache envelope (bad magic)"),
            DecodeError::FutureVersion(v) => write!(f, "unknown envelope version {v}"),
            DecodeError::UnknownFlags(x) => write!(f, "unknown envelope flags {x:#04x}"),
            DecodeError::Corrupt(why) => write!(f, "corrupt envelope: {why}"),
            DecodeError::TooLarge(n) => write!(f, "payload of {n} bytes is over maxValueBytes"),
        }
    }
}

/// Check that `text` is JSON every front door can read back: well-formed, nested at most 128 levels,
/// numbers within the range of a double, strings without lone surrogate escapes. Returns the
/// parser's description of the first problem.
pub fn check_portable_json(text: &str) -> Result<(), String> {
    // A visitor that builds nothing: serde_json still decodes every string (rejecting lone
    // surrogates), range-checks every number and limits nesting, without allocating a tree.
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(Portable, &mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

/// Walks JSON without keeping it (see [`check_portable_json`]).
#[derive(Clone, Copy)]
struct Portable;

impl<'de> serde::de::DeserializeSeed<'de> for Portable {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Portable {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("portable JSON")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(E::custom("number out of range"))
        }
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Portable)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Portable)?.is_some() {
            map.next_value_seed(Portable)?;
        }
        Ok(())
    }
}

/// How to encode one value.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    /// Creation time, epoch ms.
    pub created_at_ms: u64,
    /// Logical expiry, epoch ms.
    pub expires_at_ms: u64,
    /// Compress when the JSON is longer than this many bytes; `None` never compresses.
    pub compress_above: Option<usize>,
    /// Mark the entry fail-safe ([`FLAG_FAIL_SAFE`]).
    pub fail_safe: bool,
}

/// Encode `json` with `tags` into envelope bytes. Compression is used only when asked, above the
/// threshold, and when it actually makes the payload smaller.
pub fn encode(json: &str, tags: &[TagStamp], opts: EncodeOptions) -> Vec<u8> {
    let tags_len: usize = tags.iter().map(|t| 2 + t.tag.len() + 8).sum();
    let compressed = match opts.compress_above {
        Some(threshold) if json.len() > threshold => {
            let block = lz4_flex::block::compress(json.as_bytes());
            (block.len() + 4 < json.len()).then_some(block)
        }
        _ => None,
    };
    let payload_len = compressed.as_ref().map_or(json.len(), |b| b.len() + 4);
    let mut out = Vec::with_capacity(HEADER_LEN + tags_len + payload_len);
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    let compression = if compressed.is_some() { FLAG_COMPRESSED | (ALGO_LZ4 << 1) } else { 0 };
    out.push(compression | if opts.fail_safe { FLAG_FAIL_SAFE } else { 0 });
    out.extend_from_slice(&opts.created_at_ms.to_be_bytes());
    out.extend_from_slice(&opts.expires_at_ms.to_be_bytes());
    out.extend_from_slice(&(tags.len() as u16).to_be_bytes());
    for t in tags {
        out.extend_from_slice(&(t.tag.len() as u16).to_be_bytes());
        out.extend_from_slice(t.tag.as_bytes());
        out.extend_from_slice(&t.token);
    }
    match compressed {
        Some(block) => {
            out.extend_from_slice(&(json.len() as u32).to_be_bytes());
            out.extend_from_slice(&block);
        }
        None => out.extend_from_slice(json.as_bytes()),
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(DecodeError::Corrupt(what))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        s
    }
}

/// The size the payload of `bytes` takes once decoded, from the header alone (the declared length
/// of a compressed payload; the payload's own length otherwise). `None` when the header does not
/// parse (then [`decode`] refuses it anyway).
pub fn payload_len(bytes: &[u8]) -> Option<usize> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(2, "").ok()? != MAGIC || r.take(1, "").ok()?[0] != FORMAT_VERSION {
        return None;
    }
    let compressed = r.take(1, "").ok()?[0] & FLAG_COMPRESSED != 0;
    r.take(16, "").ok()?;
    let count = r.u16("").ok()?;
    for _ in 0..count {
        let len = r.u16("").ok()? as usize;
        r.take(len + 8, "").ok()?;
    }
    if compressed {
        r.u32("").ok().map(|n| n as usize)
    } else {
        Some(bytes.len() - r.pos)
    }
}

/// Decode envelope bytes, refusing a payload larger than `max_value_bytes`.
pub fn decode(bytes: &[u8], max_value_bytes: usize) -> Result<Envelope, DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(2, "truncated magic").map_err(|_| DecodeError::Foreign)? != MAGIC {
        return Err(DecodeError::Foreign);
    }
    let version = r.take(1, "truncated version")?[0];
    if version != FORMAT_VERSION {
        return Err(DecodeError::FutureVersion(version));
    }
    let flags = r.take(1, "truncated flags")?[0];
    let fail_safe = flags & FLAG_FAIL_SAFE != 0;
    let compressed = match flags & !FLAG_FAIL_SAFE {
        0 => false,
        f if f == FLAG_COMPRESSED | (ALGO_LZ4 << 1) => true,
        f => return Err(DecodeError::UnknownFlags(f)),
    };
    let created_at_ms = r.u64("truncated created_at")?;
    let expires_at_ms = r.u64("truncated expires_at")?;
    let count = r.u16("truncated tag count")?;
    let mut tags = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let len = r.u16("truncated tag length")? as usize;
        let name = std::str::from_utf8(r.take(len, "truncated tag")?)
            .map_err(|_| DecodeError::Corrupt("tag is not UTF-8"))?;
        let token: [u8; 8] = r.take(8, "truncated tag token")?.try_into().expect("8 bytes");
        tags.push(TagStamp { tag: name.to_owned(), token });
    }
    let text: Vec<u8>;
    let json_bytes: &[u8] = if compressed {
        let size = r.u32("truncated uncompressed length")? as usize;
        if size > max_value_bytes {
            return Err(DecodeError::TooLarge(size as u64));
        }
        text = lz4_flex::block::decompress(r.rest(), size)
            .map_err(|_| DecodeError::Corrupt("bad LZ4 block"))?;
        if text.len() != size {
            return Err(DecodeError::Corrupt("decompressed length mismatch"));
        }
        &text
    } else {
        let rest = r.rest();
        if rest.len() > max_value_bytes {
            return Err(DecodeError::TooLarge(rest.len() as u64));
        }
        rest
    };
    let json = std::str::from_utf8(json_bytes).map_err(|_| DecodeError::Corrupt("payload is not UTF-8"))?;
    if check_portable_json(json).is_err() {
        return Err(DecodeError::Corrupt("payload is not portable JSON"));
    }
    Ok(Envelope { created_at_ms, expires_at_ms, compressed, fail_safe, tags, json: Arc::from(json) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(compress_above: Option<usize>) -> EncodeOptions {
        EncodeOptions { created_at_ms: 1, expires_at_ms: 2, compress_above, fail_safe: false }
    }

    #[test]
    fn round_trip_plain_and_tagged() {
        let tags = vec![TagStamp { tag: "users".into(), token: [7; 8] }];
        let bytes = encode("{\"a\":1}", &tags, opts(None));
        let env = decode(&bytes, 1 << 20).unwrap();
        assert_eq!(&*env.json, "{\"a\":1}");
        assert_eq!(env.tags, tags);
        assert!(!env.compressed);
    }

    #[test]
    fn fail_safe_flag_round_trips_with_and_without_compression() {
        let big = format!("\"{}\"", "x".repeat(5000));
        for (json, above) in [("[1]", None), (big.as_str(), Some(1))] {
            let bytes = encode(json, &[], EncodeOptions { fail_safe: true, ..opts(above) });
            assert_eq!(bytes[3] & FLAG_FAIL_SAFE, FLAG_FAIL_SAFE);
            let env = decode(&bytes, 1 << 20).unwrap();
            assert!(env.fail_safe);
            assert_eq!(&*env.json, json);
        }
        assert!(!decode(&encode("1", &[], opts(None)), 1 << 20).unwrap().fail_safe);
        let mut unknown = encode("1", &[], opts(None));
        unknown[3] = 0b0010_0000;
        assert_eq!(decode(&unknown, 1 << 20), Err(DecodeError::UnknownFlags(0b0010_0000)));
    }

    #[test]
    fn compresses_only_when_it_helps() {
        let big = format!("\"{}\"", "x".repeat(5000));
        let bytes = encode(&big, &[], opts(Some(512)));
        assert!(bytes.len() < 200, "compressed to {}", bytes.len());
        assert_eq!(&*decode(&bytes, 1 << 20).unwrap().json, big);
        let small = encode("\"tiny\"", &[], opts(Some(1)));
        assert_eq!(small[3], 0, "incompressible payload stays plain");
    }

    #[test]
    fn garbage_never_panics() {
        let good = encode("[1,2,3]", &[TagStamp { tag: "t".into(), token: [1; 8] }], opts(None));
        for cut in 0..good.len() {
            let _ = decode(&good[..cut], 1 << 20);
        }
        let mut x: u32 = 1;
        for _ in 0..2000 {
            let mut b = good.clone();
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let i = (x as usize) % b.len();
            b[i] ^= (x >> 24) as u8 | 1;
            let _ = decode(&b, 1 << 20);
        }
    }

    #[test]
    fn payload_len_reads_the_header_only() {
        let tags = vec![TagStamp { tag: "t".into(), token: [1; 8] }];
        assert_eq!(payload_len(&encode("[1,2]", &tags, opts(None))), Some(5));
        let big = format!("\"{}\"", "x".repeat(10_000));
        let packed = encode(&big, &[], opts(Some(1)));
        assert!(packed.len() < 200);
        assert_eq!(payload_len(&packed), Some(10_002));
        assert_eq!(payload_len(b"nope"), None);
    }

    #[test]
    fn decompression_bomb_is_refused() {
        let big = format!("\"{}\"", "x".repeat(100_000));
        let bytes = encode(&big, &[], opts(Some(1)));
        assert_eq!(decode(&bytes, 1000), Err(DecodeError::TooLarge(100_002)));
    }
}
