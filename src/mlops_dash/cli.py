"""Command line: flags → pipeline → exit code (0 ok, 1 spec or lint problems, 2 usage/env)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from mlops_dash import __version__
from mlops_dash.errors import EnvironmentProblem, MlopsDashError, SpecErrors

F = TypeVar("F", bound=Callable[..., Any])

SPECS_OPTION = click.option(
    "--specs", "specs_dir", type=click.Path(path_type=Path), default=Path("specs"),
    show_default=True, help="Folder of spec YAML files.",
)
OUT_OPTION = click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("generated"),
    show_default=True, help="Output folder.",
)

RENDER_JOBS_OPTION = click.option(
    "--jobs", "-j", "jobs", type=click.IntRange(1, 64), default=None,
    help="Processes reading and rendering large spec sets (default: the CPUs available, at "
         "most 8; 1: all in this process). The output does not depend on it.",
)


def _render_jobs(jobs: int | None) -> int:
    if jobs is not None:
        return jobs
    from mlops_dash.parallel import default_jobs

    return default_jobs()


def reports_errors(func: F) -> F:
    """Turn project errors into messages and exit codes; never show a user a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SpecErrors as exc:
            for err in exc.errors:
                click.echo(f"error: {err.format()}", err=True)
            click.echo(f"{len(exc.errors)} problem(s) found; nothing was written.", err=True)
            sys.exit(exc.exit_code)
        except MlopsDashError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug of ours, not the user's: say so, briefly
            if os.environ.get("MLOPS_DASH_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in mlops-dash; set MLOPS_DASH_DEBUG=1 for a traceback.",
                err=True,
            )
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlops-dash")
def cli() -> None:
    """Monitoring-as-code for ML platforms: YAML specs → Grafana, Prometheus, Alertmanager."""


@cli.command()
@SPECS_OPTION
@OUT_OPTION
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
@RENDER_JOBS_OPTION
@reports_errors
def build(specs_dir: Path, out_dir: Path, quiet: bool, jobs: int | None) -> None:
    """Validate the specs and render every output into OUT."""
    from mlops_dash import output, pipeline

    tree = pipeline.build_tree(specs_dir, jobs=_render_jobs(jobs))
    report = output.write_tree(tree, out_dir)
    if not quiet:
        click.echo(
            f"built {len(tree)} files into {out_dir}: {len(report.written)} written, "
            f"{len(report.unchanged)} unchanged, {len(report.removed)} removed"
            + (f"; removed {len(report.leftovers)} leftover(s) of an interrupted build"
               if report.leftovers else "")
        )


@cli.command()
@SPECS_OPTION
@OUT_OPTION
@RENDER_JOBS_OPTION
@reports_errors
def check(specs_dir: Path, out_dir: Path, jobs: int | None) -> None:
    """Exit 1 if OUT is not exactly what the specs produce (stale, missing or extra files)."""
    from mlops_dash import output, pipeline

    tree = pipeline.build_tree(specs_dir, jobs=_render_jobs(jobs))
    diff = output.compare_tree(tree, out_dir)
    if diff.clean:
        click.echo(f"{out_dir} is up to date ({len(tree)} files)")
        return
    for label, files in (("stale", diff.stale), ("missing", diff.missing),
                         ("extra", diff.extra), ("stray", diff.stray)):
        for f in files:
            click.echo(f"{label}: {out_dir / f}", err=True)
    click.echo(f"{out_dir} is out of date; run `mlops-dash build` and commit the result.",
               err=True)
    sys.exit(1)


@cli.command()
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None,
              help="Write the JSON Schema to this file instead of standard output.")
@reports_errors
def schema(out_file: Path | None) -> None:
    """Write the JSON Schema of the spec format (for editors and CI)."""
    from mlops_dash.spec.jsonschema import spec_json_schema

    text = spec_json_schema()
    if out_file is None:
        click.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out_file}")


