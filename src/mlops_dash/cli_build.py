"""``build``, ``check``, ``diff`` and ``test``: one output folder, or one per environment."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mlops_dash.cli import (
    NO_LINT_OPTION,
    OUT_OPTION,
    RENDER_JOBS_OPTION,
    SPECS_OPTION,
    _render_jobs,
    cli,
    reports_errors,
)
from mlops_dash.errors import EnvironmentProblem

if TYPE_CHECKING:
    from mlops_dash.spec.parsing import Started

T = TypeVar("T")

ENV_OPTION = click.option(
    "--env", "env", default=None, metavar="NAME",
    help="Environment to render (a kind: Environment file's name) into OUT/NAME; `all` or "
         "no --env: every environment, each into OUT/<name>. Without Environment files: OUT.",
)


def _folders(out_dir: Path, trees: list[tuple[str | None, dict[str, str]]]
             ) -> list[tuple[Path, dict[str, str]]]:
    return [(out_dir if name is None else out_dir / name, tree) for name, tree in trees]


def _not_environments(out_dir: Path, built: list[str | None], env: str | None) -> list[Path]:
    """Entries of OUT that are no environment's folder (when every environment is built):
    ``built``, the names of those built (None: OUT itself)."""
    from mlops_dash.pipeline import ALL

    names = set(built)
    if None in names or env not in (None, ALL) or not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir() if p.name not in names)


def _run(build: Callable[[Any, Started], T], specs_dir: Path, jobs: int) -> T:
    """``build(pipeline, started)``, the folder's parse started before the pipeline (spec
    models, renderers) is imported: on a large folder the workers parse while this process
    imports."""
    from mlops_dash.spec import parsing

    started = parsing.start(specs_dir, jobs)
    try:
        from mlops_dash import pipeline

        return build(pipeline, started)
    finally:
        started.close()


@cli.command()
@SPECS_OPTION
@OUT_OPTION
@ENV_OPTION
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
@RENDER_JOBS_OPTION
@NO_LINT_OPTION
@reports_errors
def build(specs_dir: Path, out_dir: Path, env: str | None, quiet: bool,
          jobs: int | None, no_lint: bool) -> None:
    """Validate the specs, refuse what can never work, and render every output into OUT
    (per environment: OUT/<name>)."""
    workers = _render_jobs(jobs)
    built = _run(lambda pipeline, started: pipeline.build_into(
        specs_dir, out_dir, env=env, jobs=workers, lint=not no_lint, started=started),
        specs_dir, workers)
    for _, folder, report in built:
        if not quiet:
            files = len(report.written) + len(report.unchanged)
            click.echo(
                f"built {files} files into {folder}: {len(report.written)} written, "
                f"{len(report.unchanged)} unchanged, {len(report.removed)} removed"
                + (f"; removed {len(report.leftovers)} leftover(s) of an interrupted build"
                   if report.leftovers else "")
            )
    names = [name for name, _, _ in built]
    for extra in _not_environments(out_dir, names, env):
        click.echo(f"note: {extra} is not an environment's output (environments: "
                   f"{', '.join(str(n) for n in names)}); delete it", err=True)


@cli.command()
@SPECS_OPTION
@OUT_OPTION
@ENV_OPTION
@RENDER_JOBS_OPTION
@NO_LINT_OPTION
@reports_errors
def check(specs_dir: Path, out_dir: Path, env: str | None, jobs: int | None,
          no_lint: bool) -> None:
    """Exit 1 if OUT is not exactly what the specs produce (stale, missing or extra files);
    with environments, each OUT/<name> (and OUT holds nothing else)."""
    from mlops_dash import output

    workers = _render_jobs(jobs)
    trees = _run(lambda pipeline, started: pipeline.build_trees(
        specs_dir, env=env, jobs=workers, lint=not no_lint, started=started),
        specs_dir, workers)
    stale = False
    for folder, tree in _folders(out_dir, trees):
        diff = output.compare_tree(tree, folder)
        if diff.clean:
            click.echo(f"{folder} is up to date ({len(tree)} files)")
            continue
        stale = True
        for label, files in (("stale", diff.stale), ("missing", diff.missing),
                             ("extra", diff.extra), ("stray", diff.stray)):
            for f in files:
                click.echo(f"{label}: {folder / f}", err=True)
    for extra in _not_environments(out_dir, [n for n, _ in trees], env):
        stale = True
        click.echo(f"extra: {extra} (not an environment's output)", err=True)
    if stale:
        click.echo(f"{out_dir} is out of date; run `mlops-dash build` and commit the result.",
                   err=True)
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
@click.option("--env", "env", default=None, metavar="NAME",
              help="Compare one environment's output: the --generated folder's NAME/.")
@reports_errors
def diff(base: str, head: str | None, fmt: str, exit_code: bool, generated: Path,
         env: str | None) -> None:
    """Semantic diff of generated output from BASE to HEAD.

    BASE and HEAD are folders of generated output or git refs of the repository that contains
    the current folder (REF reads the --generated folder at that commit; REF:PATH another
    folder). HEAD defaults to the --generated folder in the working tree. With --env NAME the
    folder is --generated/NAME (folders given as BASE or HEAD: their NAME/).
    """
    from mlops_dash import semdiff, treesource

    cwd = Path.cwd()
    if env is not None:
        generated = generated / env
        base = base if ":" in base or not (cwd / base).is_dir() else str(Path(base) / env)
        if head is not None and ":" not in head and (cwd / head).is_dir():
            head = str(Path(head) / env)
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


@cli.command("test")
@SPECS_OPTION
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Build into this folder and test it (default: a temporary folder).")


@click.option("--jobs", "-j", type=click.IntRange(1, 16), default=None,
              help="promtool processes in parallel (default: 2 or the CPU count if lower).")


@click.option("--verbose", "-v", is_flag=True, help="Show each case's time.")
@click.option("--env", "env", default=None, metavar="NAME",
              help="Test one environment (default: each environment of the folder).")
@NO_LINT_OPTION
@reports_errors
def test_cmd(specs_dir: Path, out_dir: Path | None, jobs: int | None, verbose: bool,
             env: str | None, no_lint: bool) -> None:
    """Run promtool on every generated alert test; table of alert → cases passed."""
    import dataclasses
    import tempfile

    from mlops_dash import output, pipeline
    from mlops_dash.lint import alert_tests, tools

    tools.find_tool("promtool")
    trees = pipeline.build_trees(specs_dir, env=env, lint=not no_lint)
    results = []
    with tempfile.TemporaryDirectory(prefix="mlops-dash-build-") as tmp:
        for name, tree in trees:
            base = out_dir if out_dir is not None else Path(tmp) / "generated"
            target = base if name is None else base / name
            output.write_tree(tree, target)
            results += [r if name is None or len(trees) == 1 else
                        dataclasses.replace(r, alert=f"{name}/{r.alert}")
                        for r in alert_tests.run_alert_tests(target, jobs=jobs)]
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
