//! Session ids and what Redis stores instead of them.
//!
//! An id is `{u}.{r}`: `u` is the user's tag, 8 hex characters of HMAC-SHA256(secret, userId) — the
//! hash tag that puts the session and its user's index in one Redis Cluster slot — and `r` is 128 bits
//! from the OS CSPRNG in URL-safe base64 (22 characters). The secret is 32 random bytes kept in Redis
//! (`{ns}:sk`, made by the first process that needs it), so the tag neither links a user's sessions
//! for anyone without Redis access nor lets a numeric or guessable user id be recovered by hashing
//! candidates (issue 19). Builds before that used SHA-256(userId) alone ([`legacy_user_tag`]); the
//! per-user operations still look under that tag, for the sessions such builds made. Redis never stores an id: keys and index members hold
//! `hash = hex(SHA-256(id))[..32]`, so a dump of Redis does not hand out live sessions. A **handle**
//! `{u}:{hash}` names a session for `deleteSession` (that is what `getUserSessions` returns) but is
//! refused by `getSession`, so knowing a hash never lets anyone use a session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The user's routing tag: 8 hex characters of HMAC-SHA256(`secret`, user id).
pub fn user_tag(secret: &[u8], user_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(user_id.as_bytes());
    hex(&mac.finalize().into_bytes()[..4])
}

/// The tag earlier builds used: 8 hex characters of SHA-256(user id), unkeyed.
pub fn legacy_user_tag(user_id: &str) -> String {
    hex(&Sha256::digest(user_id.as_bytes())[..4])
}

/// What Redis stores for an id: 32 hex characters of SHA-256(id).
pub fn id_hash(id: &str) -> String {
    hex(&Sha256::digest(id.as_bytes())[..16])
}

/// A fresh session id under the user's tag `tag`.
pub fn new_id(tag: &str) -> String {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS random source is available");
    format!("{tag}.{}", URL_SAFE_NO_PAD.encode(raw))
}

/// A session reference: a raw id (usable for everything) or a handle (delete only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRef {
    /// A raw id given by the user: tag and hash of the id.
    Id {
        /// User tag.
        tag: String,
        /// Hash of the id.
        hash: String,
    },
    /// A handle from `getUserSessions`: tag and hash.
    Handle {
        /// User tag.
        tag: String,
        /// Hash of the id.
        hash: String,
    },
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parse a raw id or a handle; `None` for anything malformed or forged-looking.
pub fn parse(s: &str) -> Option<SessionRef> {
    if let Some((tag, rest)) = s.split_once('.') {
        let ok = is_hex(tag, 8)
            && rest.len() == 22
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        return ok.then(|| SessionRef::Id { tag: tag.to_owned(), hash: id_hash(s) });
    }
    let (tag, hash) = s.split_once(':')?;
    (is_hex(tag, 8) && is_hex(hash, 32)).then(|| SessionRef::Handle { tag: tag.to_owned(), hash: hash.to_owned() })
}

/// The handle of a stored session.
pub fn handle(tag: &str, hash: &str) -> String {
    format!("{tag}:{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_hash() {
        let tag42 = user_tag(b"secret", "42");
        assert_ne!(tag42, legacy_user_tag("42"), "keyed");
        assert_ne!(tag42, user_tag(b"another secret", "42"));
        let id = new_id(&tag42);
        assert_eq!(id.len(), 8 + 1 + 22);
        assert!(id.starts_with(&tag42));
        match parse(&id).unwrap() {
            SessionRef::Id { tag, hash } => {
                assert_eq!(tag, tag42);
                assert_eq!(hash, id_hash(&id));
                assert!(!hash.contains(&id[9..]));
                let h = handle(&tag, &hash);
                assert!(matches!(parse(&h), Some(SessionRef::Handle { .. })));
            }
            other => panic!("{other:?}"),
        }
        for bad in ["", "x", "abc.def", "zzzzzzzz.AAAAAAAAAAAAAAAAAAAAAA", "1234567.AAAAAAAAAAAAAAAAAAAAAA", "12345678:xyz", "12345678.AAAA/AAAAAAAAAAAAAAAAA"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
