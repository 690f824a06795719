"""The usage guide's "Initialization" and "Basic Operations" in snake_case, as a user would write them.

Checked with ``mypy --strict`` by tests/python/test_types.py (never executed: the hosts are the guide's).
"""

from __future__ import annotations

from typing import Any, Optional

from typing_extensions import assert_type

from stratacache import (
    CacheManager,
    CacheStats,
    InitializeResult,
    RedisClient,
    StrataCacheError,
    cache_manager,
    create_redis_client,
    get_cache_manager,
    initialize_cache_system,
    shutdown_cache_system,
)


# ----- Initialization -------------------------------------------------------------------------------

# app/startup.py
async def main() -> None:
    await initialize_cache_system()
    print("Cache system ready!")


async def custom_configuration() -> None:
    # Custom Redis config
    redis_client = create_redis_client(
        host="redis.example.com",
        port=6380,
        password="my-secret",
        db=1,
        cluster=False,
    )

    # Custom cache config
    manager = get_cache_manager(
        l1_max_size=1000,
        default_ttl=600,
        enable_l1=True,
        enable_l2=True,
    )
    assert_type(redis_client, RedisClient)
    assert_type(manager, CacheManager)
    alive: bool = await redis_client.ping()
    status = await initialize_cache_system(redis={"namespace": "app"}, cache={"l1_max_size": 1000})
    assert_type(status, InitializeResult)
    mode: str = status.redis
    print(alive, mode, status["redis"])
    await shutdown_cache_system()


# ----- Basic Operations -----------------------------------------------------------------------------


async def simple_get_set() -> None:
    # Set value
    await cache_manager.set("greeting", "Hello World", ttl=60)

    # Get value
    greeting: Optional[str] = await cache_manager.get("greeting")
    print(greeting)  # "Hello World"

    # Delete value
    existed = await cache_manager.delete("greeting")
    assert_type(existed, bool)


async def with_tags(ticket_id: int, ticket_data: dict[str, Any]) -> None:
    # Set with tags
    await cache_manager.set(
        f"ticket:{ticket_id}",
        ticket_data,
        ttl=300,
        tags=["tickets", f"ticket:{ticket_id}"],
    )

    # Later: invalidate all tickets
    await cache_manager.invalidate_by_tags(["tickets"])


async def with_compression() -> None:
    large_document: dict[str, Any] = {"rows": [{"id": i} for i in range(1000)]}

    await cache_manager.set(
        "doc:large",
        large_document,
        ttl=3600,
        compress=True,
        compression_threshold=512,  # compress if > 512 bytes
    )

    doc = await cache_manager.get("doc:large")
    # Automatically decompressed
    print(doc)


async def multiple_operations() -> None:
    # Set multiple
    await cache_manager.mset([
        {"key": "user:1", "value": {"name": "Alice"}, "ttl": 300},
        {"key": "user:2", "value": {"name": "Bob"}, "ttl": 300},
        {"key": "user:3", "value": {"name": "Charlie"}, "ttl": 300},
    ])

    # Get multiple
    users = await cache_manager.mget(["user:1", "user:2", "user:3"])
    assert_type(users, dict[str, Any])
    for key, user in users.items():
        print(f"{key}: {user and user['name']}")


async def stats_and_errors() -> None:
    stats = await cache_manager.get_stats()
    assert_type(stats, CacheStats)
    hits: int = stats.l1.hits
    l2_rate: float = stats.l2.hit_rate
    corrupt: int = stats.corrupt_entries
    print(hits, l2_rate, corrupt, stats["l1"]["hit_rate"])
    try:
        await cache_manager.set("bad", {1, 2})
    except StrataCacheError as e:
        code: str = e.code
        print(code)
    except TypeError:
        pass
