"""Rate limiting in Python: ``redis_rate_limiter``, ``rate_limit_presets`` and ``rate_limit_headers``
(usage guide "Rate Limiting" and Recipe 1, contract §4 redisRateLimiter and §7 "Rate limits").

Every test gets its own namespace and a freshly started system (the ``cache`` fixture in
tests/conftest.py) on the session's redis-server, and its own identifiers; Redis is inspected and
poked with the raw RESP client (``cache.resp``). The tests that kill Redis start their own
redis-server on their own port (``redis_server_factory``), never the shared one. Every wait is bounded.

Core behaviour relied on (core/src/ratelimit): keys ``{ns}:rl:{<identifier>}:<fw|sl|sc|tb|lb>``;
fixed-window and sliding-counter windows are aligned on the epoch (so the count tests either use a
one-hour window or wait until they are clear of a window edge); buckets start full (token) / empty
(leaky), ``token_bucket``/``leaky_bucket`` default to ``max_requests`` per window.
"""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import textwrap
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

import pytest

from stratacache import (
    InvalidArgumentError,
    InvalidKeyError,
    RateLimitPreset,
    RateLimitPresets,
    RateLimitResult,
    RateLimitStats,
    StrataCacheError,
    cache_aside,
    create_redis_client,
    initialize_cache_system,
    rate_limit_headers,
    rate_limit_presets,
    redis_rate_limiter,
    shutdown_cache_system,
)

# "No warnings at loop close": any warning (unclosed resources, tasks destroyed pending, coroutines
# never awaited, unraisable exceptions) fails the test that caused it.
pytestmark = pytest.mark.filterwarnings("error")

ALGORITHMS = ["fixed-window", "sliding-log", "sliding-counter", "token-bucket", "leaky-bucket"]
SUFFIX = {"fixed-window": "fw", "sliding-log": "sl", "sliding-counter": "sc", "token-bucket": "tb",
          "leaky-bucket": "lb"}
# Every way to ask for a decision: limit() with each algorithm, and the two bucket methods.
VARIANTS = [*ALGORITHMS, "token_bucket()", "leaky_bucket()"]
# One hour: long enough that nothing refills, leaks or rolls over while a test counts.
W = 3_600_000
DECISION_TIMEOUT_S = 5.0


def now_ms() -> int:
    return int(time.time() * 1000)


async def clear_of_window_edge(window_ms: int, margin_ms: int = 1500) -> None:
    """Windows are aligned on the epoch (Redis and this process share the machine's clock): when the
    current window ends within ``margin_ms``, wait for the next one so a count never straddles two."""
    left = window_ms - now_ms() % window_ms
    if left < margin_ms:
        await asyncio.sleep(left / 1000 + 0.02)


def decide(variant: str, identifier: str, n: int, *, cost: Optional[int] = None,
           on_redis_error: Any = None, window_ms: int = W) -> Awaitable[RateLimitResult]:
    if variant == "token_bucket()":
        return redis_rate_limiter.token_bucket(identifier, window_ms=window_ms, max_requests=n, cost=cost,
                                               on_redis_error=on_redis_error)
    if variant == "leaky_bucket()":
        return redis_rate_limiter.leaky_bucket(identifier, window_ms=window_ms, max_requests=n, cost=cost,
                                               on_redis_error=on_redis_error)
    return redis_rate_limiter.limit(identifier, window_ms=window_ms, max_requests=n, algorithm=variant,  # type: ignore[arg-type]
                                    cost=cost, on_redis_error=on_redis_error)


def suffix_of(variant: str) -> str:
    return {"token_bucket()": "tb", "leaky_bucket()": "lb"}.get(variant) or SUFFIX[variant]


def rl_key(ns: str, identifier: str, suffix: str) -> str:
    return f"{ns}:rl:{{{identifier}}}:{suffix}"


def check_result(r: Any, *, total: int, window_ms: int, before_ms: int, after_ms: int,
                 already_reset: bool = False) -> None:
    """The shape every decision has (contract §4 and §7), read as attributes and as mapping items.
    ``already_reset``: a bucket that is untouched is fully reset now, so its reset_time may be now."""
    assert isinstance(r, RateLimitResult) and isinstance(r, Mapping)
    assert set(r.keys()) == {"allowed", "total", "remaining", "reset_time", "retry_after"}, r
    for name in ("allowed", "total", "remaining", "reset_time", "retry_after"):
        assert r[name] == getattr(r, name), name
    assert dict(r)["allowed"] is r.allowed
    assert type(r.allowed) is bool
    assert type(r.total) is int and r.total == total
    assert type(r.remaining) is int and 0 <= r.remaining <= total
    # reset_time: epoch ms, in the future, at most one window away
    assert type(r.reset_time) is int
    if already_reset:
        assert before_ms <= r.reset_time <= after_ms + window_ms, (r, before_ms, after_ms)
    else:
        assert before_ms < r.reset_time <= after_ms + window_ms, (r, before_ms, after_ms)
    if r.allowed:
        assert r.retry_after is None, r
    else:
        assert type(r.retry_after) is int, r
        assert 1 <= r.retry_after <= math.ceil(window_ms / 1000), r


