"""``import grafana`` and ``import rules``: existing dashboards and rules into specs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlops_dash.cli import F, cli, reports_errors


@cli.group("import")
def import_group() -> None:
    """Turn existing dashboards and rules into specs.

    \b
    mlops-dash import grafana FILE.json [--out DIR | --specs DIR]
        a Grafana dashboard (any schema version: legacy rows, graph and singlestat
        panels are migrated as Grafana's own migration does) → a Dashboard spec;
    mlops-dash import rules FILE [--out DIR | --specs DIR]
        a Prometheus rule file or PrometheusRule manifest → a Dashboard spec of its
        alerts (a known signal shape where the expression is one, else shape: raw)
        and recording rules.
    --out DIR (default imported/) starts a new set that builds as it is (the spec,
    metrics.yaml with the queried metrics, a minimal platform.yaml); --specs DIR
    adds the spec to an existing set (missing metrics appended to its catalogue).
    Whatever cannot be represented is listed on stderr ("not representable: …") and
    kept as written in UID.not-representable.json. Exit 0: all imported; 1: the
    input is broken (a placed error, nothing written); 3: written, with parts not
    representable.
    """


def _import_options(func: F) -> F:
    func = click.option("--team", default="imported", show_default=True,
                        help="Owning team (the `team` label of the alerts).")(func)
    func = click.option("--specs", "specs_dir", type=click.Path(path_type=Path),
                        default=None, help="Add to this existing spec folder.")(func)
    func = click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
                        help="Write a new spec set here.  [default: imported]")(func)
    return click.argument("file", type=click.Path(path_type=Path, exists=True,
                                                  dir_okay=False))(func)


def _import(kind: str, file: Path, out_dir: Path | None, specs_dir: Path | None,
            team: str) -> None:
    """Run ``importer.run.<kind>`` (grafana, rules) into one target and report it."""
    if out_dir is not None and specs_dir is not None:
        raise click.UsageError("give --out or --specs, not both")
    from mlops_dash.importer import run
    from mlops_dash.importer.report import EXIT_PARTIAL

    result = getattr(run, kind)(file, out_dir, specs_dir, team)
    for note in result.report.notes:
        click.echo(f"note: {note}", err=True)
    for s in result.report.skipped:
        click.echo(s.line(), err=True)
    for item in result.written.to_confirm:
        click.echo(f"to do: {item}", err=True)
    click.echo(f"imported {result.uid}: wrote {', '.join(map(str, result.written.files))}; "
               f"{len(result.metrics_added)} metric(s) added to the catalogue"
               + (f"; {len(result.report.skipped)} part(s) not representable"
                  if result.report.skipped else ""))
    if result.report.skipped:
        sys.exit(EXIT_PARTIAL)


@import_group.command("grafana")
@_import_options
@reports_errors
def import_grafana(file: Path, out_dir: Path | None, specs_dir: Path | None, team: str) -> None:
    """A Grafana dashboard JSON file → a Dashboard spec."""
    _import("grafana", file, out_dir, specs_dir, team)


@import_group.command("rules")
@_import_options
@reports_errors
def import_rules(file: Path, out_dir: Path | None, specs_dir: Path | None, team: str) -> None:
    """A Prometheus rule file or PrometheusRule manifest → alerts and recording rules."""
    _import("rules", file, out_dir, specs_dir, team)
