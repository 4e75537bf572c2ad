"""`run` and `runs list|show|logs|cancel|retry|rerun` on the real engine, database and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlmodel import select

from etl_orchestrator import db, events, redis_conn
from etl_orchestrator.cli import main
from etl_orchestrator.config import get_settings
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.dispatch import dispatch_pass
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.models import AuditEntry, Run, RunAttempt, RunLog
from etl_orchestrator.services import catalog, settings
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.services.audit import shell_actor
from etl_orchestrator.states import FINAL, RunStatus, transition
from tests.cli.sample_jobs import GATE_KEY
from tests.engine import conftest as engine_fixtures

engine = engine_fixtures.engine
Engine = engine_fixtures.Engine
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _forget_publish_hook() -> Iterator[None]:
    """`run` installs the events hook for its process; a test process must not keep it."""
    yield
    db.remove_after_commit_hook(events.publish)


@pytest.fixture
def sample_jobs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[dict[str, JobSpec]]:
    """tests.cli.sample_jobs as ETL_JOBS_MODULES, synced with `jobs sync`."""
    monkeypatch.setenv("ETL_JOBS_MODULES", "tests.cli.sample_jobs")
    get_settings.cache_clear()
    catalog.clear()
    assert main(["jobs", "sync"]) == 0
    capsys.readouterr()
    yield catalog.job_specs()
    catalog.clear()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*argv: str) -> Result:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def started(engine: Engine, sample_jobs: dict[str, JobSpec]) -> Callable[[], object]:
    """Start the engine on the sample jobs (the worker runs the same specs the CLI checks)."""
    engine.specs.update(sample_jobs)
    with session_scope() as session:
        # Seed the cap row first: seeding it is not safe against a concurrent first seeding.
        settings.parallel_jobs(session)
    return engine.start


async def cli_in_thread(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """A blocking command (like --wait) beside the engine running in this test's loop."""
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def queue_runs(job_id: str, count: int, **kwargs: Any) -> list[int]:
    ids: list[int] = []
    for _ in range(count):
        with session_scope() as session:
            result = run_service.trigger(session, job_id=job_id, requested_by="tester", **kwargs)
            ids.extend(result.run_ids)
    return ids


async def until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the condition is in the database
            await asyncio.sleep(0.05)


def trigger_audits() -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == "run.trigger")))


def all_runs() -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run)))


async def test_run_wait_exits_0_and_prints_each_status_change_when_the_run_succeeds(
    started, capsys
):
    await started()
    result = await cli_in_thread(
        capsys, "run", "greet", "--param", "name=Ada", "--param", "times=2", "--wait"
    )
    assert result.code == 0, result.err
    [run] = all_runs()
    assert run.status == "succeeded"
    assert run.params == {"name": "Ada", "times": 2}
    assert run.batch_id in result.out
    for change in ("queued -> dispatched", "dispatched -> running", "running -> succeeded"):
        assert f"run {run.run_id} greet: {change}" in result.out
    change_lines = [line for line in result.out.splitlines() if " -> " in line]
    assert all(line.split()[0].endswith("Z") for line in change_lines)
    assert "the run succeeded" in result.out


async def test_run_wait_exits_1_when_the_job_fails_and_its_downstream_is_upstream_failed(
    started, capsys
):
    await started()
    result = await cli_in_thread(capsys, "run", "fails", "--downstream", "--wait", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert {r["job_id"]: r["status"] for r in report["runs"]} == {
        "fails": "failed",
        "after_fails": "upstream_failed",
    }
    assert "running -> failed" in result.err


async def test_run_wait_exits_1_when_the_run_is_cancelled(started, capsys):
    await started()
    waiting = asyncio.create_task(cli_in_thread(capsys, "run", "gated", "--wait"))
    try:
        await until(lambda: any(r.status == "running" for r in all_runs()))
        [run] = all_runs()
        cancel(run.run_id or 0)
    finally:
        redis.Redis.from_url(os.environ["REDIS_URL"]).set(GATE_KEY, "open")
    result = await waiting
    assert result.code == 1
    assert "gated cancelled" in result.out


def test_params_errors_print_each_field_on_its_own_line_exit_2_and_write_nothing(sample_jobs, cli):
    result = cli("run", "greet", "--param", "times=many", "--reason", "try")
    assert result.code == 2
    lines = result.err.splitlines()
    assert any(line.strip().startswith("name:") and "required" in line for line in lines)
    assert any(line.strip().startswith("times:") and "integer" in line for line in lines)
    assert "nothing was queued" in result.err
    assert all_runs() == []
    assert trigger_audits() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--param", "name"], "is not NAME=VALUE"),
        (["--param", "=Ada"], "is not NAME=VALUE"),
        (["--params-json", '{"name": '], "line 1 column 10"),
        (["--params-json", '["Ada"]'], "must be a JSON object"),
        (["--concurrency", "99", "--param", "name=Ada"], "concurrency override 99 is out of range"),
    ],
)
def test_malformed_params_and_options_are_refused_with_a_clear_message_and_nothing_written(
    sample_jobs, cli, argv, message
):
    result = cli("run", "greet", *argv)
    assert result.code == 2
    assert message in result.err
    assert all_runs() == []
    assert trigger_audits() == []


