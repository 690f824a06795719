"""``session_manager``: sessions with a per-user index, a device cap, IP/user-agent binding, sliding
expiry and logout everywhere. Ids come from the OS CSPRNG (128 bits, URL-safe); Redis stores only
their hashes. Everything happens in the core; this file converts (snake_case in, snake_case out).
"""

from __future__ import annotations

from typing import Any, Awaitable, Mapping, Optional, Union

from ._records import Record
from ._handle import call
from .errors import InvalidArgumentError

# Stored field name (shared with Node) → Python attribute.
_TO_SNAKE = {
    "sessionId": "session_id",
    "userId": "user_id",
    "tenantId": "tenant_id",
    "role": "role",
    "email": "email",
    "ipAddress": "ip_address",
    "userAgent": "user_agent",
    "deviceId": "device_id",
    "data": "data",
    "createdAt": "created_at",
    "lastActivity": "last_activity",
    "expiresAt": "expires_at",
}


class Session(Record):
    """A stored session (timestamps in epoch ms, Redis's clock). ``session_id`` is the id from
    ``create_session``/``get_session``, or a handle ``delete_session`` accepts (``get_user_sessions``)."""

    session_id: str
    user_id: Union[str, int]
    tenant_id: Any
    role: str
    email: str
    ip_address: str
    user_agent: str
    device_id: str
    data: Any
    created_at: int
    last_activity: int
    expires_at: int

    @classmethod
    def _from_stored(cls, d: Mapping[str, Any]) -> "Session":
        return cls({_TO_SNAKE.get(k, k): v for k, v in d.items()})


class CreatedSession(Record):
    """What ``create_session`` returns: ``session_id`` and ``session``."""

    session_id: str
    session: Session


class SessionStats(Record):
    """``total_sessions``, ``sessions_by_user`` (dict user id → count), ``validation_failures``."""

    total_sessions: int
    sessions_by_user: dict[str, int]
    validation_failures: int


async def _created(fut: Awaitable[Any]) -> CreatedSession:
    r = await fut
    return CreatedSession({"session_id": r["sessionId"], "session": Session._from_stored(r["session"])})


async def _one(fut: Awaitable[Any]) -> Optional[Session]:
    r = await fut
    return None if r is None else Session._from_stored(r)


async def _many(fut: Awaitable[Any]) -> list[Session]:
    return [Session._from_stored(s) for s in await fut]


async def _stats(fut: Awaitable[Any]) -> SessionStats:
    r = await fut
    return SessionStats(
        {"total_sessions": r["totalSessions"], "sessions_by_user": dict(r["sessionsByUser"]), "validation_failures": r["validationFailures"]}
    )


def _id(session_id: Any) -> str:
    if not isinstance(session_id, str):
        raise InvalidArgumentError(f"session_id must be a str, got {type(session_id).__name__}")
    return session_id


class SessionManager:
    """The session manager. Use the ``session_manager`` singleton."""

    def create_session(
        self, data: Mapping[str, Any], *, ttl: Optional[float] = None, max_devices: Optional[int] = None
    ) -> Awaitable[CreatedSession]:
        """Create a session from ``{"user_id", "tenant_id", "role", "email", "ip_address", "user_agent",
        "device_id"?, "data"?}``; past ``max_devices`` the least recently active one is evicted, atomically."""
        options = {k: v for k, v in {"ttl": ttl, "max_devices": max_devices}.items() if v is not None}
        return _created(call("create_session", dict(data), options or None))

    def get_session(
        self, session_id: str, *, validate_ip: Optional[str] = None, validate_user_agent: Optional[str] = None
    ) -> Awaitable[Optional[Session]]:
        """The session, or ``None`` (unknown, expired, malformed id, or an IP / user-agent mismatch)."""
        options = {k: v for k, v in {"validate_ip": validate_ip, "validate_user_agent": validate_user_agent}.items() if v is not None}
        return _one(call("get_session", _id(session_id), options or None))

    def touch_session(self, session_id: str) -> Awaitable[bool]:
        """Record activity and slide the expiry; ``True`` if the session exists."""
        return call("touch_session", _id(session_id))

    def delete_session(self, session_id: str) -> Awaitable[bool]:
        """Delete a session (by id, or by the handle ``get_user_sessions`` returned)."""
        return call("delete_session", _id(session_id))

    def delete_user_sessions(self, user_id: Union[str, int]) -> Awaitable[int]:
        """Log a user out everywhere; returns how many sessions were deleted."""
        return call("delete_user_sessions", user_id)

    def get_user_sessions(self, user_id: Union[str, int]) -> Awaitable[list[Session]]:
        """A user's live sessions, most recently active first."""
        return _many(call("get_user_sessions", user_id))

    def get_stats(self) -> Awaitable[SessionStats]:
        """Live sessions in total and per user."""
        return _stats(call("session_stats"))


session_manager = SessionManager()
"""The process-wide session manager."""
