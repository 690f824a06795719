"""Contract §8 (coherence guarantees) from Python: the twins of core/tests/coherence_l1.rs,
core/tests/coherence_loads.rs and core/tests/coherence_faults.rs, checked through the package's public API.

- After an invalidation resolves, nothing invalidated is served, in this process or another one.
- A load that started before an invalidation (or a write) does not store its older result.
- An invalidation that did not reach Redis raises (it is never silently lost).
- Redis error replies (OOM) are faults: degraded writes, ``on_redis_error`` for rate limits.
- A process that cannot hear the bus (frozen connection, tracking refused, channel refused by an ACL)
  stops serving its L1 within 5 s, and its bus state says so.
- No call hangs (CLIENT PAUSE), and a panic in native code is an ``InternalError``, not a crash.

Process A is this test process; process B is a child (tests/python/bus_peer.py, or an extension of it)
on the same Redis and namespace. Faults come from tests/python/fault_proxy.py and from Redis itself
(ACL, CONFIG SET maxmemory, CLIENT PAUSE); those tests use a private redis-server. Every wait is
bounded (polls with a deadline).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import pytest

import stratacache
from stratacache import (
    CacheConnectionError,
    CacheTimeoutError,
    InternalError,
    StrataCacheError,
    cache_aside,
    cache_invalidator,
    cache_manager,
    create_redis_client,
    initialize_cache_system,
    redis_rate_limiter,
    shutdown_cache_system,
)
from stratacache import _native
from stratacache._bridge import bridge_for

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fault_proxy import FaultProxy  # noqa: E402
from peer_process import Peer  # noqa: E402

PEER = HERE / "bus_peer.py"
MISS = _native.MISS
TIMEOUT_MS = 500  # command (and connect) timeout of the systems that meet faults, as in the Rust twins
UNAVAILABLE = ("ERR_STRATACACHE_CONNECTION", "ERR_STRATACACHE_TIMEOUT")


def native() -> Any:
    return stratacache._handle.current()  # type: ignore[attr-defined]


def bus_state() -> str:
    return str(native().bus_stats()["state"])


def in_l1(key: str) -> bool:
    return native().get_l1(key) is not MISS


async def within(limit: float, what: str, check: Callable[[], Any], interval: float = 0.02) -> float:
    """Poll ``check`` (sync or async) until it is truthy; fail after ``limit`` s. Returns the seconds it took."""
    t0 = time.monotonic()
    for _ in range(100_000):  # bounded by the deadline below
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            break
        await asyncio.sleep(interval)
    pytest.fail(f"{what}: not within {limit} s")


def bounded(aw: Awaitable[Any], timeout: float = 10.0) -> Awaitable[Any]:
    return asyncio.wait_for(aw, timeout)


async def start_system(url: str, ns: str, **redis: Any) -> None:
    """Configure and start the process-wide system (default cache options), as the ``cache`` fixture does."""
    create_redis_client(url=url, namespace=ns, **redis)
    result = await initialize_cache_system(cache={})
    assert result.redis == "connected", result


# ----- process B ----------------------------------------------------------------------------------

# bus_peer.py with two more ops (and an L1 large enough for 10,000 entries):
# ``served`` {prefix, n} → {served, l1_hits}: reads prefix0..prefix{n-1} at 64 in flight;
# ``until_none_served`` {prefix, n, timeout} → {served, passes, ms}: repeats ``served`` until none is
# served or ``timeout`` s have passed (``passes``: what each pass served).
EXTENDED_PEER = """
import asyncio, sys, time
sys.path.insert(0, sys.argv[3])
import bus_peer
import stratacache
from stratacache import cache_manager

stratacache.get_cache_manager(l1_max_size=20_000)
plain_run = bus_peer.run

async def served(prefix, n):
    gate = asyncio.Semaphore(64)
    async def one(i):
        async with gate:
            return await cache_manager.get(prefix + str(i)) is not None
    before = (await cache_manager.get_stats()).l1.hits
    count = sum(await asyncio.gather(*(one(i) for i in range(n))))
    return {"served": count, "l1_hits": (await cache_manager.get_stats()).l1.hits - before}

