"""The public API a jobs module imports: the decorator, the context, retry policy and errors."""

from etl_orchestrator.jobs.context import Lineage, RunContext
from etl_orchestrator.jobs.errors import PermanentError, TransientError
from etl_orchestrator.jobs.spec import Dep, JobSpec, RetryPolicy, job

__all__ = [
    "Dep",
    "JobSpec",
    "Lineage",
    "PermanentError",
    "RetryPolicy",
    "RunContext",
    "TransientError",
    "job",
]
