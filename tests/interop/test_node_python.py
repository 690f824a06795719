"""Node ⇄ Python through one redis-server and one namespace.

A Node child process (tests/interop/node_peer.mjs, importing the built npm package dist/index.mjs)
writes and reads next to this Python process; values, compression, tags and dates must agree.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stratacache import InvalidArgumentError, InvalidKeyError, cache_manager

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEER = HERE / "node_peer.mjs"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

VALUES: dict[str, Any] = {
    "plain": "Hello World",
    "int": 42,
    "max-safe-int": 9007199254740991,
    "negative-float": -12.75,
    "true": True,
    "empty-string": "",
    "array": [1, "two", 3.5, None, False],
    "unicode": {
        "name": "Zoë café",
        "emoji": "🚀✨😀",
        "cjk": "東京タワー 서울",
        "escapes": 'line\nbreak "quoted" back\\slash \t tab \u0001 ctl \u2028 sep / slash',
    },
    "nested": {"a": [1, [2, [3, {"b": [True, False, None]}]]], "empty": {"x": [], "y": {}}, "n": None},
    "key order": {"z": 1, "a": 2, "m": {"c": 3, "b": 4}},
}
LARGE = {"rows": [{"id": i, "name": f"row {i}", "tags": ["a", "b"]} for i in range(300)]}
TAGGED = {"id": 7, "title": "Printer on fire"}
TAGS = ["tickets", "ticket:7", "東京"]


def node(cache: Any, ops: list[dict[str, Any]], timeout: float = 30) -> list[Any]:
    if not (REPO / "dist" / "index.mjs").exists():
        pytest.skip("the npm package is not built (dist/index.mjs)")
    proc = subprocess.run(["node", str(PEER), cache.url, cache.ns], input=json.dumps(ops), capture_output=True,
                          text=True, timeout=timeout, cwd=HERE, check=False)
    assert proc.returncode == 0, f"node exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.stderr == "", proc.stderr
    result = json.loads(proc.stdout)
    assert isinstance(result, list) and len(result) >= len(ops)
    return result


async def test_node_writes_python_reads(cache: Any, wire: Any, json_equal: Any) -> None:
    ops: list[dict[str, Any]] = [{"op": "set", "key": f"n:{k}", "value": v, "options": {"ttl": 120}}
                                 for k, v in VALUES.items()]
    ops += [
        {"op": "set", "key": "n:large", "value": LARGE,
         "options": {"ttl": 3600, "compress": True, "compressionThreshold": 512}},
        {"op": "set", "key": "n:tagged", "value": TAGGED, "options": {"ttl": 300, "tags": TAGS}},
        {"op": "mset", "items": [{"key": "n:user:1", "value": {"name": "Alice"}, "ttl": 300},
                                 {"key": "n:user:2", "value": {"name": "Bob"}, "ttl": 300, "tags": ["users"]}]},
    ]
    node(cache, ops)

    # what Node wrote is a v1 envelope; the large one is compressed and the tagged one carries its tags
    env = wire.decode(cache.raw("n:large"))
    assert env.flags == 0x03 and json.loads(env.payload) == LARGE
    env = wire.decode(cache.raw("n:tagged"))
    assert [n for n, _ in env.tags] == TAGS
    assert all(cache.resp("GET", cache.tkey(n)) == tok for n, tok in env.tags)
    assert 119_000 < cache.resp("PTTL", cache.dkey("n:plain")) <= 120_000

    for key, value in VALUES.items():
        got = await cache_manager.get(f"n:{key}")
        assert json_equal(got, value), (key, got)
    assert await cache_manager.get("n:large") == LARGE
    assert await cache_manager.get("n:tagged") == TAGGED
    users = await cache_manager.mget(["n:user:2", "n:missing", "n:user:1"])
    assert list(users) == ["n:user:2", "n:missing", "n:user:1"]
    assert users == {"n:user:2": {"name": "Bob"}, "n:missing": None, "n:user:1": {"name": "Alice"}}


async def test_python_writes_node_reads(cache: Any) -> None:
    for key, value in VALUES.items():
        await cache_manager.set(f"p:{key}", value, ttl=120)
    await cache_manager.set("p:large", LARGE, ttl=3600, compress=True, compression_threshold=512)
    assert cache.raw("p:large")[3] == 0x03  # type: ignore[index]
    await cache_manager.set("p:tagged", TAGGED, ttl=300, tags=TAGS)
    await cache_manager.mset([{"key": "p:user:1", "value": {"name": "Alice"}, "ttl": 300},
                              {"key": "p:user:2", "value": {"name": "Bob"}, "tags": ["users"]}])
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=datetime.timezone.utc)
    await cache_manager.set("p:date", {"at": when, "day": datetime.date(2024, 5, 6)}, ttl=120)

    keys = [f"p:{k}" for k in VALUES]
    ops: list[dict[str, Any]] = [{"op": "get", "key": k} for k in keys]
    ops += [{"op": "get", "key": "p:large"}, {"op": "get", "key": "p:tagged"},
            {"op": "mget", "keys": ["p:user:2", "p:missing", "p:user:1"]},
            {"op": "parseDate", "key": "p:date", "field": "at"}, {"op": "get", "key": "p:date"},
            {"op": "get", "key": "p:missing"}]
    out = node(cache, ops)
    for key, got in zip(VALUES, out):
        assert got == VALUES[key], (key, got)
        if isinstance(got, dict):
            assert list(got) == list(VALUES[key]), key  # key order kept
    rest = out[len(VALUES):]
    assert rest[0] == LARGE
    assert rest[1] == TAGGED
    assert rest[2] == {"p:user:2": {"name": "Bob"}, "p:missing": None, "p:user:1": {"name": "Alice"}}
    assert rest[3] == ["p:user:2", "p:missing", "p:user:1"]  # a Map in input order
    assert rest[4] == int(when.timestamp() * 1000)  # the same instant for JS Date.parse
    assert rest[5]["day"] == "2024-05-06"
    assert rest[6] is None


@pytest.mark.cache_options(enable_l1=False)  # Redis only; the twin below runs with L1 on
async def test_tag_invalidation_crosses_languages(cache: Any) -> None:
    await cache_manager.set("py-owned", {"by": "python"}, ttl=300, tags=["t-py", "shared"])
    out = node(cache, [
        {"op": "set", "key": "node-owned", "value": {"by": "node"}, "options": {"ttl": 300, "tags": ["t-node"]}},
        {"op": "set", "key": "node-shared", "value": 1, "options": {"ttl": 300, "tags": ["shared"]}},
        {"op": "get", "key": "py-owned"},
    ])
    assert out[2] == {"by": "python"}
    assert await cache_manager.get("node-owned") == {"by": "node"}

    await cache_manager.invalidate_by_tags(["t-py"])  # from Python …
    out = node(cache, [
        {"op": "get", "key": "py-owned"},  # … misses in Node
        {"op": "get", "key": "node-owned"},
        {"op": "invalidate", "tags": ["t-node"]},  # from Node …
        {"op": "get", "key": "node-owned"},
    ])
    assert out == [None, {"by": "node"}, True, None]
    assert await cache_manager.get("node-owned") is None  # … misses in Python
    assert await cache_manager.get("py-owned") is None

    # a shared tag, invalidated from Node, reaches entries written by both languages
    await cache_manager.set("py-shared", 2, ttl=300, tags=["shared"])
    assert await cache_manager.mget(["py-shared", "node-shared"]) == {"py-shared": 2, "node-shared": 1}
    out = node(cache, [{"op": "invalidate", "tags": ["shared"]},
                       {"op": "mget", "keys": ["py-shared", "node-shared"]}])
    assert out[1] == {"py-shared": None, "node-shared": None}
    assert await cache_manager.mget(["py-shared", "node-shared"]) == {"py-shared": None, "node-shared": None}

    # and a write after the invalidation is visible on both sides
    node(cache, [{"op": "set", "key": "node-owned", "value": "again", "options": {"tags": ["t-node"]}}])
    assert await cache_manager.get("node-owned") == "again"



async def settle(cache: Any) -> None:
    """Wait until this process's bus subscriber has handled every message sent to it so far (Node's writes
    evict here when their messages arrive, possibly just after Python read the new value again)."""
    sys.path.insert(0, str(REPO / "tests" / "python"))
    import bus_peer  # tests/python/bus_peer.py

    await bus_peer.settle(lambda m: cache.resp("PUBLISH", f"{cache.ns}:bus", m), f"sync:{time.monotonic_ns()}")


async def l1_get(key: str) -> Any:
    """Python's get, asserting it was served from this process's L1 (no Redis read)."""
    before = await cache_manager.get_stats()
    value = await cache_manager.get(key)
    after = await cache_manager.get_stats()
    assert after.l1.hits == before.l1.hits + 1 and after.l2.hits + after.l2.misses == before.l2.hits + before.l2.misses, key
    return value


async def test_tag_invalidation_crosses_languages_with_l1(cache: Any) -> None:
    # The twin of the test above with L1 on (the default): Python's L1 holds the entries when Node
    # invalidates or rewrites them, and the invalidation bus must evict them (docs/bus.md).
    await cache_manager.set("py-owned", {"by": "python"}, ttl=300, tags=["t-py", "shared"])
    assert await l1_get("py-owned") == {"by": "python"}
    out = node(cache, [
        {"op": "set", "key": "node-owned", "value": {"by": "node"}, "options": {"ttl": 300, "tags": ["t-node"]}},
        {"op": "set", "key": "node-shared", "value": 1, "options": {"ttl": 300, "tags": ["shared"]}},
        {"op": "get", "key": "py-owned"},
    ])
    assert out[2] == {"by": "python"}
    await settle(cache)
    assert await cache_manager.get("node-owned") == {"by": "node"}
    assert await l1_get("node-owned") == {"by": "node"}  # now in Python's L1

    await cache_manager.invalidate_by_tags(["t-py"])  # from Python …
    out = node(cache, [
        {"op": "get", "key": "py-owned"},  # … misses in Node
        {"op": "get", "key": "node-owned"},
        {"op": "invalidate", "tags": ["t-node"]},  # from Node …
        {"op": "get", "key": "node-owned"},
    ])
    assert out == [None, {"by": "node"}, True, None]
    assert await cache_manager.get("node-owned") is None  # … misses in Python, whose L1 had it
    assert await cache_manager.get("py-owned") is None

    # a shared tag, invalidated from Node, reaches entries written by both languages, in Python's L1 too
    await cache_manager.set("py-shared", 2, ttl=300, tags=["shared"])
    assert await cache_manager.mget(["py-shared", "node-shared"]) == {"py-shared": 2, "node-shared": 1}
    assert await l1_get("py-shared") == 2 and await l1_get("node-shared") == 1
    out = node(cache, [{"op": "invalidate", "tags": ["shared"]},
                       {"op": "mget", "keys": ["py-shared", "node-shared"]}])
    assert out[1] == {"py-shared": None, "node-shared": None}
    assert await cache_manager.mget(["py-shared", "node-shared"]) == {"py-shared": None, "node-shared": None}

    # and a write after the invalidation is visible on both sides, replacing what Python's L1 had
    await cache_manager.set("node-owned", "python's", ttl=300)
    assert await l1_get("node-owned") == "python's"
    node(cache, [{"op": "set", "key": "node-owned", "value": "again", "options": {"tags": ["t-node"]}}])
    assert await cache_manager.get("node-owned") == "again"
    assert node(cache, [{"op": "get", "key": "node-owned"}]) == ["again"]

async def test_node_dates_read_as_iso_strings(cache: Any) -> None:
    iso = "2024-05-06T07:08:09.123Z"
    node(cache, [
        {"op": "set", "key": "when", "value": {"at": {"$date": iso}, "list": [{"$date": "1999-12-31T23:59:59.999Z"}]}},
        {"op": "set", "key": "top", "value": {"$date": iso}},
    ])
    got = await cache_manager.get("when")
    assert got == {"at": iso, "list": ["1999-12-31T23:59:59.999Z"]}
    assert await cache_manager.get("top") == iso
    parsed = datetime.datetime.fromisoformat(got["at"].replace("Z", "+00:00"))
    assert parsed == datetime.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=datetime.timezone.utc)


async def test_same_error_codes_for_the_same_bad_input(cache: Any) -> None:
    cases: list[tuple[str, list[Any], Any]] = [
        ("set", ["k", 1, {"ttl": -1}], lambda: cache_manager.set("k", 1, ttl=-1)),
        ("set", ["k", 1, {"ttl": 0}], lambda: cache_manager.set("k", 1, ttl=0)),
        ("set", ["k", 1, {"tags": "abc"}], lambda: cache_manager.set("k", 1, tags="abc")),
        ("get", [""], lambda: cache_manager.get("")),
        ("get", ["x" * 1025], lambda: cache_manager.get("x" * 1025)),
        ("set", ["", 1], lambda: cache_manager.set("", 1)),
    ]
    out = node(cache, [{"op": "error", "call": call, "args": args} for call, args, _ in cases])
    for (call, args, py_call), js in zip(cases, out):
        assert js["code"] is not None, (call, args)
        with pytest.raises((InvalidArgumentError, InvalidKeyError)) as info:
            await py_call()
        assert info.value.code == js["code"], (args, js, str(info.value))
        options = args[-1] if isinstance(args[-1], dict) else {}
        if "ttl" in options:  # the core words option errors, so both languages say the same
            assert str(info.value) == js["message"] == f"ttl must be > 0, got {options['ttl']}"
    assert cache.resp.keys(f"{cache.ns}:*") == []


async def test_values_python_cannot_read_are_refused_when_node_writes_them(cache: Any) -> None:
    # A lone UTF-16 surrogate and nesting past 128 levels are not portable JSON: Node refuses them with a
    # TypeError at set time instead of storing something Python (or Rust) cannot read back.
    got = node(cache, [
        {"op": "error", "call": "set", "args": ["lone", {"s": {"$units": [0x61, 0xD800, 0x62]}}]},
        {"op": "error", "call": "set", "args": ["deep", {"$nested": 200}]},
    ])
    for result, key in zip(got, ["lone", "deep"]):
        assert result["code"] == "ERR_STRATACACHE_SERIALIZATION", result
        assert result["type"] == "TypeError", result
        assert key in result["message"], result
        assert cache.raw(key) is None
