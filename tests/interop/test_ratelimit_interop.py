"""Two Node and two Python processes limiting the same identifiers share one exact quota: for every
algorithm, limit N and 3N decisions from 4 processes × 64 concurrent callers ⇒ exactly N allowed,
and the allowed calls saw `remaining` N-1 … 0, each exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ALGORITHMS = ["fixed-window", "sliding-log", "sliding-counter", "token-bucket", "leaky-bucket"]


def test_four_processes_two_languages_share_one_exact_quota(redis_server: Any, ns: str) -> None:
    four_processes_share_one_quota(redis_server.url, ns)


def test_the_same_on_redis_cluster(redis_cluster: Any, ns: str) -> None:
    """The same, on a Redis Cluster (every node a seed of every process)."""
    options = redis_cluster.redis_options(ns)
    del options["namespace"]
    four_processes_share_one_quota(json.dumps(options), ns)


def four_processes_share_one_quota(target: str, ns: str) -> None:
    """Run two Node and two Python peers on ``target`` (a URL or redis options as JSON) and check the quota."""
    if not (HERE.parent.parent / "dist" / "index.mjs").exists():
        pytest.skip("the npm package is not built (dist/index.mjs)")
    limit, per_process = 100, 75  # 4 × 75 = 3N decisions per algorithm
    args = [target, ns, "shared", str(limit), str(per_process)]
    commands = [
        ["node", str(HERE / "ratelimit_peer.mjs"), *args],
        ["node", str(HERE / "ratelimit_peer.mjs"), *args],
        [sys.executable, str(HERE / "ratelimit_peer.py"), *args],
        [sys.executable, str(HERE / "ratelimit_peer.py"), *args],
    ]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    for algorithm in ALGORITHMS:
        remaining = sorted(r for res in results for r in res[algorithm])
        assert len(remaining) == limit, f"{algorithm}: {len(remaining)} allowed of {4 * per_process}, limit {limit}"
        assert remaining == list(range(limit)), f"{algorithm}: remaining must count down N-1 … 0 exactly once each"
