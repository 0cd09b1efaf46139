"""Every panel and alert of the design (seed) ships in specs/ and in the generated output."""

from __future__ import annotations

import json

import yaml
from conftest import SHARED
from seed import SEED, seed_dashboards

from mlops_dash import conventions as cv


def test_seed_copy_matches_shared_when_present():
    shared = SHARED / "seed" / "000_53639c3ea9256ab0.txt"
    if shared.exists():
        assert SEED.read_bytes() == shared.read_bytes()


def test_seed_parse_finds_five_dashboards_of_five_panels_and_three_alerts():
    seed = seed_dashboards()
    assert len(seed) == 5
    for d in seed.values():
        assert len(d["panels"]) == 5
        assert len(d["alerts"]) == 3


def test_every_seed_panel_is_in_the_generated_dashboard(spec_set, tree):
    by_title = {d.title: d for d in spec_set.dashboard_models()}
    for title, seed in seed_dashboards().items():
        d = by_title[title]
        dash = json.loads(tree[cv.dashboard_json_path(d.uid)])
        titles = [p["title"] for p in dash["panels"]]
        for panel in seed["panels"]:
            assert panel in titles, f"{title}: seed panel {panel!r} missing"


def test_every_seed_alert_is_generated_with_its_severity(spec_set, tree):
    by_title = {d.title: d for d in spec_set.dashboard_models()}
    total = 0
    for title, seed in seed_dashboards().items():
        d = by_title[title]
        rules = yaml.safe_load(tree[cv.rule_file_path(d.uid)])
        alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
        for name, severity in seed["alerts"]:
            assert alerts[name]["labels"]["severity"] == severity
            total += 1
    assert total == 15