def test_unknown_job_is_refused_with_a_suggestion(sample_jobs, cli):
    result = cli("run", "gret", "--param", "name=Ada")
    assert result.code == 2
    assert "unknown job 'gret'" in result.err
    assert "'greet'" in result.err
    assert all_runs() == []


def test_run_writes_the_audit_row_with_actor_params_and_reason_and_param_beats_json(
    sample_jobs, cli
):
    result = cli(
        "run",
        "greet",
        "--params-json",
        '{"name": "Grace", "times": 3}',
        "--param",
        "times=2",
        "--reason",
        "backfill after the outage",
        "--json",
    )
    assert result.code == 0, result.err
    report = json.loads(result.out)
    [run] = all_runs()
    assert report == {
        "batch_id": run.batch_id,
        "runs": [{"run_id": run.run_id, "job_id": "greet", "status": "queued"}],
    }
    assert run.params == {"name": "Grace", "times": 2}
    assert run.requested_by == shell_actor()
    [audit] = trigger_audits()
    assert audit.actor == shell_actor()
    assert audit.target == "greet"
    assert audit.reason == "backfill after the outage"
    assert audit.params["params"] == {"name": "Grace", "times": 2}
    assert audit.params["run_ids"] == [run.run_id]


def test_runs_list_pages_newest_first_by_run_id_and_new_runs_do_not_shift_pages(
    any_db, sample_jobs, cli
):
    ids = queue_runs("noop", 5) + queue_runs("greet", 2, params={"name": "x"})
    first = json.loads(cli("runs", "list", "--limit", "3", "--json").out)
    assert [r["run_id"] for r in first["runs"]] == sorted(ids, reverse=True)[:3]
    queue_runs("noop", 2)  # newer runs must not push older ones onto the next page
    second = json.loads(
        cli("runs", "list", "--limit", "3", "--before", str(first["next_before"]), "--json").out
    )
    third = json.loads(
        cli("runs", "list", "--limit", "3", "--before", str(second["next_before"]), "--json").out
    )
    paged = [r["run_id"] for page in (first, second, third) for r in page["runs"]]
    assert paged == sorted(ids, reverse=True)
    assert third["next_before"] is None


def test_runs_list_filters_by_job_and_status_and_prints_the_next_page_command(sample_jobs, cli):
    queue_runs("noop", 3)
    greet_ids = queue_runs("greet", 2, params={"name": "x"})
    result = cli("runs", "list", "--job", "greet", "--status", "queued", "--limit", "1")
    assert result.code == 0
    rows = [line for line in result.out.splitlines() if line.split()[:1] == [str(greet_ids[1])]]
    assert len(rows) == 1
    assert "greet" in rows[0]
    assert "manual" in rows[0]
    assert (
        f"etl-orchestrator runs list --job greet --status queued --limit 1 --before {greet_ids[1]}"
        in result.out
    )
    assert "no runs match" in cli("runs", "list", "--status", "failed").out


async def test_runs_show_prints_attempts_errors_and_timeline_with_the_traceback_in_json(
    engine, started, capsys, cli
):
    await started()
    [run_id] = engine.trigger("fails")
    await engine.wait_final([run_id])
    text = cli("runs", "show", str(run_id))
    assert text.code == 0
    assert "permanent" in text.out
    assert "the source file is missing" in text.out
    assert "running -> failed" in text.out
    data = json.loads(cli("runs", "show", str(run_id), "--json").out)
    assert data["run"]["status"] == "failed"
    [attempt] = data["attempts"]
    assert attempt["outcome"] == "failed"
    assert attempt["error_class"] == "permanent"
    assert "PermanentError" in attempt["traceback"]
    assert [e["to_status"] for e in data["events"]] == ["queued", "dispatched", "running", "failed"]


