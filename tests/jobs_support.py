"""Real servers for the collector-job tests: Pushgateway, MLflow (SQLite), PostgreSQL.

Each binds 127.0.0.1 on a free port, runs in its own process group (e2e_support.Process) with
its folder under the test's tmp dir, and is stopped with SIGTERM then SIGKILL by ``stop()``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import e2e_support as es
import yaml


class Pushgateway:
    """Debian's prometheus-pushgateway on loopback."""

    def __init__(self, workdir: Path) -> None:
        self.port = es.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        binary = shutil.which("prometheus-pushgateway")
        assert binary, "prometheus-pushgateway is not installed; run `make tools`"
        self.process = es.Process("pushgateway", [
            binary, f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
            # Debian's build persists to /var/lib/prometheus by default: keep it in the test
            f"--persistence.file={workdir / 'pushgateway.state'}",
        ], workdir)

    def start(self) -> Pushgateway:
        self.process.start()

        def ready() -> bool:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200

        es.wait_for("pushgateway to be ready", ready, 20)
        return self

    def stop(self) -> None:
        self.process.stop()

    def groups(self) -> list[dict[str, Any]]:
        """The Pushgateway's own view of its groups (api/v1/metrics)."""
        return list(es.http_json(f"{self.url}/api/v1/metrics")["data"])

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            return r.read().decode()


def prometheus_scraping(workdir: Path, rule_files: list[Path], pushgateway: str,
                        extra_targets: list[str] = ()) -> es.Prometheus:
    """A Prometheus scraping the Pushgateway with honor_labels (as the ServiceMonitor does)."""
    prom = es.Prometheus(workdir, rule_files, [pushgateway + "/metrics", *extra_targets])
    config = yaml.safe_load(prom.config.read_text())
    config["scrape_configs"][0]["honor_labels"] = True
    prom.config.write_text(yaml.safe_dump(config, sort_keys=False))
    return prom


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert found, "PostgreSQL is not installed; run `make tools` (Debian's postgresql)"
    return Path(found[-1]).parent


class Postgres:
    """A throwaway PostgreSQL cluster on loopback, owned by the ``postgres`` user (initdb
    refuses root): data folder made here and handed to that user, trust auth on 127.0.0.1."""

    def __init__(self, workdir: Path) -> None:
        self.bin = _postgres_bin()
        self.port = es.free_port()
        # its own folder under /tmp: pytest's tmp folders are 0700 root, closed to `postgres`
        workdir = Path(tempfile.mkdtemp(prefix="mlops-dash-pg-"))
        self.data = workdir / "pgdata"
        self.sockets = workdir / "pgsock"
        self.workdir = workdir
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.process: es.Process | None = None

    def _as_postgres(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def start(self) -> Postgres:
        for d in (self.data, self.sockets):
            d.mkdir(mode=0o700)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chmod(self.workdir, 0o755)  # the postgres user walks into its folders
            for d in (self.data, self.sockets):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            (self.workdir / "postgres.log").touch()
            os.chown(self.workdir / "postgres.log", pw.pw_uid, pw.pw_gid)
        subprocess.run(self._as_postgres([
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)
        self.process = es.Process("postgres", self._as_postgres([
            str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.sockets}",
            "-c", "fsync=off", "-c", "timezone=UTC"]), self.workdir)
        self.process.start()
        es.wait_for("postgres", self._ready, 60, interval=0.3)
        return self

    def _ready(self) -> bool:
        r = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p",
                            str(self.port)], capture_output=True, timeout=10)
        return r.returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            conn.execute(sql)


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m mlops_dash ARGS`` from this checkout."""
    root = Path(__file__).resolve().parents[1]
    full = {**os.environ, "PYTHONPATH": str(root / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "mlops_dash", *args], capture_output=True,
                          text=True, timeout=timeout, env=full, cwd=root, check=False)


def wait_alert(prom: es.Prometheus, name: str, state: str, timeout: float) -> float:
    """Seconds until ``name`` is in ``state`` (pending/firing/inactive)."""
    start = time.monotonic()

    def probe() -> bool:
        alerts = prom.active_alerts()
        return (name not in alerts) if state == "inactive" else alerts.get(name) == state

    es.wait_for(f"{name} {state}", probe, timeout)
    return time.monotonic() - start
