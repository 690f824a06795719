"""The invalidation bus across languages (docs/bus.md): a long-lived Node process
(tests/interop/node_bus_peer.mjs, importing the built npm package dist/index.mjs) with its own L1, next to
this Python process, on one redis-server and one namespace. A write or an invalidation in either language
evicts the other process's L1 entry within milliseconds, and listeners see the other language's events
(``local`` false, the other process's ``source``). Every wait is bounded (polls give up after 2 s).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import pytest

import stratacache
from stratacache import InvalidationEvent, cache_invalidator, cache_manager

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEER = HERE / "node_bus_peer.mjs"
sys.path.insert(0, str(REPO / "tests" / "python"))
import bus_peer  # noqa: E402 - the Python side's operations (tests/python/bus_peer.py)

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

POLL_S = 2.0
EVICTION_BOUND_S = 0.5  # typically a few ms; room for a loaded 2-core machine


def native() -> Any:
    return stratacache._handle.current()  # type: ignore[attr-defined]


async def poll(check: Any, what: str) -> None:
    deadline = time.monotonic() + POLL_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {POLL_S} s waiting for {what}")
        await asyncio.sleep(0.001)


class NodeError(Exception):
    pass


class NodePeer:
    def __init__(self, proc: asyncio.subprocess.Process, source: str, stderr: Any) -> None:
        self.proc, self.source, self._stderr = proc, source, stderr

    @classmethod
    async def start(cls, url: str, ns: str) -> "NodePeer":
        if not (REPO / "dist" / "index.mjs").exists():
            pytest.skip("the npm package is not built (dist/index.mjs)")
        stderr = tempfile.TemporaryFile()
        proc = await asyncio.create_subprocess_exec(
            "node", str(PEER), url, ns, cwd=str(HERE), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=stderr)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        if not line:
            await proc.wait()
            stderr.seek(0)
            pytest.fail(f"the node peer did not start (exit {proc.returncode}):\n{stderr.read().decode()}")
        return cls(proc, json.loads(line)["ready"], stderr)

    async def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
        assert line, f"the node peer exited during {op}: {self.stderr()}"
        reply = json.loads(line)
        if "error" in reply:
            raise NodeError(reply["error"])
        return reply["ok"]

    def stderr(self) -> str:
        self._stderr.seek(0)
        return str(self._stderr.read().decode("utf-8", "replace"))

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            pytest.fail(f"the node peer did not exit at end of input: {self.stderr()}")
        err = self.stderr()
        self._stderr.close()
        assert code == 0 and err == "", f"node exited {code}:\n{err}"


@pytest.fixture
async def node(cache: Any) -> AsyncIterator[NodePeer]:
    await poll(lambda: native().bus_stats()["connected"], "this process's bus to connect")
    peer = await NodePeer.start(cache.url, cache.ns)
    try:
        yield peer
    finally:
        await peer.close()


_sync_ids = itertools.count()


async def settle(cache: Any, node: Optional[NodePeer] = None) -> None:
    """Wait until Python's (``node is None``) or Node's bus subscriber has handled every message sent to it
    so far: a write's own messages may evict, just after, an entry the other process has just read again."""
    target = f"sync:{next(_sync_ids)}"

    def publish(message: str) -> None:
        cache.resp("PUBLISH", f"{cache.ns}:bus", message)

    if node is None:
        await bus_peer.settle(publish, target)
    else:
        publish(bus_peer.sync_message(target))
        await node.call("sync", target=target)


# ----- a change in one language evicts the other language's L1 -------------------------------------

