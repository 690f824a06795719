"""The cross-language vectors (tests/vectors/v1/) through the Python package and a real Redis.

Envelopes are planted byte for byte and must read back as their JSON; corrupt bytes must read as
misses and be counted; what Python writes must have the documented layout (docs/wire-format.md);
the error classes must match error-codes.json.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import stratacache
import stratacache.errors as errors_mod
from stratacache import cache_manager, create_redis_client, initialize_cache_system, shutdown_cache_system

MAX_VALUE_BYTES = 1_048_576  # the max_value_bytes of envelopes.json and corrupt.json


def plant_envelopes(cache: Any, cases: list[dict[str, Any]], *, stale_tag: str | None = None) -> None:
    commands: list[tuple[Any, ...]] = []
    for case in cases:
        commands.append(("SET", cache.dkey(case["name"]), bytes.fromhex(case["hex"]), "PX", 60_000))
        for tag in case["expect"]["tags"]:
            token = bytes.fromhex(tag["token_hex"])
            if tag["tag"] == stale_tag:
                token = bytes(b ^ 0xFF for b in token)
            commands.append(("SET", cache.tkey(tag["tag"]), token, "PX", 60_000))
    replies = cache.resp.pipeline(commands)
    assert all(r == "OK" for r in replies), replies


@pytest.mark.cache_options(max_value_bytes=MAX_VALUE_BYTES)
async def test_every_envelope_vector_reads_back(cache: Any, vectors: Any, json_equal: Any) -> None:
    env = vectors["envelopes"]
    assert env["format_version"] == 1 and env["max_value_bytes"] == MAX_VALUE_BYTES
    cases = env["cases"]
    assert len(cases) >= 20 and any(c["expect"]["compressed"] for c in cases)
    assert any(len(c["expect"]["tags"]) == 256 for c in cases)
    plant_envelopes(cache, cases)

    for case in cases:
        expected = json.loads(case["expect"]["json"])
        got = await cache_manager.get(case["name"])
        assert json_equal(got, expected), (case["name"], got)
        if expected is not None:
            assert got is not None  # a hit, not a miss
    stats = await cache_manager.get_stats()
    assert stats.corrupt_entries == 0 and stats.l2.errors == 0
    # every case but the JSON null is an L2 hit (null reads as None, indistinguishable from a miss here)
    assert stats.l2.hits >= len(cases) - 1

    # the same through mget, from Redis (empty L1)
    await cache.restart()
    names = [c["name"] for c in cases]
    many = await cache_manager.mget(names)
    assert list(many) == names
    for case in cases:
        assert json_equal(many[case["name"]], json.loads(case["expect"]["json"])), case["name"]


@pytest.mark.cache_options(max_value_bytes=MAX_VALUE_BYTES)
async def test_tagged_vectors_miss_when_a_token_is_stale_or_gone(cache: Any, vectors: Any) -> None:
    tagged = [c for c in vectors["envelopes"]["cases"] if c["expect"]["tags"] and c["name"] != "tagged-256"]
    assert len(tagged) >= 3
    plant_envelopes(cache, tagged, stale_tag="users")
    for case in tagged:
        tags = [t["tag"] for t in case["expect"]["tags"]]
        got = await cache_manager.get(case["name"])
        if "users" in tags:
            assert got is None, case["name"]
        else:
            assert got == json.loads(case["expect"]["json"]), case["name"]
    # a tag key that is gone: a miss too
    await cache.restart()
    plant_envelopes(cache, tagged)
    cache.resp("DEL", cache.tkey("catalog"))
    for case in tagged:
        tags = [t["tag"] for t in case["expect"]["tags"]]
        got = await cache_manager.get(case["name"])
        assert (got is None) == ("catalog" in tags), case["name"]


@pytest.mark.cache_options(max_value_bytes=MAX_VALUE_BYTES)
async def test_every_corrupt_vector_is_a_counted_miss(cache: Any, vectors: Any) -> None:
    corrupt = vectors["corrupt"]
    assert corrupt["max_value_bytes"] == MAX_VALUE_BYTES
    cases = corrupt["cases"]
    assert {c["reason"] for c in cases} == {"foreign", "future_version", "unknown_flags", "corrupt", "too_large"}
    replies = cache.resp.pipeline([("SET", cache.dkey(c["name"]), bytes.fromhex(c["hex"]), "PX", 60_000)
                                   for c in cases])
    assert all(r == "OK" for r in replies)

    for n, case in enumerate(cases, start=1):
        assert await cache_manager.get(case["name"]) is None, case["name"]
        stats = await cache_manager.get_stats()
        assert stats.corrupt_entries == n, (case["name"], stats)
    assert stats.l2.errors >= len(cases)
    assert stats.l2.hits == 0

    # not cached, not deleted: it reads as a miss again, from Redis
    assert await cache_manager.get(cases[0]["name"]) is None
    assert (await cache_manager.get_stats()).corrupt_entries == len(cases) + 1
    assert all(cache.resp("EXISTS", cache.dkey(c["name"])) == 1 for c in cases)
    many = await cache_manager.mget([c["name"] for c in cases])
    assert list(many.values()) == [None] * len(cases)

    # the next write replaces an undecodable entry
    await cache_manager.set(cases[0]["name"], "replaced")
    await cache.restart()
    assert await cache_manager.get(cases[0]["name"]) == "replaced"


async def test_python_writes_the_documented_layout(cache: Any, wire: Any) -> None:
    value = {"name": "Zoë café 🚀", "n": [1, -7, 3.25, True, False, None], "s": 'quote " back \\ nl \n tab \t \x01',
             "nested": {"a": [], "b": {}}}
    t0 = int(time.time() * 1000)
    await cache_manager.set("layout", value, ttl=90)
    t1 = int(time.time() * 1000)
    raw = cache.raw("layout")
    assert raw is not None
    assert raw[:2] == b"SC" and raw[2] == 1 and raw[3] == 0x00
    env = wire.decode(raw)
    assert t0 - 1000 <= env.created_at_ms <= t1 + 1000
    assert env.expires_at_ms - env.created_at_ms == 90_000
    assert env.tags == []
    assert raw[20:22] == b"\x00\x00"
    assert env.payload == wire.compact_json(value)
    assert raw[22:] == wire.compact_json(value)


async def test_python_writes_tag_stamps(cache: Any, wire: Any) -> None:
    await cache_manager.set("tagged", [1, 2], ttl=30, tags=["users", "org:42", "café-☕"])
    env = wire.decode(cache.raw("tagged"))
    assert env.flags == 0 and env.payload == b"[1,2]"
    assert [name for name, _ in env.tags] == ["users", "org:42", "café-☕"]
    for name, token in env.tags:
        assert len(token) == 8
        assert cache.resp("GET", cache.tkey(name)) == token
    # a second write with the same tags records the same (unchanged) tokens
    await cache_manager.set("tagged-2", "x", ttl=30, tags=["org:42"])
    assert wire.decode(cache.raw("tagged-2")).tags == [("org:42", dict(env.tags)["org:42"])]


async def test_python_compressed_layout(cache: Any, wire: Any) -> None:
    value = {"catalog": "spring", "items": [{"id": i, "sku": f"SKU-{i:05d}", "price": i * 2} for i in range(200)]}
    await cache_manager.set("packed", value, ttl=60, compress=True, compression_threshold=256, tags=["catalog"])
    raw = cache.raw("packed")
    assert raw is not None and raw[:4] == b"SC\x01\x03"
    env = wire.decode(raw)
    text = wire.compact_json(value)
    assert int.from_bytes(env.stored_payload[:4], "big") == len(text)
    assert len(env.stored_payload) < len(text)
    assert env.payload == text  # an independent LZ4 block decoder agrees
    assert [n for n, _ in env.tags] == ["catalog"]


async def test_key_schema_vectors(redis_server: Any, resp: Any, vectors: Any) -> None:
    cases = vectors["keys"]["cases"]
    namespaces = sorted({c["namespace"] for c in cases})
    try:
        for namespace in namespaces:
            for key in resp.keys(f"{namespace}:*"):  # this session's own server: clear what we will write
                resp("DEL", key)
            create_redis_client(url=redis_server.url, namespace=namespace)
            assert (await initialize_cache_system(cache={})).redis == "connected"
            mine = [c for c in cases if c["namespace"] == namespace]
            data = [c for c in mine if c["kind"] == "data"]
            await cache_manager.mset([{"key": c["input"], "value": i} for i, c in enumerate(data)])
            for i, c in enumerate([c for c in mine if c["kind"] == "tag"]):
                await cache_manager.set(f"probe:{i}", i, tags=[c["input"]])
            for c in mine:
                assert resp("EXISTS", c["redis_key"].encode("utf-8")) == 1, c
            await shutdown_cache_system()
    finally:
        await shutdown_cache_system()
        for namespace in namespaces:
            for key in resp.keys(f"{namespace}:*"):
                resp("DEL", key)


FAMILIES = {"value": ValueError, "type": TypeError, "timeout": TimeoutError, "connection": ConnectionError}


def _error_classes() -> list[type[stratacache.StrataCacheError]]:
    return [getattr(errors_mod, name) for name in errors_mod.__all__]


def test_every_error_class_code_is_in_the_vectors(vectors: Any) -> None:
    codes = {e["code"] for e in vectors["error-codes"]["errors"]}
    classes = _error_classes()
    assert len(classes) >= 12
    for cls in classes:
        assert issubclass(cls, stratacache.StrataCacheError)
        assert cls.code in codes, cls
        assert getattr(stratacache, cls.__name__) is cls  # exported from the package too
    # one class per code (the base class stands for nothing but its default)
    specific = [cls for cls in classes if cls is not stratacache.StrataCacheError]
    assert sorted(cls.code for cls in specific) == sorted(codes)


def test_every_vector_code_maps_to_a_class_of_its_family(vectors: Any) -> None:
    entries = vectors["error-codes"]["errors"]
    assert [e["code"] for e in entries] == [
        "ERR_STRATACACHE_" + "".join("_" + ch if ch.isupper() and i else ch for i, ch in enumerate(e["kind"])).upper()
        for e in entries
    ]
    for entry in entries:
        err = errors_mod._from_code(entry["code"], f"boom {entry['kind']}")
        assert isinstance(err, stratacache.StrataCacheError)
        assert type(err) is not stratacache.StrataCacheError, entry  # a specific class
        assert err.code == entry["code"]
        assert str(err) == f"boom {entry['kind']}"
        family = entry["family"]
        if family == "runtime":
            assert not isinstance(err, tuple(FAMILIES.values())), entry
        else:
            assert isinstance(err, FAMILIES[family]), entry
            for other, builtin in FAMILIES.items():
                if other != family and not issubclass(FAMILIES[family], builtin):
                    assert not isinstance(err, builtin), (entry, other)


def test_unknown_code_maps_to_the_base_class() -> None:
    err = errors_mod._from_code("ERR_STRATACACHE_FROM_THE_FUTURE", "new kind")
    assert type(err) is stratacache.StrataCacheError
    assert err.code == "ERR_STRATACACHE_FROM_THE_FUTURE"


def test_cluster_lock_keys_share_the_data_keys_slot(vectors: Any) -> None:
    """cluster-keys.json: on Redis Cluster a load lock is ``{ns}:lk:{S}:{key}``, S the smallest decimal number
    whose slot is the data key's slot (docs/key-schema.md)."""
    from conftest import cluster_lock_key, key_slot

    assert key_slot("foo") == 12182, "the CRC16 of Redis Cluster"
    cases = vectors["cluster-keys"]["cases"]
    assert len(cases) > 5
    for c in cases:
        assert c["data_key"] == f"{c['namespace']}:d:{c['input']}"
        assert key_slot(c["data_key"]) == key_slot(c["lock_key"]) == c["slot"], c
        assert cluster_lock_key(c["namespace"], c["input"]) == c["lock_key"]
