"""Run the generated ``promtool test rules`` files, one promtool process per case.

Each test group (``Alert: case``) is written to its own file next to nothing else, with the
rule file as an absolute path, so a result belongs to exactly one case (promtool's own report
does not name the group of a failing ``promql_expr_test``).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops_dash.lint import tools

TEST_GLOB = "prometheus/tests/*.test.yaml"


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one test group."""

    file: str  # test file, relative to the output folder
    alert: str
    case: str
    ok: bool
    seconds: float
    output: str


def test_files(out_dir: Path) -> list[Path]:
    """The generated rule test files of an output folder, sorted."""
    return sorted(out_dir.glob(TEST_GLOB))


def split_cases(test_file: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(alert, case, single-group test file data) for every group of a test file."""
    data = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    rule_files = [str((test_file.parent / f).resolve()) for f in data.get("rule_files", [])]
    out = []
    for group in data.get("tests", []):
        alert, _, case = str(group.get("name", "")).partition(": ")
        one = {k: v for k, v in data.items() if k not in ("tests", "rule_files")}
        one["rule_files"] = rule_files
        one["tests"] = [group]
        out.append((alert, case, one))
    return out


def run_alert_tests(out_dir: Path, jobs: int | None = None,
                    progress: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Run every case of every test file under ``out_dir`` with the real promtool."""
    tools.find_tool("promtool")  # a missing promtool is an environment problem, before work
    jobs = jobs or min(2, os.cpu_count() or 1)
    work: list[tuple[str, str, str, dict[str, Any]]] = []
    for f in test_files(out_dir):
        rel = f.relative_to(out_dir).as_posix()
        work += [(rel, alert, case, data) for alert, case, data in split_cases(f)]
    with tempfile.TemporaryDirectory(prefix="mlops-dash-test-") as tmp:

        def run_one(item: tuple[int, tuple[str, str, str, dict[str, Any]]]) -> CaseResult:
            i, (rel, alert, case, data) = item
            path = Path(tmp) / f"case-{i:04d}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            started = time.monotonic()
            result = tools.promtool_test_rules(path)
            res = CaseResult(rel, alert, case, result.ok, time.monotonic() - started,
                             result.output)
            if progress:
                progress(res)
            return res

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(run_one, enumerate(work)))


def summarise(results: list[CaseResult]) -> list[tuple[str, list[str], list[str]]]:
    """(alert, passed cases, failed cases) in the order the alerts first appear."""
    rows: dict[str, tuple[list[str], list[str]]] = {}
    for r in results:
        passed, failed = rows.setdefault(r.alert, ([], []))
        (passed if r.ok else failed).append(r.case)
    return [(alert, p, f) for alert, (p, f) in rows.items()]
