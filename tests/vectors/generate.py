#!/usr/bin/env python3
"""Generate the stratacache wire-format vectors in tests/vectors/v1/.

A standalone, independent implementation of envelope v1 (written from the byte layout in
docs/wire-format.md, not translated from the Rust code). Needs Python 3.11 and the PyPI `lz4`
package (`pip install lz4`), used only to build and read LZ4 blocks.

    python3 tests/vectors/generate.py           # (re)write the JSON files
    python3 tests/vectors/generate.py --check   # verify the files on disk, write nothing

Output is deterministic: fixed timestamps, fixed tokens, no randomness. Before writing, every
envelope case is decoded back by the decoder below and compared to its expectation, and every
corrupt case must fail to decode with its stated reason.

v1/ is frozen: a format change goes to v2/. Adding a case here is fine only if it describes the
existing v1 format, or a reserved flag bit old readers refuse (fail-safe, bit 4; see README.md).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path

try:
    import lz4.block
except ImportError:  # pragma: no cover
    sys.exit("generate.py needs the `lz4` package: pip install lz4")

HERE = Path(__file__).resolve().parent
OUT = HERE / "v1"

# ----- envelope v1 -----------------------------------------------------------------------------
#
# offset 0  "SC"                 magic, 2 bytes
# offset 2  0x01                 format version
# offset 3  flags                0x00 plain, 0x03 = compressed (bit 0) + algorithm 1 (LZ4 block, bits 1-3);
#                                either may carry 0x10 (bit 4: fail-safe, kept in Redis past expires_at)
# offset 4  created_at_ms        u64 big-endian
# offset 12 expires_at_ms        u64 big-endian
# offset 20 tag count N          u16 big-endian
# offset 22 N x (u16 BE length L, L bytes UTF-8 tag, 8 bytes token)
# then      payload              plain: JSON text (UTF-8) to the end
#                                compressed: u32 BE uncompressed length, then an LZ4 block to the end

MAGIC = b"SC"
VERSION = 1
FLAGS_PLAIN = 0x00
FLAGS_LZ4 = 0x01 | (1 << 1)  # 0x03
FLAG_FAIL_SAFE = 0x10  # bit 4: a fail-safe entry (a miss after expires_at, except as fail-safe's fallback)
MAX_VALUE_BYTES = 1_048_576

CREATED = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EXPIRES = CREATED + 300_000  # five minutes later


def u16(n: int) -> bytes:
    return struct.pack(">H", n)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def header(created: int, expires: int, ntags: int, *, flags: int = FLAGS_PLAIN, version: int = VERSION,
           magic: bytes = MAGIC) -> bytes:
    return magic + bytes([version, flags]) + u64(created) + u64(expires) + u16(ntags)


def tag_section(tags: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for name, token in tags:
        raw = name.encode("utf-8")
        assert len(token) == 8 and len(raw) <= 0xFFFF
        out += u16(len(raw)) + raw + token
    return out


def lz4_block(data: bytes) -> bytes:
    return lz4.block.compress(data, mode="default", store_size=False)


def encode(json_text: str, tags: list[tuple[str, bytes]], created: int, expires: int,
           compress_above: int | None, fail_safe: bool = False) -> bytes:
    """Encode like any conforming writer: compress only when asked, when the JSON is longer than
    the threshold, and when the compressed payload (4-byte length + block) is strictly smaller."""
    data = json_text.encode("utf-8")
    payload, flags = data, FLAGS_PLAIN
    if compress_above is not None and len(data) > compress_above:
        block = lz4_block(data)
        if 4 + len(block) < len(data):
            payload, flags = u32(len(data)) + block, FLAGS_LZ4
    if fail_safe:
        flags |= FLAG_FAIL_SAFE
    return header(created, expires, len(tags), flags=flags) + tag_section(tags) + payload


class DecodeError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def check_json(text: str) -> bool:
    """Strict RFC 8259 syntax: no NaN/Infinity, no BOM, no raw control characters in strings,
    nothing but whitespace after the value. Numbers are not range-checked (the Rust decoder only
    checks syntax), so big integers and 1e400 are JSON."""

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    try:
        json.loads(text, parse_constant=refuse, parse_int=lambda s: 0, parse_float=lambda s: 0.0)
    except (ValueError, RecursionError):
        return False
    return True


def decode(buf: bytes, max_value_bytes: int) -> dict:
    """Decode in the order the format prescribes: magic, version, flags, header fields, tags,
    payload size check, decompression, UTF-8, JSON. Raises DecodeError(reason, detail)."""
    if len(buf) < 2 or buf[0:2] != MAGIC:
        raise DecodeError("foreign", "no SC magic")
    pos = 2

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if pos + n > len(buf):
            raise DecodeError("corrupt", f"truncated {what}")
        chunk = buf[pos:pos + n]
        pos += n
        return chunk

    version = take(1, "version")[0]
    if version != VERSION:
        raise DecodeError("future_version", f"version {version}")
    flags = take(1, "flags")[0]
    fail_safe = bool(flags & FLAG_FAIL_SAFE)
    if flags & ~FLAG_FAIL_SAFE == FLAGS_PLAIN:
        compressed = False
    elif flags & ~FLAG_FAIL_SAFE == FLAGS_LZ4:
        compressed = True
    else:
        raise DecodeError("unknown_flags", f"flags {flags:#04x}")
    (created,) = struct.unpack(">Q", take(8, "created_at"))
    (expires,) = struct.unpack(">Q", take(8, "expires_at"))
    (count,) = struct.unpack(">H", take(2, "tag count"))
    tags = []
    for _ in range(count):
        (length,) = struct.unpack(">H", take(2, "tag length"))
        raw = take(length, "tag")
        try:
            name = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise DecodeError("corrupt", "tag is not UTF-8") from None
        token = take(8, "tag token")
        tags.append({"tag": name, "token_hex": token.hex()})
    if compressed:
        (size,) = struct.unpack(">I", take(4, "uncompressed length"))
        if size > max_value_bytes:
            raise DecodeError("too_large", f"declared {size} bytes")
        block = buf[pos:]
        try:
            data = lz4.block.decompress(block, uncompressed_size=size) if size else None
        except lz4.block.LZ4BlockError:
            raise DecodeError("corrupt", "bad LZ4 block") from None
        if data is None:
            # A zero-length declaration: no valid LZ4 block decodes to nothing usable, and "" is
            # not JSON either way.
            raise DecodeError("corrupt", "bad LZ4 block (empty output)")
        if len(data) != size:
            raise DecodeError("corrupt", "decompressed length mismatch")
    else:
        data = buf[pos:]
        if len(data) > max_value_bytes:
            raise DecodeError("too_large", f"{len(data)} bytes")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise DecodeError("corrupt", "payload is not UTF-8") from None
    if not check_json(text):
        raise DecodeError("corrupt", "payload is not JSON")
    return {"created_at_ms": created, "expires_at_ms": expires, "compressed": compressed,
            "fail_safe": fail_safe, "tags": tags, "json": text}


# ----- envelope cases --------------------------------------------------------------------------

TOK_USERS = bytes.fromhex("0123456789abcdef")
TOK_ORG = bytes.fromhex("a1b2c3d4e5f60718")
TOK_UNICODE = bytes.fromhex("ffeeddccbbaa9988")
TOK_CATALOG = bytes.fromhex("00000000000000ff")
TOK_REGION = bytes.fromhex("8000000000000001")

OBJECT_JSON = (
    '{"name":"Zoë café","emoji":"🚀✨😀","cjk":"東京タワー 서울","nested":[[1,2,[3,[]]],{"a":[],"b":{}}],'
    '"ints":[0,42,-7,9007199254740993],"floats":[3.14,-0.5,1e300,2.5E-8,-0.0],'
    '"escapes":"line\\nbreak \\"quoted\\" back\\\\slash \\u00e9 \\ud83d\\ude00 \\/","ok":true,"none":null}'
)
assert json.loads(OBJECT_JSON)["emoji"] == "🚀✨😀"


def catalog_json(n: int) -> str:
    """A repetitive JSON object of roughly 3 KB."""
    items = ",".join(
        f'{{"id":{i},"sku":"SKU-{i:05d}","name":"Widget {i}","price":{9 + i % 7}.99,'
        f'"tags":["hardware","blue"],"inStock":{"true" if i % 3 else "false"}}}'
        for i in range(n)
    )
    return f'{{"catalog":"spring","currency":"EUR","items":[{items}]}}'


COMPRESSED_OBJECT = catalog_json(28)
COMPRESSED_TAGGED = catalog_json(12)
LONG_STRING = '"' + "x" * 5000 + '"'
# Highly compressible, but exactly at the threshold: not compressed (the rule is "longer than").
AT_THRESHOLD = '"' + "ab" * 600 + '"'
# 42 bytes with no repeated 4-byte sequence: above the threshold but LZ4 cannot shrink it.
INCOMPRESSIBLE = '"the quick brown fox jumps over a lazy dg"'


def uncompressed_cases() -> list[dict]:
    long_tag = "tag-" + "0123456789" * 30  # 304 bytes: the u16 length has a non-zero high byte
    many = [(f"t{i:03d}", hashlib.sha256(f"token-{i}".encode()).digest()[:8]) for i in range(256)]
    specs = [
        ("string", '"Hello World"', [], CREATED, EXPIRES, None),
        ("object-unicode-numbers", OBJECT_JSON, [], CREATED, EXPIRES, None),
        ("null", "null", [], CREATED, EXPIRES, None),
        ("true", "true", [], CREATED, EXPIRES, None),
        ("false", "false", [], CREATED, EXPIRES, None),
        ("number", "-12.5e3", [], CREATED, EXPIRES, None),
        ("empty-object", "{}", [], CREATED, EXPIRES, None),
        ("empty-array", "[]", [], CREATED, EXPIRES, None),
        ("empty-string", '""', [], CREATED, EXPIRES, None),
        # The payload is the JSON text exactly as written: whitespace is kept, never re-serialized.
        ("whitespace-kept", ' {"a" : [1, 2]}\n', [], CREATED, EXPIRES, None),
        ("tagged-one", '{"id":1,"name":"Ada"}', [("users", TOK_USERS)], CREATED, EXPIRES, None),
        ("tagged-three-unicode", '[{"id":1},{"id":2}]',
         [("users", TOK_USERS), ("org:42", TOK_ORG), ("café-☕-東京", TOK_UNICODE)], CREATED, EXPIRES, None),
        ("tagged-long-tag", '"v"', [(long_tag, TOK_ORG)], CREATED, EXPIRES, None),
        ("tagged-256", "1", many, CREATED, EXPIRES, None),
        # Every byte of both timestamps matters (big-endian u64).
        ("timestamps-far-future", '"later"', [], 253_402_300_799_000, 253_402_300_799_999, None),
        ("timestamps-zero", '"epoch"', [], 0, 0, None),
        # Encoder rules with a threshold: these stay uncompressed, whatever LZ4 implementation is used.
        ("not-compressed-at-threshold", AT_THRESHOLD, [], CREATED, EXPIRES, len(AT_THRESHOLD)),
        ("not-compressed-tiny", '"tiny"', [], CREATED, EXPIRES, 1),
        ("not-compressed-when-it-does-not-shrink", INCOMPRESSIBLE, [], CREATED, EXPIRES, 16),
    ]
    cases = []
    for name, text, tags, created, expires, above in specs:
        raw = encode(text, tags, created, expires, above)
        assert raw[3] == FLAGS_PLAIN, name
        cases.append(case_entry(name, raw, False, above, created, expires, False, tags, text))
    return cases


def compressed_cases() -> list[dict]:
    specs = [
        ("compressed-object", COMPRESSED_OBJECT, [], 1024),
        ("compressed-tagged", COMPRESSED_TAGGED, [("catalog", TOK_CATALOG), ("region:eu", TOK_REGION)], 512),
        ("compressed-long-string", LONG_STRING, [], 1024),
    ]
    cases = []
    for name, text, tags, above in specs:
        raw = encode(text, tags, CREATED, EXPIRES, above)
        assert raw[3] == FLAGS_LZ4, f"{name} did not compress"
        cases.append(case_entry(name, raw, True, above, CREATED, EXPIRES, True, tags, text))
    return cases


# Fail-safe entries expire logically far in the future here, so that every reader serves them.
FAR_CREATED = 253_402_300_000_000
FAR_EXPIRES = 253_402_300_799_999


def fail_safe_cases() -> list[dict]:
    plain = encode('{"fallback":true}', [("users", TOK_USERS)], FAR_CREATED, FAR_EXPIRES, None, fail_safe=True)
    assert plain[3] == FAR_FLAGS_PLAIN
    packed = encode(COMPRESSED_OBJECT, [], FAR_CREATED, FAR_EXPIRES, 1024, fail_safe=True)
    assert packed[3] == FLAGS_LZ4 | FLAG_FAIL_SAFE
    return [
        case_entry("fail-safe-plain", plain, False, None, FAR_CREATED, FAR_EXPIRES, False, [("users", TOK_USERS)],
                   '{"fallback":true}', fail_safe=True),
        case_entry("fail-safe-compressed", packed, True, 1024, FAR_CREATED, FAR_EXPIRES, True, [], COMPRESSED_OBJECT,
                   fail_safe=True),
    ]


FAR_FLAGS_PLAIN = FLAGS_PLAIN | FLAG_FAIL_SAFE


def case_entry(name, raw, decode_only, above, created, expires, compressed, tags, text,
               fail_safe: bool = False) -> dict:
    return {
        "name": name,
        "hex": raw.hex(),
        "decode_only": decode_only,
        "compress_above": above,
        "expect": {
            "created_at_ms": created,
            "expires_at_ms": expires,
            "compressed": compressed,
            "fail_safe": fail_safe,
            "tags": [{"tag": t, "token_hex": tok.hex()} for t, tok in tags],
            "json": text,
        },
    }


# ----- corrupt cases ---------------------------------------------------------------------------


def corrupt_cases() -> list[dict]:
    h0 = header(CREATED, EXPIRES, 0)
    hz = header(CREATED, EXPIRES, 0, flags=FLAGS_LZ4)
    good = h0 + b'"x"'
    small = b'{"a":1}'
    small_block = lz4_block(small)
    # Hand-made LZ4 blocks (token, literals, little-endian u16 match offset).
    bad_offset = b"\x10A\x10\x00"          # 1 literal, then a match 16 bytes back: before the output
    offset_zero = b"\x10A\x00\x00\x00"     # match offset 0 is invalid
    ends_with_match = b"\x10A\x01\x00"     # a block must end with literals
    literal_past_end = b"\xff\xff\xff\xff"  # literal length runs past the input
    not_utf8_block = b"\x30\"\xff\""       # 3 literals: a JSON-ish string with an invalid byte
    not_json_block = lz4_block(b"{not json")

    cases = [
        # foreign: no magic
        ("empty-bytes", b"", "foreign"),
        ("one-byte-S", b"S", "foreign"),
        ("hello", b"hello", "foreign"),
        ("plain-json-string-from-another-client", b'"hello"', "foreign"),
        ("plain-json-object-from-another-client", b'{"a":1}', "foreign"),
        ("wrong-magic", b"SD" + good[2:], "foreign"),
        ("lowercase-magic", b"sc" + good[2:], "foreign"),
        ("magic-bytes-swapped", b"CS" + good[2:], "foreign"),
        # future_version: checked right after the magic, before anything else
        ("version-2", header(CREATED, EXPIRES, 0, version=2) + b'"x"', "future_version"),
        ("version-0", header(CREATED, EXPIRES, 0, version=0) + b'"x"', "future_version"),
        ("version-255", header(CREATED, EXPIRES, 0, version=255) + b'"x"', "future_version"),
        ("version-2-truncated-after-version", b"SC\x02", "future_version"),
        ("version-2-unknown-flags", header(CREATED, EXPIRES, 0, version=2, flags=0x80), "future_version"),
        ("foreign-text-starting-with-SC", b"SCALE", "future_version"),
        # corrupt: magic present, header cut short before the flags are known
        ("magic-only", b"SC", "corrupt"),
        ("truncated-before-flags", b"SC\x01", "corrupt"),
        # unknown_flags: checked before the header fields are read
        ("flags-0x80", header(CREATED, EXPIRES, 0, flags=0x80) + b'"x"', "unknown_flags"),
        ("flags-0x20-reserved-bit-5", header(CREATED, EXPIRES, 0, flags=0x20) + b'"x"', "unknown_flags"),
        ("flags-0x11-fail-safe-compressed-without-algorithm", header(CREATED, EXPIRES, 0, flags=0x11) + b'"x"',
         "unknown_flags"),
        ("flags-0x01-compressed-without-algorithm", header(CREATED, EXPIRES, 0, flags=0x01) + b'"x"',
         "unknown_flags"),
        ("flags-0x02-algorithm-without-compressed-bit", header(CREATED, EXPIRES, 0, flags=0x02) + b'"x"',
         "unknown_flags"),
        ("flags-0x05-unknown-algorithm-2", header(CREATED, EXPIRES, 0, flags=0x05) + b'"x"', "unknown_flags"),
        ("flags-0x83-high-bit-with-lz4", header(CREATED, EXPIRES, 0, flags=0x83) + b'"x"', "unknown_flags"),
        ("flags-0x80-header-truncated", b"SC\x01\x80", "unknown_flags"),
        # corrupt: truncated header fields
        ("truncated-created-at", h0[:10], "corrupt"),
        ("truncated-expires-at", h0[:15], "corrupt"),
        ("truncated-header-21-bytes", h0[:21], "corrupt"),
        # corrupt: tags
        ("tag-count-1-no-tag", header(CREATED, EXPIRES, 1), "corrupt"),
        ("truncated-tag-length", header(CREATED, EXPIRES, 1) + b"\x00", "corrupt"),
        ("truncated-tag", header(CREATED, EXPIRES, 1) + u16(10) + b"use", "corrupt"),
        ("truncated-tag-token", header(CREATED, EXPIRES, 1) + u16(5) + b"users" + TOK_USERS[:5], "corrupt"),
        ("tag-count-larger-than-tags", header(CREATED, EXPIRES, 2) + tag_section([("users", TOK_USERS)])
         + b'"x"', "corrupt"),
        ("tag-not-utf8", header(CREATED, EXPIRES, 1) + u16(2) + b"\xff\xfe" + TOK_USERS + b'"x"', "corrupt"),
        ("tag-utf8-surrogate", header(CREATED, EXPIRES, 1) + u16(3) + b"\xed\xa0\x80" + TOK_USERS + b'"x"',
         "corrupt"),
        # corrupt: plain payload
        ("payload-not-utf8", h0 + b'"\xff"', "corrupt"),
        ("payload-utf8-surrogate", h0 + b'"\xed\xa0\x80"', "corrupt"),
        ("payload-overlong-utf8", h0 + b'"\xc0\xaf"', "corrupt"),
        ("payload-not-json", h0 + b"{not json", "corrupt"),
        ("payload-empty", h0, "corrupt"),
        ("payload-whitespace-only", h0 + b" \n", "corrupt"),
        ("payload-nan", h0 + b"NaN", "corrupt"),
        ("payload-infinity", h0 + b"[Infinity]", "corrupt"),
        ("payload-trailing-garbage", h0 + b'{"a":1} x', "corrupt"),
        ("payload-two-values", h0 + b"1 2", "corrupt"),
        ("payload-trailing-comma", h0 + b"[1,2,]", "corrupt"),
        ("payload-single-quotes", h0 + b"'x'", "corrupt"),
        ("payload-raw-control-character", h0 + b'"a\x01b"', "corrupt"),
        ("payload-utf8-bom", h0 + b"\xef\xbb\xbf{}", "corrupt"),
        ("payload-leading-zero", h0 + b"01", "corrupt"),
        ("tagged-payload-not-json", header(CREATED, EXPIRES, 1) + tag_section([("users", TOK_USERS)]) + b"{",
         "corrupt"),
        # compressed payloads
        ("compressed-truncated-length", hz + b"\x00\x00", "corrupt"),
        ("compressed-garbage-block-bad-offset", hz + u32(32) + bad_offset, "corrupt"),
        ("compressed-garbage-block-offset-zero", hz + u32(5) + offset_zero, "corrupt"),
        ("compressed-garbage-block-ends-with-match", hz + u32(5) + ends_with_match, "corrupt"),
        ("compressed-garbage-block-literal-past-end", hz + u32(32) + literal_past_end, "corrupt"),
        ("compressed-empty-block", hz + u32(0), "corrupt"),
        ("compressed-declared-length-larger", hz + u32(len(small) + 1) + small_block, "corrupt"),
        ("compressed-declared-length-smaller", hz + u32(len(small) - 1) + small_block, "corrupt"),
        ("compressed-declared-exactly-max-is-not-too-large", hz + u32(MAX_VALUE_BYTES) + small_block,
         "corrupt"),
        ("compressed-declared-max-plus-one", hz + u32(MAX_VALUE_BYTES + 1) + small_block, "too_large"),
        ("compressed-declared-2000000", hz + u32(2_000_000) + bad_offset, "too_large"),
        ("compressed-declared-u32-max", hz + u32(0xFFFFFFFF), "too_large"),
        ("compressed-payload-not-utf8", hz + u32(3) + not_utf8_block, "corrupt"),
        ("compressed-payload-not-json", hz + u32(9) + not_json_block, "corrupt"),
    ]
    return [{"name": n, "hex": raw.hex(), "reason": r} for n, raw, r in cases]


# ----- keys and error codes --------------------------------------------------------------------


def key_cases() -> list[dict]:
    inputs = [
        "user:1",
        "a:b:c",
        "x:",
        ":leading",
        "d:looks-like-a-data-key",
        "t:looks-like-a-tag-key",
        "hello world",
        "{braces}",
        "user:{42}:profile",
        "Zoë café",
        "東京",
        "🚀 launch",
        "price*?[x]",
        "line\nbreak\ttab",
    ]
    cases = []
    for ns in ("sc", "app"):
        for kind, sub in (("data", "d"), ("tag", "t")):
            for key in inputs:
                cases.append({"namespace": ns, "kind": kind, "input": key, "redis_key": f"{ns}:{sub}:{key}"})
    return cases


def crc16_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: str) -> int:
    """Redis Cluster's slot of a key: CRC16 of its hash tag (the text between the first '{' and the
    next '}', when not empty) or of the whole key, mod 16384."""
    raw = key.encode()
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1:end]
    return crc16_xmodem(raw) % 16384


def cluster_lock_key(ns: str, key: str) -> str:
    """On Redis Cluster the load lock of a key is ``{ns}:lk:{S}:{key}``: S is the smallest decimal number
    whose slot is the data key's slot."""
    slot = key_slot(f"{ns}:d:{key}")
    n = 0
    while key_slot(str(n)) != slot:
        n += 1
    return f"{ns}:lk:{{{n}}}:{key}"


