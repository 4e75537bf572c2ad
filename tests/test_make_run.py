"""The README's run command, as a new user types it: the demo pipeline runs, Ctrl-C cleans up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
READY = "press Ctrl-C to stop"
#: Batches in an order where each finds its inputs built. dim_date alone: its downstream
#: includes the aggregates, which also need fct_sales (a job with its own cron: in no batch here).
DEMO_BATCHES = (
    ("dim_date",),
    ("extract_customers", "--downstream"),
    ("extract_products", "--downstream"),
    ("extract_stores", "--downstream"),
    ("extract_orders", "--downstream"),
    ("fct_sales", "--downstream"),
)


def _run_command() -> list[str]:
    """The first command of the README's opening block."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    first = block.strip().splitlines()[0].split("#", 1)[0].split()
    assert first == ["make", "run"], f"the README's run command changed: {first}"
    return first


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _session_processes(sid: int) -> list[psutil.Process]:
    alive = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return alive


@pytest.mark.slow
def test_make_run_runs_the_demo_pipeline_and_ctrl_c_leaves_no_process(etl_env, tmp_path):
    env = dict(os.environ)
    env.update(
        DATA_DIR=str(etl_env),
        DATABASE_URL="",
        REDIS_URL="",
        WAREHOUSE_URL="",
        BASE_URL=f"http://127.0.0.1:{_free_port()}",
        PYTHONUNBUFFERED="1",
    )
    env.pop("ETL_JOBS_MODULES", None)
    log = tmp_path / "make-run.out"
    with log.open("w") as out:
        make = subprocess.Popen(
            _run_command(),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while READY not in log.read_text():
            assert make.poll() is None, f"make run exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"make run not ready:\n{log.read_text()}"
            time.sleep(0.2)
        for batch_args in DEMO_BATCHES:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "etl_orchestrator",
                    "run",
                    *batch_args,
                    "--wait",
                    "--json",
                    "--reason",
                    "smoke test of make run",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert done.returncode == 0, f"{batch_args}: {done.stdout}\n{done.stderr}"
        batch = json.loads(done.stdout)
        jobs = {run["job_id"] for run in batch["runs"]}
        assert {"fct_sales", "agg_daily_sales", "agg_customer_ltv", "rpt_monthly_kpis"} <= jobs
        assert {run["status"] for run in batch["runs"]} == {"succeeded"}
    finally:
        os.killpg(make.pid, signal.SIGINT)
        try:
            make.wait(60)
        finally:
            leftovers = _session_processes(make.pid)
            for proc in leftovers:
                proc.kill()
    # make passes Ctrl-C on by ending itself with SIGINT, as it does at a terminal.
    assert make.returncode in (0, -signal.SIGINT, 128 + signal.SIGINT), log.read_text()
    assert log.read_text().rstrip().endswith("stopped"), log.read_text()
    assert leftovers == [], f"left running after Ctrl-C: {[p.cmdline() for p in leftovers]}"
