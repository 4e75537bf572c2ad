"""`etl-orchestrator run JOB` and `runs list|show|logs`: trigger runs, watch them, read logs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

from redis.exceptions import RedisError

from etl_orchestrator import events
from etl_orchestrator.cli import CommandError
from etl_orchestrator.cli._output import print_fields, print_json, print_table
from etl_orchestrator.cli.db import database_errors
from etl_orchestrator.db import session_scope
from etl_orchestrator.engine.logsink import log_stream
from etl_orchestrator.jobs.errors import DeclarationError
from etl_orchestrator.models import Run, RunAttempt, RunEvent
from etl_orchestrator.redis_conn import sync_client
from etl_orchestrator.services import run_actions, run_queries
from etl_orchestrator.services import runs as run_service
from etl_orchestrator.services.audit import shell_actor
from etl_orchestrator.services.log_follow import line_of_stream
from etl_orchestrator.services.log_queries import Line
from etl_orchestrator.states import FINAL, RunStatus
from etl_orchestrator.timeutil import as_utc, iso

WAIT_POLL_S = 0.5
FOLLOW_BLOCK_MS = 1000
STATUS_CHECK_S = 1.0
EXCERPT_CHARS = 60
LOG_PAGE = 500


def parse_params(pairs: Sequence[str], params_json: str | None) -> dict[str, Any]:
    """--params-json's object, then each --param NAME=VALUE on top (a --param wins)."""
    params: dict[str, Any] = {}
    if params_json is not None:
        try:
            value = json.loads(params_json)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"--params-json is not valid JSON: {error.msg} at line {error.lineno} "
                f"column {error.colno} (character {error.pos}); "
                """pass an object such as '{"day": "2024-01-31"}'"""
            ) from None
        if not isinstance(value, dict):
            raise CommandError(
                f"--params-json must be a JSON object of names to values, not a "
                f'{type(value).__name__}; for example \'{{"day": "2024-01-31"}}\''
            )
        params.update(value)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CommandError(
                f"--param {pair!r} is not NAME=VALUE; write it like --param day=2024-01-31"
            )
        params[name.strip()] = value
    return params


def _excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    lines = (text or "").strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def _when(value: datetime | None) -> str | None:
    """To the second: a list's columns stay narrow; `runs show` and --json keep full precision."""
    return None if value is None else iso(as_utc(value).replace(microsecond=0))


def _status(run: Run) -> str:
    return f"{run.status} ({run.status_detail})" if run.status_detail else run.status


def _brief(run: Run) -> dict[str, Any]:
    return {"run_id": run.run_id, "job_id": run.job_id, "status": run.status}


def _event_line(event: RunEvent, job_id: str) -> str:
    detail = f" ({event.detail})" if event.detail else ""
    return (
        f"{iso(event.ts)}  run {event.run_id} {job_id}: "
        f"{event.from_status} -> {event.to_status}{detail}"
    )


def _wait(batch_id: str, progress: TextIO) -> list[Run]:
    """Poll until every run of the batch is final, printing each status change once."""
    seen: set[int] = set()
    while True:
        with database_errors(), session_scope() as session:
            # Runs before events: a status seen here has its event committed with it.
            runs = run_queries.batch_runs(session, batch_id)
            timeline = run_queries.events_of(session, [run.run_id or 0 for run in runs])
        jobs = {run.run_id: run.job_id for run in runs}
        for event in timeline:
            if event.event_id in seen:
                continue
            seen.add(event.event_id or 0)
            if event.from_status is not None:  # creation was reported when triggering
                print(_event_line(event, jobs[event.run_id]), file=progress, flush=True)
        if all(run.status in FINAL for run in runs):
            return runs
        time.sleep(WAIT_POLL_S)


