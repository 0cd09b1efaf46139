"""What every spec model shares: the strict base model and Prometheus durations."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

DURATION_RE = r"^([0-9]+(ms|s|m|h|d|w|y))+$"
Duration = Annotated[
    str, Field(pattern=DURATION_RE, description="Prometheus duration, e.g. 30s, 5m, 1h, 7d")
]

_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(value: str) -> float:
    """Seconds in a Prometheus duration string."""
    return sum(float(n) * _SECONDS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", value))


class Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
