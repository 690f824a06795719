"""Bounds through the pip package (issue 19, docs/limits.md): L1 by bytes as well as entries."""

from __future__ import annotations

import pytest

from stratacache import cache_manager

from conftest import CacheCtx


@pytest.mark.cache_options(l1_max_size=1000, l1_max_bytes=1024 * 1024, max_value_bytes=int(2.5 * 1024 * 1024),
                           max_batch_bytes=4 * 1024 * 1024)
async def test_l1_max_bytes_bounds_large_values_and_l1_max_size_small_ones(cache: CacheCtx) -> None:
    big = "x" * (100 * 1024)
    for i in range(100):
        await cache_manager.set(f"big:{i}", big, ttl=60)
    stats = await cache_manager.get_stats()
    assert stats.l1.size <= 10, f"100 KB values in a 1 MiB L1: {stats.l1.size} held"
    for i in range(100):
        assert await cache_manager.get(f"big:{i}") == big
    for i in range(3000):
        await cache_manager.set(f"small:{i}", i, ttl=60)
    stats = await cache_manager.get_stats()
    assert stats.l1.size <= 1000, stats.l1


@pytest.mark.cache_options(l1_max_bytes=1024 * 1024, max_value_bytes=int(2.5 * 1024 * 1024), max_batch_bytes=4 * 1024 * 1024)
async def test_max_batch_bytes_bounds_what_one_mget_decodes(cache: CacheCtx) -> None:
    value = "y" * (2 * 1024 * 1024 - 2)  # 2 MiB of JSON, a few KB compressed; too big for this L1
    keys = [f"batch:{i}" for i in range(1, 6)]
    for k in keys:
        await cache_manager.set(k, value, ttl=60, compress=True)
    await cache_manager.get_stats()  # L1's maintenance has run: none of these fits its 1 MiB
    got = await cache_manager.mget(keys)
    assert sum(1 for k in keys if got[k] == value) == 2, "4 MiB of budget: two 2 MiB values"
    assert sum(1 for k in keys if got[k] is None) == 3
    assert await cache_manager.get("batch:5") == value, "each is readable on its own"


async def test_the_parsed_object_memo_is_bounded_by_bytes(cache: CacheCtx) -> None:
    from stratacache._handle import current

    value = {"s": "z" * (1024 * 1024)}  # 1 MiB of JSON each
    for i in range(100):
        await cache_manager.set(f"memo:{i}", value, ttl=60)
        assert await cache_manager.get(f"memo:{i}") == value  # an L1 hit: converted, then memoized
    entries, held = current()._memo_stats()
    assert 0 < held <= 64 * 1024 * 1024, (entries, held)
    assert entries < 100, "100 MiB of values did not all stay in the memo"
    big = {"s": "z" * (5 * 1024 * 1024)}
    await cache_manager.set("memo:big", big, ttl=60)
    before = current()._memo_stats()[1]
    assert await cache_manager.get("memo:big") == big
    assert current()._memo_stats()[1] == before, "a 5 MiB value is not memoized"