def _print_final(runs: list[Run]) -> None:
    print("final statuses:")
    print_table(
        ["RUN", "JOB", "STATUS", "ATTEMPTS", "DURATION", "ERROR"],
        [
            [
                run.run_id,
                run.job_id,
                run.status,
                run.attempts,
                _duration(run.duration_s),
                _excerpt(run.error_excerpt),
            ]
            for run in runs
        ],
    )
    failed = [run for run in runs if run.status != RunStatus.SUCCEEDED]
    if not failed:
        print(f"all {len(runs)} runs succeeded" if len(runs) > 1 else "the run succeeded")
    else:
        listing = ", ".join(f"{run.job_id} {run.status}" for run in failed)
        print(f"{len(failed)} of {len(runs)} runs did not succeed: {listing}")


def _trigger(args: argparse.Namespace, params: dict[str, Any]) -> run_service.TriggerResult:
    try:
        with database_errors(), session_scope() as session:
            return run_service.trigger(
                session,
                job_id=args.job,
                params=params,
                downstream=args.downstream,
                concurrency=args.concurrency,
                dry_run=args.dry_run,
                requested_by=shell_actor(),
                reason=args.reason,
            )
    except run_service.ParamsError:
        raise
    except run_service.TriggerError as error:
        raise CommandError(f"{error}; nothing was queued") from error
    except DeclarationError as error:
        raise CommandError(
            f"the jobs declared in ETL_JOBS_MODULES cannot be loaded, so the params cannot be "
            f"checked; nothing was queued. Fix the jobs code first: {error}"
        ) from error


def _run(args: argparse.Namespace) -> int:
    params = parse_params(args.param or [], args.params_json)
    events.install()  # wakes the dispatcher at once instead of on its next timer pass
    try:
        result = _trigger(args, params)
    except run_service.ParamsError as error:
        return _print_params_error(error, args.job)
    runs = result.runs
    if not args.json:
        kind = "dry-run batch" if args.dry_run else "batch"
        print(f"queued {kind} {result.batch_id}: {len(runs)} run{'s' if len(runs) > 1 else ''}")
        print_table(["RUN", "JOB", "STATUS"], [[r.run_id, r.job_id, _status(r)] for r in runs])
    if not args.wait:
        if args.json:
            print_json({"batch_id": result.batch_id, "runs": [_brief(r) for r in runs]})
        return 0
    progress = sys.stderr if args.json else sys.stdout
    print("waiting for the runs to finish (Ctrl-C stops waiting; the runs go on)", file=progress)
    try:
        runs = _wait(result.batch_id, progress)
    except KeyboardInterrupt:
        print(
            f"stopped waiting; follow the batch with `etl-orchestrator runs list` "
            f"(runs {', '.join(str(r) for r in result.run_ids)})",
            file=sys.stderr,
        )
        return 130
    if args.json:
        print_json({"batch_id": result.batch_id, "runs": [_brief(r) for r in runs]})
    else:
        _print_final(runs)
    return 0 if all(run.status == RunStatus.SUCCEEDED for run in runs) else 1


def _list(args: argparse.Namespace) -> int:
    try:
        with database_errors(), session_scope() as session:
            page = run_queries.list_runs(
                session, job_id=args.job, status=args.status, before=args.before, limit=args.limit
            )
    except ValueError as error:
        raise CommandError(str(error)) from error
    if args.json:
        print_json(
            {"runs": [run.model_dump() for run in page.runs], "next_before": page.next_before}
        )
        return 0
    if not page.runs:
        print("no runs" + (" match these filters" if args.job or args.status else " yet"))
        return 0
    print_table(
        [
            "RUN",
            "JOB",
            "TRIGGER",
            "STATUS",
            "ATT",
            "QUEUED (UTC)",
            "STARTED (UTC)",
            "ENDED (UTC)",
            "DURATION",
            "READ",
            "WRITTEN",
            "DRY",
            "ERROR",
        ],
        [
            [
                run.run_id,
                run.job_id,
                run.trigger,
                run.status,
                f"{run.attempts}/{run.max_attempts}",
                _when(run.queued_at),
                _when(run.started_at),
                _when(run.ended_at),
                _duration(run.duration_s),
                run.records_read,
                run.records_written,
                "dry" if run.dry_run else "",
                _excerpt(run.error_excerpt),
            ]
            for run in page.runs
        ],
    )
    if page.next_before is not None:
        filters = "".join(
            f" {flag} {value}"
            for flag, value in (("--job", args.job), ("--status", args.status))
            if value
        )
        print(
            f"older runs: etl-orchestrator runs list{filters} --limit {args.limit} "
            f"--before {page.next_before}"
        )
    return 0


