"""The built wheel installs into a fresh virtualenv (no index, no source tree) and works against Redis.

The wheel comes from target/wheels/ (``./dev build`` / ``./dev test`` put it there before running
pytest); the test is skipped when there is none. ``STRATACACHE_WHEEL_DIR`` points it elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
WHEEL_DIR = Path(os.environ.get("STRATACACHE_WHEEL_DIR", REPO / "target" / "wheels"))

SCRIPT = """
import asyncio, json, sys
import stratacache
from stratacache import cache_manager, create_redis_client, initialize_cache_system, shutdown_cache_system

async def main():
    create_redis_client(url=sys.argv[1], namespace=sys.argv[2])
    status = await initialize_cache_system()
    await cache_manager.set("greeting", "Hello World", ttl=60)
    await cache_manager.set("doc", {"rows": list(range(500))}, ttl=60, compress=True, compression_threshold=64,
                            tags=["docs"])
    await cache_manager.mset([{"key": "user:1", "value": {"name": "Alice"}}])
    out = {
        "file": stratacache.__file__,
        "status": status.redis,
        "greeting": await cache_manager.get("greeting"),
        "rows": len((await cache_manager.get("doc"))["rows"]),
        "users": await cache_manager.mget(["user:1", "user:2"]),
    }
    await cache_manager.invalidate_by_tags(["docs"])
    out["after_invalidate"] = await cache_manager.get("doc")
    await shutdown_cache_system()
    print(json.dumps(out))

asyncio.run(main())
"""


def newest_wheel() -> Path | None:
    wheels = sorted(WHEEL_DIR.glob("stratacache-*.whl"), key=lambda p: p.stat().st_mtime)
    return wheels[-1] if wheels else None


def test_wheel_installs_and_works(tmp_path: Path, redis_server: Any, resp: Any, ns: str,
                                  child_env: dict[str, str]) -> None:
    wheel = newest_wheel()
    if wheel is None:
        pytest.skip(f"no stratacache wheel in {WHEEL_DIR} (build one with `./dev build`; `./dev test` does)")

    base_python = getattr(sys, "_base_executable", None) or sys.executable
    venv = tmp_path / "venv"
    env = {k: v for k, v in child_env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True, timeout=120, env=env,
                   capture_output=True)
    py = venv / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "--no-cache-dir", "-q",
         str(wheel)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    run = subprocess.run(
        [str(py), "-X", "dev", "-W", "error", "-c", textwrap.dedent(SCRIPT), redis_server.url, ns],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""
    out = json.loads(run.stdout)
    assert Path(out["file"]).resolve().is_relative_to(venv.resolve()), out["file"]  # the wheel, not the tree
    assert out["status"] == "connected"
    assert out["greeting"] == "Hello World"
    assert out["rows"] == 500
    assert out["users"] == {"user:1": {"name": "Alice"}, "user:2": None}
    assert out["after_invalidate"] is None
    assert resp("EXISTS", f"{ns}:d:greeting") == 1  # it really went through our Redis
    # the wheel ships the typing files
    site = subprocess.run([str(py), "-c", "import stratacache, os; print(os.path.dirname(stratacache.__file__))"],
                          capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path, check=True).stdout.strip()
    assert (Path(site) / "py.typed").exists()
    assert (Path(site) / "_native.pyi").exists()
