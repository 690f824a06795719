"""Contract §9 through the pip package (issue 18): fail-safe (the last value when the loader fails, kept
past its TTL only for fail-safe entries, throttled, never after an invalidation, from Redis for a
process that never had it, and while Redis is stopped), the soft timeout, and get_many's fallback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import stratacache
from stratacache import InvalidArgumentError, cache_aside, cache_invalidator, cache_manager, cache_metrics, cache_status_header

from conftest import CacheCtx, stop_redis_server


class Source:
    """A loader whose answer the test switches (``None``: it raises ``db down``), counting calls."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0
        self.delay = 0.0
        self.error = RuntimeError("db down")

    async def load(self) -> Any:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer is None:
            raise self.error
        return self.answer


def fs(ttl_ms: int, throttle_ms: int, **more: Any) -> dict[str, Any]:
    return {"ttl": ttl_ms / 1000, "fail_safe": True, "fail_safe_max_duration": 60,
            "fail_safe_throttle": throttle_ms / 1000, **more}


async def test_the_last_value_answers_a_failing_loader_and_the_throttle_spares_the_source(cache: CacheCtx) -> None:
    src = Source({"v": 1})
    opts = fs(200, 400)
    assert await cache_aside.get("fs:k", src.load, **opts) == {"v": 1}
    pttl = cache.resp("PTTL", cache.dkey("fs:k"))
    assert isinstance(pttl, int) and pttl > 59_000, f"kept 60 s past its 200 ms TTL: {pttl}"
    await cache_aside.get("fs:plain", src.load, ttl=0.2)
    plain = cache.resp("PTTL", cache.dkey("fs:plain"))
    assert isinstance(plain, int) and plain <= 200, "without fail_safe the Redis expiry is the TTL (§7)"

    await asyncio.sleep(0.25)
    assert await cache_manager.get("fs:k") is None, "past its TTL a plain read misses"
    src.answer = None
    assert await cache_aside.get("fs:k", src.load, **opts) == {"v": 1}, "the stale value, not the error"
    calls = src.calls
    meta = await cache_aside.get_with_meta("fs:k", src.load, **opts)
    assert (meta.status, meta.ttl_ms, meta.value) == ("stale", 0, {"v": 1})
    assert cache_status_header(meta) == "stratacache; hit; fwd=stale"
    await asyncio.gather(*[cache_aside.get("fs:k", src.load, **opts) for _ in range(5)])
    assert src.calls == calls, "within the throttle the loader is not called again"
    report = await cache_metrics.get_metrics_json()
    # The fallback, the throttled get_with_meta, and the five concurrent gets (which share one read).
    assert report.cache_aside.stale_served >= 3, report.cache_aside

    await asyncio.sleep(0.45)
    assert await cache_aside.get("fs:k", src.load, **opts) == {"v": 1}
    assert src.calls == calls + 1, "after the throttle the loader is tried again"
    await asyncio.sleep(0.45)
    src.answer = {"v": 2}
    assert await cache_aside.get("fs:k", src.load, **opts) == {"v": 2}, "the source is back"


async def test_no_last_value_means_the_error_and_an_invalidation_removes_the_last_value(cache: CacheCtx) -> None:
    src = Source(None)
    opts = fs(100, 30_000, tags=["fs-grp"])
    with pytest.raises(RuntimeError) as cold:
        await cache_aside.get("fs:cold", src.load, **opts)
    assert cold.value is src.error
    src.answer = 1
    await cache_aside.get("fs:a", src.load, **opts)
    await cache_aside.get("fs:b", src.load, **opts)
    await asyncio.sleep(0.15)
    src.answer = None
    await cache_manager.delete("fs:a")
    await cache_invalidator.invalidate_tags(["fs-grp"])
    for key in ("fs:a", "fs:b"):
        with pytest.raises(RuntimeError, match="db down"):
            await cache_aside.get(key, src.load, **opts)


