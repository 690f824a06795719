"""A fault-injecting TCP proxy in front of a test Redis, for the Python suites.

Drives ``tests/support/fault_proxy.py`` (one child interpreter per proxy, shared with the Rust and Node
suites) over its stdin/stdout. Import it like ``bus_peer`` (``tests/python`` on ``sys.path``)::

    with FaultProxy.start(redis_server.port) as proxy:   # point the cache at proxy.url
        proxy.delay(50)    # every chunk, both directions: a round trip costs twice the delay
        proxy.freeze()     # black hole: nothing forwarded, nothing closed
        proxy.pass_()      # forward normally; releases what a freeze held back, in order
        proxy.reset()      # RST every open connection (both sides); keeps listening
        proxy.refuse()     # new connections are accepted and reset at once; open ones are left alone
        proxy.accept()     # undo refuse
        proxy.count()      # open client connections (a client's close arrives asynchronously: poll)

Every call returns once the proxy has applied the command (it takes microseconds, so async tests may call
it directly) and raises after 10 s or on an ``ERR`` answer. ``close()`` (or leaving the ``with``) ends
the child; the proxy also exits by itself when this process dies (end of its stdin).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "fault_proxy.py"
TIMEOUT_S = 10.0


class FaultProxy:
    """A ``fault_proxy.py`` child listening on a free loopback port and forwarding to a Redis port."""

    def __init__(self, target_port: int, timeout: float = TIMEOUT_S) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._buf = b""
        self._proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--target-port", str(target_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        try:
            ready = self._read_line("startup")
            if not ready.startswith("READY "):
                raise RuntimeError(f"fault proxy did not start (first line: {ready!r})")
            self.port = int(ready.split()[1])
        except BaseException:
            self._kill()
            raise
        self.url = f"redis://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, target_port: int, timeout: float = TIMEOUT_S) -> "FaultProxy":
        """Start a proxy forwarding to 127.0.0.1:``target_port``; returns once it listens."""
        return cls(target_port, timeout)

    def pass_(self) -> None:
        """Forward normally again (undoes ``delay`` and ``freeze``, releasing held bytes in order)."""
        self._command("pass")

    def delay(self, ms: float) -> None:
        """Hold every chunk, in either direction, until ``ms`` after it was read (order kept)."""
        self._command(f"delay {ms}")

    def freeze(self) -> None:
        """Black hole: forward nothing, close nothing; new connections are accepted but frozen too."""
        self._command("freeze")

    def reset(self) -> None:
        """Close every open connection abruptly (RST to both peers); keeps listening."""
        self._command("reset")

    def refuse(self) -> None:
        """Reset new connections as soon as they are accepted; open connections are left alone."""
        self._command("refuse")

    def accept(self) -> None:
        """Undo :meth:`refuse`."""
        self._command("accept")

    def count(self) -> int:
        """The number of open client connections."""
        return int(self._command("count"))

    def close(self) -> None:
        """Quit the proxy (closing its connections) and wait for it; kills it after 2 s. Idempotent."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(b"quit\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=5)
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def _command(self, line: str) -> str:
        """Send one command line and wait for its answer; returns what follows ``OK``."""
        with self._lock:
            if self._proc.poll() is not None:
                raise RuntimeError(f"fault proxy: {line!r}: the proxy has exited ({self._proc.returncode})")
            assert self._proc.stdin is not None
            self._proc.stdin.write(line.encode() + b"\n")
            answer = self._read_line(repr(line))
        if answer != "OK" and not answer.startswith("OK "):
            raise RuntimeError(f"fault proxy: {line!r} answered {answer!r}")
        return answer[2:].strip()

    def _read_line(self, what: str) -> str:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self._timeout
        while b"\n" not in self._buf:  # bounded by the deadline and by the child's end of output
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"fault proxy: no answer to {what} within {self._timeout} s")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"fault proxy: exited during {what} ({self._proc.wait(timeout=5)})")
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode().strip()