def _detail(run_id: int) -> run_queries.RunDetail:
    try:
        with database_errors(), session_scope() as session:
            return run_queries.run_detail(session, run_id)
    except run_queries.UnknownRunError as error:
        raise CommandError(f"{error}; `etl-orchestrator runs list` shows recent runs") from error


def _print_run(run: Run) -> None:
    error = f"{run.error_class}: {run.error_excerpt}" if run.error_class else run.error_excerpt
    print_fields(
        [
            ("Run", f"{run.run_id} of job {run.job_id}"),
            ("Status", _status(run)),
            ("Batch", run.batch_id),
            ("Trigger", run.trigger),
            ("Retry of", run.retry_of),
            ("Dry-run", run.dry_run),
            ("Params", json.dumps(run.params, sort_keys=True) if run.params else None),
            ("Scheduled for", run.scheduled_for),
            ("Priority", run.priority),
            ("Concurrency", run.concurrency_override),
            ("Requested by", run.requested_by),
            ("Reason", run.reason),
            ("Attempts", f"{run.attempts} of {run.max_attempts}"),
            ("Attempt token", run.attempt_token),
            ("Queued", run.queued_at),
            ("Dispatched", run.dispatched_at),
            ("Started", run.started_at),
            ("Ended", run.ended_at),
            ("Duration", _duration(run.duration_s)),
            ("Next attempt", run.next_attempt_at),
            ("Heartbeat", run.heartbeat_at),
            ("Worker", run.worker),
            ("Records read", run.records_read),
            ("Records written", run.records_written),
            ("Tables", run.affected_tables),
            ("Checksum", run.checksum),
            ("Error", error),
        ]
    )


def _print_attempts(attempts: list[RunAttempt]) -> None:
    print()
    if not attempts:
        print("attempts: none yet")
        return
    print("attempts:")
    print_table(
        [
            "#",
            "OUTCOME",
            "CLASS",
            "ERROR",
            "WORKER",
            "STARTED (UTC)",
            "DURATION",
            "READ",
            "WRITTEN",
        ],
        [
            [
                a.attempt,
                a.outcome or "running",
                a.error_class,
                a.error_type,
                a.worker,
                a.started_at,
                _duration(a.duration_s),
                a.records_read,
                a.records_written,
            ]
            for a in attempts
        ],
    )
    for a in attempts:
        if a.error_message:
            print(f"  attempt {a.attempt}: {a.error_message}")
    if any(a.traceback for a in attempts):
        print("  (tracebacks: etl-orchestrator runs show RUN --json)")


def _print_timeline(timeline: list[RunEvent]) -> None:
    print()
    print("timeline:")
    print_table(
        ["TIME (UTC)", "CHANGE", "ATTEMPT", "BY", "DETAIL"],
        [
            [e.ts, f"{e.from_status or 'created'} -> {e.to_status}", e.attempt, e.actor, e.detail]
            for e in timeline
        ],
    )


def _show(args: argparse.Namespace) -> int:
    detail = _detail(args.run)
    if args.json:
        print_json(
            {
                "run": detail.run.model_dump(),
                "attempts": [a.model_dump() for a in detail.attempts],
                "events": [e.model_dump() for e in detail.events],
            }
        )
        return 0
    _print_run(detail.run)
    _print_attempts(detail.attempts)
    _print_timeline(detail.events)
    return 0


