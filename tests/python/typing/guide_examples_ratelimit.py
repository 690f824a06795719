"""The usage guide's "Rate Limiting" (API Endpoint Protection, Login Rate Limiting, Custom Rate Limit)
and the rate-limit part of "Recipe 1: High-Performance API" in snake_case, as a user would write them.

Checked with ``mypy --strict`` by tests/python/test_types.py (never executed: the requests, responses
and database are stand-ins).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional

from typing_extensions import assert_type

from stratacache import (
    InvalidArgumentError,
    InvalidKeyError,
    RateLimitPreset,
    RateLimitPresets,
    RateLimitResult,
    RateLimitStats,
    cache_aside,
    cache_metrics,
    initialize_cache_system,
    rate_limit_headers,
    rate_limit_presets,
    redis_rate_limiter,
)


# ----- stand-ins for the web framework ----------------------------------------------------------------


class User:
    id: int = 1


class Request:
    user: User = User()
    ip: str = "127.0.0.1"
    body: dict[str, Any] = {}
    params: dict[str, str] = {}


class Response:
    def set_header(self, name: str, value: object) -> None:
        return None

    def status(self, code: int) -> Response:
        return self

    def json(self, body: object) -> Response:
        return self


Next = Callable[[], Awaitable[None]]


# ----- Rate Limiting ---------------------------------------------------------------------------------


# API Endpoint Protection
async def api_rate_limit_middleware(req: Request, res: Response, next_: Next) -> Optional[Response]:
    identifier = f"api:user:{req.user.id}"

    result = await redis_rate_limiter.limit(identifier, **{
        **rate_limit_presets.api,
        "algorithm": "sliding-counter",
    })
    assert_type(result, RateLimitResult)

    # Add headers
    res.set_header("X-RateLimit-Limit", result.total)
    res.set_header("X-RateLimit-Remaining", result.remaining)
    res.set_header("X-RateLimit-Reset", result.reset_time)
    # ... or every standard header at once
    headers = rate_limit_headers(result, window_ms=rate_limit_presets.api.window_ms)
    assert_type(headers, dict[str, str])
    for name, value in headers.items():
        res.set_header(name, value)

    if not result.allowed:
        res.set_header("Retry-After", result.retry_after or 60)
        return res.status(429).json({
            "error": "Too many requests",
            "retry_after": result.retry_after,
        })

    await next_()
    return None


# Login Rate Limiting
async def handle_login(req: Request, res: Response) -> Optional[Response]:
    identifier = f"auth:{req.ip}:{req.body['email']}"

    result = await redis_rate_limiter.limit(identifier, **{
        **rate_limit_presets.auth,
        "algorithm": "sliding-log",  # More accurate
    })

    if not result.allowed:
        return res.status(429).json({
            "error": "Too many login attempts",
            "retry_after": result.retry_after,
        })

    # Process login...
    return None


# Custom Rate Limit
async def custom_rate_limit(user_id: int) -> None:
    # Token bucket (good for bursts)
    upload_limit = await redis_rate_limiter.token_bucket(
        f"upload:user:{user_id}",
        window_ms=60000,  # 1 minute
        max_requests=10,
        refill_rate=2,  # 2 tokens per second
        bucket_size=10,
    )

    # Leaky bucket (smooth rate)
    search_limit = await redis_rate_limiter.leaky_bucket(
        f"search:user:{user_id}",
        window_ms=60000,
        max_requests=30,
        leak_rate=0.5,  # 0.5 requests per second
        bucket_size=30,
    )
    assert_type(upload_limit, RateLimitResult)
    assert_type(search_limit, RateLimitResult)


# What a result, the presets and the counters hold (attributes or mapping items)
async def results_presets_and_stats(identifier: str) -> None:
    result = await redis_rate_limiter.limit(
        identifier, window_ms=60_000, max_requests=5, algorithm="fixed-window", cost=2, on_redis_error="deny")
    allowed: bool = result.allowed
    total: int = result.total
    remaining: int = result.remaining
    reset_time: int = result.reset_time
    retry_after: Optional[int] = result.retry_after
    print(allowed, total, remaining, reset_time, retry_after, result["remaining"])

    presets = rate_limit_presets
    assert_type(presets, RateLimitPresets)
    for preset in (presets.api, presets.auth, presets.strict, presets.upload, presets.search):
        assert_type(preset, RateLimitPreset)
        window_ms: int = preset.window_ms
        max_requests: int = preset.max_requests
        print(window_ms, max_requests, preset.algorithm)
        await redis_rate_limiter.limit(identifier, **preset)
    await redis_rate_limiter.limit(identifier, window_ms=presets.strict.window_ms,
                                   max_requests=presets.strict.max_requests, algorithm=presets.strict.algorithm)

    await redis_rate_limiter.token_bucket(identifier, window_ms=1000, max_requests=5, on_redis_error="allow")
    await redis_rate_limiter.leaky_bucket(identifier, window_ms=1000, max_requests=5, on_redis_error="local")
    await redis_rate_limiter.reset(identifier)
    stats = await redis_rate_limiter.get_stats()
    assert_type(stats, RateLimitStats)
    counts: tuple[int, int, int] = (stats.allowed, stats.denied, stats.fallbacks)
    print(counts, stats["fallbacks"])

    try:
        await redis_rate_limiter.limit("", window_ms=0, max_requests=5)
    except InvalidKeyError as e:
        key_code: str = e.code
        print(key_code)
    except InvalidArgumentError as e:
        arg_code: str = e.code
        print(arg_code)
    except ValueError:
        pass


# ----- Recipe 1: High-Performance API (the rate-limit part) ----------------------------------------------


class _Db:
    async def get_user(self, user_id: int) -> Optional[dict[str, Any]]:
        return None


db = _Db()


async def recipe_1_startup() -> None:
    # Initialize
    await initialize_cache_system(
        skip_warming=False,
        skip_metrics=False,
    )


# API endpoint with caching + rate limiting
async def get_user_endpoint(req: Request, res: Response) -> Response:
    user_id = int(req.params["id"])

    # Rate limiting
    rate_limit = await redis_rate_limiter.limit(
        f"api:{req.ip}",
        window_ms=60000, max_requests=100, algorithm="sliding-counter",
    )

    if not rate_limit.allowed:
        return res.status(429).json({"error": "Rate limit exceeded"})

    # Cached response
    async def load() -> Optional[dict[str, Any]]:
        return await db.get_user(user_id)

    user: Optional[dict[str, Any]] = await cache_aside.get(
        f"user:{user_id}",
        load,
        ttl=300, tags=[f"user:{user_id}"],
    )

    return res.json(user)
