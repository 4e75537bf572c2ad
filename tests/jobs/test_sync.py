"""jobs sync: declared jobs land in dw_etl_jobs, admins keep control, bad input writes nothing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from sqlmodel import col, select

from etl_orchestrator.db import session_scope
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.spec import JobSpec, RetryPolicy, make_spec
from etl_orchestrator.jobs.sync import SyncReport, sync_jobs
from etl_orchestrator.models import AuditEntry, Job, JobDependency, Run

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class LoadParams(BaseModel):
    day: date
    full_refresh: bool = False


def spec(job_id: str, **kwargs: Any) -> JobSpec:
    kwargs.setdefault("name", job_id)
    return make_spec(id=job_id, kind="python", source=f"tests:{job_id}", **kwargs)


def sync(specs: list[JobSpec], *, now: datetime = NOW) -> SyncReport:
    with session_scope() as session:
        return sync_jobs(session, {s.id: s for s in specs}, now=now, actor="tester")


def jobs() -> dict[str, Job]:
    with session_scope() as session:
        return {job.job_id: job for job in session.exec(select(Job)).all()}


def deps() -> list[tuple[str, str, str]]:
    with session_scope() as session:
        rows = session.exec(select(JobDependency)).all()
        return sorted((d.job_id, d.upstream_job_id, d.dep_type) for d in rows)


def audit_rows() -> list[AuditEntry]:
    with session_scope() as session:
        return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.audit_id))).all())


def admin_sets_enabled(job_id: str, enabled: bool) -> None:
    """What the console's enable/disable does to the row (it clears the pending tick)."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.enabled = enabled
        job.next_run_at = None
        session.add(job)


PIPELINE = [
    spec("stg_orders", cron="0 2 * * *", tags=["sales"]),
    spec("dim_date", cron="0 2 * * *", timezone="Europe/Paris"),
    spec(
        "fct_sales",
        name="Sales facts",
        description="One row per order line",
        depends_on=["stg_orders", ("dim_date", "completion")],
        retry=RetryPolicy(max_attempts=4, base_s=1, factor=3, max_s=30, jitter=0),
        params=LoadParams,
        priority=7,
        tags=["sales", "facts"],
        domain="finance",
        reads=["stg_orders"],
        writes=["fct_sales"],
        timeout_s=120,
        wait_timeout_s=600,
        catchup="all",
        supports_dry_run=False,
    ),
]


def test_first_sync_writes_every_column_and_the_dependencies(any_db):
    report = sync(PIPELINE)
    assert report.created == ["dim_date", "fct_sales", "stg_orders"]
    assert report.updated == report.disabled == []
    rows = jobs()
    fct = rows["fct_sales"]
    assert (fct.name, fct.description, fct.kind) == (
        "Sales facts",
        "One row per order line",
        "python",
    )
    assert fct.entrypoint == "tests:fct_sales"
    assert (fct.enabled, fct.declared) == (True, True)
    assert (fct.cron, fct.next_run_at) == (None, None)
    assert (fct.priority, fct.tags, fct.domain) == (7, ["sales", "facts"], "finance")
    assert (fct.reads, fct.writes) == (["stg_orders"], ["fct_sales"])
    assert (fct.max_attempts, fct.backoff_base_s, fct.backoff_factor) == (4, 1, 3)
    assert (fct.backoff_max_s, fct.backoff_jitter) == (30, 0)
    assert (fct.timeout_s, fct.wait_timeout_s, fct.catchup) == (120, 600, "all")
    assert fct.supports_dry_run is False
    assert fct.params_schema == LoadParams.model_json_schema()
    assert fct.params_schema["required"] == ["day"]
    assert rows["stg_orders"].params_schema is None
    assert rows["stg_orders"].next_run_at == datetime(2024, 3, 2, 2, 0, tzinfo=UTC)
    # 02:00 in Paris (UTC+1 in March) is 01:00 UTC
    assert rows["dim_date"].next_run_at == datetime(2024, 3, 2, 1, 0, tzinfo=UTC)
    assert deps() == [
        ("fct_sales", "dim_date", "completion"),
        ("fct_sales", "stg_orders", "success"),
    ]


