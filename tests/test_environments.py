"""Typed parameters, environments, output selection and spec discovery (issue 18).

In-process (click's CliRunner, the pipeline): one build of the staging/prod example per module.
The kustomize bundles are built with the real ``kubectl kustomize``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT, SPECS, require_tool

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline
from mlops_dash.cli import cli
from mlops_dash.errors import SpecErrors
from mlops_dash.lint import param_checks
from mlops_dash.lint.runner import lint_folder
from mlops_dash.spec.jsonschema import spec_json_schema
from mlops_dash.spec.loader import load_specs

EXAMPLE = ROOT / "examples" / "staging-prod"
EXAMPLE_SPECS = EXAMPLE / "specs"


def cli_run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def example_trees() -> dict[str | None, dict[str, str]]:
    return dict(pipeline.build_trees(EXAMPLE_SPECS))


def rules_of(tree: dict[str, str]) -> dict[str, dict]:
    data = yaml.safe_load(tree["prometheus/mlops-serving-health.rules.yaml"])
    return {r["alert"]: r for g in data["groups"] for r in g["rules"] if "alert" in r}


def copy_example(tmp_path: Path) -> Path:
    dst = tmp_path / "specs"
    shutil.copytree(EXAMPLE_SPECS, dst)
    return dst


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


# ---------------------------------------------------------------- the example, built and current

def test_example_is_built_and_current(example_trees):
    """The committed examples/staging-prod/generated/ is what its specs produce (CI)."""
    assert sorted(example_trees) == ["prod", "staging"]
    for name, tree in example_trees.items():
        diff = output.compare_tree(tree, EXAMPLE / "generated" / str(name))
        assert diff.clean, (name, diff)
    assert sorted(p.name for p in (EXAMPLE / "generated").iterdir()) == ["prod", "staging"]


def test_environments_give_their_own_values(example_trees):
    prod, staging = rules_of(example_trees["prod"]), rules_of(example_trees["staging"])
    # numbers and durations substituted typed (the rule's threshold, for and window)
    assert prod["HighLatency"]["expr"].endswith("> 300") and prod["HighLatency"]["for"] == "10m"
    assert staging["HighLatency"]["expr"].endswith("> 500")
    assert staging["HighLatency"]["for"] == "30m"
    assert prod["ErrorRateSpike"]["expr"].endswith("> 0.02")
    assert staging["ErrorRateSpike"]["expr"].endswith("> 0.05")
    # namespaces per environment; a string parameter inside text
    assert 'destination_workload_namespace="ml-serving-staging"' in staging["HighLatency"]["expr"]
    assert 'destination_workload_namespace="ml-serving"' in prod["HighLatency"]["expr"]
    assert "in staging (now" in staging["HighLatency"]["annotations"]["description"]
    assert "in production (now" in prod["HighLatency"]["annotations"]["description"]
    # a list parameter as the `by` list
    assert "sum by (le, destination_workload_namespace, destination_canonical_service)" in \
        prod["HighLatency"]["expr"]
    # URLs from the environment's platform patch
    assert staging["HighLatency"]["annotations"]["dashboard_url"].startswith(
        "https://grafana.staging.company.com/")
    assert prod["HighLatency"]["annotations"]["dashboard_url"].startswith(
        "https://grafana.company.com/")
    # receivers: staging has no pager, prod pages
    am = yaml.safe_load(example_trees["staging"]["alertmanager/alertmanager.yaml"])
    assert [r["name"] for r in am["receivers"] if "pagerduty_configs" in r] == []
    assert "slack-ml-staging" in json.dumps(am)
    assert "pagerduty/escalation.tf.json" in example_trees["prod"]
    assert "pagerduty/escalation.tf.json" not in example_trees["staging"]


def test_generated_holds_resolved_values_only(example_trees):
    for tree in example_trees.values():
        for rel, text in tree.items():
            assert "${params." not in text and "${namespaces." not in text, rel


def test_selected_outputs_and_their_kustomizations(example_trees, tmp_path):
    """Each environment's kustomization lists exactly its selected manifests, and builds."""
    kubectl = require_tool("kubectl")
    staging = yaml.safe_load(example_trees["staging"]["kubernetes/kustomization.yaml"])
    prod = yaml.safe_load(example_trees["prod"]["kubernetes/kustomization.yaml"])
    assert staging["resources"] == ["configmap-mlops-serving-health.yaml"]  # plain Alertmanager
    assert prod["resources"] == ["alertmanagerconfig-ml-platform.yaml",
                                 "configmap-mlops-serving-health.yaml",
                                 "prometheusrule-mlops-serving-health.yaml"]
    assert "alertmanager/alertmanager.yaml" in example_trees["staging"]
    assert "alertmanager/alertmanager.yaml" not in example_trees["prod"]  # operator only
    for name in ("prod", "staging"):
        bundle = EXAMPLE / "generated" / name / "kubernetes"
        r = subprocess.run([kubectl, "kustomize", str(bundle)], capture_output=True,
                           text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        kinds = sorted(re.findall(r"^kind: (\w+)$", r.stdout, re.M))
        assert kinds == sorted(yaml.safe_load(
            example_trees[name][f"kubernetes/{res}"])["kind"]
            for res in (staging if name == "staging" else prod)["resources"])


# ---------------------------------------------------------------- output selection (single layout)

SELECTIONS = {
    "plain-alertmanager": ({"alertmanager_config_manifest": False,
                            "prometheus_rule_manifests": False},
                           {"configmap", "exporter", "cronjob", "collectors"}),
    "operator-only": ({"alertmanager_config": False, "prometheus_rules": False,
                       "alert_tests": False, "collectors": False},
                      {"configmap", "prometheusrule", "alertmanagerconfig"}),
    "no-dashboards-manifests": ({"dashboard_manifests": False, "runbooks": False},
                                {"prometheusrule", "alertmanagerconfig", "exporter",
                                 "cronjob", "collectors"}),
}


@pytest.mark.parametrize("case", sorted(SELECTIONS))
def test_output_selection_of_the_shipped_specs(case, specs_copy, tmp_path, tree):
    kubectl = require_tool("kubectl")
    selected, prefixes = SELECTIONS[case]
    text = (specs_copy / "platform.yaml").read_text()
    block = "outputs:\n" + "".join(f"  {k}: {str(v).lower()}\n" for k, v in selected.items())
    (specs_copy / "platform.yaml").write_text(text.replace("namespaces:\n", block +
                                                           "namespaces:\n", 1))
    full, tree = tree, pipeline.build_tree(specs_copy)
    for rel in full:
        kind = cv.output_kind(rel)
        if rel != cv.KUSTOMIZATION_PATH:
            assert (rel in tree) == (kind is None or selected.get(kind, True)), rel
            if not rel.startswith("kubernetes/exporter-"):  # it holds the platform spec
                assert full[rel] == tree.get(rel, full[rel]), rel  # selected: unchanged
    resources = yaml.safe_load(tree["kubernetes/kustomization.yaml"])["resources"]
    assert resources == sorted(r[len("kubernetes/"):] for r in tree
                               if r.startswith("kubernetes/") and r.endswith(".yaml")
                               and r != "kubernetes/kustomization.yaml")
    assert {r.split("-")[0].split("/")[0] for r in resources} == prefixes
    out = tmp_path / "out"
    output.write_tree(tree, out)
    r = subprocess.run([kubectl, "kustomize", str(out / "kubernetes")], capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr


def test_alert_tests_need_the_rule_files(specs_copy):
    edit(specs_copy / "platform.yaml", "namespaces:\n",
         "outputs:\n  prometheus_rules: false\nnamespaces:\n")
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs_copy)
    (err,) = exc.value.errors
    assert err.path == "outputs" and "alert_tests need prometheus_rules" in err.message
    assert err.file.endswith("platform.yaml") and err.line == 14


def test_default_selection_is_todays_output(tree):
    """No outputs: in the platform spec: every output, as before (generated/ is unchanged)."""
    assert output.compare_tree(tree, ROOT / "generated").clean


# ---------------------------------------------------------------- typed parameters

def test_typed_values_are_validated_as_their_field(tmp_path):
    specs = copy_example(tmp_path)
    edit(specs / "dashboards" / "serving.yaml", 'window: "${params.rate_window}"\n    for: "${'
         'params.latency_for}"', 'window: "${params.latency_p95_ms}"\n    for: "${'
         'params.latency_for}"')
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs, env="prod")
    (err,) = exc.value.errors
    assert err.path == "alerts[0].window"
    assert "expected a string, found the number 300" in err.message
    assert "(the value of ${params.latency_p95_ms}, a number parameter declared at " in \
        err.message and "platform.yaml:20:" in err.message


