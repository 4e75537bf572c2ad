"""The arq worker: claims each delivery, runs the attempt in a child, records what happened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

from arq import Worker
from arq.constants import in_progress_key_prefix
from arq.worker import Retry, func
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from etl_orchestrator import events
from etl_orchestrator.config import MAX_PARALLEL_JOBS, get_settings
from etl_orchestrator.db import get_engine, is_sqlite_url, make_engine
from etl_orchestrator.engine import recording
from etl_orchestrator.engine.attempt import (
    AttemptInput,
    run_attempt_in_child,
    run_attempt_in_thread,
)
from etl_orchestrator.engine.cancel import CancelListener
from etl_orchestrator.engine.db_calls import GroupCall, db_retry, retry_while_db_down
from etl_orchestrator.engine.dispatcher import ARQ_FUNCTION
from etl_orchestrator.engine.isolation import ForkGate, Watch, run_in_child, run_in_thread
from etl_orchestrator.engine.logsink import LogSink
from etl_orchestrator.engine.pool import AttemptPool
from etl_orchestrator.jobs.spec import JobSpec
from etl_orchestrator.redis_conn import WAKE_MAXLEN, WAKE_STREAM, arq_settings, async_client
from etl_orchestrator.services import catalog

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
#: arq 0.25 stops polling when every slot is busy; the dispatcher never sends more than the cap.
MAX_JOBS = MAX_PARALLEL_JOBS + 44
POLL_DELAY_S = 0.05
REDIS_RETRY_S = 0.5
MAX_REDIS_RETRY_S = 5.0
#: arq's start check, made atomic in one script: not already in progress, still queued -> mark it.
_TAKE_JOB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score then return false end
redis.call('PSETEX', KEYS[1], ARGV[2], '1')
return score
"""


class WorkerRuntime:
    """State shared by all attempts in one worker process."""

    def __init__(self, specs: dict[str, JobSpec] | None = None) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.worker_id = f"{self.host}:{self.pid}"
        self.specs = specs if specs is not None else catalog.job_specs()
        self.warehouse_url = get_settings().effective_warehouse_url
        self.running: dict[int, asyncio.Event] = {}
        self.redis = async_client()
        self.gate = ForkGate(enabled=is_sqlite_url(get_settings().effective_database_url))
        self.cancels = CancelListener(self.running, self.worker_id, run=self.gate.call)
        self.pool = AttemptPool(self.specs, gate=self.gate)
        # Cooperative attempts get threads of their own: the default executor does the
        # database calls, and attempts must not queue behind each other there.
        self.attempt_threads = ThreadPoolExecutor(MAX_JOBS, thread_name_prefix="etl-attempt")
        self._heartbeat_task: asyncio.Task[None] | None = None
        # A poll's deliveries are claimed, and attempts that end together recorded, in one
        # transaction each (see db_calls).
        self.claim = GroupCall(
            partial(recording.claim_many, worker_id=self.worker_id),
            what="claiming attempts",
            run=self.gate.call,
        )
        self.record = GroupCall(
            recording.record_outcomes, what="recording attempts", run=self.gate.call
        )

    async def start(self) -> None:
        events.install()
        get_engine()
        await db_retry(self._beat, what="registering the worker", run=self.gate.call)
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop())
        await self.cancels.start()

    async def stop(self) -> None:
        await self.cancels.stop()
        if self._heartbeat_task:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        await self.pool.close()
        with contextlib.suppress(Exception):
            await self.gate.call(recording.worker_stopped, self.worker_id)
        # A cooperative attempt that ignored its timeout must not hold the worker's exit.
        self.attempt_threads.shutdown(wait=False, cancel_futures=True)
        await self.redis.aclose()

    def _beat(self) -> None:
        recording.heartbeat(self.worker_id, self.host, self.pid, list(self.running))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self.pool.sweep()
            try:
                await self.gate.call(self._beat)
            except Exception as error:
                log.warning("heartbeat failed: %s", error)

    async def execute(self, run_id: int, attempt: int, token: str) -> str:
        claimed = await self.claim((run_id, attempt, token))
        if claimed is None:
            log.info("run %s attempt %s: stale or duplicate delivery dropped", run_id, attempt)
            return "stale"
        cancel = asyncio.Event()
        self.running[run_id] = cancel
        try:
            outcome = await self._run(claimed, cancel)
        finally:
            self.running.pop(run_id, None)
        status = await self.record((claimed, outcome))
        log.info("run %s attempt %s: %s -> %s", run_id, attempt, outcome.outcome, status)
        return status

    async def _run(self, claimed: recording.Claimed, cancel: asyncio.Event) -> recording.Outcome:
        spec = self.specs.get(claimed.job_id)
        if spec is None:
            return recording.Outcome(
                outcome="failed",
                error_class="permanent",
                error_type="etl_orchestrator.DeclarationError",
                error_message=(
                    f"job {claimed.job_id!r} is not declared in this worker's ETL_JOBS_MODULES; "
                    "deploy the same jobs code to every worker"
                ),
            )
        sink = LogSink(claimed.run_id, claimed.attempt, self.redis, run=self.gate.call)
        backend_pids: list[int] = []

        def on_message(message: dict[str, Any]) -> None:
            if message.get("t") == "log":
                ts = datetime.fromtimestamp(float(message.get("ts") or 0), UTC)
                sink.add(
                    level=str(message.get("level", "INFO")),
                    logger=str(message.get("logger", "")),
                    message=str(message.get("msg", "")),
                    ts=ts,
                )
            elif message.get("t") == "backend_pid":
                backend_pids.append(int(message["pid"]))

        def on_output(stream: str, line: str) -> None:
            sink.add(level="INFO" if stream == "stdout" else "ERROR", logger=stream, message=line)

        data = AttemptInput(
            run_id=claimed.run_id,
            job_id=claimed.job_id,
            attempt=claimed.attempt,
            params=claimed.params,
            dry_run=claimed.dry_run,
            scheduled_for=claimed.scheduled_for,
            warehouse_url=self.warehouse_url,
        )
        flusher = asyncio.create_task(sink.run_periodic())
        watch = Watch(
            timeout_s=claimed.timeout_s,
            on_message=on_message,
            on_output=on_output,
            cancel=cancel,
            on_kill=lambda: self._terminate_backends(backend_pids),
        )
        try:
            if spec.cooperative:
                exit_ = await run_in_thread(
                    lambda send, stop: run_attempt_in_thread(spec, data, send, stop),
                    watch,
                    executor=self.attempt_threads,
                )
            elif spec.reuse_process:
                exit_ = await self.pool.run(spec.id, data, watch)
            else:
                exit_ = await run_in_child(
                    lambda send: run_attempt_in_child(spec, data, send), watch, gate=self.gate
                )
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        outcome = _outcome_of(exit_, claimed.timeout_s)
        if outcome.outcome != "succeeded":
            sink.add(level="ERROR", logger="etl.worker", message=outcome.error_message or "")
        await retry_while_db_down(sink.flush, what="writing logs")
        return outcome

    def _terminate_backends(self, pids: list[int]) -> None:
        """A killed child's warehouse query would run on in PostgreSQL: end it too."""
        if not pids:
            return
        engine = make_engine(self.warehouse_url, pool_size=1)
        try:
            with engine.connect() as conn:
                for pid in pids:
                    conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        except Exception as error:
            log.warning("could not terminate warehouse backend(s) %s: %s", pids, error)
        finally:
            engine.dispose()


