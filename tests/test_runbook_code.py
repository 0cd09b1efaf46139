"""The runbook template ships compiled (render/runbook_code.py): the committed module is what
generation gives, renders what compiling gives, and a build writes nothing outside --out."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, SPECS

from mlops_dash import pipeline
from mlops_dash.render import runbook_code, runbooks
from mlops_dash.spec.loader import load_specs


def _template() -> str:
    return pipeline.runbook_template()


def test_the_committed_module_is_a_fresh_generation_for_this_jinja2():
    env = runbooks.environment()
    text = runbook_code.GENERATED_PATH.read_text(encoding="utf-8")
    committed = next(line for line in text.splitlines() if line.startswith("FINGERPRINT = "))
    if committed == f"FINGERPRINT = {runbook_code.fingerprint(env, _template())!r}":
        assert text == runbook_code.module_source(env, _template()), (
            "render/runbook_template_code.py is stale: run `make runbook-code`")
        assert runbook_code.shipped(env, _template()) is not None
    else:  # another jinja2 (or template) than the module was made for: it is not used
        assert runbook_code.shipped(env, _template()) is None


def test_the_module_renders_every_runbook_as_compiling_the_template_does(monkeypatch):
    """(With a jinja2 the module was not made for, both renders compile the template.)"""
    env = runbooks.environment()
    spec_set = load_specs(SPECS)
    tree = pipeline.render_tree(spec_set)
    compiled = env.from_string(_template())
    runbooks._compiled.cache_clear()
    monkeypatch.setattr(runbook_code, "shipped", lambda *_: compiled)
    try:
        again = pipeline.render_tree(spec_set)
    finally:
        runbooks._compiled.cache_clear()
    pages = [rel for rel in tree if rel.startswith("runbooks/")]
    assert len(pages) > 20
    assert {rel: again[rel] for rel in pages} == {rel: tree[rel] for rel in pages}


def test_another_template_text_is_compiled_in_memory():
    assert runbook_code.shipped(runbooks.environment(), "{{ x }}!\n") is None
    assert runbooks._compiled("{{ x }}!\n").render(x="hi") == "hi!\n"


def test_a_build_writes_nothing_outside_its_out(tmp_path):
    """Nothing beside --out (the swap's staging folder is gone afterwards), nothing in the
    temporary directory, nothing in the home folder."""
    tmp, home, parent = tmp_path / "tmp", tmp_path / "home", tmp_path / "parent"
    for d in (tmp, home, parent):
        d.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "HOME": str(home),
           "PYTHONPATH": str(ROOT / "src")}
    for _ in range(2):  # into a new folder, then over it
        r = subprocess.run([sys.executable, "-m", "mlops_dash", "build", "-q", "--specs",
                            str(SPECS), "--out", str(parent / "out")], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in parent.iterdir()) == ["out"]
    assert list(tmp.iterdir()) == [] and list(home.iterdir()) == []
