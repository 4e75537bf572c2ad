"""What the Metrics views show: the figures of the last 24 h from Prometheus, or from the
database when Prometheus is not configured, down, or not scraping this app; always naming
the source. Blocking (HTTP and SQL): call it from a thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests import RequestException

from etl_orchestrator.config import Settings, get_settings
from etl_orchestrator.db import db_now, session_scope
from etl_orchestrator.observability import figures as f
from etl_orchestrator.observability import grafana as g

log = logging.getLogger(__name__)

PROMETHEUS_TIMEOUT_S = 5
SOURCE_PROMETHEUS = "prometheus"
SOURCE_DATABASE = "database"
UNAVAILABLE = "Prometheus unavailable — showing figures from the run history"


class PrometheusUnavailable(RuntimeError):
    """Prometheus cannot give the figures; the message says why (shown with the fallback)."""


@dataclass
class Card:
    key: str = ""
    label: str = ""
    value: str = ""


@dataclass
class Spark:
    key: str = ""
    label: str = ""
    #: SVG polyline points in a 100 x 30 box, "" when there is nothing to draw.
    points: str = ""
    summary: str = ""
    link: str = ""
    embed: str = ""


@dataclass
class MetricsReport:
    source: str = ""
    source_text: str = ""
    notice: str = ""
    window_text: str = ""
    cards: list[Card] = field(default_factory=list)
    sparks: list[Spark] = field(default_factory=list)
    dashboard_link: str = ""


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def per_hour(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} records/h"


def cards(figures: f.Figures) -> list[Card]:
    """The headline figures as text; the same formatting whichever the source."""
    return [
        Card("runs", "Runs (24 h)", str(figures.runs)),
        Card("failures", "Failures (24 h)", str(figures.failures)),
        Card("success_rate", "Success rate", percent(figures.success_rate)),
        Card("transient_rate", "Transient-failure rate", percent(figures.transient_rate)),
        Card("throughput_per_h", "Throughput", per_hour(figures.throughput_per_h)),
        Card("mean_duration_s", "Mean duration (succeeded)", seconds(figures.mean_duration_s)),
    ]


def sparkline_points(values: list[float | None]) -> str:
    """Points of a polyline in a 100 x 30 box, scaled to the values' range; gaps skipped."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    last = max(1, len(values) - 1)
    return " ".join(
        f"{100 * i / last:.1f},{28 - 26 * (v - low) / span:.1f}"
        for i, v in enumerate(values)
        if v is not None
    )


def _summary(values: list[float | None], fmt: Any) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "No runs in the window"
    return f"Latest {fmt(known[-1])}, lowest {fmt(min(known))}, highest {fmt(max(known))}"


def _client(url: str) -> PrometheusConnect:
    return PrometheusConnect(url=url, disable_ssl=True, timeout=PROMETHEUS_TIMEOUT_S)


def _instant(client: PrometheusConnect, query: str, at: datetime) -> float | None:
    result = client.custom_query(query, params={"time": at.timestamp()})
    return f.number(result[0]["value"][1]) if result else None


def from_prometheus(url: str, job: str | None, window: f.Window) -> tuple[f.Figures, f.Trend]:
    """The window's figures and trend from Prometheus; PrometheusUnavailable when it cannot."""
    client = _client(url)
    try:
        series = client.custom_query(
            f"count({f.RUNS_FINISHED}{f.matcher(job)})", params={"time": window.end.timestamp()}
        )
        if not series:
            what = (
                f"job {job!r} is not exported under its own label"
                if job
                else ("it has no etl-orchestrator series: is it scraping /metrics?")
            )
            raise PrometheusUnavailable(what)
        range_ = f"{window.seconds}s"
        values = {
            name: _instant(client, f.promql(name, job, range_), window.end) for name in f.HEADLINE
        }
        step = f"{window.step_s}s"
        edges = window.edges()
        trend: dict[str, list[float | None]] = {}
        for name in f.TREND:
            rows = client.custom_query_range(
                f.promql(name, job, step),
                start_time=edges[0],
                end_time=edges[-1],
                step=str(window.step_s),
            )
            by_time = {round(float(t)): f.number(v) for t, v in (rows[0]["values"] if rows else [])}
            trend[name] = [by_time.get(round(edge.timestamp())) for edge in edges]
    except RequestException as error:
        # The driver's message repeats the whole query URL: say what happened instead.
        raise PrometheusUnavailable(f"it does not answer ({type(error).__name__})") from error
    except (PrometheusApiClientException, ValueError, KeyError) as error:
        raise PrometheusUnavailable(str(error).splitlines()[0][:200]) from error
    return f.figures_from_values(values), f.Trend(
        duration_s=trend["mean_duration_s"],
        success_rate=trend["success_rate"],
        throughput_per_h=trend["throughput_per_h"],
    )


def from_database(job: str | None, window: f.Window) -> tuple[f.Figures, f.Trend]:
    with session_scope() as session:
        run_rows = session.execute(f.runs_statement(window, job)).all()
        attempt_rows = session.execute(f.attempts_statement(window, job)).all()
    return f.from_rows(window, run_rows, attempt_rows)


def database_now() -> datetime:
    with session_scope() as session:
        return db_now(session)


def _grafana(settings: Settings) -> g.Grafana:
    return g.Grafana(
        url=settings.grafana_url,
        uid=settings.grafana_dashboard_uid,
        embed=settings.grafana_embed,
        jwt_secret=settings.grafana_jwt_secret,
    )


def metrics_report(job: str | None = None, *, now: datetime | None = None) -> MetricsReport:
    """The figures of the 24 h up to `now` (default: the database's clock) for one job or all.

    Raises only when the database cannot be read either (the view then offers Retry)."""
    settings = get_settings()
    window = f.Window(end=now or database_now())
    job = job or None
    notice = ""
    result: tuple[f.Figures, f.Trend] | None = None
    if settings.prometheus_url:
        try:
            result = from_prometheus(settings.prometheus_url, job, window)
        except PrometheusUnavailable as error:
            log.info("metrics from the database: Prometheus: %s", error)
            notice = f"{UNAVAILABLE} ({error})."
    else:
        notice = f"{UNAVAILABLE} (PROMETHEUS_URL is not set)."
    if result is None:
        result = from_database(job, window)
        source, source_text = SOURCE_DATABASE, "Source: the run history (database)"
    else:
        source, source_text = SOURCE_PROMETHEUS, f"Source: Prometheus ({settings.prometheus_url})"
    figures, trend = result
    grafana = _grafana(settings)
    start, end = window.start, window.end

    def spark(key: str, label: str, values: list[float | None], fmt: Any) -> Spark:
        return Spark(
            key=key,
            label=label,
            points=sparkline_points(values),
            summary=_summary(values, fmt),
            link=g.panel_link(grafana, key, job, start, end),
            embed=g.embed_url(grafana, key, job, start, end, now=window.end),
        )

    return MetricsReport(
        source=source,
        source_text=source_text,
        notice=notice,
        window_text="Last 24 hours, hourly steps; real (not dry) runs only.",
        cards=cards(figures),
        sparks=[
            spark("mean_duration_s", "Duration (succeeded runs)", trend.duration_s, seconds),
            spark("success_rate", "Success rate", trend.success_rate, percent),
            spark("throughput_per_h", "Throughput", trend.throughput_per_h, per_hour),
        ],
        dashboard_link=g.dashboard_link(grafana, job, start, end),
    )
