"""The usage guide's "Monitoring" section (Health Check, Metrics Endpoint, Dashboard) in snake_case, as
a user would write it with an aiohttp-like framework. Checked with ``mypy --strict`` by
tests/python/test_types.py (never executed: the app and responses are stand-ins); the same handlers
run over HTTP in tests/python/test_metrics.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from typing_extensions import assert_type

from stratacache import HealthReport, LatencySummary, MetricsReport, cache_manager, cache_metrics, session_manager


class Response:
    def __init__(self, body: str, status: int = 200, content_type: str = "application/json") -> None:
        self.body, self.status, self.content_type = body, status, content_type


Handler = Callable[[], Awaitable[Response]]


class App:
    def get(self, path: str) -> Callable[[Handler], Handler]:
        def register(h: Handler) -> Handler:
            return h

        return register


app = App()


# ### Health Check
@app.get("/health/cache")
async def health_cache() -> Response:
    health = await cache_metrics.health_check()
    return Response(
        json.dumps({"status": health.status, "checks": health.checks.to_dict()}),
        status=200 if health.status == "healthy" else 503,
    )


# ### Metrics Endpoint
@app.get("/metrics/cache")
async def metrics_cache() -> Response:
    metrics = await cache_metrics.get_metrics_json()
    return Response(json.dumps(metrics.to_dict()))


@app.get("/metrics")
async def prometheus() -> Response:
    metrics = await cache_metrics.get_prometheus_metrics()
    return Response(metrics, content_type="text/plain")


# ### Dashboard
@app.get("/admin/cache-dashboard")
async def dashboard() -> Response:
    metrics, cache_stats, session_stats = await asyncio.gather(
        cache_metrics.get_metrics_json(),
        cache_manager.get_stats(),
        session_manager.get_stats(),
    )
    body: dict[str, Any] = {
        "performance": {
            "hit_rate": f"{metrics.hit_rate.total:.2f}%",
            "avg_latency": f"{metrics.latency.get.avg:.2f}ms",
            "p95_latency": f"{metrics.latency.get.p95}ms",
        },
        "cache": {
            "l1_size": f"{cache_stats.l1.size}/{cache_stats.l1.max_size}",
            "l1_hit_rate": f"{cache_stats.l1.hit_rate:.2f}%",
            "l2_hit_rate": f"{cache_stats.l2.hit_rate:.2f}%",
        },
        "sessions": {"total": session_stats.total_sessions, "by_user": len(session_stats.sessions_by_user)},
        "health": {"status": metrics.health.status, "uptime": f"{metrics.health.uptime // 1000}s"},
    }
    return Response(json.dumps(body))


async def typed() -> None:
    assert_type(await cache_metrics.health_check(), HealthReport)
    m = await cache_metrics.get_metrics_json()
    assert_type(m, MetricsReport)
    assert_type(m.latency.get, LatencySummary)
    assert_type(m.latency.set.p99, float)
