"""Bounds through the pip package (issue 19, docs/limits.md): L1 by bytes as well as entries."""

from __future__ import annotations

import pytest

from stratacache import cache_manager

from conftest import CacheCtx


@pytest.mark.cache_options(l1_max_size=1000, l1_max_bytes=1024 * 1024)
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
