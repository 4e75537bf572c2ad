"""Grafana links open the right dashboard panel with the job and time range; embeds by mode."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from etl_orchestrator.observability import dashboard
from etl_orchestrator.observability.figures import promql
from etl_orchestrator.observability.grafana import PANELS, Grafana, embed_url, panel_link

END = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=24)
SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "etl-orchestrator.json"


def parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc}{split.path}", {
        k: v[0] for k, v in parse_qs(split.query).items()
    }


def test_a_panel_link_names_dashboard_panel_job_and_time_range():
    grafana = Grafana(url="https://grafana.example/", uid="etl-orchestrator")
    where, query = parts(panel_link(grafana, "success_rate", "load_sales", START, END))
    assert where == "https://grafana.example/d/etl-orchestrator/etl-orchestrator"
    assert query["viewPanel"] == str(PANELS["success_rate"])
    assert query["var-job"] == "load_sales"
    assert query["from"] == str(int(START.timestamp() * 1000))
    assert query["to"] == str(int(END.timestamp() * 1000))


def test_a_link_for_every_job_selects_all_and_no_url_means_no_link():
    grafana = Grafana(url="https://grafana.example", uid="custom-uid")
    _, query = parts(panel_link(grafana, "runs", None, START, END))
    assert query["var-job"] == "$__all"
    assert "/d/custom-uid/" in panel_link(grafana, "runs", None, START, END)
    assert panel_link(Grafana(url="", uid="x"), "runs", None, START, END) == ""


def test_embedding_off_gives_no_embed_url():
    grafana = Grafana(url="https://grafana.example", uid="u", embed="off")
    assert embed_url(grafana, "runs", None, START, END, now=END) == ""


def test_anonymous_embed_is_the_solo_panel_url():
    grafana = Grafana(url="https://grafana.example", uid="u", embed="anonymous")
    where, query = parts(embed_url(grafana, "failures", "load_sales", START, END, now=END))
    assert where == "https://grafana.example/d-solo/u/etl-orchestrator"
    assert query["panelId"] == str(PANELS["failures"])
    assert query["var-job"] == "load_sales"
    assert (query["from"], query["to"]) == (
        str(int(START.timestamp() * 1000)),
        str(int(END.timestamp() * 1000)),
    )
    assert "auth_token" not in query


def _decode(segment: str) -> dict[str, object]:
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def test_jwt_embed_carries_a_short_lived_hs256_token_signed_with_the_secret():
    grafana = Grafana(url="https://grafana.example", uid="u", embed="jwt", jwt_secret="s3cret")
    _, query = parts(embed_url(grafana, "runs", None, START, END, now=END))
    header, payload, signature = query["auth_token"].split(".")
    assert _decode(header) == {"alg": "HS256", "typ": "JWT"}
    claims = _decode(payload)
    assert claims["exp"] == int(END.timestamp()) + 300
    expected = hmac.new(b"s3cret", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    # Without a secret a JWT embed cannot work: no iframe rather than a broken one.
    keyless = Grafana(url="https://grafana.example", uid="u", embed="jwt")
    assert embed_url(keyless, "runs", None, START, END, now=END) == ""


def test_the_shipped_dashboard_is_the_generated_one_with_the_linked_panels():
    assert SHIPPED.read_text() == dashboard.render()
    shipped = json.loads(SHIPPED.read_text())
    assert shipped["uid"] == "etl-orchestrator"
    assert [v["name"] for v in shipped["templating"]["list"]] == ["datasource", "job"]
    panel_ids = {p["id"] for p in shipped["panels"]}
    assert set(PANELS.values()) <= panel_ids
    assert len(panel_ids) == len(shipped["panels"])


@pytest.mark.parametrize("figure", sorted(PANELS))
def test_each_linked_panel_computes_its_figure_with_the_consoles_formula(figure: str):
    shipped = json.loads(SHIPPED.read_text())
    panel = next(p for p in shipped["panels"] if p["id"] == PANELS[figure])
    range_ = "$__range" if panel["type"] == "stat" else "$__interval"
    assert [t["expr"] for t in panel["targets"]] == [promql(figure, "$job", range_)]
