"""The invalidation bus from Python (docs/bus.md; contract §4 cacheInvalidator / domainInvalidator, the last
sentences of cacheManager; §7): a write or an invalidation in one process evicts the other process's L1
within milliseconds; ``on_invalidation`` events, local and remote; writes from outside the library (client
tracking); L1 cleared after a bus gap; the process's own writes stay in its L1; domain rules; the bus
messages on the wire; a clean exit under ``python -X dev -W error``.

Process A is this test process (the ``cache`` fixture); process B is a long-lived child
(tests/python/bus_peer.py) on the same Redis and namespace, driven line by line. Every wait is bounded
(polls give up after 2 s).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Optional

import pytest

from peer_process import Peer

import stratacache
from stratacache import (
    InvalidArgumentError,
    InvalidationEvent,
    StrataCacheError,
    cache_invalidator,
    cache_manager,
    create_redis_client,
    domain_invalidator,
    initialize_cache_system,
    shutdown_cache_system,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bus_peer  # noqa: E402 - the peer's operations, also run in this process

PEER = HERE / "bus_peer.py"
VECTORS = HERE.parents[0] / "vectors" / "v1" / "bus.json"
POLL_S = 2.0
# "Within milliseconds": well under 1 ms here; the bound leaves room for a loaded 2-core machine.
EVICTION_BOUND_S = 0.5
MISS = stratacache._native.MISS  # type: ignore[attr-defined]


def native() -> Any:
    return stratacache._handle.current()  # type: ignore[attr-defined]


def in_l1(key: str) -> bool:
    return native().get_l1(key) is not MISS


def own_source() -> str:
    return str(native().bus_source())


async def poll(check: Callable[[], Any], what: str, timeout: float = POLL_S) -> float:
    """Wait until ``check()`` is truthy (at most ``timeout`` ≤ 2 s); returns the seconds it took."""
    t0 = time.monotonic()
    deadline = t0 + min(timeout, POLL_S)
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.001)
    return time.monotonic() - t0


async def local_get(key: str) -> dict[str, Any]:
    """A's get, with whether it was an L1 hit and how many Redis reads it made (get_stats deltas)."""
    return await bus_peer.get(key)


async def bus_connected() -> None:
    await poll(lambda: native().bus_stats()["connected"], "this process's bus subscriber to connect")


# ----- process B ----------------------------------------------------------------------------------


@pytest.fixture
async def peer(cache: Any, venv_python: str, child_env: dict[str, str]) -> AsyncIterator[Peer]:
    await bus_connected()
    p = await Peer.start(venv_python, child_env, [str(PEER), cache.url, cache.ns])
    try:
        yield p
    finally:
        await p.close()


_sync_ids = itertools.count()


async def settle(cache: Any, peer: Optional[Peer]) -> None:
    """Wait until the bus subscriber of A (``peer is None``) or of B has handled every message sent to it
    so far, e.g. the messages of a write that process is about to read (see ``bus_peer.settle``)."""
    target = f"sync:{next(_sync_ids)}"

    def publish(message: str) -> None:
        cache.resp("PUBLISH", f"{cache.ns}:bus", message)

    if peer is None:
        await bus_peer.settle(publish, target)
    else:
        publish(bus_peer.sync_message(target))
        await peer.call("sync", target=target)


class Side:
    """One process of a two-process test: this one (``peer is None``) or B."""

    def __init__(self, name: str, peer: Optional[Peer]) -> None:
        self.name = name
        self.peer = peer

    async def run(self, op: str, **args: Any) -> Any:
        if self.peer is not None:
            return await self.peer.call(op, **args)
        return await bus_peer.run({"op": op, **args})

    async def settle(self, cache: Any) -> None:
        await settle(cache, self.peer)


# ----- a write or an invalidation in one process evicts the other process's L1 ---------------------

K = "bus:k"
OTHER = "bus:other"
# op name → (the writer's call, what the reader reads afterwards)
CHANGES: dict[str, tuple[dict[str, Any], Any]] = {
    "set": ({"op": "set", "key": K, "value": {"v": 2}}, {"v": 2}),
    "delete": ({"op": "delete", "key": K}, None),
    "mset": ({"op": "mset", "items": [{"key": OTHER, "value": 0}, {"key": K, "value": {"v": 2}, "ttl": 60}]},
             {"v": 2}),
    "invalidate_tags": ({"op": "invalidate_tags", "tags": ["t-other", "t1"]}, None),
    "invalidate_pattern": ({"op": "invalidate_pattern", "glob": "bus:?"}, None),
    "invalidate_keys": ({"op": "invalidate_keys", "keys": [OTHER, K]}, None),
    "cache_manager.invalidate_by_tags": ({"op": "invalidate_by_tags", "tags": ["t1"]}, None),
}


