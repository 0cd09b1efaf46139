"""End-to-end harness: the real prometheus and alertmanager binaries on loopback, the simulator,
and capture servers for PagerDuty (Events API v2), Slack webhooks and SMTP.

Every process runs in its own process group and temporary folder and is stopped (SIGTERM, then
SIGKILL) by ``stop()``; every wait polls with a deadline and fails with what it last saw.
"""

from __future__ import annotations

import atexit
import copy
import json
import math
import re
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mlops_dash import promql
from mlops_dash import simulate as sim
from mlops_dash.lint.tools import find_tool

T = TypeVar("T")
RULE_INTERVAL = "1s"  # evaluation interval of every group in the test copy of the rules
SCRAPE_INTERVAL = "1s"
SCENARIO_SCRAPE_INTERVAL = "3s"  # the per-alert scenarios (run_scenario), six Prometheus at once


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float,
             interval: float = 0.25) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = probe()
            if result:
                return result
            last = result
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} "
                               f"(last: {last!r})")
        time.sleep(interval)


def http_json(url: str, data: Any = None, timeout: float = 5) -> Any:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read().decode()
    return json.loads(text) if text.strip() else None


# --------------------------------------------------------------------------- processes


_RUNNING: set[Process] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Last resort (an interrupted run): kill the process groups still registered."""
    for p in list(_RUNNING):
        p.stop(grace=1.0)


class Process:
    """A server binary in its own process group, logging into its folder."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        finally:
            log.close()
        _RUNNING.add(self)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=grace)
            except ProcessLookupError:
                pass
        self.proc = None
        _RUNNING.discard(self)


# --------------------------------------------------------------------------- prometheus


def rewrite_rule_file(src: Path, dst: Path, interval: str = RULE_INTERVAL) -> None:
    """A copy of a generated rule file with every group evaluated at ``interval``."""
    doc = yaml.safe_load(src.read_text(encoding="utf-8"))
    for g in doc["groups"]:
        g["interval"] = interval
    dst.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def rules_in(files: Iterable[Path]) -> list[dict[str, Any]]:
    """Every rule of some rule files, with its group name."""
    out = []
    for f in files:
        for g in yaml.safe_load(f.read_text(encoding="utf-8"))["groups"]:
            for r in g["rules"]:
                out.append({**r, "group": g["name"]})
    return out


class PrometheusExited(RuntimeError):
    """Prometheus stopped on its own, e.g. because it refused a rule file (its log attached)."""