async def until_none_served(prefix, n, timeout):
    t0 = time.monotonic()
    passes = []
    for _ in range(1000):
        passes.append((await served(prefix, n))["served"])
        if passes[-1] == 0 or time.monotonic() - t0 > timeout:
            break
        await asyncio.sleep(0.02)
    return {"served": passes[-1], "passes": passes, "ms": (time.monotonic() - t0) * 1000}

async def run(cmd):
    if cmd["op"] == "served":
        return await served(cmd["prefix"], cmd["n"])
    if cmd["op"] == "until_none_served":
        return await until_none_served(cmd["prefix"], cmd["n"], cmd["timeout"])
    return await plain_run(cmd)

bus_peer.run = run
asyncio.run(bus_peer.main(sys.argv[1], sys.argv[2]))
"""


async def bus_live() -> None:
    await within(2, "this process's bus to be live", lambda: bus_state() == "live")


@pytest.fixture
async def peer(cache: Any, venv_python: str, child_env: dict[str, str]) -> AsyncIterator[Peer]:
    await bus_live()
    p = await Peer.start(venv_python, child_env, [str(PEER), cache.url, cache.ns])
    try:
        yield p
    finally:
        await p.close()


# ----- coherence_l1.rs: after an invalidation resolves, nothing invalidated is served -------------

N = 10_000
IN_FLIGHT = 64


async def at_most_64(n: int, one: Callable[[int], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def guarded(i: int) -> Any:
        async with gate:
            return await one(i)

    return list(await asyncio.gather(*(guarded(i) for i in range(n))))


async def served_here(prefix: str, n: int) -> dict[str, int]:
    """How many of prefix0..prefix{n-1} this process serves (any tier), and how many were L1 hits."""
    before = (await cache_manager.get_stats()).l1.hits

    async def one(i: int) -> bool:
        return await cache_manager.get(f"{prefix}{i}") is not None

    count = sum(await at_most_64(n, one))
    return {"served": count, "l1_hits": (await cache_manager.get_stats()).l1.hits - before}


@pytest.mark.cache_options(l1_max_size=20_000)
async def test_a_tag_invalidation_of_10000_fresh_entries_leaves_none_served_anywhere(
        cache: Any, venv_python: str, child_env: dict[str, str]) -> None:
    await bus_live()
    b = await Peer.start(venv_python, child_env, ["-c", EXTENDED_PEER, cache.url, cache.ns, str(HERE)])
    try:
        tag = "burst"
        t0 = time.monotonic()
        await at_most_64(N, lambda i: cache_manager.set(f"k:{i}", "old", ttl=300, tags=[tag]))
        set_s = time.monotonic() - t0
        # Both processes serve every entry, and then from their L1: each reads them all until a whole
        # pass is L1 hits (a write keeps its value in the writer's L1 unless another write touched the
        # key's L1 stripe meanwhile, and A's write messages may evict a fill B made just before they
        # arrived: a later read fills those from Redis).
        first_a: dict[str, int] = {}
        a_pass: dict[str, int] = {}
        for _ in range(3):
            a_pass = await served_here("k:", N)
            first_a = first_a or a_pass
            assert a_pass["served"] == N, a_pass
            if a_pass["l1_hits"] == N:
                break
        assert a_pass == {"served": N, "l1_hits": N}, "A's L1 never held every entry"
        b_pass: dict[str, int] = {}
        for _ in range(3):
            b_pass = await b.call("served", prefix="k:", n=N, reply_timeout=30)
            assert b_pass["served"] == N, b_pass
            if b_pass["l1_hits"] == N:
                break
        assert b_pass == {"served": N, "l1_hits": N}, "B's L1 never held every entry"

        hits_before = (await cache_manager.get_stats()).l1.hits
        t0 = time.monotonic()
        await cache_invalidator.invalidate_tags([tag])
        invalidate_ms = (time.monotonic() - t0) * 1000
        after = await served_here("k:", N)
        assert after["served"] == 0, f"{after['served']} of {N} entries still served by the invalidating process"
        assert (await cache_manager.get_stats()).l1.hits == hits_before, "an L1 hit after the invalidation"

        # B hears it through the bus within milliseconds: nothing served within 2 s.
        remote = await b.call("until_none_served", prefix="k:", n=N, timeout=2.0, reply_timeout=30)
        assert remote["served"] == 0, f"{remote['served']} of {N} entries still served by process B after 2 s"
        print(f"\n10,000 sets at 64 in flight: {set_s:.2f} s ({first_a['l1_hits']} then read from A's L1); "
              f"invalidate_tags: {invalidate_ms:.1f} ms; B's reads served {remote['passes']} ({remote['ms']:.0f} ms)")
    finally:
        await b.close()


async def test_a_pattern_invalidation_leaves_no_matching_entry_served(cache: Any) -> None:
    keys = [f"p:item:{i}" for i in range(2_500)]
    for round in range(3):
        for start in range(0, len(keys), 500):
            await cache_manager.mset([{"key": k, "value": f"v{round}", "ttl": 300} for k in keys[start:start + 500]])
        before = await cache_manager.mget(keys)
        assert list(before.values()) == [f"v{round}"] * len(keys), f"round {round}: not every key served before"
        await cache_invalidator.invalidate_pattern("p:item:*")
        got = await cache_manager.mget(keys)
        assert list(got) == keys
        stale = sum(v is not None for v in got.values())
        assert stale == 0, f"round {round}: {stale} keys still served after invalidate_pattern resolved"


# ----- coherence_loads.rs: a load that started before an invalidation does not store its result ----


class Gate:
    """A loader that says when it started, then waits for ``go`` before returning ``value`` (the older
    value it read from the database before the invalidation)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.calls = 0

    async def load(self) -> Any:
        self.calls += 1
        self.started.set()
        await asyncio.wait_for(self.go.wait(), 10)
        return self.value


