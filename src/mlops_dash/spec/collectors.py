"""The platform spec's ``collectors`` section: what produces the ``mlops_*`` series.

The long-running exporter (``collectors.exporter``, spec/collectors_exporter.py) and the jobs
that run and exit (``collectors.jobs``, spec/collectors_jobs.py) share one container image.
"""

from __future__ import annotations

from pydantic import Field

from mlops_dash.spec.base import Strict
from mlops_dash.spec.collectors_exporter import ExporterSpec
from mlops_dash.spec.collectors_jobs import JobsSpec

IMAGE_RE = r"^[a-z0-9]+([._/:@-][a-zA-Z0-9_.-]+)*$"


class Collectors(Strict):
    """The collectors' container image, the exporter and the batch jobs."""

    image: str = Field(
        pattern=IMAGE_RE,
        description="container image with mlops-dash[collectors] installed (see Dockerfile); "
        "required: there is no default image",
    )
    exporter: ExporterSpec | None = None
    jobs: JobsSpec | None = None
