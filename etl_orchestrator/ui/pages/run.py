"""One run (/runs/<id>): its job's page on the Runs tab with the run drawer open on it.

The page and its state are the job page's (ui/pages/job.py); a missing run says "Run not found".
"""

from __future__ import annotations

from etl_orchestrator.ui.pages import job

page = job.page
load = job.JobPageState.load_run
