"""Links to (and embeddable URLs of) the shipped Grafana dashboard's panels.

The dashboard is deploy/grafana/etl-orchestrator.json (uid GRAFANA_DASHBOARD_UID, default
"etl-orchestrator"); its panel ids are PANELS below, checked against the file by the tests.
A link opens one panel (`viewPanel`) with the `job` variable and the time range set. Embedding
(GRAFANA_EMBED): "anonymous" is the `/d-solo/` URL of a Grafana that allows anonymous viewers;
"jwt" adds `auth_token`, a short-lived HS256 JWT signed with GRAFANA_JWT_SECRET (Grafana's
`[auth.jwt]` with `url_login = true` and the same key); "off" gives links only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

SLUG = "etl-orchestrator"
#: Figure -> panel id in the shipped dashboard.
PANELS = {
    "runs": 1,
    "failures": 2,
    "success_rate": 3,
    "transient_rate": 4,
    "throughput_per_h": 5,
    "mean_duration_s": 6,
}
#: Grafana's value for "every job" in a multi-value variable.
ALL_JOBS = "$__all"
JWT_TTL_S = 300


@dataclass(frozen=True)
class Grafana:
    url: str
    uid: str
    embed: str = "off"
    jwt_secret: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.url)


def _ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _query(panel_id: int, job: str | None, start: datetime, end: datetime) -> dict[str, str]:
    return {
        "orgId": "1",
        "var-job": job or ALL_JOBS,
        "from": _ms(start),
        "to": _ms(end),
    }


def panel_link(
    grafana: Grafana, figure: str, job: str | None, start: datetime, end: datetime
) -> str:
    """`<url>/d/<uid>/<slug>?viewPanel=<id>&var-job=<job>&from=<ms>&to=<ms>`, "" without
    GRAFANA_URL."""
    if not grafana.enabled:
        return ""
    panel = PANELS[figure]
    query = {"viewPanel": str(panel), **_query(panel, job, start, end)}
    return f"{grafana.url.rstrip('/')}/d/{grafana.uid}/{SLUG}?{urlencode(query)}"


def dashboard_link(grafana: Grafana, job: str | None, start: datetime, end: datetime) -> str:
    if not grafana.enabled:
        return ""
    query = {"var-job": job or ALL_JOBS, "from": _ms(start), "to": _ms(end)}
    return f"{grafana.url.rstrip('/')}/d/{grafana.uid}/{SLUG}?{urlencode(query)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(secret: str, claims: dict[str, object]) -> str:
    """A compact HS256 JWS of `claims` (RFC 7519), the format Grafana's JWT auth reads."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def embed_url(
    grafana: Grafana,
    figure: str,
    job: str | None,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    subject: str = "etl-orchestrator",
) -> str:
    """The `/d-solo/` URL of one panel for an iframe, "" when embedding is off (or unusable:
    no GRAFANA_URL, or "jwt" without GRAFANA_JWT_SECRET)."""
    if not grafana.enabled or grafana.embed == "off":
        return ""
    if grafana.embed == "jwt" and not grafana.jwt_secret:
        return ""
    panel = PANELS[figure]
    query = {"panelId": str(panel), **_query(panel, job, start, end)}
    if grafana.embed == "jwt":
        issued = int(now.timestamp())
        query["auth_token"] = sign_jwt(
            grafana.jwt_secret, {"sub": subject, "iat": issued, "exp": issued + JWT_TTL_S}
        )
    return f"{grafana.url.rstrip('/')}/d-solo/{grafana.uid}/{SLUG}?{urlencode(query)}"
