"""Rate-limit benchmark: decisions/s at 64 in flight on ONE identifier, stratacache's
``redis_rate_limiter`` against ``limits`` (async Redis storage, its fixed-window and sliding-window
counter strategies) and raw ``redis.asyncio`` (the floor: one EVALSHA of a minimal fixed-window script),
in the same run, each library in its own child process. Every run checks exact counts: with limit N
and 2N decisions, exactly N must be allowed.

    .venv-bench/bin/python benchmarks/python/ratelimit.py            # one run
    .venv-bench/bin/python benchmarks/python/ratelimit.py --runs 3   # medians of 3

Use the benchmark venv with a release wheel (see README.md beside this file).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Awaitable, Callable

IN_FLIGHT = 64
DECISIONS = max(2000, int(40_000 * float(os.environ.get("BENCH_SCALE", "1"))))
LIMIT = DECISIONS // 2
WINDOW_MS = 86_400_000  # one day: bucket refill during a run stays below one unit, so counts are exact

RAW_SCRIPT = """local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if c > tonumber(ARGV[2]) then redis.call('DECR', KEYS[1]) return 0 end return 1"""


async def stratacache(url: str, algorithm: str) -> tuple[Callable[[str], Awaitable[bool]], Callable[[], Awaitable[None]]]:
    import stratacache as s

    s.create_redis_client(url=url, namespace="bench")
    await s.initialize_cache_system()

    async def decide(ident: str) -> bool:
        r = await s.redis_rate_limiter.limit(ident, window_ms=WINDOW_MS, max_requests=LIMIT, algorithm=algorithm)  # type: ignore[arg-type]
        return bool(r.allowed)

    return decide, s.shutdown_cache_system


async def limits_lib(url: str, strategy: str) -> tuple[Callable[[str], Awaitable[bool]], Callable[[], Awaitable[None]]]:
    from limits import RateLimitItemPerDay
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter

    storage = RedisStorage("async+" + url, implementation="redispy")
    limiter = (FixedWindowRateLimiter if strategy == "fixed" else SlidingWindowCounterRateLimiter)(storage)
    item = RateLimitItemPerDay(LIMIT)

    async def decide(ident: str) -> bool:
        return await limiter.hit(item, ident)

    async def close() -> None:
        pass

    return decide, close


async def raw(url: str, _: str) -> tuple[Callable[[str], Awaitable[bool]], Callable[[], Awaitable[None]]]:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url, max_connections=IN_FLIGHT)
    script = client.register_script(RAW_SCRIPT)

    async def decide(ident: str) -> bool:
        return await script(keys=[f"raw:{ident}"], args=[WINDOW_MS, LIMIT]) == 1

    return decide, client.aclose


LIBS: dict[str, tuple[Any, str]] = {
    "stratacache sliding-counter": (stratacache, "sliding-counter"),
    "stratacache fixed-window": (stratacache, "fixed-window"),
    "limits fixed-window": (limits_lib, "fixed"),
    "limits sliding-window-counter": (limits_lib, "sliding"),
    "raw redis.asyncio": (raw, ""),
}


async def run(decide: Callable[[str], Awaitable[bool]], ident: str, count: int) -> int:
    issued = 0
    allowed = 0

    async def worker() -> None:
        nonlocal issued, allowed
        while issued < count:
            issued += 1
            if await decide(ident):
                allowed += 1

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return allowed


async def child(lib: str, url: str) -> None:
    factory, arg = LIBS[lib]
    decide, close = await factory(url, arg)
    await run(decide, "warm", 2000)
    t0 = time.perf_counter()
    allowed = await run(decide, "hot", DECISIONS)
    seconds = time.perf_counter() - t0
    await close()
    print("RESULT " + json.dumps({"lib": lib, "allowed": allowed, "exact": allowed == LIMIT, "per_sec": DECISIONS / seconds}))


def redis_cmd(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(line.encode() + b"\r\n")
        return s.recv(1024).decode()


def parent(runs: int) -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                if redis_cmd(port, "PING").startswith("+PONG"):
                    break
            except OSError:
                time.sleep(0.025)
        url = f"redis://127.0.0.1:{port}"
        print(f"rate limiting, {DECISIONS} decisions per library at {IN_FLIGHT} in flight on one identifier, limit {LIMIT}")
        all_runs: list[dict[str, Any]] = []
        for r in range(runs):
            results: dict[str, Any] = {}
            for lib in LIBS:
                redis_cmd(port, "FLUSHALL")
                out = subprocess.run([sys.executable, __file__, "--child", lib, url], capture_output=True, text=True, check=True).stdout
                res = json.loads(out.split("RESULT ", 1)[1])
                results[lib] = res
                print(f"  run {r + 1}: {lib}: {res['per_sec'] / 1000:.1f}k decisions/s, allowed {res['allowed']}"
                      f"{' (exact)' if res['exact'] else ' (NOT EXACT)'}")
            all_runs.append(results)
    finally:
        server.kill()
    print(f"\n| library | decisions/s (median of {runs}) | exact |\n|---|--:|---|")
    for lib in LIBS:
        med = statistics.median(x[lib]["per_sec"] for x in all_runs)
        print(f"| {lib} | {med / 1000:.1f}k | {'yes' if all(x[lib]['exact'] for x in all_runs) else 'NO'} |")

    def ratio(a: str, b: str) -> str:
        return f"{statistics.median(x[a]['per_sec'] / x[b]['per_sec'] for x in all_runs):.2f}"

    print("\nmedian per-run ratios:")
    print(f"  stratacache sliding-counter / limits sliding-window-counter: {ratio('stratacache sliding-counter', 'limits sliding-window-counter')}x (target >= 2)")
    print(f"  stratacache fixed-window / limits fixed-window:              {ratio('stratacache fixed-window', 'limits fixed-window')}x (target >= 2)")
    print(f"  stratacache sliding-counter / raw redis.asyncio EVALSHA:     {ratio('stratacache sliding-counter', 'raw redis.asyncio')}x")
    return 0 if all(v["exact"] for x in all_runs for v in x.values()) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(child(sys.argv[2], sys.argv[3]))
    else:
        runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
        sys.exit(parent(runs))
