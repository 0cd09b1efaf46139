"""``collectors.jobs``: the batch jobs that push to the Pushgateway (issue 16 fills this in)."""

from __future__ import annotations

from mlops_dash.spec.base import Strict


class JobsSpec(Strict):
    """The drift checker, the evaluation job, the actuals job and the Pushgateway."""