@pytest.mark.parametrize(("ptype", "value", "why"), [
    ("duration", "5 minutes", "a duration parameter takes a Prometheus duration"),
    ("number", '"300"', "a number parameter takes a number"),
    ("bool", "yes please", "a bool parameter takes true or false"),
    ("list", "a", "a list parameter takes a list of strings"),
])
def test_declared_values_match_their_type(tmp_path, ptype, value, why):
    specs = copy_example(tmp_path)
    edit(specs / "platform.yaml", "parameters:\n",
         f"parameters:\n  extra: {{type: {ptype}, value: {value}}}\n")
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs)
    (err,) = exc.value.errors
    assert err.path == "parameters.extra.value" and why in err.message
    assert err.line == 20 and err.file.endswith("platform.yaml")


def test_number_parameter_inside_text_reads_as_written(tmp_path):
    specs = copy_example(tmp_path)
    edit(specs / "dashboards" / "serving.yaml", "in ${params.environment} (now",
         "in ${params.environment} over ${params.error_ratio} and ${params.show_all_models}"
         " (now")
    # lint=False: build-time lint rightly refuses a number in the text that is not the threshold
    tree = pipeline.build_tree(specs, env="staging", lint=False)
    text = rules_of(tree)["HighLatency"]["annotations"]["description"]
    assert "in staging over 0.05 and true (now" in text


