"""Shared fixtures of the Python and interop suites (tests/python, tests/interop).

- ``redis_server`` (session): a private ``redis-server`` on a free loopback port, killed at the end.
  Never port 6379, never a server this session did not start.
- ``resp``: a tiny binary-safe RESP client on that server, for planting and inspecting raw keys.
- ``ns``: a namespace unique to the test.
- ``cache``: the package's process-wide system configured for that server and namespace
  (``create_redis_client`` + ``initialize_cache_system``), shut down at teardown. Cache options come
  from an optional ``@pytest.mark.cache_options(...)`` marker.
- ``wire``: helpers for the envelope v1 byte layout (docs/wire-format.md), including an LZ4 block
  decompressor so compressed values can be checked without the ``lz4`` package.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "tests" / "vectors" / "v1"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cache_options(**options): cache options given to initialize_cache_system(cache=...)"
    )


# ----- a tiny RESP client ---------------------------------------------------------------------------


class RespError(Exception):
    """An error reply from Redis."""


class Resp:
    """A minimal, binary-safe RESP2 client (one connection, blocking, with a timeout)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.port = port
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buf = b""

    def close(self) -> None:
        self._sock.close()

    @staticmethod
    def _encode(args: tuple[Any, ...]) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, (bytes, bytearray)):
                b = bytes(a)
            else:
                b = str(a).encode("utf-8")
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self._sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _read_reply(self) -> Any:
        line = self._read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._read_exact(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read_reply() for _ in range(n)]
        raise ConnectionError(f"unexpected RESP reply {line!r}")

    def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send every command, then read every reply (errors are returned, not raised)."""
        self._sock.sendall(b"".join(self._encode(c) for c in commands))
        return [self._read_reply() for _ in commands]

    def __call__(self, *args: Any) -> Any:
        reply = self.pipeline([args])[0]
        if isinstance(reply, RespError):
            raise reply
        return reply

    def commandstats(self) -> dict[str, int]:
        """``INFO commandstats`` as {command: calls} (the INFO calls themselves excluded)."""
        text = self("INFO", "commandstats").decode()
        out: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith("cmdstat_"):
                name, fields = line[len("cmdstat_"):].split(":", 1)
                calls = dict(f.split("=", 1) for f in fields.split(","))["calls"]
                if name != "info":
                    out[name] = int(calls)
        return out

    def keys(self, pattern: str) -> list[bytes]:
        """Every key matching ``pattern`` (SCAN, bounded)."""
        cursor, found = b"0", []
        for _ in range(10_000):
            cursor, batch = self("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found.extend(batch)
            if cursor == b"0":
                return sorted(found)
        raise AssertionError("SCAN did not finish")


# ----- the redis-server of the session -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert port != 6379
    return int(port)


@dataclass
class RedisServer:
    port: int
    proc: "subprocess.Popen[bytes]"
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"


def start_redis_server(port: Optional[int] = None) -> RedisServer:
    """Start a private redis-server on ``port`` (a free one when ``None``) and wait until it answers."""
    if shutil.which("redis-server") is None:
        pytest.exit("redis-server is not installed", returncode=3)
    last_error = ""
    wanted = port
    for _attempt in range(1 if wanted else 5):
        port = wanted or free_port()
        assert port != 6379
        workdir = tempfile.mkdtemp(prefix="stratacache-redis-")
        with open(os.path.join(workdir, "redis.log"), "wb") as log:  # a file, never a pipe that can fill up
            proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", workdir],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                c = Resp(port, timeout=1)
                try:
                    if c("PING") == "PONG":
                        return RedisServer(port, proc, workdir)
                finally:
                    c.close()
            except OSError:
                time.sleep(0.02)
        stop_redis_server(RedisServer(port, proc, workdir))
        last_error = f"redis-server on port {port} did not start"
    if wanted:
        raise RuntimeError(last_error)
    pytest.exit(last_error, returncode=3)


def stop_redis_server(server: RedisServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=5)
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server_factory() -> Iterator[Any]:
    """Start extra redis-servers (on a given port) that are stopped at the end of the session."""
    started: list[RedisServer] = []

    def start(port: Optional[int] = None) -> RedisServer:
        server = start_redis_server(port)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            stop_redis_server(server)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis_server()
    try:
        yield server
    finally:
        stop_redis_server(server)


@pytest.fixture
def resp(redis_server: RedisServer) -> Iterator[Resp]:
    client = Resp(redis_server.port)
    try:
        yield client
    finally:
        client.close()


_counter = itertools.count(1)


@pytest.fixture
def ns() -> str:
    return f"t{next(_counter)}-{uuid.uuid4().hex[:10]}"


# ----- the cache system under test ----------------------------------------------------------------


@dataclass
class CacheCtx:
    """What the ``cache`` fixture gives a test."""

    url: str
    ns: str
    resp: Resp
    cache_options: dict[str, Any] = field(default_factory=dict)

    def dkey(self, key: str) -> str:
        """The Redis key of a data key (docs/key-schema.md)."""
        return f"{self.ns}:d:{key}"

    def tkey(self, tag: str) -> str:
        """The Redis key of a tag."""
        return f"{self.ns}:t:{tag}"

    def raw(self, key: str) -> Optional[bytes]:
        """The raw bytes stored for a data key (``None`` when absent)."""
        value = self.resp("GET", self.dkey(key))
        assert value is None or isinstance(value, bytes)
        return value

    async def start(self) -> None:
        import stratacache

        stratacache.create_redis_client(url=self.url, namespace=self.ns)
        # Always give the cache options (possibly none): they are process-wide and outlive a shutdown.
        result = await stratacache.initialize_cache_system(cache=dict(self.cache_options))
        assert result.redis == "connected", result

    async def restart(self) -> None:
        """Shut the system down and start it again: an empty L1, same Redis and namespace."""
        import stratacache

        await stratacache.shutdown_cache_system()
        await self.start()


@pytest.fixture
async def cache(request: pytest.FixtureRequest, redis_server: RedisServer, resp: Resp, ns: str) -> AsyncIterator[CacheCtx]:
    import stratacache

    marker = request.node.get_closest_marker("cache_options")
    ctx = CacheCtx(url=redis_server.url, ns=ns, resp=resp, cache_options=dict(marker.kwargs) if marker else {})
    await ctx.start()
    try:
        yield ctx
    finally:
        await stratacache.shutdown_cache_system()


# ----- envelope v1 (docs/wire-format.md) ----------------------------------------------------------


def lz4_block_decompress(block: bytes, size: int) -> bytes:
    """Decompress one raw LZ4 block whose output is ``size`` bytes (strict: raises on any error)."""
    out = bytearray()
    i = 0
    n = len(block)
    while True:
        if i >= n:
            raise ValueError("truncated LZ4 block")
        token = block[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = block[i]
                i += 1
                lit += b
                if b != 255:
                    break
        if i + lit > n:
            raise ValueError("LZ4 literals past the end")
        out += block[i:i + lit]
        i += lit
        if i == n:
            break  # the last sequence has literals only
        offset = block[i] | (block[i + 1] << 8)
        i += 2
        if offset == 0 or offset > len(out):
            raise ValueError("bad LZ4 offset")
        mlen = (token & 15) + 4
        if (token & 15) == 15:
            while True:
                b = block[i]
                i += 1
                mlen += b
                if b != 255:
                    break
        start = len(out) - offset
        for k in range(mlen):  # byte by byte: matches may overlap their own output
            out.append(out[start + k])
    if len(out) != size:
        raise ValueError(f"LZ4 block decompressed to {len(out)} bytes, expected {size}")
    return bytes(out)


@dataclass
class Envelope:
    version: int
    flags: int
    created_at_ms: int
    expires_at_ms: int
    tags: list[tuple[str, bytes]]
    payload: bytes  # the JSON text (decompressed when flags == 0x03)
    stored_payload: bytes  # the bytes after the tags, as stored


class Wire:
    """Envelope v1 encoding/decoding for tests (an independent reading of docs/wire-format.md)."""

    @staticmethod
    def encode(json_text: bytes | str, *, tags: Optional[list[tuple[str, bytes]]] = None,
               created_at_ms: Optional[int] = None, ttl_ms: int = 60_000) -> bytes:
        tags = tags or []
        if isinstance(json_text, str):
            json_text = json_text.encode("utf-8")
        created = int(time.time() * 1000) if created_at_ms is None else created_at_ms
        out = b"SC" + bytes([1, 0]) + struct.pack(">QQH", created, created + ttl_ms, len(tags))
        for name, token in tags:
            raw = name.encode("utf-8")
            assert len(token) == 8
            out += struct.pack(">H", len(raw)) + raw + token
        return out + json_text

    @staticmethod
    def decode(buf: bytes) -> Envelope:
        assert buf[:2] == b"SC", buf[:8]
        version, flags = buf[2], buf[3]
        created, expires, ntags = struct.unpack(">QQH", buf[4:22])
        pos = 22
        tags = []
        for _ in range(ntags):
            (length,) = struct.unpack(">H", buf[pos:pos + 2])
            pos += 2
            name = buf[pos:pos + length].decode("utf-8")
            pos += length
            tags.append((name, buf[pos:pos + 8]))
            pos += 8
        stored = buf[pos:]
        if flags == 0x03:
            (size,) = struct.unpack(">I", stored[:4])
            payload = lz4_block_decompress(stored[4:], size)
        else:
            payload = stored
        return Envelope(version, flags, created, expires, tags, payload, stored)

    @staticmethod
    def compact_json(value: Any) -> bytes:
        """The compact JSON text of ``value`` (no spaces, non-ASCII kept) as stratacache writes it."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