@cli.command()
@SPECS_OPTION
@click.option("--format", "fmt", type=click.Choice(["markdown", "tsv"]), default="markdown",
              show_default=True, help="Markdown (for PR descriptions) or tab-separated values.")
@reports_errors
def routes(specs_dir: Path, fmt: str) -> None:
    """Print where every alert goes: alert → severity → receivers → escalation."""
    from mlops_dash.render import alertmanager
    from mlops_dash.spec.loader import load_specs

    spec_set = load_specs(specs_dir)
    platform, dashboards = spec_set.platform_model, spec_set.dashboard_models()
    if fmt == "markdown":
        click.echo(alertmanager.routes_markdown(platform, dashboards), nl=False)
        return
    click.echo("alert\tseverity\treceivers\tescalation")
    for row in alertmanager.routes_table(platform, dashboards):
        click.echo("\t".join((row["alert"], row["severity"], row["receivers"],
                              row["escalation"])))


@cli.command("test")
@SPECS_OPTION
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Build into this folder and test it (default: a temporary folder).")
@click.option("--jobs", "-j", type=click.IntRange(1, 16), default=None,
              help="promtool processes in parallel (default: 2 or the CPU count if lower).")
@click.option("--verbose", "-v", is_flag=True, help="Show each case's time.")
@reports_errors
def test_cmd(specs_dir: Path, out_dir: Path | None, jobs: int | None, verbose: bool) -> None:
    """Run promtool on every generated alert test; table of alert → cases passed."""
    import tempfile

    from mlops_dash import output, pipeline
    from mlops_dash.lint import alert_tests, tools

    tools.find_tool("promtool")
    tree = pipeline.build_tree(specs_dir)
    with tempfile.TemporaryDirectory(prefix="mlops-dash-build-") as tmp:
        target = out_dir if out_dir is not None else Path(tmp) / "generated"
        output.write_tree(tree, target)
        results = alert_tests.run_alert_tests(target, jobs=jobs)
    rows = alert_tests.summarise(results)
    if not rows:
        click.echo("no alert tests: the specs define no alerts")
        return
    width = max(len("alert"), *(len(a) for a, _, _ in rows))
    click.echo(f"{'alert':<{width}}  passed  failed cases")
    for alert, passed, failed in rows:
        total = len(passed) + len(failed)
        click.echo(f"{alert:<{width}}  {len(passed):>2}/{total:<3}  {', '.join(failed) or '-'}")
    failures = [r for r in results if not r.ok]
    if verbose:
        for r in results:
            click.echo(f"  {r.seconds:6.2f}s  {r.alert}: {r.case}")
    for r in failures:
        click.echo(f"\nFAILED {r.alert}: {r.case} ({r.file})\n{r.output}", err=True)
    cases = len(results)
    seconds = sum(r.seconds for r in results)
    if failures:
        click.echo(f"{len(failures)} of {cases} cases failed", err=True)
        sys.exit(1)
    click.echo(f"all {cases} cases of {len(rows)} alerts passed ({seconds:.1f}s of promtool)")


@cli.command()
@SPECS_OPTION
@click.option("--scenario", default="healthy", show_default=True,
              help="healthy, or the name of an alert whose condition to violate.")
@click.option("--port", type=click.IntRange(0, 65535), default=9109, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--openmetrics-out", "history_file", type=click.Path(path_type=Path),
              default=None, help="Also write the scenario's history (OpenMetrics with "
              "timestamps) for `promtool tsdb create-blocks-from openmetrics`.")
@click.option("--history", "history", default=None,
              help="Span of the written history, e.g. 8d (default: what the alerts' windows "
              "need).")
@click.option("--job", default="mlops-dash-simulator", show_default=True,
              help="job label of the history (the job_name Prometheus scrapes this under).")
