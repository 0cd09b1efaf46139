"""The corpus of broken specs (tests/testdata/invalid/<case>/): each case, applied to a copy of the
shipped specs, makes `build` exit 1 with its expected message and no traceback, leaves the output
folder byte-identical, and makes `lint` report the same problem.

A case folder holds ``expected`` (lines that must all appear in build's stderr), optionally
``edit.yaml`` (a list of {file, old, new}: ``old`` must occur exactly once in ``file``), ``remove``
(spec files to delete), ``args`` (more build arguments, e.g. ``--env prd``; lint gets the
same ``--env``), ``lint-expected`` (lines lint's text output must contain, when lint
reports the problem as a lint finding rather than a spec error), and any other file, which is
copied into the specs folder (a new file, or one replacing a shipped file).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SPECS
from test_cli import digest, run

from mlops_dash.lint.runner import format_findings, lint_folder

CORPUS = ROOT / "tests" / "testdata" / "invalid"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
META = {"expected", "edit.yaml", "remove", "lint-expected", "args"}


def apply_case(case: Path, specs: Path) -> None:
    edits = yaml.safe_load((case / "edit.yaml").read_text()) if (case / "edit.yaml").exists() else []
    for e in edits:
        path = specs / e["file"]
        text = path.read_text(encoding="utf-8")
        assert text.count(e["old"]) == 1, f"{case.name}: edit does not match once: {e['old']!r}"
        path.write_text(text.replace(e["old"], e["new"]), encoding="utf-8")
    if (case / "remove").exists():
        for name in (case / "remove").read_text().split():
            (specs / name).unlink()
    for f in case.iterdir():
        if f.name not in META:
            shutil.copyfile(f, specs / f.name)


def test_corpus_is_big_enough():
    assert len(CASES) >= 40


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built") / "generated"
    assert run("build", "-q", "--specs", str(SPECS), "--out", str(out)).returncode == 0
    return out


@pytest.mark.parametrize("name", CASES)
def test_broken_spec(name, tmp_path, built, monkeypatch):
    case = CORPUS / name
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    apply_case(case, specs)
    out = tmp_path / "generated"
    shutil.copytree(built, out)
    before = digest(out)

    args = (case / "args").read_text().split() if (case / "args").exists() else []
    r = run("build", "--specs", str(specs), "--out", str(out), *args, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    expected = [ln for ln in (case / "expected").read_text(encoding="utf-8").splitlines() if ln]
    assert expected
    for line in expected:
        assert line in r.stderr, f"{name}: {line!r} not in\n{r.stderr}"
    assert "nothing was written" in r.stderr
    assert digest(out) == before, "a failing build changed the output folder"

    # lint reports the same problem (as a spec/invalid finding, or its own check)
    monkeypatch.chdir(tmp_path)  # the same relative file names as the build above
    env = args[args.index("--env") + 1] if "--env" in args else None
    text = format_findings(lint_folder(Path("specs"), env=env), "text")
    lint_expected = case / "lint-expected"
    wanted = ([ln for ln in lint_expected.read_text(encoding="utf-8").splitlines() if ln]
              if lint_expected.exists() else
              [_as_finding(ln) for ln in expected])
    for line in wanted:
        assert line in text, f"{name}: {line!r} not in lint output\n{text}"


def _as_finding(build_line: str) -> str:
    """``specs/x.yaml:3:5: path: message`` → ``specs/x.yaml:3:5: spec/invalid: path: message``."""
    place, sep, rest = build_line.partition(": ")
    return f"{place}: spec/invalid: {rest}" if sep else build_line