def test_environment_patch_errors_are_placed_in_the_environment_file(tmp_path):
    specs = copy_example(tmp_path)
    edit(specs / "environments" / "staging.yaml", "  grafana_url: https://grafana.staging",
         "  grafana_urls: https://grafana.staging")
    with pytest.raises(SpecErrors) as exc:
        pipeline.build_trees(specs)
    (err,) = exc.value.errors
    assert err.file.endswith("environments/staging.yaml") and err.line == 20
    assert err.path == "platform.grafana_urls"
    assert "unknown field 'grafana_urls' (did you mean 'grafana_url'?)" in err.message
    assert err.message.endswith("(environment staging)")


def test_lint_knows_parameters_per_environment(tmp_path):
    specs = copy_example(tmp_path)
    assert lint_folder(EXAMPLE_SPECS) == []
    edit(specs / "environments" / "staging.yaml", "  latency_for: 30m", "  latency_for: 30")
    findings = lint_folder(specs, checks=param_checks.CHECKS)
    assert [(f.file.endswith("staging.yaml"), f.line, f.check_id) for f in findings] == [
        (True, 10, "spec/invalid")]
    assert findings[0].message.endswith("(environment staging)")
    assert lint_folder(specs, env="prod", checks=param_checks.CHECKS) == []


def test_schema_takes_parameter_references():
    schema = json.loads(spec_json_schema())
    validator = jsonschema.Draft202012Validator(schema)
    for f in sorted(EXAMPLE_SPECS.rglob("*.yaml")):
        assert not list(validator.iter_errors(yaml.safe_load(f.read_text()))), f
    doc = yaml.safe_load((EXAMPLE_SPECS / "dashboards" / "serving.yaml").read_text())
    doc["alerts"][0]["threshold"] = "high"  # a string that is not a reference
    assert list(validator.iter_errors(doc))
    doc["alerts"][0]["threshold"] = "${params.latency_p95_ms}"
    assert not list(validator.iter_errors(doc))


# ---------------------------------------------------------------- the commands per environment

def test_build_check_and_diff_per_environment(tmp_path):
    specs, out = copy_example(tmp_path), tmp_path / "generated"
    code, stdout, _ = cli_run("build", "--specs", str(specs), "--out", str(out))
    assert code == 0 and f"into {out / 'prod'}" in stdout and f"into {out / 'staging'}" in stdout
    assert cli_run("check", "--specs", str(specs), "--out", str(out))[0] == 0
    edit(specs / "environments" / "staging.yaml", "latency_p95_ms: 500", "latency_p95_ms: 450")
    code, _, stderr = cli_run("check", "--specs", str(specs), "--out", str(out))
    assert code == 1 and f"stale: {out / 'staging'}/prometheus/" in stderr
    assert str(out / "prod") not in stderr
    assert cli_run("check", "--specs", str(specs), "--out", str(out), "--env", "prod")[0] == 0
    before = (out / "prod" / "prometheus" / "mlops-serving-health.rules.yaml").read_text()
    shutil.copytree(out, tmp_path / "base")
    assert cli_run("build", "-q", "--specs", str(specs), "--out", str(out), "--env",
                   "staging")[0] == 0
    assert (out / "prod" / "prometheus" / "mlops-serving-health.rules.yaml").read_text() == before
    assert "> 450" in (out / "staging" / "prometheus" / "mlops-serving-health.rules.yaml"
                       ).read_text()
    code, stdout, _ = cli_run("diff", str(tmp_path / "base"), str(out), "--env", "staging",
                              "--generated", str(out))
    assert code == 0 and "HighLatency" in stdout and "500" in stdout and "450" in stdout
    code, stdout, _ = cli_run("diff", str(tmp_path / "base"), str(out), "--env", "prod",
                              "--exit-code", "--generated", str(out))
    assert code == 0, stdout
    # a folder that is no environment's output: check fails, build says so
    (out / "grafana").mkdir()
    code, _, stderr = cli_run("check", "--specs", str(specs), "--out", str(out))
    assert code == 1 and f"extra: {out / 'grafana'} (not an environment's output)" in stderr
    code, _, stderr = cli_run("build", "-q", "--specs", str(specs), "--out", str(out))
    assert code == 0 and f"note: {out / 'grafana'} is not an environment's output" in stderr


