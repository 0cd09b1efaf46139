"""``simulate``: the series the specs query, healthy or in an alert's or situation's state,
served on /metrics (and written as history)."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_dash.cli import SPECS_OPTION, cli, reports_errors


def _history(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--history`` as a Prometheus duration above 0."""
    if value is None:
        return None
    from mlops_dash.spec.base import duration_error, duration_seconds

    problem = duration_error(value)
    if problem is None and duration_seconds(value) == 0:
        problem = f"{value!r}: the history must be longer than 0"
    if problem:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


@cli.command()
@SPECS_OPTION
@click.option("--scenario", default="healthy", show_default=True,
              help="healthy, the name of an alert whose condition to violate, or a "
              "situation (see --list).")


@click.option("--port", type=click.IntRange(0, 65535), default=9109, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")


@click.option("--openmetrics-out", "history_file", type=click.Path(path_type=Path),
              default=None, help="Also write the scenario's history (OpenMetrics with "
              "timestamps) for `promtool tsdb create-blocks-from openmetrics`.")


@click.option("--history", "history", default=None, callback=_history,
              help="Span of the written history, e.g. 8d (default: what the alerts' windows "
              "need).")


@click.option("--job", default="mlops-dash-simulator", show_default=True,
              help="job label of the history (the job_name Prometheus scrapes this under).")


@click.option("--no-serve", is_flag=True, help="Write the history and exit.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--env", "env", default=None, metavar="NAME",
              help="Environment whose values to use (default: the platform spec as written).")
@reports_errors
def simulate(specs_dir: Path, scenario: str, port: int, history_file: Path | None,
             history: str | None, job: str, no_serve: bool, list_only: bool,
             env: str | None) -> None:
    """Serve every catalogue series on 127.0.0.1 for a scenario (`healthy` or an alert name)."""
    import time

    from mlops_dash import simulate as sim
    from mlops_dash.errors import EnvironmentProblem
    from mlops_dash.spec.loader import load_specs
    from mlops_dash.spec.models import duration_seconds

    world = sim.build_world(load_specs(specs_dir, env=env))
    anchor = time.time()
    situations = sim.situations(anchor)
    if list_only:
        click.echo(f"{sim.HEALTHY}: no alert fires")
        for name, sc in world.scenarios.items():
            click.echo(f"{name}: {sc.description}")
        for situation in situations.values():
            click.echo(situation.line())
        return
    known = [sim.HEALTHY, *world.scenarios, *situations]
    if scenario not in known:
        from mlops_dash.spec.loader import suggest

        raise click.UsageError(
            f"unknown scenario {scenario!r}{suggest(scenario, known)}"
            "; choose healthy or one of: " + ", ".join(known[1:]))
    if history_file is not None:
        span = duration_seconds(history) if history else None
        labels = {"job": job, "instance": f"127.0.0.1:{port}"}
        situation = situations.get(scenario)
        if situation is None:
            world.history_span(scenario, span)  # refused before the file is created
        elif span is not None and not 0 < span <= sim.MAX_HISTORY_S:
            raise EnvironmentProblem(f"--history must be between 0 and "
                                     f"{sim.MAX_HISTORY_S / 86400:g}d")
        with history_file.open("w", encoding="utf-8") as out:
            if situation is None:
                n = world.write_openmetrics(out, scenario, anchor, span_s=span,
                                            target_labels=labels)
            else:  # the situation's own series (the healthy world's are live only)
                n = situation.write_history(out, anchor, span_s=span, target_labels=labels)
                out.write("# EOF\n")
        click.echo(f"wrote {n} samples of {scenario} history to {history_file}")
    if no_serve:
        return
    from mlops_dash.gctuning import for_a_long_run

    for_a_long_run()
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
