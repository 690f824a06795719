"""``cache_manager``: the guide's cache manager in snake_case over the native core.

Methods return awaitables: an L1 hit returns an already-complete one (no event-loop round trip);
everything else returns an ``asyncio.Future`` completed by the native runtime.
"""

from __future__ import annotations

from typing import Any, Awaitable, Iterable, Mapping, Optional, Sequence, TypeVar

from . import _native
from ._bridge import Ready
from ._meta import ResultMeta
from ._records import CacheStats
from ._handle import call, configure_cache, current

T = TypeVar("T")

_MISS = _native.MISS


class CacheManager:
    """The two-tier cache manager. Use the :data:`cache_manager` singleton."""

    def get(self, key: str) -> Awaitable[Any]:
        """The value of ``key``, or ``None`` on a miss. An L1 hit completes without a loop iteration."""
        value = current().get_l1(key)
        if value is not _MISS:
            return Ready(value)
        return call("get_l2", key)

    def get_with_meta(self, key: str) -> Awaitable[ResultMeta]:
        """``get`` with the result's metadata (:class:`~stratacache.ResultMeta`): an L1 or L2 hit, or
        a miss with ``value`` ``None``. An L1 hit completes without a loop iteration, as ``get``'s."""
        system = current()
        d = system.get_l1_meta(key)
        if d is not _MISS:
            return Ready(d)
        return call("get_l2_meta", key)  # completes with a ResultMeta

    def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: Optional[float] = None,
        tags: Optional[Sequence[str]] = None,
        compress: Optional[bool] = None,
        compression_threshold: Optional[int] = None,
        ttl_jitter: Optional[float] = None,
    ) -> Awaitable[None]:
        """Store a JSON value (``datetime``/``date``/``UUID`` as strings). Unserializable values raise
        :class:`~stratacache.errors.SerializationError` (a ``TypeError``) naming the key and the type.
        ``ttl_jitter`` (seconds) adds a random 0…``ttl_jitter`` to the TTL (default: the manager's)."""
        options: dict[str, Any] = {}
        if ttl is not None:
            options["ttl"] = ttl
        if tags is not None:
            options["tags"] = tags if isinstance(tags, (list, tuple)) else tags
        if compress is not None:
            options["compress"] = compress
        if ttl_jitter is not None:
            options["ttl_jitter"] = ttl_jitter
        if compression_threshold is not None:
            options["compression_threshold"] = compression_threshold
        return call("set", key, value, options or None)

    def delete(self, key: str) -> Awaitable[bool]:
        """Delete ``key`` from both tiers; ``True`` if it existed."""
        return call("delete", key)

    def mset(self, items: Sequence[Mapping[str, Any]]) -> Awaitable[None]:
        """Store many ``{"key", "value", "ttl"?, "tags"?}`` items in one Redis round trip. Everything is
        validated before anything is written."""
        return call("mset", list(items) if not isinstance(items, list) else items)

    def mget(self, keys: Iterable[str]) -> Awaitable[dict[str, Any]]:
        """Many keys at once (L1 first, then one Redis round trip): a dict in input order, ``None`` for misses."""
        return call("mget", keys if isinstance(keys, (list, tuple)) else list(keys))

    def invalidate_by_tags(self, tags: Sequence[str]) -> Awaitable[None]:
        """Invalidate every entry carrying any of ``tags``, in every process."""
        return call("invalidate_by_tags", tags)

    async def get_stats(self) -> CacheStats:
        """Counters: L1 size/hits/misses, L2 hits/misses/errors; hit rates in percent."""
        return CacheStats._from_native(current().stats())


cache_manager = CacheManager()
"""The process-wide cache manager (connects lazily on first use)."""


def get_cache_manager(
    *,
    l1_max_size: Optional[int] = None,
    default_ttl: Optional[float] = None,
    enable_l1: Optional[bool] = None,
    enable_l2: Optional[bool] = None,
    compression_threshold: Optional[int] = None,
    max_value_bytes: Optional[int] = None,
    max_key_bytes: Optional[int] = None,
    bus_stale_ms: Optional[int] = None,
    ttl_jitter: Optional[float] = None,
    l1_max_bytes: Optional[int] = None,
    max_batch_bytes: Optional[int] = None,
) -> CacheManager:
    """Configure the cache manager (first call) and return the process-wide instance.

    ``bus_stale_ms``: how long L1 keeps serving after the invalidation bus was found down (default
    2,500 ms, at most 60,000; 0 bypasses L1 at once); see docs/consistency.md. ``ttl_jitter``
    (seconds, default 0): a random 0…``ttl_jitter`` added to every TTL, so keys written together do not
    expire together. ``l1_max_bytes`` (default 256 MiB): L1's capacity in bytes of keys, JSON texts and
    tags, beside ``l1_max_size`` entries; both bounds hold. ``max_batch_bytes`` (default 64 MiB, never
    below ``max_value_bytes``): the most bytes of values one batch read (``mget``) decodes; entries past
    it read as misses (docs/limits.md)."""
    options = {
        k: v
        for k, v in dict(
            l1_max_size=l1_max_size, default_ttl=default_ttl, enable_l1=enable_l1, enable_l2=enable_l2,
            compression_threshold=compression_threshold, max_value_bytes=max_value_bytes,
            max_key_bytes=max_key_bytes, bus_stale_ms=bus_stale_ms, ttl_jitter=ttl_jitter,
            l1_max_bytes=l1_max_bytes, max_batch_bytes=max_batch_bytes,
        ).items()
        if v is not None
    }
    configure_cache(options)
    return cache_manager