@pytest.mark.parametrize("direction", ["A->B", "B->A"])
@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_change_in_one_process_evicts_the_other_process_l1(cache: Any, peer: Peer, change: str,
                                                                 direction: str) -> None:
    a, b = Side("A (this process)", None), Side("B (child)", peer)
    writer, reader = (a, b) if direction == "A->B" else (b, a)
    await writer.run("set", key=K, value={"v": 1}, ttl=120, tags=["t1"])
    await reader.settle(cache)  # the write's own messages are behind the reader

    first = await reader.run("get", key=K)
    assert first["value"] == {"v": 1}
    # Before the change the reader really serves K from its L1: a hit, no Redis read.
    for _ in range(2):
        again = await reader.run("get", key=K)
        assert again == {"value": {"v": 1}, "l1_hit": True, "redis_reads": 0}, (reader.name, again)

    call, expected = CHANGES[change]
    await writer.run(**call)
    t0 = time.monotonic()
    await reader.run("wait_evicted", key=K, timeout=POLL_S)
    elapsed = time.monotonic() - t0
    assert elapsed < EVICTION_BOUND_S, f"{reader.name}'s L1 kept {K!r} for {elapsed * 1000:.0f} ms after {change}"
    await reader.settle(cache)  # a write's second message (bus or tracking) would evict the value read next

    after = await reader.run("get", key=K)
    assert after["value"] == expected, (change, after)
    assert after["l1_hit"] is False and after["redis_reads"] == 1, after
    if expected is not None:  # the new value is cached again, and then served from L1
        assert await reader.run("get", key=K) == {"value": expected, "l1_hit": True, "redis_reads": 0}


# ----- listeners -----------------------------------------------------------------------------------


def shape(events: list[Any]) -> list[tuple[str, list[str]]]:
    return [(e["type"], list(e["target"])) for e in events]


async def test_events_are_local_here_and_remote_elsewhere(peer: Peer) -> None:
    got: list[InvalidationEvent] = []
    unsubscribe = cache_invalidator.on_invalidation(got.append)
    try:
        me = own_source()
        assert re.fullmatch(r"[0-9a-f]{16}", me) and re.fullmatch(r"[0-9a-f]{16}", peer.source)
        assert me != peer.source
        await cache_manager.set("k1", 1, tags=["t"])
        before_ms = int(time.time() * 1000)
        assert await cache_invalidator.invalidate_keys(["k1", "k2"]) == 1
        await cache_invalidator.invalidate_tags(["t", "u"])
        assert await cache_invalidator.invalidate_pattern("p:*") == 0
        assert await cache_manager.delete("k3") is False
        await cache_manager.invalidate_by_tags(["v"])
        after_ms = int(time.time() * 1000)
        expected = [("key", ["k1", "k2"]), ("tag", ["t", "u"]), ("pattern", ["p:*"]), ("key", ["k3"]),
                    ("tag", ["v"])]

        await poll(lambda: len(got) >= len(expected), "the local events")
        assert shape(got) == expected
        for e in got:
            assert isinstance(e, InvalidationEvent)
            assert e.local is True and e.source == me, e
            assert e["local"] is True and e["source"] == me and e["type"] == e.type  # also a mapping
            assert set(e) == {"type", "target", "source", "timestamp", "local"}
            assert isinstance(e.timestamp, int) and before_ms - 5 <= e.timestamp <= after_ms + 5, e

        remote = await peer.call("wait_events", n=len(expected), timeout=POLL_S)
        assert shape(remote) == expected
        assert all(e["local"] is False and e["source"] == me for e in remote), remote
        # the same messages: a key or pattern event has the timestamp of the published message
        assert [remote[i]["timestamp"] for i in (0, 2, 3)] == [got[i].timestamp for i in (0, 2, 3)]

        # and the other way round
        got.clear()
        assert await peer.call("invalidate_keys", keys=["k9"]) == 0
        await peer.call("invalidate_tags", tags=["users"])
        await peer.call("invalidate_pattern", glob="ticket:*")
        await poll(lambda: len(got) >= 3, "B's events here")
        assert shape(got) == [("key", ["k9"]), ("tag", ["users"]), ("pattern", ["ticket:*"])]
        assert all(e.local is False and e.source == peer.source for e in got), got
        own = await peer.call("wait_events", n=3)
        assert all(e["local"] is True and e["source"] == peer.source for e in own), own
    finally:
        unsubscribe()


