"""stratacache.fastapi: the ``@cached`` route decorator (Cache-Status, tags, single-flight, the request's
own parameters kept) and the ``RateLimit`` dependency (standard headers, 429 with Retry-After), driven in
process through httpx's ASGI transport against a real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request

from stratacache import cache_invalidator
from stratacache.fastapi import RateLimit, cached


def make_app(calls: dict[str, int]) -> FastAPI:
    app = FastAPI()

    @app.get("/products/{product_id}")
    @cached(ttl=60, tags=lambda request: ["products", f"product:{request.path_params['product_id']}"])
    async def product(product_id: int, detail: bool = False) -> dict[str, Any]:
        calls["product"] = calls.get("product", 0) + 1
        await asyncio.sleep(0.05)
        return {"id": product_id, "detail": detail, "n": calls["product"]}

    @app.get("/whoami")
    @cached(ttl=60, key=lambda request: f"whoami:{request.headers.get('x-user', '-')}")
    async def whoami(request: Request) -> dict[str, Any]:
        calls["whoami"] = calls.get("whoami", 0) + 1
        return {"user": request.headers.get("x-user")}

    @app.get("/limited", dependencies=[Depends(RateLimit(window_ms=60_000, max_requests=3, prefix="t"))])
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    return app


async def test_cached_routes_hit_after_the_first_call_and_say_so(cache: Any) -> None:
    calls: dict[str, int] = {}
    transport = httpx.ASGITransport(app=make_app(calls))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.get("/products/7")
        assert first.status_code == 200 and first.json() == {"id": 7, "detail": False, "n": 1}
        assert first.headers["cache-status"] == "stratacache; fwd=miss; stored"
        again = await client.get("/products/7")
        assert again.json() == first.json()
        assert again.headers["cache-status"].startswith("stratacache; hit; ttl=")
        # The query is part of the key; the route still gets its own parameters.
        detail = await client.get("/products/7", params={"detail": "true"})
        assert detail.json()["detail"] is True and detail.json()["n"] == 2
        # Ten concurrent cold requests run the route once.
        results = await asyncio.gather(*(client.get("/products/8") for _ in range(10)))
        assert {r.json()["n"] for r in results} == {3}
        assert calls["product"] == 3
        # A tag invalidation (from anywhere) makes the next request load again.
        await cache_invalidator.invalidate_tags(["product:7"])
        fresh = await client.get("/products/7")
        assert fresh.headers["cache-status"] == "stratacache; fwd=miss; stored" and fresh.json()["n"] == 4
        assert (await client.get("/products/8")).headers["cache-status"].startswith("stratacache; hit")
        # A custom key, and a route that asks for the request itself.
        a = await client.get("/whoami", headers={"x-user": "ada"})
        b = await client.get("/whoami", headers={"x-user": "bob"})
        assert (a.json(), b.json()) == ({"user": "ada"}, {"user": "bob"})
        assert (await client.get("/whoami", headers={"x-user": "ada"})).headers["cache-status"].startswith("stratacache; hit")
        assert calls["whoami"] == 2


async def test_rate_limit_dependency_sets_headers_and_answers_429(cache: Any) -> None:
    transport = httpx.ASGITransport(app=make_app({}), client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for remaining in (2, 1, 0):
            r = await client.get("/limited")
            assert r.status_code == 200
            assert r.headers["x-ratelimit-limit"] == "3" and r.headers["x-ratelimit-remaining"] == str(remaining)
            assert "ratelimit-policy" in r.headers
        denied = await client.get("/limited")
        assert denied.status_code == 429
        assert denied.json() == {"detail": "Rate limit exceeded"}
        assert int(denied.headers["retry-after"]) >= 1 and denied.headers["x-ratelimit-remaining"] == "0"
    # Another client has its own quota.
    other = httpx.ASGITransport(app=make_app({}), client=("10.9.9.9", 5000))
    async with httpx.AsyncClient(transport=other, base_url="http://test") as client:
        assert (await client.get("/limited")).status_code == 200