def cluster_key_cases() -> list[dict]:
    inputs = ["user:1", "user:2", "report:1", "{user}:3", "user:{42}:profile", "}{", "{}x", "東京", "a}b{c}"]
    cases = []
    for ns in ("sc", "app"):
        for key in inputs:
            data = f"{ns}:d:{key}"
            cases.append({"namespace": ns, "input": key, "data_key": data, "lock_key": cluster_lock_key(ns, key),
                          "slot": key_slot(data)})
    return cases


# (kind, code, family) in ErrorKind::ALL order.
ERRORS = [
    ("Config", "value"),
    ("InvalidKey", "value"),
    ("InvalidArgument", "value"),
    ("Serialization", "type"),
    ("ValueTooLarge", "value"),
    ("Connection", "connection"),
    ("Timeout", "timeout"),
    ("Redis", "runtime"),
    ("Closed", "runtime"),
    ("Callback", "runtime"),
    ("Internal", "runtime"),
    ("NoLoader", "value"),
]


def screaming_snake(camel: str) -> str:
    out = ""
    for i, ch in enumerate(camel):
        if ch.isupper() and i:
            out += "_"
        out += ch.upper()
    return out


def error_codes() -> list[dict]:
    return [{"kind": k, "code": f"ERR_STRATACACHE_{screaming_snake(k)}", "family": f} for k, f in ERRORS]


