"""The mlops-overview dashboard: sections per area linking down, links to and from every
dashboard (no dead link), what fires now, SLO budgets, the stand-up's 24h of info and resolved
alerts with annotations; Grafana 12 schema gate."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import GENERATED

from mlops_dash import conventions as cv
from mlops_dash import pipeline
from mlops_dash.errors import SpecErrors
from mlops_dash.lint.schemas import dashboard_errors
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import load_specs

AREAS = ["mlops-pipeline-reliability", "mlops-model-performance", "mlops-serving-health",
         "mlops-drift-data-quality", "mlops-cost-optimization"]


def dashboards(tree: dict[str, str]) -> dict[str, dict[str, Any]]:
    """uid → dashboard JSON of every generated dashboard."""
    out = {}
    for rel, text in tree.items():
        if rel.startswith("grafana/") and rel.endswith(".json"):
            d = json.loads(text)
            out[d["uid"]] = d
    return out


def every_link(dash: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, url) of every dashboard link and panel link."""
    out = [(f"{dash['uid']}: link {link['title']!r}", link["url"]) for link in dash["links"]]
    for p in dash["panels"]:
        out += [(f"{dash['uid']}: panel {p['title']!r} link {link['title']!r}", link["url"])
                for link in p.get("links", [])]
    return out


def dead_links(tree: dict[str, str], platform: m.Platform) -> list[str]:
    """Follow every link: a Grafana URL must open a generated dashboard uid; any other URL must
    be one of the platform's links (MLflow, Kubeflow, the cost dashboard)."""
    dash = dashboards(tree)
    grafana = urlsplit(platform.grafana_url)
    platform_urls = {link.url for link in platform.links}
    problems = []
    for d in dash.values():
        for where, url in every_link(d):
            parts = urlsplit(url)
            if (parts.scheme, parts.netloc) == (grafana.scheme, grafana.netloc):
                mo = re.match(r"^/d/([^/?#]+)", parts.path)
                if not mo:
                    problems.append(f"{where}: {url} is not a dashboard URL")
                elif mo.group(1) not in dash:
                    problems.append(f"{where}: {url} opens uid {mo.group(1)!r}, which no "
                                    "generated dashboard has")
            elif url not in platform_urls:
                problems.append(f"{where}: {url} is neither a generated dashboard nor a "
                                "platform link")
    return problems


@pytest.fixture(scope="module")
def overview(tree: dict[str, str]) -> dict[str, Any]:
    return json.loads(tree[cv.dashboard_json_path(cv.OVERVIEW_UID)])


def panel(dash: dict[str, Any], pid: str) -> dict[str, Any]:
    """A panel by the spec id of specs/overview.yaml (panels are numbered in spec order)."""
    spec = yaml.safe_load((GENERATED.parent / "specs" / "overview.yaml").read_text())
    index = next(i for i, p in enumerate(spec["panels"]) if p["id"] == pid)
    return next(p for p in dash["panels"] if p["id"] == cv.panel_numeric_id(index))


def test_the_overview_is_generated_and_committed(tree):
    rel = cv.dashboard_json_path(cv.OVERVIEW_UID)
    assert rel == "grafana/mlops-overview.json"
    assert (GENERATED / rel).read_text() == tree[rel]
    assert "kubernetes/configmap-mlops-overview.yaml" in tree  # delivered like the others


def test_the_overview_passes_the_grafana12_schema_gate(overview):
    assert dashboard_errors(overview) == []
    types = {p["type"] for p in overview["panels"]}
    assert types == {"stat", "table", "bargauge", "timeseries", "state-timeline"}


def test_every_dashboard_links_to_and_from_the_overview(tree, spec_set):
    dash = dashboards(tree)
    assert set(dash) == {*AREAS, cv.OVERVIEW_UID}
    overview_url = f"{spec_set.platform_model.grafana_url}/d/{cv.OVERVIEW_UID}"
    for uid in AREAS:
        urls = [u for _w, u in every_link(dash[uid])]
        assert any(u == overview_url or u.startswith(overview_url + "/") for u in urls), uid
        down = [u for _w, u in every_link(dash[cv.OVERVIEW_UID]) if f"/d/{uid}/" in u]
        assert down, f"the overview does not link to {uid}"


def test_no_dashboard_has_a_dead_link(tree, spec_set):
    assert dead_links(tree, spec_set.platform_model) == []


def test_the_link_check_catches_a_dead_link(tree, spec_set):
    broken = dict(tree)
    rel = cv.dashboard_json_path("mlops-serving-health")
    d = json.loads(broken[rel])
    d["links"][0]["url"] = "https://grafana.company.com/d/mlops-nowhere"
    d["panels"][0]["links"] = [{**d["links"][1], "url": "https://example.com/elsewhere"}]
    broken[rel] = json.dumps(d)
    problems = dead_links(broken, spec_set.platform_model)
    assert any("uid 'mlops-nowhere'" in p for p in problems)
    assert any("https://example.com/elsewhere is neither" in p for p in problems)
    # and the overview's own link, before it existed, was dead
    del broken[cv.dashboard_json_path(cv.OVERVIEW_UID)]
    assert any("uid 'mlops-overview'" in p for p in dead_links(broken, spec_set.platform_model))


