"""Writing an imported spec: the Dashboard spec, catalogue additions, a platform spec when the
import starts a new set, and the sidecar of what was not representable (the escape hatch).

Two forms: ``--out DIR`` (a new set: DIR gets the spec, ``metrics.yaml`` and, if it has none,
a minimal ``platform.yaml``; it builds as it is) and ``--specs DIR`` (an existing set: the
spec is added as ``imported-<uid>.yaml``, missing metrics are appended to the set's catalogue
file, platform links it lacks are listed for the user to add).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_dash.importer.report import Report

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: much faster
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_HEADER = "# Imported by `mlops-dash import` from {source}. Review, then edit freely.\n"


@dataclass
class Written:
    files: list[Path] = field(default_factory=list)
    to_confirm: list[str] = field(default_factory=list)  # things the user must still do


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


def _spec_of_kind(folder: Path, kind: str) -> tuple[Path | None, dict[str, Any] | None]:
    """The first spec file of ``kind`` in a folder (files read only when they name it)."""
    for path in sorted(folder.glob("*.y*ml")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if f"kind: {kind}" not in text:
            continue
        try:
            data = _load(text)
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and data.get("kind") == kind:
            return path, data
    return None, None


def _catalogue_file(folder: Path) -> tuple[Path | None, dict[str, Any] | None]:
    return _spec_of_kind(folder, "MetricCatalogue")


def _platform_file(folder: Path) -> tuple[Path | None, dict[str, Any] | None]:
    return _spec_of_kind(folder, "Platform")


def known_metrics(folder: Path) -> set[str]:
    _, data = _catalogue_file(folder)
    return {str(md.get("name")) for md in (data or {}).get("metrics") or []
            if isinstance(md, dict)}


def minimal_platform(links: list[dict[str, str]]) -> dict[str, Any]:
    """A platform spec that lets an imported set build on its own (edit URLs and channels)."""
    routes = [{"severity": s, "description": d, "channels": []} for s, d in (
        ("critical", "page (add a channel)"), ("warning", "review (add a channel)"),
        ("info", "shown on the dashboard"))]
    out: dict[str, Any] = {
        "apiVersion": "mlops-dash/v1", "kind": "Platform", "name": "imported",
        "grafana_url": "https://grafana.example.com",
        "runbook_base_url": "https://example.com/runbooks",
        "datasources": {"prometheus": {"type": "prometheus", "default": "Prometheus"},
                        "warehouse": {"type": "grafana-postgresql-datasource",
                                      "default": "Warehouse"}},
        "routing": {"group_by": ["alertname"], "routes": routes},
    }
    if links:
        out["links"] = links
    return out


def _append_metrics(path: Path, metrics: list[dict[str, Any]]) -> bool:
    """Append catalogue entries to an existing catalogue file, keeping its text; only when
    ``metrics`` is its last key (checked by reading the result back)."""
    text = path.read_text(encoding="utf-8")
    before = _load(text)
    if list(before)[-1] != "metrics":
        return False
    block = dump(metrics)
    indent = "  " if "\n  - " in text.split("metrics:", 1)[-1][:40] else ""
    lines = "".join(indent + ln + "\n" for ln in block.splitlines())
    new = text.rstrip("\n") + "\n  # imported\n".replace("  ", indent, 1) + lines
    after = _load(new)
    if len(after.get("metrics") or []) != len(before.get("metrics") or []) + len(metrics):
        return False
    path.write_text(new, encoding="utf-8")
    return True


def write(spec: dict[str, Any], metrics: list[dict[str, Any]], links: list[dict[str, str]],
          report: Report, source: str, out_dir: Path | None, specs_dir: Path | None) -> Written:
    done = Written()
    folder = specs_dir if specs_dir is not None else (out_dir or Path("imported"))
    folder.mkdir(parents=True, exist_ok=True)
    header = _HEADER.format(source=source)
    name = f"imported-{spec['uid']}.yaml" if specs_dir is not None else f"{spec['uid']}.yaml"
    target = folder / name
    target.write_text(header + dump(spec), encoding="utf-8")
    done.files.append(target)
    cat_path, cat = _catalogue_file(folder)
    if metrics:
        if cat_path is None:
            cat_path = folder / "metrics.yaml"
            cat_path.write_text(header + dump({"apiVersion": "mlops-dash/v1",
                                               "kind": "MetricCatalogue",
                                               "metrics": metrics}), encoding="utf-8")
            done.files.append(cat_path)
        elif _append_metrics(cat_path, metrics):
            done.files.append(cat_path)
        else:
            done.to_confirm += [f"add metric {md['name']} ({md['type']}) to {cat_path}"
                                for md in metrics]
    plat_path, plat = _platform_file(folder)
    if plat_path is None and specs_dir is None:
        plat_path = folder / "platform.yaml"
        plat_path.write_text(header + dump(minimal_platform(links)), encoding="utf-8")
        done.files.append(plat_path)
    elif links:
        have = {str(x.get("title")): x.get("url") for x in (plat or {}).get("links") or []
                if isinstance(x, dict)}
        for link in links:
            if have.get(link["title"]) != link["url"]:
                done.to_confirm.append(f"add the link {link['title']!r} ({link['url']}) to "
                                       f"the platform spec's links ({plat_path})")
    if report.skipped:
        side = folder / f"{spec['uid']}.not-representable.json"
        side.write_text(report.sidecar(source), encoding="utf-8")
        done.files.append(side)
    return done
