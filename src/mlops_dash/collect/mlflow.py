"""MLflow tracking server and model registry → mlops_model_* gauges (through MlflowClient).

For each configured model, the versions selected by alias and/or the N highest version numbers.
Quality (MAE, RMSE, accuracy) is the latest value, by timestamp then step, of the metric keys
the evaluation job logs against the version: MLflow 3 logs them on the version's LoggedModel
(``log_metric(..., model_id=...)``); only a version without a logged model (MLflow 2) falls back
to its run's latest metrics. The artifact size sums the files under the logged model's artifact
location (MLflow 3 keeps them there, not under the run), falling back to the version's source
path in its run's artifacts.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from mlops_dash.collect import source as src
from mlops_dash.collect.source import SourceError, read_token
from mlops_dash.spec.collectors_exporter import MlflowSource

log = logging.getLogger("mlops_dash.exporter")

GAUGES = (("mae", "mlops_model_mae", "Latest evaluation MAE of a model version"),
          ("rmse", "mlops_model_rmse", "Latest evaluation RMSE of a model version"),
          ("accuracy", "mlops_model_accuracy_ratio",
           "Latest evaluation accuracy (0-1) of a model version"))
MAX_ARTIFACT_FILES = 100_000


def classify(exc: Exception) -> SourceError:
    """An MlflowException (or a requests error under it) as a SourceError kind."""
    text = str(exc)
    # an HTTP status only when the server answered (RestException); a plain MlflowException
    # reports 500 for any error code, a refused connection included
    status = (exc.get_http_status_code() if exc.__class__.__name__ == "RestException"
              else None)  # type: ignore[attr-defined]
    code = getattr(exc, "error_code", "")
    low = text.lower()
    statuses = {int(m) for m in re.findall(r"\b([45]\d\d) (?:error|client error|server "
                                           r"error)|status code:? ?([45]\d\d)", low)
                for m in m if m}
    if status:
        statuses.add(int(status))
    if "timed out" in low or "timeout" in low:
        kind = src.TIMEOUT
    elif "json" in low and ("valid json" in low or "decode" in low or "expecting" in low):
        kind = src.MALFORMED
    elif code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or statuses & {401, 403}:
        kind = src.AUTH
    elif any(s >= 500 for s in statuses):
        kind = src.HTTP_5XX
    elif "connection refused" in low or "max retries exceeded" in low \
            or "failed to establish" in low or "connectionerror" in low:
        kind = src.UNREACHABLE
    elif code == "RESOURCE_DOES_NOT_EXIST":
        kind = src.NOT_FOUND
    elif statuses:
        kind = src.HTTP_4XX
    else:
        kind = src.OTHER
    return SourceError(kind, f"MLflow: {text[:300]}")


def logged_model_id(mv: Any) -> str | None:
    """The version's LoggedModel: ``model_id`` where the registry fills it in, else the
    ``models:/<model_id>`` source that MLflow 3 registers from (its SQL registry store keeps
    the source, not the id: mlflow/store/model_registry/sqlalchemy_store.py)."""
    model_id = getattr(mv, "model_id", None)
    if model_id:
        return str(model_id)
    source = mv.source or ""
    if source.startswith("models:/"):
        rest = source[len("models:/"):].strip("/")
        if rest and "/" not in rest and "@" not in rest:
            return rest
    return None


class MlflowCollector:
    """The selected model versions' latest evaluation metrics and artifact sizes."""

    def __init__(self, spec: MlflowSource) -> None:
        self.name = "mlflow"
        self.spec = spec
        self.interval_s = spec.interval_s
        self.timeout_s = spec.timeout_s
        # read by MlflowClient at each request: bounded calls, no retry loop of its own
        # (the exporter retries with its backoff)
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(spec.timeout_s)))
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=spec.url, registry_uri=spec.url)
        self.values: dict[str, dict[tuple[str, str], float]] = {}
        self.dirty = True

    def poll(self) -> None:
        token = read_token(self.spec.token_file)
        if token:
            os.environ["MLFLOW_TRACKING_TOKEN"] = token
        try:
            values = self._fetch()
        except SourceError:
            raise
        except Exception as exc:
            if exc.__class__.__name__ in ("MlflowException", "RestException") \
                    or "requests" in exc.__class__.__module__:
                raise classify(exc) from None
            raise
        self.dirty = values != self.values
        self.values = values

    def _fetch(self) -> dict[str, dict[tuple[str, str], float]]:
        out: dict[str, dict[tuple[str, str], float]] = {k: {} for k, *_ in GAUGES}
        out["size"] = {}
        keys = self.spec.metric_keys
        wanted = {"mae": keys.mae, "rmse": keys.rmse, "accuracy": keys.accuracy}
        for sel in self.spec.models:
            for mv in self._versions(sel):
                label = (sel.name, str(mv.version))
                metrics = self._metrics(mv)
                for gauge, key in wanted.items():
                    if key in metrics:
                        out[gauge][label] = metrics[key]
                size = self._artifact_size(mv)
                if size is not None:
                    out["size"][label] = size
        return out

    def _versions(self, sel: Any) -> list[Any]:
        chosen: dict[str, Any] = {}
        for alias in sel.aliases:
            try:
                mv = self.client.get_model_version_by_alias(sel.name, alias)
            except Exception as exc:
                if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST",
                                                      "INVALID_PARAMETER_VALUE"):
                    log.warning("MLflow: model %s has no alias %s", sel.name, alias)
                    continue
                raise
            chosen[str(mv.version)] = mv
        if sel.latest:
            found = self.client.search_model_versions(
                f"name = '{sel.name}'", max_results=sel.latest,
                order_by=["version_number DESC"])
            for mv in found:
                chosen.setdefault(str(mv.version), mv)
        return [chosen[k] for k in sorted(chosen, key=lambda v: int(v))]

    def _metrics(self, mv: Any) -> dict[str, float]:
        """Latest value per key: the logged model's metrics, else the run's."""
        model_id = logged_model_id(mv)
        if model_id:
            lm = self.client.get_logged_model(model_id)
            latest: dict[str, tuple[int, int, float]] = {}
            for m in lm.metrics or []:
                if lm.source_run_id and m.run_id == lm.source_run_id:
                    continue  # the training run's own metrics, linked to its model
                rank = (m.timestamp or 0, m.step or 0, m.value)
                if m.key not in latest or rank[:2] >= latest[m.key][:2]:
                    latest[m.key] = rank
            # never the training run's metrics: they do not change after registration
            return {k: r[2] for k, r in latest.items()}
        if mv.run_id:
            return dict(self.client.get_run(mv.run_id).data.metrics)
        return {}

    def _artifact_size(self, mv: Any) -> float | None:
        model_id = logged_model_id(mv)
        if model_id:
            return float(self._walk(lambda p: self.client.list_logged_model_artifacts(
                model_id, p), None))
        if not mv.run_id:
            return None
        source = mv.source or ""
        if source.startswith("runs:/"):
            path = source.split("/", 2)[2] if source.count("/") >= 2 else ""
        elif "/artifacts/" in source:
            path = source.split("/artifacts/", 1)[1]
        else:
            path = ""
        return float(self._walk(lambda p: self.client.list_artifacts(mv.run_id, p),
                                path or None))

    @staticmethod
    def _walk(lister: Any, root: str | None) -> int:
        total, files, stack = 0, 0, [root]
        while stack:
            for info in lister(stack.pop()):
                if info.is_dir:
                    stack.append(info.path)
                else:
                    total += info.file_size or 0
                    files += 1
                    if files > MAX_ARTIFACT_FILES:
                        raise SourceError(src.OTHER, f"MLflow: more than {MAX_ARTIFACT_FILES} "
                                          "artifact files under one model version")
        return total

    def families(self) -> Iterable[Metric]:
        fams: list[Metric] = []
        for key, name, help_text in GAUGES:
            g = GaugeMetricFamily(name, help_text, labels=["model", "version"])
            for (model, version), value in sorted(self.values.get(key, {}).items()):
                g.add_metric([model, version], value)
            fams.append(g)
        size = GaugeMetricFamily("mlops_model_artifact_size_bytes",
                                 "Size of a registered model version's artifacts",
                                 labels=["model", "version"])
        for (model, version), value in sorted(self.values.get("size", {}).items()):
            size.add_metric([model, version], value)
        fams.append(size)
        return fams

    def close(self) -> None:
        pass