async def load_across(key: str, during: Callable[[], Awaitable[Any]], **options: Any) -> Any:
    """Run ``cache_aside.get(key)``; while its loader runs, ``during()`` runs; then the loader returns
    "old". Returns what the load resolved to."""
    gate = Gate("old")

    async def load() -> Any:
        return await cache_aside.get(key, gate.load, **options)

    task = asyncio.ensure_future(load())
    try:
        await bounded(gate.started.wait(), 5)
        await during()
        gate.go.set()
        got = await bounded(task, 5)
    finally:
        gate.go.set()
        if not task.done():
            task.cancel()
    assert gate.calls == 1
    return got


async def test_a_delete_in_another_process_during_a_load_wins(cache: Any, peer: Peer) -> None:
    got = await load_across("user:1", lambda: peer.call("delete", key="user:1"), ttl=60)
    assert got == "old", "the waiting caller still gets what was loaded"
    assert await cache_manager.get("user:1") is None, "not stored in A (L1 or Redis)"
    assert await peer.get("user:1") is None, "not stored for B either"
    assert cache.raw("user:1") is None


async def test_a_delete_in_the_same_process_during_a_load_wins(cache: Any, peer: Peer) -> None:
    got = await load_across("user:2", lambda: cache_manager.delete("user:2"), ttl=60)
    assert got == "old"
    assert await cache_manager.get("user:2") is None
    assert await peer.get("user:2") is None
    assert cache.raw("user:2") is None


async def test_a_tag_invalidation_during_a_load_wins(cache: Any, peer: Peer) -> None:
    got = await load_across("user:3", lambda: peer.call("invalidate_by_tags", tags=["users"]), ttl=60,
                            tags=["users"])
    assert got == "old"
    assert await cache_manager.get("user:3") is None, "A serves no entry older than the tag invalidation"
    assert await peer.get("user:3") is None, "nor B"
    # the same with the invalidation made in this process, through cache_invalidator
    got = await load_across("user:3b", lambda: cache_invalidator.invalidate_tags(["users"]), ttl=60,
                            tags=["users"])
    assert got == "old"
    assert await cache_manager.get("user:3b") is None
    assert await peer.get("user:3b") is None


