"""stratacache for Python: a two-tier cache (in-process L1 + Redis L2) whose values, tags and
invalidations are shared with Node and Rust processes on the same Redis.

>>> from stratacache import cache_manager
>>> await cache_manager.set("greeting", "Hello World", ttl=60)   # doctest: +SKIP
"""

from ._invalidator import (
    CacheInvalidator,
    DomainInvalidator,
    InvalidationEvent,
    cache_invalidator,
    domain_invalidator,
)
from ._manager import CacheManager, cache_manager, get_cache_manager
from ._session import CreatedSession, Session, SessionManager, SessionStats, session_manager
from ._patterns import (
    CacheAside,
    ReadThrough,
    WriteBehindPattern,
    WriteBehindStats,
    WriteThrough,
    cache_aside,
    read_through,
    write_behind,
    write_through,
)
from ._ratelimit import (
    RateLimitPreset,
    RateLimitPresets,
    RateLimitResult,
    RateLimitStats,
    RedisRateLimiter,
    rate_limit_headers,
    rate_limit_presets,
    redis_rate_limiter,
)
from ._records import CacheStats, InitializeResult, L1Stats, L2Stats, Record
from ._handle import RedisClient, create_redis_client, initialize_cache_system, shutdown_cache_system
from .errors import (
    CacheConnectionError,
    CacheTimeoutError,
    CallbackError,
    ClosedError,
    ConfigError,
    InternalError,
    InvalidArgumentError,
    InvalidKeyError,
    NoLoaderError,
    RedisCommandError,
    SerializationError,
    StrataCacheError,
    ValueTooLargeError,
)

__all__ = [
    "CacheManager",
    "cache_manager",
    "get_cache_manager",
    "cache_aside",
    "write_through",
    "write_behind",
    "read_through",
    "cache_invalidator",
    "domain_invalidator",
    "CacheInvalidator",
    "DomainInvalidator",
    "InvalidationEvent",
    "session_manager",
    "redis_rate_limiter",
    "rate_limit_presets",
    "rate_limit_headers",
    "RedisRateLimiter",
    "RateLimitResult",
    "RateLimitPreset",
    "RateLimitPresets",
    "RateLimitStats",
    "SessionManager",
    "Session",
    "CreatedSession",
    "SessionStats",
    "CacheAside",
    "WriteThrough",
    "WriteBehindPattern",
    "WriteBehindStats",
    "ReadThrough",
    "create_redis_client",
    "initialize_cache_system",
    "shutdown_cache_system",
    "RedisClient",
    "CacheStats",
    "L1Stats",
    "L2Stats",
    "InitializeResult",
    "Record",
    "StrataCacheError",
    "ConfigError",
    "InvalidKeyError",
    "InvalidArgumentError",
    "SerializationError",
    "ValueTooLargeError",
    "CacheConnectionError",
    "CacheTimeoutError",
    "RedisCommandError",
    "ClosedError",
    "CallbackError",
    "InternalError",
    "NoLoaderError",
]
