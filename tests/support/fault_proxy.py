#!/usr/bin/env python3
"""A fault-injecting TCP proxy for the Rust, Node and Python test suites (stdlib only, Python 3.9+).

    python3 tests/support/fault_proxy.py --target-port N [--target-host 127.0.0.1]

Listens on a free loopback port (127.0.0.1, picked by the OS) and forwards every accepted connection to
the target (a throwaway redis-server). It is driven line by line over stdin/stdout: on start it prints
``READY <listen_port>``; then every line read on stdin is one command and gets exactly one answer line,
``OK`` (``OK <n>`` for ``count``) or ``ERR <why>``, written once the command has taken effect.

    pass        forward normally: undoes ``delay`` and ``freeze`` (everything a freeze held back is released).
    delay <ms>  forward every chunk, in either direction, no earlier than ms after it was read (0 to
                3600000; a round trip costs twice ms); order is kept per direction. The delay in force
                when a chunk is due applies, so ``pass`` releases held chunks at once. Independent of
                ``freeze`` (``delay`` does not thaw).
    freeze      black hole: nothing is forwarded in either direction and nothing is closed. Bytes (and
                end-of-stream) read meanwhile are BUFFERED and released in order on ``pass``, like after a
                long network stall. New connections are accepted and connected upstream, but frozen too.
                A connection whose client hung up during a freeze stays open (and counted) until the thaw.
    reset       close every open connection abruptly on both sides (SO_LINGER 0: the peers see a RST);
                keeps listening. Answered once the sockets are closed.
    refuse      from now on, new connections are accepted and immediately reset (a client may see the
                reset at connect or at its first read or write); open connections are left alone (send
                ``reset`` as well for a full outage). ``accept`` undoes it.
    count       ``OK <n>``: the number of open client connections (accepted and not yet closed).
    quit        close everything (abruptly), answer ``OK`` and exit 0. End of input on stdin does the same
                without answering, so the proxy dies with the process that owns its stdin.

A connection ends cleanly when both directions have seen end-of-stream (each is passed on as a
half-close), abruptly (RST on both sides) when either side errors. Every loop ends with its connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import sys
import threading

LINGER_0 = struct.pack("ii", 1, 0)


class Conn:
    """One proxied connection: its stream writers (client, then upstream) and its tasks."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.writers = [client]
        self.tasks: list[asyncio.Future[None]] = []

    def close(self, abort: bool) -> None:
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for w in self.writers:
            if abort:
                rst(w)
            else:
                w.close()


def rst(w: asyncio.StreamWriter) -> None:
    """Close abruptly: with SO_LINGER 0 the kernel sends a RST instead of a FIN."""
    sock = w.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
    except OSError:
        pass  # already closed
    w.transport.abort()


class Proxy:
    """The fault state (freeze, delay, refusal) and the open connections."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.flowing = asyncio.Event()  # cleared while frozen
        self.flowing.set()
        self.delay = 0.0  # seconds
        self.refusing = False
        self.conns: set[Conn] = set()

    async def handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        if self.refusing:
            rst(cw)
            return
        conn = Conn(cw)
        conn.tasks.append(asyncio.current_task())  # type: ignore[arg-type] # never None in a task
        self.conns.add(conn)
        clean = False
        try:
            sr, sw = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
            conn.writers.append(sw)
            pumps = [asyncio.ensure_future(self.pump(cr, sw)), asyncio.ensure_future(self.pump(sr, cw))]
            conn.tasks += pumps
            await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            errors = [t.exception() for t in pumps if t.done() and not t.cancelled()]
            clean = all(t.done() for t in pumps) and not any(errors)
        except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
            pass  # upstream refused, a peer reset or `reset`: abort the rest below (never end cancelled)
        finally:
            self.conns.discard(conn)
            conn.close(abort=not clean)

    async def pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward reader → writer; a reading task fills an ordered queue of (read time, bytes | error)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes | OSError]] = asyncio.Queue()

        async def read() -> None:
            try:
                while True:  # ends at end-of-stream, on an error or when cancelled
                    data = await reader.read(65536)
                    queue.put_nowait((loop.time(), data))
                    if not data:
                        return
            except OSError as e:
                queue.put_nowait((loop.time(), e))

        reading = asyncio.ensure_future(read())
        try:
            while True:  # one item per iteration; the last item is end-of-stream or an error
                t, data = await queue.get()
                while True:  # wait out a freeze and the delay (both may change meanwhile)
                    await self.flowing.wait()
                    wait = t + self.delay - loop.time()
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                if isinstance(data, Exception):
                    raise data
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        finally:
            reading.cancel()

    async def reset(self) -> None:
        conns, self.conns = list(self.conns), set()
        for conn in conns:
            conn.close(abort=True)
        closing = [w.wait_closed() for conn in conns for w in conn.writers]
        if closing:
            try:
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 2)
            except asyncio.TimeoutError:
                pass

    async def command(self, line: str) -> str | None:
        """Apply one command line; the answer, or None for ``quit``."""
        words = line.split()
        cmd, args = (words[0].lower(), words[1:]) if words else ("", [])
        if cmd == "delay":
            try:
                ms = float(args[0]) if len(args) == 1 else -1.0
            except ValueError:
                ms = -1.0
            if not 0 <= ms <= 3_600_000:
                return "ERR usage: delay <ms>, 0 <= ms <= 3600000"
            self.delay = ms / 1000
            return "OK"
        if args:
            return f"ERR {cmd} takes no argument"
        if cmd == "pass":
            self.delay = 0.0
            self.flowing.set()
        elif cmd == "freeze":
            self.flowing.clear()
        elif cmd == "reset":
            await self.reset()
        elif cmd == "refuse":
            self.refusing = True
        elif cmd == "accept":
            self.refusing = False
        elif cmd == "count":
            return f"OK {len(self.conns)}"
        elif cmd == "quit":
            return None
        else:
            return f"ERR unknown command {line.strip()!r}"
        return "OK"


async def main(host: str, port: int) -> None:
    proxy = Proxy(host, port)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read_stdin() -> None:  # a thread, so the event loop never blocks on stdin (whatever stdin is)
        try:
            for raw in iter(sys.stdin.buffer.readline, b""):
                loop.call_soon_threadsafe(lines.put_nowait, raw.decode("utf-8", "replace"))
            loop.call_soon_threadsafe(lines.put_nowait, None)  # end of input
        except OSError:  # a read error counts as end of input
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            pass  # the loop is closed: the proxy is exiting anyway

    threading.Thread(target=read_stdin, daemon=True).start()
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    quitting = False
    try:
        while True:  # ends with quit, end of input or a closed stdout (BrokenPipeError)
            line = await lines.get()
            if line is None:
                break
            answer = await proxy.command(line)
            if answer is None:
                quitting = True
                break
            print(answer, flush=True)
    finally:
        server.close()
        proxy.refusing = True
        await proxy.reset()
    if quitting:
        print("OK", flush=True)  # once everything is closed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--target-host", default="127.0.0.1")
    opts = parser.parse_args()
    try:
        asyncio.run(main(opts.target_host, opts.target_port))
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # whoever drove the proxy is gone
    os._exit(0)  # without joining the stdin thread, which may be blocked in a read