class Prometheus:
    """The real prometheus binary with rule files, scraping targets, in a temporary folder."""

    def __init__(self, workdir: Path, rule_files: list[Path], targets: list[str],
                 alertmanager: str | None = None,
                 scrape_interval: str = SCRAPE_INTERVAL) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.rules_dir = workdir / "rules"
        self.rules_dir.mkdir(exist_ok=True)
        self.rule_files = []
        for f in rule_files:
            dst = self.rules_dir / f.name
            rewrite_rule_file(f, dst)
            self.rule_files.append(dst)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                       "evaluation_interval": RULE_INTERVAL},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [],
        }
        for i, target in enumerate(targets):
            scheme, rest = target.split("://", 1)
            host, _, path = rest.partition("/")
            config["scrape_configs"].append({
                "job_name": f"simulator-{i}", "scheme": scheme, "metrics_path": "/" + path,
                # the simulator stands for many targets and the Pushgateway: its series keep
                # their own job and instance labels (up of simulated targets, pushed groups)
                "honor_labels": True,
                "static_configs": [{"targets": [host]}],
            })
        if alertmanager:
            host = alertmanager.split("://", 1)[1].rstrip("/")
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        self.scrape_configs = config["scrape_configs"]
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.process = Process("prometheus", [
            find_tool("prometheus"), f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data}", f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=90d", "--log.level=warn",
            "--rules.alert.resend-delay=1s", "--web.enable-lifecycle",
        ], workdir)

    def start(self, timeout: float = 60) -> Prometheus:
        self.process.start()

        def ready() -> bool:
            if not self.process.running():
                raise PrometheusExited(self.process.log())
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200

        wait_for("prometheus to be ready", ready, timeout)
        return self

    def stop(self) -> None:
        self.process.stop()

    def target_labels(self, index: int) -> dict[str, str]:
        """The job and instance labels Prometheus gives the samples of a target."""
        sc = self.scrape_configs[index]
        return {"job": sc["job_name"], "instance": sc["static_configs"][0]["targets"][0]}

    def api(self, path: str) -> Any:
        doc = http_json(f"{self.url}/api/v1/{path}")
        if doc.get("status") != "success":
            raise ValueError(f"prometheus API {path}: {doc}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        from urllib.parse import quote
        return list(self.api(f"query?query={quote(expr)}")["result"])

    def active_alerts(self) -> dict[str, str]:
        """alertname → state (pending/firing) of every active alert."""
        out: dict[str, str] = {}
        for a in self.api("alerts")["alerts"]:
            name = a["labels"]["alertname"]
            if out.get(name) != "firing":
                out[name] = a["state"]
        return out

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule with its group (from /api/v1/rules)."""
        out = []
        for g in self.api("rules")["groups"]:
            for r in g["rules"]:
                out.append({**r, "group": g["name"], "file": g["file"]})
        return out


def rule_problems(expected: list[dict[str, Any]], loaded: list[dict[str, Any]],
                  min_evaluated_after: float | None = None) -> list[str]:
    """What is wrong with the rules Prometheus reports, against those the files define:
    a rule not loaded, health other than ok, a lastError, or not evaluated yet."""
    problems = []
    by_name = {(r["group"], r.get("record") or r.get("alert")): r for r in expected}
    seen = set()
    for r in loaded:
        key = (r["group"], r["name"])
        seen.add(key)
        if r.get("health") != "ok":
            problems.append(f"{key[1]}: health {r.get('health')!r}: {r.get('lastError', '')}")
        elif r.get("lastError"):
            problems.append(f"{key[1]}: lastError {r['lastError']}")
        if min_evaluated_after is not None and _rfc3339(r.get("lastEvaluation")) \
                < min_evaluated_after:
            problems.append(f"{key[1]}: not evaluated since the first scrape")
    for key in by_name:
        if key not in seen:
            problems.append(f"{key[1]}: not loaded (group {key[0]})")
    return problems


def _rfc3339(value: str | None) -> float:
    if not value or value.startswith("0001-"):
        return 0.0
    from datetime import datetime
    head = value.rstrip("Z")
    tz = ""
    for sep in ("+", "-"):
        if sep in head[19:]:
            head, tz = head[:19 + head[19:].index(sep)], head[19 + head[19:].index(sep):]
            break
    if "." in head:
        base, frac = head.split(".", 1)
        head = f"{base}.{frac[:6]}"
    dt = datetime.fromisoformat(head + (tz or "+00:00"))
    return dt.timestamp()


# --------------------------------------------------------------------------- backfill


def backfill_history(world: sim.World, scenario: str, anchor: float, data_dir: Path,
                     workdir: Path, target_labels: dict[str, str]) -> int:
    """The history a scenario needs, as OpenMetrics, into TSDB blocks in ``data_dir``
    (``promtool tsdb create-blocks-from openmetrics``)."""
    om = workdir / f"{scenario}.om"
    with om.open("w", encoding="utf-8") as out:
        n = world.write_openmetrics(out, scenario, anchor, target_labels=target_labels)
    import_openmetrics(om, data_dir, workdir)
    return n


CHUNK_S = 86400
IMPORT_PARALLEL = 4


def import_openmetrics(om: Path, data_dir: Path, workdir: Path) -> int:
    """``promtool tsdb create-blocks-from openmetrics`` on a file, one day at a time.

    promtool parses the whole input once per 2h block, so a week in one file costs ~100 passes
    over a week of samples; day files cost 12 passes over a day each. Returns the blocks made."""
    chunks: dict[int, list[str]] = {}
    with om.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            stamp = int(line.rsplit(" ", 1)[1])
            chunks.setdefault(stamp // CHUNK_S, []).append(line)
    def one(day: int) -> int:
        part = workdir / f"{om.stem}-{day}.om"
        part.write_text("".join(chunks[day]) + "# EOF\n", encoding="utf-8")
        blocks = workdir / f"blocks-{om.stem}-{day}"
        r = subprocess.run([find_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                            "-q", str(part), str(blocks)], capture_output=True, text=True,
                           timeout=120, check=False)
        part.unlink()
        if r.returncode != 0:
            raise RuntimeError(f"promtool create-blocks-from openmetrics failed: {r.stderr}")
        return _move_blocks(blocks, data_dir)

    # block writes wait on fsync, not on the CPU: a few imports at once
    with ThreadPoolExecutor(IMPORT_PARALLEL) as pool:
        made = sum(pool.map(one, sorted(chunks)))
    om.unlink()
    return made


def _move_blocks(src: Path, data_dir: Path) -> int:
    n = 0
    for b in sorted(src.iterdir()) if src.exists() else []:
        if b.is_dir():
            shutil.move(str(b), str(data_dir / b.name))
            n += 1
    shutil.rmtree(src, ignore_errors=True)
    return n


def recording_levels(rule_files: list[Path], names: set[str]) -> list[list[dict[str, Any]]]:
    """The recording rules in ``names`` (and those they read), by dependency level."""
    records = {r["record"]: r for r in rules_in(rule_files) if "record" in r}
    needed: set[str] = set()

    def add(name: str) -> None:
        if name in records and name not in needed:
            needed.add(name)
            for dep in promql.metric_names(records[name]["expr"]):
                add(dep)

    for n in names:
        add(n)
    levels: list[list[dict[str, Any]]] = []
    done: set[str] = set()
    while len(done) < len(needed):
        level = [records[n] for n in sorted(needed - done)
                 if all(d in done or d not in records
                        for d in promql.metric_names(records[n]["expr"]))]
        if not level:
            raise ValueError("recording rules depend on each other in a cycle")
        levels.append(level)
        done |= {r["record"] for r in level}
    return levels


def backfill_recording_rules(prom: Prometheus, levels: list[list[dict[str, Any]]],
                             start: float, end: float, step_s: float) -> int:
    """History of recording rules, level by level: each rule's expression over the backfilled
    range (``query_range`` at ``step_s``, at multiples of the step) → OpenMetrics → blocks, then
    a Prometheus restart so the next level and the alerts read them. (This is what ``promtool
    tsdb create-blocks-from rules`` does, in one query per rule instead of one per 2h block.)
    Returns the samples written."""
    from urllib.parse import urlencode

    n = 0
    start = math.ceil(start / step_s) * step_s
    end = math.floor(end / step_s) * step_s
    for i, level in enumerate(levels):
        om = prom.workdir / f"recorded-{i}.om"
        with om.open("w", encoding="utf-8") as out:
            for rule in level:
                query = urlencode({"query": rule["expr"], "start": start, "end": end,
                                   "step": step_s})
                for series in prom.api(f"query_range?{query}")["result"]:
                    labels = {**series["metric"], **rule.get("labels", {})}
                    labels.pop("__name__", None)
                    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                    name = rule["record"] + (f"{{{inner}}}" if inner else "")
                    for stamp, value in series["values"]:
                        out.write(f"{name} {value} {int(stamp)}\n")
                        n += 1
            out.write("# EOF\n")
        prom.stop()
        import_openmetrics(om, prom.data, prom.workdir)
        prom.start()
    return n


# --------------------------------------------------------------------------- scenarios


@dataclass
class ScenarioResult:
    name: str
    alerts: dict[str, str]  # alertname → pending/firing, after the expected alert showed
    rule_problems: list[str]
    backfilled_samples: int = 0
    seconds: float = 0.0
    error: str = ""


def run_scenario(world: sim.World, simulator: sim.Simulator, scenario: str,
                 rule_files: list[Path], workdir: Path, expect: str | None,
                 settle_evaluations: int = 3, timeout: float = 60,
                 backfill: bool = True) -> ScenarioResult:
    """One Prometheus, scraping one scenario (with its history backfilled), until ``expect``
    (an alert name) is pending or firing, then ``settle_evaluations`` more rule evaluations."""
    t0 = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    # 3s scrapes with a 3s timeout: a 1s timeout fails now and then on the loaded test machine,
    # and one failed scrape makes every series stale and ScrapeTargetDown pending
    prom = Prometheus(workdir, rule_files,
                      [f"{simulator.url}/scenarios/{scenario}/metrics"],
                      scrape_interval=SCENARIO_SCRAPE_INTERVAL)
    samples = 0
    try:
        plan = world.history_plan(scenario) if backfill else sim.HistoryPlan()
        if plan.span_s:
            samples = backfill_history(world, scenario, simulator.anchor, prom.data, workdir,
                                       prom.target_labels(0))
        prom.start()
        if plan.span_s and plan.recorded:
            backfill_recording_rules(prom, recording_levels(rule_files, plan.recorded),
                                     simulator.anchor - plan.span_s, simulator.anchor - 120,
                                     sim.HISTORY_STEP_S)
        wait_for(f"{scenario}: a successful scrape",
                 lambda: prom.query('up == 1'), timeout)
        first_scrape = time.time()
        if expect:
            wait_for(f"{scenario}: {expect} pending or firing",
                     lambda: expect in prom.active_alerts(), timeout)
        expected_rules = rules_in(prom.rule_files)
        mark = time.time()
        wait_for(f"{scenario}: {settle_evaluations} evaluations of every rule",
                 lambda: not rule_problems(expected_rules, prom.rules(),
                                           mark + settle_evaluations - 1)
                 or prom_rule_errors(prom, expected_rules), timeout)
        problems = rule_problems(expected_rules, prom.rules(), first_scrape)
        return ScenarioResult(scenario, prom.active_alerts(), problems, samples,
                              time.monotonic() - t0)
    finally:
        prom.stop()


def prom_rule_errors(prom: Prometheus, expected: list[dict[str, Any]]) -> list[str]:
    """Problems other than "not evaluated yet" (they end a wait early)."""
    return [p for p in rule_problems(expected, prom.rules())
            if "not evaluated" not in p and "health 'unknown'" not in p]


# --------------------------------------------------------------------------- capture servers


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.time)


class CaptureServer:
    """A loopback HTTP endpoint that records every POST (PagerDuty v2 and Slack webhooks)."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with outer.lock:
                    outer.requests.append(Captured(self.path, dict(self.headers), body))
                code, reply = (202, b'{"status":"success","message":"Event processed"}') \
                    if self.path.startswith("/pagerduty") else (200, b"ok")
                self.send_response(code)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> CaptureServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, prefix: str) -> list[Captured]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


