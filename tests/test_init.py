"""`mlops-dash init` and the minimal platform: the starter spec set builds, lints (promtool,
amtool, the schemas) and tests clean in an empty folder; init never overwrites without
--force; a platform spec of three lines gets a default route (a null receiver, or the one
channel) that the real amtool accepts; `build` refuses what can never work unless --no-lint;
Prometheus' own series are known without a catalogue entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from test_cli import digest, run

from mlops_dash import conventions as cv
from mlops_dash import pipeline
from mlops_dash.errors import SpecErrors
from mlops_dash.lint.runner import ERROR, lint_folder
from mlops_dash.spec.loader import load_specs
from mlops_dash.cli import cli as main_cli
from mlops_dash.starter import FILES, write_starter


def test_init_build_lint_clean_in_an_empty_folder(tmp_path):
    r = run("init", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "specs").iterdir()) == sorted(FILES)
    r = run("build", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    built = digest(tmp_path / "generated")
    assert {"grafana/platform-health.json", "prometheus/platform-health.rules.yaml",
            "alertmanager/alertmanager.yaml", "runbooks/TargetDown.md",
            "kubernetes/kustomization.yaml"} <= set(built)
    r = run("lint", cwd=tmp_path)  # promtool, amtool and the official schemas included
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "" and "no problems found" in r.stderr
    r = run("check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_init_refuses_existing_spec_files_and_force_keeps_the_others(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "platform.yaml").write_text("mine\n")
    (specs / "extra.yaml").write_text("also mine\n")
    r = run("init", str(tmp_path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"error: {specs / 'extra.yaml'}: already exists" in r.stderr
    assert "--force" in r.stderr
    assert (specs / "platform.yaml").read_text() == "mine\n"
    assert not (specs / "metrics.yaml").exists()

    r = run("init", "--force", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "kind: Platform" in (specs / "platform.yaml").read_text()
    assert (specs / "extra.yaml").read_text() == "also mine\n"


def test_init_help_documents_dir_and_force():
    r = run("init", "--help")
    assert r.returncode == 0
    assert "[DIR]" in r.stdout and "--force" in r.stdout and "refuses" in r.stdout.lower()


@pytest.fixture()
def starter(tmp_path) -> Path:
    write_starter(tmp_path)  # what `init` writes, in-process (the CLI is tested above)
    return tmp_path / "specs"


def cli(*args: str):
    """The CLI in this process (click's runner): cheaper than a subprocess per command."""
    return CliRunner().invoke(main_cli, list(args))


def _routes(specs: Path) -> dict:
    tree = pipeline.build_tree(specs)
    return yaml.safe_load(tree[cv.ALERTMANAGER_CONFIG_PATH])


def test_minimal_platform_routes_everything_to_a_null_receiver(starter):
    text = (starter / "platform.yaml").read_text()
    assert "\nrouting:" not in text and "\nchannels:" not in text  # the three lines only
    config = _routes(starter)
    receivers = {r["name"]: r for r in config["receivers"]}
    used = {config["route"]["receiver"]} | {r["receiver"] for r in config["route"]["routes"]}
    assert len(used) == 1  # critical, warning, info and unknown severities all go there
    (name,) = used
    assert receivers[name] == {"name": name}  # no *_configs: Alertmanager notifies nobody
    platform = load_specs(starter).platform_model
    assert platform.datasources.warehouse is None
    assert platform.grafana_url == cv.DEFAULT_GRAFANA_URL
    rules = pipeline.build_tree(starter)[cv.rule_file_path("platform-health")]
    assert "runbook_url: runbooks/TargetDown.md" in rules


def test_one_channel_gets_every_severity_and_amtool_accepts_it(starter):
    with (starter / "platform.yaml").open("a") as f:
        f.write("channels:\n  - {name: slack-ml-ops, type: slack, channel: \"#ml-ops\", "
                "api_url_file: /etc/am/slack-url, secret_ref: {name: am-slack, key: url}}\n")
    config = _routes(starter)
    assert {r["receiver"] for r in config["route"]["routes"]} == {"slack-ml-ops"}
    # the real amtool check-config (tool/amtool) and the schema on the rendered config
    findings = [f for f in lint_folder(starter) if f.level == ERROR]
    assert findings == []


def test_build_refuses_what_can_never_work_unless_no_lint(starter, tmp_path):
    dash = starter / "platform-health.yaml"
    text = dash.read_text()
    line = text[:text.index("    for: 5m\n")].count("\n") + 1
    dash.write_text(text.replace("    for: 5m\n", "    for: 30s\n"))
    out = tmp_path / "generated"
    r = cli("build", "--specs", str(starter), "--out", str(out))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert (f"platform-health.yaml:{line}:5: alerts[0].for: alert TargetDown: for 30s is shorter "
            "than its group's evaluation interval 1m") in r.stderr
    assert "[alert/for-shorter-than-interval]" in r.stderr
    assert not out.exists()
    for command in ("check", "test"):
        r = cli(command, "--specs", str(starter), "--out", str(out))
        assert r.exit_code == 1 and "[alert/for-shorter-than-interval]" in r.stderr, command
    r = cli("build", "--no-lint", "--specs", str(starter), "--out", str(out))
    assert r.exit_code == 0, r.stderr
    r = cli("check", "--no-lint", "--specs", str(starter), "--out", str(out))
    assert r.exit_code == 0, r.stderr


def test_prometheus_own_series_need_no_catalogue_entry(starter):
    dash = starter / "platform-health.yaml"
    dash.write_text(dash.read_text().replace(
        "      - expr: sum by (job) (up)\n",
        "      - expr: sum by (job) (up)\n"
        "      - expr: max by (job) (scrape_duration_seconds)\n"
        "      - expr: sum by (job) (scrape_samples_scraped)\n"))
    pipeline.build_tree(starter)  # neither unknown-metric at load nor a lint error
    dash.write_text(dash.read_text().replace("scrape_samples_scraped", "scrape_samples_scrapped"))
    with pytest.raises(SpecErrors, match="scrape_samples_scrapped.*not in the metric catalogue"):
        pipeline.build_tree(starter)


def test_a_warehouse_panel_without_a_warehouse_is_a_placed_error(starter):
    dash = starter / "platform-health.yaml"
    dash.write_text(dash.read_text().replace(
        "alerts:\n  - name: TargetDown",
        "  - id: revenue\n    title: Revenue\n    description: Daily revenue.\n"
        "    type: stat\n    unit: currencyUSD\n    queries:\n"
        "      - {expr: SELECT 1 AS value, datasource: warehouse}\n"
        "alerts:\n  - name: TargetDown"))
    r = cli("build", "--specs", str(starter), "--out", str(starter.parent / "generated"))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert ("panels[5].queries[0].datasource: panel 'revenue' queries the warehouse, but the "
            "platform spec") in r.stderr and "declares no datasources.warehouse" in r.stderr