def _outcome_of(exit_: Any, timeout_s: float) -> recording.Outcome:
    result = exit_.result
    if exit_.timed_out:
        return recording.Outcome(
            outcome="timeout",
            error_class="transient",
            error_type="etl_orchestrator.jobs.errors.JobTimeout",
            error_message=f"attempt ran past its timeout of {timeout_s:g} s and was killed",
            lineage=None,
        )
    if exit_.cancelled and (result is None or result.get("outcome") != "succeeded"):
        return recording.Outcome(
            outcome="cancelled",
            error_type="etl_orchestrator.jobs.errors.CancelledByUser",
            error_message="cancelled by request",
        )
    if result is None:
        how = f"signal {exit_.signal}" if exit_.signal else f"exit code {exit_.exit_code}"
        return recording.Outcome(
            outcome="crashed",
            error_class="transient",
            error_type="etl_orchestrator.engine.ChildCrashed",
            error_message=f"the attempt's process ended without a result ({how})",
        )
    return recording.Outcome(
        outcome=str(result.get("outcome")),
        error_class=result.get("error_class"),
        error_type=result.get("error_type"),
        error_message=result.get("error_message"),
        traceback=result.get("traceback"),
        lineage=result.get("lineage"),
    )


async def run_attempt(ctx: dict[str, Any], run_id: int, attempt: int, token: str) -> str:
    """The one arq function: a delivery of (run_id, attempt, token)."""
    runtime: WorkerRuntime = ctx["etl"]
    try:
        return await runtime.execute(run_id, attempt, token)
    except (OperationalError, DBAPIError) as error:
        raise Retry(defer=2) from error


