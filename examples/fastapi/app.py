"""The usage guide's three production recipes and its Monitoring section as one FastAPI app.

Run it with ``./start.sh`` (see README.md). The HTTP API is the same in the Express, Next.js and FastAPI
examples, with the guide's camelCase JSON field names:

    GET  /api/users/{id}          rate limit per client IP (100 a minute) + cache-aside over SQLite (Recipe 1)
    POST /auth/login              {"email", "password"} -> session cookie ``sid`` (Recipe 2)
    POST /auth/logout             ends this session
    POST /auth/logout-all         ends every session of the signed-in user
    GET  /api/me                  the signed-in user (401 without a valid ``sid``: the guide's middleware)
    GET  /api/dashboard           Recipe 3: real-time dashboard metrics, warmed ``every 1m``
    POST /api/tickets/{id}        {"status"}: updates a ticket and invalidates tag ``dashboard``
    GET  /health/cache            200 when healthy, 503 otherwise
    GET  /metrics/cache           the metrics report (JSON)
    GET  /metrics                 Prometheus text
    GET  /admin/cache-dashboard   the guide's dashboard summary

Configuration: ``REDIS_URL`` (and every other variable stratacache reads), ``DATABASE`` (the SQLite file,
default ``demo.sqlite3`` beside this file; created with a demo user and a few tickets).
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Optional

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from stratacache import (
    cache_aside,
    cache_invalidator,
    cache_manager,
    cache_metrics,
    cache_warmer,
    initialize_cache_system,
    redis_rate_limiter,
    session_manager,
    shutdown_cache_system,
)

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo"
DATABASE = Path(os.environ.get("DATABASE", Path(__file__).with_name("demo.sqlite3")))


# ----- a small real database ----------------------------------------------------------------------


def password_hash(password: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 100_000).hex()


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(DATABASE)
    conn.row_factory = sqlite3.Row
    return conn


def create_database() -> None:
    with db() as conn:
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, tenant_id INTEGER, name TEXT, email TEXT UNIQUE,
                                              role TEXT, salt BLOB, password_hash TEXT);
            CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, status TEXT, created_at TEXT DEFAULT (date('now')),
                                                response_minutes REAL, sla_met INTEGER);
            """
        )
        if conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
            salt = os.urandom(16)
            conn.execute("INSERT INTO users VALUES (1, 1, 'Demo User', ?, 'admin', ?, ?)", (DEMO_EMAIL, salt, password_hash(DEMO_PASSWORD, salt)))
            for i in range(2, 6):
                conn.execute("INSERT INTO users (id, tenant_id, name, email, role) VALUES (?, 1, ?, ?, 'user')", (i, f"User {i}", f"user{i}@example.com"))
            for i, (status, minutes, sla) in enumerate([("open", 12, 1), ("open", 45, 0), ("pending", 8, 1), ("closed", 30, 1), ("closed", 5, 1)], 1):
                conn.execute("INSERT INTO tickets (id, status, response_minutes, sla_met) VALUES (?, ?, ?, ?)", (i, status, minutes, sla))