@click.option("--no-serve", is_flag=True, help="Write the history and exit.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@reports_errors
def simulate(specs_dir: Path, scenario: str, port: int, history_file: Path | None,
             history: str | None, job: str, no_serve: bool, list_only: bool) -> None:
    """Serve every catalogue series on 127.0.0.1 for a scenario (`healthy` or an alert name)."""
    import time

    from mlops_dash import simulate as sim
    from mlops_dash.errors import EnvironmentProblem
    from mlops_dash.spec.loader import load_specs
    from mlops_dash.spec.models import duration_seconds

    world = sim.build_world(load_specs(specs_dir))
    if list_only:
        click.echo(f"{sim.HEALTHY}: no alert fires")
        for name, sc in world.scenarios.items():
            click.echo(f"{name}: {sc.description}")
        return
    if scenario != sim.HEALTHY and scenario not in world.scenarios:
        raise click.UsageError(
            f"unknown scenario {scenario!r}; choose healthy or one of: "
            + ", ".join(world.scenarios))
    anchor = time.time()
    if history_file is not None:
        span = duration_seconds(history) if history else None
        world.history_span(scenario, span)  # refused before the file is created
        labels = {"job": job, "instance": f"127.0.0.1:{port}"}
        with history_file.open("w", encoding="utf-8") as out:
            n = world.write_openmetrics(out, scenario, anchor, span_s=span,
                                        target_labels=labels)
        click.echo(f"wrote {n} samples of {scenario} history to {history_file}")
    if no_serve:
        return
    try:
        server = sim.Simulator(world, scenario, anchor=anchor, port=port).start()
    except OSError as exc:
        raise EnvironmentProblem(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    click.echo(f"serving {len(world.series)} series ({scenario}) on {server.url}/metrics; "
               f"POST {server.url}/scenario/NAME switches; Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


@cli.command()
@SPECS_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="text: file:line:col: check-id: message; json: a list; "
                                      "github: workflow annotations.")
@reports_errors
def lint(specs_dir: Path, fmt: str) -> None:
    """Lint the specs offline: PromQL against the metric catalogue, dashboards, alerts, promtool,
    amtool and the official schemas. Exit 1 when an error-level finding is reported."""
    from mlops_dash.lint.runner import ERROR, format_findings, lint_folder

    findings = lint_folder(specs_dir)
    click.echo(format_findings(findings, fmt), nl=False)
    errors = sum(1 for f in findings if f.level == ERROR)
    if fmt != "json":
        summary = (f"{errors} error(s), {len(findings) - errors} warning(s)" if findings
                   else "no problems found")
        click.echo(f"lint: {summary}", err=True)
    if errors:
        sys.exit(1)


@cli.command()
@click.argument("base")
@click.argument("head", required=False)
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True, help="Markdown for a PR comment, JSON for bots.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there is any semantic change.")
@click.option("--generated", "generated", type=click.Path(path_type=Path),
              default=Path("generated"), show_default=True,
              help="Output folder: HEAD when HEAD is omitted, and the path read at git refs.")
@reports_errors
def diff(base: str, head: str | None, fmt: str, exit_code: bool, generated: Path) -> None:
    """Semantic diff of generated output from BASE to HEAD.

    BASE and HEAD are folders of generated output or git refs of the repository that contains
    the current folder (REF reads the --generated folder at that commit; REF:PATH another
    folder). HEAD defaults to the --generated folder in the working tree.
    """
    from mlops_dash import semdiff, treesource

    cwd = Path.cwd()
    base_tree, base_label = treesource.read_tree(base, generated, cwd)
    if head is None:
        if not (cwd / generated).is_dir():
            raise EnvironmentProblem(f"{generated} not found; give HEAD or --generated")
        head_tree, head_label = treesource.read_folder(cwd / generated), str(generated)
    else:
        head_tree, head_label = treesource.read_tree(head, generated, cwd)
    changes = semdiff.semantic_diff(base_tree, head_tree)
    if fmt == "json":
        click.echo(semdiff.to_json(changes, base_label, head_label), nl=False)
    else:
        click.echo(semdiff.to_markdown(changes, base_label, head_label), nl=False)
    if changes and exit_code:
        sys.exit(1)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mlops-dash")