async def test_a_write_during_a_load_is_not_overwritten_by_it(cache: Any, peer: Peer) -> None:
    got = await load_across("user:4", lambda: peer.call("set", key="user:4", value="new", ttl=60), ttl=60)
    assert got == "old"
    assert await cache_manager.get("user:4") == "new"
    assert await peer.get("user:4") == "new"
    # and a write made in this process
    got = await load_across("user:4b", lambda: cache_manager.set("user:4b", "new", ttl=60), ttl=60)
    assert got == "old"
    assert await cache_manager.get("user:4b") == "new"
    assert await peer.get("user:4b") == "new"


async def test_an_undisturbed_load_is_stored_for_everyone(cache: Any, peer: Peer) -> None:
    async def nothing() -> None:
        return None

    got = await load_across("user:5", nothing, ttl=60, tags=["users"])
    assert got == "old"
    assert await peer.get("user:5") == "old"
    assert await cache_manager.get("user:5") == "old", "and for the loader's process"


async def test_a_refresh_that_raced_a_delete_does_not_bring_the_value_back(cache: Any, peer: Peer) -> None:
    key = "report"
    await cache_manager.set(key, "v1", ttl=10)
    gate = Gate("v2 read before the delete")
    await asyncio.sleep(0.15)  # 10 s TTL, threshold 0.99: the next read triggers a background refresh
    try:
        got = await bounded(cache_aside.get_with_refresh(key, gate.load, ttl=10, refresh_threshold=0.99))
        assert got == "v1"
        await bounded(gate.started.wait(), 5)
        assert await peer.call("delete", key=key) is True
        gate.go.set()
    finally:
        gate.go.set()
    # B's delete reaches this process's L1 within milliseconds
    await within(0.5, "B's delete to evict the key here", lambda: not in_l1(key), interval=0.001)
    # Give the refresh time to finish and (wrongly) store.
    for _ in range(20):
        await asyncio.sleep(0.025)
        assert await cache_manager.get(key) is None, "A serves the refreshed value after the delete"
        assert await peer.get(key) is None, "B serves the refreshed value after the delete"
    assert gate.calls == 1
    assert cache.raw(key) is None


# ----- an invalidation that did not reach Redis raises ---------------------------------------------


def check_not_reached(error: BaseException, what: str, target: str) -> None:
    assert isinstance(error, StrataCacheError), f"{what}: {error!r}"
    assert isinstance(error, (CacheConnectionError, CacheTimeoutError)), f"{what}: {error!r}"
    assert error.code in UNAVAILABLE, f"{what}: {error.code}"
    assert isinstance(error, CacheConnectionError) == (error.code == "ERR_STRATACACHE_CONNECTION")
    assert isinstance(error, (ConnectionError, TimeoutError))
    message = str(error)
    assert "did not reach Redis" in message, f"{what}: {message}"
    assert f'"{target}"' in message, f"{what} does not name what was lost: {message}"


INVALIDATIONS: list[tuple[str, Callable[[], Awaitable[Any]], str]] = [
    ("cache_manager.delete", lambda: cache_manager.delete("k"), "k"),
    ("cache_invalidator.invalidate_keys", lambda: cache_invalidator.invalidate_keys(["k"]), "k"),
    ("cache_manager.invalidate_by_tags", lambda: cache_manager.invalidate_by_tags(["t"]), "t"),
    ("cache_invalidator.invalidate_tags", lambda: cache_invalidator.invalidate_tags(["t"]), "t"),
    ("cache_invalidator.invalidate_pattern", lambda: cache_invalidator.invalidate_pattern("k*"), "k*"),
]


