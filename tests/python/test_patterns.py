"""The cache patterns in snake_case: ``cache_aside``, ``write_through``, ``WriteBehindPattern`` /
``write_behind`` and ``read_through`` (usage guide "Cache Patterns", contract §4 and §7).

Every test gets its own namespace and a freshly started system (the ``cache`` fixture in
tests/conftest.py); Redis is inspected with a raw RESP client (``cache.resp``). Every wait is bounded.
Core defaults relied on: load-lock key ``{ns}:lk:{key}`` with a 5 s lease (waiters poll 5→50 ms);
write-behind retries after 50 ms, doubling.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import subprocess
import textwrap
import time
from collections.abc import Mapping
from typing import Any, Awaitable, Callable, Iterator

import pytest

import stratacache
from stratacache import (
    ClosedError,
    InvalidArgumentError,
    InvalidKeyError,
    NoLoaderError,
    SerializationError,
    StrataCacheError,
    WriteBehindPattern,
    WriteBehindStats,
    cache_aside,
    cache_manager,
    create_redis_client,
    initialize_cache_system,
    read_through,
    shutdown_cache_system,
    write_behind,
    write_through,
)
from test_lifecycle import assert_clean, run_child


class MyError(Exception):
    """A user's own exception type."""


async def eventually(predicate: Callable[[], Any], timeout: float = 3.0, what: str = "condition") -> None:
    """Poll ``predicate`` (sync or async) every 10 ms until it is truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


def bounded(aw: Awaitable[Any], timeout: float = 10.0) -> Awaitable[Any]:
    return asyncio.wait_for(aw, timeout)


class Counter:
    """A loader/writer double that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    @property
    def n(self) -> int:
        return len(self.calls)


@pytest.fixture
def loaders() -> Iterator[Callable[[str, Any], None]]:
    """Register read-through loaders on the process-wide ``read_through``; removed at teardown."""
    registered: list[str] = []

    def register(pattern: str, loader: Any) -> None:
        read_through.register_loader(pattern, loader)
        registered.append(pattern)

    try:
        yield register
    finally:
        for pattern in registered:
            read_through.unregister_loader(pattern)


# ----- cache_aside.get ------------------------------------------------------------------------------


async def test_guide_cache_aside(cache: Any) -> None:
    db = {123: {"id": 123, "name": "Ada"}}
    queries: list[int] = []

    async def get_user(user_id: int) -> Any:
        async def fetch() -> Any:
            # Fetch from database
            queries.append(user_id)
            return db.get(user_id)

        return await cache_aside.get(f"user:{user_id}", fetch, ttl=300, tags=[f"user:{user_id}"])

    assert await bounded(get_user(123)) == {"id": 123, "name": "Ada"}
    assert await bounded(get_user(123)) == {"id": 123, "name": "Ada"}
    assert queries == [123]
    pttl = cache.resp("PTTL", cache.dkey("user:123"))
    assert 298_000 < pttl <= 300_000
    # the tag was stored with the value: invalidating it makes the next call load again
    await cache_manager.invalidate_by_tags(["user:123"])
    assert await bounded(get_user(123)) == {"id": 123, "name": "Ada"}
    assert queries == [123, 123]


