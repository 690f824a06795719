"""Result objects: snake_case attributes that also read as mappings (``stats.l1.hits`` or ``stats["l1"]["hits"]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping


class Record(Mapping[str, Any]):
    """An immutable record whose fields read as attributes and as mapping items."""

    __slots__ = ("_data",)
    _data: dict[str, Any]

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    @classmethod
    def _adopt(cls, data: dict[str, Any]) -> Any:
        """A record over ``data`` itself, not a copy (for a fresh dict nobody else holds)."""
        r = cls.__new__(cls)
        object.__setattr__(r, "_data", data)
        return r

    if not TYPE_CHECKING:  # hidden from type checkers: a misspelled field must be an error, not Any

        def __getattr__(self, name: str) -> Any:
            try:
                return self._data[name]
            except KeyError:
                raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"{type(self).__name__}({fields})"

    def to_dict(self) -> dict[str, Any]:
        """A plain (deep) dict copy."""
        return {k: v.to_dict() if isinstance(v, Record) else v for k, v in self._data.items()}


class L1Stats(Record):
    """L1 counters: ``size``, ``max_size``, ``hits``, ``misses``, ``hit_rate`` (percent 0–100)."""

    size: int
    max_size: int
    hits: int
    misses: int
    hit_rate: float


class L2Stats(Record):
    """L2 counters: ``hits``, ``misses``, ``hit_rate`` (percent 0–100), ``errors``."""

    hits: int
    misses: int
    hit_rate: float
    errors: int


class CacheStats(Record):
    """What ``get_stats()`` returns: ``l1``, ``l2`` and ``corrupt_entries``."""

    l1: L1Stats
    l2: L2Stats
    corrupt_entries: int

    @classmethod
    def _from_native(cls, d: Mapping[str, Any]) -> "CacheStats":
        return cls({"l1": L1Stats(d["l1"]), "l2": L2Stats(d["l2"]), "corrupt_entries": d["corrupt_entries"]})


class InitializeResult(Record):
    """What ``initialize_cache_system()`` returns: ``redis`` is ``"connected"`` or ``"degraded"``."""

    redis: str
