"""Push one group of gauges to the Pushgateway: one PUT per grouping key, retried with backoff.

``push_to_gateway`` is a PUT: it replaces every metric of the group ``{job, grouping key}`` at
once, so a group is never half-updated, and another model's group (another grouping key) is
never touched. A job builds each group's registry completely before pushing it.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
from collections.abc import Callable
from typing import Any

from mlops_dash.collect.inputs import JobError

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
# The Pushgateway URL a job pushes to when the spec deploys one: its in-cluster Service (the
# CronJobs set MLOPS_DASH_PUSHGATEWAY to it); a run outside the cluster passes --pushgateway.
PUSHGATEWAY_ENV = "MLOPS_DASH_PUSHGATEWAY"


def gateway_address(explicit: str | None, spec_url: str | None) -> str:
    """--pushgateway, else the environment, else the spec's url of an existing one."""
    for value in (explicit, os.environ.get(PUSHGATEWAY_ENV), spec_url):
        if value:
            return value
    raise JobError(f"no Pushgateway address: pass --pushgateway URL or set {PUSHGATEWAY_ENV}")


def push_group(gateway: str, job: str, grouping_key: dict[str, str], registry: Any, *,
               timeout: float, retries: int,
               sleep: Callable[[float], None] = time.sleep) -> None:
    """PUT the registry as the group {job, grouping_key}; retry ``retries`` times with
    exponential backoff (1s, 2s, 4s … at most 30s); a JobError after the last try."""
    from prometheus_client import push_to_gateway

    delay = BACKOFF_FIRST_S
    group = ", ".join(f"{k}={v}" for k, v in sorted(grouping_key.items()))
    for attempt in range(retries + 1):
        try:
            push_to_gateway(gateway, job=job, registry=registry, grouping_key=grouping_key,
                            timeout=timeout)
            return
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", None) or exc
            if attempt == retries:
                raise JobError(
                    f"Pushgateway {gateway}: push of group job={job}, {group} failed after "
                    f"{retries + 1} attempt(s): {reason}; nothing of this group was pushed"
                ) from None
            print(f"warning: Pushgateway {gateway}: {reason}; retrying in {delay:.0f}s",
                  file=sys.stderr)
            sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