async def invalidations_raise_while_unreachable() -> None:
    for what, call, target in INVALIDATIONS:
        await cache_manager.set("k", {"v": 1}, ttl=60, tags=["t"])  # L1 only
        assert await cache_manager.get("k") == {"v": 1}, "served from L1"
        t0 = time.monotonic()
        with pytest.raises(StrataCacheError) as info:
            await bounded(call(), 5)
        elapsed = time.monotonic() - t0
        check_not_reached(info.value, what, target)
        assert elapsed < 2.0, f"{what} took {elapsed:.2f} s"
        assert await cache_manager.get("k") is None, f"{what}: removed from this process's L1 all the same"


async def test_invalidations_while_redis_is_down_at_start_raise(unused_port: Any, ns: str) -> None:
    create_redis_client(url=f"redis://127.0.0.1:{unused_port()}", namespace=ns, connect_timeout_ms=TIMEOUT_MS,
                        command_timeout_ms=TIMEOUT_MS)
    try:
        assert (await bounded(initialize_cache_system(cache={}))).redis == "degraded"
        await invalidations_raise_while_unreachable()
    finally:
        await shutdown_cache_system()


async def test_a_delete_while_redis_went_away_raises_and_can_be_retried(redis_server: Any, resp: Any,
                                                                         ns: str) -> None:
    with FaultProxy.start(redis_server.port) as proxy:
        await start_system(proxy.url, ns, connect_timeout_ms=TIMEOUT_MS, command_timeout_ms=TIMEOUT_MS)
        try:
            await cache_manager.set("kept", "v", ttl=60)
            assert resp("EXISTS", f"{ns}:d:kept") == 1
            proxy.refuse()
            proxy.reset()  # a full outage: open connections reset, new ones refused
            with pytest.raises(StrataCacheError) as info:
                await bounded(cache_manager.delete("kept"), 5)
            check_not_reached(info.value, "delete", "kept")
            assert await bounded(cache_manager.get("kept")) is None, "not served from L1 after the delete"
            await invalidations_raise_while_unreachable()
            assert resp("EXISTS", f"{ns}:d:kept") == 1, "Redis still has it: the caller was told"

            proxy.accept()

            async def retried() -> bool:
                try:
                    await cache_manager.delete("kept")
                    return True
                except (CacheConnectionError, CacheTimeoutError):
                    return False

            await within(5, "the retried delete to reach Redis once it is back", retried, interval=0.05)
            assert resp("EXISTS", f"{ns}:d:kept") == 0
            assert await cache_manager.get("kept") is None
        finally:
            proxy.accept()
            await shutdown_cache_system()


# ----- coherence_faults.rs -------------------------------------------------------------------------


async def test_oom_replies_take_the_degraded_paths(redis_server_factory: Any, resp_to: Any, ns: str,
                                                   venv_python: str, child_env: dict[str, str]) -> None:
    server = redis_server_factory()
    raw = resp_to(server.port)
    await start_system(server.url, ns, connect_timeout_ms=TIMEOUT_MS, command_timeout_ms=TIMEOUT_MS)
    b = await Peer.start(venv_python, child_env, [str(PEER), server.url, ns])
    try:
        raw("CONFIG", "SET", "maxmemory-policy", "noeviction")
        raw("CONFIG", "SET", "maxmemory", "1")
        assert isinstance(raw.pipeline([("SET", "probe", "x")])[0], Exception), "Redis refuses writes (OOM)"

        errors = (await cache_manager.get_stats()).l2.errors
        await bounded(cache_manager.set("k", "v", ttl=60))  # a set during OOM is a set during an outage
        assert (await cache_manager.get_stats()).l2.errors > errors, "counted as an L2 error"
        assert await cache_manager.get("k") == "v", "served from L1"
        assert await b.get("k") is None, "never reported as stored in Redis"
        assert raw("EXISTS", f"{ns}:d:k") == 0

        deny = await bounded(redis_rate_limiter.limit("oom:deny", window_ms=60_000, max_requests=1,
                                                      on_redis_error="deny"))
        assert deny.allowed is False, f"on_redis_error='deny' applies: {deny}"
        allow = await bounded(redis_rate_limiter.limit("oom:allow", window_ms=60_000, max_requests=1,
                                                       on_redis_error="allow"))
        assert allow.allowed is True, f"on_redis_error='allow' applies: {allow}"
        assert native().is_degraded()

        raw("CONFIG", "SET", "maxmemory", "0")

        async def reaches_redis() -> bool:
            await cache_manager.set("k2", "v2", ttl=60)
            return bool(await b.get("k2") == "v2")

        await within(5, "writes reach Redis again", reaches_redis, interval=0.05)
    finally:
        raw("CONFIG", "SET", "maxmemory", "0")
        raw.close()
        await b.close()
        await shutdown_cache_system()