async def test_writes_fire_no_event(peer: Peer) -> None:
    got: list[InvalidationEvent] = []
    unsubscribe = cache_invalidator.on_invalidation(got.append)
    try:
        await cache_manager.set("w1", 1, tags=["t"])
        await cache_manager.mset([{"key": "w2", "value": 2}, {"key": "w3", "value": 3, "tags": ["t"]}])
        await peer.call("set", key="w4", value=4)
        await peer.call("mset", items=[{"key": "w5", "value": 5}])
        # Markers: messages from one process arrive in order, so an event for a write would come first.
        await cache_invalidator.invalidate_keys(["marker-a"])
        await peer.call("invalidate_keys", keys=["marker-b"])
        await poll(lambda: len(got) >= 2, "the marker events")
        await asyncio.sleep(0.05)
        assert shape(got) == [("key", ["marker-a"]), ("key", ["marker-b"])]
        assert [e.local for e in got] == [True, False]
        assert shape(await peer.call("wait_events", n=2)) == [("key", ["marker-a"]), ("key", ["marker-b"])]
    finally:
        unsubscribe()


async def test_unsubscribe(cache: Any) -> None:
    calls: list[str] = []

    def first(e: InvalidationEvent) -> None:
        calls.append("first")

    def second(e: InvalidationEvent) -> None:
        calls.append("second")

    off_1 = cache_invalidator.on_invalidation(first)
    off_2 = cache_invalidator.on_invalidation(first)  # the same function twice: two registrations
    off_3 = cache_invalidator.on_invalidation(second)
    try:
        await cache_invalidator.invalidate_keys(["a"])
        await poll(lambda: len(calls) >= 3, "three calls")
        assert sorted(calls) == ["first", "first", "second"]

        off_1()
        off_1()  # idempotent: must not remove the other registration of the same function
        calls.clear()
        await cache_invalidator.invalidate_keys(["b"])
        await poll(lambda: len(calls) >= 2, "two calls")
        assert sorted(calls) == ["first", "second"]

        off_2()
        off_3()
        calls.clear()
        await cache_invalidator.invalidate_keys(["c"])
        cache.resp("PUBLISH", f"{cache.ns}:bus", foreign("key", ["d"]))  # a remote one too
        await poll(lambda: native().bus_stats()["received"] >= 1, "the foreign message")
        await asyncio.sleep(0.05)
        assert calls == []
    finally:
        for off in (off_1, off_2, off_3):
            off()