class LogPrinter:
    """Prints a run's lines once each, in (attempt, seq) order, from the database or the stream."""

    def __init__(self, run_id: int, attempt: int | None, out: TextIO) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.out = out
        self.cursor = (0, 0)

    def wants(self, line: Line) -> bool:
        if self.attempt is not None and line.attempt != self.attempt:
            return False
        return (line.attempt, line.seq) > self.cursor

    def follows_on(self, line: Line) -> bool:
        """True if nothing can be missing between the last printed line and this one."""
        return (line.attempt, line.seq) == (self.cursor[0], self.cursor[1] + 1)

    def emit(self, line: Line) -> None:
        if line.attempt != self.cursor[0]:
            print(f"--- attempt {line.attempt} ---", file=self.out)
        print(
            f"{iso(line.ts)}  {line.level:<7} {line.logger}: {line.message}",
            file=self.out,
            flush=True,
        )
        self.cursor = (line.attempt, line.seq)

    def backfill(self) -> int:
        """Print the stored lines after the cursor; the database has every line the stream has."""
        printed = 0
        while True:
            with database_errors(), session_scope() as session:
                page = run_queries.log_page(
                    session, self.run_id, attempt=self.attempt, after=self.cursor, limit=LOG_PAGE
                )
            for row in page.lines:
                self.emit(Line.of_row(row))
                printed += 1
            if page.next_after is None:
                return printed


def _stream_lines(client: Any, stream: str, after_id: bytes) -> tuple[bytes, list[Line]]:
    reply = client.xread({stream: after_id}, count=LOG_PAGE, block=FOLLOW_BLOCK_MS)
    lines: list[Line] = []
    for _, entries in reply or []:
        for entry_id, fields in entries:
            after_id = entry_id
            line = line_of_stream(fields)
            if line is not None:
                lines.append(line)
    return after_id, lines


def _run_status(run_id: int) -> str:
    with database_errors(), session_scope() as session:
        return run_queries.get_run(session, run_id).status


def _follow(printer: LogPrinter) -> None:
    """Tail the live stream until the run is final and a whole block passes with no new line."""
    stream, after_id = log_stream(printer.run_id), b"0-0"
    client: Any = sync_client()
    live = True
    checked_at = 0.0
    while True:
        arrived = 0
        if live:
            try:
                after_id, lines = _stream_lines(client, stream, after_id)
            except RedisError as error:
                print(
                    f"live log stream unavailable ({error}); polling the database instead",
                    file=sys.stderr,
                )
                live = False
                lines = []
            for line in lines:
                if not printer.wants(line):
                    continue
                if printer.follows_on(line):
                    printer.emit(line)
                    arrived += 1
                else:
                    arrived += printer.backfill()
        else:
            time.sleep(FOLLOW_BLOCK_MS / 1000)
            arrived = printer.backfill()
        if arrived and time.monotonic() - checked_at < STATUS_CHECK_S:
            continue
        checked_at = time.monotonic()
        if _run_status(printer.run_id) in FINAL and not arrived:
            printer.backfill()  # lines the stream never carried (Redis was down for a moment)
            return


def _logs(args: argparse.Namespace) -> int:
    try:
        with database_errors(), session_scope() as session:
            run_queries.get_run(session, args.run)
    except run_queries.UnknownRunError as error:
        raise CommandError(f"{error}; `etl-orchestrator runs list` shows recent runs") from error
    printer = LogPrinter(args.run, args.attempt, sys.stdout)
    try:
        printed = printer.backfill()
        if args.follow:
            _follow(printer)
        elif not printed:
            which = f"attempt {args.attempt} of run" if args.attempt else "run"
            print(f"no log lines stored for {which} {args.run}", file=sys.stderr)
    except KeyboardInterrupt:
        return 0
    return 0


def _unknown_run(error: run_queries.UnknownRunError) -> CommandError:
    return CommandError(f"{error}; `etl-orchestrator runs list` shows recent runs")


def _print_params_error(error: run_service.ParamsError, job_id: str) -> int:
    print(f"error: invalid params for job {job_id!r}:", file=sys.stderr)
    for name, message in error.errors.items():
        print(f"  {name}: {message}", file=sys.stderr)
    print(
        f"nothing was queued; `etl-orchestrator jobs show {job_id}` lists its parameters",
        file=sys.stderr,
    )
    return 2


