"""Process lifecycle, in child interpreters run with ``python -X dev -W error``.

Each child must exit 0 with an EMPTY stderr: -X dev turns on ResourceWarning and asyncio debug mode,
-W error makes every warning an error, and "Task was destroyed", "Unclosed …", "coroutine … was never
awaited" and "Exception ignored" all print to stderr. A crash at interpreter exit (SIGSEGV, SIGABRT)
shows up as a negative return code.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import textwrap
import time
from typing import Any

import pytest

import stratacache
from stratacache import cache_manager, create_redis_client, initialize_cache_system, shutdown_cache_system

CHILD_TIMEOUT_S = 30

PRELUDE = """
import asyncio, json, os, sys, time
from stratacache import (cache_manager, create_redis_client, initialize_cache_system,
                         shutdown_cache_system, ClosedError)
URL, NS = sys.argv[1], sys.argv[2]
"""


def run_child(venv_python: str, child_env: dict[str, str], script: str, *args: str,
              extra_flags: tuple[str, ...] = (), timeout: float = CHILD_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    cmd = [venv_python, "-X", "dev", "-W", "error", *extra_flags, "-c", PRELUDE + textwrap.dedent(script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env, check=False)


# asyncio's debug mode (-X dev) logs a step that held the loop over 100 ms. On a loaded machine (CI, a build
# running next to the tests) that can be the first step of a child, which imports and starts the runtime;
# it is timing noise, not a warning about the package, so only these exact lines are tolerated.
SLOW_STEP = re.compile(r"^Executing <.*> took \d+\.\d+ seconds$")


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    stderr = [line for line in proc.stderr.splitlines() if not SLOW_STEP.match(line)]
    assert stderr == [], proc.stderr


def test_import_opens_nothing(venv_python: str, child_env: dict[str, str], redis_server: Any, resp: Any) -> None:
    probe = """
        import os, sys, json
        def sockets():
            n = 0
            for fd in os.listdir('/proc/self/fd'):
                try:
                    n += os.readlink(f'/proc/self/fd/{fd}').startswith('socket:')
                except OSError:
                    pass
            return n
        before = (sockets(), len(os.listdir('/proc/self/task')))
        if sys.argv[1] == 'import':
            import stratacache
            from stratacache import cache_manager, get_cache_manager, create_redis_client
            stratacache.cache_manager.get_stats  # attribute access only
        after = (sockets(), len(os.listdir('/proc/self/task')))
        print(json.dumps({'before': before, 'after': after}))
    """
    env = dict(child_env, REDIS_URL=redis_server.url, STRATACACHE_NAMESPACE="import-probe")
    connections_before = _total_connections(resp)
    t0 = time.monotonic()
    proc = subprocess.run([venv_python, "-X", "dev", "-W", "error", "-c", textwrap.dedent(probe), "import"],
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env, check=False)
    elapsed = time.monotonic() - t0
    assert_clean(proc)
    result = json.loads(proc.stdout)
    assert result["after"] == result["before"] == [0, 1], result  # no socket, no extra thread
    assert elapsed < 5, elapsed
    assert _total_connections(resp) == connections_before  # nothing connected to Redis


def _total_connections(resp: Any) -> int:
    info = resp("INFO", "stats").decode()
    line = next(x for x in info.splitlines() if x.startswith("total_connections_received:"))
    return int(line.split(":")[1])


SET_GET_SHUTDOWN = """
async def main(n):
    create_redis_client(url=URL, namespace=NS)
    assert (await initialize_cache_system()).redis == "connected"
    await cache_manager.set("k", {"n": n}, ttl=30, tags=["t"])
    assert await cache_manager.get("k") == {"n": n}          # L1
    assert await cache_manager.get("absent") is None          # Redis round trip
    assert await cache_manager.mget(["k", "absent"]) == {"k": {"n": n}, "absent": None}
    await cache_manager.invalidate_by_tags(["t"])
    assert await cache_manager.get("k") is None
    await shutdown_cache_system()
    print("ok", n)