async def test_a_frozen_connection_stops_l1_serving_within_5_s_and_recovers(
        redis_server: Any, ns: str, venv_python: str, child_env: dict[str, str]) -> None:
    with FaultProxy.start(redis_server.port) as proxy:
        await start_system(proxy.url, ns, connect_timeout_ms=TIMEOUT_MS, command_timeout_ms=TIMEOUT_MS)
        b = await Peer.start(venv_python, child_env, [str(PEER), redis_server.url, ns])  # direct, not behind the proxy
        frozen = False
        try:
            await bus_live()
            await cache_manager.set("k", "old", ttl=60)
            assert await cache_manager.get("k") == "old"
            assert in_l1("k")

            proxy.freeze()  # half-open: nothing closes, nothing answers
            frozen = True
            assert await b.call("delete", key="k") is True  # this process cannot hear it
            t0 = time.monotonic()
            slowest = 0.0

            async def gone() -> bool:
                nonlocal slowest
                t = time.monotonic()
                value = await bounded(cache_manager.get("k"))  # a degraded read: no error
                slowest = max(slowest, time.monotonic() - t)
                assert slowest < (TIMEOUT_MS + 1000) / 1000, f"a get took {slowest:.2f} s"
                return value is None

            await within(6, "this process stops serving the deleted value", gone, interval=0.05)
            stale_s = time.monotonic() - t0
            assert stale_s <= 5.5, f"the deleted value was served for {stale_s:.2f} s"
            assert bus_state() == "down", "the bus says it is down"

            proxy.pass_()
            frozen = False
            await within(5, "the bus to be live again", lambda: bus_state() == "live", interval=0.05)
            assert await cache_manager.get("k") is None
            await cache_manager.set("k", "new", ttl=60)
            assert await b.get("k") == "new"
            print(f"\nfrozen: the deleted value was served for {stale_s:.2f} s; slowest get {slowest * 1000:.0f} ms")
        finally:
            if frozen:
                proxy.pass_()
            await b.close()
            await shutdown_cache_system()


async def test_a_reset_bus_connection_reconnects_and_clears_l1(redis_server: Any, ns: str) -> None:
    with FaultProxy.start(redis_server.port) as proxy:
        await start_system(proxy.url, ns, connect_timeout_ms=TIMEOUT_MS, command_timeout_ms=TIMEOUT_MS)
        try:
            await bus_live()
            await cache_manager.set("k", "v", ttl=60)
            reconnects = native().bus_stats()["reconnects"]
            proxy.reset()
            await within(5, "the bus to reconnect", lambda: native().bus_stats()["reconnects"] > reconnects
                         and bus_state() == "live", interval=0.05)
            hits = (await cache_manager.get_stats()).l1.hits
            assert not in_l1("k"), "L1 was cleared once the bus was back"
            assert await cache_manager.get("k") == "v"
            assert (await cache_manager.get_stats()).l1.hits == hits, "the value came from Redis"
        finally:
            await shutdown_cache_system()


