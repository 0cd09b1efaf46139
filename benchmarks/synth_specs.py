"""Write a synthetic spec set of N dashboards shaped like the shipped ones (for `make bench`).

    python3 benchmarks/synth_specs.py --dashboards 1000 --out /tmp/specs-1000

Dashboards cycle through the five shipped dashboards as templates. Dashboard ``k`` is template
``k % 5`` of group ``g = k // 5``; every name that must be unique across the folder gets the
group's suffix: dashboard uid (``mlops-serving-health-g0007``), title, alert names
(``HighLatencyG0007``: CamelCase, at most 40 characters), recording rules
(``pipeline:...:p95_7d_g0007``), SLO names and their alert stems, in every place they are
referenced (alert-history panels, queries, signals, descriptions). Panel ids stay as they are
(they are per dashboard). Links and alert-history entries point only at dashboards and alerts
of the same group, so the set is valid for any N: in a last, partial group, references to
templates not generated are dropped.
Every five dashboards carry the shipped mix: the seed's 25 panels plus the alert signal and
alert-history panels, and its 15 alerts with the same signal shapes. ``platform.yaml`` and
``metrics.yaml`` (and ``library.yaml``, the templates the dashboards use) are copied unchanged.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "specs"
COPIED = ("platform.yaml", "metrics.yaml", "library.yaml")
MAX_ALERT_NAME = 40


def load_templates(specs: Path) -> list[dict[str, Any]]:
    """The shipped Dashboard specs, in file-name order."""
    out = []
    for path in sorted(specs.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        # the five area dashboards; the overview summarises them and is not multiplied
        if (isinstance(data, dict) and data.get("kind") == "Dashboard"
                and data.get("uid") != "mlops-overview"):
            out.append(data)
    if not out:
        raise SystemExit(f"no Dashboard specs in {specs}")
    return out


def _default_slo_stem(name: str) -> str:
    """An SLO's default alert-name stem (``model-accuracy`` → ``ModelAccuracyBudgetBurn``), as
    ``conventions.slo_alert_stem`` makes it."""
    return "".join(p.capitalize() for p in re.split(r"[-_]", name) if p) + "BudgetBurn"


def _boundary(name: str) -> re.Pattern[str]:
    """``name`` as a whole identifier (metric names may contain ':')."""
    return re.compile(r"(?<![A-Za-z0-9_:])" + re.escape(name) + r"(?![A-Za-z0-9_:])")


def _replace_strings(obj: Any, subs: list[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(obj, str):
        for rx, new in subs:
            if rx.pattern and rx.search(obj):
                obj = rx.sub(new, obj)
        return obj
    if isinstance(obj, list):
        return [_replace_strings(v, subs) for v in obj]
    if isinstance(obj, dict):
        return {k: _replace_strings(v, subs) for k, v in obj.items()}
    return obj


class Renamer:
    """Names of group ``g``: every template's alerts, records and uids with the group suffix."""

    def __init__(self, templates: list[dict[str, Any]], group: int) -> None:
        self.suffix = f"{group:04d}"
        self.uids = {t["uid"]: f"{t['uid']}-g{self.suffix}" for t in templates}
        self.alerts = {}
        for t in templates:
            for a in t.get("alerts", []):
                new = f"{a['name']}G{self.suffix}"
                assert len(new) <= MAX_ALERT_NAME, new
                self.alerts[a["name"]] = new
        # SLOs: unique names, and an explicit alert stem so their generated alerts are unique too
        self.slos: dict[str, tuple[str, str]] = {}  # name → (new name, new alert stem)
        for t in templates:
            for slo in t.get("slos", []):
                stem = slo.get("alert") or _default_slo_stem(slo["name"])
                new_stem = f"{stem}G{self.suffix}"
                self.slos[slo["name"]] = (f"{slo['name']}-g{self.suffix}", new_stem)
                for tier in slo.get("tiers", ["page", "ticket"]):
                    new = new_stem + tier.capitalize()
                    assert len(new) <= MAX_ALERT_NAME, new
                    self.alerts[stem + tier.capitalize()] = new
        self.records = {
            r["record"]: f"{r['record']}_g{self.suffix}"
            for t in templates for r in t.get("recording_rules", [])
        }
        # longest first, so a name that is a prefix of another is not replaced inside it
        pairs = sorted({**self.alerts, **self.records}.items(), key=lambda kv: -len(kv[0]))
        self.subs = [(_boundary(old), new) for old, new in pairs]


