"""The usage guide's "Initialization" and "Basic Operations" in Python (snake_case).

Run: ./dev demo (it starts a redis-server when REDIS_URL is unset).
"""

import asyncio
import datetime

from stratacache import (
    cache_aside,
    cache_manager,
    cache_metrics,
    cache_warmer,
    initialize_cache_system,
    rate_limit_headers,
    rate_limit_presets,
    redis_rate_limiter,
    shutdown_cache_system,
)


async def main() -> None:
    status = await initialize_cache_system(redis={"namespace": "demo"})
    print("Cache system ready!", status)

    await cache_manager.set("greeting", "Hello World", ttl=60)
    print("greeting:", await cache_manager.get("greeting"))
    await cache_manager.delete("greeting")

    ticket_id = 8
    ticket_data = {"id": ticket_id, "title": "Coffee machine", "opened_at": datetime.datetime.now(datetime.timezone.utc)}
    await cache_manager.set(f"ticket:{ticket_id}", ticket_data, ttl=300, tags=["tickets", f"ticket:{ticket_id}"])
    print("ticket:", await cache_manager.get(f"ticket:{ticket_id}"))
    await cache_manager.invalidate_by_tags(["tickets"])
    print("after invalidate_by_tags:", await cache_manager.get(f"ticket:{ticket_id}"))

    doc = await cache_manager.get("doc:large")  # written compressed by the Node demo
    print("doc:large (written by Node, compressed):", None if doc is None else f"{len(doc['rows'])} rows")

    users = await cache_manager.mget(["user:1", "user:2", "user:3"])  # written by Node
    for key, user in users.items():
        print(f"{key}: {user and user['name']}")
    loads = 0

    async def load_report() -> dict[str, int]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.03)
        return {"total": 42}

    await asyncio.gather(*[cache_aside.get("report:py", load_report, ttl=60) for _ in range(100)])
    print(f"cache_aside: 100 callers, {loads} load")

    # The same login limit as the Node demo (7 per 15 minutes): Node used 6, one is left.
    for attempt in (7, 8):
        r = await redis_rate_limiter.limit("auth:demo", **{**rate_limit_presets.auth, "max_requests": 7})
        verdict = "allowed" if r.allowed else f"429, retry after {r.retry_after} s"
        print(f"login attempt {attempt} (Python, shared quota): {verdict}, remaining {r.remaining}")
    print("  headers:", rate_limit_headers(r, window_ms=rate_limit_presets.auth.window_ms))
    # Cache warming (the guide's Custom Strategy in snake_case): Node registered the same name in its
    # process; this one is Python's own.
    async def fetch_products() -> list[dict[str, object]]:
        return [{"key": f"product:{i}", "value": {"id": i}, "options": {"ttl": 3600, "tags": ["products"]}} for i in (1, 2, 3)]

    cache_warmer.register_strategy(name="popular-products", priority=9, enabled=True, fetch_fn=fetch_products, schedule="every 1h")
    print("warmed:", await cache_warmer.warm_strategy("popular-products"))
    print("stats:", await cache_manager.get_stats())

    # Monitoring (the guide's Health Check and Metrics Endpoint, in snake_case).
    health = await cache_metrics.health_check()
    print(f"health: {health.status} (redis {health.checks.redis.status}, bus {health.checks.bus.status})")
    metrics = await cache_metrics.get_metrics_json()
    print(f"hit rate {metrics.hit_rate.total:.2f}%, get p95 {metrics.latency.get.p95:.3f} ms, {metrics.operations.sets} sets")
    prom = await cache_metrics.get_prometheus_metrics()
    print("\n".join(line for line in prom.splitlines() if line.startswith("stratacache_cache_gets_total")))
    await shutdown_cache_system()


if __name__ == "__main__":
    asyncio.run(main())