async def test_a_failing_listener_is_logged_not_propagated(cache: Any, caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    got: list[InvalidationEvent] = []

    async def async_boom(e: InvalidationEvent) -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError(f"async boom for {e.target}")

    def sync_boom(e: InvalidationEvent) -> None:
        raise RuntimeError(f"sync boom for {e.target}")

    async def async_ok(e: InvalidationEvent) -> None:
        await asyncio.sleep(0)
        got.append(e)

    offs = [cache_invalidator.on_invalidation(f) for f in (async_boom, sync_boom, async_ok)]
    try:
        with caplog.at_level(logging.ERROR, logger="stratacache"):
            await cache_invalidator.invalidate_tags(["x"])  # does not raise
            cache.resp("PUBLISH", f"{cache.ns}:bus", foreign("tag", ["y"]))  # a remote event too

            def failures() -> list[logging.LogRecord]:
                return [r for r in caplog.records if "on_invalidation listener failed" in r.getMessage()]

            await poll(lambda: len(failures()) >= 4 and len(got) >= 2, "4 logged failures and 2 events")
        assert [e.target for e in got] == [["x"], ["y"]]
        messages = sorted(str(r.exc_info[1]) for r in failures() if r.exc_info)
        assert messages == ["async boom for ['x']", "async boom for ['y']",
                            "sync boom for ['x']", "sync boom for ['y']"]
        assert all(r.name == "stratacache" for r in failures())
        # still working, and nothing reached the loop's exception handler ("never retrieved" & co.)
        await cache_invalidator.invalidate_keys(["z"])
        await poll(lambda: len(got) >= 3, "the next event")
        await asyncio.sleep(0.05)
        assert unhandled == []
    finally:
        for off in offs:
            off()
        loop.set_exception_handler(previous)


async def test_listener_and_rule_registered_before_the_system_starts(redis_server: Any, resp: Any, ns: str) -> None:
    assert stratacache._handle._system is None  # type: ignore[attr-defined]
    got: list[InvalidationEvent] = []
    off = cache_invalidator.on_invalidation(got.append)
    ids: list[str] = []

    def rule(id: str) -> dict[str, list[str]]:
        ids.append(id)
        return {"keys": [f"early:{id}"]}

    domain_invalidator.register("early-domain", rule)
    try:
        for round in range(2):  # and again after a shutdown: registrations outlive a system
            create_redis_client(url=redis_server.url, namespace=ns)
            assert (await initialize_cache_system(cache={})).redis == "connected"
            got.clear()
            await cache_invalidator.invalidate_keys(["k"])
            await poll(lambda: len(got) >= 1, "the local event")
            await bus_connected()
            resp("PUBLISH", f"{ns}:bus", foreign("tag", ["remote"]))
            await poll(lambda: len(got) >= 2, "the remote event")
            assert [(e.type, e.target, e.local) for e in got] == [("key", ["k"], True), ("tag", ["remote"], False)]
            assert await domain_invalidator.invalidate("early-domain", round) == {
                "keys": [f"early:{round}"], "tags": [], "patterns": []}
            assert resp("CLIENT", "LIST", "TYPE", "pubsub").count(b"sub=1") == 1  # one subscriber
            await shutdown_cache_system()
            # the shutdown stopped the subscriber: its connection is gone
            await poll(lambda: resp("CLIENT", "LIST", "TYPE", "pubsub") == b"", "the subscriber to disconnect")
        assert ids == ["0", "1"]
    finally:
        off()
        domain_invalidator.unregister("early-domain")
        await shutdown_cache_system()


# ----- writes from outside the library; gaps; own writes -------------------------------------------


async def test_a_raw_write_evicts_the_key_from_l1(cache: Any, wire: Any) -> None:
    await bus_connected()
    for key in ("raw:set", "raw:del", "raw:expire"):
        await cache_manager.set(key, "old", ttl=120)
        assert await local_get(key) == {"value": "old", "l1_hit": True, "redis_reads": 0}
    tracked = native().bus_stats()["tracked"]

    # like redis-cli: another client changes the keys under {ns}:d:
    cache.resp("SET", cache.dkey("raw:set"), wire.encode(wire.compact_json({"new": True})), "PX", 60_000)
    cache.resp("DEL", cache.dkey("raw:del"))
    cache.resp("PEXPIRE", cache.dkey("raw:expire"), 30_000)  # only the TTL changes: still a change
    for key in ("raw:set", "raw:del", "raw:expire"):
        assert await poll(lambda: not in_l1(key), f"{key!r} to leave L1") < EVICTION_BOUND_S
    assert native().bus_stats()["tracked"] >= tracked + 3

    assert await local_get("raw:set") == {"value": {"new": True}, "l1_hit": False, "redis_reads": 1}
    assert await local_get("raw:del") == {"value": None, "l1_hit": False, "redis_reads": 1}
    assert await local_get("raw:expire") == {"value": "old", "l1_hit": False, "redis_reads": 1}


async def test_flushdb_clears_l1(cache: Any) -> None:
    await bus_connected()
    await cache_manager.set("f1", 1)
    await cache_manager.set("f2", 2)
    assert in_l1("f1") and in_l1("f2")
    cache.resp("FLUSHDB")
    await poll(lambda: not in_l1("f1") and not in_l1("f2"), "L1 to be cleared")
    assert await cache_manager.get("f1") is None


async def test_after_a_bus_gap_l1_is_cleared_and_the_next_get_reads_redis(cache: Any, caplog: Any) -> None:
    await bus_connected()
    await cache_manager.set("gap", {"v": 1}, ttl=120)
    assert await local_get("gap") == {"value": {"v": 1}, "l1_hit": True, "redis_reads": 0}
    reconnects = native().bus_stats()["reconnects"]

    with caplog.at_level(logging.WARNING, logger="stratacache"):
        killed = cache.resp("CLIENT", "KILL", "TYPE", "pubsub")
        assert killed >= 1
        await poll(lambda: native().bus_stats()["reconnects"] > reconnects and native().bus_stats()["connected"],
                   "the bus to reconnect")
    assert any("L1 cleared" in r.getMessage() for r in caplog.records), caplog.records
    assert not in_l1("gap")
    assert await local_get("gap") == {"value": {"v": 1}, "l1_hit": False, "redis_reads": 1}
    assert await local_get("gap") == {"value": {"v": 1}, "l1_hit": True, "redis_reads": 0}


async def test_own_writes_stay_in_own_l1(cache: Any) -> None:
    await bus_connected()
    await cache_manager.set("own", {"v": 1}, ttl=60)
    await cache_manager.set("own-tagged", 2, ttl=60, tags=["own-tag"])
    await cache_manager.mset([{"key": "own-m1", "value": 3}, {"key": "own-m2", "value": 4, "tags": ["own-tag"]}])
    keys = {"own": {"v": 1}, "own-tagged": 2, "own-m1": 3, "own-m2": 4}
    stats0 = cache.resp.commandstats()
    for _ in range(2):
        for key, value in keys.items():
            assert await local_get(key) == {"value": value, "l1_hit": True, "redis_reads": 0}, key
        await asyncio.sleep(0.2)  # the bus message (and any tracking push) of the writes has come back
    assert native().bus_stats()["tracked"] == 0
    after = cache.resp.commandstats()
    reads = ("get", "mget", "getex", "evalsha", "eval", "fcall")
    assert {c: after.get(c, 0) for c in reads} == {c: stats0.get(c, 0) for c in reads}


# ----- domain_invalidator ----------------------------------------------------------------------------


async def test_domain_builtins(cache: Any, peer: Peer) -> None:
    entries = {
        "ticket:7": ["ticket:7"], "tickets:recent": ["tickets"], "dashboard:metrics": ["dashboard"],
        "ticket:8": ["ticket:8"], "user:3": ["user:3"], "user:3:profile": ["user:3"],
        "product:5": ["product:5"], "products:all": ["products"], "category:2": ["category:2"],
        "categories:tree": ["categories"], "user:4": ["user:4"],
    }
    for key, tags in entries.items():
        await cache_manager.set(key, key, ttl=120, tags=tags)
    await settle(cache, peer)
    for key in entries:
        await peer.call("get", key=key)
        assert (await peer.call("get", key=key))["l1_hit"], key
    events: list[InvalidationEvent] = []
    off = cache_invalidator.on_invalidation(events.append)
    try:
        cases: list[tuple[Any, Any, dict[str, list[str]], list[str]]] = [
            (domain_invalidator.invalidate_ticket, 7,
             {"keys": ["ticket:7"], "tags": ["ticket:7", "tickets", "dashboard"], "patterns": []},
             ["ticket:7", "tickets:recent", "dashboard:metrics"]),
            (domain_invalidator.invalidate_user, "3", {"keys": ["user:3"], "tags": ["user:3"], "patterns": []},
             ["user:3", "user:3:profile"]),
            (domain_invalidator.invalidate_product, 5,
             {"keys": ["product:5"], "tags": ["product:5", "products"], "patterns": []},
             ["product:5", "products:all"]),
            (domain_invalidator.invalidate_category, 2,
             {"keys": ["category:2"], "tags": ["category:2", "categories"], "patterns": []},
             ["category:2", "categories:tree"]),
        ]
        gone: set[str] = set()
        for method, id, targets, evicted in cases:
            events.clear()
            assert await method(id) == targets
            gone |= set(evicted)
            for key in evicted:
                assert await peer.call("wait_evicted", key=key) < EVICTION_BOUND_S * 1000
                assert await cache_manager.get(key) is None, key
            await poll(lambda: len(events) >= 2, "the key and tag events")
            assert shape(events) == [("key", targets["keys"]), ("tag", targets["tags"])]
        for key in set(entries) - gone:  # untouched, still served from B's L1
            assert await peer.call("get", key=key) == {"value": key, "l1_hit": True, "redis_reads": 0}, key
    finally:
        off()


class RuleFailed(Exception):
    pass


async def test_domain_registered_rules(cache: Any, peer: Peer) -> None:
    keys = {"order:1": [], "order:1:lines": [], "invoice:9": ["invoice:9"], "order:2": [], "user:5": []}
    for key, tags in keys.items():
        await cache_manager.set(key, 1, ttl=120, tags=tags)
    await settle(cache, peer)
    for key in keys:
        await peer.call("get", key=key)
    seen: list[str] = []

    def order_rule(id: str) -> dict[str, list[str]]:
        seen.append(id)
        return {"keys": [f"order:{id}"], "patterns": [f"order:{id}:*"]}

    async def invoice_rule(id: str) -> dict[str, list[str]]:
        await asyncio.sleep(0.01)
        seen.append(id)
        return {"tags": [f"invoice:{id}"]}

    failure = RuleFailed("the database is down")

    async def failing_rule(id: str) -> dict[str, list[str]]:
        raise failure

    try:
        domain_invalidator.register("order", order_rule)
        assert await domain_invalidator.invalidate("order", 1) == {
            "keys": ["order:1"], "tags": [], "patterns": ["order:1:*"]}
        # registered while the system runs (and after a first invalidate gave it the rules): used at once
        domain_invalidator.register("invoice", invoice_rule)
        assert await domain_invalidator.invalidate("invoice", "9") == {
            "keys": [], "tags": ["invoice:9"], "patterns": []}
        assert seen == ["1", "9"]
        for key in ("order:1", "order:1:lines", "invoice:9"):
            await peer.call("wait_evicted", key=key)
            assert await cache_manager.get(key) is None
        assert (await peer.call("get", key="order:2"))["l1_hit"]

        # a registered rule replaces a built-in, and B (which has no rule) sees the effect
        domain_invalidator.register("user", lambda id: {"keys": [f"user:{id}"], "tags": ["users"]})
        assert await domain_invalidator.invalidate_user(5) == {"keys": ["user:5"], "tags": ["users"], "patterns": []}
        await peer.call("wait_evicted", key="user:5")

        domain_invalidator.register("failing", failing_rule)
        with pytest.raises(RuleFailed) as info:
            await domain_invalidator.invalidate("failing", 1)
        assert info.value is failure
    finally:
        for name in ("order", "invoice", "user", "failing"):
            domain_invalidator.unregister(name)


async def test_unregistering_a_domain_rule(cache: Any) -> None:
    """A built-in domain falls back to its built-in rule; another domain is unknown again."""
    domain_invalidator.register("ticket", lambda id: {"tags": [f"custom-ticket:{id}"]})
    domain_invalidator.register("shipment", lambda id: {"keys": [f"shipment:{id}"]})
    try:
        assert await domain_invalidator.invalidate_ticket(1) == {"keys": [], "tags": ["custom-ticket:1"], "patterns": []}
        assert domain_invalidator.unregister("ticket") is True
        assert domain_invalidator.unregister("ticket") is False
        assert await domain_invalidator.invalidate_ticket(1) == {
            "keys": ["ticket:1"], "tags": ["ticket:1", "tickets", "dashboard"], "patterns": []}
        assert domain_invalidator.unregister("shipment") is True
        with pytest.raises(InvalidArgumentError, match="shipment"):
            await domain_invalidator.invalidate("shipment", 1)
    finally:
        domain_invalidator.unregister("ticket")
        domain_invalidator.unregister("shipment")


async def test_domain_errors(cache: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="no invalidation rule for domain \"nowhere\""):
        await domain_invalidator.invalidate("nowhere", 1)

    await cache_manager.set("a", 1, ttl=60)
    garbage: list[Any] = [None, 42, "keys", ["a"], {"keys": "a"}, {"keys": [1]}, {"keys": [""]},
                          {"nope": ["a"]}, {"keys": ["a"], "tags": [""]}, {"keys": ["a"], "tags": None},
                          {"keys": ["a"], "patterns": [{"p": 1}]}]
    try:
        for i, bad in enumerate(garbage):
            def rule(id: str, bad: Any = bad) -> Any:
                return bad

            async def async_rule(id: str, bad: Any = bad) -> Any:
                return bad

            for r in (rule, async_rule):
                domain_invalidator.register("garbage", r)
                with pytest.raises(InvalidArgumentError) as info:
                    await domain_invalidator.invalidate("garbage", i)
                message = str(info.value)
                assert "garbage" in message and isinstance(info.value, (ValueError, StrataCacheError)), message
                assert info.value.code == "ERR_STRATACACHE_INVALID_ARGUMENT"
                # checked before anything was invalidated
                assert await local_get("a") == {"value": 1, "l1_hit": True, "redis_reads": 0}, (bad, message)
        for bad_id in ("", None, True, 1.5, ["1"]):
            with pytest.raises(InvalidArgumentError, match="id must be"):
                await domain_invalidator.invalidate_ticket(bad_id)
        for bad_domain in ("", None):
            with pytest.raises(InvalidArgumentError, match="domain"):
                await domain_invalidator.invalidate(bad_domain, 1)
        with pytest.raises(InvalidArgumentError, match="domain"):
            domain_invalidator.register("", lambda id: {})
        with pytest.raises(InvalidArgumentError, match="rule must be callable"):
            domain_invalidator.register("x", 42)  # type: ignore[arg-type]
        assert await cache_manager.get("a") == 1
    finally:
        domain_invalidator.unregister("garbage")


async def test_invalidator_bad_arguments(cache: Any) -> None:
    for call in (lambda: cache_invalidator.invalidate_tags("users"),  # type: ignore[arg-type]
                 lambda: cache_invalidator.invalidate_tags([1]),  # type: ignore[list-item]
                 lambda: cache_invalidator.invalidate_tags([""]),
                 lambda: cache_invalidator.invalidate_keys("user:1"),
                 lambda: cache_invalidator.invalidate_pattern(""),
                 lambda: cache_invalidator.invalidate_pattern(None),  # type: ignore[arg-type]
                 lambda: cache_invalidator.on_invalidation("not a function")):  # type: ignore[arg-type]
        with pytest.raises(ValueError) as info:
            await call()  # type: ignore[misc]
        assert isinstance(info.value, StrataCacheError), info.value
    with pytest.raises(ValueError):
        await cache_invalidator.invalidate_keys([""])
    assert await cache_invalidator.invalidate_keys([]) == 0


# ----- the bus messages ----------------------------------------------------------------------------


def foreign(kind: str, target: list[str], src: str = "9f86d081884c7d65") -> str:
    return json.dumps({"v": 1, "src": src, "type": kind, "target": target, "ts": int(time.time() * 1000)})


def bus_vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text("utf-8"))  # type: ignore[no-any-return]


