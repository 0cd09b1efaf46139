"""The jobs' configuration: the platform spec (``collectors.jobs``) or the rendered jobs file.

The CronJobs read ``jobs.yaml`` from the ConfigMap the bundle ships (kind ``CollectorJobs``,
the platform spec's ``collectors.jobs`` as it was built); a run by hand can read
``specs/platform.yaml`` itself. Mistakes are placed errors, as in ``mlops-dash build``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.spec.base import Strict
from mlops_dash.spec.collectors_jobs import JobsSpec
from mlops_dash.spec.loader import _convert, read_mapping, validate_alone

JOBS_KIND = cv.JOBS_KIND


class JobsDocument(Strict):
    """The file the CronJobs read: ``collectors.jobs`` of the platform spec."""

    apiVersion: Literal["mlops-dash/v1"]  # noqa: N815 -- the field's name in the file
    kind: Literal["CollectorJobs"]
    jobs: JobsSpec


def load_jobs(path: Path) -> JobsSpec:
    """collectors.jobs from a Platform spec file (its parameters resolved, as the build does)
    or a CollectorJobs file; read and refused like a spec (spec/loader.read_mapping)."""
    display = str(path)
    data, smap = read_mapping(path, display)
    if data.get("kind") == "Platform":
        platform = validate_alone(data, smap).model
        if platform.collectors is None or platform.collectors.jobs is None:
            raise smap.error((), "this platform spec has no collectors.jobs section")
        jobs: JobsSpec = platform.collectors.jobs
        return jobs
    if data.get("kind") != JOBS_KIND:
        raise smap.error(("kind",) if "kind" in data else (),
                         f"expected kind Platform or {JOBS_KIND}")
    try:
        return JobsDocument.model_validate(data).jobs
    except ValidationError as exc:
        raise SpecErrors(_convert(exc, data, smap, JobsDocument)) from None


def pick(jobs: list[Any], model: str | None, kind: str) -> list[Any]:
    """The jobs of one model (all when ``model`` is None); an error naming the choices."""
    if model is None:
        if not jobs:
            raise SpecError("collectors.jobs", f"no {kind} jobs in the spec")
        return jobs
    chosen = [j for j in jobs if j.model == model]
    if not chosen:
        names = ", ".join(j.model for j in jobs) or "none"
        raise SpecError("collectors.jobs", f"no {kind} job for model {model!r} (models: {names})")
    return chosen