def _cancel(args: argparse.Namespace) -> int:
    events.install()  # the dispatcher settles the run's dependents at once
    try:
        with database_errors(), session_scope() as session:
            was = run_queries.get_run(session, args.run).status
            run = run_actions.cancel_run(
                session, run_id=args.run, actor=shell_actor(), reason=args.reason
            )
    except run_queries.UnknownRunError as error:
        raise _unknown_run(error) from error
    except run_actions.RunActionError as error:
        raise CommandError(str(error)) from error
    if args.json:
        print_json(_brief(run))
        return 0
    print(f"run {run.run_id} {run.job_id}: {_status(run)}")
    if was == RunStatus.RUNNING:
        print("its worker stops the running attempt within seconds")
    return 0


def _retry(args: argparse.Namespace) -> int:
    events.install()
    try:
        with database_errors(), session_scope() as session:
            result = run_actions.retry_run(
                session, run_id=args.run, actor=shell_actor(), reason=args.reason
            )
    except run_queries.UnknownRunError as error:
        raise _unknown_run(error) from error
    except run_actions.RunActionError as error:
        raise CommandError(f"{error}; nothing was queued") from error
    except DeclarationError as error:
        raise CommandError(
            f"the jobs declared in ETL_JOBS_MODULES cannot be loaded; nothing was queued. "
            f"Fix the jobs code first: {error}"
        ) from error
    if args.json:
        print_json(
            {
                "batch_id": result.batch_id,
                "run": _brief(result.run),
                "requeued": [_brief(run) for run in result.requeued],
            }
        )
        return 0
    print(
        f"queued run {result.run.run_id} {result.run.job_id} as a retry of run {args.run} "
        f"in batch {result.batch_id}"
    )
    if result.requeued:
        print(f"its dependents back in the batch: {len(result.requeued)}")
    print_table(["RUN", "JOB", "STATUS"], [[r.run_id, r.job_id, _status(r)] for r in result.runs])
    return 0


def _rerun_params(args: argparse.Namespace) -> dict[str, Any] | None:
    """The old run's params with each --param / --params-json value on top; None if none given."""
    if not args.param and args.params_json is None:
        return None
    given = parse_params(args.param or [], args.params_json)
    try:
        with database_errors(), session_scope() as session:
            old = run_queries.get_run(session, args.run)
    except run_queries.UnknownRunError as error:
        raise _unknown_run(error) from error
    return {**old.params, **given}


def _rerun(args: argparse.Namespace) -> int:
    params = _rerun_params(args)
    events.install()
    try:
        with database_errors(), session_scope() as session:
            job_id = run_queries.get_run(session, args.run).job_id
            result = run_actions.rerun_run(
                session,
                run_id=args.run,
                actor=shell_actor(),
                reason=args.reason,
                params=params,
                dry_run=args.dry_run,
            )
    except run_queries.UnknownRunError as error:
        raise _unknown_run(error) from error
    except run_service.ParamsError as error:
        return _print_params_error(error, job_id)
    except (run_service.TriggerError, run_actions.RunActionError) as error:
        raise CommandError(f"{error}; nothing was queued") from error
    except DeclarationError as error:
        raise CommandError(
            f"the jobs declared in ETL_JOBS_MODULES cannot be loaded, so the params cannot be "
            f"checked; nothing was queued. Fix the jobs code first: {error}"
        ) from error
    [run] = result.runs
    if args.json:
        print_json({"batch_id": result.batch_id, "runs": [_brief(run)]})
        return 0
    kind = "dry-run batch" if run.dry_run else "batch"
    print(f"queued {kind} {result.batch_id}: a rerun of run {args.run}")
    print_table(["RUN", "JOB", "STATUS"], [[run.run_id, run.job_id, _status(run)]])
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _page_size(text: str) -> int:
    value = _positive(text)
    if value > run_queries.MAX_PAGE:
        raise argparse.ArgumentTypeError(f"{value} is too many: at most {run_queries.MAX_PAGE}")
    return value