async def test_published_messages_have_the_format_of_the_vectors(cache: Any, redis_server: Any,
                                                                 resp_to: Any) -> None:
    vectors = bus_vectors()
    fields = {m["expect"]["type"]: list(m["expect"]) for m in vectors["messages"]}
    assert vectors["channel"]["channel"] == vectors["channel"]["namespace"] + ":bus"
    sub = resp_to(redis_server.port, timeout=POLL_S)
    try:
        assert sub("SUBSCRIBE", f"{cache.ns}:bus") == [b"subscribe", f"{cache.ns}:bus".encode(), 1]
        t0 = int(time.time() * 1000)
        await cache_manager.set("a", 1)
        await cache_manager.mset([{"key": "a", "value": 1}, {"key": "b", "value": 2, "tags": ["t"]}])
        await cache_manager.get("a")
        await cache_manager.get("never-written")
        await cache_manager.delete("a")
        await cache_invalidator.invalidate_keys(["a", "user:é"])
        await cache_invalidator.invalidate_tags(["tickets", "dashboard"])
        await cache_manager.invalidate_by_tags(["t"])
        await cache_invalidator.invalidate_pattern("ticket:*")
        t1 = int(time.time() * 1000)
        expected = [("write", ["a"]), ("write", ["a", "b"]), ("key", ["a"]), ("key", ["a", "user:é"]),
                    ("tag", ["tickets", "dashboard"]), ("tag", ["t"]), ("pattern", ["ticket:*"])]
        got = []
        for _ in expected:
            kind, channel, payload = sub._read_reply()
            assert (kind, channel) == (b"message", f"{cache.ns}:bus".encode())
            got.append(json.loads(payload.decode("utf-8")))
        assert [(m["type"], m["target"]) for m in got] == expected
        for m in got:
            assert list(m) == fields[m["type"]], m  # the vectors' fields, in their order
            assert type(m["v"]) is int and m["v"] == vectors["format_version"] == 1
            assert m["src"] == own_source()
            assert all(isinstance(t, str) for t in m["target"])
            assert type(m["ts"]) is int and t0 - 5 <= m["ts"] <= t1 + 5, (t0, m, t1)
        sub._sock.settimeout(0.2)
        with pytest.raises(OSError):  # nothing else (reads publish nothing)
            sub._read_reply()
    finally:
        sub.close()


