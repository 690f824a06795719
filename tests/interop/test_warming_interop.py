"""Warming schedules across languages: two Node processes (tests/interop/node_warming_peer.mjs,
importing the built npm package) and this Python process register the same strategy ``every 1s`` on
one Redis and namespace. Only one of them runs it per period; a holder killed mid-run stops the
schedule for at most one lease."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import stratacache
from stratacache import cache_warmer

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEER = HERE / "node_warming_peer.mjs"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


class NodePeer:
    """A running node_warming_peer.mjs and the start times of its runs (epoch s)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.runs: list[float] = []
        self.count: int | None = None
        self.reader = asyncio.create_task(self._read())
        self.run_seen = asyncio.Event()

    @classmethod
    async def start(cls, url: str, ns: str, fetch_ms: int) -> "NodePeer":
        proc = await asyncio.create_subprocess_exec(
            "node", str(PEER), url, ns, str(fetch_ms), cwd=str(HERE),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line == b"ready\n", (line, await proc.stderr.read() if proc.stderr else b"")
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            word, _, value = raw.decode().strip().partition(" ")
            if word == "run":
                self.runs.append(int(value) / 1000)
                self.run_seen.set()
            elif word == "count":
                self.count = int(value)

    async def stop(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            self.proc.stdin.close()
            await asyncio.wait_for(self.proc.wait(), 10)
        await self.reader

    async def kill(self) -> None:
        self.proc.kill()
        await self.proc.wait()
        await self.reader


async def start_python(url: str, ns: str, fetch_s: float, runs: list[float]) -> None:
    async def fetch() -> list[dict[str, Any]]:
        runs.append(time.time())
        await asyncio.sleep(fetch_s)
        return [{"key": "shared-tick", "value": {"by": "python"}, "options": {"ttl": 60}}]

    cache_warmer.register_strategy(name="shared-tick", priority=1, enabled=True, fetch_fn=fetch, schedule="every 1s")
    stratacache.create_redis_client(url=url, namespace=ns)
    status = await stratacache.initialize_cache_system(skip_warming=True)
    assert status.redis == "connected"


async def test_three_processes_two_languages_run_a_schedule_once_per_period(redis_server: Any, ns: str) -> None:
    if not (REPO / "dist" / "index.mjs").exists():
        pytest.skip("the npm package is not built (dist/index.mjs)")
    py_runs: list[float] = []
    peers = [await NodePeer.start(redis_server.url, ns, 50), await NodePeer.start(redis_server.url, ns, 50)]
    try:
        await start_python(redis_server.url, ns, 0.05, py_runs)
        t0 = time.time()
        await asyncio.sleep(5.5)
        t1 = time.time()
        every = sorted(py_runs + [t for p in peers for t in p.runs])
        in_window = [t for t in every if t0 <= t < t1]
        assert 5 <= len(in_window) <= 6, f"runs in 5.5 s: {len(in_window)} (Python {len(py_runs)}, Node {[len(p.runs) for p in peers]})"
        print(f"runs in 5.5 s: {len(in_window)} (Python {len([t for t in py_runs if t0 <= t < t1])}, "
              f"Node {[len([t for t in p.runs if t0 <= t < t1]) for p in peers]})")
        gaps = [b - a for a, b in zip(every, every[1:])]
        assert min(gaps) > 0.5, f"never twice in one period: {gaps}"
        m = await stratacache.cache_metrics.get_metrics_json()
        assert m.warming.skipped >= 1, "this process skipped the periods others ran"
    finally:
        await stratacache.shutdown_cache_system()
        cache_warmer.unregister_strategy("shared-tick")
        for p in peers:
            await p.stop()
    assert all(p.count is not None for p in peers), "the Node peers shut down cleanly"


async def test_killing_the_holder_mid_run_stops_the_schedule_for_at_most_one_lease(redis_server: Any, ns: str) -> None:
    if not (REPO / "dist" / "index.mjs").exists():
        pytest.skip("the npm package is not built (dist/index.mjs)")
    py_runs: list[float] = []
    victim = await NodePeer.start(redis_server.url, ns, 700)  # runs take 0.7 s: killed mid-run
    other = await NodePeer.start(redis_server.url, ns, 700)
    try:
        await start_python(redis_server.url, ns, 0.7, py_runs)
        await asyncio.wait_for(victim.run_seen.wait(), 20)
        killed_at = time.time()
        await victim.kill()
        deadline = killed_at + 4
        while time.time() < deadline:
            later = [t for t in py_runs + other.runs if t > killed_at]
            if later:
                break
            await asyncio.sleep(0.05)
        later = [t for t in py_runs + other.runs if t > killed_at]
        assert later, "the schedule never resumed after its holder died"
        lease, period = 1.0, 1.0
        print(f"resumed {later[0] - killed_at:.2f} s after the holder was killed")
        assert later[0] - killed_at <= lease + period + 0.4, f"resumed {later[0] - killed_at:.2f} s after the kill"
    finally:
        await stratacache.shutdown_cache_system()
        cache_warmer.unregister_strategy("shared-tick")
        await other.stop()
