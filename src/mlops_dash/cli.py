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

def _os_error(exc: OSError) -> str:
    """``cannot use PATH: reason``, a very long path shortened."""
    name = "" if exc.filename is None else str(exc.filename)
    if len(name) > 120:
        name = f"{name[:60]}…({len(name)} characters)"
    reason = exc.strerror or str(exc)
    return f"cannot use {name}: {reason}" if name else reason


def _one_folder(ctx: click.Context, param: click.Parameter, value: tuple[Path, ...]) -> Path:
    """``--specs`` given at most once (click would silently keep the last of several)."""
    if len(value) > 1:
        raise click.BadParameter(
            f"given {len(value)} times ({', '.join(map(str, value))}); give one folder: put "
            "the spec files to build together into one folder", ctx=ctx, param=param)
    return value[0] if value else Path("specs")


SPECS_OPTION = click.option(
    "--specs", "specs_dir", type=click.Path(path_type=Path), multiple=True,
    callback=_one_folder, help="Folder of spec YAML files, given once.  [default: specs]",
)
OUT_OPTION = click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("generated"),
    show_default=True, help="Output folder.",
)

NO_LINT_OPTION = click.option(
    "--no-lint", "no_lint", is_flag=True,
    help="Skip the offline lint checks that refuse specs which can never work (metric "
         "contract, units, labels, rate on gauges, alert text labels, Grafana units, `for` "
         "against the evaluation interval).",
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
        except OSError as exc:  # the environment (a missing folder, a full disk), not a bug
            click.echo(f"error: {_os_error(exc)}", err=True)
            sys.exit(EnvironmentProblem.exit_code)
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
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Monitoring-as-code for ML platforms: YAML specs → Grafana, Prometheus, Alertmanager."""
    from mlops_dash import exiting

    if exiting.ENTRY and ctx.invoked_subcommand in exiting.AT_ONCE:
        exiting.ARMED = True


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False, default=".",
                type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True,
              help="Overwrite the starter's files in DIR/specs (other spec files are kept).")
@reports_errors
def init(folder: Path, force: bool) -> None:
    """Start a spec set: write DIR/specs/ (default DIR: the current folder) with a platform
    spec (every setting defaulted), a metric catalogue (up, kube-state-metrics, cAdvisor,
    Istio, node-exporter) and one dashboard with one alert, which `build` and `lint` pass.
    Refuses (exit 1) when DIR/specs already holds spec files, unless --force."""
    from mlops_dash.starter import write_starter

    for path in write_starter(folder, force=force):
        click.echo(f"wrote {path}")
    where = "" if folder == Path(".") else f"cd {folder} && "
    click.echo(f"next: {where}mlops-dash build && mlops-dash lint   (renders into generated/)")


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
@click.option("--env", "env", default=None, metavar="NAME",
              help="Environment whose values to use (default: the platform spec as written).")
@reports_errors
def routes(specs_dir: Path, fmt: str, env: str | None) -> None:
    """Print where every alert goes: alert → severity → receivers → escalation → override."""
    from mlops_dash.render import alertmanager
    from mlops_dash.spec.loader import load_specs

    spec_set = load_specs(specs_dir, env=env)
    platform, dashboards = spec_set.platform_model, spec_set.dashboard_models()
    if fmt == "markdown":
        click.echo(alertmanager.routes_markdown(platform, dashboards), nl=False)
        return
    click.echo("alert\tseverity\treceivers\tescalation\toverride")
    for row in alertmanager.routes_table(platform, dashboards):
        click.echo("\t".join((row["alert"], row["severity"], row["receivers"],
                              row["escalation"], row["override"])))


@cli.command()
@click.option("--config", "config", type=click.Path(path_type=Path),
              default=Path("specs/platform.yaml"), show_default=True,
              help="Platform spec whose collectors.exporter section configures the sources.")


@click.option("--listen", "listen", default=None,
              help="HOST:PORT or :PORT to serve /metrics on (default: collectors.exporter."
                   "listen, :9210).")
@reports_errors
def exporter(config: Path, listen: str | None) -> None:
    """Poll Kubeflow Pipelines, MLflow, object storage and Cost Explorer; serve the mlops_*
    series on /metrics (needs the exporter extra: pip install 'mlops-dash[exporter]')."""
    from mlops_dash.collect.run import run
    from mlops_dash.gctuning import for_a_long_run

    for_a_long_run()
    run(config, listen)


@cli.command()
@SPECS_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="text: file:line:col: check-id: message; json: a list; "
                                      "github: workflow annotations.")
@click.option("--env", "env", default=None, metavar="NAME",
              help="Lint one environment (default: each environment of the folder).")
@reports_errors
def lint(specs_dir: Path, fmt: str, env: str | None) -> None:
    """Lint the specs offline: PromQL against the metric catalogue, dashboards, alerts, promtool,
    amtool and the official schemas. Exit 1 when an error-level finding is reported."""
    from mlops_dash.lint.runner import ERROR, format_findings, lint_folder

    findings = lint_folder(specs_dir, env=env)
    click.echo(format_findings(findings, fmt), nl=False)
    errors = sum(1 for f in findings if f.level == ERROR)
    if fmt != "json":
        summary = (f"{errors} error(s), {len(findings) - errors} warning(s)" if findings
                   else "no problems found")
        click.echo(f"lint: {summary}", err=True)
    if errors:
        sys.exit(1)


@cli.command()
@click.option("--prometheus-url", required=True, help="Prometheus holding the ALERTS history.")


@click.option("--lookback", default="24h", show_default=True,
              help="History the email covers (a Prometheus duration).")


@click.option("--step", default="1m", show_default=True,
              help="Resolution of the ALERTS range query (the rule evaluation interval).")


@click.option("--smarthost", help="SMTP server host:port (required unless --dry-run).")
@click.option("--from", "sender", help="Sender address.")


@click.option("--to", "to", multiple=True, help="Recipient (repeatable).")
@click.option("--username", default=None, help="SMTP user (then --password-file is required).")


@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="File holding the SMTP password (mounted from a Secret); never a flag.")


@click.option("--require-tls/--no-require-tls", default=True, show_default=True,
              help="STARTTLS before login.")


@click.option("--platform", "platform_name", default="ml-platform", show_default=True)
@click.option("--runbook-base-url", default="", help="Runbook links: <url>/<AlertName>.md")


@click.option("--grafana-url", default="", help="Dashboard links: <url>/d/<dashboard label>")
@click.option("--dry-run", is_flag=True, help="Print the email instead of sending it.")
@reports_errors
def digest(prometheus_url: str, lookback: str, step: str, smarthost: str | None,
           sender: str | None, to: tuple[str, ...], username: str | None,
           password_file: Path | None, require_tls: bool, platform_name: str,
           runbook_base_url: str, grafana_url: str, dry_run: bool) -> None:
    """Send the daily digest: one email of every alert that fired in the last --lookback, from
    Prometheus' ALERTS history ("nothing fired" on a quiet day). Run daily by the generated
    CronJob. Exit 0 sent, 2 Prometheus or SMTP unusable (the job retries)."""
    import re
    import time

    from mlops_dash.collect import digest as dg
    from mlops_dash.spec.base import DURATION_RE, duration_seconds

    for name, value in (("--lookback", lookback), ("--step", step)):
        if not re.fullmatch(DURATION_RE, value) or not duration_seconds(value):
            raise click.BadParameter(f"{value!r} is not a Prometheus duration", param_hint=name)
    if not dry_run and not (smarthost and sender and to):
        raise click.UsageError("--smarthost, --from and --to are needed to send (or --dry-run)")
    try:
        result = dg.collect(prometheus_url, time.time(), duration_seconds(lookback),
                            duration_seconds(step))
        subject, body = dg.render(result, platform_name, dg.Links(runbook_base_url, grafana_url))
        if dry_run:
            click.echo(f"Subject: {subject}\n\n{body}", nl=False)
            return
        assert smarthost and sender
        dg.send(dg.Smtp(smarthost, sender, list(to), username, password_file, require_tls),
                subject, body)
    except dg.DigestError as exc:
        raise EnvironmentProblem(str(exc)) from None
    click.echo(f"digest sent to {', '.join(to)}: {subject}")


def _register_collector_jobs() -> None:
    """``drift``, ``evaluate``, ``actuals`` (collect/commands.py; their deps load on use)."""
    from mlops_dash.collect.commands import COMMANDS

    for command in COMMANDS:
        command.callback = reports_errors(command.callback)  # type: ignore[arg-type]
        cli.add_command(command)


_register_collector_jobs()

# the commands of these modules use the options and helpers above
from mlops_dash import cli_build, cli_import, cli_simulate  # noqa: E402,F401


def run() -> None:
    """The console script and ``python -m mlops_dash``: main(); a command of
    ``exiting.AT_ONCE`` then ends the process at once, without freeing what it built."""
    from mlops_dash import exiting

    exiting.ENTRY = True
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    status = exiting.status_of(code)
    if status is not None and exiting.ARMED:
        exiting.at_once(status)
    sys.exit(code)  # type: ignore[arg-type]


def main() -> None:
    """The command line, ended by SystemExit (for callers in this process; see run())."""
    # pydantic looks for plugins among the entry points of every installed distribution the
    # first time a model is built (reading each one's metadata: tens of milliseconds of a
    # build in a large environment); mlops-dash uses none. A value set by the user stays.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from mlops_dash.gctuning import for_this_process

    for_this_process()
    cli(prog_name="mlops-dash")
