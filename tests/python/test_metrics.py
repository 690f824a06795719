"""``cache_metrics`` through the pip package: the guide's Monitoring section (snake_case) served over
HTTP; counters that move by exactly the operations made; histogram counts; ``get_stats()`` agreeing;
the Prometheus exposition read by the official parser and checked by ``promtool``; ``skip_metrics``;
health healthy → degraded → healthy as Redis stops and comes back."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from typing import Any, Awaitable, Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

import stratacache
from stratacache import cache_manager, cache_metrics, redis_rate_limiter, session_manager

import sys
from pathlib import Path

from conftest import CacheCtx, start_redis_server, stop_redis_server, free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_proxy import FaultProxy  # noqa: E402

Handler = Callable[[], Awaitable[tuple[int, str, str]]]


async def serve(routes: dict[str, Handler]) -> tuple[asyncio.AbstractServer, int]:
    """A minimal HTTP/1.0 server: GET path → (status, content type, body)."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ")[1].decode()
        handler = routes.get(path)
        status, ctype, body = await handler() if handler else (404, "text/plain", "")
        data = body.encode()
        writer.write(f"HTTP/1.0 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def get(port: int, path: str) -> tuple[int, str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    ctype = next(line.split(": ", 1)[1] for line in lines if line.lower().startswith("content-type"))
    return int(lines[0].split(" ")[1]), ctype, body.decode()


async def within(seconds: float, what: str, check: Callable[[], Awaitable[bool]]) -> float:
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        assert time.monotonic() - start < seconds, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.05)


