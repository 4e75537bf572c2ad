"""The Grafana dashboard shipped as deploy/grafana/etl-orchestrator.json, built from the figures.

Its headline panels use observability/figures.py's PromQL, so the dashboard and the console
compute the same figures; the panel ids are grafana.PANELS (the console links to them).
Regenerate the file with `python -m etl_orchestrator.observability.dashboard`; a test checks
the shipped file equals `build()`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from etl_orchestrator.observability import figures as f
from etl_orchestrator.observability.grafana import PANELS

UID = "etl-orchestrator"
_DS = {"type": "prometheus", "uid": "${datasource}"}
_RANGE, _INTERVAL, _JOB = "$__range", "$__interval", "$job"


def _target(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"datasource": _DS, "expr": expr, "legendFormat": legend, "refId": ref}


def _stat(panel_id: int, title: str, expr: str, x: int, description: str) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": _DS,
        "gridPos": {"h": 5, "w": 6, "x": x, "y": 0},
        "fieldConfig": {"defaults": {"unit": "short", "decimals": 0}, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "none",
            "graphMode": "none",
        },
        "targets": [_target(expr)],
    }


def _series(
    panel_id: int,
    title: str,
    targets: list[dict[str, Any]],
    unit: str,
    x: int,
    y: int,
    description: str,
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": _DS,
        # The figures difference counter samples inside each interval: keep several scrapes in it.
        "interval": "5m",
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi"},
        },
        "targets": targets,
    }


def _figure(name: str, legend: str) -> list[dict[str, Any]]:
    return [_target(f.promql(name, _JOB, _INTERVAL), legend)]


def panels() -> list[dict[str, Any]]:
    real = 'dry_run="false",job_id=~"$job"'
    return [
        _stat(PANELS["runs"], "Runs finished", f.promql("runs", _JOB, _RANGE), 0,
              "Real runs that reached a final status in the time range."),
        _stat(PANELS["failures"], "Failures", f.promql("failures", _JOB, _RANGE), 6,
              "Real runs that failed in the time range."),
        _series(PANELS["success_rate"], "Success rate", _figure("success_rate", "success rate"),
                "percentunit", 0, 5, "succeeded / (succeeded + failed), per interval."),
        _series(PANELS["transient_rate"], "Transient-failure rate",
                _figure("transient_rate", "transient attempts / attempts"), "percentunit", 12, 5,
                "Transient attempts / all finished attempts, per interval."),
        _series(PANELS["throughput_per_h"], "Throughput (records written per hour)",
                _figure("throughput_per_h", "records/h"), "short", 0, 13,
                "Records written by succeeded runs, per hour."),
        _series(PANELS["mean_duration_s"], "Mean duration of succeeded runs",
                _figure("mean_duration_s", "mean"), "s", 12, 13,
                "Histogram sum / count over the interval."),
        _series(7, "Duration p95 by job (succeeded runs)",
                [_target("histogram_quantile(0.95, sum by (job_id, le) "
                         f"(rate(etl_run_duration_seconds_bucket{{{real}}}[$__rate_interval])))",
                         "{{job_id}}")],
                "s", 0, 21, "Approximate, from the histogram buckets."),
        _series(8, "Queue depth and slots",
                [_target("etl_queue_depth", "queue depth", "A"),
                 _target("etl_runs_running", "running (holding a slot)", "B"),
                 _target("etl_parallel_jobs", "ETL_PARALLEL_JOBS cap", "C")],
                "short", 12, 21, "Runs waiting to start, runs holding a slot, and the cap."),
        _series(9, "Scheduler and workers",
                [_target("etl_scheduler_heartbeat_age_seconds", "scheduler heartbeat age (s)", "A"),
                 _target("etl_workers_alive", "workers alive", "B"),
                 _target("etl_scheduler_up", "scheduler up", "C")],
                "short", 0, 29, "The leading scheduler's heartbeat age and the live workers."),
        _series(10, "Attempts by error class",
                [_target("sum by (error_class) "
                         f"(increase(etl_attempts_total{{{real}}}[$__rate_interval]))",
                         "{{error_class}}")],
                "short", 12, 29, "Finished attempts by error class (none: it did not fail)."),
    ]  # fmt: skip


def build() -> dict[str, Any]:
    return {
        "uid": UID,
        "title": "ETL Orchestrator",
        "tags": ["etl-orchestrator"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "job",
                    "label": "Job",
                    "type": "query",
                    "datasource": _DS,
                    "query": {
                        "query": "label_values(etl_runs_finished_total, job_id)",
                        "refId": "job",
                    },
                    "definition": "label_values(etl_runs_finished_total, job_id)",
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                    "refresh": 2,
                    "sort": 1,
                    "current": {},
                },
            ]
        },
        "panels": panels(),
        "annotations": {"list": []},
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
