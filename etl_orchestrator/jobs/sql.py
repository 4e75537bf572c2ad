"""SQL jobs: `.sql` files with a `-- key: value` header, and how their statements are run."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, text

from etl_orchestrator.cron import CronError, validate_cron, validate_timezone
from etl_orchestrator.jobs.context import RunContext
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.jobs.spec import JobSpec, RetryPolicy, make_spec
from etl_orchestrator.jobs.warehouse import row_count, table_checksum

_HEADER_LINE = re.compile(r"^--\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)$")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z]+)", re.DOTALL)
_DML = frozenset({"INSERT", "UPDATE", "DELETE"})
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_RETRY_KEYS = ("max_attempts", "base_s", "factor", "max_s", "jitter")


class SqlSyntaxError(ValueError):
    """The SQL text cannot be split into statements; `offset` is where the problem starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _skip_quoted(sql: str, start: int) -> int:
    """Index just past the quoted literal or identifier that opens at `start`."""
    quote = sql[start]
    # E'...' strings (PostgreSQL) are the only ones where a backslash escapes the quote.
    backslash = (
        quote == "'"
        and start > 0
        and sql[start - 1] in "eE"
        and (start == 1 or not (sql[start - 2].isalnum() or sql[start - 2] == "_"))
    )
    i = start + 1
    while i < len(sql):
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if sql.startswith(quote * 2, i):
                i += 2
                continue
            return i + 1
        i += 1
    raise SqlSyntaxError(f"unterminated {quote} quote", start)


def split_statements(sql: str) -> list[str]:
    """Split on `;` outside quotes, comments and $$ bodies; drop statements with no code."""
    statements: list[str] = []
    start = 0
    has_code = False
    i = 0
    while i < len(sql):
        ch = sql[i]
        if sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = len(sql) if newline < 0 else newline + 1
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise SqlSyntaxError("unterminated /* comment", i)
            i = end + 2
            continue
        if ch == ";":
            if has_code:
                statements.append(sql[start:i].strip())
            start, has_code = i + 1, False
            i += 1
            continue
        if ch in "'\"`":
            i, has_code = _skip_quoted(sql, i), True
            continue
        if ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            tag = _DOLLAR_TAG.match(sql, i)
            if tag:
                end = sql.find(tag.group(), tag.end())
                if end < 0:
                    raise SqlSyntaxError(f"unterminated {tag.group()} quoted body", i)
                i, has_code = end + len(tag.group()), True
                continue
        if not ch.isspace():
            has_code = True
        i += 1
    if has_code:
        statements.append(sql[start:].strip())
    return statements


def _line_of(text_: str, offset: int) -> int:
    return text_.count("\n", 0, offset) + 1


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _text(value: str) -> str:
    return value


def _required_text(value: str) -> str:
    if not value:
        raise ValueError("needs a value")
    return value


def _optional_cron(value: str) -> str | None:
    return validate_cron(value) if value else None


def _timezone(value: str) -> str:
    validate_timezone(value)
    return value


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if number <= 0:
        raise ValueError(f"{value!r} must be a positive number of seconds")
    return number


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a yes/no value: use true or false")


def _catchup(value: str) -> str:
    if value not in ("latest", "all", "none"):
        raise ValueError(f"{value!r} is not one of latest, all, none")
    return value


def _depends_on(value: str) -> list[tuple[str, str]]:
    deps: list[tuple[str, str]] = []
    for item in _split_list(value):
        job_id, _, dep_type = item.partition(":")
        dep_type = dep_type.strip() or "success"
        if dep_type not in ("success", "completion"):
            raise ValueError(
                f"{item!r}: the dependency type after ':' must be 'success' or 'completion'"
            )
        deps.append((job_id.strip(), dep_type))
    return deps


def _retry(value: str) -> RetryPolicy:
    settings: dict[str, float] = {}
    for item in value.split():
        key, sep, raw = item.partition("=")
        if not sep or key not in _RETRY_KEYS:
            raise ValueError(
                f"{item!r} is not understood: write key=value pairs with keys "
                + ", ".join(_RETRY_KEYS)
            )
        try:
            settings[key] = float(raw)
        except ValueError:
            raise ValueError(f"{item!r}: {raw!r} is not a number") from None
    max_attempts = settings.pop("max_attempts", 3)
    if max_attempts != int(max_attempts):
        raise ValueError(f"max_attempts={max_attempts:g} must be a whole number")
    return RetryPolicy(max_attempts=int(max_attempts), **settings)


#: Header key -> (make_spec argument, parser of the value text).
_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "job": ("id", _required_text),
    "name": ("name", _required_text),
    "description": ("description", _text),
    "cron": ("cron", _optional_cron),
    "timezone": ("timezone", _timezone),
    "depends_on": ("depends_on", _depends_on),
    "tags": ("tags", _split_list),
    "domain": ("domain", _text),
    "reads": ("reads", _split_list),
    "writes": ("writes", _split_list),
    "timeout_s": ("timeout_s", _positive_float),
    "wait_timeout_s": ("wait_timeout_s", _positive_float),
    "retry": ("retry", _retry),
    "priority": ("priority", _int),
    "enabled": ("enabled", _bool),
    "supports_dry_run": ("supports_dry_run", _bool),
    "catchup": ("catchup", _catchup),
    "reuse_process": ("reuse_process", _bool),
}


