"""The usage guide's "Initialization", "Basic Operations", "Cache Patterns" and "Invalidation" in snake_case, as a user would write them.

Checked with ``mypy --strict`` by tests/python/test_types.py (never executed: the hosts are the guide's).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

from typing_extensions import assert_type

from stratacache import (
    CacheManager,
    CacheStats,
    InitializeResult,
    InvalidationEvent,
    NoLoaderError,
    RedisClient,
    StrataCacheError,
    WriteBehindPattern,
    WriteBehindStats,
    cache_aside,
    cache_invalidator,
    cache_manager,
    create_redis_client,
    domain_invalidator,
    get_cache_manager,
    initialize_cache_system,
    read_through,
    session_manager,
    shutdown_cache_system,
    write_behind,
    write_through,
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


# ----- Cache Patterns -------------------------------------------------------------------------------
# (``db`` and ``analytics_db`` stand for the application's own database handles.)


class _Statement:
    def get(self, *params: object) -> Optional[dict[str, Any]]:
        return None

    def all(self, *params: object) -> list[dict[str, Any]]:
        return []

    def run(self, *params: object) -> None:
        return None


class _Db:
    def prepare(self, sql: str) -> _Statement:
        return _Statement()

    async def update_ticket(self, ticket_id: int, updates: dict[str, Any]) -> None:
        return None

    async def reorganize_categories(self) -> None:
        return None


class _AnalyticsDb:
    async def insert(self, data: dict[str, Any]) -> None:
        return None


db = _Db()
analytics_db = _AnalyticsDb()
existing_user: dict[str, Any] = {"id": 1, "name": "Ada", "email": "ada@example.com"}


# Cache-Aside (Most Common)
async def get_user(user_id: int) -> Optional[dict[str, Any]]:
    async def fetch() -> Optional[dict[str, Any]]:
        # Fetch from database
        return db.prepare("SELECT * FROM users WHERE id = ?").get(user_id)

    user: Optional[dict[str, Any]] = await cache_aside.get(
        f"user:{user_id}",
        fetch,
        ttl=300,
        tags=[f"user:{user_id}"],
    )
    return user


async def cache_aside_usage() -> None:
    user = await get_user(123)
    print(user)


# Cache-Aside with Proactive Refresh
async def cache_aside_with_refresh() -> None:
    async def recent_tickets() -> list[dict[str, Any]]:
        return db.prepare("SELECT * FROM tickets ORDER BY created_at DESC LIMIT 50").all()

    # Refresh cache when 20% of TTL remains
    tickets: list[dict[str, Any]] = await cache_aside.get_with_refresh(
        "tickets:recent",
        recent_tickets,
        ttl=300,
        refresh_threshold=0.2,  # Refresh when < 60s remain
        tags=["tickets"],
    )
    print(len(tickets))


# Write-Through
async def update_user(user_id: int, updates: dict[str, Any]) -> None:
    async def write_user(data: dict[str, Any]) -> None:
        # Write to database
        db.prepare("UPDATE users SET name = ?, email = ? WHERE id = ?").run(data["name"], data["email"], user_id)

    await write_through.write(
        f"user:{user_id}",
        {**existing_user, **updates},
        write_user,
        ttl=300,
        tags=[f"user:{user_id}"],
    )


# Write-Behind (Async)

# Create write-behind instance
analytics_cache = WriteBehindPattern(
    None,
    flush_interval_ms=5000,  # Flush every 5 seconds
    max_retries=3,
    batch_size=10,
)


# Log analytics event
async def track_event(event: dict[str, Any]) -> None:
    async def insert(data: dict[str, Any]) -> None:
        # Async write to analytics DB
        await analytics_db.insert(data)

    await analytics_cache.write(f"event:{event['id']}", event, insert, ttl=60)


async def write_behind_usage() -> None:
    # Events are cached immediately, written to DB asynchronously
    await track_event({"id": "123", "type": "page_view", "page": "/home"})
    written = await analytics_cache.flush()
    assert_type(written, int)
    stats = analytics_cache.stats()
    assert_type(stats, WriteBehindStats)
    pending: int = stats.pending
    print(pending, stats["failed"])

    def on_error(error: BaseException, key: str, value: Any) -> None:
        print("gave up", key, error)

    dead_letters = WriteBehindPattern(None, flush_interval_ms=1000, on_error=on_error)
    await dead_letters.write("event:1", {"id": 1}, insert_sync)
    await write_behind.write("event:2", {"id": 2}, insert_sync)


def insert_sync(data: dict[str, Any]) -> None:
    print(data)


# Read-Through
async def read_through_usage() -> None:
    # Register loaders
    async def load_user(key: str) -> Optional[dict[str, Any]]:
        user_id = key.split(":")[1]
        return db.prepare("SELECT * FROM users WHERE id = ?").get(user_id)

    async def load_ticket(key: str) -> Optional[dict[str, Any]]:
        ticket_id = key.split(":")[1]
        return db.prepare("SELECT * FROM tickets WHERE id = ?").get(ticket_id)

    read_through.register_loader("user:*", load_user)
    read_through.register_loader("ticket:*", load_ticket)

    # Read (cache handles loading)
    user = await read_through.read("user:123", ttl=300)
    ticket = await read_through.read("ticket:456", ttl=180)
    print(user, ticket)
    try:
        await read_through.read("order:1")
    except NoLoaderError as e:
        code: str = e.code
        print(code)


# ----- Invalidation ---------------------------------------------------------------------------------


# Automatic Invalidation on Updates
async def update_ticket(ticket_id: int, updates: dict[str, Any]) -> None:
    # Update database
    await db.update_ticket(ticket_id, updates)

    # Invalidate cache (across all instances)
    await domain_invalidator.invalidate_ticket(ticket_id)


async def refresh_user_analytics() -> None:
    return None


# Event-Based Invalidation
def event_based_invalidation() -> None:
    # Listen for invalidation events
    async def on_event(event: InvalidationEvent) -> None:
        print("Cache invalidated:", event.type, event.target)

        # Trigger custom logic
        if event.type == "tag" and "users" in event.target:
            await refresh_user_analytics()

    unsubscribe = cache_invalidator.on_invalidation(on_event)
    assert_type(unsubscribe, Callable[[], None])

    # A plain function works too; the event reads as attributes or as a mapping
    def log_event(event: InvalidationEvent) -> None:
        timestamp: int = event.timestamp
        local: bool = event.local
        source: str = event.source
        targets: list[str] = event.target
        print(timestamp, local, source, targets, event["type"])

    stop_logging = cache_invalidator.on_invalidation(log_event)
    unsubscribe()
    stop_logging()


# Complex Invalidation
async def reorganize_categories() -> None:
    # Update categories
    await db.reorganize_categories()

    # Invalidate related caches
    await asyncio.gather(
        cache_invalidator.invalidate_tags(["categories"]),
        cache_invalidator.invalidate_pattern("ticket:*"),
        cache_invalidator.invalidate_keys(["dashboard:metrics"]),
    )


async def domain_rules() -> None:
    def order_rule(order_id: str) -> dict[str, list[str]]:
        return {"keys": [f"order:{order_id}"], "tags": [f"order:{order_id}"], "patterns": [f"order:{order_id}:*"]}

    async def invoice_rule(invoice_id: str) -> dict[str, list[str]]:
        return {"tags": [f"invoice:{invoice_id}"]}

    domain_invalidator.register("order", order_rule)
    domain_invalidator.register("invoice", invoice_rule)
    targets = await domain_invalidator.invalidate("order", 42)
    keys: list[str] = targets["keys"]
    removed: int = await cache_invalidator.invalidate_pattern("session:*")
    deleted: int = await cache_invalidator.invalidate_keys(["user:1", "user:2"])
    await domain_invalidator.invalidate_user(1)
    await domain_invalidator.invalidate_product("sku-9")
    await domain_invalidator.invalidate_category(3)
    print(keys, removed, deleted)


# ----- Session Management (snake_case twin) ------------------------------------------------------------

class Request:
    ip: str = "127.0.0.1"
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}


async def handle_login(req: Request, user_id: int, tenant_id: int) -> dict[str, Any]:
    created = await session_manager.create_session({
        "user_id": user_id,
        "tenant_id": tenant_id,
        "role": "user",
        "email": "user@example.com",
        "ip_address": req.ip,
        "user_agent": req.headers.get("user-agent", ""),
    }, ttl=86400, max_devices=5)
    session_id: str = created.session_id
    return {"session_id": session_id, "user_id": created.session.user_id}


async def authenticate(req: Request) -> Optional[dict[str, Any]]:
    session_id = req.cookies.get("sessionId")
    if not session_id:
        return None
    session = await session_manager.get_session(
        session_id, validate_ip=req.ip, validate_user_agent=req.headers.get("user-agent"))
    if session is None:
        return None
    await session_manager.touch_session(session_id)
    return {"id": session.user_id, "role": session.role}


async def logout_everywhere(session_id: str, user_id: int, device_id: str) -> int:
    await session_manager.delete_session(session_id)
    sessions = await session_manager.get_user_sessions(user_id)
    for s in sessions:
        print(f"- Device: {s.device_id} last activity {s.last_activity} IP {s.ip_address}")
    target = next((s for s in sessions if s.device_id == device_id), None)
    if target is not None:
        await session_manager.delete_session(target.session_id)
    stats = await session_manager.get_stats()
    assert_type(stats.total_sessions, int)
    return await session_manager.delete_user_sessions(user_id)
