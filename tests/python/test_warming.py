"""``cache_warmer`` through the pip package: the guide's Cache Warming section in snake_case, priority
order, reports, a failing strategy that stops nothing, entries with their TTL and tags, bad input
refused at registration, schedules that stop at shutdown (the loop closes without warnings)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any, Iterator

import pytest

import stratacache
from stratacache import (
    InvalidArgumentError,
    cache_invalidator,
    cache_manager,
    cache_metrics,
    cache_warmer,
    warm_cache_on_startup,
)

from conftest import CacheCtx


@pytest.fixture
def strategies() -> Iterator[list[str]]:
    """Names registered by a test, unregistered afterwards (the registry is process-wide)."""
    names: list[str] = []
    yield names
    for n in names:
        cache_warmer.unregister_strategy(n)


class Db:
    async def featured_products(self) -> list[dict[str, Any]]:
        return [{"id": 1, "name": "Lamp"}, {"id": 2, "name": "Desk"}]


db = Db()


async def calculate_dashboard_metrics() -> dict[str, int]:
    return {"open": 3, "closed": 7}


async def test_the_guides_cache_warming_section(cache: CacheCtx, strategies: list[str]) -> None:
    # Custom Strategy
    async def fetch_products() -> list[dict[str, Any]]:
        products = await db.featured_products()
        return [
            {"key": f"product:{p['id']}", "value": p, "options": {"ttl": 3600, "tags": ["products", f"product:{p['id']}"]}}
            for p in products
        ]

    cache_warmer.register_strategy(name="popular-products", priority=9, enabled=True, fetch_fn=fetch_products, schedule="every 1h")
    report = await cache_warmer.warm_strategy("popular-products")

    # Scheduled Warming
    async def fetch_dashboard() -> list[dict[str, Any]]:
        metrics = await calculate_dashboard_metrics()
        return [{"key": "dashboard:metrics", "value": metrics, "options": {"ttl": 60, "tags": ["dashboard"]}}]

    cache_warmer.register_strategy(name="dashboard-refresh", priority=10, enabled=True, fetch_fn=fetch_dashboard, schedule="every 5m")

    # Startup Warming
    reports = await warm_cache_on_startup()
    strategies += ["popular-products", "dashboard-refresh"]

    assert (report.name, report.entries, report.error) == ("popular-products", 2, None) and report.duration_ms >= 0
    assert [(r.name, r.entries) for r in reports] == [("dashboard-refresh", 1), ("popular-products", 2)], "priority 10 first"
    assert await cache_manager.get("product:1") == {"id": 1, "name": "Lamp"}
    pttl = cache.resp("PTTL", cache.dkey("product:2"))
    assert isinstance(pttl, int) and 3_590_000 < pttl <= 3_600_000, pttl
    assert sorted(cache_warmer.scheduled()) == ["dashboard-refresh", "popular-products"]
    await cache_invalidator.invalidate_tags(["products"])
    assert await cache_manager.get("product:1") is None, "a tag invalidation evicts warmed entries"
    assert await cache_manager.get("dashboard:metrics") == {"open": 3, "closed": 7}
    m = await cache_metrics.get_metrics_json()
    assert m.warming.runs >= 3 and m.warming.entries >= 5


async def test_priority_order_and_a_failure_that_stops_nothing(cache: CacheCtx, strategies: list[str]) -> None:
    order: list[str] = []

    def recorder(name: str, entries: list[dict[str, Any]]) -> Any:
        async def fetch() -> list[dict[str, Any]]:
            order.append(name)
            return entries

        return fetch

    async def broken() -> list[dict[str, Any]]:
        order.append("w-broken")
        raise RuntimeError("db down")

    cache_warmer.register_strategy(name="w-low", priority=-5, enabled=True, fetch_fn=recorder("w-low", [{"key": "w:low", "value": 1}]))
    cache_warmer.register_strategy(name="w-high", priority=50, enabled=True, fetch_fn=recorder("w-high", [{"key": "w:high", "value": 2}]))
    cache_warmer.register_strategy(name="w-broken", priority=20, enabled=True, fetch_fn=broken)
    cache_warmer.register_strategy(name="w-off", priority=99, enabled=False, fetch_fn=recorder("w-off", []))
    strategies += ["w-low", "w-high", "w-broken", "w-off"]
    reports = [r for r in await cache_warmer.warm_all() if r.name.startswith("w-")]
    assert [r.name for r in reports] == ["w-high", "w-broken", "w-low"]
    assert order == ["w-high", "w-broken", "w-low"], "called in priority order; disabled skipped"
    assert reports[1].error == "db down" and reports[1].entries == 0
    assert await cache_manager.get("w:low") == 1, "the strategy after the failing one still ran"
    startup = await warm_cache_on_startup()
    assert next(r for r in startup if r.name == "w-broken").error == "db down", "reported, never raised"


async def test_bad_input_is_refused_at_registration(cache: CacheCtx) -> None:
    async def nothing() -> list[dict[str, Any]]:
        return []

    for schedule in ["every banana", "sometimes", "every -1m", "every 0s"]:
        with pytest.raises(InvalidArgumentError, match=f'got "{schedule}"'):
            cache_warmer.register_strategy(name="bad", priority=1, enabled=True, fetch_fn=nothing, schedule=schedule)
    with pytest.raises(InvalidArgumentError, match="priority must be a whole number, got 1.5"):
        cache_warmer.register_strategy(name="bad", priority=1.5, enabled=True, fetch_fn=nothing)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="enabled must be a bool"):
        cache_warmer.register_strategy(name="bad", priority=1, enabled="yes", fetch_fn=nothing)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="fetch_fn must be callable"):
        cache_warmer.register_strategy(name="bad", priority=1, enabled=True, fetch_fn="nope")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="strategy name must be a non-empty string"):
        cache_warmer.register_strategy(name="", priority=1, enabled=True, fetch_fn=nothing)
    assert cache_warmer.unregister_strategy("bad") is False
    with pytest.raises(InvalidArgumentError, match='"no-such"'):
        await cache_warmer.warm_strategy("no-such")
    with pytest.raises(InvalidArgumentError, match="skip_warming must be a bool"):
        await stratacache.initialize_cache_system(skip_warming="no")  # type: ignore[arg-type]


async def test_a_bad_entry_fails_its_run_and_writes_nothing(cache: CacheCtx, strategies: list[str]) -> None:
    async def garbage() -> list[dict[str, Any]]:
        return [{"key": "w:ok", "value": 1}, {"key": "w:bad", "value": object()}]

    cache_warmer.register_strategy(name="w-garbage", priority=0, enabled=False, fetch_fn=garbage)
    strategies.append("w-garbage")
    report = await cache_warmer.warm_strategy("w-garbage")
    assert report.error is not None and "object" in report.error, report
    assert await cache_manager.get("w:ok") is None


def test_a_schedule_stops_at_shutdown_and_the_loop_closes_cleanly(redis_server: Any, ns: str, venv_python: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, json, warnings
        warnings.simplefilter("error")
        import stratacache
        from stratacache import cache_warmer

        runs = 0

        async def tick():
            global runs
            runs += 1
            return [{{"key": "tick", "value": runs, "options": {{"ttl": 60}}}}]

        async def main():
            stratacache.create_redis_client(url={redis_server.url!r}, namespace={ns!r})
            cache_warmer.register_strategy(name="tick", priority=1, enabled=True, fetch_fn=tick, schedule="every 1s")
            await stratacache.initialize_cache_system(skip_warming=True)
            await asyncio.sleep(2.3)
            await stratacache.shutdown_cache_system()
            at_shutdown = runs
            await asyncio.sleep(1.3)
            print(json.dumps({{"at_shutdown": at_shutdown, "later": runs}}))

        asyncio.run(main())
        """
    )
    r = subprocess.run([venv_python, "-X", "dev", "-c", script], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Task was destroyed" not in r.stderr and "never awaited" not in r.stderr and "Unclosed" not in r.stderr, r.stderr
    out = __import__("json").loads(r.stdout.strip().splitlines()[-1])
    assert 2 <= out["at_shutdown"] <= 3, out
    assert out["later"] == out["at_shutdown"], "no schedule fires after shutdown_cache_system()"
