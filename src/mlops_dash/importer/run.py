"""The two import forms end to end: read, convert, report, write (called by cli.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_dash.importer import catalogue, output
from mlops_dash.importer import grafana as gi
from mlops_dash.importer import rules as ri
from mlops_dash.importer.report import Report


@dataclass
class Result:
    report: Report
    written: output.Written
    uid: str
    metrics_added: list[str]


def _folder(out_dir: Path | None, specs_dir: Path | None) -> Path:
    return specs_dir if specs_dir is not None else (out_dir or Path("imported"))


def grafana(path: Path, out_dir: Path | None, specs_dir: Path | None, team: str) -> Result:
    data = gi.read_dashboard(path)
    imp = gi.import_dashboard(data, path.name, team)
    exprs = [q["expr"] for p in imp.spec["panels"] for q in p.get("queries") or []
             if q.get("datasource") != "loki"]
    exprs += [a["expr"] for a in imp.spec.get("annotations") or [] if "expr" in a]
    uses = catalogue.collect(exprs)
    catalogue.add_variable_labels([v["query"] for v in imp.spec.get("variables") or []], uses)
    known = output.known_metrics(_folder(out_dir, specs_dir))
    metrics = catalogue.metric_defs(uses, known, path.name)
    written = output.write(imp.spec, metrics, imp.links, imp.report, path.name, out_dir,
                           specs_dir)
    return Result(imp.report, written, imp.spec["uid"], [md["name"] for md in metrics])


def rules(path: Path, out_dir: Path | None, specs_dir: Path | None, team: str) -> Result:
    imp = ri.import_rules(path, team)
    exprs = [q["expr"] for p in imp.spec["panels"] for q in p.get("queries") or []]
    exprs += [r["expr"] for r in imp.spec.get("recording_rules") or []]
    uses = catalogue.collect(exprs)
    known = output.known_metrics(_folder(out_dir, specs_dir))
    metrics = catalogue.metric_defs(uses, known, path.name)
    written = output.write(imp.spec, metrics, [], imp.report, path.name, out_dir, specs_dir)
    return Result(imp.report, written, imp.spec["uid"], [md["name"] for md in metrics])
