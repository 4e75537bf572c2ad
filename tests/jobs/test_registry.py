"""The registry: gathering jobs from modules and refusing bad declarations all at once."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.registry import (
    DeclarationProblems,
    default_modules,
    load_jobs,
    validate,
)
from etl_orchestrator.jobs.spec import JobSpec, make_spec

HEADER = """
from pydantic import BaseModel
from etl_orchestrator.jobs import job
from etl_orchestrator.jobs.spec import JobSpec, make_spec
"""


def spec(job_id: str, **kwargs: Any) -> JobSpec:
    return make_spec(id=job_id, name=job_id, kind="python", source=f"test:{job_id}", **kwargs)


def test_collects_decorated_functions_spec_objects_and_lists(jobs_module):
    module = jobs_module(
        HEADER
        + """
@job(id="extract")
def extract(ctx):
    pass

LOAD = make_spec(id="load", name="Load", kind="python", depends_on=["extract"])
MORE = [make_spec(id="a", name="A", kind="python"), make_spec(id="b", name="B", kind="python")]
NOT_JOBS = ["extract", 3]
"""
    )
    specs = load_jobs([module])
    assert sorted(specs) == ["a", "b", "extract", "load"]
    assert specs["extract"].entrypoint == f"{module}:extract"
    assert specs["load"].source == f"{module}.LOAD"  # a bare JobSpec is named by its attribute


def test_a_job_imported_into_another_module_counts_once(jobs_module):
    first = jobs_module(HEADER + '\n@job(id="shared")\ndef shared(ctx):\n    pass\n')
    second = jobs_module(f"from {first} import shared\n")
    assert list(load_jobs([first, second])) == ["shared"]


def test_jobs_from_several_modules_are_merged(jobs_module):
    first = jobs_module(HEADER + '\n@job(id="one")\ndef one(ctx):\n    pass\n')
    second = jobs_module(HEADER + '\n@job(id="two", depends_on=["one"])\ndef two(ctx):\n    pass\n')
    assert sorted(load_jobs([first, second])) == ["one", "two"]


def test_a_module_that_fails_to_import_is_named_with_its_error(jobs_module):
    broken = jobs_module("import not_a_real_package_xyz\n")
    with pytest.raises(DeclarationError) as info:
        load_jobs([broken, "etl_nonexistent_jobs_module"])
    message = str(info.value)
    assert f"jobs module {broken!r} could not be imported: ModuleNotFoundError" in message
    assert "not_a_real_package_xyz" in message
    assert "'etl_nonexistent_jobs_module' could not be imported" in message
    assert isinstance(info.value, DeclarationProblems)
    assert len(info.value.problems) == 2


def test_params_that_are_not_a_pydantic_model_surface_the_declaration_message(jobs_module):
    module = jobs_module(
        HEADER
        + """
class Params:
    day: str

@job(id="typed", params=Params)
def typed(ctx, p):
    pass
"""
    )
    with pytest.raises(DeclarationError) as info:
        load_jobs([module])
    message = str(info.value)
    assert f"jobs module {module!r} declares an invalid job" in message
    assert "is not a pydantic model class" in message
    assert "class MyParams(BaseModel)" in message


def test_a_params_model_without_a_json_schema_is_refused():
    class Opaque:
        pass

    class Params(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        thing: Opaque

    with pytest.raises(DeclarationProblems) as info:
        validate([spec("odd", params=Params)])
    [problem] = info.value.problems
    assert problem.startswith("job 'odd': its params model has no JSON Schema")
    assert "so the console can build a form" in problem


def test_duplicate_ids_name_both_sources(jobs_module):
    first = jobs_module(HEADER + '\n@job(id="dup")\ndef dup(ctx):\n    pass\n')
    second = jobs_module(HEADER + '\n@job(id="dup")\ndef other(ctx):\n    pass\n')
    with pytest.raises(DeclarationProblems) as info:
        load_jobs([first, second])
    assert info.value.problems == [
        f"job id 'dup' is declared twice: by {first}:dup and by {second}:other; "
        "job ids must be unique"
    ]


def test_an_unknown_upstream_lists_declared_jobs_and_suggests_a_close_match():
    specs = [spec("stg_orders"), spec("dim_date"), spec("fct_sales", depends_on=["stg_ordrs"])]
    with pytest.raises(DeclarationProblems) as info:
        validate(specs)
    assert info.value.problems == [
        "job 'fct_sales' depends on 'stg_ordrs', which is not declared; declared jobs: "
        "dim_date, fct_sales, stg_orders. Did you mean 'stg_orders'?"
    ]


def test_a_cycle_is_refused_with_its_path():
    specs = [
        spec("a", depends_on=["c"]),
        spec("b", depends_on=["a"]),
        spec("c", depends_on=["b"]),
        spec("d", depends_on=["a"]),
    ]
    with pytest.raises(DeclarationProblems) as info:
        validate(specs)
    [problem] = info.value.problems
    assert problem.startswith("dependency cycle: a -> b -> c -> a")


def test_a_job_depending_on_itself_is_a_cycle():
    with pytest.raises(DeclarationProblems, match="dependency cycle: a -> a"):
        validate([spec("a", depends_on=["a"])])


def test_invalid_cron_and_timezone_name_the_job():
    with pytest.raises(DeclarationProblems) as info:
        validate([spec("nightly", cron="0 25 * * *"), spec("berlin", timezone="Berlin")])
    assert info.value.problems == [
        "job 'nightly': invalid cron '0 25 * * *': hour must be 0-23, got '25'",
        "job 'berlin': unknown timezone 'Berlin': use an IANA name such as "
        "'Europe/Berlin' or 'UTC'",
    ]


def test_a_cron_job_whose_params_have_required_fields_is_refused():
    class Window(BaseModel):
        day: date
        region: str
        full: bool = False

    with pytest.raises(DeclarationProblems) as info:
        validate([spec("nightly", cron="0 2 * * *", params=Window), spec("adhoc", params=Window)])
    assert info.value.problems == [
        "job 'nightly' runs on cron '0 2 * * *' but its params model requires day, region: a "
        "scheduled run takes the model's defaults, so give these fields defaults or run the job "
        "without a cron"
    ]


def test_the_same_upstream_twice_is_refused():
    with pytest.raises(DeclarationProblems, match="lists 'a' more than once in depends_on"):
        validate([spec("a"), spec("b", depends_on=["a", ("a", "completion")])])


def test_all_problems_are_reported_together_one_per_line(jobs_module):
    broken = jobs_module("raise RuntimeError('boom')\n")
    specs_module = jobs_module(
        HEADER
        + """