def test_runs_show_and_logs_of_an_unknown_run_exit_2(cli):
    for command in ("show", "logs"):
        result = cli("runs", command, "999")
        assert result.code == 2
        assert "unknown run 999" in result.err


async def test_runs_logs_prints_the_jobs_lines_in_order(engine, started, cli):
    await started()
    [run_id] = engine.trigger("greet", params={"name": "Ada", "times": 3})
    await engine.wait_final([run_id])
    result = cli("runs", "logs", str(run_id))
    assert result.code == 0
    hellos = [line for line in result.out.splitlines() if "hello Ada" in line]
    assert [line.rsplit("#", 1)[1] for line in hellos] == ["1", "2", "3"]
    assert all(" INFO " in line and line.split()[0].endswith("Z") for line in hellos)
    assert cli("runs", "logs", str(run_id), "--attempt", "2").out == ""


async def _read_until(stream: asyncio.StreamReader, needle: str, timeout_s: float = 30) -> str:
    seen = ""
    async with asyncio.timeout(timeout_s):
        while needle not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"output ended before {needle!r}: {seen}")
            seen += line.decode()
    return seen


async def follow(run_id: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "etl_orchestrator",
        "runs",
        "logs",
        str(run_id),
        "--follow",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )


async def test_logs_follow_prints_lines_as_they_arrive_and_exits_once_the_run_is_final(
    engine, started
):
    await started()
    [run_id] = engine.trigger("gated")
    proc = await follow(run_id)
    assert proc.stdout is not None
    try:
        early = await _read_until(proc.stdout, "before the gate")
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            assert run.status not in FINAL
        redis.Redis.from_url(os.environ["REDIS_URL"]).set(GATE_KEY, "open")
        async with asyncio.timeout(30):
            rest, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    output = early + rest.decode()
    assert output.count("before the gate") == 1
    assert output.count("after the gate") == 1
    assert output.index("before the gate") < output.index("after the gate")


async def test_logs_follow_stops_with_exit_0_on_ctrl_c(sample_jobs):
    [run_id] = queue_runs("noop", 1)
    with session_scope() as session:
        session.add(RunLog(run_id=run_id, attempt=1, seq=1, message="a stored line"))
    proc = await follow(run_id)
    assert proc.stdout is not None
    try:
        await _read_until(proc.stdout, "a stored line")
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    assert all(r.status not in FINAL for r in all_runs())


def test_run_ids_in_text_output_match_the_database(sample_jobs, cli):
    result = cli("run", "fails", "--downstream", "--reason", "check")
    assert result.code == 0
    runs = {r.job_id: r for r in all_runs()}
    assert set(runs) == {"fails", "after_fails"}
    for job_id, run in runs.items():
        assert any(
            line.split()[:3] == [str(run.run_id), job_id, run.status]
            for line in result.out.splitlines()
        )


def cancel(run_id: int) -> None:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        transition(session, run, RunStatus.CANCELLED, detail="test", actor="tester")


async def test_logs_follow_polls_the_database_when_redis_is_down(sample_jobs, capsys, monkeypatch):
    [run_id] = queue_runs("noop", 1)
    with session_scope() as session:
        session.add(RunLog(run_id=run_id, attempt=1, seq=1, message="stored before"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    redis_conn.sync_client.cache_clear()
    following = asyncio.create_task(cli_in_thread(capsys, "runs", "logs", str(run_id), "--follow"))
    out = err = ""

    def polling() -> bool:
        nonlocal out, err
        captured = capsys.readouterr()
        out, err = out + captured.out, err + captured.err
        return "polling the database" in err

    await until(polling)
    with session_scope() as session:
        session.add(RunLog(run_id=run_id, attempt=1, seq=2, message="stored while following"))
    cancel(run_id)
    async with asyncio.timeout(30):
        result = await following
    out += result.out
    assert result.code == 0
    assert out.count("stored before") == 1
    assert out.count("stored while following") == 1
    assert out.index("stored before") < out.index("stored while following")


def advance(run_id: int, *statuses: RunStatus) -> None:
    for status in statuses:
        with session_scope() as session:
            run = session.get(Run, run_id)
            assert run is not None
            transition(session, run, status, detail="test")


def audits(action: str) -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)))


def settle() -> None:
    with session_scope() as session:
        dispatch_pass(session)


