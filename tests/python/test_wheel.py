"""The built wheel installs into a fresh virtualenv (no index, no source tree) and works against Redis;
its extension module is a release build; the sdist builds a working wheel from source with maturin.

The wheel comes from target/wheels/ (``./dev build`` / ``./dev test`` put it there before running
pytest); the test is skipped when there is none. ``STRATACACHE_WHEEL_DIR`` points it elsewhere.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
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


def elf_section_names(data: bytes) -> list[str]:
    """The section names of an ELF64 little-endian file, read from its section headers."""
    assert data[:4] == b"\x7fELF", "not an ELF file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    strtab, = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)
    names = []
    for i in range(shnum):
        start = strtab + struct.unpack_from("<I", data, shoff + i * shentsize)[0]
        names.append(data[start:data.index(b"\0", start)].decode("latin-1"))
    return names


def install_and_run(wheel: Path, tmp_path: Path, url: str, ns: str, env: dict[str, str]) -> tuple[Path, dict[str, Any]]:
    """Install ``wheel`` into a fresh venv under ``tmp_path`` (no index) and run SCRIPT with it."""
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    venv = tmp_path / "venv"
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True, timeout=120, env=env, capture_output=True)
    py = venv / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "--no-cache-dir", "-q",
         str(wheel)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run(
        [str(py), "-X", "dev", "-W", "error", "-c", textwrap.dedent(SCRIPT), url, ns],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""
    return py, json.loads(run.stdout)


def test_the_wheel_is_a_release_build() -> None:
    wheel = newest_wheel()
    if wheel is None:
        pytest.skip(f"no stratacache wheel in {WHEEL_DIR}")
    with zipfile.ZipFile(wheel) as z:
        [module] = [i for i in z.infolist() if i.filename.endswith(".so")]
        data = z.read(module)
    assert module.filename == "stratacache/_native.abi3.so", "an abi3 extension module"
    assert len(data) < 10 * 1024 * 1024, f"the extension module is {len(data) / 1048576:.1f} MB (a debug build is ~70 MB)"
    names = elf_section_names(data)
    assert ".text" in names
    assert [n for n in names if n.startswith(".debug") or n == ".symtab"] == [], "debug info or a symbol table was shipped"
    assert "-abi3-" in wheel.name


def test_the_sdist_builds_a_working_wheel_from_source(tmp_path: Path, redis_server: Any, ns: str,
                                                      child_env: dict[str, str]) -> None:
    """``maturin sdist``, then a wheel built from that sdist alone (release, as pip builds it), installed
    into a fresh venv: it works. The build reuses the repository's target directory, so it is quick."""
    maturin = REPO / ".venv" / "bin" / "maturin"
    if not maturin.exists():
        pytest.skip("no maturin in .venv (./dev deps installs it)")
    env = {k: v for k, v in child_env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["CARGO_TARGET_DIR"] = str(REPO / "target")
    sdist_dir = tmp_path / "sdist"
    made = subprocess.run([str(maturin), "sdist", "--out", str(sdist_dir)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    [sdist] = list(sdist_dir.glob("stratacache-*.tar.gz"))
    with tarfile.open(sdist) as t:
        names = t.getnames()
    top = names[0].split("/")[0]
    for needed in ("pyproject.toml", "Cargo.toml", "Cargo.lock", "core/Cargo.toml", "core/src/lib.rs",
                   "bindings-python/src/lib.rs", "bindings-python/python/stratacache/__init__.py"):
        assert f"{top}/{needed}" in names, f"{needed} missing from the sdist"
    assert not [n for n in names if "/target/" in n or "/node_modules/" in n or n.endswith(".node")]
    # Build from the unpacked sdist only (not the repository), as `pip install <sdist>` would.
    src = tmp_path / "src"
    with tarfile.open(sdist) as t:
        t.extractall(src, filter="data")
    # The sdist's files carry fixed old mtimes; with the shared target directory cargo would take an
    # earlier build of these crates as fresh. Touched now, the two crates are rebuilt (their
    # dependencies are still reused), so the wheel is built from exactly these sources.
    for f in src.rglob("*"):
        if f.is_file():
            os.utime(f)
    wheels = tmp_path / "wheels"
    built = subprocess.run([str(maturin), "build", "--release", "--out", str(wheels)], cwd=src / top, env=env,
                           capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = list(wheels.glob("stratacache-*.whl"))
    _, out = install_and_run(wheel, tmp_path, redis_server.url, ns, env)
    assert out["greeting"] == "Hello World" and out["after_invalidate"] is None


def newest_wheel() -> Path | None:
    wheels = sorted(WHEEL_DIR.glob("stratacache-*.whl"), key=lambda p: p.stat().st_mtime)
    return wheels[-1] if wheels else None


def test_wheel_installs_and_works(tmp_path: Path, redis_server: Any, resp: Any, ns: str,
                                  child_env: dict[str, str]) -> None:
    wheel = newest_wheel()
    if wheel is None:
        pytest.skip(f"no stratacache wheel in {WHEEL_DIR} (build one with `./dev build`; `./dev test` does)")

    env = {k: v for k, v in child_env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    py, out = install_and_run(wheel, tmp_path, redis_server.url, ns, env)
    venv = py.parent.parent
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