def test_sql_jobs_keep_their_sql_in_the_config(any_db):
    sync([make_spec(id="agg", name="agg", kind="sql", sql="SELECT 1;", source="/x/agg.sql")])
    job = jobs()["agg"]
    assert (job.kind, job.entrypoint, job.config) == ("sql", "/x/agg.sql", {"sql": "SELECT 1;"})


def test_where_attempts_run_is_kept_in_the_config_unless_it_is_a_fresh_process(any_db):
    def python(job_id: str, **isolation: bool) -> JobSpec:
        return make_spec(id=job_id, name=job_id, kind="python", fn=print, **isolation)

    sync(
        [
            python("forked"),
            python("pooled", reuse_process=True),
            python("threaded", cooperative=True),
            make_spec(
                id="agg",
                name="agg",
                kind="sql",
                sql="SELECT 1;",
                source="/x/agg.sql",
                reuse_process=True,
            ),
        ]
    )
    assert {job_id: job.config for job_id, job in jobs().items()} == {
        "forked": {},
        "pooled": {"isolation": "pooled"},
        "threaded": {"isolation": "thread"},
        "agg": {"sql": "SELECT 1;", "isolation": "pooled"},
    }


def test_a_second_identical_sync_changes_nothing(any_db):
    sync(PIPELINE)
    before = jobs()
    report = sync(PIPELINE, now=NOW + timedelta(minutes=5))
    assert report.unchanged == ["dim_date", "fct_sales", "stg_orders"]
    assert report.created == report.updated == report.disabled == []
    assert {k: v.updated_at for k, v in jobs().items()} == {
        k: v.updated_at for k, v in before.items()
    }


def test_changed_declarations_update_rows_and_replace_dependencies(any_db):
    sync(PIPELINE)
    changed = [
        PIPELINE[0],
        PIPELINE[1],
        spec("fct_sales", depends_on=["stg_orders"], tags=["new"], params=LoadParams),
    ]
    later = NOW + timedelta(hours=1)
    report = sync(changed, now=later)
    assert report.updated == ["fct_sales"]
    fct = jobs()["fct_sales"]
    assert fct.tags == ["new"]
    assert fct.max_attempts == RetryPolicy().max_attempts
    assert fct.updated_at == later
    assert deps() == [("fct_sales", "stg_orders", "success")]


def test_only_a_dependency_change_counts_as_an_update(any_db):
    sync([spec("a"), spec("b"), spec("c", depends_on=["a"])])
    report = sync([spec("a"), spec("b"), spec("c", depends_on=["b"])])
    assert report.updated == ["c"]
    assert deps() == [("c", "b", "success")]


def test_disappeared_jobs_are_disabled_not_deleted_and_keep_their_runs(any_db):
    sync(PIPELINE)
    with session_scope() as session:
        session.add(Run(job_id="fct_sales", batch_id="b1", status="succeeded"))
    report = sync(PIPELINE[:2])
    assert report.disabled == ["fct_sales"]
    fct = jobs()["fct_sales"]
    assert (fct.enabled, fct.declared, fct.next_run_at) == (False, False, None)
    assert fct.name == "Sales facts"  # the row and its details stay for the history
    assert deps() == []  # a job no longer declared is no longer part of the graph
    with session_scope() as session:
        assert len(session.exec(select(Run).where(Run.job_id == "fct_sales")).all()) == 1
    assert sync(PIPELINE[:2]).disabled == []  # reported once, not on every sync


def test_a_returning_job_is_declared_again_and_takes_enabled_from_the_code(any_db):
    sync([spec("a", cron="0 * * * *"), spec("b")])
    sync([spec("b")])
    report = sync([spec("a", cron="0 * * * *"), spec("b")])
    assert report.updated == ["a"]
    job = jobs()["a"]
    assert (job.enabled, job.declared) == (True, True)
    assert job.next_run_at == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)


