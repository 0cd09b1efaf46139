"""AWS Cost Explorer → mlops_cloud_cost_dollars{provider="aws",service,cost_tag}.

One ``get_cost_and_usage`` (DAILY, grouped by SERVICE and the cost allocation tag) for the last
complete UTC day, hourly at most: each request is billed, and a day's figures settle slowly.
GCP is not polled here: its billing data lives in the BigQuery billing export, which Grafana
queries directly as a warehouse panel (README, "Cloud billing").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from prometheus_client.core import GaugeMetricFamily, Metric

from mlops_dash.collect import aws
from mlops_dash.collect import source as src
from mlops_dash.collect.source import SourceError
from mlops_dash.spec.collectors_exporter import CostExplorerSource

log = logging.getLogger("mlops_dash.exporter")
UNTAGGED = "untagged"
MAX_PAGES = 50


def last_complete_day(today: date | None = None) -> tuple[str, str]:
    """(Start, End) of yesterday in UTC; Cost Explorer's End is exclusive."""
    today = today or datetime.now(timezone.utc).date()
    return (today - timedelta(days=1)).isoformat(), today.isoformat()


class CostExplorerCollector:
    def __init__(self, spec: CostExplorerSource) -> None:
        self.name = "aws-cost-explorer"
        self.spec = spec
        self.interval_s = spec.interval_s
        self.timeout_s = spec.timeout_s
        self.client = aws.client("ce", spec.timeout_s, spec.region, spec.endpoint_url)
        self.costs: dict[tuple[str, str], float] = {}
        self.dirty = True
        self.day = ""

    def poll(self) -> None:
        start, end = last_complete_day()
        costs: dict[tuple[str, str], float] = {}
        token = None
        for _ in range(MAX_PAGES):
            args = {"TimePeriod": {"Start": start, "End": end}, "Granularity": "DAILY",
                    "Metrics": [self.spec.metric],
                    "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"},
                                {"Type": "TAG", "Key": self.spec.cost_tag}]}
            if token:
                args["NextPageToken"] = token
            try:
                resp = self.client.get_cost_and_usage(**args)
            except Exception as exc:
                raise aws.classify(exc, "Cost Explorer") from None
            self._add(resp, costs)
            token = resp.get("NextPageToken")
            if not token:
                break
        else:
            raise SourceError(src.MALFORMED, f"Cost Explorer: more than {MAX_PAGES} pages")
        self.dirty = costs != self.costs
        self.costs, self.day = costs, start

    def _add(self, resp: dict, costs: dict[tuple[str, str], float]) -> None:
        prefix = f"{self.spec.cost_tag}$"
        for period in resp.get("ResultsByTime", []):
            for group in period.get("Groups", []):
                keys = group.get("Keys", [])
                if len(keys) != 2:
                    raise SourceError(src.MALFORMED, f"Cost Explorer: group keys {keys!r}")
                service, tag = keys
                tag = tag[len(prefix):] if tag.startswith(prefix) else tag
                amount = group.get("Metrics", {}).get(self.spec.metric, {})
                if amount.get("Unit", "USD") != "USD":
                    log.warning("Cost Explorer: %s in %s, not USD: skipped", service,
                                amount.get("Unit"))
                    continue
                try:
                    value = float(amount.get("Amount", "0"))
                except ValueError:
                    raise SourceError(src.MALFORMED, "Cost Explorer: amount "
                                      f"{amount.get('Amount')!r} is not a number") from None
                key = (service, tag or UNTAGGED)
                costs[key] = costs.get(key, 0.0) + value

    def families(self) -> Iterable[Metric]:
        g = GaugeMetricFamily("mlops_cloud_cost_dollars",
                              "Cloud cost of the last complete day (USD)",
                              labels=["provider", "service", "cost_tag"])
        for (service, tag), value in sorted(self.costs.items()):
            g.add_metric(["aws", service, tag], value)
        return [g]

    def close(self) -> None:
        pass