def _parse_header(path: Path, lines: list[str]) -> tuple[dict[str, Any], int, list[str]]:
    """Read the header; return the make_spec arguments, the body's first line index and errors.

    The header is the first block of `--` lines (blank lines may come before it); it ends at the
    first line that is not a `--` comment, so comments further down belong to the SQL.
    """
    values: dict[str, Any] = {}
    seen: dict[str, int] = {}
    errors: list[str] = []
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines) and lines[index].lstrip().startswith("--"):
        lineno = index + 1
        match = _HEADER_LINE.match(lines[index].strip())
        index += 1
        if match is None:
            continue  # a plain comment in the header
        key, raw = match.group(1).lower(), match.group(2).strip()
        if key not in _KEYS:
            errors.append(
                f"{path}:{lineno}: unknown header key {key!r}; known keys: {', '.join(_KEYS)}"
            )
            continue
        if key in seen:
            errors.append(f"{path}:{lineno}: {key!r} is set twice (first on line {seen[key]})")
            continue
        seen[key] = lineno
        argument, parse = _KEYS[key]
        try:
            values[argument] = parse(raw)
        except (ValueError, CronError, DeclarationError) as error:
            errors.append(f"{path}:{lineno}: {key}: {error}")
    return values, index, errors


def _read_sql_job(path: Path) -> tuple[JobSpec | None, list[str]]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [f"{path}: cannot be read: {error}"]
    lines = source.splitlines(keepends=True)
    values, body_index, errors = _parse_header(path, lines)
    raw_body = "".join(lines[body_index:])
    body = raw_body.strip()
    try:
        if not split_statements(body):
            errors.append(f"{path}:{body_index + 1}: no SQL statements after the header")
    except SqlSyntaxError as error:
        offset = len(raw_body) - len(raw_body.lstrip()) + error.offset
        errors.append(f"{path}:{body_index + _line_of(raw_body, offset)}: {error}")
    if errors:
        return None, errors
    values.setdefault("id", path.stem)
    values.setdefault("name", str(values["id"]).replace("_", " "))
    try:
        return make_spec(kind="sql", sql=body, source=str(path), **values), []
    except DeclarationError as error:
        return None, [f"{path}:1: {error}"]


def sql_job(path: Path) -> JobSpec:
    """The job declared by one `.sql` file; DeclarationError lists every problem with its line."""
    spec, errors = _read_sql_job(path)
    if spec is None:
        raise DeclarationError("\n".join(errors))
    return spec


def sql_jobs(directory: Path) -> list[JobSpec]:
    """Every `*.sql` job in `directory` (sorted by file name); all files' problems at once."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DeclarationError(f"SQL jobs folder {directory} does not exist or is not a folder")
    specs: list[JobSpec] = []
    errors: list[str] = []
    for path in sorted(directory.glob("*.sql")):
        spec, file_errors = _read_sql_job(path)
        errors.extend(file_errors)
        if spec is not None:
            specs.append(spec)
    if errors:
        raise DeclarationError("\n".join(errors))
    return specs


def _is_dml(statement: str) -> bool:
    match = _FIRST_WORD.match(statement)
    return bool(match and match.group(1).upper() in _DML)


def _execute(conn: Connection, statement: str, params: dict[str, Any] | None) -> CursorResult[Any]:
    if params is None:
        # Sent as written: without params, a ':' in the SQL (casts, literals) is not a bind marker.
        return conn.exec_driver_sql(statement)
    return conn.execute(text(statement), params)


def run_sql_job(ctx: RunContext, spec: JobSpec) -> None:
    """Run the statements in order on ctx.warehouse and record lineage.

    Read is the row count of the declared `reads` tables before the statements run; written is
    the sum of INSERT/UPDATE/DELETE row counts; the checksum is over the first `writes` table.
    """
    if not spec.sql:
        raise DeclarationError(f"job {spec.id!r} has no SQL to run")
    statements = split_statements(spec.sql)
    conn = ctx.warehouse
    # JSON-mode values: dates as ISO text, which SQLite stores as text and PostgreSQL (which gets
    # text parameters untyped from psycopg) casts to whatever the column needs.
    params = ctx.params.model_dump(mode="json") if ctx.params is not None else None
    read = sum(row_count(conn, table) for table in spec.reads) if spec.reads else None
    written = 0
    for number, statement in enumerate(statements, start=1):
        ctx.check_cancelled()
        try:
            result = _execute(conn, statement, params)
        except Exception as error:
            ctx.log.error("statement %d of %d failed: %s", number, len(statements), error)
            error.add_note(f"in statement {number} of {len(statements)} of job {spec.id!r}")
            raise
        rowcount = result.rowcount if _is_dml(statement) else -1
        result.close()
        if rowcount >= 0:
            written += rowcount
        ctx.log.info(
            "statement %d of %d done%s",
            number,
            len(statements),
            f": {rowcount} rows" if rowcount >= 0 else "",
        )
    checksum = table_checksum(conn, spec.writes[0]) if spec.writes else None
    ctx.lineage(read=read, written=written, tables=spec.writes, checksum=checksum)
