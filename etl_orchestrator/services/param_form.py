"""A job's parameter JSON Schema as form fields, and each field's text checked against it.

Pure: no database, no Reflex. The schema is what pydantic emits for the job's params model
(`$defs` with `$ref`, `anyOf [..., null]` for optional fields, `allOf [$ref]` from older
pydantic). The form holds text, as inputs do; `to_params` turns it into JSON values. The job's
pydantic model stays the final judge (services.runs.validate_params): this module catches what
the schema can say early, field by field, while the user types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

#: The kinds of field the form renders; anything else is refused with a clear message.
KINDS = ("string", "integer", "number", "boolean", "enum", "date", "date-time", "array")
#: The error key of a problem that belongs to no single field (a model validator's).
FORM_KEY = "params"


class UnsupportedSchema(ValueError):
    """The schema holds a parameter the form cannot render; the message names it."""


@dataclass
class ParamField:
    """One input of the form. Defaults and options are text, as the inputs hold them."""

    name: str = ""
    label: str = ""
    kind: str = "string"
    #: For arrays: the kind of each item (never "array").
    item_kind: str = ""
    required: bool = False
    description: str = ""
    default: str = ""
    options: list[str] = field(default_factory=list)
    #: What the input tells the user about the accepted values ("1 to 10", "YYYY-MM-DD"...).
    hint: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str = ""
    min_items: int | None = None
    max_items: int | None = None
    nullable: bool = False


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """The node with `$ref`/single `allOf` followed and `anyOf [X, null]` unwrapped.

    Keys of the referring node (default, description, title) win over the referenced ones.
    """
    out = dict(node)
    seen: set[str] = set()
    while True:
        ref = out.pop("$ref", None)
        if ref is None and len(out.get("allOf") or []) == 1:
            ref = out.pop("allOf")[0].get("$ref")
        if ref is None:
            break
        if not isinstance(ref, str) or not ref.startswith("#/$defs/") or ref in seen:
            raise UnsupportedSchema(f"unsupported reference {ref!r}")
        seen.add(ref)
        target = defs.get(ref.removeprefix("#/$defs/"))
        if not isinstance(target, Mapping):
            raise UnsupportedSchema(f"reference {ref!r} is not defined in $defs")
        # A referenced model's title names its class, not this field.
        out = {**{k: v for k, v in target.items() if k != "title"}, **out}
    options = out.get("anyOf") or out.get("oneOf")
    if options:
        real = [o for o in options if o.get("type") != "null"]
        if len(real) != 1:
            raise UnsupportedSchema("a choice between several types")
        rest = {k: v for k, v in out.items() if k not in ("anyOf", "oneOf")}
        resolved = _resolve({**real[0], **{k: v for k, v in rest.items() if k != "type"}}, defs)
        resolved["nullable"] = len(real) != len(options)
        return resolved
    return out


def _kind(node: Mapping[str, Any]) -> str:
    if "enum" in node:
        return "enum"
    kind = node.get("type")
    if kind == "string" and node.get("format") in ("date", "date-time"):
        return str(node["format"])
    if kind in ("string", "integer", "number", "boolean", "array"):
        return str(kind)
    raise UnsupportedSchema(f"type {kind!r}")


def _text(value: Any) -> str:
    """A JSON value as an input holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _num(node: Mapping[str, Any], key: str) -> float | None:
    value = node.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(node: Mapping[str, Any], key: str) -> int | None:
    value = node.get(key)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _range_hint(f: ParamField) -> str:
    low = (
        f"≥ {_fmt(f.minimum)}"
        if f.minimum is not None
        else (f"> {_fmt(f.exclusive_minimum)}" if f.exclusive_minimum is not None else "")
    )
    high = (
        f"≤ {_fmt(f.maximum)}"
        if f.maximum is not None
        else (f"< {_fmt(f.exclusive_maximum)}" if f.exclusive_maximum is not None else "")
    )
    return " and ".join(part for part in (low, high) if part)


def _hint(f: ParamField) -> str:
    kind = f.item_kind if f.kind == "array" else f.kind
    parts = {
        "integer": "a whole number",
        "number": "a number",
        "date": "a date, YYYY-MM-DD",
        "date-time": "a date and time in UTC",
    }
    hint = parts.get(kind, "")
    if kind in ("integer", "number") and _range_hint(f):
        hint = f"{hint}, {_range_hint(f)}"
    if kind == "string" and (f.min_length is not None or f.max_length is not None):
        hint = f"{f.min_length or 0} to {f.max_length if f.max_length is not None else '∞'} chars"
    if f.kind == "array":
        hint = "values separated by commas" + (f"; each {hint}" if hint else "")
        if f.kind == "array" and kind == "enum":
            hint += f"; each one of {', '.join(f.options)}"
    return hint


def _field(
    name: str, raw: Mapping[str, Any], required: bool, defs: Mapping[str, Any]
) -> ParamField:
    try:
        node = _resolve(raw, defs)
        kind = _kind(node)
        f = ParamField(
            name=name,
            label=str(node.get("title") or name.replace("_", " ").capitalize()),
            kind=kind,
            required=required,
            description=str(node.get("description") or ""),
            default=_local(kind, _text(node.get("default"))),
            nullable=bool(node.get("nullable")),
        )
        items = node
        if kind == "array":
            items = _resolve(node.get("items") or {}, defs)
            f.item_kind = _kind(items)
            if f.item_kind == "array":
                raise UnsupportedSchema("arrays of arrays")
            f.min_items, f.max_items = _int(node, "minItems"), _int(node, "maxItems")
    except UnsupportedSchema as error:
        raise UnsupportedSchema(
            f"parameter {name!r}: {error} is not supported by the form"
        ) from None
    f.options = [_text(option) for option in items.get("enum", [])]
    f.minimum, f.maximum = _num(items, "minimum"), _num(items, "maximum")
    f.exclusive_minimum = _num(items, "exclusiveMinimum")
    f.exclusive_maximum = _num(items, "exclusiveMaximum")
    f.min_length, f.max_length = _int(items, "minLength"), _int(items, "maxLength")
    f.pattern = str(items.get("pattern") or "")
    f.hint = _hint(f)
    return f


