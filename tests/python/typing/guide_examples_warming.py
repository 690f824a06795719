"""The usage guide's "Cache Warming" section (Startup Warming, Custom Strategy, Scheduled Warming) and
"Recipe 3: Real-time Dashboard" in snake_case, as a user would write them. Checked with
``mypy --strict`` by tests/python/test_types.py (never executed: the database is a stand-in); the
same strategies run in tests/python/test_warming.py.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from typing_extensions import assert_type

from stratacache import WarmReport, cache_invalidator, cache_warmer, warm_cache_on_startup


class Db(Protocol):
    async def featured_products(self) -> list[dict[str, Any]]: ...
    async def get_tickets_today(self) -> int: ...
    async def get_tickets_by_status(self) -> dict[str, int]: ...
    async def get_avg_response_time(self) -> float: ...
    async def get_sla_compliance(self) -> float: ...
    async def update_ticket(self, ticket_id: int) -> None: ...


db: Db = cast(Db, None)


async def calculate_dashboard_metrics() -> dict[str, int]:
    return {"open": 3}


# ### Startup Warming
async def startup() -> None:
    await warm_cache_on_startup()


# ### Custom Strategy
async def fetch_products() -> list[dict[str, Any]]:
    products = await db.featured_products()
    return [
        {"key": f"product:{p['id']}", "value": p, "options": {"ttl": 3600, "tags": ["products", f"product:{p['id']}"]}}
        for p in products
    ]


cache_warmer.register_strategy(
    name="popular-products", priority=9, enabled=True, fetch_fn=fetch_products, schedule="every 1h"
)


async def warm_products() -> None:
    report = await cache_warmer.warm_strategy("popular-products")
    assert_type(report, WarmReport)
    assert_type(report.entries, int)


# ### Scheduled Warming
async def fetch_dashboard() -> list[dict[str, Any]]:
    metrics = await calculate_dashboard_metrics()
    return [{"key": "dashboard:metrics", "value": metrics, "options": {"ttl": 60, "tags": ["dashboard"]}}]


cache_warmer.register_strategy(
    name="dashboard-refresh", priority=10, enabled=True, fetch_fn=fetch_dashboard, schedule="every 5m"
)


# ### Recipe 3: Real-time Dashboard
async def fetch_realtime() -> list[dict[str, Any]]:
    metrics = {
        "tickets_today": await db.get_tickets_today(),
        "tickets_by_status": await db.get_tickets_by_status(),
        "avg_response_time": await db.get_avg_response_time(),
        "sla_compliance": await db.get_sla_compliance(),
    }
    return [{"key": "dashboard:realtime", "value": metrics, "options": {"ttl": 60, "tags": ["dashboard"]}}]


cache_warmer.register_strategy(
    name="dashboard-realtime", priority=10, enabled=True, fetch_fn=fetch_realtime, schedule="every 1m"
)


async def on_ticket_update(ticket_id: int) -> None:
    await db.update_ticket(ticket_id)
    await cache_invalidator.invalidate_tags(["dashboard"])


async def reports() -> None:
    assert_type(await cache_warmer.warm_all(), list[WarmReport])
    assert_type(await warm_cache_on_startup(), list[WarmReport])
