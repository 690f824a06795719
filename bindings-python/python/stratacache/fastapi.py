"""FastAPI integration: a cached route decorator and a rate-limit dependency.

    from fastapi import Depends, FastAPI, Request
    from stratacache.fastapi import RateLimit, cached

    app = FastAPI()

    @app.get("/api/products/{product_id}")
    @cached(ttl=300, tags=lambda request: ["products", f"product:{request.path_params['product_id']}"])
    async def product(product_id: int) -> dict:
        return await db.product(product_id)          # runs on a miss only

    @app.get("/api/search", dependencies=[Depends(RateLimit(window_ms=60_000, max_requests=100))])
    async def search(q: str) -> list: ...

``@cached`` goes *under* the route decorator. It serves the route's JSON result through
``cache_aside.get_with_meta`` (single-flight in the process, the load lock across processes, tags,
invalidation everywhere) under the key ``route:<path>?<sorted query>`` (or ``key=``), and sets the RFC 9211
``Cache-Status`` header (``stratacache; hit; ttl=42``, ``stratacache; fwd=miss; stored``). The route's result
is made JSON-ready with FastAPI's ``jsonable_encoder`` before it is stored, so a hit returns exactly what a
miss returned.

``RateLimit`` is a dependency: one decision per request on ``<prefix>:<client>`` (the client IP unless
``key=`` says otherwise), the standard headers on the response (``X-RateLimit-*``, ``RateLimit``,
``RateLimit-Policy``), and ``429 Too Many Requests`` with ``Retry-After`` when denied.

FastAPI is not a dependency of the package: import this module only in an app that has it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Awaitable, Callable, Optional, Sequence, TypeVar, Union

from fastapi import HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder

from . import _meta
from ._patterns import cache_aside
from ._ratelimit import Algorithm, rate_limit_headers, redis_rate_limiter

__all__ = ["cached", "RateLimit", "route_key"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Tags = Union[Sequence[str], Callable[[Request], Sequence[str]], None]


def route_key(request: Request) -> str:
    """The default cache key of a request: ``route:<path>`` plus its query parameters, sorted."""
    query = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    return f"route:{request.url.path}" + (f"?{query}" if query else "")


def cached(
    *,
    ttl: Optional[float] = None,
    tags: Tags = None,
    key: Optional[Callable[[Request], str]] = None,
    header_name: str = "stratacache",
) -> Callable[[F], F]:
    """Cache an async route's JSON result (see the module docs). ``tags`` is a list or a function of the
    request; ``key`` a function of the request (default :func:`route_key`)."""

    def decorate(endpoint: F) -> F:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"@cached needs an async route function, got {endpoint!r}")
        signature = inspect.signature(endpoint)
        params = list(signature.parameters.values())
        # The wrapper needs the request and the response; the route may or may not ask for them.
        wants_request = next((p.name for p in params if p.annotation in (Request, "Request")), None)
        wants_response = next((p.name for p in params if p.annotation in (Response, "Response")), None)
        extra = []
        if wants_request is None:
            extra.append(inspect.Parameter("_stratacache_request", inspect.Parameter.KEYWORD_ONLY, annotation=Request))
        if wants_response is None:
            extra.append(inspect.Parameter("_stratacache_response", inspect.Parameter.KEYWORD_ONLY, annotation=Response))

        @functools.wraps(endpoint)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            request: Request = kwargs[wants_request] if wants_request else kwargs.pop("_stratacache_request")
            response: Response = kwargs[wants_response] if wants_response else kwargs.pop("_stratacache_response")
            cache_key = (key or route_key)(request)
            route_tags = tags(request) if callable(tags) else tags

            async def load() -> Any:
                return jsonable_encoder(await endpoint(*args, **kwargs))

            meta = await cache_aside.get_with_meta(cache_key, load, ttl=ttl, tags=list(route_tags) if route_tags else None)
            response.headers["Cache-Status"] = _meta.cache_status_header(meta, name=header_name)
            return meta["value"]

        wrapper.__signature__ = signature.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def client_ip(request: Request) -> str:
    """The client's address as the server saw it (put a proxy's ``X-Forwarded-For`` handling in
    front, e.g. uvicorn's ``--proxy-headers``, when there is one)."""
    return request.client.host if request.client else "unknown"


class RateLimit:
    """A FastAPI dependency: one rate-limit decision per request (see the module docs)."""

    def __init__(
        self,
        *,
        window_ms: int,
        max_requests: int,
        algorithm: Optional[Algorithm] = None,
        prefix: str = "api",
        key: Callable[[Request], str] = client_ip,
        detail: str = "Rate limit exceeded",
    ) -> None:
        self.window_ms = window_ms
        self.max_requests = max_requests
        self.algorithm = algorithm
        self.prefix = prefix
        self.key = key
        self.detail = detail

    async def __call__(self, request: Request, response: Response) -> None:
        result = await redis_rate_limiter.limit(
            f"{self.prefix}:{self.key(request)}", window_ms=self.window_ms, max_requests=self.max_requests, algorithm=self.algorithm
        )
        headers = rate_limit_headers(result, window_ms=self.window_ms)
        if not result.allowed:
            raise HTTPException(status_code=429, detail=self.detail, headers=headers)
        for name, value in headers.items():
            response.headers[name] = value
