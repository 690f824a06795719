"""``cache_warmer`` and ``warm_cache_on_startup``: strategies that fill the cache ahead of demand, by
priority, on startup, on demand, and on schedules that one process of many (Python and Node alike)
runs per period. Everything runs in the Rust core; this file checks argument types and converts.

A ``fetch_fn`` is ``async def`` and returns ``[{"key": …, "value": …, "options": {"ttl": …, "tags": […]}}]``.
Explicit warm calls run it on the caller's event loop; scheduled runs on the loop that last used the
cache system.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence

from . import _handle, _native
from ._handle import call
from ._records import Record
from .errors import InvalidArgumentError

FetchFn = Callable[[], Awaitable[Sequence[Mapping[str, Any]]]]


class WarmReport(Record):
    """What one run did: ``name``, ``entries`` (written), ``duration_ms``, and ``error`` (why it
    failed: what ``fetch_fn`` raised, or a bad entry; ``None`` when it worked)."""

    name: str
    entries: int
    duration_ms: float
    error: Optional[str]


def _report(d: Mapping[str, Any]) -> WarmReport:
    return WarmReport({"name": d["name"], "entries": d["entries"], "duration_ms": d["durationMs"], "error": d.get("error")})


async def _one(fut: Awaitable[Any]) -> WarmReport:
    return _report(await fut)


async def _many(fut: Awaitable[Any]) -> list[WarmReport]:
    return [_report(d) for d in await fut]


def _kind(v: Any) -> str:
    return f"{type(v).__name__} {v!r}"


class CacheWarmer:
    """Strategies, runs and schedules of the process's cache system."""

    def __init__(self) -> None:
        # Scheduled runs call fetch functions on the loop that last attached to the system.
        _handle.on_loop_system(lambda system, completions: system.set_warm_loop(completions))

    def register_strategy(
        self,
        *,
        name: str,
        priority: int,
        enabled: bool,
        fetch_fn: FetchFn,
        schedule: Optional[str] = None,
    ) -> None:
        """Register a strategy (raises at once on a bad name, priority or schedule: ``every 30s``,
        ``every 5m``, ``every 1h``, ``every 1d``). Registering a name again replaces it. Its schedule
        runs from now on while the cache system runs (from its start, when registered before)."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"name must be a non-empty str, got {_kind(name)}")
        if isinstance(priority, bool) or not isinstance(priority, (int, float)):
            raise InvalidArgumentError(f"priority must be an int, got {_kind(priority)}")
        if not isinstance(enabled, bool):
            raise InvalidArgumentError(f"enabled must be a bool, got {_kind(enabled)}")
        if schedule is not None and not isinstance(schedule, str):
            raise InvalidArgumentError(f'schedule must be a str like "every 5m", got {_kind(schedule)}')
        _native.register_strategy(name, float(priority), enabled, schedule, fetch_fn)

    def unregister_strategy(self, name: str) -> bool:
        """Remove a strategy and stop its schedule; whether it was registered."""
        return _native.unregister_strategy(str(name))

    def warm_strategy(self, name: str) -> Awaitable[WarmReport]:
        """Run one strategy now (even a disabled one). A failing run returns its ``error``; an
        unknown name raises :class:`~stratacache.errors.InvalidArgumentError`."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"name must be a str, got {_kind(name)}")
        return _one(call("warm_strategy", name))

    def warm_all(self) -> Awaitable[list[WarmReport]]:
        """Run every enabled strategy, higher priority first (four at a time); one report each."""
        return _many(call("warm_all"))

    def stop(self) -> None:
        """Stop the schedules running now (strategies stay registered; ones registered later start
        theirs)."""
        if _handle._system is not None:
            _handle._system.stop_warming()

    def scheduled(self) -> list[str]:
        """The strategies whose schedule runs now."""
        return list(_handle._system.warm_scheduled()) if _handle._system is not None else []


cache_warmer = CacheWarmer()
"""The process-wide ``cache_warmer``."""


def warm_cache_on_startup() -> Awaitable[list[WarmReport]]:
    """Warm every enabled strategy (priority order). A failing strategy is in its report, never raised."""
    return _many(call("warm_on_startup"))
