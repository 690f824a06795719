"""Behind Redis Sentinel, through the pip package (a primary, a replica and 3 Sentinels from
tests/support/topology.py): basics on the primary the Sentinels name, the bus between two processes, and
failover — SIGKILL the primary; the service returns within 20 s and nothing invalidated meanwhile is served.

Process A is this test process; process B is tests/python/bus_peer.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from stratacache import cache_manager, create_redis_client, initialize_cache_system, redis_rate_limiter, shutdown_cache_system

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from conftest import Resp, Topology  # noqa: E402
from peer_process import Peer  # noqa: E402
from test_cluster import bus_live, in_l1, wait_for  # noqa: E402


async def test_basics_then_a_failover_behind_sentinel(ns: str, venv_python: str, child_env: dict[str, str]) -> None:
    t = Topology("sentinel")
    try:
        create_redis_client(**t.redis_options(ns))
        assert (await initialize_cache_system()).redis == "connected"
        await wait_for(bus_live, "this process's bus to be live", 10)
        options = {k: v for k, v in t.redis_options(ns).items() if k != "namespace"}
        peer = await Peer.start(venv_python, child_env, [str(HERE / "bus_peer.py"), json.dumps(options), ns])
        try:
            await cache_manager.set("greeting", "Hello World", ttl=60, tags=["t"])
            primary = t.primary()
            r = Resp(primary)
            assert r("EXISTS", f"{ns}:d:greeting") == 1, "the value is on the primary"
            r.close()
            assert await peer.get("greeting") == "Hello World"
            await peer.call("set", key="greeting", value="hi", ttl=60, tags=["t"])
            await wait_for(lambda: not in_l1("greeting"), "B's set reached this process")
            assert await cache_manager.get("greeting") == "hi"
            assert (await redis_rate_limiter.limit("client", window_ms=60_000, max_requests=1)).allowed
            assert not (await redis_rate_limiter.limit("client", window_ms=60_000, max_requests=1)).allowed

            await peer.call("set", key="order:1", value="v1", ttl=300, tags=["orders"])

            async def cached() -> bool:
                await cache_manager.get("order:1")
                return in_l1("order:1")
            await wait_for(cached, "this process caches the order")
            replica = Resp(next(p for p in t.data_ports if p != primary))
            await wait_for(lambda: replica("EXISTS", f"{ns}:d:order:1") == 1, "the replica has the order")
            replica.close()

            t.kill(primary)
            killed = time.monotonic()
            failures = 0
            while True:
                try:
                    await peer.call("invalidate_tags", tags=["orders"])
                    break
                except Exception as e:  # the peer reports the error as a PeerError
                    failures += 1
                    assert time.monotonic() - killed < 20, f"no service within 20 s: {e}"
                    await asyncio.sleep(0.1)
            took = time.monotonic() - killed
            print(f"sentinel failover (Python): service returned {took * 1000:.0f} ms after the kill ({failures} failed attempts)")
            new, _ = t.wait_failover(primary, 20)
            assert new != primary
            await wait_for(bus_live, "this process's bus back", 20)
            assert await cache_manager.get("order:1") is None, "nothing invalidated is served here"
            await cache_manager.set("after", 2, ttl=60)
            r = Resp(new)
            assert r("EXISTS", f"{ns}:d:after") == 1, "writes go to the promoted primary"
            r.close()
        finally:
            await peer.close()
            await shutdown_cache_system()
    finally:
        t.stop()
