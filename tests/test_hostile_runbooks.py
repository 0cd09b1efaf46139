"""Many alerts on one dashboard: rendering its files does work linear in its alerts (counted
calls, not timing; `make bench` times the alerts-1000/alerts-2000 cases), and each runbook
names the rule group its alert is really in."""

from __future__ import annotations

import re
import sys

import yaml

from conftest import ROOT
from mlops_dash import pipeline
from mlops_dash.render import rules
from mlops_dash.spec.loader import load_specs

sys.path.insert(0, str(ROOT / "benchmarks"))
from synth_specs import write_many_alerts  # noqa: E402


def test_rendering_a_dashboard_is_linear_in_its_alerts(tmp_path, monkeypatch):
    calls = {"alert_rule": 0, "rule_groups": 0}

    def counted(name):
        real = getattr(rules, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    per_alert = {}
    for n in (60, 120):
        write_many_alerts(n, tmp_path / f"specs-{n}")
        spec_set = load_specs(tmp_path / f"specs-{n}")
        doc = spec_set.dashboards[0]
        assert len(doc.model.alerts) == n
        for name in calls:
            calls[name] = 0
            monkeypatch.setattr(rules, name, counted(name))
        files = pipeline.render_dashboard_files(spec_set, doc)
        monkeypatch.undo()
        assert sum(p.startswith("runbooks/") for p in files) >= n
        per_alert[n] = calls["alert_rule"] / n
        # the rule groups are built once per dashboard (the rule file), never once per alert
        assert calls["rule_groups"] <= 2, calls
    # quadratic work would double the calls per alert when the alerts double
    assert per_alert[120] <= per_alert[60] * 1.05, per_alert


def test_each_runbook_names_the_group_its_alert_is_in(tmp_path):
    write_many_alerts(12, tmp_path / "specs")
    spec_set = load_specs(tmp_path / "specs")
    doc = spec_set.dashboards[0]
    files = pipeline.render_dashboard_files(spec_set, doc)
    rule_file = next(text for path, text in files.items() if path.endswith(".rules.yaml"))
    group_of = {r["alert"]: g["name"] for g in yaml.safe_load(rule_file)["groups"]
                for r in g["rules"] if "alert" in r}
    assert len(group_of) >= 12
    for alert, group in group_of.items():
        text = files[f"runbooks/{alert}.md"]
        assert re.search(rf"\(rule group `{re.escape(group)}`\)", text), alert