class SmtpSink:
    """An aiosmtpd server on loopback that keeps every message and the credentials it got."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[dict[str, Any]] = []
        self.logins: list[tuple[str, str]] = []
        outer = self

        class Handler:
            async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
                    self, server: Any, session: Any, envelope: Any) -> str:
                msg = message_from_bytes(envelope.original_content or envelope.content,
                                         policy=policy.default)
                outer.messages.append({"from": envelope.mail_from,
                                       "to": list(envelope.rcpt_tos), "message": msg})
                return "250 Message accepted for delivery"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
            login = getattr(auth_data, "login", b"") or b""
            password = getattr(auth_data, "password", b"") or b""
            outer.logins.append((login.decode(), password.decode()))
            return AuthResult(success=True)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     auth_require_tls=False, authenticator=authenticator,
                                     auth_exclude_mechanism=["LOGIN"])

    def start(self) -> SmtpSink:
        import logging
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation note
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def texts(self) -> list[str]:
        """Subject and text parts of every message received."""
        out = []
        for m in list(self.messages):
            msg = m["message"]
            text = [str(msg["Subject"] or ""), f"To: {', '.join(m['to'])}"]
            for part in msg.walk():
                if not part.is_multipart() and part.get_content_maintype() == "text":
                    text.append(part.get_content())
            out.append("\n".join(text))
        return out


# --------------------------------------------------------------------------- alertmanager


class Alertmanager:
    """The real alertmanager binary with a config, in a temporary folder, without clustering."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "alertmanager.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        (workdir / "am-data").mkdir(exist_ok=True)
        self.process = Process("alertmanager", [
            find_tool("prometheus-alertmanager"), f"--config.file={self.config_path}",
            f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
            "--log.level=warn",
        ], workdir)

    def start(self, timeout: float = 30) -> Alertmanager:
        self.process.start()

        def ready() -> bool:
            if not self.process.running():
                raise RuntimeError(f"alertmanager exited:\n{self.process.log()}")
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200

        wait_for("alertmanager to be ready", ready, timeout)
        return self

    def stop(self) -> None:
        self.process.stop()

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        http_json(f"{self.url}/api/v2/alerts", alerts)


