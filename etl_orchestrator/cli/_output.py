"""Shared printing for commands: aligned tables, label/value blocks and JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from etl_orchestrator.timeutil import iso


def cell(value: Any) -> str:
    """How one value reads in a table: '-' for nothing, yes/no, UTC ISO times, joined lists."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return iso(value) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, file: TextIO | None = None
) -> None:
    """Columns padded to their widest cell, a dashed rule under the headers."""
    out = file or sys.stdout
    text_rows = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in text_rows:
        widths = [max(width, len(value)) for width, value in zip(widths, row, strict=True)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True))

    print(line(headers).rstrip(), file=out)
    print(line(["-" * width for width in widths]).rstrip(), file=out)
    for row in text_rows:
        print(line(row).rstrip(), file=out)


def print_fields(fields: Sequence[tuple[str, Any]], *, file: TextIO | None = None) -> None:
    """`Label   value` lines with the values aligned; multi-line values stay indented."""
    out = file or sys.stdout
    width = max((len(label) for label, _ in fields), default=0)
    for label, value in fields:
        lines = cell(value).splitlines() or ["-"]
        print(f"{label.ljust(width)}  {lines[0]}", file=out)
        for extra in lines[1:]:
            print(f"{' ' * width}  {extra}", file=out)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def print_json(data: Any, *, file: TextIO | None = None) -> None:
    """Indented JSON; datetimes as ISO 8601 UTC with a Z."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=_default), file=file or sys.stdout)
