"""Misuses of the typed API that ``mypy --strict`` must reject, one per line marked ``# expect-error: CODE``.

tests/python/test_types.py checks that mypy reports exactly the marked lines (with those codes) and
nothing else. No error is silenced with an ignore comment.
"""

from __future__ import annotations

from stratacache import (
    WriteBehindPattern,
    cache_aside,
    cache_invalidator,
    cache_manager,
    create_redis_client,
    get_cache_manager,
    initialize_cache_system,
    rate_limit_presets,
    redis_rate_limiter,
)


async def misuses() -> None:
    await cache_manager.set("k", 1, 60)  # expect-error: call-arg
    await cache_manager.set("k", 1, ttl="60")  # expect-error: arg-type
    await cache_manager.set("k", 1, tll=60)  # expect-error: call-arg
    await cache_manager.set("k", 1, compress="yes")  # expect-error: arg-type
    await cache_manager.set("k", 1, tags=[1, 2])  # expect-error: list-item
    await cache_manager.get(123)  # expect-error: arg-type
    await cache_manager.delete()  # expect-error: call-arg
    await cache_manager.mget("user:1", "user:2")  # expect-error: call-arg
    await cache_manager.mset({"key": "k", "value": 1})  # expect-error: arg-type
    await cache_manager.invalidate_by_tags([1])  # expect-error: list-item
    cache_manager.delete_all()  # expect-error: attr-defined
    create_redis_client(port="abc")  # expect-error: arg-type
    create_redis_client("redis://localhost")  # expect-error: call-arg
    get_cache_manager(l1_max_size="big")  # expect-error: arg-type
    get_cache_manager(default_ttl="10m")  # expect-error: arg-type
    status = await initialize_cache_system(skip_warming="no")  # expect-error: arg-type
    count: int = status.redis  # expect-error: assignment
    stats = await cache_manager.get_stats()
    label: str = stats.l1.hits  # expect-error: assignment
    existed: str = await cache_manager.delete("k")  # expect-error: assignment
    stats.l1.hitrate  # expect-error: attr-defined
    await cache_aside.get("user:1", {"name": "Ada"})  # expect-error: arg-type
    await cache_aside.get_with_refresh("tickets:recent", misuses, ttl=300)  # expect-error: call-arg
    WriteBehindPattern(None, flushIntervalMs=5000)  # expect-error: call-arg
    pending: str = WriteBehindPattern().stats().pending  # expect-error: assignment
    await cache_invalidator.invalidate_pattern(["ticket:*"])  # expect-error: arg-type
    cache_invalidator.on_invalidation(lambda event: event.kind)  # expect-error: attr-defined
    await redis_rate_limiter.limit("id", window_ms=1000, max_requests=5, algorithm="sliding-window")  # expect-error: arg-type
    await redis_rate_limiter.limit("id", windowMs=1000, maxRequests=5)  # expect-error: call-arg
    await redis_rate_limiter.limit("id", window_ms=1000, max_requests=5, on_redis_error="retry")  # expect-error: arg-type
    await redis_rate_limiter.token_bucket("id", window_ms=1000, max_requests=5, leak_rate=1)  # expect-error: call-arg
    retry: int = (await redis_rate_limiter.limit("id", window_ms=1000, max_requests=5)).retry_after  # expect-error: assignment
    rate_limit_presets.login  # expect-error: attr-defined
