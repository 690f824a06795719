"""The loop side of the await bridge (see ``bindings-python/src/bridge.rs``).

Each event loop gets one socket pair: the native runtime writes one byte to wake the loop when results
are waiting, and the loop thread drains them all at once. L1 hits never come here: they return a
:class:`Ready` awaitable that completes without a loop iteration.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import weakref
from typing import Any, Generator, Generic, TypeVar

from . import _native
from .errors import ClosedError

T = TypeVar("T")


class Ready(Generic[T]):
    """An awaitable that is already complete (an L1 hit): ``await`` returns its value at once."""

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def __await__(self) -> Generator[Any, None, T]:
        return self._value
        yield  # pragma: no cover - makes this a generator


class LoopBridge:
    """The completion queue and wake-up socket pair of one event loop."""

    __slots__ = ("completions", "pending", "_reader", "_writer", "_loop_ref", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # The futures the native runtime still has to complete (it holds a reference to each until
        # it does), so shutdown can let them settle instead of leaving them pending forever.
        self.pending: "weakref.WeakSet[asyncio.Future[Any]]" = weakref.WeakSet()
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._reader = reader
        self._writer = writer
        self.completions = _native.Completions(writer.fileno())
        self._loop_ref = weakref.ref(loop)
        loop.add_reader(reader.fileno(), self._drain)
        weakref.finalize(loop, _close, self.completions, reader, writer)

    def _drain(self) -> None:
        try:
            while self._reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        self.completions.drain()

    def close(self) -> None:
        """Stop the bridge: unregister the reader and close the socket pair. Calls still in flight
        fail with :class:`~stratacache.errors.ClosedError` (they can no longer complete)."""
        loop = self._loop_ref()
        # The futures of shared completions still queued (callers of one cache-aside load) are not in
        # `pending` (only each load's first is): fail them too.
        stranded = self.completions.close()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._reader.fileno())
            _fail_pending(loop, list(self.pending) + stranded)
        self.pending.clear()
        _close(self.completions, self._reader, self._writer)


def fail_stranded(futures: "list[asyncio.Future[Any]]") -> None:
    """Fail futures of any loop with :class:`~stratacache.errors.ClosedError` (shutdown)."""
    for fut in futures:
        loop = fut.get_loop()
        if not loop.is_closed():
            _fail_pending(loop, [fut])


def _fail_pending(loop: asyncio.AbstractEventLoop, futures: "list[asyncio.Future[Any]]") -> None:
    def fail(fut: "asyncio.Future[Any]") -> None:
        if not fut.done():
            fut.set_exception(ClosedError("the cache system was shut down while this call was in flight"))

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for fut in futures:
        if fut.done():
            continue
        if running is loop:
            fail(fut)
        else:
            loop.call_soon_threadsafe(fail, fut)


async def settle_pending(timeout: float) -> None:
    """Wait (at most ``timeout`` seconds) for the calls in flight on the running loop to complete."""
    b = _bridges.get(asyncio.get_running_loop())
    if b is not None:
        waiting = [f for f in b.pending if not f.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=timeout)


def _close(completions: Any, reader: socket.socket, writer: socket.socket) -> None:
    completions.close()  # no native write can reach the descriptors after this
    reader.close()
    writer.close()


_bridges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopBridge]" = weakref.WeakKeyDictionary()
_last: tuple[Any, Any] = (None, None)


def bridge_for(loop: asyncio.AbstractEventLoop) -> LoopBridge:
    """The bridge of ``loop``, created on first use."""
    global _last
    if _last[0] is loop:
        return _last[1]  # type: ignore[no-any-return]
    b = _bridges.get(loop)
    if b is None:
        b = _bridges[loop] = LoopBridge(loop)
    _last = (loop, b)
    return b


def close_all() -> None:
    """Close every bridge (shutdown, and in a forked child)."""
    global _last
    for b in list(_bridges.values()):
        b.close()
    _bridges.clear()
    _last = (None, None)


def forget_all() -> None:
    """After ``fork()``: drop every bridge without touching the parent's loops."""
    global _last
    for b in list(_bridges.values()):
        b.completions.close()
    _bridges.clear()
    _last = (None, None)


def _start(ctx: Any, func: Any, args: tuple[Any, ...], resolver: Any) -> None:
    """Start a user callback on this loop, in the caller's context (called by the native runtime).

    ``resolver(True, value)`` or ``resolver(False, exception)`` reports its outcome.
    """
    ctx.run(_run, func, args, resolver)


def _run(func: Any, args: tuple[Any, ...], resolver: Any) -> None:
    try:
        result = func(*args)
        if not inspect.isawaitable(result):
            resolver(True, result)
            return
        task = asyncio.ensure_future(result)
    except BaseException as e:  # noqa: BLE001 - the caller gets exactly what was raised
        resolver(False, e)
        return
    task.add_done_callback(lambda t: _done(t, resolver))


def _done(task: "asyncio.Future[Any]", resolver: Any) -> None:
    if task.cancelled():
        resolver(False, asyncio.CancelledError())
        return
    exc = task.exception()
    if exc is not None:
        resolver(False, exc)
    else:
        resolver(True, task.result())