def local_endpoints(config: dict[str, Any], capture_url: str, smtp_port: int,
                    secrets_dir: Path, *, timing: str = "1s") -> tuple[dict[str, Any],
                                                                       dict[str, str]]:
    """A copy of a generated Alertmanager config whose endpoints are local: PagerDuty URLs →
    the capture server, Slack webhook URL files → a file holding the capture URL, email →
    the SMTP sink without TLS; every secret file gets a test value. Only endpoints, secrets and
    timings (group_wait/group_interval → ``timing``) change; routes, receivers, channels,
    inhibition and templates stay as generated.

    Returns the copy and the test secrets (name → value)."""
    cfg = copy.deepcopy(config)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets: dict[str, str] = {}

    def secret(name: str, value: str) -> str:
        path = secrets_dir / name
        path.write_text(value, encoding="utf-8")
        secrets[name] = value
        return str(path)

    pd_url = f"{capture_url}/pagerduty/v2/enqueue"
    slack_url = f"{capture_url}/slack/services/T000/B000/XXXX"
    g = cfg.setdefault("global", {})
    if "slack_api_url" in g or "slack_api_url_file" in g:
        g.pop("slack_api_url", None)
        g["slack_api_url_file"] = secret("slack-webhook-url", slack_url)
    if "pagerduty_url" in g:
        g["pagerduty_url"] = pd_url
    if any(k.startswith("smtp_") for k in g):
        g["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
        g["smtp_require_tls"] = False
        if "smtp_auth_password_file" in g or "smtp_auth_password" in g:
            g.pop("smtp_auth_password", None)
            g["smtp_auth_password_file"] = secret("smtp-password", "test-smtp-password")
    for r in cfg.get("receivers", []):
        for pd in r.get("pagerduty_configs", []):
            pd["url"] = pd_url
            if "routing_key_file" in pd:
                # the first PagerDuty receiver's key is "pagerduty-routing-key"; others (the
                # paged-warnings service) get their own name and value
                name = ("pagerduty-routing-key" if "pagerduty-routing-key" not in secrets
                        else f"pagerduty-routing-key-{r['name']}")
                pd["routing_key_file"] = secret(
                    name, "test-routing-key-0123456789abcdef" + name[len("pagerduty-routing-key"):])
        for og in r.get("opsgenie_configs", []):
            og["api_url"] = f"{capture_url}/opsgenie/"
            og.pop("api_key", None)
            og["api_key_file"] = secret(f"opsgenie-api-key-{r['name']}", "test-genie-key-1234")
        for wh in r.get("webhook_configs", []):
            wh["url"] = f"{capture_url}/webhook/{r['name']}"
            auth = wh.get("http_config", {}).get("authorization", {})
            if "credentials_file" in auth:
                auth["credentials_file"] = secret(f"webhook-token-{r['name']}", "test-token-42")
        for sl in r.get("slack_configs", []):
            if "api_url_file" in sl or "api_url" in sl:
                sl.pop("api_url", None)
                sl["api_url_file"] = secret("slack-webhook-url", slack_url)
        for em in r.get("email_configs", []):
            em["smarthost"] = f"127.0.0.1:{smtp_port}"
            em["require_tls"] = False
            if "auth_password_file" in em or "auth_password" in em:
                em.pop("auth_password", None)
                em["auth_password_file"] = secret("smtp-password", "test-smtp-password")
    _short_timings(cfg.get("route", {}), timing)
    return cfg, secrets


def _short_timings(route: dict[str, Any], timing: str) -> None:
    for key in ("group_wait", "group_interval"):
        if key in route:
            route[key] = timing
    for child in route.get("routes", []):
        _short_timings(child, timing)


def absolute_templates(config: dict[str, Any], template_dirs: list[Path]) -> dict[str, Any]:
    """Point the config's ``templates`` globs at local copies (found by file name)."""
    cfg = copy.deepcopy(config)
    out = []
    for pattern in cfg.get("templates", []):
        name = Path(pattern).name
        hits = [p.resolve() for d in template_dirs for p in d.glob(name)]
        if not hits:
            raise FileNotFoundError(f"template {pattern} not found in {template_dirs}")
        out += [str(p) for p in hits]
    if out:
        cfg["templates"] = sorted(set(out))
    return cfg


# --------------------------------------------------------------------------- routing exercise

_LABEL_REF = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VALUE_REF = re.compile(r"\{\{\s*\$value[^}]*\}\}")


def alert_from_rule(rule: dict[str, Any], labels: dict[str, str],
                    generator_url: str = "") -> dict[str, Any]:
    """An alert as Prometheus would send it for a generated rule (annotations expanded)."""
    all_labels = {"alertname": rule["alert"], **rule.get("labels", {}), **labels}
    for ref in _LABEL_REF.findall(json.dumps(rule.get("annotations", {}))):
        all_labels.setdefault(ref, sim.WORLD_LABELS.get(ref, ["example"])[0])

    def expand(text: str) -> str:
        text = _LABEL_REF.sub(lambda mm: all_labels.get(mm.group(1), ""), text)
        return _VALUE_REF.sub("42", text)

    now = time.time()
    alert: dict[str, Any] = {
        "labels": all_labels,
        "annotations": {k: expand(v) for k, v in rule.get("annotations", {}).items()},
        "startsAt": _iso(now - 60),
        "generatorURL": generator_url,
    }
    return alert


def _iso(t: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class RoutingCase:
    """Alerts to post and what each must produce."""

    critical: dict[str, Any]
    warning: dict[str, Any]  # same model as the critical: inhibited
    warning_other: dict[str, Any]  # another model: reaches Slack
    info: dict[str, Any]


@dataclass
class RoutingReport:
    case: RoutingCase
    pagerduty: list[Any]
    slack: list[Any]
    emails: list[str]
    smtp_logins: list[tuple[str, str]]
    secrets: dict[str, str]
    resolved_pagerduty: list[Any] = field(default_factory=list)
    resolved_slack: list[Any] = field(default_factory=list)
    digest_route: bool = True  # the config mails a digest (routing.digest via: alertmanager)


def routing_case(rule_files: list[Path]) -> RoutingCase:
    """Real generated rules, one per severity, about models (so inhibition applies)."""
    rules = [r for r in rules_in(rule_files) if "alert" in r]

    def pick(severity: str, label: str, team: str | None = None) -> dict[str, Any]:
        for r in rules:
            if r["labels"]["severity"] == severity and f"$labels.{label}" in json.dumps(r) and (
                    team is None or r["labels"].get("team") == team):
                return r
        raise LookupError(f"no {severity} alert about {label}")

    # inhibition mutes only the same team's alerts (a symptom never hides another team's cause)
    crit = pick("critical", "model")
    warn = pick("warning", "model", crit["labels"].get("team"))
    info = next(r for r in rules if r["labels"]["severity"] == "info")
    return RoutingCase(
        critical=alert_from_rule(crit, {"model": "fraud-detector"}),
        warning=alert_from_rule(warn, {"model": "fraud-detector"}),
        warning_other=alert_from_rule(warn, {"model": "demand-forecast"}),
        info=alert_from_rule(info, {"namespace": "ml-training", "pod": "trainer-0"}),
    )


def _mentions(body: Any, alert: dict[str, Any]) -> bool:
    text = json.dumps(body) if not isinstance(body, str) else body
    labels = alert["labels"]
    return labels["alertname"] in text and all(
        v in text for k, v in labels.items() if k in ("model", "pod"))


def exercise_routing(config: dict[str, Any], template_dir: Path, case: RoutingCase,
                     workdir: Path, quiet_s: float = 4.0, timeout: float = 30) -> RoutingReport:
    """Post the case's alerts to a real Alertmanager running ``config`` with local endpoints;
    collect what PagerDuty, Slack and SMTP receive; then resolve the critical alert."""
    capture = CaptureServer().start()
    smtp = SmtpSink().start()
    am = None
    try:
        cfg, secrets = local_endpoints(config, capture.url, smtp.port, workdir / "secrets")
        cfg = absolute_templates(cfg, [template_dir])
        am = Alertmanager(workdir, cfg).start()
        # the critical first: inhibition silences warnings *while* a critical fires
        am.post_alerts([case.critical])
        _soft_wait("the critical alert's notifications", lambda: any(
            _mentions(r.body, case.critical) for r in capture.posts("/")), timeout)
        am.post_alerts([case.warning, case.warning_other, case.info])

        digest_route = any("email_configs" in r for r in cfg.get("receivers", []))

        def arrived() -> bool:
            sl = [r.body for r in capture.posts("/slack")]
            mails = smtp.texts()
            return (any(_mentions(b, case.critical) for b in sl)
                    and any(_mentions(b, case.warning_other) for b in sl)
                    and (not digest_route or any(_mentions(t, case.info) for t in mails)))

        _soft_wait("the warning's notification and the digest", arrived, timeout)
        time.sleep(quiet_s)  # several group intervals: anything else would have been sent
        report = RoutingReport(case, [r.body for r in capture.posts("/pagerduty")],
                               [r.body for r in capture.posts("/slack")], smtp.texts(),
                               list(smtp.logins), secrets, digest_route=digest_route)
        capture.clear()
        am.post_alerts([alert_from_rule_resolved(case.critical)])

        def resolved() -> bool:
            return any(isinstance(b, dict) and b.get("event_action") == "resolve"
                       for b in (r.body for r in capture.posts("/pagerduty")))

        _soft_wait("the resolved notification", resolved, timeout)
        time.sleep(1.5)
        report.resolved_pagerduty = [r.body for r in capture.posts("/pagerduty")]
        report.resolved_slack = [r.body for r in capture.posts("/slack")]
        return report
    finally:
        if am is not None:
            am.stop()
        capture.stop()
        smtp.stop()


def _soft_wait(what: str, probe: Callable[[], bool], timeout: float) -> None:
    """A bounded wait whose timeout is not an error: the report then lacks what was awaited,
    and routing_problems says so."""
    try:
        wait_for(what, probe, timeout)
    except TimeoutError:
        pass


def alert_from_rule_resolved(alert: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(alert)
    out["endsAt"] = _iso(time.time() - 1)
    return out


def routing_problems(report: RoutingReport, channel: str = "#ml-ops") -> list[str]:
    """Everything the routing got wrong (empty when critical → PagerDuty + Slack, warning →
    Slack, info → nothing, digest email, inhibition, resolve, links)."""
    case, problems = report.case, []
    key = report.secrets.get("pagerduty-routing-key")
    crit_pd = [b for b in report.pagerduty if _mentions(b, case.critical)]
    if not crit_pd:
        problems.append("critical: no PagerDuty event")
    for b in crit_pd:
        if b.get("event_action") != "trigger":
            problems.append(f"critical: PagerDuty event_action {b.get('event_action')!r}")
        if b.get("routing_key") != key:
            problems.append(f"critical: PagerDuty routing_key {b.get('routing_key')!r} is not "
                            "the one in its file")
        problems += _link_problems("PagerDuty", b, case.critical)

    def slack_for(alert: dict[str, Any]) -> list[Any]:
        return [b for b in report.slack if _mentions(b, alert)]

    for label, alert in (("critical", case.critical), ("warning", case.warning_other)):
        msgs = slack_for(alert)
        if not msgs:
            problems.append(f"{label}: no Slack message")
        for b in msgs:
            if b.get("channel") != channel:
                problems.append(f"{label}: Slack message to {b.get('channel')!r}, not {channel}")
            problems += _link_problems("Slack", b, alert)
    for label, alert in (("warning", case.warning_other), ("info", case.info)):
        if any(_mentions(b, alert) for b in report.pagerduty):
            problems.append(f"{label}: reached PagerDuty")
    if slack_for(case.info):
        problems.append("info: reached Slack")
    if slack_for(case.warning) or any(_mentions(b, case.warning) for b in report.pagerduty):
        problems.append("inhibition: the warning about the model of a firing critical alert "
                        "was notified")
    if not report.digest_route and report.emails:
        problems.append("digest: Alertmanager mailed although the digest is a job")
    for label, alert in (("critical", case.critical), ("warning", case.warning_other),
                         ("info", case.info)):
        if not report.digest_route:
            break
        mails = [t for t in report.emails if _mentions(t, alert)]
        if not mails:
            problems.append(f"digest: no email with the {label} alert")
        else:
            problems += _link_problems("digest email", mails[0], alert)
    if report.smtp_logins and report.smtp_logins[-1][1] != report.secrets.get("smtp-password"):
        problems.append("digest: SMTP password is not the one in its file")
    if not any(b.get("event_action") == "resolve" and _mentions(b, case.critical)
               for b in report.resolved_pagerduty if isinstance(b, dict)):
        problems.append("resolve: no PagerDuty resolve event")
    if not any(_mentions(b, case.critical) and "RESOLVED" in json.dumps(b)
               for b in report.resolved_slack):
        problems.append("resolve: no resolved Slack message")
    return problems


def _link_problems(where: str, body: Any, alert: dict[str, Any]) -> list[str]:
    text = json.dumps(body) if not isinstance(body, str) else body
    out = []
    for ann in ("runbook_url", "dashboard_url"):
        url = alert["annotations"][ann]
        if url not in text and json.dumps(url)[1:-1] not in text:
            out.append(f"{where}: no {ann} link ({url}) for {alert['labels']['alertname']}")
    return out