def get_user(user_id: int) -> Optional[dict[str, Any]]:
    with db() as conn:
        row = conn.execute("SELECT id, tenant_id, name, email, role FROM users WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else {"id": row["id"], "tenantId": row["tenant_id"], "name": row["name"], "email": row["email"], "role": row["role"]}


def authenticate_user(email: str, password: str) -> Optional[dict[str, Any]]:
    with db() as conn:
        row = conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    if row is None or row["salt"] is None or password_hash(password, row["salt"]) != row["password_hash"]:
        return None
    return {"id": row["id"], "tenant_id": row["tenant_id"], "role": row["role"], "email": row["email"]}


def dashboard_metrics() -> dict[str, Any]:
    with db() as conn:
        by_status = {r["status"]: r["n"] for r in conn.execute("SELECT status, COUNT(*) AS n FROM tickets GROUP BY status")}
        today = conn.execute("SELECT COUNT(*) FROM tickets WHERE created_at = date('now')").fetchone()[0]
        avg = conn.execute("SELECT AVG(response_minutes) FROM tickets").fetchone()[0] or 0.0
        sla = conn.execute("SELECT AVG(sla_met) FROM tickets").fetchone()[0] or 0.0
    return {"ticketsToday": today, "ticketsByStatus": by_status, "avgResponseTime": round(avg, 1), "slaCompliance": round(100 * sla, 1)}


# ----- the cache system ---------------------------------------------------------------------------


async def fetch_dashboard() -> list[dict[str, Any]]:
    return [{"key": "dashboard:realtime", "value": dashboard_metrics(), "options": {"ttl": 60, "tags": ["dashboard"]}}]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    create_database()
    # Recipe 3: warm the dashboard every minute (once per minute across every process on this Redis).
    cache_warmer.register_strategy(name="dashboard-realtime", priority=10, enabled=True, fetch_fn=fetch_dashboard, schedule="every 1m")
    await initialize_cache_system(skip_warming=False, skip_metrics=False)
    try:
        yield
    finally:
        await shutdown_cache_system()


app = FastAPI(title="stratacache FastAPI example", lifespan=lifespan)


def camel(value: Any) -> Any:
    """The guide's JSON field names: snake_case keys of the Python records as camelCase."""
    if isinstance(value, dict) or hasattr(value, "to_dict"):
        items = value.to_dict().items() if hasattr(value, "to_dict") else value.items()
        return {"".join(w.capitalize() if i else w for i, w in enumerate(str(k).split("_"))): camel(v) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [camel(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ----- Recipe 1: high-performance API -------------------------------------------------------------


@app.get("/api/users/{user_id}")
async def user(user_id: int, request: Request) -> Any:
    rate = await redis_rate_limiter.limit(f"api:{client_ip(request)}", window_ms=60_000, max_requests=100, algorithm="sliding-counter")
    if not rate.allowed:
        return JSONResponse({"error": "Rate limit exceeded"}, status_code=429)

    async def load() -> Optional[dict[str, Any]]:
        return get_user(user_id)

    found = await cache_aside.get(f"user:{user_id}", load, ttl=300, tags=[f"user:{user_id}"])
    if found is None:
        return JSONResponse({"error": "User not found"}, status_code=404)
    return found


# ----- Recipe 2: session-based auth ---------------------------------------------------------------


async def current_user(request: Request) -> dict[str, Any]:
    """The guide's Authentication Middleware, as a dependency: 401 without a valid ``sid`` cookie."""
    sid = request.cookies.get("sid")
    session = await session_manager.get_session(sid) if sid else None
    if session is None:
        raise HTTPException(status_code=401, detail="Not authenticated")
    await session_manager.touch_session(sid)  # type: ignore[arg-type]
    return {"id": session.user_id, "tenantId": session.tenant_id, "role": session.role, "email": session.email}


@app.post("/auth/login")
async def login(request: Request, response: Response) -> Any:
    body = await request.json()
    found = authenticate_user(str(body.get("email", "")), str(body.get("password", "")))
    if found is None:
        return JSONResponse({"error": "Invalid email or password"}, status_code=401)
    created = await session_manager.create_session(
        {"user_id": found["id"], "tenant_id": found["tenant_id"], "role": found["role"], "email": found["email"],
         "ip_address": client_ip(request), "user_agent": request.headers.get("user-agent", "")},
        ttl=86400, max_devices=5,
    )
    response.set_cookie("sid", created.session_id, httponly=True, secure=request.url.scheme == "https", samesite="lax", max_age=86400)
    return {"success": True}


@app.post("/auth/logout")
async def logout(request: Request, response: Response) -> Any:
    sid = request.cookies.get("sid")
    if sid:
        await session_manager.delete_session(sid)
    response.delete_cookie("sid")
    return {"success": True}


@app.post("/auth/logout-all")
async def logout_all(response: Response, me: dict[str, Any] = Depends(current_user)) -> Any:
    await session_manager.delete_user_sessions(me["id"])
    response.delete_cookie("sid")
    return {"success": True}


@app.get("/api/me")
async def me(me: dict[str, Any] = Depends(current_user)) -> Any:
    return me


# ----- Recipe 3: real-time dashboard --------------------------------------------------------------


@app.get("/api/dashboard")
async def dashboard() -> Any:
    metrics = await cache_manager.get("dashboard:realtime")
    if metrics is None:
        # Invalidated (or not warmed yet): warm it now rather than wait for the next minute.
        await cache_warmer.warm_strategy("dashboard-realtime")
        metrics = await cache_manager.get("dashboard:realtime") or dashboard_metrics()
    return metrics


@app.post("/api/tickets/{ticket_id}")
async def update_ticket(ticket_id: int, request: Request) -> Any:
    body = await request.json()
    with db() as conn:
        changed = conn.execute("UPDATE tickets SET status = ? WHERE id = ?", (str(body.get("status", "closed")), ticket_id)).rowcount
    if not changed:
        return JSONResponse({"error": "Ticket not found"}, status_code=404)
    await cache_invalidator.invalidate_tags(["dashboard"])
    return {"success": True}


# ----- Monitoring ---------------------------------------------------------------------------------


@app.get("/health/cache")
async def health() -> Any:
    report = await cache_metrics.health_check()
    return JSONResponse({"status": report.status, "checks": camel(report.checks)}, status_code=200 if report.status == "healthy" else 503)


@app.get("/metrics/cache")
async def metrics_json() -> Any:
    return camel(await cache_metrics.get_metrics_json())


@app.get("/metrics")
async def metrics_prometheus() -> Any:
    return PlainTextResponse(await cache_metrics.get_prometheus_metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")


@app.get("/admin/cache-dashboard")
async def cache_dashboard() -> Any:
    metrics = await cache_metrics.get_metrics_json()
    stats = await cache_manager.get_stats()
    sessions = await session_manager.get_stats()
    return {
        "performance": {
            "hitRate": f"{metrics.hit_rate.total:.2f}%",
            "avgLatency": f"{metrics.latency.get.avg:.2f}ms",
            "p95Latency": f"{metrics.latency.get.p95}ms",
        },
        "cache": {
            "l1Size": f"{stats.l1.size}/{stats.l1.max_size}",
            "l1HitRate": f"{stats.l1.hit_rate:.2f}%",
            "l2HitRate": f"{stats.l2.hit_rate:.2f}%",
        },
        "sessions": {"total": sessions.total_sessions, "byUser": len(sessions.sessions_by_user)},
        "health": {"status": metrics.health.status, "uptime": f"{metrics.health.uptime // 1000}s"},
    }