K = "bus:k"
OTHER = "bus:other"
# change → (Node's call, Python's call, what the other side reads afterwards)
CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any], Any]] = {
    "set": ({"op": "set", "key": K, "value": {"v": 2}, "options": {"ttl": 60}},
            {"op": "set", "key": K, "value": {"v": 2}, "ttl": 60}, {"v": 2}),
    "del": ({"op": "del", "key": K}, {"op": "delete", "key": K}, None),
    "mset": ({"op": "mset", "items": [{"key": OTHER, "value": 0}, {"key": K, "value": {"v": 2}}]},
             {"op": "mset", "items": [{"key": OTHER, "value": 0}, {"key": K, "value": {"v": 2}}]}, {"v": 2}),
    "tags": ({"op": "invalidateTags", "tags": ["t1"]}, {"op": "invalidate_tags", "tags": ["t1"]}, None),
    "invalidateByTags": ({"op": "invalidateByTags", "tags": ["t-other", "t1"]},
                         {"op": "invalidate_by_tags", "tags": ["t-other", "t1"]}, None),
    "pattern": ({"op": "invalidatePattern", "glob": "bus:*"}, {"op": "invalidate_pattern", "glob": "bus:*"}, None),
    "keys": ({"op": "invalidateKeys", "keys": [K, OTHER]}, {"op": "invalidate_keys", "keys": [K, OTHER]}, None),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_node_change_evicts_python_l1(cache: Any, node: NodePeer, change: str) -> None:
    await node.call("set", key=K, value={"v": 1}, options={"ttl": 120, "tags": ["t1"]})
    await settle(cache)
    first = await bus_peer.get(K)
    assert first["value"] == {"v": 1} and first["redis_reads"] == 1, first
    assert await bus_peer.get(K) == {"value": {"v": 1}, "l1_hit": True, "redis_reads": 0}  # served from L1

    node_call, _, expected = CHANGES[change]
    await node.call(**node_call)
    t0 = time.monotonic()
    await poll(lambda: native().get_l1(K) is stratacache._native.MISS, f"{K!r} to leave Python's L1")
    assert time.monotonic() - t0 < EVICTION_BOUND_S
    assert await bus_peer.get(K) == {"value": expected, "l1_hit": False, "redis_reads": 1}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_python_change_evicts_node_l1(cache: Any, node: NodePeer, change: str) -> None:
    await cache_manager.set(K, {"v": 1}, ttl=120, tags=["t1"])
    await settle(cache, node)
    first = await node.call("get", key=K)
    assert first["value"] == {"v": 1} and first["redisReads"] == 1, first
    assert await node.call("get", key=K) == {"value": {"v": 1}, "l1Hit": True, "redisReads": 0}  # from L1

    _, python_call, expected = CHANGES[change]
    await bus_peer.run(python_call)
    t0 = time.monotonic()
    await node.call("waitEvicted", key=K, timeoutMs=POLL_S * 1000)
    assert time.monotonic() - t0 < EVICTION_BOUND_S
    assert await node.call("get", key=K) == {"value": expected, "l1Hit": False, "redisReads": 1}


# ----- listeners see the other language's events ------------------------------------------------------


async def test_listeners_see_the_other_language_s_events(node: NodePeer) -> None:
    me = native().bus_source()
    assert node.source != me
    got: list[InvalidationEvent] = []
    off = cache_invalidator.on_invalidation(got.append)
    try:
        expected = [("key", ["a", "b"]), ("tag", ["users", "東京"]), ("pattern", ["ticket:*"]), ("key", ["c"])]

        # Python invalidates: local here, remote in Node with Python's source
        await cache_invalidator.invalidate_keys(["a", "b"])
        await cache_invalidator.invalidate_tags(["users", "東京"])
        await cache_invalidator.invalidate_pattern("ticket:*")
        await cache_manager.delete("c")
        await cache_manager.set("written", 1)  # writes are not events
        seen = await node.call("waitEvents", n=4, timeoutMs=POLL_S * 1000)
        assert [(e["type"], e["target"]) for e in seen] == expected
        assert all(e["local"] is False and e["source"] == me for e in seen), seen
        assert all(isinstance(e["timestamp"], int) for e in seen)
        await poll(lambda: len(got) >= 4, "Python's local events")
        assert [(e.type, e.target, e.local, e.source) for e in got] == [(t, x, True, me) for t, x in expected]
        assert [seen[i]["timestamp"] for i in (0, 2, 3)] == [got[i].timestamp for i in (0, 2, 3)]

        # Node invalidates: remote here with Node's source
        got.clear()
        await node.call("invalidateKeys", keys=["a", "b"])
        await node.call("invalidateTags", tags=["users", "東京"])
        await node.call("invalidatePattern", glob="ticket:*")
        await node.call("del", key="c")
        await node.call("set", key="written", value=2)
        await node.call("invalidateByTags", tags=["marker"])
        await poll(lambda: len(got) >= 5, "Node's events here")
        await asyncio.sleep(0.05)
        assert [(e.type, e.target) for e in got] == expected + [("tag", ["marker"])]
        assert all(e.local is False and e.source == node.source for e in got), got
        own = await node.call("waitEvents", n=5, timeoutMs=POLL_S * 1000)
        assert all(e["local"] is True and e["source"] == node.source for e in own), own
        assert await node.call("events") == []
    finally:
        off()