def test_one_section_per_area_with_headline_numbers_and_alert_state(overview, tree):
    dash = dashboards(tree)
    for uid in AREAS:
        linking = [p for p in overview["panels"]
                   if any(f"/d/{uid}/" in link["url"] for link in p.get("links", []))]
        assert len(linking) >= 2, uid  # at least one headline number and the alert state
        alert_state = [p for p in linking
                       if all(f'dashboard="{uid}"' in t["expr"] for t in p["targets"])]
        assert len(alert_state) == 1, uid
        sev = sorted(re.search(r'severity="(\w+)"', t["expr"]).group(1)
                     for t in alert_state[0]["targets"])
        assert sev == ["critical", "info", "warning"]
        headline = [p for p in linking if p not in alert_state]
        assert headline and all("ALERTS" not in t["expr"] for p in headline
                                for t in p["targets"])
        # the link opens the area's dashboard by its title's slug
        link = linking[0]["links"][0]
        assert link["url"] == cv.dashboard_url("https://grafana.company.com", uid,
                                               cv.slugify(dash[uid]["title"]))


def test_firing_now_by_severity_and_slo_budgets(overview):
    firing = panel(overview, "firing-now")
    assert [t["legendFormat"] for t in firing["targets"]] == ["critical", "warning", "info"]
    listing = panel(overview, "firing-list")
    assert listing["type"] == "table" and 'ALERTS{alertstate="firing"}' in \
        listing["targets"][0]["expr"] and "severity" in listing["targets"][0]["expr"]
    budgets = panel(overview, "slo-budgets")
    assert cv.SLO_BUDGET_REMAINING in budgets["targets"][0]["expr"]


def test_the_standup_section_shows_24h_of_info_and_resolved_alerts(overview):
    timeline = panel(overview, "standup-timeline")
    assert timeline["timeFrom"] == "24h" and timeline["type"] == "state-timeline"
    info = panel(overview, "standup-info")["targets"][0]["expr"]
    assert 'severity="info"' in info and "[24h]" in info
    resolved = panel(overview, "standup-resolved")["targets"][0]["expr"]
    assert "max_over_time(ALERTS" in resolved and " unless " in resolved


def test_info_alerts_are_annotations_on_their_panels(overview, tree, spec_set):
    by_name = {a["name"]: a for a in overview["annotations"]["list"]}
    info = by_name["Info alerts"]
    ids = {p["id"] for p in overview["panels"]}
    assert info["filter"]["ids"] and set(info["filter"]["ids"]) <= ids
    assert 'severity="info"' in info["expr"]
    # each info alert is also an annotation on the panel of its own dashboard showing it
    for d in spec_set.dashboard_models():
        dash = json.loads(tree[cv.dashboard_json_path(d.uid)])
        anns = {a["name"]: a for a in dash["annotations"]["list"]}
        for a in d.alerts:
            if a.severity != "info":
                assert f"{a.name} (info alert)" not in anns
                continue
            ann = anns[f"{a.name} (info alert)"]
            index = next(i for i, p in enumerate(d.panels) if p.id == a.panel)
            assert ann["filter"] == {"exclude": False, "ids": [cv.panel_numeric_id(index)]}
            assert f'alertname="{a.name}"' in ann["expr"]
    assert any(a.severity == "info" for d in spec_set.dashboard_models() for a in d.alerts)


def test_a_link_or_annotation_to_a_missing_panel_or_dashboard_is_a_placed_error(specs_copy):
    f = specs_copy / "overview.yaml"
    text = f.read_text()
    # a headline panel (the area-stat template): its link's dashboard is an argument
    text = text.replace("with: {dashboard: mlops-serving-health, expr:",
                        "with: {dashboard: mlops-serving-helth, expr:", 1)
    text = text.replace("panels: [alerts-over-time]", "panels: [alerts-over-tim]", 1)
    f.write_text(text)
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    messages = [e.format() for e in info.value.errors]
    assert any(re.search(r"overview\.yaml:\d+:\d+: panels\[\d+\]\.with\.dashboard: no "
                         r"dashboard with uid 'mlops-serving-helth'", msg) for msg in messages)
    assert any(re.search(r"annotations\[1\]\.panels\[0\]: no panel 'alerts-over-tim' \(did you "
                         r"mean 'alerts-over-time'\?\)", msg) for msg in messages)


def test_overview_builds_without_it_too(specs_copy):
    """The overview is a spec like the others: without it the build still works."""
    (specs_copy / "overview.yaml").unlink()
    tree = pipeline.build_tree(specs_copy)
    assert cv.dashboard_json_path(cv.OVERVIEW_UID) not in tree