# ----- verification ----------------------------------------------------------------------------


def verify(envelopes: dict, corrupt: dict, keys: dict, errors: dict, cluster_keys: dict) -> None:
    # A hand-assembled envelope, byte by byte, to cross-check the encoder against the layout.
    hand = (
        "5343" "01" "00"                      # magic, version 1, flags 0
        + f"{CREATED:016x}" + f"{EXPIRES:016x}"
        + "0000"                              # no tags
        + '"Hello World"'.encode().hex()
    )
    by_name = {c["name"]: c for c in envelopes["cases"]}
    assert by_name["string"]["hex"] == hand, "encoder disagrees with the hand-built envelope"
    hand_tagged = (
        "5343" "01" "00" + f"{CREATED:016x}" + f"{EXPIRES:016x}"
        + "0001" + "0005" + b"users".hex() + "0123456789abcdef"
        + b'{"id":1,"name":"Ada"}'.hex()
    )
    assert by_name["tagged-one"]["hex"] == hand_tagged

    names = set()
    for case in envelopes["cases"]:
        assert case["name"] not in names, f"duplicate name {case['name']}"
        names.add(case["name"])
        raw = bytes.fromhex(case["hex"])
        got = decode(raw, envelopes["max_value_bytes"])
        assert got == case["expect"], f"{case['name']}: decoded {got!r}"
        assert case["decode_only"] == got["compressed"], case["name"]
        if got["compressed"]:
            assert raw[3] & ~FLAG_FAIL_SAFE == 0x03
        else:
            exp = case["expect"]
            tags = [(t["tag"], bytes.fromhex(t["token_hex"])) for t in exp["tags"]]
            fs = exp["fail_safe"]
            again = encode(exp["json"], tags, exp["created_at_ms"], exp["expires_at_ms"], case["compress_above"], fs)
            assert again == raw, f"{case['name']}: re-encoding differs"
            assert encode(exp["json"], tags, exp["created_at_ms"], exp["expires_at_ms"], None, fs) == raw
        for t in case["expect"]["tags"]:
            assert len(t["token_hex"]) == 16

    names = set()
    for case in corrupt["cases"]:
        assert case["name"] not in names, f"duplicate name {case['name']}"
        names.add(case["name"])
        try:
            got = decode(bytes.fromhex(case["hex"]), corrupt["max_value_bytes"])
        except DecodeError as e:
            assert e.reason == case["reason"], f"{case['name']}: failed as {e.reason}, expected {case['reason']}"
        else:
            raise AssertionError(f"{case['name']} decoded: {got!r}")

    for case in keys["cases"]:
        sub = {"data": "d", "tag": "t"}[case["kind"]]
        assert case["redis_key"] == case["namespace"] + ":" + sub + ":" + case["input"]

    for case in cluster_keys["cases"]:
        lock = case["lock_key"]
        assert key_slot(lock) == key_slot(case["data_key"]) == case["slot"], case
        tag = int(lock.split("{", 1)[1].split("}", 1)[0])
        assert all(key_slot(str(n)) != case["slot"] for n in range(tag)), "the smallest such number"
    # Known slots (redis-cli CLUSTER KEYSLOT): the CRC16 above is Redis's.
    assert key_slot("foo") == 12182 and key_slot("{user1000}.following") == key_slot("{user1000}.followers")

    codes = [e["code"] for e in errors["errors"]]
    assert len(set(codes)) == len(codes) == len(ERRORS)
    assert codes[0] == "ERR_STRATACACHE_CONFIG" and "ERR_STRATACACHE_VALUE_TOO_LARGE" in codes


def render(obj: dict) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def build() -> dict[str, str]:
    envelopes = {
        "format_version": 1,
        "max_value_bytes": MAX_VALUE_BYTES,
        "cases": uncompressed_cases() + compressed_cases() + fail_safe_cases(),
    }
    corrupt = {"max_value_bytes": MAX_VALUE_BYTES, "cases": corrupt_cases()}
    keys = {"cases": key_cases()}
    errors = {"errors": error_codes()}
    cluster_keys = {"cases": cluster_key_cases()}
    verify(envelopes, corrupt, keys, errors, cluster_keys)
    return {
        "envelopes.json": render(envelopes),
        "corrupt.json": render(corrupt),
        "keys.json": render(keys),
        "error-codes.json": render(errors),
        "cluster-keys.json": render(cluster_keys),
    }


def main(argv: list[str]) -> int:
    files = build()
    if "--check" in argv:
        stale = [name for name, text in files.items()
                 if not (OUT / name).exists() or (OUT / name).read_text(encoding="utf-8") != text]
        if stale:
            print("out of date: " + ", ".join(stale) + " (run python3 tests/vectors/generate.py)")
            return 1
        print(f"{len(files)} vector files up to date")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {', '.join(files)} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
