"""``cache_metrics``: the health check, the metrics report and the Prometheus exposition of the
process's cache system. Everything is measured and assembled in the Rust core; this file wraps the
dicts it hands over in records (snake_case attributes, also readable as mappings; ``to_dict()`` for
``json.dumps``)."""

from __future__ import annotations

from typing import Any, Mapping

from ._handle import call, current
from ._records import Record

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The ``Content-Type`` of :meth:`CacheMetrics.get_prometheus_metrics`'s text."""


class Section(Record):
    """A part of a report (``report.checks.redis``, ``metrics.latency.get``, …). Its fields win over
    the mapping methods of the same name: ``metrics.latency.get`` is the get latency (use
    ``section["get"]`` or ``to_dict()`` for the mapping view)."""

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_"):
            data = object.__getattribute__(self, "_data")
            if name in data:
                return data[name]
        return object.__getattribute__(self, name)


class LatencySummary(Section):
    """A latency distribution in ms: ``count``, ``avg``, ``p50``, ``p95``, ``p99``, ``max``
    (quantiles within 3 %; zeros before any sample)."""

    count: int
    avg: float
    p50: float
    p95: float
    p99: float
    max: float


class Latencies(Section):
    """``get`` and ``set`` latency summaries."""

    get: LatencySummary  # type: ignore[assignment]  # the field, not Mapping.get
    set: LatencySummary


def _records(v: Any) -> Any:
    if isinstance(v, Mapping):
        return Section({k: _records(x) for k, x in v.items()})
    if isinstance(v, list):
        return [_records(x) for x in v]
    return v


class HealthReport(Record):
    """What ``health_check()`` returns: ``status`` (``"healthy"``, ``"degraded"``: serving without
    Redis or without a live invalidation bus, ``"unhealthy"``: cannot serve), ``checks`` (``redis``,
    ``l1``, ``bus``) and ``timestamp`` (epoch ms)."""

    status: str
    checks: Section
    timestamp: int


class MetricsReport(Record):
    """What ``get_metrics_json()`` returns: ``hit_rate`` (``total``, ``l1``, ``l2``; percent 0–100),
    ``latency`` (``get``, ``set``: ``count``, ``avg``, ``p50``, ``p95``, ``p99``, ``max`` in ms),
    ``health`` (``status``, ``uptime`` in ms), ``operations``, ``errors``, ``redis``, ``l1``, ``bus``,
    ``cache_aside``, ``write_behind``, ``rate_limit``, ``sessions``, ``warming``,
    ``invalidations``, ``namespace``, ``enabled``, ``timestamp``."""

    namespace: str
    enabled: bool
    timestamp: int
    hit_rate: Section
    latency: Latencies
    health: Section
    operations: Section
    errors: Section
    redis: Section
    l1: Section
    bus: Section
    cache_aside: Section
    write_behind: Section
    rate_limit: Section
    sessions: Section
    warming: Section
    invalidations: Section


def _wrap(cls: type, d: Mapping[str, Any]) -> Any:
    return cls({k: _records(v) for k, v in d.items()})


class CacheMetrics:
    """Health, metrics and Prometheus exposition of the process's cache system."""

    async def health_check(self) -> HealthReport:
        """Check health now: one PING (bounded to 1 s), the bus and L1."""
        r: HealthReport = _wrap(HealthReport, await call("health_check"))
        return r

    async def get_metrics_json(self) -> MetricsReport:
        """Every counter and latency now."""
        d = current().metrics_json()
        r: MetricsReport = _wrap(MetricsReport, d)
        latency = d["latency"]
        return MetricsReport({**r, "latency": Latencies({k: LatencySummary(v) for k, v in latency.items()})})

    async def get_prometheus_metrics(self) -> str:
        """The Prometheus text exposition now: names prefixed ``stratacache_``, latencies as histograms."""
        text: str = current().prometheus_metrics()
        return text


cache_metrics = CacheMetrics()
"""The process-wide ``cache_metrics``."""
