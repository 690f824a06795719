//! The shared wire-format vectors (`tests/vectors/v1/`): the Rust side. Node and Python read the
//! same files, so all three stay byte-compatible.

use std::path::PathBuf;

use serde_json::Value;
use stratacache::codec::{decode, encode, DecodeError, EncodeOptions, TagStamp};
use stratacache::key::KeySchema;
use stratacache::ErrorKind;

fn load(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/v1").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn tags_of(expect: &Value) -> Vec<TagStamp> {
    expect["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| TagStamp {
            tag: t["tag"].as_str().unwrap().into(),
            token: unhex(t["token_hex"].as_str().unwrap()).try_into().unwrap(),
        })
        .collect()
}

#[test]
fn envelopes_decode_and_encode_exactly() {
    let v = load("envelopes.json");
    assert_eq!(v["format_version"], 1);
    let max = v["max_value_bytes"].as_u64().unwrap() as usize;
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let bytes = unhex(c["hex"].as_str().unwrap());
        let e = &c["expect"];
        let env = decode(&bytes, max).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(&*env.json, e["json"].as_str().unwrap(), "{name}");
        assert_eq!(env.created_at_ms, e["created_at_ms"].as_u64().unwrap(), "{name}");
        assert_eq!(env.expires_at_ms, e["expires_at_ms"].as_u64().unwrap(), "{name}");
        assert_eq!(env.compressed, e["compressed"].as_bool().unwrap(), "{name}");
        assert_eq!(env.fail_safe, e["fail_safe"].as_bool().unwrap(), "{name}");
        assert_eq!(env.tags, tags_of(e), "{name}");
        let opts = EncodeOptions {
            created_at_ms: env.created_at_ms,
            expires_at_ms: env.expires_at_ms,
            compress_above: c["compress_above"].as_u64().map(|n| n as usize),
            fail_safe: env.fail_safe,
        };
        let again = encode(&env.json, &env.tags, opts);
        if c["decode_only"].as_bool().unwrap() {
            // LZ4 output is not canonical across compressors: our bytes must decode the same.
            assert_eq!(decode(&again, max).unwrap(), env, "{name}");
        } else {
            assert_eq!(hex(&again), c["hex"].as_str().unwrap(), "{name}: encoding differs");
        }
    }
}

#[test]
fn corrupt_entries_fail_with_the_pinned_reason() {
    let v = load("corrupt.json");
    let max = v["max_value_bytes"].as_u64().unwrap() as usize;
    for c in v["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let err = decode(&unhex(c["hex"].as_str().unwrap()), max).expect_err(name);
        let reason = match err {
            DecodeError::Foreign => "foreign",
            DecodeError::FutureVersion(_) => "future_version",
            DecodeError::UnknownFlags(_) => "unknown_flags",
            DecodeError::Corrupt(_) => "corrupt",
            DecodeError::TooLarge(_) => "too_large",
        };
        assert_eq!(reason, c["reason"].as_str().unwrap(), "{name}: {err}");
    }
}

#[test]
fn keys_follow_the_schema() {
    for c in load("keys.json")["cases"].as_array().unwrap() {
        let k = KeySchema::new(c["namespace"].as_str().unwrap());
        let input = c["input"].as_str().unwrap();
        let got = match c["kind"].as_str().unwrap() {
            "data" => k.data(input),
            "tag" => k.tag(input),
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(got, c["redis_key"].as_str().unwrap());
    }
}

#[test]
fn cluster_lock_keys_share_the_data_keys_slot() {
    use redis::cluster_routing::Slot;
    for c in load("cluster-keys.json")["cases"].as_array().unwrap() {
        let k = KeySchema::for_topology(c["namespace"].as_str().unwrap(), true);
        let input = c["input"].as_str().unwrap();
        assert_eq!(k.data(input), c["data_key"].as_str().unwrap());
        assert_eq!(k.lock(input), c["lock_key"].as_str().unwrap(), "{input}");
        assert_eq!(Slot::for_key(k.lock(input)), Slot::for_key(k.data(input)));
        // Standalone and Sentinel keep the plain lock key.
        assert_eq!(KeySchema::new(c["namespace"].as_str().unwrap()).lock(input), format!("{}:lk:{input}", c["namespace"].as_str().unwrap()));
    }
}

#[test]
fn error_codes_are_stable() {
    let v = load("error-codes.json");
    let pinned = v["errors"].as_array().unwrap();
    assert_eq!(pinned.len(), ErrorKind::ALL.len());
    for (kind, p) in ErrorKind::ALL.iter().zip(pinned) {
        assert_eq!(format!("{kind:?}"), p["kind"].as_str().unwrap());
        assert_eq!(kind.code(), p["code"].as_str().unwrap());
        assert_eq!(kind.family(), p["family"].as_str().unwrap());
    }
}

#[test]
fn bus_messages_encode_and_decode_exactly() {
    use stratacache::bus::BusMessage;
    let v = load("bus.json");
    for m in v["messages"].as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        let text = m["json"].as_str().unwrap();
        let msg = BusMessage::decode(text.as_bytes()).unwrap_or_else(|| panic!("{name}: does not decode"));
        assert_eq!(msg.encode(), text, "{name}: encoding differs");
        assert_eq!(serde_json::to_value(&msg).unwrap(), m["expect"], "{name}");
    }
    for m in v["ignored"].as_array().unwrap() {
        assert!(BusMessage::decode(m["json"].as_str().unwrap().as_bytes()).is_none(), "{}", m["name"]);
    }
    assert_eq!(format!("{}:bus", v["channel"]["namespace"].as_str().unwrap()), v["channel"]["channel"].as_str().unwrap());
}
