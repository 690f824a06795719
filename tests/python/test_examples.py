"""The examples end to end, one client and one test for all of them (examples/fastapi, examples/express):
each one's ``start.sh`` installs and starts the app (the repository's package: the wheel in the example's
own venv, the linked npm package) on a free port against a private redis-server; every route is driven over
HTTP, the way a user's client would: the rate limit answers 429 at the 101st call, login sets an httpOnly ``sid`` cookie,
``/api/me`` needs it, logout and logout-all end sessions, a ticket update changes the dashboard, ``/metrics``
parses with the official Prometheus parser, and health says ``degraded`` while Redis is stopped."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from conftest import free_port, stop_redis_server  # noqa: E402
from test_wheel import newest_wheel  # noqa: E402


EXAMPLES = ["fastapi", "express", "nextjs"]


def check_built(example: str) -> Any:
    """The wheel the FastAPI example installs; skip when the package an example needs is not built."""
    wheel = newest_wheel()
    if example == "fastapi" and wheel is None:
        pytest.skip("no stratacache wheel in target/wheels (build one with `./dev build`; `./dev test` does)")
    if example != "fastapi" and not list((REPO / "bindings-node").glob("*.node")):
        pytest.skip("the npm package is not built (`./dev build`; `./dev test` does)")
    return wheel


@contextlib.contextmanager
def running(example: str, redis_url: str, ns: str, workdir: Path, child_env: dict[str, str]) -> Iterator[httpx.Client]:
    """``examples/<example>/start.sh`` on a free port, healthy; stopped (SIGTERM, cleanly) afterwards."""
    wheel = check_built(example)
    port = free_port()
    env = {**{k: v for k, v in child_env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")},
           "PORT": str(port), "REDIS_URL": redis_url, "STRATACACHE_NAMESPACE": ns,
           "DATABASE": str(workdir / "demo.sqlite3"), **({"STRATACACHE_WHEEL": str(wheel)} if wheel else {})}
    log = open(workdir / f"{example}-{port}.log", "w+b")
    started = time.monotonic()
    proc = subprocess.Popen([str(REPO / "examples" / example / "start.sh")], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        # The first run installs the framework and links or installs the package (Next.js also builds).
        deadline = time.monotonic() + 420
        while True:
            try:
                if client.get("/health/cache").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the example did not start (exit {proc.poll()}):\n{log.read().decode(errors='replace')[-6000:]}")
            time.sleep(0.2)
        print(f"examples/{example}: start.sh to healthy in {time.monotonic() - started:.1f} s")
        yield client
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            # Each stops gracefully (shutdownCacheSystem / the lifespan's shutdown_cache_system); uvicorn then
            # re-raises the signal, so its status is SIGTERM's. A crash would leave a traceback in the log.
            assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
            log.seek(0)
            output = log.read().decode(errors="replace")
            assert "Traceback" not in output, output
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()


@pytest.fixture(params=EXAMPLES)
def app(request: pytest.FixtureRequest, redis_server_factory: Any, ns: str, tmp_path: Path,
        child_env: dict[str, str]) -> Iterator[tuple[httpx.Client, Any]]:
    redis = redis_server_factory()
    with running(request.param, redis.url, ns, tmp_path, child_env) as client:
        yield client, redis


def login(client: httpx.Client, password: str = "demo") -> httpx.Response:
    return client.post("/auth/login", json={"email": "demo@example.com", "password": password})


def test_every_route_of_the_example(app: tuple[httpx.Client, Any]) -> None:
    client, redis = app
    base = str(client.base_url)

    # Recipe 1: cache-aside over SQLite behind a rate limit of 100 a minute per client IP.
    first = client.get("/api/users/1")
    assert first.status_code == 200 and first.json() == {"id": 1, "tenantId": 1, "name": "Demo User", "email": "demo@example.com", "role": "admin"}
    assert client.get("/api/users/999").status_code == 404
    codes = [client.get("/api/users/2").status_code for _ in range(98)]
    assert codes == [200] * 98, "calls 3..100 are allowed"
    denied = client.get("/api/users/2")
    assert denied.status_code == 429 and denied.json() == {"error": "Rate limit exceeded"}, "the 101st call"

    # Recipe 2: sessions.
    assert login(client, "wrong").status_code == 401
    assert client.get("/api/me").status_code == 401
    ok = login(client)
    assert ok.status_code == 200 and ok.json() == {"success": True}
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("sid=") and "httponly" in cookie.lower()
    me = client.get("/api/me")
    assert me.status_code == 200 and me.json()["email"] == "demo@example.com"
    # A second device, then logout-all from the first: both are signed out.
    with httpx.Client(base_url=base, timeout=10) as other:
        assert login(other).status_code == 200 and other.get("/api/me").status_code == 200
        assert client.post("/auth/logout-all").json() == {"success": True}
        assert other.get("/api/me").status_code == 401
    assert client.get("/api/me").status_code == 401
    # logout ends this session only.
    assert login(client).status_code == 200 and client.get("/api/me").status_code == 200
    sid = client.cookies["sid"]
    assert client.post("/auth/logout").json() == {"success": True}
    with httpx.Client(base_url=base, timeout=10, cookies={"sid": sid}) as replay:
        assert replay.get("/api/me").status_code == 401, "the old cookie no longer works"

    # Recipe 3: the warmed dashboard changes when a ticket does.
    before = client.get("/api/dashboard").json()
    assert before["ticketsByStatus"]["open"] == 2 and set(before) == {"ticketsToday", "ticketsByStatus", "avgResponseTime", "slaCompliance"}
    assert client.post("/api/tickets/1", json={"status": "closed"}).json() == {"success": True}
    after = client.get("/api/dashboard").json()
    assert after["ticketsByStatus"]["open"] == 1 and after["ticketsByStatus"]["closed"] == before["ticketsByStatus"]["closed"] + 1

    # Monitoring.
    metrics = client.get("/metrics/cache").json()
    assert {"hitRate", "latency", "health", "operations"} <= set(metrics) and "total" in metrics["hitRate"]
    prom = client.get("/metrics")
    assert prom.headers["content-type"].startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(prom.text)}
    assert any(name.startswith("stratacache_") for name in families), sorted(families)[:5]
    dash = client.get("/admin/cache-dashboard").json()
    assert set(dash) == {"performance", "cache", "sessions", "health"} and dash["health"]["status"] == "healthy"
    assert dash["performance"]["hitRate"].endswith("%") and "/" in dash["cache"]["l1Size"]
    health = client.get("/health/cache")
    assert health.status_code == 200 and health.json()["status"] == "healthy"

    # Redis stopped: health says degraded (503) within a few seconds.
    stop_redis_server(redis)
    deadline = time.monotonic() + 10
    while True:
        h = client.get("/health/cache")
        if h.json()["status"] == "degraded":
            assert h.status_code == 503
            break
        assert time.monotonic() < deadline, f"health still {h.json()} 10 s after Redis stopped"
        time.sleep(0.2)


SCREENSHOTS = REPO / "target" / "screenshots"


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium (Debian's ``chromium``; ``./dev deps`` installs it) with a virtual-time budget: the
    page's timers and fetches run for 7 s of page time before it is captured."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (`./dev deps` installs it)")
    return subprocess.run([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--hide-scrollbars", "--virtual-time-budget=7000", "--window-size=1200,760", *args],
                          capture_output=True, text=True, timeout=90)


@pytest.mark.parametrize("app", ["express", "nextjs"], indirect=True)
def test_the_live_dashboard_renders_the_numbers_and_refreshes_itself(app: tuple[httpx.Client, Any], request: pytest.FixtureRequest) -> None:
    client, _ = app
    for _ in range(5):  # some traffic for the numbers
        client.get("/api/users/1")
    url = str(client.base_url).rstrip("/") + "/dashboard"
    dom = chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout

    def text_of(element_id: str) -> str:
        match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
        assert match, f"#{element_id} is not on the page"
        return match.group(1)

    assert int(text_of("refreshes")) >= 3, "the page refreshed itself at least three times in 7 s"
    assert text_of("hit-rate").endswith("%") and text_of("l1-hit-rate").endswith("%")
    assert re.fullmatch(r"\d+/\d+", text_of("l1-size")), text_of("l1-size")
    assert text_of("health") == "healthy" and text_of("check-bus") == "live"
    assert re.fullmatch(r"\d+\.\d\d", text_of("get-p95")), text_of("get-p95")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"dashboard-{request.node.callspec.params['app']}.png"
    shot.unlink(missing_ok=True)
    taken = chromium(f"--screenshot={shot}", url)
    assert taken.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    print(f"dashboard screenshot: {shot}")


def test_two_next_instances_share_the_cache_and_a_revalidate_tag_in_one_reaches_the_other(
        redis_server_factory: Any, ns: str, tmp_path: Path, child_env: dict[str, str]) -> None:
    redis = redis_server_factory()
    with running("nextjs", redis.url, ns, tmp_path, child_env) as a, running("nextjs", redis.url, ns, tmp_path, child_env) as b:
        def greeting(client: httpx.Client) -> str:
            r = client.get("/greeting")
            assert r.status_code == 200, r.text[:500]
            match = re.search(r'id="greeting">([^<]*)<', r.text)
            assert match, r.text[:500]
            return match.group(1)

        first = greeting(a)
        assert greeting(a) == first, "the page is cached"
        assert greeting(b) == first, "the other instance serves the same cached page (one shared cache)"
        assert b.post("/api/revalidate", params={"tag": "greeting"}).json() == {"revalidated": "greeting"}
        # The next requests of instance A render it anew (Next may serve the stale page once while it does).
        deadline = time.monotonic() + 10
        while (now := greeting(a)) == first:
            assert time.monotonic() < deadline, "instance A still serves the page revalidated in instance B"
            time.sleep(0.1)
        assert now != first
        deadline = time.monotonic() + 10
        while greeting(b) == first:
            assert time.monotonic() < deadline, "instance B still serves the old page"
            time.sleep(0.1)
