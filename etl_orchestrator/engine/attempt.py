"""What runs inside the attempt's child process: build the RunContext, run the job, report."""

from __future__ import annotations

import logging
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event

from etl_orchestrator.db import make_engine
from etl_orchestrator.engine.thread_capture import Send, log_message
from etl_orchestrator.jobs.context import RunContext
from etl_orchestrator.jobs.errors import CancelledByUser, classify
from etl_orchestrator.jobs.spec import JobSpec

MAX_MESSAGE_CHARS = 4000
MAX_TRACEBACK_CHARS = 20000


@dataclass(frozen=True)
class AttemptInput:
    run_id: int
    job_id: str
    attempt: int
    params: dict[str, Any]
    dry_run: bool
    scheduled_for: datetime | None
    warehouse_url: str


class _PipeHandler(logging.Handler):
    def __init__(self, send: Send) -> None:
        super().__init__(logging.DEBUG)
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.send(log_message(record))
        except Exception:
            self.handleError(record)


def _capture_logging(send: Send, job_id: str) -> logging.Logger:
    handler = _PipeHandler(send)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logger = logging.getLogger(f"etl.job.{job_id}")
    logger.setLevel(logging.DEBUG)
    return logger


def _report_backend_pid(engine: Any, send: Send) -> None:
    """Lets the parent terminate a stuck warehouse query when it kills this child."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        send({"t": "backend_pid", "pid": dbapi_conn.info.backend_pid})


def run_attempt_in_child(spec: JobSpec, data: AttemptInput, send: Send) -> dict[str, Any]:
    """Execute one attempt in a forked child (it owns the process's signals and logging).

    db's fork hook has already set the parent's engines aside.
    """
    cancelled = False

    def on_cancel(_sig: int, _frame: Any) -> None:
        nonlocal cancelled
        cancelled = True

    signal.signal(signal.SIGUSR1, on_cancel)
    logger = _capture_logging(send, data.job_id)
    return run_attempt(spec, data, send, logger=logger, cancelled=lambda: cancelled)


def run_attempt_in_thread(
    spec: JobSpec, data: AttemptInput, send: Send, cancelled: Callable[[], bool]
) -> dict[str, Any]:
    """Execute one attempt of a cooperative job in a worker thread.

    The thread shares the worker's logging: thread_capture routes this thread's records to
    `send`, so the job's logger is the usual `etl.job.<id>` one.
    """
    logger = logging.getLogger(f"etl.job.{data.job_id}")
    logger.setLevel(logging.DEBUG)
    return run_attempt(spec, data, send, logger=logger, cancelled=cancelled)


def run_attempt(
    spec: JobSpec,
    data: AttemptInput,
    send: Send,
    *,
    logger: logging.Logger,
    cancelled: Callable[[], bool],
) -> dict[str, Any]:
    """Run the job once; always returns a result dict (errors included), never raises."""
    engines: list[Engine] = []

    def open_warehouse() -> Engine:
        engine = make_engine(data.warehouse_url, pool_size=1)
        _report_backend_pid(engine, send)
        engines.append(engine)
        return engine

    ctx = RunContext(
        run_id=data.run_id,
        job_id=data.job_id,
        attempt=data.attempt,
        params=None,
        dry_run=data.dry_run,
        warehouse_engine=open_warehouse,
        logger=logger,
        scheduled_for=data.scheduled_for,
        cancel_check=cancelled,
    )
    started = time.monotonic()
    try:
        if spec.params is not None:
            ctx.params = spec.params.model_validate(data.params)
        if spec.kind == "sql":
            from etl_orchestrator.jobs.sql import run_sql_job

            run_sql_job(ctx, spec)
        elif spec.fn is None:
            raise RuntimeError(f"job {spec.id!r} has nothing to run")
        elif spec.params is None:
            spec.fn(ctx)
        else:
            spec.fn(ctx, ctx.params)
        ctx.finish(success=True)
        outcome: dict[str, Any] = {"outcome": "succeeded"}
    except BaseException as error:
        try:
            ctx.finish(success=False)
        except Exception as rollback_error:
            logger.warning("rollback failed: %s", rollback_error)
        is_cancel = isinstance(error, CancelledByUser)
        outcome = {
            "outcome": "cancelled" if is_cancel else "failed",
            "error_class": None if is_cancel else classify(error, spec.classify),
            "error_type": f"{type(error).__module__}.{type(error).__qualname__}",
            "error_message": (str(error) or type(error).__name__)[:MAX_MESSAGE_CHARS],
            "traceback": traceback.format_exc()[-MAX_TRACEBACK_CHARS:],
        }
    finally:
        for engine in engines:
            engine.dispose()
    outcome["elapsed_s"] = time.monotonic() - started
    outcome["lineage"] = ctx.lineage_data.as_dict()
    return outcome
