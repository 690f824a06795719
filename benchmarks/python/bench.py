#!/usr/bin/env python3
"""Python benchmark of stratacache against cashews, aiocache and raw redis.asyncio.

    python bench.py                  # one run of every (library, scenario), prints a table
    python bench.py --runs 3         # three runs, prints the medians (and every run's value)
    python bench.py --json out.json  # also write every measurement as JSON
    python bench.py --scenario stampede   # only the cache-stampede scenario

The parent starts its own redis-server on a free loopback port, runs every (library, scenario) in a
child process (``bench.py --child --lib X --scenario Y --port N``: the stratacache system is a
per-process singleton, and a fresh process keeps the libraries from sharing a loop or a heap), collects
each child's one JSON line, kills redis-server and prints the table. See README.md for the scenarios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

N_KEYS = 1000
IN_FLIGHT = 64
TTL = 600

# Bounds per measurement: (max operations, max seconds); whichever comes first ends it.
BOUNDS = {
    "warm": (4000, 1.0),
    "l1": (300_000, 2.0),
    "l2get": (120_000, 3.0),
    "l2get_latency": (30_000, 1.5),
    "set": (120_000, 3.0),
    "seq": (20_000, 2.0),
}

SCENARIOS: dict[str, list[str]] = {
    "l1": ["stratacache", "stratacache_nometrics", "stratacache_meta", "cashews_cs"],
    "l2get": ["stratacache", "cashews", "aiocache", "raw"],
    "set": ["stratacache", "cashews", "aiocache", "raw"],
    "seq": ["stratacache", "cashews", "aiocache", "raw", "resp_floor"],
    "stampede": ["stratacache", "cashews", "cashews_cache", "cashews_lock"],
}

# The stampede scenario: STAMPEDE_CALLERS concurrent cache-aside gets of one cold key whose loader takes
# STAMPEDE_LOADER_S; repeated STAMPEDE_REPEATS times on fresh keys after one uncounted warm-up stampede.
STAMPEDE_CALLERS = 1000
STAMPEDE_LOADER_S = 0.05
STAMPEDE_REPEATS = 5
STAMPEDE_TIMEOUT_S = 60

# (scenario, metric, numerator lib, denominator lib, target, higher_is_better)
TARGETS = [
    ("l1", "ops_per_s", "stratacache", "cashews_cs", 1.0),
    # What recording metrics costs the hottest path (issue 16: at least 0.95 of the throughput without).
    ("l1", "ops_per_s", "stratacache", "stratacache_nometrics", 0.95),
    # get_with_meta must cost no more than get on an L1 hit (issue 18).
    ("l1", "ops_per_s", "stratacache_meta", "stratacache", 0.95),
    ("l2get", "ops_per_s", "stratacache", "raw", 2.0),
    ("set", "ops_per_s", "stratacache", "raw", 2.0),
]


def make_value(i: int) -> dict[str, Any]:
    """A ~1 KB JSON-able dict: 16 rows of {id, name, email, active} (the Rust and Node benches' shape)."""
    return {
        "rows": [
            {"id": i * 16 + j, "name": f"user {j}", "email": f"u{j}@example.com", "active": j % 2 == 0}
            for j in range(16)
        ]
    }


# --------------------------------------------------------------------------------------------------
# Adapters: each exposes get(key) -> awaitable, set(key, value) -> awaitable, close(), describe().
# --------------------------------------------------------------------------------------------------


class StrataAdapter:
    name = "stratacache"
    skip_metrics = False

    async def open(self, port: int, scenario: str) -> None:
        import stratacache

        self.mod = stratacache
        stratacache.create_redis_client(url=f"redis://127.0.0.1:{port}", namespace="bench-strata")
        # L1 only for the L1 scenario; everything else measures the Redis path (like-for-like with
        # the libraries that have no in-process tier).
        self.m = stratacache.get_cache_manager(enable_l1=(scenario == "l1"))
        r = await stratacache.initialize_cache_system(skip_metrics=self.skip_metrics)
        if r.redis != "connected":
            raise RuntimeError(f"stratacache did not connect: {r}")
        self.get = self.m.get

    def set(self, key: str, value: Any) -> Awaitable[Any]:
        return self.m.set(key, value, ttl=TTL)

    def cold_get(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        """Cache-aside get (stampede scenario): single-flight in the process, Redis load lock across."""
        aside = getattr(self.mod, "cache_aside", None)
        if aside is None:
            raise RuntimeError(f"this stratacache ({self.mod.__file__}) has no cache_aside (an older build)")
        return aside.get(key, loader, ttl=TTL)

    async def close(self) -> None:
        await self.mod.shutdown_cache_system()

    async def extra(self) -> dict[str, Any]:
        s = await self.m.get_stats()
        return {"stats": s.to_dict(), "module": self.mod.__file__}


class CashewsAdapter:
    """cashews. In the stampede scenario, ``mode`` picks its cache-aside equivalent: ``get_or_set``
    (``cashews``), the ``@cache`` decorator with its default in-process thunder protection
    (``cashews_cache``), or ``@cache(lock=True)``, which adds a Redis lock (``cashews_lock``)."""

    def __init__(self, client_side: bool, mode: str = "get_or_set") -> None:
        self.client_side = client_side
        self.mode = mode
        self.name = "cashews_cs" if client_side else {"get_or_set": "cashews", "cache": "cashews_cache",
                                                      "lock": "cashews_lock"}[mode]
        self._fetch: Any = None
        self._loader: Callable[[], Awaitable[Any]] | None = None

    async def open(self, port: int, scenario: str) -> None:
        from cashews import Cache

        self.c = Cache()
        url = f"redis://127.0.0.1:{port}/0"
        if self.client_side:
            self.c.setup(url, client_side=True)
        else:
            self.c.setup(url)
        await self.c.init()
        self.get = self.c.get

    def set(self, key: str, value: Any) -> Awaitable[Any]:
        return self.c.set(key, value, expire=TTL)

    def cold_get(self, key: str, loader: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        if self.mode == "get_or_set":
            return self.c.get_or_set(key, loader, expire=TTL)
        self._loader = loader
        if self._fetch is None:
            adapter = self

            @self.c(ttl=TTL, key="{key}", lock=(self.mode == "lock"))
            async def fetch(key: str) -> Any:
                assert adapter._loader is not None
                return await adapter._loader()

            self._fetch = fetch
        return self._fetch(key)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.c.close()

    async def extra(self) -> dict[str, Any]:
        import cashews

        return {"version": getattr(cashews, "__version__", "?"), "serializer": "pickle (cashews default)",
                "mode": self.mode}


class AiocacheAdapter:
    name = "aiocache"

    async def open(self, port: int, scenario: str) -> None:
        from aiocache import RedisCache
        from aiocache.serializers import JsonSerializer

        self.c = RedisCache(serializer=JsonSerializer(), endpoint="127.0.0.1", port=port, namespace="bench-aio")
        self.get = self.c.get

    def set(self, key: str, value: Any) -> Awaitable[Any]:
        return self.c.set(key, value, ttl=TTL)

    async def close(self) -> None:
        await self.c.close()

    async def extra(self) -> dict[str, Any]:
        import aiocache

        return {"version": getattr(aiocache, "__version__", "?")}


class RawAdapter:
    """redis.asyncio with json.dumps/loads: what a hand-written cache layer does."""

    name = "raw"

    async def open(self, port: int, scenario: str) -> None:
        import redis.asyncio as aredis

        self.r = aredis.Redis(host="127.0.0.1", port=port)

    async def get(self, key: str) -> Any:
        b = await self.r.get(key)
        return None if b is None else json.loads(b)

    def set(self, key: str, value: Any) -> Awaitable[Any]:
        return self.r.set(key, json.dumps(value), ex=TTL)

    async def close(self) -> None:
        await self.r.aclose()

    async def extra(self) -> dict[str, Any]:
        import redis

        return {"version": redis.__version__}


class RespFloorProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        # One bulk-string reply: $<len>\r\n<payload>\r\n (or $-1\r\n).
        end = self.buf.find(b"\r\n")
        if end < 0:
            return
        n = int(self.buf[1:end])
        if n < 0:
            total, payload = end + 2, b"null"
        else:
            total = end + 2 + n + 2
            if len(self.buf) < total:
                return
            payload = bytes(self.buf[end + 2 : end + 2 + n])
        del self.buf[:total]
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_result(payload)


class RespFloorAdapter:
    """The floor: one hand-written asyncio Protocol on one socket, GET + json.loads, nothing else.
    Sequential use only (one request outstanding at a time)."""

    name = "resp_floor"

    async def open(self, port: int, scenario: str) -> None:
        import redis.asyncio as aredis

        loop = asyncio.get_running_loop()
        self.transport, self.proto = await loop.create_connection(RespFloorProtocol, "127.0.0.1", port)
        self.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.loop = loop
        self.r = aredis.Redis(host="127.0.0.1", port=port)  # only to populate the keys

    async def get(self, key: str) -> Any:
        k = key.encode()
        fut = self.loop.create_future()
        self.proto.waiter = fut
        self.transport.write(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))
        return json.loads(await fut)

    def set(self, key: str, value: Any) -> Awaitable[Any]:
        return self.r.set(key, json.dumps(value), ex=TTL)

    async def close(self) -> None:
        self.transport.close()
        await self.r.aclose()

    async def extra(self) -> dict[str, Any]:
        return {}


class StrataNoMetricsAdapter(StrataAdapter):
    """stratacache with ``skip_metrics=True`` (the baseline of the metrics-overhead ratio)."""

    name = "stratacache_nometrics"
    skip_metrics = True


class StrataMetaAdapter(StrataAdapter):
    """stratacache reading through ``get_with_meta`` (the cost of result metadata on an L1 hit)."""

    name = "stratacache_meta"

    async def open(self, port: int, scenario: str) -> None:
        await super().open(port, scenario)
        self.get = self.m.get_with_meta


def make_adapter(lib: str) -> Any:
    return {
        "stratacache": StrataAdapter,
        "stratacache_nometrics": StrataNoMetricsAdapter,
        "stratacache_meta": StrataMetaAdapter,
        "cashews": lambda: CashewsAdapter(False),
        "cashews_cs": lambda: CashewsAdapter(True),
        "cashews_cache": lambda: CashewsAdapter(False, "cache"),
        "cashews_lock": lambda: CashewsAdapter(False, "lock"),
        "aiocache": AiocacheAdapter,
        "raw": RawAdapter,
        "resp_floor": RespFloorAdapter,
    }[lib]()


# --------------------------------------------------------------------------------------------------
# Measurement loops (child side)
# --------------------------------------------------------------------------------------------------


def pct(sorted_ns: list[int], p: float) -> float:
    if not sorted_ns:
        return float("nan")
    i = min(len(sorted_ns) - 1, max(0, round(p / 100 * (len(sorted_ns) - 1))))
    return sorted_ns[i] / 1000.0


async def seq_loop(op: Callable[[str], Awaitable[Any]], keys: list[str], bound: tuple[int, float], timed: bool) -> dict[str, Any]:
    """One await at a time over the keys, cycling. Returns ops, seconds, and (timed) per-op latencies."""
    max_ops, max_s = bound
    lat: list[int] = []
    pc = time.perf_counter_ns
    n = 0
    nk = len(keys)
    t0 = time.perf_counter()
    deadline = t0 + max_s
    while n < max_ops:
        # check the clock once per pass of 256 ops, so the loop itself stays cheap
        for _ in range(256):
            k = keys[n % nk]
            if timed:
                a = pc()
                await op(k)
                lat.append(pc() - a)
            else:
                await op(k)
            n += 1
        if time.perf_counter() >= deadline:
            break
    dt = time.perf_counter() - t0
    out: dict[str, Any] = {"ops": n, "seconds": dt, "ops_per_s": n / dt, "us_per_op": dt / n * 1e6}
    if timed:
        lat.sort()
        out.update(p50_us=pct(lat, 50), p99_us=pct(lat, 99))
    return out


async def batched_loop(op: Callable[[str], Awaitable[Any]], keys: list[str], bound: tuple[int, float]) -> dict[str, Any]:
    """IN_FLIGHT operations at a time (asyncio.gather of the library's own awaitables)."""
    max_ops, max_s = bound
    nk = len(keys)
    gather = asyncio.gather
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + max_s
    while n < max_ops:
        base = n
        await gather(*[op(keys[(base + j) % nk]) for j in range(IN_FLIGHT)])
        n += IN_FLIGHT
        if time.perf_counter() >= deadline:
            break
    dt = time.perf_counter() - t0
    return {"ops": n, "seconds": dt, "ops_per_s": n / dt}


async def batched_latency(op: Callable[[str], Awaitable[Any]], keys: list[str], bound: tuple[int, float]) -> dict[str, Any]:
    """Per-operation latency with IN_FLIGHT in flight: each op is wrapped in a timing coroutine (so
    every library pays one Task per op here; throughput is measured separately without the wrapper)."""
    max_ops, max_s = bound
    nk = len(keys)
    lat: list[int] = []
    pc = time.perf_counter_ns

    async def timed(k: str) -> None:
        a = pc()
        await op(k)
        lat.append(pc() - a)

    n = 0
    t0 = time.perf_counter()
    deadline = t0 + max_s
    while n < max_ops:
        base = n
        await asyncio.gather(*[timed(keys[(base + j) % nk]) for j in range(IN_FLIGHT)])
        n += IN_FLIGHT
        if time.perf_counter() >= deadline:
            break
    lat.sort()
    return {"p50_us": pct(lat, 50), "p99_us": pct(lat, 99), "latency_ops": n}


async def redis_commands(port: int) -> int:
    import redis.asyncio as aredis

    r = aredis.Redis(host="127.0.0.1", port=port)
    try:
        info = await r.info("stats")
        return int(info["total_commands_processed"])
    finally:
        await r.aclose()


async def stampede(ad: Any, port: int) -> dict[str, Any]:
    """STAMPEDE_CALLERS concurrent cold gets of one key, STAMPEDE_REPEATS times: wall time per stampede,
    loader runs per stampede, Redis commands per stampede, and how many distinct result objects."""
    value = make_value(0)
    runs = 0

    async def loader() -> Any:
        nonlocal runs
        runs += 1
        await asyncio.sleep(STAMPEDE_LOADER_S)
        return value

    async def one(key: str) -> list[Any]:
        return await asyncio.wait_for(
            asyncio.gather(*[ad.cold_get(key, loader) for _ in range(STAMPEDE_CALLERS)]), STAMPEDE_TIMEOUT_S)

    await one("stampede:warm-up")  # connections, code paths; not counted
    walls: list[float] = []
    loads: list[int] = []
    distinct: list[int] = []
    cmds0 = await redis_commands(port)
    for i in range(STAMPEDE_REPEATS):
        runs = 0
        gc.collect()
        t0 = time.perf_counter()
        results = await one(f"stampede:{i}")
        walls.append((time.perf_counter() - t0) * 1000)
        loads.append(runs)
        wrong = sum(1 for r in results if r != value)
        if wrong:
            raise RuntimeError(f"{ad.name}: {wrong} of {len(results)} callers got a wrong value")
        distinct.append(len({id(r) for r in results}))
    cmds1 = await redis_commands(port)
    wall = statistics.median(walls)
    return {
        "wall_ms": wall,
        "wall_ms_runs": [round(w, 1) for w in walls],
        "loader_runs": statistics.median(loads),
        "loader_runs_runs": loads,
        "distinct_results": min(distinct),
        "redis_cmds_per_stampede": round((cmds1 - cmds0 - 1) / STAMPEDE_REPEATS, 1),
        "callers": STAMPEDE_CALLERS,
        "loader_s": STAMPEDE_LOADER_S,
        "ops": STAMPEDE_CALLERS,
        "ops_per_s": STAMPEDE_CALLERS / (wall / 1000),
    }


async def child_main(lib: str, scenario: str, port: int, profile: str | None) -> dict[str, Any]:
    ad = make_adapter(lib)
    await ad.open(port, scenario)
    if scenario == "stampede":
        try:
            res = await stampede(ad, port)
            res.update(lib=lib, scenario=scenario, extra=await ad.extra())
            return res
        finally:
            await ad.close()
    keys = [f"k:{i:05d}" for i in range(N_KEYS)]
    values = [make_value(i) for i in range(N_KEYS)]
    value_bytes = len(json.dumps(values[0], separators=(",", ":")))
    try:
        # Populate (also fills the L1 of the two-tier libraries in the L1 scenario).
        for s in range(0, N_KEYS, IN_FLIGHT):
            await asyncio.gather(*[ad.set(keys[i], values[i]) for i in range(s, min(N_KEYS, s + IN_FLIGHT))])
        got = await ad.get(keys[7])
        if getattr(ad, "name", "") == "stratacache_meta":
            got = got.value  # get_with_meta: the value with its metadata
        if got != values[7]:
            raise RuntimeError(f"{lib}: read back {str(got)[:80]!r}, expected the stored value")

        if scenario == "set":
            v = values[0]

            def op(k: str) -> Awaitable[Any]:
                return ad.set(k, v)
        else:
            op = ad.get

        # Warm-up: connections, code paths, allocator.
        if scenario in ("l1", "seq"):
            await seq_loop(op, keys, BOUNDS["warm"], False)
        else:
            await batched_loop(op, keys, BOUNDS["warm"])

        gc.collect()
        cmds0 = await redis_commands(port)
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        if scenario == "l1":
            res = await seq_loop(op, keys, BOUNDS["l1"], False)
        elif scenario == "seq":
            res = await seq_loop(op, keys, BOUNDS["seq"], True)
        else:
            res = await batched_loop(op, keys, BOUNDS[scenario])
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)
        cmds1 = await redis_commands(port)
        # commands per op (minus the one INFO that took the second reading)
        res["redis_cmds_per_op"] = round((cmds1 - cmds0 - 1) / res["ops"], 3)
        if scenario == "l2get":
            res.update(await batched_latency(op, keys, BOUNDS["l2get_latency"]))
        res.update(lib=lib, scenario=scenario, value_bytes=value_bytes, extra=await ad.extra())
        return res
    finally:
        await ad.close()


# --------------------------------------------------------------------------------------------------
# Parent: redis-server, children, table
# --------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server not found on PATH (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("redis-server did not start")


def flushall(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"FLUSHALL\r\n")
        s.recv(16)


def run_child(lib: str, scenario: str, port: int, profile_dir: str | None) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--lib", lib, "--scenario", scenario, "--port", str(port)]
    if profile_dir:
        cmd += ["--profile", os.path.join(profile_dir, f"{lib}-{scenario}.prof")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"lib": lib, "scenario": scenario, "error": (p.stderr or p.stdout).strip()[-600:]}
    return json.loads(lines[-1])


def median_of(runs: list[dict[str, Any]], field: str) -> float | None:
    vals = [r[field] for r in runs if field in r and r[field] is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, kind: str) -> str:
    if v is None:
        return "—"
    if kind == "rate":
        return f"{v / 1000:,.1f}k"
    return f"{v:,.1f}"


def parent_main(args: argparse.Namespace) -> None:
    selected = [(sc, lib) for sc, libs in SCENARIOS.items() for lib in libs
                if (not args.scenario or sc in args.scenario) and (not args.lib or lib in args.lib)]
    proc, port = start_redis()
    results: dict[tuple[str, str], list[dict[str, Any]]] = {k: [] for k in selected}
    t_start = time.time()
    try:
        for run in range(args.runs):
            for sc, lib in selected:
                flushall(port)
                r = run_child(lib, sc, port, args.profile_dir)
                r["run"] = run + 1
                results[(sc, lib)].append(r)
                if "error" in r:
                    print(f"[run {run + 1}] {sc}/{lib}: ERROR {r['error']}", file=sys.stderr)
                elif sc == "stampede":
                    print(f"[run {run + 1}] {sc:6} {lib:12} {r['wall_ms']:>9,.1f} ms/stampede, "
                          f"{r['loader_runs']:g} loader run(s)", file=sys.stderr)
                else:
                    print(f"[run {run + 1}] {sc:6} {lib:12} {r['ops_per_s']:>12,.0f} ops/s", file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
    elapsed = time.time() - t_start

    strata_mod = next((r["extra"].get("module") for rs in results.values() for r in rs if r.get("lib") == "stratacache" and "extra" in r), None)
    print()
    print(f"stratacache Python benchmark — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {args.runs} run(s), "
          f"{'medians' if args.runs > 1 else 'one run'}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
          f"{elapsed:.0f} s")
    print(f"stratacache module: {strata_mod}")
    payload = len(json.dumps(make_value(0), separators=(",", ":")))
    print(f"payload: {payload} B of JSON per value, {N_KEYS} keys, {IN_FLIGHT} in flight")
    print()
    stampede_table(results)
    stampedes = [r for (sc, _), rs in results.items() if sc == "stampede" for r in rs]
    results = {k: v for k, v in results.items() if k[0] != "stampede"}
    if not results:
        return dump_json(args, [], {}, [], elapsed, strata_mod, stampedes)
    hdr = f"| {'scenario':8} | {'library':12} | {'ops/s':>9} | {'µs/op':>7} | {'p50 µs':>7} | {'p99 µs':>7} | {'cmds/op':>7} | runs (ops/s) |"
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    med: dict[tuple[str, str], dict[str, float | None]] = {}
    for (sc, lib), rs in results.items():
        ok = [r for r in rs if "error" not in r]
        m = {f: median_of(ok, f) for f in ("ops_per_s", "us_per_op", "p50_us", "p99_us", "redis_cmds_per_op")}
        med[(sc, lib)] = m
        per_run = ", ".join(f"{r['ops_per_s'] / 1000:.1f}k" if "error" not in r else "ERR" for r in rs)
        us = m["us_per_op"] if sc in ("seq", "l1") else (1e6 / m["ops_per_s"] if m["ops_per_s"] else None)
        print(f"| {sc:8} | {lib:12} | {fmt(m['ops_per_s'], 'rate'):>9} | {fmt(us, 'us'):>7} | {fmt(m['p50_us'], 'us'):>7} | "
              f"{fmt(m['p99_us'], 'us'):>7} | {fmt(m['redis_cmds_per_op'], 'us') if m['redis_cmds_per_op'] is not None else '—':>7} | {per_run} |")
    print()
    print("Ratios (stratacache ÷ baseline, medians):")
    summary = []
    for sc, field, a, b, target in TARGETS:
        if (sc, a) in med and (sc, b) in med and med[(sc, a)][field] and med[(sc, b)][field]:
            ratio = med[(sc, a)][field] / med[(sc, b)][field]
            verdict = "MET" if ratio >= target else "MISSED"
            print(f"  {sc:6} {a} / {b}: {ratio:.2f}×  (target ≥ {target:g}×: {verdict})")
            summary.append({"scenario": sc, "ratio": ratio, "target": target, "met": ratio >= target})
    if ("seq", "stratacache") in med and ("seq", "raw") in med:
        s, r = med[("seq", "stratacache")]["us_per_op"], med[("seq", "raw")]["us_per_op"]
        f = med.get(("seq", "resp_floor"), {}).get("us_per_op")
        if s and r:
            print(f"  seq    per-await L2 get: stratacache {s:.1f} µs, raw redis.asyncio {r:.1f} µs "
                  f"({s / r:.2f}×){f'; asyncio-protocol floor {f:.1f} µs' if f else ''}")
    dump_json(args, [r for rs in results.values() for r in rs], med, summary, elapsed, strata_mod, stampedes)


def stampede_table(results: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    rows = [(lib, rs) for (sc, lib), rs in results.items() if sc == "stampede"]
    if not rows:
        return
    print(f"stampede: {STAMPEDE_CALLERS} concurrent cache-aside gets of one cold key, loader {STAMPEDE_LOADER_S * 1000:g} ms, "
          f"{STAMPEDE_REPEATS} stampedes per run (medians)")
    print()
    hdr = f"| {'library':13} | {'wall ms':>8} | {'loader runs':>11} | {'distinct objs':>13} | {'cmds/stampede':>13} | runs (wall ms) |"
    print(hdr)
    print("|" + "|".join("-" * len(c) for c in hdr.split("|")[1:-1]) + "|")
    for lib, rs in rows:
        ok = [r for r in rs if "error" not in r]
        wall, loads = median_of(ok, "wall_ms"), median_of(ok, "loader_runs")
        objs, cmds = median_of(ok, "distinct_results"), median_of(ok, "redis_cmds_per_stampede")
        per_run = "; ".join(", ".join(f"{w:g}" for w in r["wall_ms_runs"]) if "error" not in r else "ERR" for r in rs)
        print(f"| {lib:13} | {fmt(wall, 'us'):>8} | {fmt(loads, 'us'):>11} | {fmt(objs, 'us'):>13} | "
              f"{fmt(cmds, 'us'):>13} | {per_run} |")
    print()


def dump_json(args: argparse.Namespace, flat: list[dict[str, Any]], med: dict[tuple[str, str], Any],
              summary: list[dict[str, Any]], elapsed: float, strata_mod: Any,
              stampedes: list[dict[str, Any]]) -> None:
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"date": datetime.now(timezone.utc).isoformat(), "runs": args.runs, "elapsed_s": elapsed,
                       "python": platform.python_version(), "cpus": os.cpu_count(), "stratacache_module": strata_mod,
                       "results": flat + stampedes,
                       "medians": {f"{sc}/{lib}": m for (sc, lib), m in med.items()}, "ratios": summary}, fh, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1, help="repeat the whole matrix N times and report medians")
    ap.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="only this scenario (repeatable)")
    ap.add_argument("--lib", action="append", help="only this library (repeatable)")
    ap.add_argument("--json", help="write all measurements to this file")
    ap.add_argument("--profile-dir", help="cProfile each child's measured phase into DIR/<lib>-<scenario>.prof")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--profile", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        lib, sc = args.lib[0], args.scenario[0]
        res = asyncio.run(child_main(lib, sc, args.port, args.profile))
        print(json.dumps(res))
    else:
        if args.profile_dir:
            os.makedirs(args.profile_dir, exist_ok=True)
        parent_main(args)


if __name__ == "__main__":
    main()
