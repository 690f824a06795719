"""The README's fail-safe and Cache-Status lines (contract §9) in snake_case. Checked with
``mypy --strict`` by tests/python/test_types.py (never executed: ``load_price`` and ``headers`` are
stand-ins); the behaviour runs in tests/python/test_fail_safe.py.
"""

from __future__ import annotations

from typing import Any

from stratacache import ResultMeta, cache_aside, cache_status_header


async def load_price() -> dict[str, Any]:
    return {"amount": 9.99, "currency": "EUR"}


async def handler(sku: str, headers: dict[str, str]) -> Any:
    price = await cache_aside.get_with_meta(f"price:{sku}", load_price, ttl=60, fail_safe=True,
                                            fail_safe_max_duration=3600, fail_safe_throttle=30, soft_timeout_ms=100)
    headers["Cache-Status"] = cache_status_header(price)
    meta: ResultMeta = price

    async def batch(keys: list[str]) -> dict[str, Any]:
        return {k: 1 for k in keys}

    many = await cache_aside.get_many(["a", "b"], batch, ttl=60, fail_safe=True, hard_timeout_ms=200)
    value = await cache_aside.get(f"price:{sku}", load_price, ttl=60, fail_safe=True, soft_timeout_ms=50)
    return meta.value, meta.status, many, value