def fields_from_schema(schema: Mapping[str, Any] | None) -> list[ParamField]:
    """The form's fields, in the schema's order; [] for a job without parameters."""
    if not schema:
        return []
    defs = schema.get("$defs") or schema.get("definitions") or {}
    required = set(schema.get("required") or [])
    return [
        _field(name, node, name in required, defs)
        for name, node in (schema.get("properties") or {}).items()
    ]


def _item_error(f: ParamField, kind: str, text: str) -> tuple[str, Any]:
    """(error, value) for one value of kind `kind`; the error is "" when the text is fine."""
    if kind == "enum":
        if text not in f.options:
            return f"choose one of {', '.join(f.options)}", None
        return "", text
    if kind == "boolean":
        if text not in ("true", "false"):
            return "choose yes or no", None
        return "", text == "true"
    if kind == "date":
        try:
            return "", date.fromisoformat(text).isoformat()
        except ValueError:
            return f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2024-03-01", None
    if kind == "date-time":
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return f"{text!r} is not a date and time: use YYYY-MM-DDTHH:MM (UTC)", None
        # A browser's datetime-local has no zone: the console means UTC everywhere.
        iso = moment.isoformat() if moment.tzinfo else moment.isoformat() + "Z"
        return "", iso.replace("+00:00", "Z")
    if kind in ("integer", "number"):
        return _number_error(f, kind, text)
    return _string_error(f, text)


def _number_error(f: ParamField, kind: str, text: str) -> tuple[str, Any]:
    value: float
    try:
        value = int(text) if kind == "integer" else float(text)
    except ValueError:
        return f"{text!r} is not {'a whole number' if kind == 'integer' else 'a number'}", None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{text!r} is not a finite number", None
    low_ok = (f.minimum is None or value >= f.minimum) and (
        f.exclusive_minimum is None or value > f.exclusive_minimum
    )
    high_ok = (f.maximum is None or value <= f.maximum) and (
        f.exclusive_maximum is None or value < f.exclusive_maximum
    )
    if not (low_ok and high_ok):
        return f"{text} is out of range: it must be {_range_hint(f)}", None
    return "", value


def _string_error(f: ParamField, text: str) -> tuple[str, Any]:
    if f.min_length is not None and len(text) < f.min_length:
        return f"too short: at least {f.min_length} characters", None
    if f.max_length is not None and len(text) > f.max_length:
        return f"too long: at most {f.max_length} characters", None
    if f.pattern:
        try:
            matches = re.search(f.pattern, text) is not None
        except re.error:
            matches = True  # a pattern Python cannot read: the model decides
        if not matches:
            return f"does not match the expected form ({f.pattern})", None
    return "", text


def check_field(f: ParamField, text: str) -> tuple[str, Any]:
    """(error, JSON value) for one field's text; error "" means valid, value None means unset.

    An empty optional field is unset (the model's default applies); an empty required one is an
    error.
    """
    text = text.strip()
    if not text:
        if f.required:
            return f"{f.label} is required", None
        return "", None
    if f.kind != "array":
        return _item_error(f, f.kind, text)
    parts = [part.strip() for part in text.split(",")]
    if any(not part for part in parts):
        return "an empty value between commas: remove the extra comma", None
    if f.min_items is not None and len(parts) < f.min_items:
        return f"give at least {f.min_items} values", None
    if f.max_items is not None and len(parts) > f.max_items:
        return f"give at most {f.max_items} values", None
    values = []
    for part in parts:
        error, value = _item_error(f, f.item_kind, part)
        if error:
            return error, None
        values.append(value)
    return "", values


def validate_field(f: ParamField, text: str) -> str:
    """The field's error message, or "" when its text is valid."""
    return check_field(f, text)[0]


def to_params(
    fields: list[ParamField], values: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(params for the job's model, errors by field name); unset optional fields are left out."""
    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        error, value = check_field(f, values.get(f.name, ""))
        if error:
            errors[f.name] = error
        elif value is not None:
            params[f.name] = value
    return params, errors


def initial_values(
    fields: list[ParamField], params: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The form's starting text: a previous run's params (for a rerun), else the defaults."""
    given = params or {}
    values: dict[str, str] = {}
    for f in fields:
        values[f.name] = _local(f.kind, _text(given[f.name])) if f.name in given else f.default
    return values


def _local(kind: str, text: str) -> str:
    """A UTC date-time as a datetime-local input holds it (YYYY-MM-DDTHH:MM); others as given."""
    if kind != "date-time" or not text:
        return text
    return text.replace("Z", "").replace("+00:00", "")[:16]


def field_errors(fields: list[ParamField], errors: Mapping[str, str]) -> dict[str, str]:
    """The server's errors (by pydantic location) placed on the form: a field's own under its
    name, anything else (a model validator's, an unknown parameter's) under FORM_KEY."""
    names = {f.name for f in fields}
    placed: dict[str, str] = {}
    other: list[str] = []
    for loc, message in errors.items():
        head = loc.split(".", 1)[0]
        if head in names:
            placed[head] = message.removeprefix("Value error, ")
        else:
            other.append(message.removeprefix("Value error, "))
    if other:
        placed[FORM_KEY] = "; ".join(other)
    return placed
