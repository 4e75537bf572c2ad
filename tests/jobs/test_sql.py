"""SQL jobs: the header becomes a JobSpec, the body splits into statements, runs record lineage."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine

from etl_orchestrator.jobs.context import RunContext
from etl_orchestrator.jobs.errors import CancelledByUser, DeclarationError
from etl_orchestrator.jobs.spec import Dep, JobSpec, RetryPolicy, make_spec
from etl_orchestrator.jobs.sql import run_sql_job, split_statements, sql_job, sql_jobs
from etl_orchestrator.jobs.warehouse import table_checksum

FULL_HEADER = """\
-- job: agg_daily_sales
-- name: Daily sales aggregate
-- description: Sales per day and store
-- cron: 30 3 * * *
-- timezone: Europe/Berlin
-- depends_on: fct_sales, dim_date:completion
-- tags: sales, aggregate
-- domain: finance
-- reads: fct_sales
-- writes: agg_daily_sales
-- timeout_s: 600
-- retry: max_attempts=3 base_s=2 factor=2 max_s=60 jitter=0.2
-- priority: 5
-- enabled: false
-- reuse_process: true
DELETE FROM agg_daily_sales;
INSERT INTO agg_daily_sales SELECT day, sum(amount) FROM fct_sales GROUP BY day;
"""


@pytest.fixture
def sql_file(tmp_path: Path) -> Callable[[str, str], Path]:
    folder = tmp_path / "sql"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def run_context() -> Callable[..., RunContext]:
    def make(
        spec: JobSpec,
        warehouse: Engine,
        *,
        params: BaseModel | None = None,
        dry_run: bool = False,
        cancel_check: Callable[[], bool] | None = None,
    ) -> RunContext:
        return RunContext(
            run_id=1,
            job_id=spec.id,
            attempt=1,
            params=params,
            dry_run=dry_run,
            warehouse_engine=warehouse,
            cancel_check=cancel_check,
        )

    return make


def sql_spec(job_id: str, sql: str, **kwargs: Any) -> JobSpec:
    return make_spec(id=job_id, name=job_id, kind="sql", sql=sql, source=f"{job_id}.sql", **kwargs)


def test_every_header_key_lands_in_the_spec(sql_file):
    path = sql_file("agg.sql", FULL_HEADER)
    spec = sql_job(path)
    assert spec.id == "agg_daily_sales"
    assert spec.kind == "sql"
    assert spec.name == "Daily sales aggregate"
    assert spec.description == "Sales per day and store"
    assert spec.cron == "30 3 * * *"
    assert spec.timezone == "Europe/Berlin"
    assert spec.depends_on == (Dep("fct_sales", "success"), Dep("dim_date", "completion"))
    assert spec.tags == ("sales", "aggregate")
    assert spec.domain == "finance"
    assert spec.reads == ("fct_sales",)
    assert spec.writes == ("agg_daily_sales",)
    assert spec.timeout_s == 600
    assert spec.retry == RetryPolicy(max_attempts=3, base_s=2, factor=2, max_s=60, jitter=0.2)
    assert spec.priority == 5
    assert spec.enabled is False
    assert spec.reuse_process is True
    assert spec.source == str(path)
    assert spec.entrypoint == str(path)
    assert spec.sql is not None
    assert spec.sql.startswith("DELETE FROM agg_daily_sales;")
    assert "-- job:" not in spec.sql


def test_a_minimal_file_takes_its_id_from_the_file_name(sql_file):
    spec = sql_job(sql_file("stg_orders.sql", "SELECT 1;\n"))
    assert spec.id == "stg_orders"
    assert spec.name == "stg orders"
    assert spec.cron is None
    assert spec.depends_on == ()


def test_comments_after_the_header_belong_to_the_sql(sql_file):
    spec = sql_job(
        sql_file(
            "x.sql",
            """\
            -- job: x

            -- Note: this explains the next statement and is not a header key
            SELECT 1;
            """,
        )
    )
    assert spec.sql is not None
    assert spec.sql.startswith("-- Note:")


def test_unknown_header_key_names_the_file_and_line(sql_file):
    path = sql_file("x.sql", "-- job: x\n-- schedule: 0 * * * *\nSELECT 1;\n")
    with pytest.raises(DeclarationError) as info:
        sql_job(path)
    message = str(info.value)
    assert f"{path}:2:" in message
    assert "unknown header key 'schedule'" in message
    assert "cron" in message  # the known keys are listed


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-- cron: 61 * * * *", "minute must be 0-59"),
        ("-- timezone: Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
        ("-- priority: high", "'high' is not a whole number"),
        ("-- enabled: maybe", "'maybe' is not a yes/no value"),
        ("-- timeout_s: -5", "must be a positive number of seconds"),
        ("-- retry: max_attempts=3 tries=4", "'tries=4' is not understood"),
        ("-- retry: max_attempts=0", "max_attempts must be from 1 to 100"),
        ("-- depends_on: a:always", "'success' or 'completion'"),
        ("-- catchup: sometimes", "not one of latest, all, none"),
    ],
)
def test_bad_header_value_names_the_line_and_the_problem(sql_file, line, expected):
    path = sql_file("x.sql", f"-- job: x\n{line}\nSELECT 1;\n")
    with pytest.raises(DeclarationError) as info:
        sql_job(path)
    assert f"{path}:2:" in str(info.value)
    assert expected in str(info.value)


def test_every_problem_of_every_file_is_reported_at_once(sql_file):
    sql_file("a.sql", "-- job: a\n-- priority: x\n-- colour: red\nSELECT 1;\n")
    sql_file("b.sql", "-- job: b\n-- cron: every day\nSELECT 1;\n")
    sql_file("c.sql", "-- job: c\nSELECT 1;\n")
    with pytest.raises(DeclarationError) as info:
        sql_jobs(sql_file("d.sql", "SELECT 1;").parent)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("a.sql:2: priority: 'x' is not a whole number")
    assert "a.sql:3: unknown header key 'colour'" in lines[1]
    assert "b.sql:2: cron: invalid cron 'every day'" in lines[2]


def test_a_key_set_twice_is_refused(sql_file):
    path = sql_file("x.sql", "-- job: x\n-- tags: a\n-- tags: b\nSELECT 1;\n")
    with pytest.raises(
        DeclarationError, match=r"x\.sql:3: 'tags' is set twice \(first on line 2\)"
    ):
        sql_job(path)


def test_a_file_without_statements_is_refused(sql_file):
    path = sql_file("x.sql", "-- job: x\n-- tags: a\n\n-- only a comment\n;\n")
    with pytest.raises(DeclarationError, match=r"x\.sql:3: no SQL statements after the header"):
        sql_job(path)


def test_an_unterminated_quote_names_the_line_it_starts_on(sql_file):
    path = sql_file("x.sql", "-- job: x\n\nSELECT 1;\nSELECT 'abc;\nSELECT 2;\n")
    with pytest.raises(DeclarationError, match=r"x\.sql:4: unterminated ' quote"):
        sql_job(path)


def test_an_invalid_job_id_names_the_file(sql_file):
    path = sql_file("Bad Name.sql", "SELECT 1;\n")
    with pytest.raises(DeclarationError) as info:
        sql_job(path)
    assert str(path) in str(info.value)
    assert "job id 'Bad Name' is invalid" in str(info.value)


def test_sql_jobs_reads_every_sql_file_sorted_by_name(sql_file):
    sql_file("b.sql", "-- job: second\nSELECT 2;")
    sql_file("a.sql", "-- job: first\nSELECT 1;")
    (sql_file("notes.txt", "-- job: ignored")).touch()
    specs = sql_jobs(sql_file("c.sql", "-- job: third\nSELECT 3;").parent)
    assert [spec.id for spec in specs] == ["first", "second", "third"]


def test_a_missing_folder_is_a_declaration_error(tmp_path):
    with pytest.raises(DeclarationError, match="does not exist"):
        sql_jobs(tmp_path / "nowhere")


def test_split_ignores_semicolons_in_quotes_comments_and_dollar_bodies():
    sql = """
        INSERT INTO t VALUES ('a;b', 'it''s; fine');  -- trailing; comment
        /* block; comment */ UPDATE "odd;name" SET x = 1;
        CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
        SELECT E'back\\'slash;';
        ;;
        -- a comment alone is not a statement
    """
    statements = split_statements(sql)
    assert len(statements) == 4
    assert statements[0] == "INSERT INTO t VALUES ('a;b', 'it''s; fine')"
    assert (
        statements[1]
        == '-- trailing; comment\n        /* block; comment */ UPDATE "odd;name" SET x = 1'
    )
    assert statements[2].endswith("$body$ SELECT 1; $body$ LANGUAGE sql")
    assert statements[3] == "SELECT E'back\\'slash;'"


def test_split_keeps_a_last_statement_without_semicolon():
    assert split_statements("SELECT 1; SELECT 2") == ["SELECT 1", "SELECT 2"]


SALES_SQL = """
    CREATE TABLE IF NOT EXISTS agg (day TEXT, total INTEGER);
    DELETE FROM agg;
    INSERT INTO agg SELECT day, sum(amount) FROM sales GROUP BY day;
    UPDATE agg SET total = total + 1 WHERE day = '2024-03-01';
    SELECT count(*) FROM agg;