async def test_vector_messages_from_another_process_are_applied_and_bad_ones_ignored(cache: Any) -> None:
    await bus_connected()
    vectors = bus_vectors()
    values = {"user:1": 1, "user:é": 2, "tickets:list": 3, "ticket:9": 4, "a": 5, "b": 6, "keep": 7}
    for key, value in values.items():
        await cache_manager.set(key, value, ttl=120, tags=["tickets"] if key == "tickets:list" else None)
        assert in_l1(key)
    got: list[InvalidationEvent] = []
    off = cache_invalidator.on_invalidation(got.append)
    try:
        received = native().bus_stats()["received"]
        channel = f"{cache.ns}:bus"
        for m in vectors["ignored"]:
            cache.resp("PUBLISH", channel, m["json"])
        for m in vectors["messages"]:
            cache.resp("PUBLISH", channel, m["json"])
        await poll(lambda: native().bus_stats()["received"] >= received + len(vectors["messages"]),
                   "the vector messages")
        await poll(lambda: len(got) >= 3, "the events")
        await asyncio.sleep(0.05)
        assert native().bus_stats()["received"] == received + len(vectors["messages"])
        events = [m["expect"] for m in vectors["messages"] if m["expect"]["type"] != "write"]
        assert [e.to_dict() for e in got] == [
            {"type": e["type"], "target": e["target"], "source": e["src"], "timestamp": e["ts"], "local": False}
            for e in events]
        for key in ("user:1", "user:é", "tickets:list", "ticket:9", "a", "b"):
            assert not in_l1(key), key
        assert await local_get("keep") == {"value": 7, "l1_hit": True, "redis_reads": 0}
    finally:
        off()