class ResilientWorker(Worker):
    """An arq worker that rides out Redis outages instead of exiting.

    Plain arq leaves its poll loop on the first Redis error, stranding the attempts in flight;
    this one keeps them running (they only need the database) and polls again with backoff.
    """

    _redis_delay = REDIS_RETRY_S
    #: The last etl:wake entry this worker has seen ("$" until it has read one).
    _wake_id = "$"

    async def _poll_iteration(self) -> None:
        try:
            await self._wait_for_work()
            await super()._poll_iteration()
        except (RedisError, OSError) as error:
            log.warning("Redis unavailable: %s; polling again in %.1f s", error, self._redis_delay)
            await asyncio.sleep(self._redis_delay)
            self._redis_delay = min(self._redis_delay * 2, MAX_REDIS_RETRY_S)
        else:
            self._redis_delay = REDIS_RETRY_S

    async def close(self) -> None:
        """arq's close, except that nothing stops it before the shutdown hook.

        arq gathers the job tasks it has just cancelled without return_exceptions, so a task
        cancelled outside the job function (in arq's own result bookkeeping) raised there, and
        so did an unreachable Redis: the worker was then never recorded as stopped, and its
        idle pooled processes lived on until the process ended.
        """
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        with contextlib.suppress(RedisError, OSError):
            await self.pool.aclose(close_connection_pool=True)
        self._pool = None  # type: ignore[assignment]  # arq's own "closed" marker

    async def _wait_for_work(self) -> None:
        """Wait up to POLL_DELAY_S for the dispatcher's wake-up, then poll.

        arq sleeps poll_delay between polls, so a run dispatched to an idle worker waited half
        of it on average, on every hop of a DAG. arq's own sleep is set to zero (build_worker):
        the blocking read is the pause, and a wake-up ends it at once. Polls still happen at
        least every POLL_DELAY_S, so deferred jobs and a lost wake-up cost no more than before.
        """
        reply = await self.pool.xread(
            {WAKE_STREAM: self._wake_id}, block=int(POLL_DELAY_S * 1000), count=WAKE_MAXLEN
        )
        for _stream, entries in reply or []:
            if entries:
                last = entries[-1][0]
                self._wake_id = last.decode() if isinstance(last, bytes) else str(last)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Take every job of one poll in a single Redis round trip.

        arq 0.25 takes jobs one by one with four awaited round trips each (WATCH, EXISTS, ZSCORE,
        EXEC); on an event loop that is also forking attempts, a poll of 64 jobs then took over a
        second. The script does the same check-and-mark atomically for each job, all pipelined.
        """
        taken: list[str] = []
        try:
            for raw in job_ids:
                job_id = raw.decode()
                if job_id in self.tasks:
                    continue
                await self.sem.acquire()
                taken.append(job_id)
            if not taken:
                return
            pipe = self.pool.pipeline(transaction=False)
            timeout_ms = int(self.in_progress_timeout_s * 1000)
            for job_id in taken:
                key = in_progress_key_prefix + job_id
                pipe.eval(_TAKE_JOB, 2, key, self.queue_name, job_id, timeout_ms)
            # A script that failed marked nothing (it marks last): that job is simply not taken.
            scores = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError):
            for _ in taken:
                self.sem.release()
            raise
        for job_id, score in zip(taken, scores, strict=True):
            if score is None or isinstance(score, Exception):
                # Started by another worker, or already finished and gone from the queue.
                if isinstance(score, Exception):
                    log.warning("could not take arq job %s: %s", job_id, score)
                self.sem.release()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self.sem.release())
            self.tasks[job_id] = task


def build_worker(
    specs: dict[str, JobSpec] | None = None,
    *,
    burst: bool = False,
    handle_signals: bool = True,
) -> Worker:
    """An arq worker for the declared jobs (default: ETL_JOBS_MODULES)."""
    jobs = specs if specs is not None else catalog.job_specs()

    async def startup(ctx: dict[str, Any]) -> None:
        runtime = WorkerRuntime(jobs)
        await runtime.start()
        ctx["etl"] = runtime

    async def shutdown(ctx: dict[str, Any]) -> None:
        runtime = ctx.get("etl")
        if runtime is not None:
            await runtime.stop()

    # arq re-delivers a job whose worker died once this expires: keep it near the longest job.
    arq_timeout = max((spec.timeout_s for spec in jobs.values()), default=3600.0) + 120
    return ResilientWorker(
        functions=[func(run_attempt, name=ARQ_FUNCTION, timeout=arq_timeout, max_tries=1000)],
        redis_settings=arq_settings(),
        max_jobs=MAX_JOBS,
        # ResilientWorker._wait_for_work is the pause between polls (up to POLL_DELAY_S).
        poll_delay=0,
        keep_result=60,
        on_startup=startup,
        on_shutdown=shutdown,
        burst=burst,
        handle_signals=handle_signals,
    )