def _register_run(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run",
        help="trigger a job now (audited), optionally wait for it",
        description="Queue a run of JOB (and with --downstream its dependents) as one batch. "
        "Nothing is written if the job, its params or the options are refused.",
    )
    run.add_argument("job", metavar="JOB", help="the job id")
    run.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a parameter, checked by the job's model (repeatable; wins over --params-json)",
    )
    run.add_argument("--params-json", metavar="JSON", help="parameters as one JSON object")
    run.add_argument(
        "--downstream", action="store_true", help="also run every dependent without its own cron"
    )
    run.add_argument(
        "--concurrency",
        type=_positive,
        metavar="N",
        help="at most N runs of this batch at once (1 to the current cap)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="run against the warehouse in a transaction that is rolled back",
    )
    run.add_argument("--reason", default="", help="why, for the audit log")
    run.add_argument(
        "--wait",
        action="store_true",
        help="wait until every run is final; exit 0 only if all succeeded, else 1",
    )
    run.add_argument("--json", action="store_true", help="print a JSON object instead")
    run.set_defaults(func=_run)


def _add_run_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", type=_positive, help="the run id")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_run(subparsers)
    parser = subparsers.add_parser(
        "runs", help="runs: list, show one, read its logs, cancel, retry, rerun"
    )
    actions = parser.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="runs, newest first, a page at a time")
    listing.add_argument("--job", metavar="JOB", help="only this job's runs")
    listing.add_argument("--status", choices=[s.value for s in RunStatus], help="only this status")
    listing.add_argument(
        "--limit", type=_page_size, default=50, metavar="N", help="runs per page (default 50)"
    )
    listing.add_argument(
        "--before", type=_positive, metavar="RUN_ID", help="only runs older than this run id"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON object instead")
    listing.set_defaults(func=_list)

    show = actions.add_parser("show", help="one run: fields, attempts and timeline")
    _add_run_argument(show)
    show.add_argument("--json", action="store_true", help="print JSON, with tracebacks")
    show.set_defaults(func=_show)

    logs = actions.add_parser("logs", help="a run's log lines")
    _add_run_argument(logs)
    logs.add_argument("--attempt", type=_positive, metavar="N", help="only this attempt's lines")
    logs.add_argument(
        "--follow",
        action="store_true",
        help="keep printing new lines as they arrive until the run is final (Ctrl-C stops)",
    )
    logs.set_defaults(func=_logs)

    _register_actions(actions)


def _add_action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """An audited action on RUN: its own options, then the --reason and --json they all take."""
    parser = actions.add_parser(name, help=help, description=description)
    _add_run_argument(parser)
    if options is not None:
        options(parser)
    parser.add_argument("--reason", required=True, help="why, for the audit log (required)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead")
    parser.set_defaults(func=func)


def _add_rerun_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="change one parameter (repeatable; wins over --params-json)",
    )
    parser.add_argument("--params-json", metavar="JSON", help="parameters to change, as JSON")
    parser.add_argument(
        "--dry-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="dry-run (or with --no-dry-run, run for real); default: as RUN was",
    )


def _register_actions(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_action(
        actions,
        "cancel",
        _cancel,
        help="cancel a run that has not finished (audited)",
        description="Cancel RUN now; a running attempt is killed by its worker within seconds. "
        "Its waiting dependents in the batch become upstream_failed.",
    )
    _add_action(
        actions,
        "retry",
        _retry,
        help="retry a failed or cancelled run inside its batch (audited)",
        description="Queue a new run of RUN's job in the same batch, with the same params; "
        "the dependents its failure marked upstream_failed wait for it again.",
    )
    _add_action(
        actions,
        "rerun",
        _rerun,
        help="run a run's job again as a new batch, optionally with other params (audited)",
        description="Queue RUN's job again as a new batch with RUN's params and scheduled time; "
        "--param and --params-json change some params (checked by the job's model).",
        options=_add_rerun_options,
    )
