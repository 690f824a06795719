"""Contract §9 through the pip package (issue 18): TTL jitter, hard loader timeouts, result metadata,
Cache-Status and the batch loader get_many."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import stratacache
from stratacache import InvalidArgumentError, ResultMeta, cache_aside, cache_manager, cache_status_header

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


async def test_get_with_meta_reports_tier_age_ttl_and_tags(cache: CacheCtx) -> None:
    await cache_manager.set("meta:k", {"a": 1}, ttl=60, tags=["t1", "t2"])
    await asyncio.sleep(0.025)
    hit = await cache_manager.get_with_meta("meta:k")
    assert isinstance(hit, ResultMeta)
    assert (hit.value, hit.status, hit.tier, hit.tags, hit.stored) == ({"a": 1}, "hit", "l1", ["t1", "t2"], False)
    assert hit.age_ms is not None and 20 <= hit.age_ms < 5_000, hit
    assert hit.ttl_ms is not None and 55_000 < hit.ttl_ms <= 60_000, hit
    assert cache_status_header(hit) == f"stratacache; hit; ttl={hit.ttl_ms // 1000}"
    hit.value["a"] = 2
    assert (await cache_manager.get_with_meta("meta:k")).value == {"a": 1}, "every caller gets its own copy"
    miss = await cache_manager.get_with_meta("meta:absent")
    assert miss.to_dict() == {"value": None, "status": "miss", "tier": None, "age_ms": None, "ttl_ms": None, "tags": [], "stored": False}
    assert cache_status_header(miss, name="edge-1") == "edge-1; fwd=miss"
    with pytest.raises(InvalidArgumentError):
        cache_status_header(miss, name="has space")
    assert cache_status_header({"status": "stale", "ttl_ms": 0}) == "stratacache; hit; fwd=stale"


async def test_cache_aside_get_with_meta(cache: CacheCtx) -> None:
    runs = 0

    async def load() -> dict[str, int]:
        nonlocal runs
        runs += 1
        return {"n": 42}

    first = await cache_aside.get_with_meta("meta:aside", load, ttl=30, tags=["x"], ttl_jitter=0)
    assert first.to_dict() == {"value": {"n": 42}, "status": "miss", "tier": "loader", "age_ms": 0, "ttl_ms": 30_000, "tags": ["x"], "stored": True}
    assert cache_status_header(first) == "stratacache; fwd=miss; stored"
    second = await cache_aside.get_with_meta("meta:aside", load, ttl=30)
    assert second.status == "hit" and second.tier in ("l1", "l2") and second.value == {"n": 42}
    assert runs == 1
    with pytest.raises(InvalidArgumentError):
        await cache_aside.get_with_meta("meta:aside", load, ttl=-5)


async def test_a_hard_timeout_raises_in_time_and_the_value_arrives_later(cache: CacheCtx) -> None:
    runs = 0

    async def slow() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.4)
        return "late"

    t0 = time.monotonic()
    with pytest.raises(stratacache.CacheTimeoutError, match=r"hardTimeoutMs \(50 ms\)") as info:
        await cache_aside.get("hard:k", slow, ttl=60, hard_timeout_ms=50)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - t0 < 0.3, "raised well under the loader's 400 ms"
    await asyncio.sleep(0.5)
    assert await cache_manager.get("hard:k") == "late"
    assert await cache_aside.get("hard:k", slow, ttl=60, hard_timeout_ms=50) == "late"
    assert runs == 1


async def test_get_many_loads_the_missing_keys_once(cache: CacheCtx) -> None:
    await cache_manager.set("gm:a", "A", ttl=60)
    calls: list[list[str]] = []

    async def loader(keys: list[str]) -> dict[str, Any]:
        calls.append(keys)
        return {k: {"k": k} for k in keys if not k.startswith("gm:none")}

    out = await cache_aside.get_many(["gm:a", "gm:b", "gm:none", "gm:c", "gm:b"], loader, ttl=60)
    assert out == {"gm:a": "A", "gm:b": {"k": "gm:b"}, "gm:none": None, "gm:c": {"k": "gm:c"}}
    assert list(out) == ["gm:a", "gm:b", "gm:none", "gm:c"], "input order"
    assert calls == [["gm:b", "gm:none", "gm:c"]]
    assert await cache_manager.get("gm:c") == {"k": "gm:c"}
    assert await cache_manager.get("gm:none") is None

    seen: list[str] = []

    async def slow(keys: list[str]) -> dict[str, Any]:
        seen.extend(keys)
        await asyncio.sleep(0.1)
        return {k: f"v-{k}" for k in keys}

    async def later() -> dict[str, Any]:
        await asyncio.sleep(0.03)
        return await cache_aside.get_many(["ov:y", "ov:z"], slow, ttl=60)

    a, b = await asyncio.gather(cache_aside.get_many(["ov:x", "ov:y"], slow, ttl=60), later())
    assert (a, b) == ({"ov:x": "v-ov:x", "ov:y": "v-ov:y"}, {"ov:y": "v-ov:y", "ov:z": "v-ov:z"})
    assert sorted(seen) == ["ov:x", "ov:y", "ov:z"], "each key loaded once"

    class Boom(Exception):
        pass

    async def failing(keys: list[str]) -> dict[str, Any]:
        raise Boom("db down")

    with pytest.raises(Boom):
        await cache_aside.get_many(["err:1"], failing, ttl=60)
    assert await cache_manager.get("err:1") is None
