"""A second Python process for tests ("process B"): a child interpreter that answers JSON lines on
stdin/stdout (see ``bus_peer.py``), with its stderr kept in a file and its exit checked."""

from __future__ import annotations

import asyncio
import json
import tempfile
from typing import Any

import pytest


class PeerError(Exception):
    """An error the peer reported for one request: its Python type name and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class Peer:
    """Process B, driven line by line. ``source`` is its bus id (from its ``ready`` line)."""

    def __init__(self, proc: asyncio.subprocess.Process, source: str, stderr: Any) -> None:
        self.proc = proc
        self.source = source
        self._stderr = stderr

    @classmethod
    async def start(cls, venv_python: str, env: dict[str, str], args: list[str]) -> "Peer":
        """Run ``venv_python *args`` and wait (at most 20 s) for its ``{"ready": …}`` line."""
        stderr = tempfile.TemporaryFile()  # a file, never a pipe that can fill up
        proc = await asyncio.create_subprocess_exec(
            venv_python, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env=env)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        if not line:
            await proc.wait()
            stderr.seek(0)
            pytest.fail(f"the peer did not start (exit {proc.returncode}):\n{stderr.read().decode()}")
        ready = json.loads(line)
        assert "ready" in ready, line
        return cls(proc, ready["ready"], stderr)

    async def call(self, op: str, reply_timeout: float = 10, **args: Any) -> Any:
        """Send ``{"op": op, **args}`` and return the peer's ``ok`` value (raises :class:`PeerError`)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), reply_timeout)
        assert line, f"the peer exited during {op}: {self.stderr()}"
        reply = json.loads(line)
        if "error" in reply:
            raise PeerError(reply["error"]["type"], reply["error"]["message"])
        return reply["ok"]

    async def get(self, key: str) -> Any:
        """The peer's ``cache_manager.get(key)``."""
        return (await self.call("get", key=key))["value"]

    def stderr(self) -> str:
        """What the peer wrote on stderr so far."""
        self._stderr.seek(0)
        return str(self._stderr.read().decode("utf-8", "replace"))

    async def close(self) -> None:
        """End its input and check that it exits 0 within 10 s without a traceback."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            pytest.fail(f"the peer did not exit at end of input: {self.stderr()}")
        err = self.stderr()
        self._stderr.close()
        assert code == 0, f"the peer exited {code}:\n{err}"
        assert "Traceback" not in err, err
