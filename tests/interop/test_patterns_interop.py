"""cacheAside across languages: a Node process (tests/interop/node_aside_peer.mjs, importing the built npm
package dist/index.mjs) and this Python process, on one redis-server and one namespace, ask for the same
cold key at the same time. The cross-process load lock ({ns}:lk:{key}) must let exactly one of them run
its loader (which INCRs a Redis counter and takes 300 ms); the other waits and gets the same value.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from stratacache import cache_aside, cache_manager

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEER = HERE / "node_aside_peer.mjs"
LOADER_S = 0.3

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


async def incr(port: int, key: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        k = key.encode()
        writer.write(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(k), k))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line.startswith(b":"), line
        return int(line[1:])
    finally:
        writer.close()
        await writer.wait_closed()


# (name, seconds from the Python call to the Node call: > 0 Python first, < 0 Node first, 0 together, who loads)
ROUNDS = [("python-first", 0.15, "python"), ("node-first", -0.15, "node"), ("together", 0.0, None)]


async def test_one_load_across_a_node_and_a_python_process(cache: Any, redis_server: Any) -> None:
    if not (REPO / "dist" / "index.mjs").exists():
        pytest.skip("the npm package is not built (dist/index.mjs)")
    proc = await asyncio.create_subprocess_exec(
        "node", str(PEER), cache.url, cache.ns, cwd=str(HERE),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    assert stdin is not None and stdout is not None and stderr is not None
    try:
        ready = await asyncio.wait_for(stdout.readline(), 20)
        assert ready == b"ready\n", (ready, await stderr.read())

        for name, lead, loader_side in ROUNDS:
            key, counter = f"shared:{name}", f"{cache.ns}:counter:{name}"

            async def loader() -> Any:
                n = await incr(redis_server.port, counter)
                await asyncio.sleep(LOADER_S)
                return {"by": "python", "n": n}

            async def node_get() -> dict[str, Any]:
                if lead > 0:
                    await asyncio.sleep(lead)
                stdin.write(json.dumps({"key": key, "counter": counter, "delayMs": LOADER_S * 1000}).encode()
                                 + b"\n")
                await stdin.drain()
                line = await asyncio.wait_for(stdout.readline(), 15)
                assert line, await stderr.read()
                return json.loads(line)  # type: ignore[no-any-return]

            async def python_get() -> tuple[Any, float]:
                if lead < 0:
                    await asyncio.sleep(-lead)
                t0 = time.monotonic()
                value = await asyncio.wait_for(cache_aside.get(key, loader, ttl=60), 15)
                return value, time.monotonic() - t0

            node_result, (py_value, py_s) = await asyncio.wait_for(asyncio.gather(node_get(), python_get()), 20)
            assert cache.resp("GET", counter) == b"1", name  # exactly one loader ran, in one of the processes
            assert node_result["value"] == py_value, (name, node_result, py_value)
            assert py_value["n"] == 1 and py_value["by"] in ("node", "python")
            if loader_side is not None:
                assert py_value["by"] == loader_side, (name, py_value)
            # the waiter waited for the loader (well under the 5 s lease), it did not load itself
            waiter_s = py_s if py_value["by"] == "node" else node_result["ms"] / 1000
            assert waiter_s < 2.0, (name, waiter_s)
            if loader_side == "python":
                assert waiter_s >= LOADER_S - lead - 0.05, (name, waiter_s)
            assert await cache_manager.get(key) == py_value
            assert cache.resp("EXISTS", f"{cache.ns}:lk:{key}") == 0  # the lock was released

        stdin.close()
        rc = await asyncio.wait_for(proc.wait(), 15)
        errors = (await stderr.read()).decode()
        assert rc == 0, errors
        assert errors == "", errors
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