async def timed(aw: Awaitable[RateLimitResult]) -> RateLimitResult:
    return await asyncio.wait_for(aw, DECISION_TIMEOUT_S)


# ----- the guide's examples, in snake_case ------------------------------------------------------------


@dataclass
class User:
    id: int


@dataclass
class FakeRequest:
    user: User
    ip: str = "203.0.113.9"
    body: Optional[dict[str, Any]] = None


class FakeResponse:
    """Just enough of an HTTP response: headers, a status and a JSON body."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.status_code = 200
        self.body: Any = None

    def set_header(self, name: str, value: Any) -> None:
        self.headers[name] = str(value)

    def status(self, code: int) -> "FakeResponse":
        self.status_code = code
        return self

    def json(self, body: Any) -> "FakeResponse":
        self.body = body
        return self


async def api_rate_limit_middleware(req: FakeRequest, res: FakeResponse, next_: Callable[[], Awaitable[None]]) -> Any:
    identifier = f"api:user:{req.user.id}"

    result = await redis_rate_limiter.limit(identifier, **{**rate_limit_presets.api, "algorithm": "sliding-counter"})

    # Add headers
    for name, value in rate_limit_headers(result, window_ms=rate_limit_presets.api.window_ms).items():
        res.set_header(name, value)

    if not result.allowed:
        res.set_header("Retry-After", result.retry_after or 60)
        return res.status(429).json({
            "error": "Too many requests",
            "retry_after": result.retry_after,
        })

    await next_()


async def test_guide_api_endpoint_protection(cache: Any) -> None:
    await clear_of_window_edge(60_000)
    req = FakeRequest(User(4101))
    passed = 0

    async def next_() -> None:
        nonlocal passed
        passed += 1

    for i in range(100):
        res = FakeResponse()
        await api_rate_limit_middleware(req, res, next_)
        assert res.status_code == 200 and passed == i + 1
        assert res.headers["X-RateLimit-Limit"] == "100"
        assert res.headers["X-RateLimit-Remaining"] == str(99 - i)
        assert "Retry-After" not in res.headers
        assert res.headers["RateLimit-Policy"] == '"default";q=100;w=60'
        assert res.headers["RateLimit"].startswith(f'"default";r={99 - i};t=')
        reset_s = int(res.headers["X-RateLimit-Reset"])
        assert now_ms() / 1000 < reset_s <= now_ms() / 1000 + 61

    res = FakeResponse()
    await api_rate_limit_middleware(req, res, next_)
    assert passed == 100, "next() must not run for a limited request"
    assert res.status_code == 429
    assert res.body["error"] == "Too many requests"
    retry_after = res.body["retry_after"]
    assert type(retry_after) is int and 1 <= retry_after <= 60
    assert res.headers["Retry-After"] == str(retry_after)
    assert res.headers["X-RateLimit-Remaining"] == "0"
    # a user of their own is not limited by user 4101
    other = FakeResponse()
    await api_rate_limit_middleware(FakeRequest(User(4102)), other, next_)
    assert other.status_code == 200 and other.headers["X-RateLimit-Remaining"] == "99"
    assert cache.resp("EXISTS", rl_key(cache.ns, "api:user:4101", "sc")) == 1


async def handle_login(req: FakeRequest, res: FakeResponse) -> Any:
    assert req.body is not None
    identifier = f"auth:{req.ip}:{req.body['email']}"

    result = await redis_rate_limiter.limit(identifier, **{
        **rate_limit_presets.auth,
        "algorithm": "sliding-log",  # More accurate
    })

    if not result.allowed:
        return res.status(429).json({
            "error": "Too many login attempts",
            "retry_after": result.retry_after,
        })

    # Process login...
    return res.json({"ok": True})


async def test_guide_login_rate_limiting(cache: Any) -> None:
    req = FakeRequest(User(0), ip="198.51.100.4", body={"email": "ada@example.com", "password": "x"})
    for _ in range(5):  # the auth preset: 5 per 15 minutes
        res = await handle_login(req, FakeResponse())
        assert res.status_code == 200 and res.body == {"ok": True}
    res = await handle_login(req, FakeResponse())
    assert res.status_code == 429
    assert res.body["error"] == "Too many login attempts"
    assert type(res.body["retry_after"]) is int and 1 <= res.body["retry_after"] <= 900
    # another email from the same IP is a separate identifier
    other = FakeRequest(User(0), ip="198.51.100.4", body={"email": "bob@example.com"})
    assert (await handle_login(other, FakeResponse())).status_code == 200
    assert cache.resp("ZCOUNT", rl_key(cache.ns, "auth:198.51.100.4:ada@example.com", "sl"), "0", "+inf") == 5


async def test_guide_custom_rate_limit(cache: Any) -> None:
    user_id = 4301

    async def upload() -> RateLimitResult:
        # Token bucket (good for bursts)
        return await redis_rate_limiter.token_bucket(
            f"upload:user:{user_id}",
            window_ms=60000,  # 1 minute
            max_requests=10,
            refill_rate=2,  # 2 tokens per second
            bucket_size=10,
        )

    async def search() -> RateLimitResult:
        # Leaky bucket (smooth rate)
        return await redis_rate_limiter.leaky_bucket(
            f"search:user:{user_id}",
            window_ms=60000,
            max_requests=30,
            leak_rate=0.5,  # 0.5 requests per second
            bucket_size=30,
        )

    start = time.monotonic()
    uploads = [await upload() for _ in range(11)]
    # the exact counts below need the 11 calls within 0.5 s (one token every 0.5 s)
    assert time.monotonic() - start < 0.45, "too slow for the exact token-bucket counts"
    start = time.monotonic()
    searches = [await search() for _ in range(31)]
    # ... and the 31 calls within 1 s (one unit leaks every 2 s; retry_after is 2 - elapsed, rounded up)
    assert time.monotonic() - start < 0.95, "too slow for the exact leaky-bucket counts"
    assert [u.allowed for u in uploads] == [True] * 10 + [False]
    assert [u.remaining for u in uploads] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
    assert {u.total for u in uploads} == {10}
    assert uploads[-1].retry_after == 1  # one token comes back within 0.5 s
    assert [s.allowed for s in searches] == [True] * 30 + [False]
    assert [s.remaining for s in searches[:30]] == list(range(29, -1, -1))
    assert searches[-1].remaining == 0 and searches[-1].total == 30
    assert searches[-1].retry_after == 2  # one unit leaks out every 2 s
    assert cache.resp("EXISTS", rl_key(cache.ns, f"upload:user:{user_id}", "tb")) == 1
    assert cache.resp("EXISTS", rl_key(cache.ns, f"search:user:{user_id}", "lb")) == 1


async def test_recipe_1_rate_limit_then_cached_response(cache: Any) -> None:
    await clear_of_window_edge(60_000)
    loads = 0

    async def get_user(user_id: int) -> dict[str, Any]:
        nonlocal loads
        loads += 1
        return {"id": user_id, "name": "Ada"}

    async def endpoint(ip: str, raw_id: str) -> tuple[int, Any]:
        user_id = int(raw_id)

        # Rate limiting
        rate_limit = await redis_rate_limiter.limit(
            f"api:{ip}",
            window_ms=60000, max_requests=100, algorithm="sliding-counter",
        )

        if not rate_limit.allowed:
            return 429, {"error": "Rate limit exceeded"}

        # Cached response
        async def load() -> dict[str, Any]:
            return await get_user(user_id)

        user = await cache_aside.get(f"user:{user_id}", load, ttl=300, tags=[f"user:{user_id}"])
        return 200, user

    answers = await asyncio.gather(*[endpoint("192.0.2.77", "7") for _ in range(103)])
    assert sorted(code for code, _ in answers) == [200] * 100 + [429] * 3
    assert all(body == {"id": 7, "name": "Ada"} for code, body in answers if code == 200)
    assert loads == 1
    assert (await endpoint("192.0.2.78", "7"))[0] == 200


# ----- exactness, shape and cost, for every algorithm ---------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
async def test_exactly_n_of_3n_concurrent_calls(cache: Any, variant: str) -> None:
    n = 10
    identifier = f"burst:{variant}"
    before = now_ms()
    results = await asyncio.gather(*[decide(variant, identifier, n) for _ in range(3 * n)])
    after = now_ms()
    allowed = [r for r in results if r.allowed]
    assert len(allowed) == n, [r.remaining for r in allowed]
    assert sorted(r.remaining for r in allowed) == list(range(n))
    for r in results:
        check_result(r, total=n, window_ms=W, before_ms=before, after_ms=after)
        if not r.allowed:
            assert r.remaining == 0
    assert cache.resp("EXISTS", rl_key(cache.ns, identifier, suffix_of(variant))) == 1


@pytest.mark.parametrize("variant", VARIANTS)
async def test_sequential_countdown_then_denied(cache: Any, variant: str) -> None:
    n = 6
    identifier = f"countdown:{variant}"
    for i in range(n):
        before = now_ms()
        r = await decide(variant, identifier, n)
        check_result(r, total=n, window_ms=W, before_ms=before, after_ms=now_ms())
        assert (r.allowed, r.remaining, r["remaining"]) == (True, n - 1 - i, n - 1 - i)
    for _ in range(2):
        before = now_ms()
        r = await decide(variant, identifier, n)
        check_result(r, total=n, window_ms=W, before_ms=before, after_ms=now_ms())
        assert (r.allowed, r["allowed"], r.remaining) == (False, False, 0)
        assert r.retry_after is not None and r["retry_after"] == r.retry_after


@pytest.mark.parametrize("variant", VARIANTS)
async def test_cost_larger_than_remaining_is_denied_and_consumes_nothing(cache: Any, variant: str) -> None:
    n = 5
    identifier = f"cost:{variant}"
    steps = [(3, True, 2), (3, False, 2), (3, False, 2), (2, True, 0), (1, False, 0)]
    for cost, allowed, remaining in steps:
        before = now_ms()
        r = await decide(variant, identifier, n, cost=cost)
        check_result(r, total=n, window_ms=W, before_ms=before, after_ms=now_ms())
        assert (r.allowed, r.remaining) == (allowed, remaining), (cost, r)

    # a cost above the whole limit is never admitted, and leaves the full quota (an untouched bucket
    # is full/empty already, so its reset_time is now)
    fresh = f"cost-over-total:{variant}"
    before = now_ms()
    r = await decide(variant, fresh, n, cost=n + 1)
    check_result(r, total=n, window_ms=W, before_ms=before, after_ms=now_ms(),
                 already_reset=suffix_of(variant) in ("tb", "lb"))
    assert (r.allowed, r.remaining) == (False, n)
    r = await decide(variant, fresh, n, cost=n)
    assert (r.allowed, r.remaining) == (True, 0)


@pytest.mark.parametrize("variant", VARIANTS)
async def test_every_key_lives_under_the_schema_and_expires(cache: Any, variant: str) -> None:
    identifier = f"schema:{variant}"
    await decide(variant, identifier, 3)
    key = rl_key(cache.ns, identifier, suffix_of(variant))
    assert cache.resp.keys(f"{cache.ns}:rl:*") == [key.encode()]
    assert 0 < cache.resp("PTTL", key) <= 2 * W


async def test_default_algorithm_is_sliding_counter(cache: Any) -> None:
    r = await redis_rate_limiter.limit("default-algo", window_ms=W, max_requests=2)
    assert (r.allowed, r.remaining) == (True, 1)
    assert cache.resp.keys(f"{cache.ns}:rl:*") == [rl_key(cache.ns, "default-algo", "sc").encode()]


@pytest.mark.parametrize("kind", ["token_bucket", "leaky_bucket"])
async def test_bucket_refills_after_waiting(cache: Any, kind: str) -> None:
    # bucket 5, 20 per second: drained, then 0.12 s later exactly 2 units are back (2.4; the 3rd needs 0.15 s)
    rate_option = "refill_rate" if kind == "token_bucket" else "leak_rate"
    method = getattr(redis_rate_limiter, kind)
    for attempt in range(3):
        identifier = f"refill:{kind}:{attempt}"

        def call() -> Awaitable[RateLimitResult]:
            return method(identifier, window_ms=60_000, max_requests=5, bucket_size=5, **{rate_option: 20})  # type: ignore[no-any-return]

        t0 = time.monotonic()
        drained = await asyncio.gather(*[call() for _ in range(5)])
        assert all(r.allowed for r in drained)
        assert sorted(r.remaining for r in drained) == [0, 1, 2, 3, 4]
        empty = await call()
        assert (empty.allowed, empty.remaining, empty.retry_after) == (False, 0, 1)
        await asyncio.sleep(0.12)
        after = await asyncio.gather(*[call() for _ in range(3)])
        span = time.monotonic() - t0
        admitted = sum(r.allowed for r in after)
        assert admitted >= 2, (span, after)  # at least 0.12 s passed: 2.4 units
        if span < 0.149:  # from the first drain to the last answer: under 3 units' worth of time
            assert admitted == 2, (span, after)
            return
    pytest.fail("the machine was too slow three times in a row to check the refill exactly (> 0.149 s)")


@pytest.mark.parametrize("variant", VARIANTS)
async def test_script_flush_mid_run_changes_nothing(cache: Any, variant: str) -> None:
    n = 8
    identifier = f"flush:{variant}"
    first = [await decide(variant, identifier, n) for _ in range(3)]
    assert [r.remaining for r in first] == [7, 6, 5]
    assert cache.resp("SCRIPT", "FLUSH") == "OK"
    # right after the flush, concurrent calls all hit NOSCRIPT and must still count exactly
    burst = await asyncio.gather(*[decide(variant, identifier, n) for _ in range(10)])
    assert sorted(r.remaining for r in burst if r.allowed) == [0, 1, 2, 3, 4]
    assert sum(r.allowed for r in burst) == 5
    assert cache.resp("SCRIPT", "FLUSH") == "OK"
    r = await decide(variant, identifier, n)
    assert (r.allowed, r.remaining) == (False, 0)
    assert (await redis_rate_limiter.get_stats()).fallbacks == 0


# ----- reset and stats ------------------------------------------------------------------------------------


async def test_reset_restores_the_quota_of_every_algorithm(cache: Any) -> None:
    identifier = "reset:user:1"
    n = 3
    for variant in ALGORITHMS:
        for _ in range(n):
            assert (await decide(variant, identifier, n)).allowed
        assert not (await decide(variant, identifier, n)).allowed
    keys = sorted(rl_key(cache.ns, identifier, SUFFIX[a]).encode() for a in ALGORITHMS)
    untouched = "reset:user:2"
    await decide("fixed-window", untouched, n)
    assert cache.resp.keys(f"{cache.ns}:rl:{{reset:user:1}}:*") == keys

    assert await redis_rate_limiter.reset(identifier) is None
    assert cache.resp.keys(f"{cache.ns}:rl:{{reset:user:1}}:*") == []
    for variant in ALGORITHMS:
        r = await decide(variant, identifier, n)
        assert (r.allowed, r.remaining) == (True, n - 1), variant
    # other identifiers keep their state; resetting an unknown identifier is fine
    assert (await decide("fixed-window", untouched, n)).remaining == n - 2
    await redis_rate_limiter.reset("reset:never-seen")


async def test_stats_count_allowed_and_denied(cache: Any) -> None:
    s0 = await redis_rate_limiter.get_stats()
    assert isinstance(s0, RateLimitStats)
    for _ in range(5):
        await redis_rate_limiter.limit("stats:user", window_ms=W, max_requests=3, algorithm="sliding-log")
    s1 = await redis_rate_limiter.get_stats()
    assert (s1.allowed - s0.allowed, s1.denied - s0.denied, s1.fallbacks - s0.fallbacks) == (3, 2, 0)
    assert (s1["allowed"], s1["denied"], s1["fallbacks"]) == (s1.allowed, s1.denied, s1.fallbacks)
    assert set(s1) == {"allowed", "denied", "fallbacks"}
    assert all(type(v) is int for v in s1.values())


# ----- presets and headers --------------------------------------------------------------------------------


async def test_presets_are_documented_and_splat_into_limit(cache: Any) -> None:
    expected = {
        "api": (60_000, 100, "sliding-counter"),
        "auth": (900_000, 5, "sliding-log"),
        "strict": (60_000, 10, "fixed-window"),
        "upload": (3_600_000, 10, "token-bucket"),
        "search": (60_000, 30, "leaky-bucket"),
    }
    assert isinstance(rate_limit_presets, RateLimitPresets)
    assert set(rate_limit_presets) >= set(expected)
    for name, (window_ms, max_requests, algorithm) in expected.items():
        preset = getattr(rate_limit_presets, name)
        assert rate_limit_presets[name] == preset
        assert isinstance(preset, RateLimitPreset)
        assert set(preset) == {"window_ms", "max_requests", "algorithm"}, name
        assert (preset.window_ms, preset.max_requests, preset.algorithm) == (window_ms, max_requests, algorithm)
        assert (preset["window_ms"], preset["max_requests"], preset["algorithm"]) == (window_ms, max_requests, algorithm)

        await clear_of_window_edge(window_ms)
        identifier = f"preset:{name}"
        r = await redis_rate_limiter.limit(identifier, **preset)
        assert (r.allowed, r.total, r.remaining) == (True, max_requests, max_requests - 1), name
        assert cache.resp("EXISTS", rl_key(cache.ns, identifier, SUFFIX[algorithm])) == 1, name


def test_headers_of_a_denied_result() -> None:
    now = now_ms()
    denied = {"allowed": False, "total": 100, "remaining": 0, "reset_time": now + 30_500, "retry_after": 31}
    h = rate_limit_headers(denied, window_ms=60_000)
    assert list(h.items()) == [
        ("X-RateLimit-Limit", "100"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", str(-(-(now + 30_500) // 1000))),  # epoch seconds, rounded up
        ("RateLimit-Policy", '"default";q=100;w=60'),
        ("RateLimit", '"default";r=0;t=31'),
        ("Retry-After", "31"),
    ]
    # the core's own example (a reset in the past: t=0), and no rounding when already whole seconds
    past = {"allowed": False, "total": 100, "remaining": 0, "reset_time": 1_767_225_630_500, "retry_after": 31}
    assert rate_limit_headers(past)["X-RateLimit-Reset"] == "1767225631"
    assert rate_limit_headers(past)["RateLimit"] == '"default";r=0;t=0'
    whole = {**past, "reset_time": 1_767_225_631_000}
    assert rate_limit_headers(whole)["X-RateLimit-Reset"] == "1767225631"
    assert rate_limit_headers(whole, window_ms=1_500)["RateLimit-Policy"] == '"default";q=100;w=2'


def test_headers_of_an_allowed_result() -> None:
    now = now_ms()
    allowed = {"allowed": True, "total": 5, "remaining": 4, "reset_time": now + 2_600, "retry_after": None}
    h = rate_limit_headers(allowed)
    assert list(h.items()) == [
        ("X-RateLimit-Limit", "5"),
        ("X-RateLimit-Remaining", "4"),
        ("X-RateLimit-Reset", str(-(-(now + 2_600) // 1000))),
        ("RateLimit", '"default";r=4;t=3'),
    ]
    with_policy = rate_limit_headers(allowed, window_ms=60_000)
    assert with_policy["RateLimit-Policy"] == '"default";q=5;w=60'
    assert "Retry-After" not in with_policy
    # a result without the retry_after item at all reads as allowed-without-retry
    assert "Retry-After" not in rate_limit_headers({k: v for k, v in allowed.items() if k != "retry_after"})


async def test_headers_of_real_decisions(cache: Any) -> None:
    for _ in range(2):
        ok = await redis_rate_limiter.limit("headers:user", window_ms=W, max_requests=2, algorithm="sliding-log")
    before = now_ms()
    no = await redis_rate_limiter.limit("headers:user", window_ms=W, max_requests=2, algorithm="sliding-log")
    h_ok, h_no = rate_limit_headers(ok), rate_limit_headers(no, window_ms=W)
    after = now_ms()
    assert list(h_ok) == ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit"]
    assert list(h_no) == ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy",
                          "RateLimit", "Retry-After"]
    assert h_no["X-RateLimit-Limit"] == "2" and h_no["X-RateLimit-Remaining"] == "0"
    assert h_no["X-RateLimit-Reset"] == str(-(-no.reset_time // 1000))
    assert h_no["RateLimit-Policy"] == '"default";q=2;w=3600'
    assert h_no["Retry-After"] == str(no.retry_after)
    t = int(re.fullmatch(r'"default";r=0;t=(\d+)', h_no["RateLimit"]).group(1))  # type: ignore[union-attr]
    assert (no.reset_time - after) // 1000 <= t <= -(-(no.reset_time - before) // 1000)


# ----- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("identifier", ["", 42, None, b"bytes"])
async def test_bad_identifiers_are_invalid_key_errors(cache: Any, identifier: Any) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: redis_rate_limiter.limit(identifier, window_ms=1000, max_requests=1),
        lambda: redis_rate_limiter.token_bucket(identifier, window_ms=1000, max_requests=1),
        lambda: redis_rate_limiter.leaky_bucket(identifier, window_ms=1000, max_requests=1),
        lambda: redis_rate_limiter.reset(identifier),
    ]
    for call in calls:
        with pytest.raises(InvalidKeyError) as info:
            await call()
        assert isinstance(info.value, ValueError) and isinstance(info.value, StrataCacheError)
        assert info.value.code == "ERR_STRATACACHE_INVALID_KEY"
        assert "identifier" in str(info.value)
    assert cache.resp.keys(f"{cache.ns}:rl:*") == []


BAD_OPTIONS = [
    # (method, options, option name the message must use, value as the message must show it)
    ("limit", {"algorithm": "sliding-window"}, "algorithm", "sliding-window"),
    ("limit", {"window_ms": 0}, "window_ms", "0"),
    ("limit", {"window_ms": -1}, "window_ms", "-1"),
    ("limit", {"window_ms": float("nan")}, "window_ms", "NaN"),
    ("limit", {"window_ms": 31_536_000_001}, "window_ms", "31536000001"),  # over a year
    ("limit", {"max_requests": 0}, "max_requests", "0"),
    ("limit", {"max_requests": 1.5}, "max_requests", "1.5"),
    ("limit", {"cost": 0}, "cost", "0"),
    ("limit", {"on_redis_error": "retry"}, "on_redis_error", "retry"),
    ("token_bucket", {"refill_rate": -1}, "refill_rate", "-1"),
    ("token_bucket", {"bucket_size": 0}, "bucket_size", "0"),
    ("token_bucket", {"cost": 0}, "cost", "0"),
    ("leaky_bucket", {"leak_rate": -1}, "leak_rate", "-1"),
    ("leaky_bucket", {"on_redis_error": "retry"}, "on_redis_error", "retry"),
]


@pytest.mark.parametrize(("method", "bad", "option", "shown"), BAD_OPTIONS,
                         ids=[f"{m}-{o}={s}" for m, _, o, s in BAD_OPTIONS])
async def test_bad_options_are_invalid_argument_errors(cache: Any, method: str, bad: dict[str, Any], option: str,
                                                       shown: str) -> None:
    identifier = f"bad:{method}:{option}"
    options: dict[str, Any] = {"window_ms": 60_000, "max_requests": 3, **bad}
    with pytest.raises(InvalidArgumentError) as info:
        await getattr(redis_rate_limiter, method)(identifier, **options)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, StrataCacheError)
    assert err.code == "ERR_STRATACACHE_INVALID_ARGUMENT"
    message = str(err)
    assert re.search(rf"(?<![A-Za-z_]){re.escape(option)}(?![A-Za-z_])", message), \
        f"the message does not name the option {option!r}: {message!r}"
    assert re.search(rf"got \"?{re.escape(shown)}\"?$", message), \
        f"the message does not end with the value received ({shown!r}): {message!r}"
    # bad input changes nothing: the identifier still has its whole quota
    r = await getattr(redis_rate_limiter, method)(identifier, window_ms=60_000, max_requests=3)
    assert (r.allowed, r.remaining) == (True, 2)


# ----- Redis down, Redis back -------------------------------------------------------------------------------


@dataclass
class OwnRedis:
    """A system on a redis-server of the test's own, which the test may kill and restart."""

    server: Any
    port: int
    ns: str
    factory: Any
    resp_to: Any

    def kill(self) -> None:
        self.server.proc.kill()
        self.server.proc.wait(timeout=5)

    def restart(self) -> None:
        self.server = self.factory(self.port)