async def test_hit_returns_without_calling_the_loader(cache: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        return "from the loader"

    await cache_manager.set("k", {"v": "cached"}, ttl=60)
    assert await bounded(cache_aside.get("k", loader)) == {"v": "cached"}  # an L1 hit
    await cache.restart()  # an empty L1: now an L2 hit
    assert await bounded(cache_aside.get("k", loader)) == {"v": "cached"}
    assert calls.n == 0


async def test_1000_concurrent_callers_on_a_cold_key_share_one_load(cache: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        await asyncio.sleep(0.05)
        return {"rows": [1, 2, 3], "name": "cold"}

    results = await bounded(asyncio.gather(*[cache_aside.get("cold", loader, ttl=60) for _ in range(1000)]), 20)
    assert calls.n == 1
    assert all(r == {"rows": [1, 2, 3], "name": "cold"} for r in results)
    assert len({id(r) for r in results}) == 1000  # every caller has its own object
    results[0]["rows"].append(4)  # so mutating one result changes no other, nor the cache
    assert results[1]["rows"] == [1, 2, 3]
    assert await cache_manager.get("cold") == {"rows": [1, 2, 3], "name": "cold"}
    assert cache.raw("cold") is not None
    assert 58_000 < cache.resp("PTTL", cache.dkey("cold")) <= 60_000
    assert cache.resp("EXISTS", f"{cache.ns}:lk:cold") == 0  # the load lock was released


async def test_a_loader_error_reaches_every_caller_as_the_same_object(cache: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        await asyncio.sleep(0.05)
        raise MyError("the database is down")

    results = await bounded(asyncio.gather(*[cache_aside.get("k", loader) for _ in range(50)],
                                           return_exceptions=True))
    assert calls.n == 1
    assert isinstance(results[0], MyError) and str(results[0]) == "the database is down"
    assert all(r is results[0] for r in results)
    with pytest.raises(MyError):  # `except MyError` works for a single caller too
        await bounded(cache_aside.get("k", loader))
    assert calls.n == 2  # nothing was cached: the next call loaded again
    assert cache.raw("k") is None
    assert cache.resp("EXISTS", f"{cache.ns}:lk:k") == 0

    async def good() -> Any:
        return "recovered"

    assert await bounded(cache_aside.get("k", good)) == "recovered"
    assert await cache_manager.get("k") == "recovered"


async def test_a_plain_function_loader_and_a_synchronous_raise(cache: Any) -> None:
    assert await bounded(cache_aside.get("plain", lambda: [1, "two"])) == [1, "two"]
    err = MyError("raised before any await")

    def raising() -> Any:
        raise err

    with pytest.raises(MyError) as caught:
        await bounded(cache_aside.get("sync-raise", raising))
    assert caught.value is err


async def test_none_is_not_cached_unless_negative_ttl(cache: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        return None

    assert await bounded(cache_aside.get("absent", loader)) is None
    assert await bounded(cache_aside.get("absent", loader)) is None
    assert calls.n == 2
    assert cache.raw("absent") is None

    assert await bounded(cache_aside.get("neg", loader, ttl=60, negative_ttl=5)) is None
    assert await bounded(cache_aside.get("neg", loader, ttl=60, negative_ttl=5)) is None
    assert calls.n == 3  # the None was cached
    assert cache.raw("neg") is not None
    assert 3_000 < cache.resp("PTTL", cache.dkey("neg")) <= 5_000  # for negative_ttl, not ttl
    await cache.restart()
    assert await bounded(cache_aside.get("neg", loader, negative_ttl=5)) is None  # from Redis
    assert calls.n == 3


@pytest.mark.parametrize("name,value,fragment", [
    ("set", {1, 2}, "set"),
    ("nan", float("nan"), "NaN"),
    ("nested-nan", {"x": [math.nan]}, "NaN"),
    ("object", object(), "object"),
])
async def test_an_unstorable_loader_result_is_a_serialization_error(cache: Any, name: str, value: Any,
                                                                    fragment: str) -> None:
    key = f"unstorable-{name}"

    async def loader() -> Any:
        return value

    with pytest.raises(SerializationError) as caught:
        await bounded(cache_aside.get(key, loader))
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, StrataCacheError)
    assert key in str(caught.value) and fragment in str(caught.value), str(caught.value)
    assert cache.raw(key) is None
    assert cache.resp("EXISTS", f"{cache.ns}:lk:{key}") == 0
    assert await bounded(cache_aside.get(key, lambda: "fine")) == "fine"  # nothing stuck


async def test_callbacks_run_in_the_callers_contextvars_context(cache: Any, loaders: Any) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
    seen: list[tuple[str, str]] = []

    async def loader() -> Any:
        seen.append(("aside", request_id.get()))
        request_id.set("changed inside the loader")  # a copy: must not leak to the caller
        return 1

    async def key_loader(key: str) -> Any:
        seen.append(("read", request_id.get()))
        return 2

    async def writer(value: Any) -> None:
        seen.append(("write", request_id.get()))

    loaders("ctx:*", key_loader)
    request_id.set("req-42")
    assert await bounded(cache_aside.get("ctx-a", loader)) == 1
    assert request_id.get() == "req-42"
    assert await bounded(read_through.read("ctx:1")) == 2
    await bounded(write_through.write("ctx-w", 3, writer))

    async def other_task() -> Any:
        request_id.set("req-7")
        return await cache_aside.get("ctx-b", loader)

    assert await bounded(asyncio.create_task(other_task())) == 1
    assert seen == [("aside", "req-42"), ("read", "req-42"), ("write", "req-42"), ("aside", "req-7")]


async def test_a_crashed_lock_holder_delays_the_load_only_until_its_lock_expires(cache: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        return "loaded"

    # A process took the load lock and died: its lock lives on for 600 ms.
    assert cache.resp("SET", f"{cache.ns}:lk:k", "dead", "PX", 600) == "OK"
    t0 = time.monotonic()
    assert await bounded(cache_aside.get("k", loader)) == "loaded"
    elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed < 2.0, elapsed  # waited for the dead lock, then well under the 5 s lease
    assert calls.n == 1
    assert await cache_manager.get("k") == "loaded"


async def test_a_waiter_takes_the_value_another_process_filled(cache: Any, wire: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        return "mine"

    # Another process holds the lock and fills the key 200 ms later.
    cache.resp("SET", f"{cache.ns}:lk:k", "other", "PX", 5000)

    async def other_process_fills() -> None:
        await asyncio.sleep(0.2)
        cache.resp("SET", cache.dkey("k"), wire.encode('"theirs"'), "PX", 60_000)

    filler = asyncio.create_task(other_process_fills())
    t0 = time.monotonic()
    assert await bounded(cache_aside.get("k", loader)) == "theirs"
    await filler
    assert 0.15 < time.monotonic() - t0 < 2.0
    assert calls.n == 0


async def test_shutdown_during_a_stampede_leaves_no_caller_waiting(cache: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers waiting for one load when the system shuts down get the value or ClosedError: none
    waits for ever (only a load's first future is in the bridge's pending set; shutdown fails the
    others that are still waiting)."""
    from stratacache import _handle

    monkeypatch.setattr(_handle, "_SETTLE_TIMEOUT_S", 0.05)  # shutdown does not wait for the slow loader
    release = asyncio.Event()

    async def loader() -> Any:
        await release.wait()
        return {"late": True}

    calls = [asyncio.ensure_future(cache_aside.get("slow-stampede", loader, ttl=60)) for _ in range(50)]
    await asyncio.sleep(0.05)  # every call has joined the load
    await bounded(shutdown_cache_system(), 5)
    release.set()
    results = await bounded(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, ClosedError) for r in results), results[:3]


async def test_a_get_after_delete_resolved_is_not_handed_an_older_load(cache: Any) -> None:
    """Contract §8: a load that began before ``delete`` resolved is not handed to a caller arriving after."""
    db = {"value": "v1"}

    async def loader() -> Any:
        read = db["value"]  # what the database held when this load began
        await asyncio.sleep(0.15)
        return read

    first = asyncio.ensure_future(cache_aside.get("afterdel", loader, ttl=60))
    await asyncio.sleep(0.04)  # the first load has read v1
    db["value"] = "v2"
    await cache_manager.delete("afterdel")
    assert await bounded(cache_aside.get("afterdel", loader, ttl=60)) == "v2"
    assert await bounded(first) == "v1"


async def test_a_cancelled_caller_cancels_nobody_else(cache: Any) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        started.set()
        await release.wait()
        return {"v": [1]}

    first = asyncio.ensure_future(cache_aside.get("cx", loader))
    others = [asyncio.ensure_future(cache_aside.get("cx", loader)) for _ in range(3)]
    await bounded(started.wait())
    first.cancel()
    release.set()
    results = await bounded(asyncio.gather(*others))
    assert results == [{"v": [1]}] * 3
    assert len({id(r) for r in results}) == 3 and len({id(r["v"]) for r in results}) == 3
    with pytest.raises(asyncio.CancelledError):
        await first
    assert calls.n == 1
    assert await cache_manager.get("cx") == {"v": [1]}  # the load finished and was stored


async def test_stampedes_on_several_keys_finishing_together_keep_their_own_outcomes(cache: Any) -> None:
    """Loads ending at the same moment reach the loop in one batch of shared completions: each caller
    still gets its own key's outcome (a value, None, the loader's exception)."""
    gate = asyncio.Event()
    boom = MyError("c failed")

    def loader_for(key: str) -> Any:
        async def load() -> Any:
            await gate.wait()
            if key == "c":
                raise boom
            return {"a": {"k": "a"}, "b": None, "d": ["d"]}[key]
        return load

    keys = ["a", "b", "c", "d"] * 20
    calls = [asyncio.ensure_future(cache_aside.get(f"multi:{k}", loader_for(k), ttl=60)) for k in keys]
    await asyncio.sleep(0.02)
    gate.set()
    results = await bounded(asyncio.gather(*calls, return_exceptions=True))
    for k, r in zip(keys, results):
        if k == "c":
            assert r is boom
        else:
            assert r == {"a": {"k": "a"}, "b": None, "d": ["d"]}[k], k


def test_callers_on_two_event_loops_each_get_a_result_on_their_own_loop(cache: Any) -> None:
    """A load started for one loop is never joined from another: each loop's callers are completed on
    their own loop (the loader runs on each loop that missed; the core still loads once per process
    at a time, so the second loop finds the stored value or waits for it)."""
    import threading

    out: dict[str, Any] = {}
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        await asyncio.sleep(0.05)
        return {"v": 1}

    async def many(name: str) -> None:
        loop = asyncio.get_running_loop()
        # No timeout here: a result completed on the wrong loop would leave this loop asleep for ever,
        # and the join below reports it.
        values = await asyncio.gather(*[cache_aside.get("two-loops", loader, ttl=60) for _ in range(20)])
        out[name] = (values, loop is asyncio.get_running_loop())

    threads = [threading.Thread(target=asyncio.run, args=(many(n),), daemon=True) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "a loop's callers were never completed on their own loop"
    assert set(out) == {"x", "y"}
    for values, same_loop in out.values():
        assert values == [{"v": 1}] * 20 and same_loop
    assert 1 <= calls.n <= 2


async def test_a_bad_option_fails_on_a_hit_exactly_as_on_a_miss(cache: Any) -> None:
    """The core checks the options before looking L1 up, so Python and Node agree (it used to return a
    hit before checking them here)."""
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        return 1

    await cache_manager.set("badopt", {"cached": True}, ttl=60)
    for key in ("badopt", "badopt-miss"):
        with pytest.raises(InvalidArgumentError, match="ttl must be > 0, got -1"):
            await bounded(cache_aside.get(key, loader, ttl=-1))
        with pytest.raises(InvalidArgumentError):
            await bounded(cache_aside.get(key, loader, tags=[""]))
    assert calls.n == 0


async def test_a_caller_joining_a_load_with_bad_options_still_gets_its_error(cache: Any) -> None:
    release = asyncio.Event()

    async def loader() -> Any:
        await release.wait()
        return 1

    good = cache_aside.get("jo", loader, ttl=30)
    with pytest.raises(InvalidArgumentError, match="ttl must be > 0, got -1"):
        await bounded(cache_aside.get("jo", loader, ttl=-1))
    release.set()
    assert await bounded(good) == 1


async def test_bad_input(cache: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        return 1

    with pytest.raises(InvalidKeyError) as key_error:
        await bounded(cache_aside.get("", loader))
    assert isinstance(key_error.value, ValueError) and isinstance(key_error.value, StrataCacheError)
    with pytest.raises(InvalidKeyError):
        await bounded(cache_aside.get(123, loader))  # type: ignore[arg-type]

    with pytest.raises(InvalidArgumentError, match=r"^loader must be callable, got int$"):
        await bounded(cache_aside.get("k", 5))  # type: ignore[arg-type]
    await cache_manager.set("cached", 1)
    with pytest.raises(InvalidArgumentError, match="loader must be callable"):  # on a hit too
        await bounded(cache_aside.get("cached", "not a function"))  # type: ignore[arg-type]

    with pytest.raises(InvalidArgumentError) as ttl_error:
        await bounded(cache_aside.get("k", loader, ttl=-1))
    assert isinstance(ttl_error.value, ValueError)
    assert "ttl must be > 0, got -1" in str(ttl_error.value)
    with pytest.raises(InvalidArgumentError, match="ttl must be > 0, got 0"):
        await bounded(cache_aside.get("k", loader, ttl=0))
    with pytest.raises(InvalidArgumentError, match="negative_ttl"):
        await bounded(cache_aside.get("k", loader, negative_ttl=-5))
    with pytest.raises(InvalidArgumentError, match="tags"):
        await bounded(cache_aside.get("k", loader, tags=[1, 2]))  # type: ignore[list-item]

    assert calls.n == 0  # no bad call ran the loader
    assert cache.raw("k") is None
    assert await bounded(cache_aside.get("k", loader, ttl=30)) == 1  # and nothing is stuck


# ----- cache_aside.get_with_refresh ----------------------------------------------------------------


async def test_get_with_refresh_serves_the_old_value_and_refreshes_once(cache: Any) -> None:
    started: list[int] = []
    finished: list[int] = []

    async def loader() -> Any:
        n = len(started) + 1
        started.append(n)
        await asyncio.sleep(0.1)
        finished.append(n)
        return {"n": n}

    async def get() -> Any:
        return await cache_aside.get_with_refresh("recent", loader, ttl=1, refresh_threshold=0.5)

    assert await bounded(get()) == {"n": 1}  # cold: loads and waits
    assert await bounded(get()) == {"n": 1}  # fresh: nothing to do
    assert started == [1]

    await asyncio.sleep(0.6)  # now less than half of the 1 s TTL remains
    t0 = time.monotonic()
    results = await bounded(asyncio.gather(*[get() for _ in range(20)]))
    elapsed = time.monotonic() - t0
    assert results == [{"n": 1}] * 20  # the old value, at once
    assert finished == [1], "a caller waited for the background refresh"
    assert elapsed < 0.09, elapsed  # well under the loader's 0.1 s

    await eventually(lambda: _equals(cache_manager.get("recent"), {"n": 2}), 2.0, "the refreshed value")
    assert 800 < cache.resp("PTTL", cache.dkey("recent")) <= 1000  # stored with a fresh TTL
    assert await bounded(get()) == {"n": 2}
    await asyncio.sleep(0.2)
    assert started == [1, 2]  # one refresh for the 20 near-expiry callers
    assert cache.resp("EXISTS", f"{cache.ns}:lk:recent") == 0


async def _equals(aw: Awaitable[Any], expected: Any) -> bool:
    return bool(await aw == expected)


async def test_get_with_refresh_keeps_the_old_value_when_the_refresh_fails(cache: Any) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        if calls.n > 1:
            raise MyError("refresh failed")
        return "v1"

    assert await bounded(cache_aside.get_with_refresh("k", loader, ttl=1, refresh_threshold=0.5)) == "v1"
    await asyncio.sleep(0.6)
    assert await bounded(cache_aside.get_with_refresh("k", loader, ttl=1, refresh_threshold=0.5)) == "v1"
    await eventually(lambda: calls.n == 2, 2.0, "the background refresh")
    await asyncio.sleep(0.05)
    assert await cache_manager.get("k") == "v1"


async def test_guide_get_with_refresh(cache: Any) -> None:
    tickets = [{"id": i, "title": f"ticket {i}"} for i in range(50)]

    async def recent() -> Any:
        return tickets

    # Refresh cache when 20% of TTL remains
    result = await bounded(cache_aside.get_with_refresh("tickets:recent", recent, ttl=300, refresh_threshold=0.2,
                                                        tags=["tickets"]))
    assert result == tickets
    await cache_manager.invalidate_by_tags(["tickets"])
    assert await cache_manager.get("tickets:recent") is None


@pytest.mark.parametrize("threshold,shown", [(1.5, "1.5"), (0, "0"), (1, "1"), (-0.2, "-0.2")])
async def test_get_with_refresh_refuses_a_threshold_outside_0_1(cache: Any, threshold: float, shown: str) -> None:
    calls = Counter()

    async def loader() -> Any:
        calls.calls.append(1)
        return 1

    with pytest.raises(InvalidArgumentError) as caught:
        await bounded(cache_aside.get_with_refresh("k", loader, ttl=60, refresh_threshold=threshold))
    message = str(caught.value)
    assert "refresh_threshold" in message and f"got {shown}" in message, message
    assert calls.n == 0 and cache.raw("k") is None


# ----- write_through.write -----------------------------------------------------------------------


async def test_write_through_hands_the_writer_the_original_object(cache: Any) -> None:
    received: list[Any] = []
    existing_user = {"id": 7, "name": "Ada", "email": "ada@example.com"}
    value = {**existing_user, "name": "Ada L."}

    async def writer(data: Any) -> None:
        received.append(data)
        await asyncio.sleep(0.01)
        assert await cache_manager.get("user:7") is None  # the writer runs first

    await bounded(write_through.write("user:7", value, writer, ttl=300, tags=["user:7"]))
    assert len(received) == 1 and received[0] is value
    assert await cache_manager.get("user:7") == value
    assert 298_000 < cache.resp("PTTL", cache.dkey("user:7")) <= 300_000
    await cache_manager.invalidate_by_tags(["user:7"])
    assert await cache_manager.get("user:7") is None


async def test_a_writer_failure_propagates_and_leaves_cache_and_redis_untouched(cache: Any) -> None:
    err = MyError("UPDATE failed")

    async def writer(data: Any) -> None:
        await asyncio.sleep(0.01)
        raise err

    await cache_manager.set("user:1", {"name": "old"}, ttl=60)
    raw_before = cache.raw("user:1")
    pttl_before = cache.resp("PTTL", cache.dkey("user:1"))
    with pytest.raises(MyError) as caught:
        await bounded(write_through.write("user:1", {"name": "new"}, writer, ttl=300))
    assert caught.value is err
    assert await cache_manager.get("user:1") == {"name": "old"}  # L1
    assert cache.raw("user:1") == raw_before  # Redis
    assert cache.resp("PTTL", cache.dkey("user:1")) <= pttl_before
    await cache.restart()
    assert await cache_manager.get("user:1") == {"name": "old"}

    with pytest.raises(MyError):
        await bounded(write_through.write("user:2", {"name": "new"}, writer))
    assert cache.raw("user:2") is None
    assert await cache_manager.get("user:2") is None


async def test_write_through_bad_input_runs_no_writer(cache: Any) -> None:
    calls = Counter()

    async def writer(data: Any) -> None:
        calls.calls.append(data)

    with pytest.raises(SerializationError, match="bad-value"):
        await bounded(write_through.write("bad-value", {1, 2}, writer))
    with pytest.raises(InvalidArgumentError, match="ttl must be > 0, got -1"):
        await bounded(write_through.write("k", 1, writer, ttl=-1))
    with pytest.raises(InvalidKeyError):
        await bounded(write_through.write("", 1, writer))
    with pytest.raises(InvalidArgumentError, match=r"^writer must be callable, got int$"):
        await bounded(write_through.write("k", 1, 5))  # type: ignore[arg-type]
    assert calls.n == 0
    assert cache.raw("bad-value") is None and cache.raw("k") is None


async def test_write_through_success_is_seen_by_a_fresh_process(cache: Any, venv_python: str,
                                                                child_env: dict[str, str]) -> None:
    value = {"id": 5, "name": "Grace", "roles": ["admin"], "score": 1.5}
    await bounded(write_through.write("user:5", value, lambda data: None, ttl=120))
    script = textwrap.dedent("""
        import asyncio, json, sys
        from stratacache import cache_manager, create_redis_client, shutdown_cache_system
        async def main():
            create_redis_client(url=sys.argv[1], namespace=sys.argv[2])
            print(json.dumps(await cache_manager.get("user:5")))
            await shutdown_cache_system()
        asyncio.run(main())
    """)
    proc = subprocess.run([venv_python, "-c", script, cache.url, cache.ns], capture_output=True, text=True,
                          timeout=30, env=child_env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == value


# ----- WriteBehindPattern ----------------------------------------------------------------------------


async def test_guide_write_behind(cache: Any) -> None:
    analytics_db: list[Any] = []

    # Create write-behind instance
    analytics_cache = WriteBehindPattern(None, flush_interval_ms=5000, max_retries=3, batch_size=10)

    async def track_event(event: dict[str, Any]) -> None:
        async def insert(data: Any) -> None:
            # Async write to analytics DB
            analytics_db.append(data)

        await analytics_cache.write(f"event:{event['id']}", event, insert, ttl=60)

    event = {"id": "123", "type": "page_view", "page": "/home"}
    await bounded(track_event(event))
    # Events are cached immediately, written to DB asynchronously
    assert await cache_manager.get("event:123") == event
    assert cache.raw("event:123") is not None
    assert 58_000 < cache.resp("PTTL", cache.dkey("event:123")) <= 60_000
    assert analytics_db == []
    assert analytics_cache.stats().pending == 1

    assert await bounded(analytics_cache.flush()) == 1
    assert analytics_db == [event] and analytics_db[0] is event  # the original object
    stats = analytics_cache.stats()
    assert (stats.pending, stats.written, stats.failed) == (0, 1, 0)


async def test_write_behind_flushes_on_its_interval(cache: Any) -> None:
    written: list[Any] = []
    wb = WriteBehindPattern(None, flush_interval_ms=200)
    await bounded(wb.write("a", 1, lambda v: written.append(v)))
    t0 = time.monotonic()
    await eventually(lambda: written == [1], 3.0, "the interval flush")
    assert time.monotonic() - t0 < 1.0


async def test_write_behind_batch_size_flushes_without_waiting_for_the_interval(cache: Any) -> None:
    written: list[Any] = []

    async def writer(v: Any) -> None:
        written.append(v)

    wb = WriteBehindPattern(None, flush_interval_ms=60_000, batch_size=3)
    await bounded(wb.write("b:1", 1, writer))
    await bounded(wb.write("b:2", 2, writer))
    await asyncio.sleep(0.3)
    assert written == [] and wb.stats().pending == 2
    await bounded(wb.write("b:3", 3, writer))
    await eventually(lambda: len(written) == 3, 2.0, "the batch flush")
    assert written == [1, 2, 3]
    # counted once each writer's result is back in the core, just after the writer ran
    await eventually(lambda: wb.stats()["written"] == 3, 1.0, "the 3 writes counted")
    assert wb.stats()["pending"] == 0 and wb.stats()["written"] == 3


async def test_write_behind_coalesces_writes_to_one_key(cache: Any) -> None:
    written: list[Any] = []
    v1, v2, v3 = {"v": 1}, {"v": 2}, {"v": 3}
    wb = WriteBehindPattern(None, flush_interval_ms=60_000)
    for v in (v1, v2, v3):
        await bounded(wb.write("same", v, lambda data: written.append(data)))
        assert await cache_manager.get("same") == v  # the cache always has the latest
    await bounded(wb.write("other", "x", lambda data: written.append(data)))
    assert wb.stats().pending == 2
    assert await bounded(wb.flush()) == 2
    assert written == [v3, "x"] and written[0] is v3
    s = wb.stats()
    assert (s.written, s.coalesced, s.pending) == (2, 2, 0)


async def test_write_behind_retries_then_succeeds(cache: Any) -> None:
    attempts: list[float] = []
    errors: list[Any] = []

    async def flaky(data: Any) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise MyError(f"attempt {len(attempts)}")

    wb = WriteBehindPattern(None, flush_interval_ms=60_000, max_retries=3,
                            on_error=lambda e, k, v: errors.append(e))
    await bounded(wb.write("k", {"x": 1}, flaky))
    assert await bounded(wb.flush()) == 1
    assert len(attempts) == 3 and errors == []
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09, gaps  # 50 ms, then 100 ms of backoff
    s = wb.stats()
    assert (s.written, s.retries, s.failed, s.pending) == (1, 2, 0, 0)


async def test_write_behind_gives_up_after_max_retries_and_calls_on_error_once(cache: Any) -> None:
    raised: list[BaseException] = []
    hook_calls: list[tuple[Any, str, Any]] = []

    async def always_failing(data: Any) -> None:
        err = MyError(f"insert failed #{len(raised) + 1}")
        raised.append(err)
        raise err

    wb = WriteBehindPattern(None, flush_interval_ms=60_000, max_retries=2,
                            on_error=lambda error, key, value: hook_calls.append((error, key, value)))
    value = {"id": "e1", "n": [1, 2]}
    await bounded(wb.write("event:e1", value, always_failing))
    assert await bounded(wb.flush()) == 0
    assert len(raised) == 3  # the first attempt and 2 retries
    await eventually(lambda: hook_calls, 2.0, "on_error")
    await asyncio.sleep(0.05)
    assert len(hook_calls) == 1
    error, key, hooked_value = hook_calls[0]
    assert error is raised[-1]  # the very exception object the writer raised
    assert key == "event:e1" and hooked_value == value
    s = wb.stats()
    assert (s.failed, s.retries, s.written, s.pending) == (1, 2, 0, 0)
    assert await cache_manager.get("event:e1") == value  # the cache keeps the value


async def test_write_behind_async_on_error_is_awaited(cache: Any) -> None:
    hooked: list[tuple[Any, str]] = []
    err = MyError("no")

    async def on_error(error: BaseException, key: str, value: Any) -> None:
        await asyncio.sleep(0.01)
        hooked.append((error, key))

    def failing(data: Any) -> None:
        raise err

    wb = WriteBehindPattern(None, flush_interval_ms=60_000, max_retries=0, on_error=on_error)
    await bounded(wb.write("k", 1, failing))
    assert await bounded(wb.flush()) == 0
    await eventually(lambda: hooked, 2.0, "the async on_error")
    assert hooked == [(err, "k")]


async def test_write_behind_stats_record(cache: Any) -> None:
    wb = WriteBehindPattern(None, flush_interval_ms=60_000)
    empty = wb.stats()
    assert isinstance(empty, WriteBehindStats) and isinstance(empty, Mapping)
    assert dict(empty) == {"pending": 0, "written": 0, "coalesced": 0, "retries": 0, "failed": 0}
    await bounded(wb.write("s:1", 1, lambda v: None))
    await bounded(wb.write("s:1", 2, lambda v: None))
    s = wb.stats()
    assert s.pending == s["pending"] == 1 and s.coalesced == s["coalesced"] == 1
    assert set(s) == {"pending", "written", "coalesced", "retries", "failed"}
    assert s.to_dict() == dict(s)
    with pytest.raises(AttributeError):
        s.pending = 5  # type: ignore[misc]
    await bounded(wb.flush())
    assert wb.stats().written == 1 and wb.stats()["pending"] == 0


async def test_write_behind_bad_input(cache: Any) -> None:
    calls = Counter()
    with pytest.raises(InvalidArgumentError, match=r"^on_error must be callable, got int$"):
        WriteBehindPattern(None, on_error=5)  # type: ignore[arg-type]
    wb = WriteBehindPattern(None, flush_interval_ms=60_000)
    with pytest.raises(InvalidArgumentError, match=r"^writer must be callable, got str$"):
        await bounded(wb.write("k", 1, "not a function"))  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="k"):
        await bounded(wb.write("k", {1}, lambda v: calls.calls.append(v)))
    with pytest.raises(InvalidKeyError):
        await bounded(wb.write("", 1, lambda v: calls.calls.append(v)))
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        await bounded(WriteBehindPattern(None, batch_size=0).write("k", 1, lambda v: None))
    assert wb.stats().pending == 0 and calls.n == 0 and cache.raw("k") is None


async def test_shutdown_flushes_queued_writes_before_returning(cache: Any) -> None:
    written: list[Any] = []

    async def writer(v: Any) -> None:
        await asyncio.sleep(0.01)
        written.append(v)

    wb = WriteBehindPattern(None, flush_interval_ms=60_000)
    for i in range(3):
        await bounded(wb.write(f"q:{i}", i, writer))
    await bounded(write_behind.write("q:default", "d", writer))
    assert written == []
    await bounded(shutdown_cache_system())
    assert sorted(written, key=str) == [0, 1, 2, "d"]
    with pytest.raises(ClosedError):
        await wb.write("q:late", 1, writer)
    with pytest.raises(ClosedError):
        await cache_aside.get("q:late", lambda: 1)
    with pytest.raises(ClosedError):
        await read_through.read("q:late")


async def test_the_default_write_behind(cache: Any) -> None:
    written: list[Any] = []
    await bounded(write_behind.write("d:1", {"a": 1}, lambda v: written.append(v), ttl=30))
    assert await cache_manager.get("d:1") == {"a": 1}
    # flushed every second by default
    await eventually(lambda: written == [{"a": 1}], 3.0, "the default flush")
    # counted once the writer's result is back in the core, just after the writer ran
    await eventually(lambda: write_behind.stats().written == 1, 1.0, "the write counted")
    assert write_behind.stats().written == 1 and written == [{"a": 1}]  # this system's queue, one write


# ----- read_through ----------------------------------------------------------------------------------


async def test_guide_read_through(cache: Any, loaders: Any) -> None:
    users = {"123": {"id": 123, "name": "Ada"}}
    tickets = {"456": {"id": 456, "title": "Printer on fire"}}

    # Register loaders
    async def load_user(key: str) -> Any:
        user_id = key.split(":")[1]
        return users.get(user_id)

    async def load_ticket(key: str) -> Any:
        ticket_id = key.split(":")[1]
        return tickets.get(ticket_id)

    loaders("user:*", load_user)
    loaders("ticket:*", load_ticket)

    # Read (cache handles loading)
    user = await bounded(read_through.read("user:123", ttl=300))
    ticket = await bounded(read_through.read("ticket:456", ttl=180))
    assert user == {"id": 123, "name": "Ada"} and ticket == {"id": 456, "title": "Printer on fire"}
    assert 298_000 < cache.resp("PTTL", cache.dkey("user:123")) <= 300_000
    assert 178_000 < cache.resp("PTTL", cache.dkey("ticket:456")) <= 180_000
    assert await bounded(read_through.read("user:999")) is None  # the loader found nothing
    assert cache.raw("user:999") is None


async def test_the_most_specific_pattern_wins(cache: Any, loaders: Any) -> None:
    # registered from the least to the most specific and back, so registration order decides nothing
    loaders("*", lambda key: "any")
    loaders("user:42", lambda key: "exact")
    loaders("user:*", lambda key: "user")
    loaders("user:admin:*", lambda key: "admin")
    loaders("user:?", lambda key: "one-char")
    assert await bounded(read_through.read("user:42")) == "exact"
    assert await bounded(read_through.read("user:admin:7")) == "admin"
    assert await bounded(read_through.read("user:1234")) == "user"
    assert await bounded(read_through.read("thing:1")) == "any"
    assert await bounded(read_through.read("user:admin")) == "user"  # "user:admin:*" needs the colon


async def test_no_loader_is_a_clear_error(cache: Any, loaders: Any) -> None:
    loaders("user:*", lambda key: 1)
    with pytest.raises(NoLoaderError) as caught:
        await bounded(read_through.read("order:77"))
    e = caught.value
    assert isinstance(e, ValueError) and isinstance(e, StrataCacheError)
    assert e.code == "ERR_STRATACACHE_NO_LOADER"
    assert "order:77" in str(e), str(e)
    assert cache.raw("order:77") is None


async def test_read_through_serves_a_cached_value_without_the_loader(cache: Any, loaders: Any) -> None:
    calls = Counter()

    async def loader(key: str) -> Any:
        calls.calls.append(key)
        return "loaded"

    loaders("user:*", loader)
    await cache_manager.set("user:5", {"name": "cached"})
    await cache_manager.set("nobody:1", "cached too")
    assert await bounded(read_through.read("user:5")) == {"name": "cached"}
    await cache.restart()
    assert await bounded(read_through.read("user:5")) == {"name": "cached"}  # from Redis
    assert await bounded(read_through.read("nobody:1")) == "cached too"  # no loader needed for a hit
    assert calls.calls == []
    assert await bounded(read_through.read("user:6")) == "loaded"
    assert await bounded(read_through.read("user:6")) == "loaded"
    assert calls.calls == ["user:6"]


async def test_200_concurrent_reads_of_a_cold_key_load_once(cache: Any, loaders: Any) -> None:
    calls = Counter()

    async def loader(key: str) -> Any:
        calls.calls.append(key)
        await asyncio.sleep(0.05)
        return {"key": key}

    loaders("item:*", loader)
    results = await bounded(asyncio.gather(*[read_through.read("item:9", ttl=60) for _ in range(200)]))
    assert calls.calls == ["item:9"]
    assert all(r == {"key": "item:9"} for r in results)
    assert len({id(r) for r in results}) == 200


async def test_a_read_through_loader_error_reaches_every_reader(cache: Any, loaders: Any) -> None:
    async def loader(key: str) -> Any:
        await asyncio.sleep(0.02)
        raise MyError(key)

    loaders("boom:*", loader)
    results = await bounded(asyncio.gather(*[read_through.read("boom:1") for _ in range(20)],
                                           return_exceptions=True))
    assert isinstance(results[0], MyError) and all(r is results[0] for r in results)
    assert cache.raw("boom:1") is None


async def test_loaders_registered_before_initialize_work(redis_server: Any, resp: Any, ns: str,
                                                          loaders: Any) -> None:
    await shutdown_cache_system()  # whatever an earlier test left: start from a stopped system
    loaders("early:*", lambda key: {"early": key})
    create_redis_client(url=redis_server.url, namespace=ns)
    try:
        assert (await bounded(initialize_cache_system())).redis == "connected"
        assert await bounded(read_through.read("early:1")) == {"early": "early:1"}
        assert resp("EXISTS", f"{ns}:d:early:1") == 1
        # registered while running, after the first read
        loaders("late:*", lambda key: "late")
        assert await bounded(read_through.read("late:1")) == "late"
        # and after a restart both are registered again on the new system
        await shutdown_cache_system()
        await bounded(initialize_cache_system())
        assert await bounded(read_through.read("early:2")) == {"early": "early:2"}
        assert await bounded(read_through.read("late:2")) == "late"
    finally:
        await shutdown_cache_system()


async def test_unregistered_loaders_are_gone(cache: Any, loaders: Any) -> None:
    loaders("gone:*", lambda key: 1)
    assert await bounded(read_through.read("gone:1")) == 1
    assert read_through.unregister_loader("gone:*") is True
    assert read_through.unregister_loader("gone:*") is False
    with pytest.raises(NoLoaderError):
        await bounded(read_through.read("gone:2"))
    with pytest.raises(InvalidArgumentError):
        read_through.register_loader("", lambda key: 1)
    with pytest.raises(InvalidArgumentError):
        read_through.register_loader("x:*", 5)  # type: ignore[arg-type]


# ----- lifecycle ------------------------------------------------------------------------------------


PATTERNS_CHILD = """
import logging
from stratacache import cache_aside, read_through, write_behind, WriteBehindPattern

class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []
    def emit(self, record):
        self.messages.append(record.getMessage())

logged = Records()  # the core's log lines (else logging's last-resort handler prints them on stderr)
logging.getLogger("stratacache").addHandler(logged)

class MyError(Exception):
    pass

async def load_item(key):
    await asyncio.sleep(0.01)
    return {"item": key}

read_through.register_loader("item:*", load_item)  # before the system exists

async def main():
    create_redis_client(url=URL, namespace=NS)
    assert (await initialize_cache_system()).redis == "connected"

    runs = 0
    async def loader():
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return {"v": 1}
    values = await asyncio.gather(*[cache_aside.get("a", loader, ttl=30) for _ in range(100)])
    assert runs == 1 and all(v == {"v": 1} for v in values), (runs, values[:3])

    async def failing():
        await asyncio.sleep(0.01)
        raise MyError("x")
    errors = await asyncio.gather(*[cache_aside.get("b", failing) for _ in range(10)], return_exceptions=True)
    assert all(e is errors[0] and isinstance(e, MyError) for e in errors), errors

    async def slow_refresh():
        await asyncio.sleep(0.05)
        return "r"
    assert await cache_aside.get_with_refresh("r", slow_refresh, ttl=1, refresh_threshold=0.5) == "r"
    await asyncio.sleep(0.6)
    # near expiry: returns at once and leaves a background refresh running into the shutdown below
    assert await cache_aside.get_with_refresh("r", slow_refresh, ttl=1, refresh_threshold=0.5) == "r"

    assert await read_through.read("item:1", ttl=30) == {"item": "item:1"}

    written = []
    async def writer(v):
        await asyncio.sleep(0.01)
        written.append(v)
    wb = WriteBehindPattern(None, flush_interval_ms=60_000, max_retries=3, batch_size=100)
    for i in range(5):
        await wb.write(f"e:{i}", {"i": i}, writer, ttl=60)
    await write_behind.write("d", "default", writer)
    hooked = []
    async def on_error(error, key, value):
        await asyncio.sleep(0.02)
        hooked.append((type(error).__name__, key, value))
    def failing_writer(v):
        raise MyError("no")
    failing = WriteBehindPattern(None, flush_interval_ms=60_000, max_retries=0, on_error=on_error)
    await failing.write("f", 1, failing_writer)
    assert written == [] and hooked == []

    await shutdown_cache_system()
    assert sorted(map(str, written)) == sorted(map(str, [{"i": i} for i in range(5)] + ["default"])), written
    assert hooked == [("MyError", "f", 1)], hooked  # the async hook of the final flush ran to its end
    assert all('write-behind of "f" given up' in m for m in logged.messages), logged.messages
    print("ok")

asyncio.run(main())
"""


def test_a_child_using_the_patterns_shuts_down_cleanly(venv_python: str, child_env: dict[str, str],
                                                       redis_server: Any, ns: str, resp: Any) -> None:
    proc = run_child(venv_python, child_env, PATTERNS_CHILD, redis_server.url, ns)
    assert_clean(proc)
    assert proc.stdout.strip() == "ok"
    assert resp("EXISTS", f"{ns}:d:e:4", f"{ns}:d:d", f"{ns}:d:a", f"{ns}:d:item:1") == 4


async def test_write_behind_bounds_a_full_queue_and_a_stuck_writer(cache: Any) -> None:
    from stratacache import CacheTimeoutError

    written: list[Any] = []
    wb = WriteBehindPattern(None, flush_interval_ms=60_000, batch_size=1_000_000, max_queue_size=50,
                            queue_full_timeout_ms=100)
    for i in range(50):
        await bounded(wb.write(f"wbq:{i}", i, written.append))
    t0 = time.monotonic()
    with pytest.raises(CacheTimeoutError, match=r"queue is full \(50 keys waiting"):
        await bounded(wb.write("wbq:extra", 1, written.append))
    assert time.monotonic() - t0 >= 0.09, "it waited for room first"
    assert await cache_manager.get("wbq:extra") is None, "a refused write leaves the cache alone"
    await bounded(wb.write("wbq:3", "replaced", written.append))  # a queued key needs no room
    assert wb.stats().pending == 50
    assert await wb.flush() == 50
    await bounded(wb.write("wbq:extra", 1, written.append))

    given: list[tuple[str, str]] = []
    conc = WriteBehindPattern(None, flush_interval_ms=30, max_retries=0, concurrency=4, write_timeout_ms=300,
                              on_error=lambda e, key, value: given.append((key, getattr(e, "code", ""))))
    ok: list[Any] = []

    async def stuck(v: Any) -> None:
        await asyncio.Event().wait()

    async def fine(v: Any) -> None:
        ok.append(v)

    await bounded(conc.write("wbs:stuck", 0, stuck))
    for i in range(10):
        await bounded(conc.write(f"wbs:{i}", i, fine))
    await eventually(lambda: len(ok) == 10, 2.0, "ten writes behind a stuck one")
    await eventually(lambda: len(given) == 1, 2.0, "the stuck write given up at write_timeout_ms")
    assert given == [("wbs:stuck", "ERR_STRATACACHE_TIMEOUT")]
    with pytest.raises(InvalidArgumentError, match=r"max_queue_size must be a whole number 1\.\.10000000, got 0"):
        await bounded(WriteBehindPattern(None, max_queue_size=0).write("x", 1, fine))