def test_unknown_environment_without_environments(tmp_path):
    code, _, stderr = cli_run("build", "--specs", str(SPECS), "--out", str(tmp_path / "o"),
                              "--env", "prod")
    assert code == 1 and "unknown environment 'prod': the folder has no kind: Environment " \
        "file" in stderr
    assert not (tmp_path / "o").exists()


def test_two_environments_of_one_name(tmp_path):
    specs = copy_example(tmp_path)
    shutil.copy(specs / "environments" / "prod.yaml", specs / "environments" / "prod2.yaml")
    with pytest.raises(SpecErrors) as exc:
        pipeline.build_trees(specs)
    (err,) = exc.value.errors
    assert "a second environment 'prod' (the first is " in err.message
    assert err.file.endswith("prod2.yaml") and err.path == "name"


# ---------------------------------------------------------------- spec discovery

def test_specs_in_subfolders_are_found(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    # folders that keep the files' order (links to all dashboards follow the spec-file order)
    for folder, name in (("areas", "cost-optimization.yaml"), ("zones", "serving-health.yaml")):
        (specs / folder).mkdir()
        (specs / name).rename(specs / folder / name)
    (specs / ".hidden").mkdir()
    (specs / ".hidden" / "broken.yaml").write_text("not: [a spec")
    # an output folder inside (it holds .mlops-dash-files) is not read as specs
    output.write_tree({"prometheus/x.rules.yaml": "groups: []\n"}, specs / "generated")
    assert pipeline.build_tree(specs) == pipeline.build_tree(SPECS)
    (specs / "zones" / "stray.yaml").write_text("groups: []\n")  # YAML, not a spec: an error
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs)
    assert [e.message for e in exc.value.errors] == [
        "missing apiVersion; expected apiVersion: mlops-dash/v1"]


def test_ignored_files_are_named_when_a_kind_is_missing(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    for f in specs.glob("*.yaml"):
        if f.name not in ("platform.yaml", "metrics.yaml"):
            f.rename(f.with_suffix(".yaml.txt"))
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs)
    (err,) = exc.value.errors
    assert err.message.startswith("no spec of kind Dashboard: nothing to build (read: ")
    assert f"{specs / 'platform.yaml'} (Platform)" in err.message
    assert f"{specs / 'metrics.yaml'} (MetricCatalogue)" in err.message
    assert (f"ignored: {specs / 'cost-optimization.yaml.txt'} (not YAML: a spec file ends in "
            ".yaml or .yml, this is .txt)") in err.message
    assert "mlops-dash.schema.json (not YAML" in err.message
    (specs / "linked").symlink_to(tmp_path)
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs)
    assert f"{specs / 'linked'} (a symbolic link to a folder (not followed))" in \
        exc.value.errors[0].message


def test_routes_per_environment():
    code, stdout, _ = cli_run("routes", "--specs", str(EXAMPLE_SPECS), "--env", "staging",
                              "--format", "tsv")
    assert code == 0 and "ErrorRateSpike\tcritical\tslack-ml-staging\tnone (not paged)" in stdout
    code, stdout, _ = cli_run("routes", "--specs", str(EXAMPLE_SPECS), "--env", "prod",
                              "--format", "tsv")
    assert code == 0 and "ErrorRateSpike\tcritical\tpagerduty-ml-oncall, slack-ml-ops" in stdout
