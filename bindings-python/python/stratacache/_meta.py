"""Result metadata (contract §9): what ``get_with_meta`` returns, and ``cache_status_header``, the
RFC 9211 ``Cache-Status`` field value. Built in the core; this file wraps and converts."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from . import _native
from .errors import InvalidArgumentError


ResultMeta = _native.ResultMeta
"""A read's ``value`` with its metadata: ``status`` (``"hit"``, ``"miss"`` or ``"stale"``), ``tier``
(``"l1"``, ``"l2"``, ``"loader"`` or ``None``), ``age_ms`` and ``ttl_ms`` (``None`` without a cached
value), ``tags``, and ``stored`` (this read stored what the loader returned). Attributes, and a
read-only mapping with the same keys (``meta["status"]``, ``dict(meta)``, ``to_dict()``). A native
class: an L1 hit's metadata costs one small allocation."""
Mapping.register(ResultMeta)


def cache_status_header(meta: "Mapping[str, Any] | ResultMeta", *, name: str = "stratacache") -> str:
    """The RFC 9211 ``Cache-Status`` field value of a read: ``stratacache; hit; ttl=42``,
    ``stratacache; fwd=miss; stored``, ``stratacache; fwd=miss``, ``stratacache; hit; fwd=stale``.
    ``name`` must be a token."""
    if not isinstance(meta, Mapping):
        raise InvalidArgumentError(f"cache_status_header expects what get_with_meta returned, got {type(meta).__name__}")
    if not isinstance(name, str):
        raise InvalidArgumentError(f"name must be a str, got {type(name).__name__} {name!r}")
    ttl = meta.get("ttl_ms")
    return _native.cache_status_header(str(meta.get("status")), float(ttl) if isinstance(ttl, (int, float)) else None, meta.get("stored") is True, name)
