"""The guide's cache patterns in snake_case: ``cache_aside``, ``write_through``, ``write_behind`` /
``WriteBehindPattern`` and ``read_through``.

All behaviour (single-flight, cross-process locks, refresh-ahead, batching, retries, pattern
specificity) lives in the Rust core. Loaders and writers are ``async def`` functions (plain functions
work too); they run on the event loop of the call that handed them over, in its ``contextvars``
context. An exception a loader raises reaches every waiting caller as the same object.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence

from . import _native
from ._bridge import Ready, bridge_for
from ._meta import ResultMeta
from ._records import Record
from ._handle import attach, call, current
from .errors import InvalidArgumentError

Loader = Callable[[], Any]
"""A zero-argument (async) function returning the value to cache, or ``None``."""


def _options(**kwargs: Any) -> Optional[dict[str, Any]]:
    given = {k: v for k, v in kwargs.items() if v is not None}
    return given or None


def _check_callable(what: str, f: Any) -> None:
    # Checked here, before anything is wrapped in a lambda (which the native side would accept as
    # callable) and before the L1 fast path (which never reaches the native side).
    if not callable(f):
        raise InvalidArgumentError(f"{what} must be callable, got {type(f).__name__}")


class CacheAside:
    """Cache-aside: a hit returns the value; a miss runs the loader once (per process and across
    processes, through a short Redis lock) and stores its result."""

    def get(
        self,
        key: str,
        loader: Loader,
        *,
        ttl: Optional[float] = None,
        tags: Optional[Sequence[str]] = None,
        negative_ttl: Optional[float] = None,
        lock_lease_ms: Optional[float] = None,
        ttl_jitter: Optional[float] = None,
        hard_timeout_ms: Optional[float] = None,
        fail_safe: Optional[bool] = None,
        fail_safe_max_duration: Optional[float] = None,
        fail_safe_throttle: Optional[float] = None,
        soft_timeout_ms: Optional[float] = None,
    ) -> Awaitable[Any]:
        """The cached value of ``key``, or what ``loader()`` returns (stored unless ``None``;
        ``ttl_jitter`` seconds of random extra TTL, default the manager's). With ``hard_timeout_ms``
        a loader still running after that long raises :class:`~stratacache.errors.CacheTimeoutError`
        (a ``TimeoutError``); it goes on in the background and its result is stored.

        Fail-safe (``fail_safe=True``): what is stored is kept ``fail_safe_max_duration`` seconds
        (default 86,400) past its TTL; when the loader raises or times out, that last value is returned
        (``get_with_meta`` status ``"stale"``) instead of the exception, and reused for
        ``fail_safe_throttle`` seconds (default 30) before the loader is tried again. Never a value that
        was invalidated. ``soft_timeout_ms`` (needs ``fail_safe``): with a stale value at hand, return it
        once the loader has run that long; the load goes on and its result is stored."""
        _check_callable("loader", loader)
        # The core's synchronous front, in one call: the key and the options are checked (a bad option
        # fails on a hit exactly as on a miss); a load of the key already running on this loop is
        # joined; else L1 is looked up; else this caller's loader starts the load. Every caller of a
        # load has its own future (cancelling one cancels nobody else's wait) and gets its own copy of
        # the one result, or the same exception object (the core's shared completions).
        if (tags is None and negative_ttl is None and lock_lease_ms is None and ttl_jitter is None
                and hard_timeout_ms is None and fail_safe is None and soft_timeout_ms is None
                and fail_safe_max_duration is None and fail_safe_throttle is None):
            opts = None if ttl is None else {"ttl": ttl}  # the common case, without building kwargs
        else:
            opts = _options(ttl=ttl, tags=tags, negative_ttl=negative_ttl, lock_lease_ms=lock_lease_ms,
                            ttl_jitter=ttl_jitter, hard_timeout_ms=hard_timeout_ms, fail_safe=fail_safe, fail_safe_max_duration=fail_safe_max_duration, fail_safe_throttle=fail_safe_throttle, soft_timeout_ms=soft_timeout_ms)
        loop = asyncio.get_running_loop()
        bridge = bridge_for(loop)
        system = current()
        out = system.cache_aside_enter(key, loader, opts, loop, bridge.completions, bridge.pending)
        if isinstance(out, asyncio.Future):
            attach(system, loop, bridge.completions)
            return out
        return Ready(out)

    def get_with_meta(
        self,
        key: str,
        loader: Loader,
        *,
        ttl: Optional[float] = None,
        tags: Optional[Sequence[str]] = None,
        negative_ttl: Optional[float] = None,
        lock_lease_ms: Optional[float] = None,
        ttl_jitter: Optional[float] = None,
        hard_timeout_ms: Optional[float] = None,
        fail_safe: Optional[bool] = None,
        fail_safe_max_duration: Optional[float] = None,
        fail_safe_throttle: Optional[float] = None,
        soft_timeout_ms: Optional[float] = None,
    ) -> Awaitable[ResultMeta]:
        """:meth:`get` with the result's metadata (:class:`~stratacache.ResultMeta`): an L1 or L2
        hit, or a miss answered by the loader (``tier`` ``"loader"``, ``stored`` when its value was
        stored), or fail-safe's last value (status ``"stale"``). An L1 hit completes without a loop
        iteration; a bad option fails on a hit too."""
        _check_callable("loader", loader)
        opts = _options(ttl=ttl, tags=tags, negative_ttl=negative_ttl, lock_lease_ms=lock_lease_ms,
                        ttl_jitter=ttl_jitter, hard_timeout_ms=hard_timeout_ms, fail_safe=fail_safe, fail_safe_max_duration=fail_safe_max_duration, fail_safe_throttle=fail_safe_throttle, soft_timeout_ms=soft_timeout_ms)
        system = current()
        d = system.cache_aside_l1_meta(key, opts)
        if d is not _native.MISS:
            return Ready(d)
        return call("cache_aside_meta", key, loader, opts)  # completes with a ResultMeta

    async def get_many(
        self,
        keys: Sequence[str],
        loader: Callable[[list[str]], Awaitable[Mapping[str, Any]]],
        *,
        ttl: Optional[float] = None,
        tags: Optional[Sequence[str]] = None,
        negative_ttl: Optional[float] = None,
        lock_lease_ms: Optional[float] = None,
        ttl_jitter: Optional[float] = None,
        hard_timeout_ms: Optional[float] = None,
        fail_safe: Optional[bool] = None,
        fail_safe_max_duration: Optional[float] = None,
        fail_safe_throttle: Optional[float] = None,
        soft_timeout_ms: Optional[float] = None,
    ) -> dict[str, Any]:
        """Many keys: hits from L1, then one Redis round trip; ``await loader(missing_keys)`` called
        **once** for the misses, returning a dict. Keys another call is already loading are awaited,
        not loaded twice. Keys the loader leaves out are ``None`` and not cached (unless
        ``negative_ttl``). A loader error raises and caches nothing. A dict in input order. The
        timeouts and fail-safe apply per key, as in :meth:`get`: under ``fail_safe`` a failed load
        gives each key its last value, and raises only if a key has none."""
        _check_callable("loader", loader)
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise InvalidArgumentError("keys must be a list of str")
        key_list = list(keys)

        async def batch(arg: str) -> dict[str, Any]:
            return dict(await loader(json.loads(arg)))

        opts = _options(ttl=ttl, tags=tags, negative_ttl=negative_ttl, lock_lease_ms=lock_lease_ms, ttl_jitter=ttl_jitter,
                        hard_timeout_ms=hard_timeout_ms, fail_safe=fail_safe, fail_safe_max_duration=fail_safe_max_duration, fail_safe_throttle=fail_safe_throttle, soft_timeout_ms=soft_timeout_ms)
        values = await call("cache_aside_get_many", key_list, batch, opts)
        return dict(zip(key_list, values))

    def get_with_refresh(
        self,
        key: str,
        loader: Loader,
        *,
        ttl: float,
        refresh_threshold: float,
        tags: Optional[Sequence[str]] = None,
        hard_timeout_ms: Optional[float] = None,
        fail_safe: Optional[bool] = None,
        fail_safe_max_duration: Optional[float] = None,
        fail_safe_throttle: Optional[float] = None,
        soft_timeout_ms: Optional[float] = None,
    ) -> Awaitable[Any]:
        """Like :meth:`get`, but once less than ``refresh_threshold × ttl`` remains the current value is
        returned at once and refreshed in the background (once per key, across processes too). The
        timeouts and fail-safe work as in :meth:`get`."""
        opts = _options(ttl=ttl, refresh_threshold=refresh_threshold, tags=tags, hard_timeout_ms=hard_timeout_ms, fail_safe=fail_safe, fail_safe_max_duration=fail_safe_max_duration, fail_safe_throttle=fail_safe_throttle, soft_timeout_ms=soft_timeout_ms)
        return call("cache_aside_get_with_refresh", key, loader, opts)


class WriteThrough:
    """Write-through: the writer first; the cache only when it succeeded."""

    def write(
        self,
        key: str,
        value: Any,
        writer: Callable[[Any], Any],
        *,
        ttl: Optional[float] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> Awaitable[None]:
        """Run ``writer(value)``, then cache ``value``. A writer exception propagates unchanged and
        leaves the cache untouched."""
        _check_callable("writer", writer)
        return call("write_through", key, value, lambda: writer(value), _options(ttl=ttl, tags=tags))


class WriteBehindStats(Record):
    """Counters of a write-behind queue: ``pending``, ``written``, ``coalesced``, ``retries``, ``failed``."""

    pending: int
    written: int
    coalesced: int
    retries: int
    failed: int


class WriteBehindPattern:
    """Write-behind: the cache is updated at once; ``writer(value)`` runs later, batched, with
    retries and exponential backoff; a write given up goes to ``on_error(error, key, value)``."""

    def __init__(
        self,
        cache_manager: Any = None,
        *,
        flush_interval_ms: Optional[float] = None,
        max_retries: Optional[int] = None,
        batch_size: Optional[int] = None,
        on_error: Optional[Callable[[BaseException, str, Any], Any]] = None,
        max_queue_size: Optional[int] = None,
        queue_full_timeout_ms: Optional[float] = None,
        concurrency: Optional[int] = None,
        write_timeout_ms: Optional[float] = None,
        shutdown_timeout_ms: Optional[float] = None,
    ) -> None:
        """``cache_manager`` is accepted for the guide's signature; there is one manager per process.

        Bounds (docs/limits.md): at most ``max_queue_size`` distinct keys wait (default 100,000); a write
        to a new key when the queue is full waits up to ``queue_full_timeout_ms`` (default 5,000) for
        room, then raises :class:`~stratacache.errors.CacheTimeoutError` and changes nothing, cache
        included. A flush runs ``concurrency`` writers at once (default 8); one attempt may take
        ``write_timeout_ms`` (default 30,000); shutdown flushes for at most ``shutdown_timeout_ms``
        (default 10,000), then hands the rest to ``on_error``."""
        self._options = _options(flush_interval_ms=flush_interval_ms, max_retries=max_retries, batch_size=batch_size,
                                 max_queue_size=max_queue_size, queue_full_timeout_ms=queue_full_timeout_ms,
                                 concurrency=concurrency, write_timeout_ms=write_timeout_ms,
                                 shutdown_timeout_ms=shutdown_timeout_ms)
        if on_error is not None:
            _check_callable("on_error", on_error)
        self._on_error = None if on_error is None else _error_hook(on_error)
        self._native: Any = None
        self._system: Any = None

    def _queue(self) -> Any:
        system = current()
        if self._native is None or self._system is not system:
            self._native = system.new_write_behind(self._options, self._on_error)
            self._system = system
        return self._native

    def write(
        self,
        key: str,
        value: Any,
        writer: Callable[[Any], Any],
        *,
        ttl: Optional[float] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> Awaitable[None]:
        """Cache ``value`` now and queue ``writer(value)`` (a queued write to the same key is replaced)."""
        _check_callable("writer", writer)
        queue = self._queue()
        return _call_on(queue, "write", key, value, lambda: writer(value), _options(ttl=ttl, tags=tags))

    async def flush(self) -> int:
        """Run every queued write now; returns how many were written."""
        if self._native is None:
            return 0
        return int(await _call_on(self._native, "flush"))

    def stats(self) -> WriteBehindStats:
        """Counters of this queue."""
        if self._native is None:
            return WriteBehindStats({"pending": 0, "written": 0, "coalesced": 0, "retries": 0, "failed": 0})
        return WriteBehindStats(self._native.stats())


_log = logging.getLogger("stratacache")
_hook_tasks: "set[asyncio.Future[Any]]" = set()


def _error_hook(on_error: Callable[[BaseException, str, Any], Any]) -> Callable[[BaseException, str, Any], None]:
    """``on_error`` as the native side calls it (on the loop thread): an ``async def`` hook is run as
    a task (kept until done, and awaited by shutdown) instead of being left never awaited."""

    def hook(error: BaseException, key: str, value: Any) -> None:
        result = on_error(error, key, value)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            _hook_tasks.add(task)
            task.add_done_callback(_hook_done)

    return hook


def _hook_done(task: "asyncio.Future[Any]") -> None:
    _hook_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _log.warning("stratacache: WriteBehindPattern on_error raised: %r", task.exception())


async def settle_hooks(timeout: float) -> None:
    """Wait (at most ``timeout`` seconds) for the ``async`` on_error hooks running on this loop."""
    loop = asyncio.get_running_loop()
    waiting = [t for t in _hook_tasks if not t.done() and t.get_loop() is loop]
    if waiting:
        await asyncio.wait(waiting, timeout=timeout)


def _call_on(target: Any, method: str, *args: Any) -> "asyncio.Future[Any]":
    from ._bridge import bridge_for

    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    getattr(target, method)(*args, bridge_for(loop).completions, fut)
    return fut


class ReadThrough:
    """Read-through: loaders registered by glob pattern (``*`` any run, ``?`` one character); the most
    specific pattern wins (exact beats wildcard; the longer literal part wins). Loaders belong to the
    process (the core's registry): they stay registered across
    :func:`~stratacache.shutdown_cache_system` and re-initialization."""

    def register_loader(self, pattern: str, loader: Callable[[str], Any]) -> None:
        """Register ``loader(key)`` for keys matching ``pattern``."""
        if not isinstance(pattern, str):
            raise InvalidArgumentError(f"pattern must be a non-empty string, got {pattern!r}")
        _native.register_loader(pattern, loader)

    def unregister_loader(self, pattern: str) -> bool:
        """Remove the loader of ``pattern``; returns whether there was one."""
        return _native.unregister_loader(pattern)

    def read(
        self,
        key: str,
        *,
        ttl: Optional[float] = None,
        tags: Optional[Sequence[str]] = None,
        hard_timeout_ms: Optional[float] = None,
        fail_safe: Optional[bool] = None,
        fail_safe_max_duration: Optional[float] = None,
        fail_safe_throttle: Optional[float] = None,
        soft_timeout_ms: Optional[float] = None,
    ) -> Awaitable[Any]:
        """A hit, or the matching loader's result (stored). No match raises :class:`~stratacache.errors.NoLoaderError`.
        The timeouts and fail-safe work as in :meth:`CacheAside.get`."""
        return call("read_through", key, _options(ttl=ttl, tags=tags, hard_timeout_ms=hard_timeout_ms, fail_safe=fail_safe, fail_safe_max_duration=fail_safe_max_duration, fail_safe_throttle=fail_safe_throttle, soft_timeout_ms=soft_timeout_ms))


cache_aside = CacheAside()
"""The process-wide cache-aside helper."""
write_through = WriteThrough()
"""The process-wide write-through helper."""
write_behind = WriteBehindPattern()
"""The default write-behind queue (flush every second, 3 retries, batches of 100)."""
read_through = ReadThrough()
"""The process-wide read-through registry."""