"""


def _sales(engine: Engine) -> None:
    rows = (("2024-03-01", 5), ("2024-03-01", 7), ("2024-03-02", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE sales (day TEXT, amount INTEGER)")
        for day, amount in rows:
            conn.exec_driver_sql(f"INSERT INTO sales VALUES ('{day}', {amount})")


def test_run_executes_statements_in_order_and_records_lineage(warehouse, run_context):
    _sales(warehouse)
    spec = sql_spec("agg", SALES_SQL, reads=["sales"], writes=["agg"])
    ctx = run_context(spec, warehouse)
    run_sql_job(ctx, spec)
    ctx.finish(success=True)
    with warehouse.connect() as conn:
        rows = conn.exec_driver_sql("SELECT day, total FROM agg ORDER BY day").all()
        checksum = table_checksum(conn, "agg")
    assert [tuple(r) for r in rows] == [("2024-03-01", 13), ("2024-03-02", 1)]
    lineage = ctx.lineage_data
    assert lineage.records_read == 3
    assert lineage.records_written == 3  # 0 deleted + 2 inserted + 1 updated
    assert lineage.tables == ["agg"]
    assert lineage.checksum == checksum


def test_rerun_counts_deleted_rows_as_written(warehouse, run_context):
    _sales(warehouse)
    spec = sql_spec("agg", SALES_SQL, reads=["sales"], writes=["agg"])
    for _ in range(2):
        ctx = run_context(spec, warehouse)
        run_sql_job(ctx, spec)
        ctx.finish(success=True)
    assert ctx.lineage_data.records_written == 5  # 2 deleted + 2 inserted + 1 updated


def test_dry_run_changes_nothing_in_the_warehouse(warehouse, run_context):
    _sales(warehouse)
    spec = sql_spec("agg", SALES_SQL, reads=["sales"], writes=["agg"])
    ctx = run_context(spec, warehouse, dry_run=True)
    run_sql_job(ctx, spec)
    ctx.finish(success=True)
    assert ctx.lineage_data.records_written == 3
    with warehouse.connect() as conn:
        tables = conn.exec_driver_sql("SELECT count(*) FROM sales").scalar_one()
        assert tables == 3
        with pytest.raises(Exception, match="agg"):
            conn.exec_driver_sql("SELECT count(*) FROM agg")


def test_cancel_between_statements_stops_before_the_next_one(warehouse, run_context):
    _sales(warehouse)
    checks = []

    def cancel_after_first_statement() -> bool:
        checks.append(1)
        return len(checks) > 1

    spec = sql_spec(
        "del", "DELETE FROM sales WHERE amount = 1; DELETE FROM sales;", writes=["sales"]
    )
    ctx = run_context(spec, warehouse, cancel_check=cancel_after_first_statement)
    with pytest.raises(CancelledByUser):
        run_sql_job(ctx, spec)
    remaining = ctx.warehouse.exec_driver_sql("SELECT count(*) FROM sales").scalar_one()
    assert remaining == 2  # the first DELETE ran, the second never did
    ctx.finish(success=False)


class DayParams(BaseModel):
    day: date
    bonus: int = 0


def test_named_params_are_bound_from_the_run_params(warehouse, run_context):
    with warehouse.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE visits (day DATE, n INTEGER)")
        conn.exec_driver_sql("INSERT INTO visits VALUES ('2024-03-01', 5), ('2024-03-02', 1)")
    spec = sql_spec(
        "bump",
        "UPDATE visits SET n = n + :bonus WHERE day = :day",
        params=DayParams,
        writes=["visits"],
    )
    ctx = run_context(spec, warehouse, params=DayParams(day=date(2024, 3, 2), bonus=10))
    run_sql_job(ctx, spec)
    ctx.finish(success=True)
    with warehouse.connect() as conn:
        counts = sorted(conn.exec_driver_sql("SELECT n FROM visits").scalars())
    assert counts == [5, 11]
    assert ctx.lineage_data.records_written == 1


def test_colons_in_sql_without_params_are_not_bind_markers(warehouse, run_context):
    spec = sql_spec(
        "times",
        "CREATE TABLE t (at TEXT); INSERT INTO t VALUES ('12:30:00'), (':not_a_param')",
        writes=["t"],
    )
    ctx = run_context(spec, warehouse)
    run_sql_job(ctx, spec)
    ctx.finish(success=True)
    assert ctx.lineage_data.records_written == 2


def test_a_failing_statement_says_which_one_failed(warehouse, run_context):
    spec = sql_spec("broken", "SELECT 1; SELECT * FROM missing_table")
    ctx = run_context(spec, warehouse)
    with pytest.raises(Exception) as info:
        run_sql_job(ctx, spec)
    ctx.finish(success=False)
    assert "in statement 2 of 2 of job 'broken'" in info.value.__notes__
