"""A second Python process for tests/python/test_invalidation.py (process B next to the test process A).

    python bus_peer.py <redis-url | redis options as JSON> <namespace>

Registers an ``on_invalidation`` listener (before the cache system starts), starts the system, waits until
its bus subscriber is connected and prints ``{"ready": <bus source>}``. Then, for every JSON line
``{"op": ..., ...}`` read on stdin, runs that operation and prints one JSON line: ``{"ok": result}`` or
``{"error": {"type": ..., "message": ...}}``. At end of input it shuts the system down and exits 0.

Ops: ``get`` {key} → {value, l1_hit, redis_reads} (from ``get_stats`` deltas); ``in_l1`` {key};
``wait_evicted`` {key, timeout} → ms until ``key`` left L1 (polled every ms; an error after timeout);
``set`` {key, value, ttl?, tags?}; ``delete`` {key}; ``mset`` {items}; ``invalidate_tags`` {tags};
``invalidate_by_tags`` {tags}; ``invalidate_pattern`` {glob}; ``invalidate_keys`` {keys};
``domain`` {domain, id}; ``events`` (drains the recorded events); ``wait_events`` {n, timeout};
``sync`` {target} (waits for the event of a key message with that one target and forgets it: see
:func:`settle`); ``bus_stats``; ``stats``; ``mget`` {keys}; ``limit`` {ident, n, window_ms, max_requests,
algorithm} → how many of n concurrent decisions were allowed; ``aside`` {key, n} → {values, loads}: n
concurrent ``cache_aside.get`` calls whose loader takes 200 ms.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import stratacache
from stratacache import (
    cache_invalidator,
    cache_manager,
    create_redis_client,
    domain_invalidator,
    initialize_cache_system,
    shutdown_cache_system,
)

MISS = stratacache._native.MISS
events: list[dict[str, Any]] = []
aside_loads = 0


def native() -> Any:
    return stratacache._handle.current()


def in_l1(key: str) -> bool:
    return native().get_l1(key) is not MISS


async def get(key: str) -> dict[str, Any]:
    before = await cache_manager.get_stats()
    value = await cache_manager.get(key)
    after = await cache_manager.get_stats()
    return {
        "value": value,
        "l1_hit": after.l1.hits - before.l1.hits == 1,
        "redis_reads": (after.l2.hits + after.l2.misses) - (before.l2.hits + before.l2.misses),
    }


async def poll(check: Any, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    deadline = t0 + min(timeout, 2.0)
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.001)
    return (time.monotonic() - t0) * 1000


async def run(cmd: dict[str, Any]) -> Any:
    op = cmd["op"]
    if op == "get":
        return await get(cmd["key"])
    if op == "in_l1":
        return in_l1(cmd["key"])
    if op == "wait_evicted":
        return await poll(lambda: not in_l1(cmd["key"]), cmd.get("timeout", 2.0), f"{cmd['key']!r} to leave L1")
    if op == "set":
        await cache_manager.set(cmd["key"], cmd["value"], ttl=cmd.get("ttl"), tags=cmd.get("tags"))
        return True
    if op == "delete":
        return await cache_manager.delete(cmd["key"])
    if op == "mset":
        await cache_manager.mset(cmd["items"])
        return True
    if op == "invalidate_tags":
        await cache_invalidator.invalidate_tags(cmd["tags"])
        return True
    if op == "invalidate_by_tags":
        await cache_manager.invalidate_by_tags(cmd["tags"])
        return True
    if op == "invalidate_pattern":
        return await cache_invalidator.invalidate_pattern(cmd["glob"])
    if op == "invalidate_keys":
        return await cache_invalidator.invalidate_keys(cmd["keys"])
    if op == "domain":
        return await domain_invalidator.invalidate(cmd["domain"], cmd["id"])
    if op == "events":
        out = list(events)
        events.clear()
        return out
    if op == "wait_events":
        await poll(lambda: len(events) >= cmd["n"], cmd.get("timeout", 2.0), f"{cmd['n']} events")
        out = list(events)
        events.clear()
        return out
    if op == "sync":
        target = [cmd["target"]]
        await poll(lambda: any(e["target"] == target for e in events), 2.0, f"the sync message {target}")
        events[:] = [e for e in events if e["target"] != target]
        return True
    if op == "bus_stats":
        return native().bus_stats()
    if op == "mget":
        return await cache_manager.mget(cmd["keys"])
    if op == "limit":
        rs = await asyncio.gather(*(stratacache.redis_rate_limiter.limit(
            cmd["ident"], window_ms=cmd["window_ms"], max_requests=cmd["max_requests"], algorithm=cmd["algorithm"])
            for _ in range(cmd["n"])))
        return sum(1 for r in rs if r.allowed)
    if op == "aside":
        global aside_loads

        async def loader() -> Any:
            global aside_loads
            aside_loads += 1
            await asyncio.sleep(0.2)
            return {"v": 1}

        values = await asyncio.gather(*(stratacache.cache_aside.get(cmd["key"], loader, ttl=60) for _ in range(cmd["n"])))
        return {"values": values, "loads": aside_loads}
    if op == "stats":
        return (await cache_manager.get_stats()).to_dict()
    raise ValueError(f"unknown op {op!r}")


def sync_message(target: str) -> str:
    """A bus message from no stratacache process: a key invalidation of ``[target]``."""
    return json.dumps({"v": 1, "src": "5e771e5e771e5e77", "type": "key", "target": [target],
                       "ts": int(time.time() * 1000)})


async def settle(publish: Any, target: str) -> None:
    """Wait until this process's bus subscriber has handled everything sent to it before now.

    A write evicts the key in the other processes when its bus message (and its client-tracking push)
    arrive there, which may be just after such a process already read the new value and cached it again;
    a test that wants that process to serve the key from L1 first waits for those messages to be behind
    it. ``publish(message)`` publishes one more message on the channel (from a plain Redis client, after
    the write returned, so it is queued behind the write's messages); it is handled once its event fires.
    """
    seen: list[Any] = []
    off = cache_invalidator.on_invalidation(lambda e: seen.append(e) if e.target == [target] else None)
    try:
        publish(sync_message(target))
        await poll(lambda: seen, 2.0, f"the sync message {target}")
    finally:
        off()


async def main(url: str, namespace: str) -> None:
    # Registered before the system exists: must work once it starts.
    cache_invalidator.on_invalidation(lambda e: events.append(e.to_dict()))
    if url.startswith("{"):
        create_redis_client(**json.loads(url), namespace=namespace)
    else:
        create_redis_client(url=url, namespace=namespace)
    status = await initialize_cache_system()
    assert status.redis == "connected", status
    deadline = time.monotonic() + 10  # a cluster's bus may take a few seconds to subscribe everywhere
    while not native().bus_stats()["connected"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the bus did not connect within 10 s")
        await asyncio.sleep(0.005)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": native().bus_source()}), flush=True)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if not line.strip():
                continue
            try:
                reply: dict[str, Any] = {"ok": await run(json.loads(line))}
            except Exception as e:  # noqa: BLE001 - reported to the test
                reply = {"error": {"type": type(e).__name__, "message": str(e)}}
            print(json.dumps(reply), flush=True)
    finally:
        transport.close()
        await shutdown_cache_system()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