def test_runs_cancel_cancels_a_queued_run_and_audits_the_shell_user_and_reason(sample_jobs, cli):
    [run_id] = queue_runs("noop", 1)
    result = cli("runs", "cancel", str(run_id), "--reason", "queued by mistake")
    assert result.code == 0, result.err
    assert f"run {run_id} noop: cancelled" in result.out
    assert "queued by mistake" in result.out
    [run] = all_runs()
    assert run.status == "cancelled"
    [entry] = audits("run.cancel")
    assert (entry.actor, entry.reason) == (shell_actor(), "queued by mistake")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runs", "cancel", "1"], "the following arguments are required: --reason"),
        (["runs", "cancel", "1", "--reason", " "], "a reason is required to cancel a run"),
        (["runs", "cancel", "999", "--reason", "x"], "unknown run 999"),
        (["runs", "retry", "999", "--reason", "x"], "unknown run 999"),
        (["runs", "rerun", "999", "--reason", "x", "--param", "a=1"], "unknown run 999"),
    ],
)
def test_run_actions_without_a_reason_or_on_an_unknown_run_exit_2(
    sample_jobs, cli, capsys, argv, message
):
    queue_runs("noop", 1)
    if "--reason" not in argv:
        with pytest.raises(SystemExit) as refused:
            main(argv)
        assert refused.value.code == 2
        assert message in capsys.readouterr().err
    else:
        result = cli(*argv)
        assert result.code == 2
        assert message in result.err
    assert [run.status for run in all_runs()] == ["queued"]


def test_runs_cancel_of_a_finished_run_exits_2_and_says_how_it_ended(sample_jobs, cli):
    [run_id] = queue_runs("noop", 1)
    settle()
    advance(run_id, RunStatus.RUNNING, RunStatus.SUCCEEDED)
    result = cli("runs", "cancel", str(run_id), "--reason", "too late")
    assert result.code == 2
    assert f"run {run_id} already finished as succeeded" in result.err
    assert audits("run.cancel") == []


def test_runs_retry_queues_a_retry_in_the_batch_and_puts_the_dependents_back(sample_jobs, cli):
    with session_scope() as session:
        result = run_service.trigger(session, job_id="fails", downstream=True, reason="nightly")
        failed_id, after_id = result.run_ids
    settle()
    advance(failed_id, RunStatus.RUNNING, RunStatus.FAILED)
    settle()
    out = cli("runs", "retry", str(failed_id), "--reason", "file restored", "--json")
    assert out.code == 0, out.err
    report = json.loads(out.out)
    runs = {run.run_id: run for run in all_runs()}
    retry_id = report["run"]["run_id"]
    assert runs[retry_id].retry_of == failed_id
    assert runs[retry_id].batch_id == report["batch_id"] == runs[failed_id].batch_id
    assert report["requeued"] == [
        {"run_id": after_id, "job_id": "after_fails", "status": "waiting"}
    ]
    text = cli("runs", "retry", str(failed_id), "--reason", "again")
    assert text.code == 2
    assert f"already retried as run {retry_id}" in text.err
    assert "nothing was queued" in text.err


def test_runs_rerun_changes_only_the_given_params_and_validates_them(sample_jobs, cli):
    [run_id] = queue_runs("greet", 1, params={"name": "Ada", "times": 1})
    bad = cli("runs", "rerun", str(run_id), "--param", "times=many", "--reason", "more")
    assert bad.code == 2
    assert any(line.strip().startswith("times:") for line in bad.err.splitlines())
    assert "nothing was queued" in bad.err
    assert len(all_runs()) == 1
    good = cli("runs", "rerun", str(run_id), "--param", "times=3", "--dry-run", "--reason", "more")
    assert good.code == 0, good.err
    assert f"a rerun of run {run_id}" in good.out
    new = max(all_runs(), key=lambda run: run.run_id or 0)
    assert (new.trigger, new.params, new.dry_run) == ("rerun", {"name": "Ada", "times": 3}, True)
    [entry] = audits("run.rerun")
    assert (entry.actor, entry.reason, entry.params["run_id"]) == (shell_actor(), "more", run_id)


async def test_runs_cancel_of_a_running_run_has_its_worker_kill_the_attempt(
    engine, started, capsys
):
    await started()
    [run_id] = engine.trigger("gated")
    await until(lambda: all_runs()[0].status == "running")
    result = await cli_in_thread(capsys, "runs", "cancel", str(run_id), "--reason", "hung")
    assert result.code == 0, result.err
    assert "its worker stops the running attempt within seconds" in result.out

    def attempt_outcome() -> str | None:
        with session_scope() as session:
            attempt = session.get(RunAttempt, (run_id, 1))
            return attempt.outcome if attempt else None

    await until(lambda: attempt_outcome() is not None, timeout_s=10)
    assert attempt_outcome() == "cancelled"
    assert all_runs()[0].status == "cancelled"
