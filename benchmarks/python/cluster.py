#!/usr/bin/env python3
"""Python benchmark on Redis Cluster: the stratacache package (L1 off, so every call reaches the cluster)
against raw redis-py ``redis.asyncio.cluster.RedisCluster``, in the same run, on a local cluster of
3 masters + 3 replicas started by tests/support/topology.py.

    python cluster.py [--runs 3] [--json out.json]

Scenarios (the ~1 KB value of bench.py under 1,000 keys): ``l2get`` gets at 64 in flight; ``sets`` sets
at 64 in flight; ``mget`` of 100 keys (sequential calls; redis-py: its cluster ``mget_nonatomic``, which
groups the keys per slot and pipelines them); ``get1`` one sequential get, to compare mget's latency with.
Every measurement reports ops/s, p50/p99 and, from INFO commandstats on every master, the Redis commands
per operation and how many masters served them. Medians over the runs, libraries interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KEYS = 1000
IN_FLIGHT = 64
SCALE = float(__import__("os").environ.get("BENCH_SCALE", "1"))
COUNTS = {name: max(200, int(n * SCALE)) for name, n in {"l2get": 30_000, "sets": 30_000, "mget": 1_000, "get1": 3_000}.items()}


def payload(i: int) -> dict[str, Any]:
    return {"rows": [{"id": i * 16 + j, "name": f"user {j}", "email": f"u{j}@example.com", "active": j % 2 == 0} for j in range(16)]}


def command(port: int, *args: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("*%d\r\n" % len(args) + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            if data.startswith(b"$"):
                n = int(data[1:data.index(b"\r\n")])
                if len(data) >= data.index(b"\r\n") + 2 + n:
                    return data
            elif data.startswith(b"*") and (b"master" in data or b"slave" in data):
                return data
            if not chunk:
                return data


def calls_per_master(ports: list[int]) -> dict[int, int]:
    out = {}
    for p in ports:
        text = command(p, "INFO", "commandstats").decode()
        out[p] = sum(int(line.split("calls=")[1].split(",")[0]) for line in text.splitlines()
                     if line.startswith("cmdstat_") and line.split(":")[0][8:] not in ("info", "role", "ping", "client", "cluster"))
    return out


async def timed(total: int, in_flight: int, op: Any) -> dict[str, float]:
    lat: list[float] = []
    nxt = 0

    async def worker() -> None:
        nonlocal nxt
        while nxt < total:
            i = nxt
            nxt += 1
            s = time.perf_counter()
            await op(i)
            lat.append(time.perf_counter() - s)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    secs = time.perf_counter() - t0
    lat.sort()
    return {"ops_per_sec": total / secs, "p50_us": lat[len(lat) // 2] * 1e6, "p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6}


class Stratacache:
    name = "stratacache"

    async def start(self, ports: list[int]) -> None:
        import stratacache
        self.sc = stratacache
        stratacache.create_redis_client(cluster=True, nodes=[f"127.0.0.1:{p}" for p in ports], namespace="bench", command_timeout_ms=5000)
        await stratacache.initialize_cache_system(cache={"enable_l1": False}, skip_warming=True)

    async def get(self, k: str) -> Any:
        return await self.sc.cache_manager.get(k)

    async def set(self, k: str, v: Any) -> None:
        await self.sc.cache_manager.set(k, v, ttl=600)

    async def mget(self, keys: list[str]) -> list[Any]:
        got = await self.sc.cache_manager.mget(keys)
        return [got[k] for k in keys]

    async def close(self) -> None:
        await self.sc.shutdown_cache_system()


class RedisPy:
    name = "redis-py RedisCluster"

    async def start(self, ports: list[int]) -> None:
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        self.c = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
        await self.c.initialize()

    async def get(self, k: str) -> Any:
        return json.loads(await self.c.get(f"raw:{k}"))

    async def set(self, k: str, v: Any) -> None:
        await self.c.set(f"raw:{k}", json.dumps(v, separators=(",", ":")), ex=600)

    async def mget(self, keys: list[str]) -> list[Any]:
        return [None if s is None else json.loads(s) for s in await self.c.mget_nonatomic([f"raw:{k}" for k in keys])]

    async def close(self) -> None:
        await self.c.aclose()


async def scenario(lib: Any, name: str, masters: list[int]) -> dict[str, float]:
    keys = [f"item:{i}" for i in range(KEYS)]
    total = COUNTS[name]
    before = calls_per_master(masters)
    if name == "l2get":
        r = await timed(total, IN_FLIGHT, lambda i: lib.get(keys[i % KEYS]))
    elif name == "sets":
        r = await timed(total, IN_FLIGHT, lambda i: lib.set(keys[i % KEYS], payload(i % KEYS)))
    elif name == "get1":
        r = await timed(total, 1, lambda i: lib.get(keys[i % KEYS]))
    else:
        async def one(i: int) -> None:
            got = await lib.mget([keys[(i * 100 + j) % KEYS] for j in range(100)])
            assert len(got) == 100 and got[0] is not None, f"{lib.name}: mget missed"
        r = await timed(total, 1, one)
    after = calls_per_master(masters)
    r["cmds_per_op"] = sum(after[p] - before[p] for p in masters) / total
    r["masters_serving"] = sum(1 for p in masters if after[p] > before[p])
    return r


async def run(ports: list[int], runs: int) -> dict[str, Any]:
    masters = [p for p in ports if b"master" in command(p, "ROLE")]
    libs = [Stratacache(), RedisPy()]
    for lib in libs:
        await lib.start(ports)
        for i in range(KEYS):
            await lib.set(f"item:{i}", payload(i))
    results = []
    for r in range(runs):
        for name in ["l2get", "sets", "mget", "get1"]:
            for lib in (libs if r % 2 == 0 else libs[::-1]):
                results.append({"run": r, "lib": lib.name, "scenario": name, **await scenario(lib, name, masters)})
    for lib in libs:
        await lib.close()
    return {"results": results, "libs": [lib.name for lib in libs]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    topo = subprocess.Popen([sys.executable, str(HERE.parent.parent / "tests" / "support" / "topology.py"), "cluster"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert topo.stdout is not None
        ports = [n["port"] for n in json.loads(topo.stdout.readline())["nodes"]]
        out = asyncio.run(run(ports, a.runs))
    finally:
        assert topo.stdin is not None
        topo.stdin.close()
        topo.wait(timeout=30)
    med: dict[str, dict[str, float]] = {}
    print(f"Redis Cluster, 3 masters + 3 replicas on loopback; {a.runs} runs, medians\n")
    print("| scenario | library | ops/s | p50 µs | p99 µs | Redis cmds/op | masters serving |\n|---|---|--:|--:|--:|--:|--:|")
    for name in ["l2get", "sets", "mget", "get1"]:
        for lib in out["libs"]:
            rs = [x for x in out["results"] if x["lib"] == lib and x["scenario"] == name]
            m = {k: statistics.median(x[k] for x in rs) for k in ("ops_per_sec", "p50_us", "p99_us", "cmds_per_op", "masters_serving")}
            med[f"{lib}/{name}"] = m
            print(f"| {name} | {lib} | {m['ops_per_sec']:,.0f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | {m['cmds_per_op']:.2f} | {m['masters_serving']:.0f} |")
    ratio = lambda s: med[f"stratacache/{s}"]["ops_per_sec"] / med[f"redis-py RedisCluster/{s}"]["ops_per_sec"]  # noqa: E731
    print(f"\nstratacache / redis-py RedisCluster throughput: L2 gets @64 {ratio('l2get'):.2f}x, sets @64 {ratio('sets'):.2f}x, mget of 100 {ratio('mget'):.2f}x")
    m, g = med["stratacache/mget"], med["stratacache/get1"]
    print(f"stratacache mget of 100 keys: p50 {m['p50_us']:.0f} µs = {m['p50_us'] / g['p50_us']:.2f}x one sequential get ({g['p50_us']:.0f} µs)")
    if a.json:
        Path(a.json).write_text(json.dumps({**out, "medians": med}, indent=2))


if __name__ == "__main__":
    main()
