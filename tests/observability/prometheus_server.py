"""A real Prometheus (Debian's package) for tests: private data folder, free loopback port,
1 s scrapes of one target; and a thread serving the real /metrics route for it to scrape."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from etl_orchestrator.web import metrics_route
from tests.web.browser.support import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
START_TIMEOUT_S = 60.0


def query(base: str, expr: str) -> list[dict[str, object]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def wait_for(base: str, expr: str, want: float | None = None, timeout_s: float = 60.0) -> None:
    """Until `expr` has a sample (equal to `want` when given); fails past the deadline."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = query(base, expr)
        except OSError:
            result = []
        if result:
            last = float(result[0]["value"][1])  # type: ignore[index]
            if want is None or last == want:
                return
        time.sleep(0.25)
    raise AssertionError(f"Prometheus never answered {expr} = {want} (last: {last})")


@contextmanager
def prometheus(
    folder: Path, target: str, *, port: int | None = None, token: str = ""
) -> Iterator[str]:
    """Prometheus scraping `target` (host:port) every second; yields its base URL."""
    port = port or free_port()
    data = folder / f"prometheus-data-{time.monotonic_ns()}"
    auth = f"    authorization:\n      credentials: {token}\n" if token else ""
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: etl-orchestrator\n    metrics_path: /metrics\n"
        f"{auth}    static_configs:\n      - targets: ['{target}']\n"
    )
    log = (folder / "prometheus.log").open("a")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, 'up{job="etl-orchestrator"}', want=1.0, timeout_s=START_TIMEOUT_S)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def metrics_server() -> Iterator[str]:
    """The real /metrics route served on a free loopback port; yields host:port."""
    port = free_port()
    app = Starlette(routes=metrics_route.routes)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("the /metrics test server did not start")
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
