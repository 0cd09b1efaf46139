"""``mlops-dash drift``, ``evaluate`` and ``actuals``: the batch jobs' command line.

Imported by cli.py to register the commands; the collectors' dependencies are imported only
when a command runs (``mlops-dash build`` never loads them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

CONFIG_OPTION = click.option(
    "--config", "config", type=click.Path(path_type=Path),
    default=lambda: os.environ.get("MLOPS_DASH_JOBS_CONFIG", "specs/platform.yaml"),
    show_default="$MLOPS_DASH_JOBS_CONFIG or specs/platform.yaml",
    help="Platform spec with collectors.jobs, or the CollectorJobs file the bundle mounts.",
)
MODEL_OPTION = click.option("--model", default=None, help="Only this model's job (default: all).")
PUSH_OPTION = click.option("--pushgateway", default=None,
                           help="Pushgateway URL (default: $MLOPS_DASH_PUSHGATEWAY, else the "
                                "spec's pushgateway.url).")
DRY_OPTION = click.option("--dry-run", is_flag=True, help="Compute and print; push nothing.")


def _missing_extra(exc: ImportError, extra: str) -> None:
    click.echo(f"error: {exc.name or exc} is not installed; install mlops-dash[{extra}]",
               err=True)
    sys.exit(2)


def _push_each(groups: list[tuple[str, dict[str, str], Any]], spec_gw: Any,
               pushgateway: str | None) -> list[str]:
    """Push each group (one PUT per grouping key); the failures, after trying every group."""
    from mlops_dash.collect import push
    from mlops_dash.collect.inputs import JobError
    from mlops_dash.spec.base import duration_seconds

    address = push.gateway_address(pushgateway, spec_gw.url)
    failures = []
    for job, key, registry in groups:
        try:
            push.push_group(address, job, key, registry,
                            timeout=duration_seconds(spec_gw.timeout), retries=spec_gw.retries)
            click.echo(f"pushed group job={job} " + " ".join(f"{k}={v}" for k, v in key.items()))
        except JobError as exc:
            failures.append(str(exc))
    return failures


def _per_model(items: list[Any], run: Callable[[Any], Any]) -> None:
    """Run one model's job after another: a failing model is reported, the others still run
    (and push); the command fails at the end with every model's error."""
    from mlops_dash.collect.inputs import JobError

    errors = []
    for item in items:
        try:
            run(item)
        except JobError as exc:
            errors.append(str(exc))
    if errors:
        raise JobError("\n".join(errors))


def _per_model_pushed(items: list[Any], compute: Callable[[Any], Any], jobs: Any,
                      pushgateway: str | None, dry_run: bool) -> None:
    """Like `_per_model` for the jobs that push: ``compute`` returns the model's group; the
    groups of the models that worked are pushed (unless ``dry_run``), then every error raised."""
    from mlops_dash.collect.inputs import JobError

    groups: list[tuple[str, dict[str, str], Any]] = []
    try:
        _per_model(items, lambda item: groups.append(compute(item)))
        errors = []
    except JobError as exc:
        errors = [str(exc)]
    if groups and not dry_run:
        errors += _push_each(groups, jobs.pushgateway, pushgateway)
    if errors:
        raise JobError("\n".join(errors))


@click.command()
@CONFIG_OPTION
@MODEL_OPTION
@PUSH_OPTION
@DRY_OPTION
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Threads computing columns (default: the CPUs available).")
def drift(config: Path, model: str | None, pushgateway: str | None, dry_run: bool,
          workers: int | None) -> None:
    """Drift check: PSI and KS of features and predictions, pushed per model."""
    try:
        from mlops_dash.collect import drift as d
    except ImportError as exc:
        _missing_extra(exc, "jobs")
    from mlops_dash.collect.config import load_jobs, pick

    jobs = load_jobs(config)
    n = workers or len(os.sched_getaffinity(0))

    def compute(check: Any) -> tuple[str, dict[str, str], Any]:
        result = d.run_check(check, jobs.warehouse, n)
        click.echo(d.table(result, check))
        return d.PUSH_JOB, {"model": check.model}, d.registry_for(result)

    _per_model_pushed(pick(jobs.drift, model, "drift"), compute, jobs, pushgateway, dry_run)


@click.command()
@CONFIG_OPTION
@MODEL_OPTION
@DRY_OPTION
def evaluate(config: Path, model: str | None, dry_run: bool) -> None:
    """Evaluation: MAE, RMSE and accuracy per model version, logged to MLflow."""
    try:
        from mlops_dash.collect import evaluate as ev
    except ImportError as exc:
        _missing_extra(exc, "jobs")
    from mlops_dash.collect.config import load_jobs, pick

    jobs = load_jobs(config)

    def run(job: Any) -> None:
        results = ev.evaluate_job(job, jobs.warehouse)
        click.echo(ev.table(job, results))
        if not dry_run:
            for line in ev.log_to_mlflow(job, results):
                click.echo(line)

    _per_model(pick(jobs.evaluate, model, "evaluate"), run)


@click.command()
@CONFIG_OPTION
@MODEL_OPTION
@PUSH_OPTION
@DRY_OPTION
def actuals(config: Path, model: str | None, pushgateway: str | None, dry_run: bool) -> None:
    """Actuals: the observed values as the mlops_actual_value histogram, pushed per model."""
    try:
        from mlops_dash.collect import actuals as ac
    except ImportError as exc:
        _missing_extra(exc, "jobs")
    from mlops_dash.collect.config import load_jobs, pick

    jobs = load_jobs(config)

    def compute(job: Any) -> tuple[str, dict[str, str], Any]:
        hist = ac.histograms(job, jobs.warehouse)
        click.echo(ac.table(job, hist))
        return ac.PUSH_JOB, {"model": job.model}, ac.registry_for(job, hist)

    _per_model_pushed(pick(jobs.actuals, model, "actuals"), compute, jobs, pushgateway, dry_run)


COMMANDS = [drift, evaluate, actuals]
