"""`mlops-dash check`: the CI gate that keeps generated/ equal to what the specs produce."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import GENERATED, SPECS
from test_cli import run


def test_check_passes_on_the_repository():
    r = run("check")
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stdout


def test_unbuilt_spec_edit_fails_naming_every_affected_file(tmp_path, specs_copy):
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out)
    assert run("check", "--specs", str(specs_copy), "--out", str(out)).returncode == 0
    f = specs_copy / "serving-health.yaml"
    f.write_text(f.read_text().replace("threshold: 300", "threshold: 250"))
    r = run("check", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 1
    stale = sorted(line.split(": ", 1)[1] for line in r.stderr.splitlines()
                   if line.startswith("stale: "))
    # the rule file, the PrometheusRule and the dashboard (threshold line) all changed, and
    # nothing of the other dashboards
    assert {str(out / rel) for rel in (
        "grafana/mlops-serving-health.json",
        "kubernetes/configmap-mlops-serving-health.yaml",
        "kubernetes/prometheusrule-mlops-serving-health.yaml",
        "prometheus/mlops-serving-health.rules.yaml",
    )} <= set(stale), r.stderr
    assert not [f for f in stale if "mlops-cost-optimization" in f], r.stderr
    assert all(Path(f).is_file() for f in stale)
    assert "run `mlops-dash build`" in r.stderr


def test_check_names_missing_and_extra_files(tmp_path, specs_copy):
    out = tmp_path / "generated"
    assert run("build", "--specs", str(specs_copy), "--out", str(out)).returncode == 0
    (out / "kubernetes" / "kustomization.yaml").unlink()
    (out / "notes.md").write_text("mine, not owned by the build\n")
    (specs_copy / "cost-optimization.yaml").unlink()
    (specs_copy / "overview.yaml").unlink()  # it summarises the cost dashboard too
    for f in specs_copy.glob("*.yaml"):
        f.write_text(f.read_text().replace("  - {dashboard: mlops-cost-optimization}\n", ""))
    r = run("check", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 1
    assert f"missing: {out / 'kubernetes/kustomization.yaml'}" in r.stderr
    assert f"extra: {out / 'grafana/mlops-cost-optimization.json'}" in r.stderr
    assert f"extra: {out / 'kubernetes/configmap-mlops-cost-optimization.yaml'}" in r.stderr
    assert "notes.md" not in r.stderr
    # build repairs it; check agrees
    assert run("build", "--specs", str(specs_copy), "--out", str(out)).returncode == 0
    assert run("check", "--specs", str(specs_copy), "--out", str(out)).returncode == 0


def test_hand_edited_output_is_stale(tmp_path):
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out)
    f = out / "kubernetes" / "kustomization.yaml"
    f.write_text(f.read_text() + "- extra.yaml\n")
    r = run("check", "--specs", str(SPECS), "--out", str(out))
    assert r.returncode == 1
    assert f"stale: {f}" in r.stderr