def test_an_admins_disable_survives_later_syncs(any_db):
    sync([spec("a", cron="0 * * * *")])
    admin_sets_enabled("a", False)
    report = sync([spec("a", cron="0 * * * *", tags=["x"])], now=NOW + timedelta(days=1))
    assert report.updated == ["a"]
    job = jobs()["a"]
    assert (job.enabled, job.next_run_at, job.tags) == (False, None, ["x"])


def test_enabled_false_in_code_applies_on_first_sync_only(any_db):
    sync([spec("a", cron="0 * * * *", enabled=False)])
    job = jobs()["a"]
    assert (job.enabled, job.next_run_at) == (False, None)
    admin_sets_enabled("a", True)
    sync([spec("a", cron="0 * * * *", enabled=False)])
    job = jobs()["a"]
    assert job.enabled is True
    assert job.next_run_at == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)


def test_a_pending_tick_is_kept_until_the_schedule_changes(any_db):
    sync([spec("a", cron="0 * * * *")])
    assert jobs()["a"].next_run_at == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
    # The scheduler was down: a sync at 15:20 keeps the missed 13:00 tick for it to fire.
    sync([spec("a", cron="0 * * * *")], now=datetime(2024, 3, 1, 15, 20, tzinfo=UTC))
    assert jobs()["a"].next_run_at == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
    sync([spec("a", cron="30 * * * *")], now=datetime(2024, 3, 1, 15, 20, tzinfo=UTC))
    assert jobs()["a"].next_run_at == datetime(2024, 3, 1, 15, 30, tzinfo=UTC)
    sync([spec("a")], now=datetime(2024, 3, 1, 15, 20, tzinfo=UTC))
    assert jobs()["a"].next_run_at is None


def test_each_sync_is_audited(any_db):
    sync(PIPELINE)
    sync(PIPELINE[:2])
    first, second = audit_rows()
    assert (first.actor, first.action, first.outcome) == ("tester", "jobs.sync", "ok")
    assert first.params["created"] == ["dim_date", "fct_sales", "stg_orders"]
    assert second.params == {"created": [], "updated": [], "disabled": ["fct_sales"]}
    assert "1 disabled" in second.detail


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (
            [spec("a", depends_on=["b"]), spec("b", depends_on=["a"])],
            "dependency cycle: a -> b -> a",
        ),
        ([spec("a", cron="99 * * * *")], "invalid cron '99 * * * *'"),
        ([spec("a", depends_on=["nope"])], "depends on 'nope', which is not declared"),
        ([spec("a", timezone="Nowhere/Town")], "unknown timezone 'Nowhere/Town'"),
    ],
)
def test_an_invalid_declaration_writes_nothing(any_db, specs, expected):
    sync([spec("existing", cron="0 * * * *")])
    before = (jobs(), deps(), len(audit_rows()))
    with pytest.raises(DeclarationError, match=re.escape(expected)):
        sync([*specs, spec("existing", cron="5 * * * *"), spec("new")])
    after = (jobs(), deps(), len(audit_rows()))
    assert after[0].keys() == before[0].keys() == {"existing"}
    assert after[0]["existing"].cron == "0 * * * *"
    assert after[1:] == before[1:]


def test_a_mapping_key_that_differs_from_the_job_id_is_refused(any_db):
    with session_scope() as session, pytest.raises(DeclarationError, match="under another id"):
        sync_jobs(session, {"alias": spec("real")}, now=NOW)
    assert jobs() == {}


def test_overlong_names_are_refused_before_the_database_sees_them(any_db):
    with pytest.raises(DeclarationError, match="name is longer than 256 characters"):
        sync([spec("a", name="x" * 300)])
    assert jobs() == {}