@pytest.fixture
async def own_redis(redis_server_factory: Any, unused_port: Any, resp_to: Any, ns: str) -> Any:
    server = redis_server_factory(unused_port())
    create_redis_client(url=server.url, namespace=ns)
    try:
        assert (await initialize_cache_system(cache={})).redis == "connected"
        yield OwnRedis(server, server.port, ns, redis_server_factory, resp_to)
    finally:
        await shutdown_cache_system()


async def test_when_redis_is_down_each_policy_decides(own_redis: OwnRedis) -> None:
    n = 3
    assert (await redis_rate_limiter.limit("down:warm", window_ms=W, max_requests=n)).allowed
    s0 = await redis_rate_limiter.get_stats()
    own_redis.kill()
    started = time.monotonic()
    decisions = 0

    # allow: fail open, nothing counted
    for _ in range(n + 2):
        before = now_ms()
        r = await timed(redis_rate_limiter.limit("down:allow", window_ms=W, max_requests=n, on_redis_error="allow"))
        check_result(r, total=n, window_ms=W, before_ms=before, after_ms=now_ms())
        assert r.allowed is True
        decisions += 1

    # deny: fail closed
    for variant in VARIANTS:
        before = now_ms()
        r = await timed(decide(variant, f"down:deny:{variant}", n, on_redis_error="deny"))
        check_result(r, total=n, window_ms=W, before_ms=before, after_ms=now_ms())
        assert (r.allowed, r.remaining) == (False, 0), variant
        decisions += 1

    # local (the default, and by name): an in-process limiter of the same algorithm, N then denied
    for policy in (None, "local"):
        for variant in VARIANTS:
            identifier = f"down:local:{policy}:{variant}"
            got = []
            for _ in range(n + 2):
                before = now_ms()
                r = await timed(decide(variant, identifier, n, on_redis_error=policy))
                check_result(r, total=n, window_ms=W, before_ms=before, after_ms=now_ms())
                got.append((r.allowed, r.remaining))
                decisions += 1
            assert got == [(True, 2), (True, 1), (True, 0), (False, 0), (False, 0)], (policy, variant)
        # the local limiter is exact under concurrency too
        burst = await asyncio.wait_for(asyncio.gather(*[
            decide("sliding-log", f"down:local-burst:{policy}", 5, on_redis_error=policy) for _ in range(15)]),
            DECISION_TIMEOUT_S)
        assert sorted(r.remaining for r in burst if r.allowed) == [0, 1, 2, 3, 4]
        decisions += 15

    elapsed = time.monotonic() - started
    assert elapsed < 10, f"{decisions} decisions without Redis took {elapsed:.1f} s"
    s1 = await redis_rate_limiter.get_stats()
    assert s1.fallbacks - s0.fallbacks == decisions
    assert (s1.allowed - s0.allowed) + (s1.denied - s0.denied) == decisions


