"""Parameter forms from JSON Schema: fields, field-by-field checks, params and prefill."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from etl_orchestrator.examples.facts import BackfillParams
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.services import param_form
from etl_orchestrator.services.param_form import (
    FORM_KEY,
    ParamField,
    UnsupportedSchema,
    check_field,
    field_errors,
    fields_from_schema,
    initial_values,
    to_params,
    validate_field,
)
from etl_orchestrator.services.runs import ParamsError, validate_params


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Everything(BaseModel):
    """Every kind the form renders."""

    name: str = Field(min_length=2, max_length=5, pattern="^[a-z]+$", description="A short id")
    count: int = Field(3, ge=1, le=10)
    ratio: float = Field(0.5, gt=0, lt=1)
    enabled: bool = True
    colour: Colour = Colour.RED
    maybe_colour: Colour | None = None
    day: date
    at: datetime | None = None
    ids: list[int] = Field(default_factory=list, max_length=3)
    tags: list[str] = ["a", "b"]
    colours: list[Colour] = Field(default_factory=list)


@pytest.fixture
def fields() -> dict[str, ParamField]:
    return {f.name: f for f in fields_from_schema(Everything.model_json_schema())}


def test_every_property_becomes_a_field_in_schema_order_with_its_kind(fields):
    assert list(fields) == list(Everything.model_fields)
    kinds = {name: (f.kind, f.item_kind) for name, f in fields.items()}
    assert kinds == {
        "name": ("string", ""),
        "count": ("integer", ""),
        "ratio": ("number", ""),
        "enabled": ("boolean", ""),
        "colour": ("enum", ""),
        "maybe_colour": ("enum", ""),
        "day": ("date", ""),
        "at": ("date-time", ""),
        "ids": ("array", "integer"),
        "tags": ("array", "string"),
        "colours": ("array", "enum"),
    }


def test_required_marks_defaults_labels_and_descriptions_come_from_the_schema(fields):
    assert [name for name, f in fields.items() if f.required] == ["name", "day"]
    assert fields["name"].description == "A short id"
    assert fields["name"].label == "Name"
    assert fields["maybe_colour"].label == "Maybe colour"  # not the enum's class name
    assert (fields["count"].default, fields["enabled"].default) == ("3", "true")
    assert fields["tags"].default == "a, b"
    assert fields["maybe_colour"].default == ""
    assert fields["maybe_colour"].nullable


def test_refs_into_defs_are_followed_for_enums_and_array_items(fields):
    assert fields["colour"].options == ["red", "blue"]
    assert fields["maybe_colour"].options == ["red", "blue"]
    assert fields["colours"].options == ["red", "blue"]


def test_an_all_of_reference_as_older_pydantic_emits_it_is_followed():
    schema = {
        "$defs": {"Mode": {"enum": ["fast", "safe"], "type": "string"}},
        "properties": {"mode": {"allOf": [{"$ref": "#/$defs/Mode"}], "default": "safe"}},
    }
    [f] = fields_from_schema(schema)
    assert (f.kind, f.options, f.default) == ("enum", ["fast", "safe"], "safe")


def test_a_date_time_default_is_shown_as_a_datetime_local_input_holds_it():
    class At(BaseModel):
        at: datetime = datetime(2024, 3, 1, 6, 30, tzinfo=UTC)

    [f] = fields_from_schema(At.model_json_schema())
    assert f.default == "2024-03-01T06:30"
    assert check_field(f, f.default) == ("", "2024-03-01T06:30:00Z")


def test_a_job_without_parameters_has_no_fields():
    assert fields_from_schema(None) == []
    assert fields_from_schema({}) == []


@pytest.mark.parametrize(
    "node",
    [
        {"type": "object", "properties": {}},
        {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        {"$ref": "#/$defs/Missing"},
    ],
)
def test_a_schema_the_form_cannot_render_is_refused_naming_the_parameter(node):
    with pytest.raises(UnsupportedSchema, match="parameter 'odd'"):
        fields_from_schema({"properties": {"odd": node}})


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("name", "", "Name is required"),
        ("name", "a", "too short"),
        ("name", "abcdef", "too long"),
        ("name", "ab1", "does not match"),
        ("count", "", ""),
        ("count", "2.5", "not a whole number"),
        ("count", "0", "out of range: it must be ≥ 1 and ≤ 10"),
        ("count", "11", "out of range"),
        ("ratio", "1", "out of range: it must be > 0 and < 1"),
        ("ratio", "abc", "not a number"),
        ("ratio", "nan", "not a finite number"),
        ("day", "", "Day is required"),
        ("day", "2024-02-30", "not a date"),
        ("at", "yesterday", "not a date and time"),
        ("colour", "green", "choose one of red, blue"),
        ("enabled", "maybe", "choose yes or no"),
        ("ids", "1, x", "'x' is not a whole number"),
        ("ids", "1,,2", "empty value between commas"),
        ("ids", "1,2,3,4", "at most 3 values"),
        ("colours", "red, green", "choose one of red, blue"),
    ],
)
def test_each_field_is_checked_against_its_schema_as_the_user_types(fields, name, text, error):
    found = validate_field(fields[name], text)
    if error:
        assert error in found
    else:
        assert found == ""


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("name", " abc ", "abc"),
        ("count", "7", 7),
        ("ratio", "0.25", 0.25),
        ("enabled", "false", False),
        ("colour", "blue", "blue"),
        ("day", "2024-03-01", "2024-03-01"),
        ("at", "2024-03-01T10:30", "2024-03-01T10:30:00Z"),
        ("at", "2024-03-01T10:30:00+00:00", "2024-03-01T10:30:00Z"),
        ("ids", "1, 2", [1, 2]),
        ("tags", "x", ["x"]),
        ("maybe_colour", "", None),
    ],
)
def test_valid_text_becomes_the_json_value_the_model_reads(fields, name, text, value):
    assert check_field(fields[name], text) == ("", value)


def test_a_valid_form_gives_params_the_pydantic_model_accepts_unchanged(fields):
    values = initial_values(list(fields.values()))
    values |= {"name": "abc", "day": "2024-03-01", "at": "2024-03-01T10:30", "ids": "4"}
    params, errors = to_params(list(fields.values()), values)
    assert errors == {}
    model = Everything.model_validate(params)
    assert model.day == date(2024, 3, 1)
    assert model.ids == [4]
    assert model.tags == ["a", "b"]
    assert "maybe_colour" not in params  # unset: the model's default applies


def test_an_invalid_form_reports_every_field_and_gives_no_value_for_them(fields):
    params, errors = to_params(list(fields.values()), {"count": "0"})
    assert set(errors) == {"name", "count", "day"}
    assert "name" not in params


def test_a_rerun_prefills_from_the_previous_runs_params_and_keeps_defaults_elsewhere(fields):
    previous = {"name": "abc", "day": "2024-03-01", "at": "2024-03-01T10:30:00Z", "ids": [1, 2]}
    values = initial_values(list(fields.values()), previous)
    assert values["name"] == "abc"
    assert values["at"] == "2024-03-01T10:30"  # what a datetime-local input holds
    assert values["ids"] == "1, 2"
    assert values["count"] == "3"
    params, errors = to_params(list(fields.values()), values)
    assert errors == {}
    assert params["at"] == previous["at"]


def test_the_servers_errors_land_on_their_fields_and_model_errors_on_the_form():
    fields = fields_from_schema(BackfillParams.model_json_schema())
    with pytest.raises(ParamsError) as caught:
        validate_params(_spec(BackfillParams), "backfill_sales", {"start": "2024-03-02"})
    assert field_errors(fields, caught.value.errors) == {"end": "Field required"}
    with pytest.raises(ParamsError) as caught:
        validate_params(
            _spec(BackfillParams), "backfill_sales", {"start": "2024-03-02", "end": "2024-03-01"}
        )
    placed = field_errors(fields, caught.value.errors)
    assert list(placed) == [FORM_KEY]
    assert placed[FORM_KEY].startswith("end 2024-03-01 is before start 2024-03-02")


def test_the_demo_backfill_form_has_two_required_dates_and_an_optional_flag():
    fields = fields_from_schema(BackfillParams.model_json_schema())
    assert [(f.name, f.kind, f.required) for f in fields] == [
        ("start", "date", True),
        ("end", "date", True),
        ("full_refresh", "boolean", False),
    ]
    assert fields[0].description == "First order date to reload (inclusive)"


def _spec(model: type[BaseModel]) -> JobSpec:
    return JobSpec(id="backfill_sales", name="Backfill", kind="python", params=model)


@given(st.integers(min_value=-1000, max_value=1000))
def test_an_integer_passes_the_form_exactly_when_it_passes_the_model(number):
    [f] = [f for f in fields_from_schema(Everything.model_json_schema()) if f.name == "count"]
    form_ok = validate_field(f, str(number)) == ""
    assert form_ok == (1 <= number <= 10)
    assert param_form.check_field(f, str(number))[1] == (number if form_ok else None)
