"""Result metadata (contract §9): what ``get_with_meta`` returns, and ``cache_status_header``, the
RFC 9211 ``Cache-Status`` field value. Built in the core; this file wraps and converts."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from . import _native
from ._records import Record
from .errors import InvalidArgumentError


class ResultMeta(Record):
    """A read's ``value`` with its metadata: ``status`` (``"hit"``, ``"miss"`` or ``"stale"``),
    ``tier`` (``"l1"``, ``"l2"``, ``"loader"`` or ``None``), ``age_ms`` and ``ttl_ms`` (``None``
    without a cached value), ``tags``, and ``stored`` (this read stored what the loader returned)."""

    # Properties, not the record's generic attribute fallback: reading ``meta.value`` on an L1 hit is
    # on the hot path, and a class-level descriptor is found without a failed lookup first.
    __slots__ = ()

    @property
    def value(self) -> Any:
        """The value (``None`` without one)."""
        return self._data["value"]

    @property
    def status(self) -> str:
        """``"hit"``, ``"miss"`` or ``"stale"``."""
        return self._data["status"]  # type: ignore[no-any-return]

    @property
    def tier(self) -> Optional[str]:
        """``"l1"``, ``"l2"``, ``"loader"``, or ``None`` for a miss without a loader."""
        return self._data["tier"]  # type: ignore[no-any-return]

    @property
    def age_ms(self) -> Optional[int]:
        """Milliseconds since the value was written."""
        return self._data["age_ms"]  # type: ignore[no-any-return]

    @property
    def ttl_ms(self) -> Optional[int]:
        """Milliseconds until its logical expiry (0 for a stale value)."""
        return self._data["ttl_ms"]  # type: ignore[no-any-return]

    @property
    def tags(self) -> list[str]:
        """Its tags."""
        return self._data["tags"]  # type: ignore[no-any-return]

    @property
    def stored(self) -> bool:
        """Whether this read stored what the loader returned."""
        return self._data["stored"]  # type: ignore[no-any-return]


def cache_status_header(meta: Mapping[str, Any], *, name: str = "stratacache") -> str:
    """The RFC 9211 ``Cache-Status`` field value of a read: ``stratacache; hit; ttl=42``,
    ``stratacache; fwd=miss; stored``, ``stratacache; fwd=miss``, ``stratacache; hit; fwd=stale``.
    ``name`` must be a token."""
    if not isinstance(meta, Mapping):
        raise InvalidArgumentError(f"cache_status_header expects what get_with_meta returned, got {type(meta).__name__}")
    if not isinstance(name, str):
        raise InvalidArgumentError(f"name must be a str, got {type(name).__name__} {name!r}")
    ttl = meta.get("ttl_ms")
    return _native.cache_status_header(str(meta.get("status")), float(ttl) if isinstance(ttl, (int, float)) else None, meta.get("stored") is True, name)