# ----- lifecycle -----------------------------------------------------------------------------------

SLOW_STEP = re.compile(r"^Executing <.*> took \d+\.\d+ seconds$")  # as in test_lifecycle.py

LIFECYCLE_CHILD = """
import asyncio, sys
from stratacache import (cache_invalidator, cache_manager, create_redis_client, domain_invalidator,
                         initialize_cache_system, shutdown_cache_system)
URL, NS = sys.argv[1], sys.argv[2]
events, slow_started = [], []

async def slow(event):  # still running when the system shuts down
    slow_started.append(event)
    await asyncio.sleep(30)

async def async_listener(event):
    await asyncio.sleep(0)
    events.append(("async", event.type))

off_slow = cache_invalidator.on_invalidation(slow)
cache_invalidator.on_invalidation(lambda e: events.append(("sync", e.type)))
cache_invalidator.on_invalidation(async_listener)

async def rule(id):
    await asyncio.sleep(0)
    return {"keys": [f"x:{id}"]}
domain_invalidator.register("x", rule)

async def main():
    create_redis_client(url=URL, namespace=NS)
    assert (await initialize_cache_system()).redis == "connected"
    await cache_manager.set("k", 1, tags=["t"])
    await cache_invalidator.invalidate_tags(["t"])
    assert await cache_invalidator.invalidate_keys(["k"]) == 1
    assert await cache_invalidator.invalidate_pattern("k*") == 0
    assert (await domain_invalidator.invalidate("x", 1))["keys"] == ["x:1"]
    for _ in range(2000):
        if len(events) >= 8:
            break
        await asyncio.sleep(0.001)
    assert sorted(events) == sorted([(kind, t) for kind in ("sync", "async") for t in ("tag", "key", "pattern", "key")]), events
    assert len(slow_started) == 4
    off_slow()
    await shutdown_cache_system()
    print("ok")

asyncio.run(main())
"""


