"""Collector benchmarks used by bench.py (``--cases drift,instrument``).

    python3 benchmarks/bench_collectors.py data DIR [--rows 1000000 --features 20]
    python3 benchmarks/bench_collectors.py instrument [--n 200000]

``data`` writes the drift case's input: reference and current windows as Parquet (float64
columns f00…f19 plus a prediction column; the current window shifted in half the features) and
the CollectorJobs file the timed ``mlops-dash drift --dry-run`` reads. ``instrument`` prints the
cost of one ``PredictionRecorder.observe()`` in microseconds (best of 5 rounds of ``--n`` calls,
the empty loop subtracted; CPU time of this process, so other load on the machine inflates
it less than wall time would) as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def write_data(folder: Path, rows: int, features: int) -> Path:
    import numpy as np
    import pandas as pd
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"f{i:02d}" for i in range(features)]
    for window, shift in (("reference", 0.0), ("current", 0.05)):
        cols = {n: rng.normal(shift if i % 2 else 0.0, 1.0, rows) for i, n in enumerate(names)}
        cols["prediction"] = rng.normal(100 + 10 * shift, 15, rows)
        pd.DataFrame(cols).to_parquet(folder / f"{window}.parquet")
        del cols
    config = folder / "jobs.yaml"
    config.write_text(yaml.safe_dump({"apiVersion": "mlops-dash/v1", "kind": "CollectorJobs",
                                      "jobs": {"pushgateway": {"deploy": False,
                                                               "url": "http://127.0.0.1:1"},
                                               "drift": [{
                                                   "model": "bench",
                                                   "reference": {"path": str(folder / "reference.parquet")},
                                                   "current": {"path": str(folder / "current.parquet")},
                                                   "features": [{"name": n} for n in names],
                                                   "prediction": "prediction"}]}}))
    return config


def instrument_overhead(n: int) -> dict[str, float]:
    from prometheus_client import CollectorRegistry

    from mlops_dash.collect.instrument import PredictionRecorder

    rec = PredictionRecorder("bench", "1", [1, 5, 10, 25, 50, 100, 250, 500, 1000],
                             registry=CollectorRegistry())
    values = [float(i % 700) for i in range(n)]
    best, empty = float("inf"), float("inf")
    for _ in range(5):
        t = time.process_time()
        for v in values:
            rec.observe(v)
        best = min(best, time.process_time() - t)
        t = time.process_time()
        for v in values:
            pass
        empty = min(empty, time.process_time() - t)
    return {"us_per_prediction": (best - empty) / n * 1e6, "calls": n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    d = sub.add_parser("data")
    d.add_argument("folder", type=Path)
    d.add_argument("--rows", type=int, default=1_000_000)
    d.add_argument("--features", type=int, default=20)
    i = sub.add_parser("instrument")
    i.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args(argv)
    if args.what == "data":
        print(write_data(args.folder, args.rows, args.features))
    else:
        print(json.dumps(instrument_overhead(args.n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
