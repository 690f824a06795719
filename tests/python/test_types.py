"""Static typing: the guide's examples pass ``mypy --strict``, misuses are rejected, and the native
module's stub matches the runtime (``mypy.stubtest``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[2]
TYPING = Path(__file__).resolve().parent / "typing"


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def mypy(venv_python: str, cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_python, "-m", "mypy", "--strict", "--no-color-output", "--no-error-summary", "--show-error-codes",
         "--cache-dir", str(cache_dir), *args],
        capture_output=True, text=True, timeout=180, cwd=REPO, check=False,
    )


def test_guide_examples_pass_mypy_strict(venv_python: str, mypy_cache: Path) -> None:
    proc = mypy(venv_python, mypy_cache, *sorted(str(p) for p in TYPING.glob("guide_examples*.py")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in proc.stdout


def test_misuses_are_rejected(venv_python: str, mypy_cache: Path) -> None:
    source = (TYPING / "misuse.py").read_text("utf-8")
    assert "type: ignore" not in source
    expected: dict[int, str] = {}
    for n, line in enumerate(source.splitlines(), start=1):
        m = re.search(r"#\s*expect-error:\s*([a-z-]+)", line)
        if m:
            expected[n] = m.group(1)
    assert len(expected) >= 15

    proc = mypy(venv_python, mypy_cache, str(TYPING / "misuse.py"))
    assert proc.returncode != 0, proc.stdout
    reported: dict[int, set[str]] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r".*misuse\.py:(\d+): error: .*\[([a-z-]+)\]$", line)
        if m:
            reported.setdefault(int(m.group(1)), set()).add(m.group(2))
        else:
            assert ": note:" in line or not line.strip(), line  # errors in other files are failures too
    assert set(reported) == set(expected), {"missed": sorted(set(expected) - set(reported)),
                                            "unexpected": sorted(set(reported) - set(expected)),
                                            "output": proc.stdout}
    for n, code in expected.items():
        assert code in reported[n], (n, code, reported[n])


def test_native_stub_matches_the_runtime(venv_python: str, tmp_path: Path) -> None:
    # No allowlist: the stub must match the compiled module exactly. (cwd: a temp dir, so nothing is
    # imported from the working tree by accident and no cache lands in the repository.)
    proc = subprocess.run(
        [venv_python, "-m", "mypy.stubtest", "stratacache._native"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_is_typed() -> None:
    import stratacache

    root = Path(stratacache.__file__).parent
    assert (root / "py.typed").exists()
    assert (root / "_native.pyi").exists()
