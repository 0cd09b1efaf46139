"""``mlops-dash drift``, ``evaluate`` and ``actuals``: the batch jobs' command line.

Imported by cli.py to register the commands; the collectors' dependencies are imported only
when a command runs (``mlops-dash build`` never loads them).
"""

from __future__ import annotations

import os
import sys
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
               pushgateway: str | None) -> None:
    """Push each group (one PUT per grouping key); fail after trying every group."""
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
    if failures:
        raise JobError("\n".join(failures))


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
    from mlops_dash.collect.inputs import JobError

    jobs = load_jobs(config)
    checks = pick(jobs.drift, model, "drift")
    n = workers or len(os.sched_getaffinity(0))
    groups, errors = [], []
    for check in checks:
        try:
            result = d.run_check(check, jobs.warehouse, n)
        except JobError as exc:  # this model fails; the others still run and push
            errors.append(str(exc))
            continue
        click.echo(d.table(result, check))
        groups.append((d.PUSH_JOB, {"model": check.model}, d.registry_for(result)))
    if groups and not dry_run:
        try:
            _push_each(groups, jobs.pushgateway, pushgateway)
        except JobError as exc:
            errors.append(str(exc))
    if errors:
        raise JobError("\n".join(errors))


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
    from mlops_dash.collect.inputs import JobError

    jobs = load_jobs(config)
    errors = []
    for job in pick(jobs.evaluate, model, "evaluate"):
        try:
            results = ev.evaluate_job(job, jobs.warehouse)
            click.echo(ev.table(job, results))
            if not dry_run:
                for line in ev.log_to_mlflow(job, results):
                    click.echo(line)
        except JobError as exc:
            errors.append(str(exc))
    if errors:
        raise JobError("\n".join(errors))


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
    from mlops_dash.collect.inputs import JobError

    jobs = load_jobs(config)
    groups, errors = [], []
    for job in pick(jobs.actuals, model, "actuals"):
        try:
            hist = ac.histograms(job, jobs.warehouse)
        except JobError as exc:
            errors.append(str(exc))
            continue
        click.echo(ac.table(job, hist))
        groups.append((ac.PUSH_JOB, {"model": job.model}, ac.registry_for(job, hist)))
    if groups and not dry_run:
        try:
            _push_each(groups, jobs.pushgateway, pushgateway)
        except JobError as exc:
            errors.append(str(exc))
    if errors:
        raise JobError("\n".join(errors))


COMMANDS = [drift, evaluate, actuals]
