"""The reference of `make bench`: grafanalib alone building N five-panel dashboards as JSON files.

    python3 benchmarks/grafanalib_only.py --dashboards 1000 --out /tmp/grafanalib-1000

Each dashboard has five time-series panels with one PromQL target each, a datasource variable
and a threshold, and is written as sorted, indented JSON the way grafanalib's own
``generate-dashboard`` writes it. mlops-dash's build times are quoted as multiples of this.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import grafanalib.core as G
from grafanalib._gen import DashboardEncoder

QUERIES = [
    ("Request rate", 'sum by (service) (rate(http_requests_total{job="api-%d"}[5m]))', "reqps"),
    ("Error ratio", 'sum(rate(http_requests_total{job="api-%d", code=~"5.."}[5m]))'
     ' / sum(rate(http_requests_total{job="api-%d"}[5m]))', "percentunit"),
    ("p95 latency", 'histogram_quantile(0.95, sum by (le) '
     '(rate(http_request_duration_seconds_bucket{job="api-%d"}[5m])))', "s"),
    ("Memory", 'sum by (pod) (container_memory_working_set_bytes{namespace="api-%d"})', "bytes"),
    ("CPU", 'sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="api-%d"}[5m]))',
     "short"),
]


def dashboard(i: int) -> G.Dashboard:
    panels = []
    for j, (title, expr, unit) in enumerate(QUERIES):
        panels.append(G.TimeSeries(
            title=title,
            dataSource="${datasource}",
            targets=[G.Target(expr=expr.replace("%d", str(i)), legendFormat="{{service}}",
                              refId="A")],
            unit=unit,
            thresholdType="absolute",
            thresholds=[G.Threshold("green", 0, 0.0), G.Threshold("red", 1, 80.0)],
            gridPos=G.GridPos(h=8, w=12, x=12 * (j % 2), y=8 * (j // 2)),
        ))
    return G.Dashboard(
        title=f"Service {i:04d}", uid=f"service-{i:04d}", tags=["bench"], panels=panels,
        templating=G.Templating(list=[G.Template(
            name="datasource", type="datasource", query="prometheus", default="Prometheus")]),
        timezone="browser",
    ).auto_panel_ids()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dashboards", "-n", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.dashboards):
        text = json.dumps(dashboard(i).to_json_data(), sort_keys=True, indent=2,
                          cls=DashboardEncoder)
        (args.out / f"service-{i:04d}.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