asyncio.run(main(int(sys.argv[3])))
"""


def test_set_get_shutdown_exits_cleanly_15_times(venv_python: str, child_env: dict[str, str], redis_server: Any,
                                                 ns: str) -> None:
    # Two at a time (a 2-core machine); each run is its own interpreter, so an exit-time crash shows.
    runs = 15
    results: list[subprocess.CompletedProcess[str]] = []
    for start in range(0, runs, 2):
        batch = [subprocess.Popen(
            [venv_python, "-X", "dev", "-W", "error", "-c", PRELUDE + SET_GET_SHUTDOWN, redis_server.url,
             f"{ns}-{i}", str(i)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env)
            for i in range(start, min(start + 2, runs))]
        for i, p in zip(range(start, runs), batch):
            try:
                out, err = p.communicate(timeout=CHILD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                pytest.fail(f"run {i} hung\nstdout:{out}\nstderr:{err}")
            results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    for i, proc in enumerate(results):
        assert_clean(proc)
        assert proc.stdout.strip() == f"ok {i}"


def test_without_shutdown_the_process_still_exits_cleanly(venv_python: str, child_env: dict[str, str],
                                                          redis_server: Any, ns: str) -> None:
    proc = run_child(venv_python, child_env, """
        async def main():
            create_redis_client(url=URL, namespace=NS)
            await cache_manager.set("k", 1)
            assert await cache_manager.get("missing") is None
            print("ok")
        asyncio.run(main())
    """, redis_server.url, ns)
    assert_clean(proc)
    assert proc.stdout.strip() == "ok"


def test_fork(venv_python: str, child_env: dict[str, str], redis_server: Any, ns: str) -> None:
    proc = run_child(venv_python, child_env, """
        import traceback

        async def parent_before():
            create_redis_client(url=URL, namespace=NS)
            assert (await initialize_cache_system()).redis == "connected"
            await cache_manager.set("parent", "p1", ttl=60)
            assert await cache_manager.get("parent") == "p1"
            assert await cache_manager.get("nothing") is None  # the connection is open at fork time

        asyncio.run(parent_before())
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                async def child():
                    assert (await initialize_cache_system()).redis == "connected"
                    await cache_manager.set("child", "c", ttl=60)
                    assert await cache_manager.get("child") == "c"
                    assert await cache_manager.get("parent") == "p1"  # from Redis
                    await shutdown_cache_system()
                asyncio.run(asyncio.wait_for(child(), 10))
                ok = True
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0 if ok else 1)

        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                sys.exit("the forked child hung")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)

        async def parent_after():
            assert await cache_manager.get("parent") == "p1"
            assert await cache_manager.get("child") == "c"  # written by the child, read from Redis
            await cache_manager.set("parent2", "p2")
            assert await cache_manager.get("parent2") == "p2"
            await shutdown_cache_system()
        asyncio.run(parent_after())
        print("ok")
    """, redis_server.url, ns,
        # Python >= 3.12 warns that fork() in a multi-threaded process may deadlock (the native runtime has a
        # thread); the binding handles fork explicitly, so that one warning is allowed here.
        extra_flags=("-W", "ignore:This process:DeprecationWarning"))
    assert_clean(proc)
    assert proc.stdout.strip() == "ok"


def test_redis_down_at_start_is_degraded(venv_python: str, child_env: dict[str, str], unused_port: Any,
                                         ns: str) -> None:
    port = unused_port()
    proc = run_child(venv_python, child_env, """
        import logging
        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record)
        logging.getLogger("stratacache").addHandler(Keep())

        async def main():
            create_redis_client(url=URL, namespace=NS)
            t0 = time.monotonic()
            result = await asyncio.wait_for(initialize_cache_system(), 10)
            elapsed = time.monotonic() - t0
            assert result.redis == "degraded", result
            assert (await initialize_cache_system()).redis == "degraded"  # idempotent, no second warning
            await cache_manager.set("k", {"v": 1}, ttl=60)            # L1 only, no error
            assert await cache_manager.get("k") == {"v": 1}
            assert await cache_manager.get("absent") is None
            await cache_manager.mset([{"key": "a", "value": 1}])
            assert await cache_manager.mget(["a", "k", "absent"]) == {"a": 1, "k": {"v": 1}, "absent": None}
            stats = await cache_manager.get_stats()
            await shutdown_cache_system()
            warnings = [r for r in records if r.levelno >= logging.WARNING]
            print(json.dumps({"elapsed": elapsed, "warnings": [r.getMessage() for r in warnings],
                              "l2_errors": stats.l2.errors}))
        asyncio.run(main())
    """, f"redis://127.0.0.1:{port}", ns)
    assert_clean(proc)
    result = json.loads(proc.stdout)
    assert result["elapsed"] < 5, result
    assert len(result["warnings"]) == 1, result
    assert "degraded" in result["warnings"][0] and "unreachable" in result["warnings"][0]
    assert result["l2_errors"] >= 1


def test_calls_after_shutdown_raise_closed(venv_python: str, child_env: dict[str, str], redis_server: Any,
                                           ns: str) -> None:
    proc = run_child(venv_python, child_env, """
        async def main():
            create_redis_client(url=URL, namespace=NS)
            await initialize_cache_system()
            await cache_manager.set("k", "v")
            await shutdown_cache_system()
            for call in (lambda: cache_manager.get("k"), lambda: cache_manager.set("k", 1),
                         lambda: cache_manager.delete("k"), lambda: cache_manager.mget(["k"]),
                         lambda: cache_manager.invalidate_by_tags(["t"])):
                try:
                    await call()
                except ClosedError as e:
                    assert e.code == "ERR_STRATACACHE_CLOSED"
                else:
                    raise AssertionError("no ClosedError")
            print("ok")
        asyncio.run(main())
    """, redis_server.url, ns)
    assert_clean(proc)
    assert proc.stdout.strip() == "ok"


def test_two_event_loops_in_sequence(venv_python: str, child_env: dict[str, str], redis_server: Any,
                                     ns: str) -> None:
    proc = run_child(venv_python, child_env, """
        async def first():
            create_redis_client(url=URL, namespace=NS)
            assert (await initialize_cache_system()).redis == "connected"
            await cache_manager.set("k", "from the first loop", ttl=60)
            assert await cache_manager.get("k") == "from the first loop"
            assert await cache_manager.get("absent") is None
            await shutdown_cache_system()

        async def second():
            create_redis_client(url=URL, namespace=NS)
            assert (await initialize_cache_system()).redis == "connected"
            assert await cache_manager.get("k") == "from the first loop"  # from Redis: a new system
            await cache_manager.set("k2", "second", ttl=60)
            assert await cache_manager.get("k2") == "second"
            await shutdown_cache_system()

        async def third_without_shutdown_between():
            assert (await initialize_cache_system()).redis == "connected"
            await cache_manager.set("k3", "third", ttl=60)
            assert await cache_manager.get("absent") is None

        async def fourth():
            # the same system, now used from another loop
            assert await cache_manager.get("k3") == "third"
            assert await cache_manager.get("absent") is None
            await shutdown_cache_system()

        asyncio.run(first())
        asyncio.run(second())
        asyncio.run(third_without_shutdown_between())
        asyncio.run(fourth())
        print("ok")
    """, redis_server.url, ns)
    assert_clean(proc)
    assert proc.stdout.strip() == "ok"


# In process: Redis comes back (§6 of the contract: reconnection is automatic).


async def test_service_returns_when_redis_comes_back(redis_server_factory: Any, unused_port: Any, resp_to: Any,
                                                     ns: str) -> None:
    port = unused_port()
    create_redis_client(url=f"redis://127.0.0.1:{port}", namespace=ns)
    try:
        assert (await initialize_cache_system(cache={})).redis == "degraded"
        await cache_manager.set("written-while-down", 1)
        assert await cache_manager.get("written-while-down") == 1  # L1 serves
        server = redis_server_factory(port)
        client = resp_to(server.port)
        try:
            deadline = time.monotonic() + 15
            n = 0
            while client("EXISTS", f"{ns}:d:probe") == 0:
                assert time.monotonic() < deadline, "writes did not reach Redis after it came back"
                n += 1
                await cache_manager.set("probe", n, ttl=60)
                await asyncio.sleep(0.05)
            assert await cache_manager.get("probe") == int(json.loads(client("GET", f"{ns}:d:probe")[22:]))
            # after failures, L1 was cleared when Redis answered again (docs/configuration.md)
            assert await cache_manager.get("written-while-down") is None
        finally:
            client.close()
    finally:
        await shutdown_cache_system()


def test_package_state_is_clean_between_tests() -> None:
    # The suite's fixtures leave the process-wide system shut down (no leaked system between tests).
    assert stratacache._handle._system is None  # type: ignore[attr-defined]


def test_corrupt_entry_is_logged_once(venv_python: str, child_env: dict[str, str], redis_server: Any, resp: Any,
                                      ns: str) -> None:
    resp("SET", f"{ns}:d:broken-entry", b"SC\x02garbage", "PX", 60_000)
    resp("SET", f"{ns}:d:broken-entry-2", b"not an envelope", "PX", 60_000)
    proc = run_child(venv_python, child_env, """
        import logging
        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())
        logging.getLogger().addHandler(Keep())
        logging.getLogger().setLevel(logging.DEBUG)

        async def main():
            create_redis_client(url=URL, namespace=NS)
            await initialize_cache_system()
            for key in ("broken-entry", "broken-entry", "broken-entry-2"):
                assert await cache_manager.get(key) is None
            stats = await cache_manager.get_stats()
            assert stats.corrupt_entries == 3, stats
            await shutdown_cache_system()
            print(json.dumps(records))
        asyncio.run(main())
    """, redis_server.url, ns)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logged = [m for m in json.loads(proc.stdout) if "broken-entry" in m]
    printed = [line for line in proc.stderr.splitlines() if "broken-entry" in line]
    assert len(logged) + len(printed) == 1, (logged, printed)


def test_exit_without_shutdown_reports_unwritten_write_behind_writes(venv_python: str, child_env: dict[str, str],
                                                                      redis_server: Any, ns: str) -> None:
    # The writers are coroutines of a loop that has closed by atexit: they cannot run any more, so the
    # process says how many writes were not made instead of losing them silently.
    proc = run_child(venv_python, child_env, """
        from stratacache import WriteBehindPattern
        async def main():
            create_redis_client(url=URL, namespace=NS)
            await initialize_cache_system()
            wb = WriteBehindPattern(None, flush_interval_ms=60_000, batch_size=1000)
            async def writer(v):
                print("written", v)
            for v in (1, 2, 3):
                await wb.write(f"life:wb:{v}", v, writer)
            print("queued", wb.stats().pending)
        asyncio.run(main())
    """, redis_server.url, ns)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["queued", "3"]
    assert "stratacache: 3 write-behind writes were not made: the process exited without shutdown_cache_system()" in proc.stderr