async def test_decisions_return_to_redis_after_a_restart(own_redis: OwnRedis) -> None:
    ns = own_redis.ns
    own_redis.kill()
    # while Redis is down, the default policy counts in this process
    local = [await timed(redis_rate_limiter.limit("back:user", window_ms=W, max_requests=2)) for _ in range(3)]
    assert [(r.allowed, r.remaining) for r in local] == [(True, 1), (True, 0), (False, 0)]

    own_redis.restart()  # same port, an empty Redis
    client = own_redis.resp_to(own_redis.port)
    try:
        deadline = time.monotonic() + 15
        probes = 0
        while client("EXISTS", rl_key(ns, "back:probe", "sc")) == 0:
            assert time.monotonic() < deadline, f"decisions did not go back to Redis ({probes} probes in 15 s)"
            probes += 1
            await timed(redis_rate_limiter.limit("back:probe", window_ms=W, max_requests=1000))
            await asyncio.sleep(0.05)

        # From now on Redis decides again: the state counted locally is not used, Redis's is.
        s0 = await redis_rate_limiter.get_stats()
        r = await timed(redis_rate_limiter.limit("back:user", window_ms=W, max_requests=2))
        assert (r.allowed, r.remaining) == (True, 1)
        assert client("HGET", rl_key(ns, "back:user", "sc"), "cur") == b"1"
        burst = await asyncio.gather(*[redis_rate_limiter.limit("back:burst", window_ms=W, max_requests=4)
                                       for _ in range(8)])
        assert sorted(x.remaining for x in burst if x.allowed) == [0, 1, 2, 3]
        assert client("HGET", rl_key(ns, "back:burst", "sc"), "cur") == b"4"
        assert (await redis_rate_limiter.get_stats()).fallbacks == s0.fallbacks
    finally:
        client.close()


