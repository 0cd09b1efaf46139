"""Helpers of the exporter tests: metric values by name and labels, specs of sources."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families


def values(families: Iterable[Metric]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) → value of every sample."""
    out = {}
    for fam in families:
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def parse_exposition(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return values(text_string_to_metric_families(body.decode()))


def v(vals: dict[Any, float], name: str, **labels: str) -> float | None:
    return vals.get((name, tuple(sorted(labels.items()))))


def series(vals: dict[Any, float], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {k[1]: val for k, val in vals.items() if k[0] == name}
