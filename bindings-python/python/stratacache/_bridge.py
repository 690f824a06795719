"""The loop side of the await bridge (see ``bindings-python/src/bridge.rs``).

Each event loop gets one socket pair: the native runtime writes one byte to wake the loop when results
are waiting, and the loop thread drains them all at once. L1 hits never come here: they return a
:class:`Ready` awaitable that completes without a loop iteration.
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from typing import Any, Generator, Generic, TypeVar

from . import _native

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

    __slots__ = ("completions", "_reader", "_writer", "_loop_ref", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
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
        """Stop the bridge: unregister the reader and close the socket pair."""
        loop = self._loop_ref()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._reader.fileno())
        _close(self.completions, self._reader, self._writer)


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