def synth_dashboard(template: dict[str, Any], ren: Renamer, present_uids: set[str],
                    present_alerts: set[str], group: int) -> dict[str, Any]:
    d = _replace_strings(template, ren.subs)
    d["uid"] = ren.uids[template["uid"]]
    d["title"] = f"{template['title']} {group:04d}"
    links = []
    for link in d.get("links", []):
        target = link.get("dashboard")
        if link.get("all_dashboards"):  # its group's dashboards (not all N: N² links)
            links.extend({"dashboard": ren.uids[t]} for t in ren.uids
                         if t != template["uid"] and ren.uids[t] in present_uids)
        elif target is None:
            links.append(link)
        elif target in ren.uids and ren.uids[target] in present_uids:
            links.append({**link, "dashboard": ren.uids[target]})
    d["links"] = links
    for slo in d.get("slos", []):
        slo["name"], slo["alert"] = ren.slos[slo["name"]]
    for panel in d.get("panels", []):
        if panel.get("alerts"):
            panel["alerts"] = [a for a in panel["alerts"] if a in present_alerts]
    return d


def write_specs(n: int, out: Path, specs: Path = SHIPPED) -> list[Path]:
    """Write N dashboard specs plus the platform and catalogue into ``out``; return the files."""
    if n < 1:
        raise SystemExit("--dashboards must be at least 1")
    templates = load_templates(specs)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.yaml"):
        stale.unlink()
    written = []
    for name in COPIED:
        if not (specs / name).exists():
            continue
        shutil.copyfile(specs / name, out / name)
        written.append(out / name)
    per = len(templates)
    for group in range((n + per - 1) // per):
        members = templates[: min(per, n - group * per)]
        ren = Renamer(templates, group)
        present_uids = {ren.uids[t["uid"]] for t in members}
        present_alerts = {ren.alerts[a["name"]] for t in members for a in t.get("alerts", [])}
        for t in members:
            for slo in t.get("slos", []):
                present_alerts |= {ren.slos[slo["name"]][1] + tier.capitalize()
                                   for tier in slo.get("tiers", ["page", "ticket"])}
        for t in members:
            d = synth_dashboard(t, ren, present_uids, present_alerts, group)
            path = out / f"{d['uid']}.yaml"
            path.write_text(
                yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=10_000),
                encoding="utf-8",
            )
            written.append(path)
    return written


def write_many_alerts(n_alerts: int, out: Path, specs: Path = SHIPPED) -> list[Path]:
    """One dashboard (the first template) with ``n_alerts`` alerts: its own alerts copied
    under numbered names (``...N00042``), each in its alert-history panel (for the
    alerts-per-dashboard case of ``make bench``: runbooks and rules must stay linear)."""
    files = write_specs(1, out, specs)
    path = next(f for f in files if f.name not in COPIED)
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    base = d["alerts"]
    alerts = []
    for i in range(n_alerts):
        a = dict(base[i % len(base)])
        a["name"] = f"{a['name'][:MAX_ALERT_NAME - 6]}N{i:05d}"
        alerts.append(a)
    d["alerts"] = alerts
    history = next(p for p in d["panels"] if p.get("type") == "alert-history")
    history["alerts"] = [a["name"] for a in alerts] + [
        n for n in history.get("alerts", []) if n not in {a["name"] for a in base}]
    path.write_text(yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=10_000),
                    encoding="utf-8")
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dashboards", "-n", type=int, default=None, help="number of dashboards")
    ap.add_argument("--alerts-per-dashboard", type=int, default=None,
                    help="instead: one dashboard with this many alerts")
    ap.add_argument("--out", type=Path, required=True,
                    help="folder to write (its *.yaml are replaced)")
    ap.add_argument("--specs", type=Path, default=SHIPPED, help="template specs (default: specs/)")
    args = ap.parse_args(argv)
    if (args.dashboards is None) == (args.alerts_per_dashboard is None):
        ap.error("give one of --dashboards and --alerts-per-dashboard")
    if args.alerts_per_dashboard is not None:
        files = write_many_alerts(args.alerts_per_dashboard, args.out, args.specs)
        print(f"wrote one dashboard with {args.alerts_per_dashboard} alerts into {args.out}")
        return 0
    files = write_specs(args.dashboards, args.out, args.specs)
    print(f"wrote {len(files)} spec files ({args.dashboards} dashboards) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
