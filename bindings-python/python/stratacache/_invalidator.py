"""``cache_invalidator`` and ``domain_invalidator``. Every invalidation reaches every process's L1
through the core's bus (Redis pub/sub) and fires ``on_invalidation`` listeners there, local ones
included. Listeners run on the event loop that was running when the cache system started (or the
first loop that used it; once that loop has closed, the next loop that uses the system); they may be
``async def``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Awaitable, Callable, Sequence, Union

from . import _native, _handle
from ._records import Record
from ._handle import call, current
from .errors import InvalidArgumentError

_log = logging.getLogger("stratacache")


class InvalidationEvent(Record):
    """One invalidation: ``type`` (``"key"``, ``"tag"``, ``"pattern"``), ``target``, ``source``,
    ``timestamp`` (epoch ms) and ``local``."""

    type: str
    target: list[str]
    source: str
    timestamp: int
    local: bool


Listener = Callable[[InvalidationEvent], Any]


class CacheInvalidator:
    """Invalidation by keys, tags and patterns, in every process."""

    def __init__(self) -> None:
        # One entry per registration (a fresh list each), so an unsubscribe function removes exactly
        # its own registration, however often it is called and however often ``listener`` was added.
        self._listeners: list[list[Listener]] = []
        self._native: Any = None  # (system, native listener id) of the loop events are dispatched on
        _handle.on_loop_system(self._attach)

    def _attach(self, system: Any, completions: Any) -> None:
        if self._native is not None and self._native[0] is system:
            system.off_invalidation(self._native[1])  # its loop has closed
        self._native = (system, system.on_invalidation(self._dispatch, completions))

    def _dispatch(self, event: dict[str, Any]) -> None:
        record = InvalidationEvent(event)
        for (listener,) in list(self._listeners):
            try:
                result = listener(record)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    # The loop keeps only a weak reference to a task: hold it until it is done.
                    _running.add(task)
                    task.add_done_callback(_report)
            except Exception:  # noqa: BLE001 - a listener never breaks the bus
                _log.exception("stratacache: an on_invalidation listener failed")

    def invalidate_tags(self, tags: Sequence[str]) -> Awaitable[None]:
        """Invalidate every entry carrying any of ``tags``."""
        return call("invalidate_by_tags", tags)

    def invalidate_pattern(self, glob: str) -> Awaitable[int]:
        """Delete every key matching ``glob`` (``*``, ``?``; SCAN + UNLINK, never KEYS); returns how many."""
        if not isinstance(glob, str):
            raise InvalidArgumentError(f"pattern must be a non-empty str, got {glob!r}")
        return call("invalidate_pattern", glob)

    def invalidate_keys(self, keys: Sequence[str]) -> Awaitable[int]:
        """Delete ``keys``; returns how many existed."""
        if isinstance(keys, str):
            raise InvalidArgumentError(f"keys must be a list of str, got {keys!r}")
        return call("invalidate_keys", list(keys))

    def on_invalidation(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every invalidation in any process; returns the function that
        unsubscribes it. Registering does not start the cache system."""
        if not callable(listener):
            raise InvalidArgumentError(f"listener must be callable, got {type(listener).__name__}")
        entry = [listener]
        self._listeners.append(entry)

        def unsubscribe() -> None:
            for i, e in enumerate(self._listeners):
                if e is entry:
                    del self._listeners[i]
                    return

        return unsubscribe


_running: "set[asyncio.Future[Any]]" = set()


def _report(task: "asyncio.Future[Any]") -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _log.error("stratacache: an on_invalidation listener failed", exc_info=task.exception())


DomainRuleFn = Callable[[str], Union[dict[str, list[str]], Awaitable[dict[str, list[str]]]]]



def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


def _id_string(id: Any) -> str:
    if isinstance(id, str) or (isinstance(id, int) and not isinstance(id, bool)):
        return str(id)
    raise InvalidArgumentError(f"id must be a non-empty str or an int, got {_shown(id)}")


class DomainInvalidator:
    """Domain rules: an id → keys, tags and patterns to invalidate; built-ins for the guide's domains.
    Rules belong to the process (the core's registry): they stay registered across
    :func:`~stratacache.shutdown_cache_system` and re-initialization."""

    def register(self, domain: str, rule: DomainRuleFn) -> None:
        """Register (or replace) the rule of ``domain``: ``rule(id)`` returns
        ``{"keys": [...], "tags": [...], "patterns": [...]}`` (each optional; may be ``async``);
        anything else makes :meth:`invalidate` raise :class:`~stratacache.errors.InvalidArgumentError`."""
        if not isinstance(domain, str):
            raise InvalidArgumentError(f"domain must be a non-empty str, got {domain!r}")
        if not callable(rule):
            raise InvalidArgumentError(f"rule must be callable, got {type(rule).__name__}")
        # What the rule returns is checked by the core, before anything is invalidated.
        _native.register_domain(domain, rule)

    def unregister(self, domain: str) -> bool:
        """Remove the registered rule of ``domain`` (a built-in domain falls back to its built-in
        rule); returns whether there was one."""
        return _native.unregister_domain(domain)

    def invalidate(self, domain: str, id: Union[str, int]) -> Awaitable[dict[str, list[str]]]:
        """Invalidate what ``domain``'s rule says for ``id`` (a non-empty str or an int); returns those targets."""
        if not isinstance(domain, str):
            raise InvalidArgumentError(f"domain must be a non-empty str, got {_shown(domain)}")
        key = _id_string(id)
        return call("invalidate_domain", domain, key)

    def invalidate_ticket(self, id: Union[str, int]) -> Awaitable[dict[str, list[str]]]:
        """Key ``ticket:{id}``; tags ``ticket:{id}``, ``tickets``, ``dashboard``."""
        return self.invalidate("ticket", id)

    def invalidate_user(self, id: Union[str, int]) -> Awaitable[dict[str, list[str]]]:
        """Key and tag ``user:{id}``."""
        return self.invalidate("user", id)

    def invalidate_product(self, id: Union[str, int]) -> Awaitable[dict[str, list[str]]]:
        """Key ``product:{id}``; tags ``product:{id}``, ``products``."""
        return self.invalidate("product", id)

    def invalidate_category(self, id: Union[str, int]) -> Awaitable[dict[str, list[str]]]:
        """Key ``category:{id}``; tags ``category:{id}``, ``categories``."""
        return self.invalidate("category", id)


cache_invalidator = CacheInvalidator()
"""The process-wide invalidator."""
domain_invalidator = DomainInvalidator()
"""The process-wide domain invalidator."""
