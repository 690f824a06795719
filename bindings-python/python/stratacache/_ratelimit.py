"""``redis_rate_limiter``: five rate-limit algorithms, each decision one atomic Redis round trip
(a Lua script on Redis's clock), shared exactly with Node and Rust processes limiting the same
identifier; ``rate_limit_presets``; and ``rate_limit_headers`` for the standard response headers.
Everything is decided in the core; this file only names things in snake_case.
"""

from __future__ import annotations

from typing import Any, Awaitable, Literal, Mapping, Optional

from . import _native
from ._records import Record
from ._handle import call, current
from .errors import InvalidKeyError

Algorithm = Literal["fixed-window", "sliding-log", "sliding-counter", "token-bucket", "leaky-bucket"]
"""The algorithms ``limit`` accepts (``sliding-counter`` is the default)."""

RedisErrorPolicy = Literal["allow", "deny", "local"]
"""What a decision does when Redis cannot be reached (``local``, the default: an in-process limiter
of the same algorithm until Redis answers again)."""


class RateLimitResult(Record):
    """One decision: ``allowed``, ``total`` (the limit), ``remaining`` (after this call),
    ``reset_time`` (epoch ms when the state is fully reset) and ``retry_after`` (whole seconds, only
    when denied, else ``None``)."""

    allowed: bool
    total: int
    remaining: int
    reset_time: int
    retry_after: Optional[int]


class RateLimitPreset(Record):
    """A preset: ``window_ms``, ``max_requests``, ``algorithm``; splats into ``limit(id, **preset)``."""

    window_ms: int
    max_requests: int
    algorithm: Algorithm


class RateLimitPresets(Record):
    """The presets ``api``, ``auth``, ``strict``, ``upload``, ``search`` (attributes or items)."""

    api: RateLimitPreset
    auth: RateLimitPreset
    strict: RateLimitPreset
    upload: RateLimitPreset
    search: RateLimitPreset


class RateLimitStats(Record):
    """Counters: ``allowed``, ``denied`` and ``fallbacks`` (decisions taken without Redis)."""

    allowed: int
    denied: int
    fallbacks: int


def _identifier(identifier: Any) -> str:
    if not isinstance(identifier, str):
        raise InvalidKeyError(f"identifier must be a non-empty str, got {type(identifier).__name__}")
    return identifier


class RedisRateLimiter:
    """The rate limiter. Use the ``redis_rate_limiter`` singleton."""

    def limit(
        self,
        identifier: str,
        *,
        window_ms: int,
        max_requests: int,
        algorithm: Optional[Algorithm] = None,
        cost: Optional[int] = None,
        on_redis_error: Optional[RedisErrorPolicy] = None,
    ) -> Awaitable[RateLimitResult]:
        """Decide one call for ``identifier``: ``max_requests`` units per ``window_ms``, ``cost`` units
        (default 1). A cost larger than what remains is denied and consumes nothing."""
        options = {
            "window_ms": window_ms,
            "max_requests": max_requests,
            "algorithm": algorithm,
            "cost": cost,
            "on_redis_error": on_redis_error,
        }
        return call("rate_limit", _identifier(identifier), options)

    def token_bucket(
        self,
        identifier: str,
        *,
        window_ms: int,
        max_requests: int,
        refill_rate: Optional[float] = None,
        bucket_size: Optional[int] = None,
        cost: Optional[int] = None,
        on_redis_error: Optional[RedisErrorPolicy] = None,
    ) -> Awaitable[RateLimitResult]:
        """A token bucket: bursts up to ``bucket_size`` (default ``max_requests``), refilled at
        ``refill_rate`` tokens per second (default ``max_requests`` per window)."""
        options = {
            "window_ms": window_ms,
            "max_requests": max_requests,
            "refill_rate": refill_rate,
            "bucket_size": bucket_size,
            "cost": cost,
            "on_redis_error": on_redis_error,
        }
        return call("token_bucket", _identifier(identifier), options)

    def leaky_bucket(
        self,
        identifier: str,
        *,
        window_ms: int,
        max_requests: int,
        leak_rate: Optional[float] = None,
        bucket_size: Optional[int] = None,
        cost: Optional[int] = None,
        on_redis_error: Optional[RedisErrorPolicy] = None,
    ) -> Awaitable[RateLimitResult]:
        """A leaky bucket (as a meter): at most ``bucket_size`` (default ``max_requests``) waiting,
        drained at ``leak_rate`` per second (default ``max_requests`` per window)."""
        options = {
            "window_ms": window_ms,
            "max_requests": max_requests,
            "leak_rate": leak_rate,
            "bucket_size": bucket_size,
            "cost": cost,
            "on_redis_error": on_redis_error,
        }
        return call("leaky_bucket", _identifier(identifier), options)

    async def reset(self, identifier: str) -> None:
        """Forget every algorithm's state of ``identifier`` (in Redis and in this process)."""
        await call("rate_limit_reset", _identifier(identifier))

    async def get_stats(self) -> RateLimitStats:
        """Decisions allowed, denied, and taken without Redis, since the system started."""
        allowed, denied, fallbacks = current().rate_limit_stats()
        return RateLimitStats({"allowed": allowed, "denied": denied, "fallbacks": fallbacks})


def rate_limit_headers(result: Mapping[str, Any], *, window_ms: Optional[int] = None) -> dict[str, str]:
    """The standard headers of a decision: ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``,
    ``X-RateLimit-Reset`` (epoch seconds), the IETF ``RateLimit`` field (and ``RateLimit-Policy`` when
    ``window_ms`` is given) and, when denied, ``Retry-After``. See docs/rate-limiting.md."""
    pairs = _native.rate_limit_headers(
        bool(result["allowed"]),
        int(result["total"]),
        int(result["remaining"]),
        int(result["reset_time"]),
        None if result.get("retry_after") is None else int(result["retry_after"]),
        window_ms,
    )
    return dict(pairs)


def _presets() -> RateLimitPresets:
    raw = _native.rate_limit_presets()
    return RateLimitPresets({name: RateLimitPreset(p) for name, p in raw.items()})


redis_rate_limiter = RedisRateLimiter()
"""The process-wide rate limiter."""

rate_limit_presets = _presets()
"""Named limits: ``api`` (100/min, sliding-counter), ``auth`` (5/15 min, sliding-log), ``strict``
(10/min, fixed-window), ``upload`` (10/h, token-bucket), ``search`` (30/min, leaky-bucket)."""