async def test_tracking_that_cannot_be_re_enabled_stops_trusting_l1(redis_server_factory: Any, resp_to: Any,
                                                                    ns: str) -> None:
    server = redis_server_factory()
    raw = resp_to(server.port)
    await start_system(server.url, ns, connect_timeout_ms=TIMEOUT_MS, command_timeout_ms=TIMEOUT_MS)
    try:
        await bus_live()
        await cache_manager.set("k", "old", ttl=60)
        # Tracking can no longer be enabled, and the connections lose it (new connections).
        raw("ACL", "SETUSER", "default", "-client|tracking")
        raw("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        try:
            await bounded(cache_manager.get("other"))  # the data connection reconnects
        except StrataCacheError:
            pass
        await within(5, "the bus to report it", lambda: bus_state() in ("down", "refused"), interval=0.05)
        # A write from outside the library that tracking would have reported: seen within the bound.
        raw("SET", f"{ns}:d:k", b"not an envelope")
        await within(5, "L1 to stop serving the old value",
                     lambda: _is_none(cache_manager.get("k")), interval=0.05)
        raw("ACL", "SETUSER", "default", "+client|tracking")
        await within(5, "the bus to be live again", lambda: bus_state() == "live", interval=0.05)
    finally:
        raw("ACL", "SETUSER", "default", "+client|tracking")
        raw.close()
        await shutdown_cache_system()


async def _is_none(aw: Awaitable[Any]) -> bool:
    return await bounded(aw) is None


async def test_a_bus_refused_by_an_acl_is_reported_and_writes_still_reach_redis(
        redis_server_factory: Any, resp_to: Any, ns: str, venv_python: str, child_env: dict[str, str]) -> None:
    server = redis_server_factory()
    raw = resp_to(server.port)
    raw("ACL", "SETUSER", "app", "on", ">secret", "~*", "resetchannels", "+@all")  # no channel at all
    raw.close()
    await start_system(f"redis://app:secret@127.0.0.1:{server.port}", ns, connect_timeout_ms=TIMEOUT_MS,
                       command_timeout_ms=TIMEOUT_MS)
    b = await Peer.start(venv_python, child_env, [str(PEER), server.url, ns])  # the default user
    try:
        refused_s = await within(3, "the bus to say it was refused", lambda: bus_state() == "refused",
                                 interval=0.05)
        errors = (await cache_manager.get_stats()).l2.errors
        await cache_manager.set("k", "from app", ttl=60)
        assert await b.get("k") == "from app", "the write reached Redis"
        assert (await cache_manager.get_stats()).l2.errors == errors + 1, "the refused PUBLISH is counted"
        await b.call("set", key="k", value="from default", ttl=60)
        stale_s = await within(5, "this process, which cannot hear the bus, to read the new value",
                               lambda: _equals(cache_manager.get("k"), "from default"), interval=0.05)
        assert bus_state() == "refused"
        print(f"\nACL: bus refused after {refused_s * 1000:.0f} ms; B's write read here after {stale_s * 1000:.0f} ms")
    finally:
        await b.close()
        await shutdown_cache_system()


async def _equals(aw: Awaitable[Any], expected: Any) -> bool:
    return bool(await bounded(aw) == expected)


async def test_under_client_pause_every_call_settles_within_the_command_timeout(
        redis_server_factory: Any, resp_to: Any, ns: str) -> None:
    server = redis_server_factory()
    raw = resp_to(server.port)
    await start_system(server.url, ns, command_timeout_ms=TIMEOUT_MS)
    bound = (TIMEOUT_MS + 700) / 1000
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("get", lambda: cache_manager.get("absent")),
        ("set", lambda: cache_manager.set("k", "v", ttl=60)),
        ("delete", lambda: cache_manager.delete("k")),
        ("mget", lambda: cache_manager.mget(["a", "b"])),
        ("invalidate_by_tags", lambda: cache_manager.invalidate_by_tags(["t"])),
        ("limit", lambda: redis_rate_limiter.limit("pause", window_ms=1_000, max_requests=5)),
    ]

    async def timed(what: str, call: Callable[[], Awaitable[Any]]) -> tuple[float, str]:
        t0 = time.monotonic()
        try:
            await bounded(call(), 10)
            outcome = "returned"
        except StrataCacheError as e:
            outcome = e.code
        return time.monotonic() - t0, outcome

    try:
        await cache_manager.set("present", 1, ttl=60)
        raw("CLIENT", "PAUSE", 3000, "ALL")
        paused_at = time.monotonic()
        # All at once: each meets the paused server (before failures open the circuit breaker) ...
        together = await asyncio.gather(*(timed(what, call) for what, call in calls))
        # ... then one after the other, as the Rust twin does (later ones may fail fast: breaker open).
        one_by_one = [await timed(what, call) for what, call in calls]
        assert time.monotonic() - paused_at < 3.0, "the checks ran after the pause ended"
        report = {phase: {what: f"{t * 1000:.0f} ms ({outcome})" for (what, _), (t, outcome) in zip(calls, results)}
                  for phase, results in (("together", together), ("one by one", one_by_one))}
        for phase, results in (("together", together), ("one by one", one_by_one)):
            for (what, _), (elapsed, _outcome) in zip(calls, results):
                assert elapsed < bound, f"{what} ({phase}) took {elapsed:.2f} s under CLIENT PAUSE: {report}"
        assert min(t for t, _ in together) >= TIMEOUT_MS / 1000 * 0.8, f"the calls did not meet the pause: {report}"
        print(f"\nunder CLIENT PAUSE: {report}")
    finally:
        raw("CLIENT", "UNPAUSE")
        raw.close()
        await shutdown_cache_system()


