"""The idle lane (issue 15) through the pip package: a get made while nothing else is in flight reads on
a second, read-only connection (``stratacache-idle-lane`` in CLIENT LIST) and answers exactly what the
main connection would; calls made together keep the main connection and their order."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Optional

import pytest

from stratacache import cache_manager


def lane(cache: Any) -> Optional[dict[str, str]]:
    """The lane's CLIENT LIST fields, or ``None`` while it is not connected."""
    listing = cache.resp("CLIENT", "LIST")
    text = listing.decode() if isinstance(listing, bytes) else str(listing)
    for line in text.splitlines():
        if " name=stratacache-idle-lane " in line:
            return dict(kv.split("=", 1) for kv in line.strip().split(" ") if "=" in kv)
    return None


async def lane_connected(cache: Any, other_than: Optional[str] = None) -> dict[str, str]:
    deadline = time.monotonic() + 5
    while True:
        now = lane(cache)
        if now is not None and now["id"] != other_than:
            return now
        assert time.monotonic() < deadline, "the lane connects within 5 s"
        assert await cache_manager.get("k") == "v"
        await asyncio.sleep(0.02)


@pytest.mark.cache_options(enable_l1=False)
async def test_sequential_gets_read_on_the_lane_and_answer_what_was_written(cache: Any) -> None:
    await cache_manager.set("k", "v", ttl=60)
    await cache_manager.set("a", {"n": 1}, ttl=60)
    first = await lane_connected(cache)
    for _ in range(20):
        assert await cache_manager.get("a") == {"n": 1}
        assert await cache_manager.get("absent") is None
    now = lane(cache)
    assert now is not None and now["id"] == first["id"], "one lane connection"
    assert now["cmd"] == "get", "the gets went on the lane (L1 off: a lone GET)"


@pytest.mark.cache_options(enable_l1=False)
async def test_a_get_right_after_a_write_it_did_not_await_reads_the_write(cache: Any) -> None:
    await cache_manager.set("k", "v", ttl=60)
    await lane_connected(cache)
    for i in range(50):
        written = asyncio.ensure_future(cache_manager.set("order", i, ttl=60))
        await asyncio.sleep(0)  # the set has started (it is in flight): the get keeps the main connection
        assert await cache_manager.get("order") == i
        await written


@pytest.mark.cache_options(enable_l1=False)
async def test_a_lane_killed_by_redis_gets_still_answer_and_a_new_lane_connects(cache: Any) -> None:
    await cache_manager.set("k", "v", ttl=60)
    old = await lane_connected(cache)
    cache.resp("CLIENT", "KILL", "ID", old["id"])
    for _ in range(10):
        assert await cache_manager.get("k") == "v"
    await lane_connected(cache, other_than=old["id"])
