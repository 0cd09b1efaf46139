"""Our wrapper around the real promtool and amtool binaries (Debian: prometheus,
prometheus-alertmanager). A missing binary is an environment problem (exit 2), with the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlops_dash.errors import EnvironmentProblem

INSTALL_HINT = {
    "promtool": "install it with `sudo apt-get install prometheus` (Debian/Ubuntu) or `make tools`",
    "amtool": "install it with `sudo apt-get install prometheus-alertmanager` or `make tools`",
    "prometheus": "install it with `sudo apt-get install prometheus` or `make tools`",
    "prometheus-alertmanager": "install it with `sudo apt-get install prometheus-alertmanager`",
}
ENV_OVERRIDE = {"promtool": "PROMTOOL", "amtool": "AMTOOL", "prometheus": "PROMETHEUS",
                "prometheus-alertmanager": "ALERTMANAGER"}
TIMEOUT_S = 300


@dataclass(frozen=True)
class ToolResult:
    """Outcome of one tool run."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).strip()


def find_tool(name: str) -> str:
    """Absolute path of a tool (``$PROMTOOL`` etc. override PATH), or EnvironmentProblem."""
    override = os.environ.get(ENV_OVERRIDE.get(name, ""), "")
    path = override or shutil.which(name)
    if name == "prometheus-alertmanager" and not path:
        path = shutil.which("alertmanager")
    if not path or not os.access(path, os.X_OK):
        raise EnvironmentProblem(f"{name} not found on PATH; {INSTALL_HINT.get(name, '')}")
    return path


def run(name: str, *args: str | Path, cwd: Path | None = None,
        timeout: float = TIMEOUT_S) -> ToolResult:
    """Run a tool with bounded time; never raises for a non-zero exit."""
    argv = (find_tool(name), *map(str, args))
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"{name} did not finish within {timeout:.0f}s") from None
    return ToolResult(tuple(map(str, argv)), proc.returncode, proc.stdout, proc.stderr)


def promtool_check_rules(*files: Path) -> ToolResult:
    """``promtool check rules`` on rule files."""
    return run("promtool", "check", "rules", *files)


def promtool_test_rules(*files: Path, cwd: Path | None = None) -> ToolResult:
    """``promtool test rules`` on rule test files."""
    return run("promtool", "test", "rules", *files, cwd=cwd)


def amtool_check_config(config: Path) -> ToolResult:
    """``amtool check-config`` on an Alertmanager configuration."""
    return run("amtool", "check-config", config)


def amtool_routes_test(config: Path, labels: dict[str, str]) -> ToolResult:
    """``amtool config routes test``: the receivers an alert with ``labels`` reaches."""
    pairs = [f"{k}={v}" for k, v in sorted(labels.items())]
    return run("amtool", "config", "routes", "test", f"--config.file={config}", *pairs)