# ----- a panic in native code is an exception with a code ------------------------------------------


async def test_a_native_panic_raises_internal_error_and_the_process_goes_on(cache: Any) -> None:
    loop = asyncio.get_running_loop()
    completions = bridge_for(loop).completions
    fut: asyncio.Future[Any] = loop.create_future()
    with pytest.raises(InternalError) as info:
        _native._panic_for_tests("sync", completions, fut)
    assert isinstance(info.value, StrataCacheError)
    assert info.value.code == "ERR_STRATACACHE_INTERNAL"
    assert "panicked" in str(info.value), str(info.value)
    fut.cancel()

    spawned: asyncio.Future[Any] = loop.create_future()
    _native._panic_for_tests("spawned", completions, spawned)  # returns; the future settles
    with pytest.raises(InternalError) as info:
        await bounded(spawned, 5)
    assert info.value.code == "ERR_STRATACACHE_INTERNAL"

    await cache_manager.set("after-panic", {"ok": True}, ttl=60)
    assert await cache_manager.get("after-panic") == {"ok": True}
    assert await cache_manager.get("absent") is None  # a Redis round trip still works
    assert cache.raw("after-panic") is not None


PANIC_CHILD = """
import asyncio, sys
from stratacache import (InternalError, cache_manager, create_redis_client, initialize_cache_system,
                         shutdown_cache_system, _native)
from stratacache._bridge import bridge_for
URL, NS = sys.argv[1], sys.argv[2]

async def main():
    create_redis_client(url=URL, namespace=NS)
    assert (await initialize_cache_system()).redis == "connected"
    loop = asyncio.get_running_loop()
    completions = bridge_for(loop).completions
    for mode in ("sync", "spawned", "sync", "spawned"):
        fut = loop.create_future()
        try:
            _native._panic_for_tests(mode, completions, fut)
            await asyncio.wait_for(fut, 5)
        except InternalError as e:
            assert e.code == "ERR_STRATACACHE_INTERNAL", e.code
        else:
            raise AssertionError(f"no InternalError ({mode})")
        if not fut.done():
            fut.cancel()
    await cache_manager.set("k", "v", ttl=60)
    assert await cache_manager.get("k") == "v"
    assert await cache_manager.get("absent") is None
    await shutdown_cache_system()
    print("ok")

asyncio.run(main())
"""


def test_a_process_that_panicked_exits_0(venv_python: str, child_env: dict[str, str], redis_server: Any,
                                         ns: str) -> None:
    proc = subprocess.run([venv_python, "-X", "dev", "-c", textwrap.dedent(PANIC_CHILD), redis_server.url, ns],
                          capture_output=True, text=True, timeout=30, env=child_env, check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    for bad in ("Traceback", "Exception ignored", "was never retrieved", "Task was destroyed"):
        assert bad not in proc.stderr, proc.stderr