@pytest.fixture(scope="session")
def wire() -> Wire:
    return Wire()


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return {name: json.loads((VECTORS / f"{name}.json").read_text("utf-8"))
            for name in ("envelopes", "corrupt", "keys", "error-codes", "cluster-keys")}


def same_json(a: Any, b: Any) -> bool:
    """Deep equality that also requires the same JSON types (an int is not a float, True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return bool(a == b)


@pytest.fixture(scope="session")
def json_equal() -> Any:
    return same_json


@pytest.fixture(scope="session")
def child_env() -> dict[str, str]:
    """The environment for child processes: no inherited Redis or stratacache settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_", "STRATACACHE_", "PYTHONWARNINGS", "PYTHONDEVMODE"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def venv_python() -> str:
    return str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))


@pytest.fixture(scope="session")
def unused_port() -> Any:
    """A function returning a free loopback port (nothing listens on it)."""
    return free_port


@pytest.fixture(scope="session")
def resp_to() -> Any:
    """``resp_to(port)``: a RESP client on another server this session started."""
    return Resp


# ----- Redis Cluster and Sentinel (tests/support/topology.py, shared with the Rust and Node suites) ------


class Topology:
    """A local Redis Cluster (3 masters + 3 replicas) or Sentinel setup (primary, replica, 3 Sentinels),
    driven line by line through ``tests/support/topology.py``. The helper kills every server it started when
    its stdin closes (:meth:`stop`, or the end of this process)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "support" / "topology.py"), kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"topology.py {kind} did not start (exit {self.proc.wait()})")
        self.info: dict[str, Any] = json.loads(line)
        if kind == "cluster":
            self.data_ports = [n["port"] for n in self.info["nodes"]]
        else:
            self.data_ports = [self.info["primary"]["port"], self.info["replica"]["port"]]

    def ask(self, command: str) -> str:
        """One command line; the answer after ``OK`` (raises on ``ERR``)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if not line.startswith("OK"):
            raise RuntimeError(f"topology.py {command!r}: {line}")
        return line[2:].strip()

    def master_of(self, key: str) -> int:
        """Cluster: the port of the master serving ``key``'s slot now."""
        return int(self.ask(f"master-of {key}"))

    def primary(self) -> int:
        """Sentinel: the port the Sentinels name as the primary now."""
        return int(self.ask("primary"))

    def kill(self, port: int) -> None:
        """SIGKILL the server on ``port``."""
        self.ask(f"kill {port}")

    def wait_failover(self, port: int, seconds: float, key: str = "") -> tuple[int, int]:
        """Wait until ``port``'s role moved elsewhere (for a cluster: ``key``'s slot); (new port, ms)."""
        new, ms = self.ask(f"wait-failover {port} {seconds} {key}").split()
        return int(new), int(ms)

    def redis_options(self, namespace: str, via_port: Optional[int] = None) -> dict[str, Any]:
        """``create_redis_client`` keyword arguments for this topology (cluster: every node or ``via_port``)."""
        base: dict[str, Any] = {"namespace": namespace, "connect_timeout_ms": 500, "command_timeout_ms": 500}
        if self.kind == "cluster":
            ports = [via_port] if via_port else self.data_ports
            return {**base, "cluster": True, "nodes": [f"127.0.0.1:{p}" for p in ports]}
        sentinels = [f"127.0.0.1:{s['port']}" for s in self.info["sentinels"]]
        return {**base, "sentinel": {"master_name": self.info["master_name"], "nodes": sentinels}}

    def stop(self) -> None:
        """Kill every server and wait for the helper."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Topology]:
    """A Redis Cluster shared by the session's tests (each uses its own namespace; none kills a node)."""
    t = Topology("cluster")
    try:
        yield t
    finally:
        t.stop()


def key_slot(key: str) -> int:
    """Redis Cluster's slot of a key (CRC16/XMODEM of its hash tag or of the whole key, mod 16384)."""
    raw = key.encode()
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1:end]
    crc = 0
    for byte in raw:
        crc ^= byte << 8
        for _ in range(8):
            crc = (((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc % 16384


def cluster_lock_key(ns: str, key: str) -> str:
    """The load lock of ``key`` on Redis Cluster (docs/key-schema.md): ``{ns}:lk:{S}:{key}``, S the smallest
    decimal number whose slot is the data key's."""
    slot = key_slot(f"{ns}:d:{key}")
    n = 0
    while key_slot(str(n)) != slot:
        n += 1
    return f"{ns}:lk:{{{n}}}:{key}"