async def test_a_process_without_the_value_falls_back_on_the_one_in_redis(cache: CacheCtx) -> None:
    src = Source({"n": 1})
    opts = fs(100, 30_000)
    await cache_aside.get("fs:shared", src.load, **opts)
    await cache.restart()  # a fresh system: nothing in L1
    await asyncio.sleep(0.15)
    src.answer = None
    meta = await cache_aside.get_with_meta("fs:shared", src.load, **opts)
    assert (meta.status, meta.tier, meta.value) == ("stale", "l2", {"n": 1})


async def test_the_soft_timeout_returns_the_stale_value_at_once_and_the_load_lands_later(cache: CacheCtx) -> None:
    src = Source("old")
    await cache_aside.get("fs:soft", src.load, **fs(100, 30_000))
    await asyncio.sleep(0.15)
    src.answer = "new"
    src.delay = 0.6
    t0 = time.monotonic()
    meta = await cache_aside.get_with_meta("fs:soft", src.load, **fs(100, 30_000, soft_timeout_ms=50))
    took = time.monotonic() - t0
    assert (meta.status, meta.value) == ("stale", "old")
    assert took < 0.4, f"answered after {took:.3f} s, well under the loader's 0.6 s"
    for _ in range(60):
        if await cache_manager.get("fs:soft") == "new":
            break
        await asyncio.sleep(0.05)
    assert await cache_manager.get("fs:soft") == "new", "the slow load was stored when it arrived"
    assert src.calls == 2

    await asyncio.sleep(0.15)
    t1 = time.monotonic()
    assert await cache_aside.get("fs:soft", src.load, **fs(100, 30_000, hard_timeout_ms=80)) == "new"
    assert time.monotonic() - t1 < 0.4
    with pytest.raises(InvalidArgumentError, match=r"soft_timeout_ms needs fail_safe=True"):
        await cache_aside.get("fs:x", src.load, ttl=1, soft_timeout_ms=10)
    with pytest.raises(InvalidArgumentError, match="fail_safe must be a boolean"):
        await cache_aside.get("fs:x", src.load, fail_safe="yes")  # type: ignore[arg-type]


async def test_get_many_falls_back_per_key_and_raises_when_a_key_has_no_last_value(cache: CacheCtx) -> None:
    async def ok(keys: list[str]) -> dict[str, Any]:
        return {k: f"v-{k}" for k in keys}

    boom = RuntimeError("db down")

    async def failing(keys: list[str]) -> dict[str, Any]:
        raise boom

    opts = fs(100, 30_000)
    await cache_aside.get_many(["fm:x", "fm:y"], ok, **opts)
    await asyncio.sleep(0.15)
    assert await cache_aside.get_many(["fm:x", "fm:y"], failing, **opts) == {"fm:x": "v-fm:x", "fm:y": "v-fm:y"}
    with pytest.raises(RuntimeError) as e:
        await cache_aside.get_many(["fm:x", "fm:never"], failing, **opts)
    assert e.value is boom


async def test_while_redis_is_stopped_the_last_value_in_memory_answers(redis_server_factory: Any, ns: str) -> None:
    server = redis_server_factory()
    stratacache.create_redis_client(url=server.url, namespace=ns)
    await stratacache.initialize_cache_system(cache={})
    try:
        for _ in range(100):
            if (await cache_metrics.health_check()).checks.bus.status == "up":
                break
            await asyncio.sleep(0.05)
        src: Source = Source("kept")
        opts = fs(300, 150)
        await cache_aside.get("fs:down", src.load, **opts)
        stop_redis_server(server)
        await asyncio.sleep(0.4)
        src.answer = None
        meta = await cache_aside.get_with_meta("fs:down", src.load, **opts)
        assert (meta.status, meta.tier, meta.value) == ("stale", "l1", "kept")
        src.answer = "fresh"
        assert await cache_aside.get("fs:down", src.load, **opts) == "kept", "throttled"
        await asyncio.sleep(0.2)
        assert await cache_aside.get("fs:down", src.load, **opts) == "fresh", "the source is back: its value"
    finally:
        await stratacache.shutdown_cache_system()