# ----- a clean loop close in a strict child interpreter ----------------------------------------------------


CHILD = """
import asyncio, sys
from stratacache import (create_redis_client, initialize_cache_system, rate_limit_headers,
                         rate_limit_presets, redis_rate_limiter, shutdown_cache_system)
URL, NS = sys.argv[1], sys.argv[2]

async def main():
    create_redis_client(url=URL, namespace=NS)
    assert (await initialize_cache_system()).redis == "connected"
    algorithms = ["fixed-window", "sliding-log", "sliding-counter", "token-bucket", "leaky-bucket"]
    for a in algorithms:
        rs = await asyncio.gather(*[redis_rate_limiter.limit("child:" + a, window_ms=3600000, max_requests=3,
                                                             algorithm=a) for _ in range(6)])
        assert sum(r.allowed for r in rs) == 3, (a, rs)
        rate_limit_headers(rs[-1], window_ms=3600000)
    await redis_rate_limiter.token_bucket("child:tb", window_ms=60000, max_requests=10, refill_rate=2)
    await redis_rate_limiter.leaky_bucket("child:lb", window_ms=60000, max_requests=30, leak_rate=0.5)
    await redis_rate_limiter.limit("child:api", **rate_limit_presets.api)
    await redis_rate_limiter.reset("child:api")
    # a call still in flight when the program shuts down
    pending = asyncio.ensure_future(redis_rate_limiter.limit("child:last", window_ms=1000, max_requests=1))
    await pending
    await shutdown_cache_system()
    print("ok")

asyncio.run(main())
"""

