"""The process-wide system: configuration, lazy creation, initialization, shutdown, fork safety.

Importing the package opens nothing. The first cache call (or :func:`initialize_cache_system`) creates
the native system, which connects to Redis on its first command.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import weakref
from typing import Any, Callable, Mapping, Optional

from . import _native
from ._bridge import bridge_for, close_all, fail_stranded, forget_all, settle_pending
from ._records import InitializeResult
from .errors import InvalidArgumentError


# The rules (options before first use, closed after shutdown until re-opened) are the core's
# `Singleton`, held by the native module; this module keeps only the running system's object.
_system: Optional[Any] = None
_leaked: list[Any] = []
_SETTLE_TIMEOUT_S = 5.0


def current() -> Any:
    """The native system, created on first use (synchronous: creating opens no connection)."""
    global _system
    if _system is None:
        _system = _native.create_system()  # ClosedError after shutdown_cache_system()
    return _system


_loop_hooks: list[Callable[[Any, Any], None]] = []
_attached: Optional[Any] = None
_attached_loop: "Optional[weakref.ref[asyncio.AbstractEventLoop]]" = None


def on_loop_system(hook: Callable[[Any, Any], None]) -> None:
    """Run ``hook(system, completions)`` once per system, on the first loop that uses it, and again on
    the next loop that uses it once that loop has closed (``asyncio.run`` twice with one system)."""
    _loop_hooks.append(hook)


def _attached_loop_gone() -> bool:
    loop = _attached_loop() if _attached_loop is not None else None
    return loop is None or loop.is_closed()


def call(method: str, *args: Any) -> "asyncio.Future[Any]":
    """Run an async native method and return its future, completed on the running loop."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    bridge = bridge_for(loop)
    system = current()
    attach(system, loop, bridge.completions)
    getattr(system, method)(*args, bridge.completions, fut)
    bridge.pending.add(fut)
    return fut


def attach(system: Any, loop: asyncio.AbstractEventLoop, completions: Any) -> None:
    """Run the loop hooks (``on_loop_system``) if ``system`` is new or its loop has closed."""
    global _attached, _attached_loop
    # listeners follow the system to a new loop once the loop they ran on has closed
    moved = _attached_loop is not None and _attached_loop() is not loop and _attached_loop_gone()
    if _attached is not system or moved:
        _attached = system
        _attached_loop = weakref.ref(loop)
        for hook in _loop_hooks:
            hook(system, completions)


def _configure(kind: str, options: dict[str, Any]) -> None:
    _native.configure(kind, options)


