"""Coherence benchmark (issue 13): how many of 10,000 tagged entries a process still serves after
``await cache_invalidator.invalidate_tags([tag])`` returned (must be 0), and how long that call takes.

    python coherence.py [--runs 10] [--keys 10000]

Starts its own redis-server on a free loopback port; uses the ``stratacache`` installed in this
interpreter (a built wheel).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import time

from stratacache import (
    cache_invalidator,
    cache_manager,
    create_redis_client,
    get_cache_manager,
    initialize_cache_system,
    shutdown_cache_system,
)

IN_FLIGHT = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    child = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return port, child
        except OSError:
            time.sleep(0.025)
    raise RuntimeError("redis-server did not start")


async def pool(n: int, fn) -> None:  # type: ignore[no-untyped-def]
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            await fn(i)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def main(runs: int, keys: int, port: int) -> None:
    create_redis_client(host="127.0.0.1", port=port, namespace=f"coh{os.getpid()}")
    get_cache_manager(l1_max_size=keys * 2)
    await initialize_cache_system()
    stale: list[int] = []
    times: list[float] = []
    for run in range(runs):
        tag = f"burst{run}"
        await pool(keys, lambda i: cache_manager.set(f"k:{i}", {"run": run, "i": i}, ttl=300, tags=[tag]))
        served = 0

        async def read(i: int) -> None:
            nonlocal served
            if await cache_manager.get(f"k:{i}") is not None:
                served += 1

        await pool(keys, read)
        if served != keys:
            raise RuntimeError(f"run {run}: only {served} of {keys} served before the invalidation")
        t = time.perf_counter()
        await cache_invalidator.invalidate_tags([tag])
        times.append((time.perf_counter() - t) * 1000)
        served = 0
        await pool(keys, read)
        stale.append(served)
    print(f"stale after invalidate_tags returned (of {keys}), per run: {' '.join(map(str, stale))}")
    print(f"invalidate_tags ms: median {statistics.median(times):.3f}, min {min(times):.3f}, max {max(times):.3f}")
    await shutdown_cache_system()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--keys", type=int, default=10_000)
    a = ap.parse_args()
    port, redis = start_redis()
    try:
        asyncio.run(main(a.runs, a.keys, port))
    finally:
        redis.kill()
