"""The live task's jobs view: the jobs whose runs changed reach a sink that has `jobs`,
throttled to one refresh per JOBS_INTERVAL_MS across workers; other sinks are left alone."""

from __future__ import annotations

from etl_orchestrator.web import live
from tests.web import test_live
from tests.web.test_live import MakeUpdater, Recorder, drain, publish, time_passes

redis_client = test_live.redis_client
make_updater = test_live.make_updater


class JobsRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.jobs_calls: list[set[str]] = []

    async def jobs(self, job_ids: set[str]) -> None:
        self.jobs_calls.append(job_ids)


async def test_changed_jobs_are_refreshed_at_most_once_per_interval(
    make_updater: MakeUpdater,
) -> None:
    updater, _ = make_updater("w1")
    sink = JobsRecorder()
    updater._sink = sink
    await updater.ensure_group()
    publish((1, "running"), (2, "running"), (1, "succeeded"))
    await drain(updater, expected=3)
    await updater.flush()
    assert sink.jobs_calls == [{"job1", "job2"}]
    publish((3, "running"))
    await drain(updater, expected=1)
    wait_ms = await updater.flush()
    assert 0 < wait_ms <= live.JOBS_INTERVAL_MS
    assert len(sink.jobs_calls) == 1
    time_passes("jobs")
    await updater.flush()
    assert sink.jobs_calls == [{"job1", "job2"}, {"job3"}]


async def test_a_sink_without_jobs_is_not_asked(make_updater: MakeUpdater) -> None:
    updater, sink = make_updater("w1")
    await updater.ensure_group()
    publish((1, "running"))
    await drain(updater, expected=1)
    await updater.flush()
    assert [c.statuses for c in sink.overviews] == [[(1, "job1", "running")]]


async def test_one_refresh_takes_the_jobs_every_worker_read(make_updater: MakeUpdater) -> None:
    first, _ = make_updater("w1")
    second, _ = make_updater("w2")
    sink = JobsRecorder()
    first._sink = second._sink = sink
    await first.ensure_group()
    publish((1, "running"))
    await drain(first, expected=1)
    publish((2, "running"))
    await drain(second, expected=1)
    await first.flush()
    assert sink.jobs_calls == [{"job1", "job2"}]
    # Nothing is left for the other worker: it does not refresh job2 a second time.
    time_passes("jobs")
    await second.flush()
    assert sink.jobs_calls == [{"job1", "job2"}]
