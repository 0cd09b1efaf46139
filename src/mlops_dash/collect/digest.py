"""``mlops-dash digest``: one email a day of what the ML platform's alerts did (standard library).

Alertmanager keeps no history of resolved alerts, so the digest reads Prometheus: a range query
of ``ALERTS{alertstate="firing"}`` over the last ``lookback`` (default 24h) at a fixed step.
Every series is one alert instance (its labels); runs of consecutive samples are the periods it
fired. The email lists per instance when it started, how long it fired in total, whether it is
still open, and its runbook and dashboard links; a quiet day says that nothing fired. One email
per run: the CronJob runs it once a day (``routing.digest.schedule``).

Only urllib, smtplib and email: the CronJob image needs nothing beyond mlops-dash itself.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

QUERY = 'ALERTS{alertstate="firing"}'
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
HIDDEN_LABELS = {"__name__", "alertstate", "alertname", "severity"}


class DigestError(Exception):
    """Prometheus or the SMTP server could not be used (the job fails and is retried)."""


@dataclass
class Firing:
    """One alert instance over the digest's window."""

    labels: dict[str, str]
    periods: list[tuple[float, float]] = field(default_factory=list)
    still_firing: bool = False

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "?")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "none")

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.periods)


@dataclass
class Digest:
    """What the email says."""

    start: float
    end: float
    firings: list[Firing]

    @property
    def quiet(self) -> bool:
        return not self.firings


def query_range(prometheus_url: str, expr: str, start: float, end: float, step: float,
                timeout: float = 30) -> list[dict[str, Any]]:
    """Prometheus ``/api/v1/query_range`` (a matrix: [{metric, values: [[t, "v"], …]}])."""
    params = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}",
                                     "end": f"{end:.3f}", "step": f"{step:g}"})
    url = f"{prometheus_url.rstrip('/')}/api/v1/query_range"
    req = urllib.request.Request(url, data=params.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) only)
            body = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise DigestError(f"Prometheus at {prometheus_url} did not answer the ALERTS query: "
                          f"{exc}") from None
    if body.get("status") != "success":
        raise DigestError(f"Prometheus refused the ALERTS query: {body.get('error', body)}")
    return body["data"]["result"]  # type: ignore[no-any-return]


def periods(timestamps: list[float], step: float) -> list[tuple[float, float]]:
    """Runs of consecutive samples (gap > 1.5 steps: a new run); each run lasts to one step
    after its last sample, as the alert was firing at that evaluation."""
    out: list[tuple[float, float]] = []
    for t in sorted(timestamps):
        if out and t - out[-1][1] <= step * 0.5 + 1e-9:
            out[-1] = (out[-1][0], t + step)
        else:
            out.append((t, t + step))
    return out


def collect(prometheus_url: str, end: float, lookback_s: float, step: float = 60,
            timeout: float = 30) -> Digest:
    """The day's firings from Prometheus' ALERTS history."""
    start = end - lookback_s
    firings = []
    for series in query_range(prometheus_url, QUERY, start, end, step, timeout):
        stamps = [float(t) for t, _v in series.get("values", [])]
        if not stamps:
            continue
        runs = periods(stamps, step)
        still = max(stamps) >= end - step * 1.5
        if still:
            runs[-1] = (runs[-1][0], min(runs[-1][1], end))
        labels = {k: v for k, v in series["metric"].items() if k not in ("__name__",
                                                                          "alertstate")}
        firings.append(Firing(labels, runs, still))
    firings.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 3), f.alertname,
                                sorted(f.labels.items())))
    return Digest(start, end, firings)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class Links:
    """Where the email links: runbooks by alert name, dashboards by the ``dashboard`` label."""

    runbook_base_url: str
    grafana_url: str

    def runbook(self, alertname: str) -> str:
        # conventions.runbook_url's rule, kept stdlib-only here (the CronJob image): without a
        # base URL, the runbook's path in the output folder
        base = self.runbook_base_url.rstrip("/")
        return f"{base}/{alertname}.md" if base else f"runbooks/{alertname}.md"

    def dashboard(self, uid: str) -> str:
        return f"{self.grafana_url.rstrip('/')}/d/{uid}"


def render(digest: Digest, platform: str, links: Links) -> tuple[str, str]:
    """Subject and plain-text body of the digest email."""
    window = f"{_when(digest.start)} – {_when(digest.end)}"
    if digest.quiet:
        subject = f"[mlops-dash digest] {platform}: nothing fired"
        body = (f"Alerts of {platform}, {window}.\n\nNothing fired: no alert of any severity "
                "was firing at any time in this window.\n\n"
                f"Overview: {links.dashboard('mlops-overview')}\n")
        return subject, body
    still = [f for f in digest.firings if f.still_firing]
    counts = {s: sum(1 for f in digest.firings if f.severity == s) for s in SEVERITY_ORDER}
    subject = (f"[mlops-dash digest] {platform}: {len(digest.firings)} fired, "
               f"{len(still)} still firing")
    lines = [f"Alerts of {platform}, {window}.", "",
             f"{len(digest.firings)} alert(s) fired ({counts['critical']} critical, "
             f"{counts['warning']} warning, {counts['info']} info); {len(still)} still firing "
             f"now, {len(digest.firings) - len(still)} resolved.", ""]
    for f in digest.firings:
        state = "STILL FIRING" if f.still_firing else "resolved"
        lines.append(f"[{f.severity}] {f.alertname} — {state}")
        shown = {k: v for k, v in sorted(f.labels.items()) if k not in HIDDEN_LABELS}
        if shown:
            lines.append("  " + " ".join(f"{k}={v}" for k, v in shown.items()))
        lines.append(f"  first fired {_when(f.periods[0][0])}, fired for {_span(f.seconds)} in "
                     f"{len(f.periods)} period(s)"
                     + ("" if f.still_firing else f", last resolved {_when(f.periods[-1][1])}"))
        lines.append(f"  Runbook: {links.runbook(f.alertname)}")
        if "dashboard" in f.labels:
            lines.append(f"  Dashboard: {links.dashboard(f.labels['dashboard'])}")
        lines.append("")
    lines.append(f"Overview: {links.dashboard('mlops-overview')}")
    return subject, "\n".join(lines) + "\n"


@dataclass
class Smtp:
    """Where the email goes; the password only from a file (mounted from a Secret)."""

    smarthost: str
    sender: str
    to: list[str]
    username: str | None = None
    password_file: Path | None = None
    require_tls: bool = True
    timeout: float = 30


def send(smtp: Smtp, subject: str, body: str) -> None:
    """One email through the smarthost (STARTTLS when required, login when a user is given)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(smtp.to)
    msg.set_content(body)
    host, _, port = smtp.smarthost.rpartition(":")
    try:
        with smtplib.SMTP(host, int(port), timeout=smtp.timeout) as client:
            client.ehlo()
            if smtp.require_tls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if smtp.username:
                if smtp.password_file is None:
                    raise DigestError("an SMTP username needs --password-file")
                password = smtp.password_file.read_text(encoding="utf-8").strip()
                client.login(smtp.username, password)
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DigestError(f"sending the digest through {smtp.smarthost} failed: {exc}") from None
