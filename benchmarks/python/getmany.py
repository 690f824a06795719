"""get_many of 100 keys (50 cached) against 100 concurrent cache_aside.get calls: Redis commands and
wall time per round, the same package, one process (issue 18).

    python getmany.py [--rounds 20]      starts its own redis-server
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import subprocess
import time
from typing import Any

import stratacache

DB_S = 0.002  # one simulated database query (a batch query costs the same)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def commands(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")
    await writer.drain()
    header = await reader.readline()
    body = await reader.readexactly(int(header[1:]) + 2)
    writer.close()
    return int(re.search(rb"total_commands_processed:(\d+)", body).group(1))  # type: ignore[union-attr]


def value(k: str) -> dict[str, Any]:
    return {"id": k, "name": f"item {k}", "tags": ["a", "b"]}


async def main(rounds: int) -> None:
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    await asyncio.sleep(0.3)
    try:
        stratacache.create_redis_client(url=f"redis://127.0.0.1:{port}", namespace="gm")
        await stratacache.initialize_cache_system(skip_warming=True)
        res: dict[str, dict[str, list[float]]] = {m: {"ms": [], "cmds": []} for m in ("many", "each")}
        for r in range(rounds):
            for mode in ("many", "each"):
                keys = [f"{mode}:{r}:{i}" for i in range(100)]
                for k in keys[:50]:
                    await stratacache.cache_manager.set(k, value(k), ttl=600)
                c0 = await commands(port)
                t0 = time.perf_counter()
                if mode == "many":
                    async def batch(missing: list[str]) -> dict[str, Any]:
                        await asyncio.sleep(DB_S)
                        return {k: value(k) for k in missing}

                    await stratacache.cache_aside.get_many(keys, batch, ttl=600)
                else:
                    def one(k: str) -> Any:
                        async def load() -> dict[str, Any]:
                            await asyncio.sleep(DB_S)
                            return value(k)

                        return stratacache.cache_aside.get(k, load, ttl=600)

                    await asyncio.gather(*[one(k) for k in keys])
                res[mode]["ms"].append((time.perf_counter() - t0) * 1000)
                res[mode]["cmds"].append(await commands(port) - c0 - 1)
        med = {m: {f: sorted(v)[len(v) // 2] for f, v in d.items()} for m, d in res.items()}
        print(f"get_many of 100 keys (50 cached), medians of {rounds} rounds:")
        print(f"  get_many:                 {med['many']['ms']:.2f} ms, {med['many']['cmds']:.0f} Redis commands")
        print(f"  100 × cache_aside.get:    {med['each']['ms']:.2f} ms, {med['each']['cmds']:.0f} Redis commands")
        print(f"  wall time {med['each']['ms'] / med['many']['ms']:.2f}× faster, {med['each']['cmds'] / med['many']['cmds']:.2f}× fewer commands")
        await stratacache.shutdown_cache_system()
    finally:
        server.kill()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(ap.parse_args().rounds))
