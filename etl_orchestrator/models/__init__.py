"""All tables of the orchestrator database; importing this registers them on SQLModel.metadata."""

from etl_orchestrator.models.audit import AuditEntry
from etl_orchestrator.models.jobs import Job, JobDependency
from etl_orchestrator.models.ops import Alert, WorkerRecord
from etl_orchestrator.models.runs import Run, RunAttempt, RunEvent, RunLog
from etl_orchestrator.models.settings import Setting, SettingHistory
from etl_orchestrator.models.users import ApiToken, User, UserSession

__all__ = [
    "Alert",
    "ApiToken",
    "AuditEntry",
    "Job",
    "JobDependency",
    "Run",
    "RunAttempt",
    "RunEvent",
    "RunLog",
    "Setting",
    "SettingHistory",
    "User",
    "UserSession",
    "WorkerRecord",
]