SLOW_STEP = re.compile(r"^Executing <.*> took \d+\.\d+ seconds$")


def test_no_warnings_when_the_loop_closes(venv_python: str, child_env: dict[str, str], redis_server: Any,
                                          ns: str) -> None:
    proc = subprocess.run([venv_python, "-X", "dev", "-W", "error", "-c", textwrap.dedent(CHILD), redis_server.url, ns],
                          capture_output=True, text=True, timeout=60, env=child_env, check=False)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.stdout.strip() == "ok"
    assert [line for line in proc.stderr.splitlines() if not SLOW_STEP.match(line)] == [], proc.stderr


async def test_a_huge_cost_is_one_member_and_a_tiny_rate_is_refused(cache: Any) -> None:
    # Issue 19: sliding-log ran one ZADD per unit of cost; a tiny refill rate overflowed the expiry.
    r = await redis_rate_limiter.limit("bulk", window_ms=W, max_requests=20_000_000, algorithm="sliding-log",
                                       cost=10_000_000)
    assert (r.allowed, r.remaining) == (True, 10_000_000)
    assert cache.resp("ZCOUNT", rl_key(cache.ns, "bulk", "sl"), "0", "+inf") == 1, "one member, whatever the cost"
    with pytest.raises(InvalidArgumentError, match="refill_rate is too small|refillRate is too small"):
        await redis_rate_limiter.token_bucket("tiny", window_ms=W, max_requests=5, refill_rate=1e-12)
