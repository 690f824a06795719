"""Every component through the pip package on a local Redis Cluster (3 masters + 3 replicas, from
tests/support/topology.py): basics, mset/mget across slots (one command per key on the master that owns it,
counted with INFO commandstats per node), tags and patterns across masters, the bus and client tracking
between processes seeded through different nodes, rate-limit exactness across processes, sessions with a
device cap, cache-aside's lock across processes; and failover on a cluster of its own: SIGKILL the master of
a key, calls recover within 15 s, and no process serves an entry invalidated meanwhile.

Process A is this test process; process B is tests/python/bus_peer.py, seeded through another node.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

import stratacache
from stratacache import (
    cache_aside,
    cache_invalidator,
    cache_manager,
    cache_metrics,
    create_redis_client,
    initialize_cache_system,
    redis_rate_limiter,
    session_manager,
    shutdown_cache_system,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from conftest import Resp, Topology, cluster_lock_key  # noqa: E402
from peer_process import Peer  # noqa: E402

MISS = stratacache._native.MISS  # type: ignore[attr-defined]
ALGORITHMS = ["fixed-window", "sliding-log", "sliding-counter", "token-bucket", "leaky-bucket"]


def in_l1(key: str) -> bool:
    return stratacache._handle.current().get_l1(key) is not MISS  # type: ignore[attr-defined]


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def bus_live() -> bool:
    return (await cache_metrics.health_check()).checks.bus.state == "live"


async def start_pair(t: Topology, ns: str, venv_python: str, child_env: dict[str, str], a_port: int, b_port: int) -> Peer:
    """Configure this process (A, seeded through ``a_port``) and start B (through ``b_port``)."""
    create_redis_client(**t.redis_options(ns, a_port))
    status = await initialize_cache_system()
    assert status.redis == "connected"
    await wait_for(bus_live, "this process's bus to be live", 10)
    options = {k: v for k, v in t.redis_options(ns, b_port).items() if k != "namespace"}
    return await Peer.start(venv_python, child_env, [str(HERE / "bus_peer.py"), json.dumps(options), ns])


@pytest.fixture
async def pair(redis_cluster: Topology, ns: str, venv_python: str, child_env: dict[str, str]) -> AsyncIterator[Peer]:
    ports = redis_cluster.data_ports
    peer = await start_pair(redis_cluster, ns, venv_python, child_env, ports[0], ports[3])
    try:
        yield peer
    finally:
        await peer.close()
        await shutdown_cache_system()


def commandstats_of_masters(t: Topology) -> dict[int, dict[str, int]]:
    out = {}
    for port in t.data_ports:
        r = Resp(port)
        try:
            if r("ROLE")[0] == b"master":
                text = r("INFO", "commandstats").decode()
                out[port] = {line.split(":")[0][len("cmdstat_"):]: int(line.split("calls=")[1].split(",")[0])
                             for line in text.splitlines() if line.startswith("cmdstat_")}
        finally:
            r.close()
    return out


async def test_basics_and_batches_across_slots(pair: Peer, redis_cluster: Topology, ns: str) -> None:
    await cache_manager.set("greeting", "Hello World", ttl=60)
    assert await cache_manager.get("greeting") == "Hello World"
    assert await pair.get("greeting") == "Hello World"
    assert await cache_manager.delete("greeting") is True
    assert await cache_manager.get("greeting") is None

    keys = [f"user:{i}" for i in range(100)]
    per_master: dict[int, int] = {}
    for k in keys:
        port = redis_cluster.master_of(f"{ns}:d:{k}")
        per_master[port] = per_master.get(port, 0) + 1
    assert len(per_master) == 3, "the keys span all three masters"
    s0 = commandstats_of_masters(redis_cluster)
    await cache_manager.mset([{"key": k, "value": {"k": k}, "ttl": 300} for k in keys])
    s1 = commandstats_of_masters(redis_cluster)
    for port, n in per_master.items():
        assert s1[port].get("set", 0) - s0[port].get("set", 0) == n, f"master {port}: one SET per key it owns"
    got = await pair.call("mget", keys=[*keys, "missing"])
    s2 = commandstats_of_masters(redis_cluster)
    assert got["user:42"] == {"k": "user:42"} and got["missing"] is None and len(got) == 101
    gets = sum(s2[p].get("get", 0) - s1[p].get("get", 0) for p in per_master)
    assert 101 <= gets <= 103, f"one GET per key, no redirect retries (got {gets})"


async def test_tags_and_patterns_across_masters_and_processes(pair: Peer) -> None:
    keys = [f"member:{i}" for i in range(40)]
    for k in keys:
        await cache_manager.set(k, 1, ttl=300, tags=["team"])
    for k in ["page:1", "page:2", "page:3", "other:1"]:
        await cache_manager.set(k, 1, ttl=300)
    await pair.call("mget", keys=keys)
    await cache_invalidator.invalidate_tags(["team"])
    assert all(v is None for v in (await cache_manager.mget(keys)).values()), "nothing tagged is served here"
    # B hears it through the bus (which crosses the cluster bus between nodes): within milliseconds.

    async def b_serves_none() -> bool:
        return all(v is None for v in (await pair.call("mget", keys=keys)).values())
    t0 = time.monotonic()
    await wait_for(b_serves_none, "B to serve nothing tagged", 1.0)
    print(f"B stopped serving the tagged keys {1000 * (time.monotonic() - t0):.1f} ms after invalidate_tags resolved")
    assert await pair.call("invalidate_pattern", glob="page:*") == 3, "SCAN reached every master"
    assert await cache_manager.get("page:2") is None
    assert await cache_manager.get("other:1") == 1


async def test_the_bus_and_tracking_reach_the_other_process(pair: Peer, redis_cluster: Topology, ns: str) -> None:
    keys = [f"k{i}" for i in range(10)]
    for k in keys:
        await pair.call("set", key=k, value="v1", ttl=300)

    for k in keys:
        async def cached(k: str = k) -> bool:
            await cache_manager.get(k)
            return in_l1(k)
        await wait_for(cached, f"{k} kept in this process's L1")
    await pair.call("set", key="k0", value="v2", ttl=300)
    await wait_for(lambda: not in_l1("k0"), "B's set evicted k0 here")
    assert await cache_manager.get("k0") == "v2"
    for k in keys[1:]:
        r = Resp(redis_cluster.master_of(f"{ns}:d:{k}"))
        r("SET", f"{ns}:d:{k}", "foreign")
        r.close()
    await wait_for(lambda: not any(in_l1(k) for k in keys[1:]), "tracking on every master evicted the raw writes")


async def test_rate_limits_are_exact_across_processes(pair: Peer) -> None:
    for algorithm in ALGORITHMS:
        ident = f"client:{algorithm}"
        here, there = await asyncio.gather(
            asyncio.gather(*(redis_rate_limiter.limit(ident, window_ms=3_600_000, max_requests=20, algorithm=algorithm)  # type: ignore[arg-type]
                             for _ in range(30))),
            pair.call("limit", ident=ident, n=30, window_ms=3_600_000, max_requests=20, algorithm=algorithm),
        )
        allowed = sum(1 for r in here if r.allowed)
        assert allowed + there == 20, f"{algorithm}: exactly 20 of 60 ({allowed} here, {there} in B)"


async def test_sessions_keep_their_device_cap(pair: Peer) -> None:
    def login(i: int, user: int = 42) -> dict[str, Any]:
        return {"user_id": user, "tenant_id": 1, "role": "user", "email": "u@example.com", "ip_address": f"10.0.0.{i}", "user_agent": "UA"}

    await asyncio.gather(*(session_manager.create_session(login(i), ttl=60, max_devices=3) for i in range(8)))
    assert len(await session_manager.get_user_sessions(42)) == 3
    await session_manager.create_session(login(1, user=7), ttl=60, max_devices=3)
    stats = await session_manager.get_stats()
    assert (stats.total_sessions, stats.sessions_by_user.get("42"), stats.sessions_by_user.get("7")) == (4, 3, 1)
    assert await session_manager.delete_user_sessions(42) == 3


async def test_cache_aside_lock_keeps_a_load_to_one_process(pair: Peer, redis_cluster: Topology, ns: str) -> None:
    loads = 0

    async def loader() -> Any:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.2)
        return {"v": 1}

    calls = asyncio.gather(
        asyncio.gather(*(cache_aside.get("report:1", loader, ttl=60) for _ in range(4))),
        pair.call("aside", key="report:1", n=4),
    )
    # While the load runs, its lock is held under the key cluster-keys.json pins, on the data key's master.
    master = Resp(redis_cluster.master_of(f"{ns}:d:report:1"))
    lock_key = cluster_lock_key(ns, "report:1")
    await wait_for(lambda: master("EXISTS", lock_key) == 1, f"the lock {lock_key} on the data key's master")
    master.close()
    here, there = await calls
    assert all(v == {"v": 1} for v in here) and all(v == {"v": 1} for v in there["values"])
    assert loads + there["loads"] == 1, f"one load in all ({loads} here, {there['loads']} in B)"


async def test_failover_recovers_and_serves_nothing_invalidated(ns: str, venv_python: str, child_env: dict[str, str]) -> None:
    t = Topology("cluster")  # its own: this test kills a master
    try:
        key = "order:42"
        victim = t.master_of(f"{ns}:d:{key}")
        others = [p for p in t.data_ports if p != victim]
        peer = await start_pair(t, ns, venv_python, child_env, others[0], others[1])
        try:
            await cache_manager.set(key, "v1", ttl=300, tags=["orders"])

            async def b_caches() -> bool:
                await peer.get(key)
                return bool(await peer.call("in_l1", key=key))
            await wait_for(b_caches, "B caches the order")
            t.kill(victim)
            killed = time.monotonic()
            failures = 0
            while True:
                try:
                    await cache_manager.delete(key)
                    break
                except stratacache.StrataCacheError as e:
                    failures += 1
                    assert time.monotonic() - killed < 15, f"no recovery within 15 s: {e}"
                    await asyncio.sleep(0.1)
            recovered = time.monotonic() - killed
            print(f"cluster failover (Python): calls recovered {recovered * 1000:.0f} ms after the kill ({failures} failed attempts)")
            new, _ = t.wait_failover(victim, 15, f"{ns}:d:{key}")
            assert new != victim

            async def b_live() -> bool:
                return bool((await peer.call("bus_stats"))["connected"])
            await wait_for(b_live, "B's bus back", 15)
            assert await peer.get(key) is None, "B does not serve the deleted entry"
            await cache_manager.set(key, "v2", ttl=300)
            await wait_for(lambda: peer.get(key), "B reads the new value")
            assert await peer.get(key) == "v2"
        finally:
            await peer.close()
            await shutdown_cache_system()
    finally:
        t.stop()
