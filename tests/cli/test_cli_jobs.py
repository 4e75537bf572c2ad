"""`etl-orchestrator db upgrade` and `jobs sync|list|show`, in-process and as a real command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from etl_orchestrator import config
from etl_orchestrator.cli import main
from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.spec import RetryPolicy
from etl_orchestrator.models import AuditEntry, Job, JobDependency

PIPELINE = '''
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from etl_orchestrator.jobs import RetryPolicy, job
from etl_orchestrator.jobs.sql import sql_jobs


class LoadParams(BaseModel):
    day: date
    full_refresh: bool = False


@job(id="stg_orders", cron="0 2 * * *", tags=["sales", "staging"], domain="sales")
def stg_orders(ctx):
    """Copy the orders export."""


@job(
    id="fct_sales",
    name="Sales facts",
    depends_on=["stg_orders"],
    params=LoadParams,
    tags=["sales"],
    domain="finance",
    priority=3,
    retry=RetryPolicy(max_attempts=4, base_s=2, factor=2, max_s=60, jitter=0.2),
    writes=["fct_sales"],
)
def fct_sales(ctx, p):
    """One row per order line."""


SQL_JOBS = sql_jobs(Path(__file__).with_name("sql_{suffix}"))
'''

AGG_SQL = """\
-- job: agg_daily_sales
-- cron: 30 3 * * *
-- depends_on: fct_sales, stg_orders:completion
-- tags: sales, aggregate
SELECT 1;
"""


@pytest.fixture
def use_modules(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def use(*modules: str) -> None:
        monkeypatch.setenv("ETL_JOBS_MODULES", ",".join(modules))
        config.get_settings.cache_clear()

    return use


@pytest.fixture
def pipeline_module(jobs_module: Callable[[str], str], tmp_path: Path) -> str:
    """A jobs module with two Python jobs and one SQL job; returns its module name."""
    suffix = os.urandom(4).hex()
    sql_dir = tmp_path / "job_modules" / f"sql_{suffix}"
    sql_dir.mkdir(parents=True)
    (sql_dir / "agg_daily_sales.sql").write_text(AGG_SQL)
    return jobs_module(PIPELINE.replace("{suffix}", suffix))


@pytest.fixture
def fresh_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty SQLite file with no tables at all."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    config.get_settings.cache_clear()
    return url


def table_counts() -> tuple[int, ...]:
    with session_scope() as session:
        return tuple(
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Job, JobDependency, AuditEntry)
        )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def labelled_fields(out: str) -> dict[str, str]:
    """`Label   value` lines as a dict; continuation lines (indented) are skipped."""
    fields = {}
    for line in out.splitlines():
        label, sep, value = line.partition("  ")
        if label and sep:
            fields[label] = value.strip()
    return fields


def assert_next_run_is_the_coming(value: str, hh_mm: str) -> None:
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT{hh_mm}:00Z", value), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert timedelta(0) < moment - datetime.now(UTC) <= timedelta(days=1)


def test_upgrade_sync_and_list_json_show_the_declared_jobs(
    any_db, capsys, use_modules, pipeline_module
):
    use_modules(pipeline_module)
    assert run(capsys, "db", "upgrade")[0] == 0
    code, out, _ = run(capsys, "jobs", "sync")
    assert code == 0
    assert "3 created, 0 updated, 0 unchanged, 0 disabled" in out

    code, out, _ = run(capsys, "jobs", "list", "--json")
    assert code == 0
    listed = {item["job_id"]: item for item in json.loads(out)}
    assert list(listed) == ["agg_daily_sales", "fct_sales", "stg_orders"]
    assert set(listed["fct_sales"]) >= {
        "job_id", "name", "enabled", "cron", "timezone", "next_run_at", "dependencies_count",
        "tags", "parameterized", "domain", "priority", "last_run_status",
    }  # fmt: skip
    agg, fct, stg = listed["agg_daily_sales"], listed["fct_sales"], listed["stg_orders"]
    assert (stg["cron"], stg["timezone"], stg["dependencies_count"]) == ("0 2 * * *", "UTC", 0)
    assert_next_run_is_the_coming(stg["next_run_at"], "02:00")
    assert_next_run_is_the_coming(agg["next_run_at"], "03:30")
    assert (agg["dependencies_count"], agg["tags"]) == (2, ["sales", "aggregate"])
    assert (fct["cron"], fct["next_run_at"], fct["dependencies_count"]) == (None, None, 1)
    assert (fct["parameterized"], stg["parameterized"]) == (True, False)
    assert (fct["name"], fct["domain"], fct["priority"], fct["enabled"]) == (
        "Sales facts",
        "finance",
        3,
        True,
    )
    assert fct["last_run_status"] is None


@pytest.mark.slow  # three interpreter start-ups
def test_the_console_script_migrates_syncs_and_lists(tmp_path, fresh_sqlite, pipeline_module):
    script = Path(sys.executable).with_name("etl-orchestrator")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "etl_orchestrator"]
    env = {
        **os.environ,
        "ETL_JOBS_MODULES": pipeline_module,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "job_modules"), os.getcwd()]),
    }

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *argv], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    upgraded = cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is at the latest schema" in upgraded.stdout
    synced = cli("jobs", "sync")
    assert synced.returncode == 0, synced.stderr
    assert "3 created" in synced.stdout
    listed = cli("jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [item["job_id"] for item in json.loads(listed.stdout)] == [
        "agg_daily_sales",
        "fct_sales",
        "stg_orders",
    ]


def test_sync_into_a_database_without_tables_says_to_upgrade(
    fresh_sqlite, capsys, use_modules, pipeline_module
):
    use_modules(pipeline_module)
    code, _, err = run(capsys, "jobs", "sync")
    assert code == 2
    assert "has no orchestrator tables yet; run `etl-orchestrator db upgrade` first" in err
    assert run(capsys, "db", "upgrade")[0] == 0
    assert run(capsys, "jobs", "sync")[0] == 0


def test_db_upgrade_is_safe_to_run_twice(fresh_sqlite, capsys):
    assert run(capsys, "db", "upgrade")[0] == 0
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert "is at the latest schema" in out
    assert "fresh.db" in out


def test_db_upgrade_against_an_unreachable_server_says_what_to_check(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://etl:hunter2@127.0.0.1:1/etl")
    config.get_settings.cache_clear()
    code, _, err = run(capsys, "db", "upgrade")
    assert code == 2
    assert "cannot use the database" in err
    assert "check DATABASE_URL" in err
    assert "hunter2" not in err


BAD_MODULES = {
    "cycle": (
        '@job(id="a", depends_on=["b"])\ndef a(ctx):\n    pass\n\n'
        '@job(id="b", depends_on=["a"])\ndef b(ctx):\n    pass\n',
        "dependency cycle: a -> b -> a",
    ),
    "invalid cron": (
        '@job(id="a", cron="0 0 31 2 *")\ndef a(ctx):\n    pass\n',
        "job 'a': invalid cron '0 0 31 2 *': it never fires: February never has day 31",
    ),
    "unknown upstream": (
        '@job(id="stg_orders")\ndef s(ctx):\n    pass\n\n'
        '@job(id="fct_sales", depends_on=["stg_ordrs"])\ndef f(ctx):\n    pass\n',
        "job 'fct_sales' depends on 'stg_ordrs', which is not declared; declared jobs: "
        "fct_sales, stg_orders. Did you mean 'stg_orders'?",
    ),
    "params not a model": (
        'class P:\n    day: str\n\n@job(id="a", params=P)\ndef a(ctx, p):\n    pass\n',
        "params=<class '{module}.P'> is not a pydantic model class",
    ),
    "params a model instance": (
        "from pydantic import BaseModel\n\nclass P(BaseModel):\n    day: str = ''\n\n"
        '@job(id="a", params=P())\ndef a(ctx, p):\n    pass\n',
        "is not a pydantic model class",
    ),
    "duplicate ids": (
        '@job(id="a")\ndef a(ctx):\n    pass\n\n@job(id="a")\ndef a2(ctx):\n    pass\n',
        "job id 'a' is declared twice: by {module}:a and by {module}:a2",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MODULES))
def test_an_invalid_jobs_module_is_refused_and_nothing_is_written(
    any_db, capsys, use_modules, jobs_module, case
):
    source, expected = BAD_MODULES[case]
    module = jobs_module("from etl_orchestrator.jobs import job\n\n" + source)
    use_modules(module)
    code, out, err = run(capsys, "jobs", "sync")
    assert code == 2
    assert expected.format(module=module) in err
    assert "nothing was written to the database" in err
    assert out == ""
    assert table_counts() == (0, 0, 0)


def test_jobs_that_disappear_are_disabled_and_still_listed(
    any_db, capsys, use_modules, jobs_module
):
    both = jobs_module(
        "from etl_orchestrator.jobs import job\n\n"
        '@job(id="keep", cron="0 * * * *")\ndef keep(ctx):\n    pass\n\n'
        '@job(id="gone", cron="0 * * * *")\ndef gone(ctx):\n    pass\n'
    )
    one = jobs_module(
        'from etl_orchestrator.jobs import job\n\n@job(id="keep", cron="0 * * * *")\n'
        "def keep(ctx):\n    pass\n"
    )
    use_modules(both)
    assert run(capsys, "jobs", "sync")[0] == 0
    use_modules(one)
    code, out, _ = run(capsys, "jobs", "sync")
    assert code == 0
    assert "disabled: gone" in out
    listed = {item["job_id"]: item for item in json.loads(run(capsys, "jobs", "list", "--json")[1])}
    assert (
        listed["gone"]["enabled"],
        listed["gone"]["declared"],
        listed["gone"]["next_run_at"],
    ) == (
        False,
        False,
        None,
    )
    assert listed["keep"]["enabled"] is True
    table = run(capsys, "jobs", "list")[1]
    assert re.search(r"^gone\s+no \(not declared\)", table, re.MULTILINE)


def test_jobs_list_prints_a_readable_table(any_db, capsys, use_modules, pipeline_module):
    use_modules(pipeline_module)
    run(capsys, "jobs", "sync")
    code, out, _ = run(capsys, "jobs", "list")
    assert code == 0
    header, rule, *rows = out.splitlines()
    assert re.split(r"\s{2,}", header) == [
        "JOB", "ENABLED", "CRON", "NEXT RUN (UTC)", "DEPS", "TAGS", "PARAMS", "LAST STATUS",
    ]  # fmt: skip
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(rows) == 3
    fct = next(row for row in rows if row.startswith("fct_sales"))
    assert re.fullmatch(r"fct_sales\s+yes\s+-\s+-\s+1\s+sales\s+yes\s+never run", fct)
    stg = next(row for row in rows if row.startswith("stg_orders"))
    assert re.fullmatch(
        r"stg_orders\s+yes\s+0 2 \* \* \*\s+\S+T02:00:00Z\s+0\s+sales, staging\s+no\s+never run",
        stg,
    )


def test_jobs_list_on_an_empty_database_says_how_to_fill_it(any_db, capsys):
    code, out, _ = run(capsys, "jobs", "list")
    assert code == 0
    assert "run `etl-orchestrator jobs sync`" in out
    assert json.loads(run(capsys, "jobs", "list", "--json")[1]) == []


def test_jobs_show_prints_every_detail(any_db, capsys, use_modules, pipeline_module):
    use_modules(pipeline_module)
    run(capsys, "jobs", "sync")
    code, out, _ = run(capsys, "jobs", "show", "fct_sales")
    assert code == 0
    fields = labelled_fields(out)
    assert fields["Job"] == "fct_sales: Sales facts"
    assert fields["Description"] == "One row per order line."
    assert fields["Kind"] == f"python ({pipeline_module}:fct_sales)"
    policy = RetryPolicy(max_attempts=4, base_s=2, factor=2, max_s=60, jitter=0.2)
    assert fields["Retry"] == policy.describe()
    assert fields["Depends on"] == "stg_orders (success)"
    assert fields["Dependents"] == "agg_daily_sales"
    assert fields["Parameters"] == "day: date, required"
    assert "full_refresh: boolean, default False" in out
    assert fields["Schedule"].startswith("none")
    assert fields["Last run"] == "never run"

    stg = run(capsys, "jobs", "show", "stg_orders")[1]
    assert "0 2 * * * in UTC: At 02:00 AM" in stg
    assert "Dependents     agg_daily_sales, fct_sales" in stg


def test_jobs_show_json_has_dependencies_and_retry_policy(
    any_db, capsys, use_modules, pipeline_module
):
    use_modules(pipeline_module)
    run(capsys, "jobs", "sync")
    data = json.loads(run(capsys, "jobs", "show", "agg_daily_sales", "--json")[1])
    assert data["depends_on"] == [
        {"job_id": "fct_sales", "type": "success"},
        {"job_id": "stg_orders", "type": "completion"},
    ]
    assert data["retry"]["max_attempts"] == 3
    assert data["retry"]["description"].startswith("up to 3 attempts")
    assert data["kind"] == "sql"
    assert data["sql"] == "SELECT 1;"
    assert data["params_schema"] is None
    text = run(capsys, "jobs", "show", "agg_daily_sales")[1]
    assert labelled_fields(text)["SQL"] == "SELECT 1;"


def test_jobs_show_an_unknown_job_suggests_close_matches(
    any_db, capsys, use_modules, pipeline_module
):
    use_modules(pipeline_module)
    run(capsys, "jobs", "sync")
    code, out, err = run(capsys, "jobs", "show", "fct_sale")
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "error: unknown job 'fct_sale'; run `etl-orchestrator jobs list` to see declared jobs. "
        "Did you mean 'fct_sales'?"
    )
