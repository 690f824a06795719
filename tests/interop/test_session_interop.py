"""A session created by Node is valid in Python (read, touched, deleted), and the other way round."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stratacache import session_manager

HERE = Path(__file__).resolve().parent
PEER = HERE / "session_peer.mjs"


def node(cache: Any, *args: str) -> Any:
    if not (HERE.parent.parent / "dist" / "index.mjs").exists():
        pytest.skip("the npm package is not built (dist/index.mjs)")
    proc = subprocess.run(["node", str(PEER), cache.url, cache.ns, *args], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


async def test_node_session_read_touched_deleted_in_python(cache: Any) -> None:
    created = node(cache, "create", "77")
    sid = created["sessionId"]
    s = await session_manager.get_session(sid, validate_ip="10.0.0.1", validate_user_agent="node")
    assert s is not None and s.user_id == 77 and s.data == {"from": "node"}
    assert await session_manager.touch_session(sid) is True
    assert len(await session_manager.get_user_sessions(77)) == 1
    assert await session_manager.delete_session(sid) is True
    assert node(cache, "get", sid) is None


async def test_python_session_read_in_node(cache: Any) -> None:
    created = await session_manager.create_session(
        {"user_id": 78, "role": "user", "ip_address": "10.0.0.2", "user_agent": "py"}, ttl=600, max_devices=5)
    got = node(cache, "get", created.session_id)
    assert got["userId"] == 78 and got["ipAddress"] == "10.0.0.2" and got["sessionId"] == created.session_id