def _given(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


class RedisClient:
    """The handle :func:`create_redis_client` returns."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = dict(options)

    async def ping(self) -> bool:
        """``True`` when Redis answers PING."""
        try:
            await call("ping")
            return True
        except Exception:
            return False


def create_redis_client(
    *,
    host: Optional[str] = None,
    port: Optional[int] = None,
    password: Optional[str] = None,
    db: Optional[int] = None,
    cluster: Optional[bool] = None,
    username: Optional[str] = None,
    url: Optional[str] = None,
    nodes: Optional[list[str]] = None,
    sentinel: Optional[Mapping[str, Any]] = None,
    tls: Optional[bool] = None,
    connect_timeout_ms: Optional[float] = None,
    command_timeout_ms: Optional[float] = None,
    namespace: Optional[str] = None,
) -> RedisClient:
    """Configure the process-wide Redis connection the singletons use (before first use).

    Redis Cluster: ``cluster=True, nodes=["host:port", ...]`` (or ``REDIS_CLUSTER_NODES``). Sentinel:
    ``sentinel={"master_name": "mymaster", "nodes": ["host:port", ...]}`` (or ``REDIS_SENTINEL_MASTER`` +
    ``REDIS_SENTINELS``); ``password``/``username``/``db`` are the primary's. Contradictory choices raise
    :class:`ConfigError` naming them (see docs/cluster.md)."""
    options = _given(
        host=host, port=port, password=password, db=db, cluster=cluster, username=username, url=url,
        nodes=nodes, sentinel=dict(sentinel) if sentinel is not None else None, tls=tls, connect_timeout_ms=connect_timeout_ms, command_timeout_ms=command_timeout_ms,
        namespace=namespace,
    )
    _configure("redis", options)
    _native.reopen()
    return RedisClient(options)


def configure_cache(options: dict[str, Any]) -> None:
    """Set the cache options (first call)."""
    if options:
        _configure("cache", options)


async def initialize_cache_system(
    *,
    redis: Optional[dict[str, Any]] = None,
    cache: Optional[dict[str, Any]] = None,
    skip_warming: bool = False,
    skip_metrics: bool = False,
) -> InitializeResult:
    """Connect, and return even when Redis is unreachable (degraded mode: L1 only, one warning,
    reconnecting in the background). Idempotent; after :func:`shutdown_cache_system` it starts again.
    Unless ``skip_warming=True`` it runs :func:`~stratacache.warm_cache_on_startup` (every enabled
    warming strategy; failures are logged, never raised). ``skip_metrics=True`` records no metrics (``cache_metrics`` reports zeros; ``get_stats()`` keeps
    counting)."""
    if not isinstance(skip_metrics, bool):
        raise InvalidArgumentError(f"skip_metrics must be a bool, got {type(skip_metrics).__name__} {skip_metrics!r}")
    if not isinstance(skip_warming, bool):
        raise InvalidArgumentError(f"skip_warming must be a bool, got {type(skip_warming).__name__} {skip_warming!r}")
    _native.set_metrics_enabled(not skip_metrics)
    if redis is not None:
        _configure("redis", dict(redis))
    if cache is not None:
        _configure("cache", dict(cache))
    _native.reopen()
    current()
    try:
        await call("ping")
        redis_status = "connected"
    except Exception:  # noqa: BLE001 - degraded mode is not an error here
        # The core has logged one warning through the `stratacache` logger.
        redis_status = "degraded"
    if not skip_warming:
        # Startup warming (each run logs its line; a failing strategy is logged, never raised).
        await call("warm_on_startup")
    return InitializeResult({"redis": redis_status})


async def shutdown_cache_system() -> None:
    """Close everything; the event loop then closes cleanly. Cache calls then raise
    :class:`~stratacache.errors.ClosedError` until :func:`initialize_cache_system`."""
    global _system
    _native.mark_shut_down()
    s, _system = _system, None
    if s is not None:
        # Flushes every write-behind queue (their writers run on this loop), then closes.
        loop = asyncio.get_running_loop()
        closing = loop.create_future()
        bridge = bridge_for(loop)
        s.close(bridge.completions, closing)
        bridge.pending.add(closing)
        await closing
        # The write-behind queues' async on_error hooks that the final flush started.
        from ._patterns import settle_hooks

        await settle_hooks(_SETTLE_TIMEOUT_S)
        # Calls already in flight complete (with their result, or ClosedError) instead of staying
        # pending forever once the bridges are closed. Every call has its own deadline, so this is short.
        await settle_pending(_SETTLE_TIMEOUT_S)
        # Callers still waiting for a cache-aside load (a loader slower than the wait above).
        fail_stranded(s.abandon_loads())
    close_all()


def _after_fork_in_child() -> None:
    global _system
    _native._after_fork_in_child()
    if _system is not None:
        _leaked.append(_system)  # the parent's sockets: never touched, never closed here
        _system = None
    forget_all()


def _warn_unwritten() -> None:
    """At exit without :func:`shutdown_cache_system`: say once, on stderr, how many write-behind
    writes were not made. They cannot be made any more: their writers are coroutines of an event loop
    that has closed."""
    s = _system
    if s is None:
        return
    try:
        left = s.write_behind_pending()
    except Exception:  # noqa: BLE001 - a system already closed or forked: nothing to report
        return
    if left:
        sys.stderr.write(f"stratacache: {left} write-behind writes were not made: the process exited "
                         "without shutdown_cache_system()\n")


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_native._shutdown_runtime)
atexit.register(_warn_unwritten)  # registered last: runs first, while the runtime is still up
