"""Sessions in Python: the guide's Session Management in snake_case (login, middleware, logout,
multi-device), the device cap under concurrency, binding, sliding expiry, and what Redis stores."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from stratacache import InvalidArgumentError, session_manager

REQ_IP = "203.0.113.7"
REQ_UA = "Mozilla/5.0 test"


async def login(user_id: Any, ttl: float = 86400, max_devices: int = 5) -> Any:
    return await session_manager.create_session(
        {"user_id": user_id, "tenant_id": 10, "role": "user", "email": "user@example.com",
         "ip_address": REQ_IP, "user_agent": REQ_UA},
        ttl=ttl, max_devices=max_devices,
    )


async def test_create_and_get_with_binding(cache: Any) -> None:
    created = await login(1)
    assert re.fullmatch(r"[0-9a-f]{8}\.[A-Za-z0-9_-]{22}", created.session_id)
    s = created.session
    assert (s.session_id, s.user_id, s.role, s.ip_address) == (created.session_id, 1, "user", REQ_IP)
    assert s.expires_at - s.created_at == 86_400_000
    assert s["user_agent"] == REQ_UA  # records read as mappings too
    got = await session_manager.get_session(created.session_id, validate_ip=REQ_IP, validate_user_agent=REQ_UA)
    assert got is not None and got.email == "user@example.com"
    before = (await session_manager.get_stats()).validation_failures
    assert await session_manager.get_session(created.session_id, validate_ip="198.51.100.1") is None
    assert await session_manager.get_session(created.session_id, validate_user_agent="curl/8") is None
    assert (await session_manager.get_stats()).validation_failures - before == 2


async def test_touch_slides_the_expiry(cache: Any) -> None:
    created = await login(2, ttl=1)
    await asyncio.sleep(0.6)
    assert await session_manager.touch_session(created.session_id) is True
    await asyncio.sleep(0.6)
    s = await session_manager.get_session(created.session_id)
    assert s is not None and s.last_activity > created.session.last_activity


async def test_data_logout_one_and_all(cache: Any) -> None:
    created = await session_manager.create_session(
        {"user_id": "u-3", "role": "admin", "data": {"theme": "dark", "n": [1, 2]}}, ttl=60, max_devices=5)
    assert (await session_manager.get_session(created.session_id)).data == {"theme": "dark", "n": [1, 2]}  # type: ignore[union-attr]
    await session_manager.create_session({"user_id": "u-3"}, ttl=60)
    assert await session_manager.delete_session(created.session_id) is True
    assert await session_manager.get_session(created.session_id) is None
    assert await session_manager.delete_user_sessions("u-3") == 1
    assert await session_manager.get_user_sessions("u-3") == []


async def test_multi_device_listing_and_handles(cache: Any) -> None:
    ids = [(await login(4)).session_id for _ in range(3)]
    await session_manager.touch_session(ids[0])
    sessions = await session_manager.get_user_sessions(4)
    assert len(sessions) == 3
    assert [s.last_activity for s in sessions] == sorted((s.last_activity for s in sessions), reverse=True)
    handle = sessions[1].session_id
    assert await session_manager.get_session(handle) is None, "a listed handle is not a usable id"
    assert await session_manager.delete_session(handle) is True
    assert len(await session_manager.get_user_sessions(4)) == 2


async def test_twenty_concurrent_logins_leave_five(cache: Any) -> None:
    created = await asyncio.gather(*[login(5) for _ in range(20)])
    assert len({c.session_id for c in created}) == 20
    assert len(await session_manager.get_user_sessions(5)) == 5
    alive = [c for c in created if await session_manager.get_session(c.session_id) is not None]
    assert len(alive) == 5
    assert (await session_manager.get_stats()).sessions_by_user["5"] == 5


async def test_no_raw_id_in_redis(cache: Any) -> None:
    created = await login(6)
    secret = created.session_id.split(".")[1].encode()
    keys = cache.resp("KEYS", f"{cache.ns}:*")
    assert keys
    for k in keys:
        assert secret not in k
        if cache.resp("TYPE", k) in (b"hash", "hash"):
            assert all(secret not in v for v in cache.resp("HGETALL", k))


async def test_forged_ids_and_bad_input(cache: Any) -> None:
    for forged in ["", "nope", "zzzzzzzz.AAAAAAAAAAAAAAAAAAAAAA", "12345678.AAAAAAAAAAAAAAAAAAAAAA"]:
        assert await session_manager.get_session(forged) is None
        assert await session_manager.touch_session(forged) is False
        assert await session_manager.delete_session(forged) is False
    with pytest.raises(InvalidArgumentError, match="user_?[iI]d"):
        await session_manager.create_session({"role": "x"}, ttl=60)
    with pytest.raises(InvalidArgumentError, match="max_devices must be a whole number >= 1, got 0"):
        await session_manager.create_session({"user_id": 1}, max_devices=0)
    with pytest.raises(InvalidArgumentError, match="ttl must be > 0, got -5"):
        await session_manager.create_session({"user_id": 1}, ttl=-5)
    with pytest.raises(InvalidArgumentError):
        await session_manager.get_session(42)  # type: ignore[arg-type]


async def test_the_user_tag_is_keyed_not_a_hash_of_the_user_id(cache: Any) -> None:
    import hashlib

    first = await login(12345)
    second = await login(12345)
    assert first.session_id[:8] == second.session_id[:8], "one user, one tag (one Cluster slot)"
    assert first.session_id[:8] != hashlib.sha256(b"12345").hexdigest()[:8], "not SHA-256 of the user id"
    assert len(cache.resp("GET", f"{cache.ns}:sk")) == 32  # the namespace's secret, made once
