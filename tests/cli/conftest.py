"""CLI fixtures: the job-module writer is shared with the job declaration tests."""

from tests.jobs.conftest import jobs_module

__all__ = ["jobs_module"]