JOBS = [
    make_spec(id="a", name="a", kind="python", cron="bad"),
    make_spec(id="b", name="b", kind="python", depends_on=["c"]),
    make_spec(id="c", name="c", kind="python", depends_on=["b"]),
    make_spec(id="d", name="d", kind="python", depends_on=["nowhere"]),
]
"""
    )
    with pytest.raises(DeclarationProblems) as info:
        load_jobs([broken, specs_module])
    problems = info.value.problems
    assert len(problems) == 3
    assert "RuntimeError: boom" in problems[0]
    assert problems[1].startswith("job 'a': invalid cron 'bad'")
    assert problems[2].startswith("dependency cycle: b -> c -> b")
    # the missing upstream may be declared by the module that failed, so it is not reported
    message = str(info.value)
    assert message.splitlines()[0] == (
        "3 problems in the declared jobs (fix them all, then sync again):"
    )
    assert all(line.startswith("- ") for line in message.splitlines()[1:])


def test_sql_file_problems_in_a_module_are_listed_separately(jobs_module, tmp_path):
    folder = tmp_path / "sql"
    folder.mkdir()
    (folder / "a.sql").write_text("-- job: a\n-- colour: red\nSELECT 1;\n")
    (folder / "b.sql").write_text("-- job: b\n-- priority: high\nSELECT 1;\n")
    module = jobs_module(
        "from pathlib import Path\n"
        "from etl_orchestrator.jobs.sql import sql_jobs\n"
        f"SQL_JOBS = sql_jobs(Path({str(folder)!r}))\n"
    )
    with pytest.raises(DeclarationProblems) as info:
        load_jobs([module])
    assert len(info.value.problems) == 2
    assert "a.sql:2: unknown header key 'colour'" in info.value.problems[0]
    assert "b.sql:2: priority: 'high' is not a whole number" in info.value.problems[1]


def test_valid_sql_jobs_load_next_to_python_jobs(jobs_module, tmp_path):
    folder = tmp_path / "sql"
    folder.mkdir()
    (folder / "agg.sql").write_text("-- job: agg\n-- depends_on: extract\nSELECT 1;\n")
    module = jobs_module(
        HEADER
        + "from pathlib import Path\n"
        + "from etl_orchestrator.jobs.sql import sql_jobs\n"
        + f"SQL_JOBS = sql_jobs(Path({str(folder)!r}))\n"
        + '\n@job(id="extract")\ndef extract(ctx):\n    pass\n'
    )
    specs = load_jobs([module])
    assert specs["agg"].kind == "sql"
    assert specs["extract"].kind == "python"


def test_default_modules_come_from_the_environment(monkeypatch):
    from etl_orchestrator import config

    monkeypatch.setenv("ETL_JOBS_MODULES", "team_a.jobs, team_b.jobs")
    config.get_settings.cache_clear()
    assert default_modules() == ("team_a.jobs", "team_b.jobs")
