"""``mlops-dash exporter``: read the platform spec, build the sources, serve until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from mlops_dash.collect.exporter import Exporter
from mlops_dash.collect.source import Source
from mlops_dash.collect.state import StateFile
from mlops_dash.errors import EnvironmentProblem, SpecError
from mlops_dash.spec.collectors_exporter import ExporterSpec

log = logging.getLogger("mlops_dash.exporter")


def load_exporter_spec(config: Path) -> ExporterSpec:
    """The ``collectors.exporter`` section of a platform spec file, validated with places."""
    from mlops_dash.spec import models as m
    from mlops_dash.spec.loader import load_document

    display = str(config)
    doc = load_document(config, display)
    if not isinstance(doc.model, m.Platform):
        raise SpecError(display, f"expected a spec of kind Platform, found {doc.model.kind}",
                        line=1, column=1)
    collectors = doc.model.collectors
    if collectors is None or collectors.exporter is None:
        raise doc.source.error((), "this platform spec has no collectors.exporter section: "
                               "nothing to export (see README, 'The exporter')")
    return collectors.exporter


def build_sources(spec: ExporterSpec, state: StateFile) -> list[Source]:
    """One source per configured kind; storage splits into s3 and gcs by URL scheme."""
    sources: list[Source] = []
    if spec.kfp:
        from mlops_dash.collect.kfp import KfpCollector
        kfp = KfpCollector(spec.kfp, state)
        sources.append(kfp)
        if spec.training_cost:
            from mlops_dash.collect.cost import TrainingCostCollector
            cost = TrainingCostCollector(spec.training_cost)
            kfp.on_finished = cost.run_finished
            sources.append(cost)
    if spec.mlflow:
        from mlops_dash.collect.mlflow import MlflowCollector
        sources.append(MlflowCollector(spec.mlflow))
    if spec.storage:
        from mlops_dash.collect.storage import storage_collectors
        sources.extend(storage_collectors(spec.storage))
    if spec.aws_cost_explorer:
        from mlops_dash.collect.billing import CostExplorerCollector
        sources.append(CostExplorerCollector(spec.aws_cost_explorer))
    return sources


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise EnvironmentProblem(f"--listen {listen!r}: expected HOST:PORT or :PORT") from None
    return host.strip("[]") or "0.0.0.0", number


def run(config: Path, listen: str | None) -> None:
    """Serve until SIGTERM/SIGINT; the state file is saved on the way out."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise EnvironmentProblem("the exporter needs its extra: pip install "
                                 "'mlops-dash[exporter]'") from None
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = load_exporter_spec(config)
    host, port = parse_listen(listen or spec.listen)
    state = StateFile(spec.state_file)
    exporter = Exporter(build_sources(spec, state), spec.backoff_max_s)
    try:
        server = exporter.serve(host, port)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    log.info("serving /metrics on %s:%d (%s)", host, port,
             ", ".join(s.name for s in exporter.sources))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    exporter.start()
    done.wait()
    log.info("stopping")
    server.shutdown()
    exporter.stop()