def test_a_child_with_listeners_exits_cleanly_under_dev_mode(venv_python: str, child_env: dict[str, str],
                                                             redis_server: Any, ns: str) -> None:
    proc = subprocess.run([venv_python, "-X", "dev", "-W", "error", "-c", textwrap.dedent(LIFECYCLE_CHILD),
                           redis_server.url, ns], capture_output=True, text=True, timeout=30, env=child_env,
                          check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    stderr = [line for line in proc.stderr.splitlines() if not SLOW_STEP.match(line)]
    assert stderr == [], proc.stderr
    assert proc.stdout.strip() == "ok"



TWO_LOOPS_CHILD = """
import asyncio, sys
from stratacache import cache_invalidator, create_redis_client, initialize_cache_system, shutdown_cache_system
URL, NS = sys.argv[1], sys.argv[2]
got = []
cache_invalidator.on_invalidation(lambda e: got.append(e.target[0]))

async def wait_for(n):
    for _ in range(2000):
        if len(got) >= n:
            return
        await asyncio.sleep(0.001)

async def first():
    create_redis_client(url=URL, namespace=NS)
    assert (await initialize_cache_system()).redis == "connected"
    await cache_invalidator.invalidate_keys(["in-first"])
    await wait_for(1)

async def second():  # the same system, used from the next loop (the first one is closed)
    await cache_invalidator.invalidate_keys(["in-second"])
    await wait_for(2)
    await shutdown_cache_system()

asyncio.run(first())
asyncio.run(second())
print(got)
"""


def test_listeners_follow_the_system_to_the_next_event_loop(venv_python: str, child_env: dict[str, str],
                                                           redis_server: Any, ns: str) -> None:
    proc = subprocess.run([venv_python, "-X", "dev", "-W", "error", "-c", TWO_LOOPS_CHILD, redis_server.url, ns],
                          capture_output=True, text=True, timeout=30, env=child_env, check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert [line for line in proc.stderr.splitlines() if not SLOW_STEP.match(line)] == [], proc.stderr
    assert proc.stdout.strip() == "['in-first', 'in-second']"
