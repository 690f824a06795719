"""Python side of the cross-process rate-limit test (see ratelimit_peer.mjs, which it mirrors).

Usage: python ratelimit_peer.py <redis-url | redis options as JSON> <namespace> <prefix> <limit> <calls>
"""

from __future__ import annotations

import asyncio
import json
import sys

from stratacache import create_redis_client, initialize_cache_system, redis_rate_limiter, shutdown_cache_system

ALGORITHMS = ["fixed-window", "sliding-log", "sliding-counter", "token-bucket", "leaky-bucket"]


async def main() -> None:
    url, namespace, prefix, limit, calls = sys.argv[1:6]
    if url.startswith("{"):
        create_redis_client(**json.loads(url), namespace=namespace)
    else:
        create_redis_client(url=url, namespace=namespace)
    await initialize_cache_system()
    out: dict[str, list[int]] = {}
    for algorithm in ALGORITHMS:
        allowed: list[int] = []
        issued = 0

        async def worker(algorithm: str = algorithm) -> None:
            nonlocal issued
            while issued < int(calls):
                issued += 1
                r = await redis_rate_limiter.limit(
                    f"{prefix}:{algorithm}", window_ms=3_600_000, max_requests=int(limit), algorithm=algorithm  # type: ignore[arg-type]
                )
                if r.allowed:
                    allowed.append(r.remaining)

        await asyncio.gather(*(worker() for _ in range(64)))
        out[algorithm] = allowed
    await shutdown_cache_system()
    print(json.dumps(out))


asyncio.run(main())
