"""Predictor instrumentation: ``mlops_prediction_value`` and ``mlops_model_cold_starts_total``.

For any Python predictor (a KServe custom model, a FastAPI app, a plain function)::

    from mlops_dash.collect.instrument import PredictionRecorder
    recorder = PredictionRecorder("demand-forecast", "v3", buckets=[10, 50, 100, 500])
    recorder.serve(8000)          # /metrics (or expose the registry through your own app)
    value = recorder.observe(model.predict(x))

A cold start is the first request a fresh process serves: with scale-to-zero (KServe/Knative
``minScale: 0``) a new process exists because a request arrived while none was running.
Processes that are not started by a request (``minScale`` ≥ 1 replicas, a scale-up from one)
pass ``cold_start=False`` or set ``MLOPS_DASH_COLD_START=false``. The counter exists at 0 from
construction, so ``increase()`` sees the first cold start.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

F = TypeVar("F", bound=Callable[..., Any])
COLD_START_ENV = "MLOPS_DASH_COLD_START"


class PredictionRecorder:
    """Records predictions of one model version; counts this process's cold start."""

    def __init__(self, model: str, version: str, buckets: Sequence[float], *,
                 registry: CollectorRegistry = REGISTRY, cold_start: bool | None = None) -> None:
        if not buckets or list(buckets) != sorted(set(buckets)):
            raise ValueError("buckets must be a non-empty increasing list")
        if cold_start is None:
            cold_start = os.environ.get(COLD_START_ENV, "true").lower() not in ("0", "false", "no")
        self.model, self.version = model, version
        self.registry = registry
        self._hist = Histogram("mlops_prediction_value", "Distribution of predicted values",
                               ["model", "version"], buckets=list(buckets), registry=registry)
        self._cold = Counter("mlops_model_cold_starts_total",
                             "First requests served by a fresh process (scale from zero)",
                             ["model", "version"], registry=registry)
        self._child = self._hist.labels(model, version)
        self._cold_child = self._cold.labels(model, version)  # created at 0
        # until the first request: count the cold start, then record straight into the child
        self._record: Callable[[float], None] = (
            self._first_request if cold_start else self._child.observe)

    def _first_request(self, value: float) -> None:
        self._record = self._child.observe
        self._cold_child.inc()
        self._child.observe(value)

    def observe(self, value: float) -> float:
        """Record one prediction (and, at the process's first, its cold start); returns it."""
        self._record(value)
        return value

    def observe_many(self, values: Iterable[float]) -> None:
        """Record a batch of predictions of one request (one cold start at most)."""
        for v in values:
            self._record(v)

    def wrap(self, func: F) -> F:
        """Decorate a predict function returning a number or a list of numbers."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = func(*args, **kwargs)
            if isinstance(out, int | float):
                self.observe(out)
            else:
                self.observe_many(out)
            return out

        return wrapper  # type: ignore[return-value]

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:  # noqa: S104 -- a pod's port
        """Serve /metrics on ``port`` in a background thread (prometheus_client)."""
        from prometheus_client import start_http_server

        return start_http_server(port, addr=addr, registry=self.registry)

