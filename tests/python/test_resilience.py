"""Contract §9 through the pip package (issue 18): TTL jitter."""

from __future__ import annotations

import asyncio

import pytest

import stratacache
from stratacache import InvalidArgumentError, cache_aside, cache_manager

from conftest import CacheCtx


@pytest.mark.cache_options(ttl_jitter=30)
async def test_ttl_jitter_spreads_the_expiry_of_keys_written_together(cache: CacheCtx) -> None:
    await asyncio.gather(*[cache_manager.set(f"j:{i}", i, ttl=60) for i in range(40)])
    ttls = [cache.resp("PTTL", cache.dkey(f"j:{i}")) for i in range(40)]
    assert all(isinstance(t, int) and 59_000 <= t <= 90_000 for t in ttls), ttls
    assert max(ttls) - min(ttls) > 10_000, ttls  # type: ignore[operator]
    await cache_manager.set("exact", 1, ttl=60, ttl_jitter=0)
    exact = cache.resp("PTTL", cache.dkey("exact"))
    assert isinstance(exact, int) and 59_000 <= exact <= 60_000, exact
    await cache_aside.get("aside:j", _load, ttl=60, ttl_jitter=5)
    t = cache.resp("PTTL", cache.dkey("aside:j"))
    assert isinstance(t, int) and 59_000 <= t <= 65_000, t
    with pytest.raises(InvalidArgumentError, match="ttl_jitter must be 0..86400 seconds, got -1"):
        await cache_manager.set("bad", 1, ttl_jitter=-1)


async def _load() -> dict[str, int]:
    return {"a": 1}