async def test_the_guides_monitoring_section_over_http(cache: CacheCtx) -> None:
    # The guide's handlers in snake_case.
    async def health_cache() -> tuple[int, str, str]:
        health = await cache_metrics.health_check()
        body = {"status": health.status, "checks": health.checks.to_dict()}
        return (200 if health.status == "healthy" else 503), "application/json", json.dumps(body)

    async def metrics_cache() -> tuple[int, str, str]:
        metrics = await cache_metrics.get_metrics_json()
        return 200, "application/json", json.dumps(metrics.to_dict())

    async def prometheus() -> tuple[int, str, str]:
        metrics = await cache_metrics.get_prometheus_metrics()
        return 200, "text/plain", metrics

    async def dashboard() -> tuple[int, str, str]:
        metrics, cache_stats, session_stats = await asyncio.gather(
            cache_metrics.get_metrics_json(),
            cache_manager.get_stats(),
            session_manager.get_stats(),
        )
        body = {
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
        return 200, "application/json", json.dumps(body)

    server, port = await serve(
        {"/health/cache": health_cache, "/metrics/cache": metrics_cache, "/metrics": prometheus, "/admin/cache-dashboard": dashboard}
    )
    try:
        await cache_manager.set("dash:1", {"a": 1})
        await cache_manager.get("dash:1")
        await session_manager.create_session({"user_id": "u1", "tenant_id": 1, "role": "user", "email": "a@b.c", "ip_address": "1.2.3.4", "user_agent": "x"})
        status, _, body = await get(port, "/health/cache")
        h = json.loads(body)
        assert status == 200 and h["status"] == "healthy", body
        assert sorted(h["checks"]) == ["bus", "l1", "redis"]
        assert h["checks"]["redis"]["status"] == "up" and h["checks"]["bus"]["tracking"] is True

        m = json.loads((await get(port, "/metrics/cache"))[2])
        assert m["namespace"] == cache.ns and m["latency"]["get"]["count"] >= 1 and 0 <= m["hit_rate"]["total"] <= 100

        status, ctype, text = await get(port, "/metrics")
        assert ctype.startswith("text/plain") and f'stratacache_cache_sets_total{{namespace="{cache.ns}"}} 1' in text

        d = json.loads((await get(port, "/admin/cache-dashboard"))[2])
        assert d["performance"]["hit_rate"].endswith("%") and d["cache"]["l1_size"].endswith("/10000")
        assert d["sessions"]["total"] == 1 and d["health"]["status"] == "healthy" and d["health"]["uptime"].endswith("s")
    finally:
        server.close()
        await server.wait_closed()


async def test_counters_move_by_exactly_the_operations_made(cache: CacheCtx) -> None:
    before = await cache_metrics.get_metrics_json()
    for i in range(20):
        await cache_manager.set(f"c:{i}", i)
    for i in range(20):
        assert await cache_manager.get(f"c:{i}") == i
    for i in range(5):
        assert await cache_manager.get(f"c:absent:{i}") is None
    await cache_manager.delete("c:0")
    for _ in range(3):
        await redis_rate_limiter.limit("metrics:ip", window_ms=60_000, max_requests=2, algorithm="leaky-bucket")
    after = await cache_metrics.get_metrics_json()
    assert after.operations.sets - before.operations.sets == 20
    assert after.latency.set.count - before.latency.set.count == 20
    assert after.operations.l1_hits - before.operations.l1_hits == 20
    assert after.operations.l2_misses - before.operations.l2_misses == 5
    assert after.latency.get.count - before.latency.get.count == 25, "one get sample per key read"
    assert after.operations.deletes - before.operations.deletes == 1
    lb = next(a for a in after.rate_limit.by_algorithm if a.algorithm == "leaky-bucket")
    assert (lb.allowed, lb.denied) == (2, 1)
    stats = await cache_manager.get_stats()
    assert (stats.l1.hits, stats.l2.misses) == (after.operations.l1_hits, after.operations.l2_misses)
    g = after.latency.get
    assert g.max >= g.p99 >= g.p95 >= g.p50 and g.avg > 0
    assert after["hit_rate"]["l1"] == after.hit_rate.l1, "records read as mappings too"


async def test_prometheus_output_parses_and_passes_promtool(cache: CacheCtx) -> None:
    await cache_manager.set("p:1", 1)
    assert await cache_manager.get("p:1") == 1
    assert await cache_manager.get("p:absent") is None
    text = await cache_metrics.get_prometheus_metrics()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    gets = families["stratacache_cache_gets"]
    assert gets.type == "counter"
    by_tier = {(s.labels["tier"], s.labels["outcome"]): s.value for s in gets.samples if s.name.endswith("_total")}
    assert by_tier[("l1", "hit")] == 1 and by_tier[("l2", "miss")] == 1
    hist = families["stratacache_cache_get_duration_seconds"]
    assert hist.type == "histogram"
    count = next(s.value for s in hist.samples if s.name.endswith("_count"))
    inf = next(s.value for s in hist.samples if s.name.endswith("_bucket") and s.labels["le"] == "+Inf")
    assert count == inf == 2
    assert all(s.labels["namespace"] == cache.ns for f in families.values() for s in f.samples)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: ./dev deps installs Debian's prometheus package"
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()


async def test_skip_metrics_stops_recording_and_bad_input_is_refused(cache: CacheCtx) -> None:
    with pytest.raises(stratacache.InvalidArgumentError, match="skip_metrics must be a bool, got str 'yes'"):
        await stratacache.initialize_cache_system(skip_metrics="yes")  # type: ignore[arg-type]
    await stratacache.shutdown_cache_system()
    await stratacache.initialize_cache_system(skip_metrics=True)
    try:
        await cache_manager.set("skip:a", 1)
        assert await cache_manager.get("skip:a") == 1
        m = await cache_metrics.get_metrics_json()
        assert m.enabled is False
        assert (m.latency.get.count, m.latency.set.count, m.operations.sets) == (0, 0, 0)
        assert (await cache_manager.get_stats()).l1.hits == 1
    finally:
        await stratacache.shutdown_cache_system()
        await stratacache.initialize_cache_system(skip_metrics=False)
    assert (await cache_metrics.get_metrics_json()).enabled is True


async def test_health_goes_degraded_when_redis_stops_and_healthy_when_it_is_back(ns: str) -> None:
    port = free_port()
    server = start_redis_server(port)
    stratacache.create_redis_client(url=server.url, namespace=ns, command_timeout_ms=500, connect_timeout_ms=500)
    await stratacache.initialize_cache_system()
    try:
        assert (await cache_metrics.health_check()).status == "healthy"
        stop_redis_server(server)

        async def degraded() -> bool:
            h = await cache_metrics.health_check()
            return h.status == "degraded" and h.checks.redis.status == "down"

        await within(5, "degraded", degraded)
        assert (await cache_metrics.get_metrics_json()).health.status == "degraded"
        server = start_redis_server(port)

        async def healthy() -> bool:
            return (await cache_metrics.health_check()).status == "healthy"

        await within(10, "healthy again", healthy)
        assert (await cache_metrics.get_metrics_json()).redis.recoveries >= 1
    finally:
        await stratacache.shutdown_cache_system()
        stop_redis_server(server)


async def test_a_frozen_bus_is_degraded_until_it_answers_again(redis_server: Any, ns: str) -> None:
    with FaultProxy.start(redis_server.port) as proxy:
        stratacache.create_redis_client(url=proxy.url, namespace=ns, command_timeout_ms=500, connect_timeout_ms=500)
        await stratacache.initialize_cache_system()
        try:
            async def healthy() -> bool:
                return (await cache_metrics.health_check()).status == "healthy"

            async def degraded() -> bool:
                h = await cache_metrics.health_check()
                return h.status == "degraded" and h.checks.bus.status == "down"

            await within(5, "healthy behind the proxy", healthy)
            proxy.freeze()  # nothing closes, nothing answers
            await within(6, "degraded while frozen", degraded)
            proxy.pass_()
            await within(8, "healthy after the thaw", healthy)
        finally:
            await stratacache.shutdown_cache_system()
