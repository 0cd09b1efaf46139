"""Levels of series: histogram observations and quantile estimates, alert targets, lookbacks."""

from __future__ import annotations

from mlops_dash import promql
from mlops_dash.simulate.world import (
    _OFFSET_RE,
    _RANGE_RE,
    COUNTER_RATE,
    GAUGE_DEFAULTS,
    HISTOGRAM_BUCKETS,
    HISTOGRAM_DEFAULT_OBSERVATION,
    HISTOGRAM_RATE,
    METRIC_DEFAULTS,
    Behaviour,
    Level,
    Series,
    SimulationError,
    constant,
)
from mlops_dash.spec import models as m

# --------------------------------------------------------------------------- alert targets


def targets(alert: m.Alert) -> tuple[float, float]:
    """(healthy, violating) values of an alert's signal: clearly on each side of the threshold."""
    t, c = alert.threshold, alert.comparison
    ceiling = {"percentunit": 1.0, "percent": 100.0}.get(alert.unit)
    if alert.signal.shape == "baseline":
        healthy = 0.0  # a value equal to its own average
    elif c in (">", ">="):
        healthy = t / 2 if t > 0 else (2 * t if t < 0 else (0.0 if c == ">" else -1.0))
    else:
        healthy = (2 * t if ceiling is None else (t + ceiling) / 2) if t > 0 else \
            (t / 2 if t < 0 else (0.0 if c == "<" else 1.0))
    if c in (">", ">="):
        violating = 2 * t if t > 0 else (t / 2 if t < 0 else 1.0)
        if ceiling is not None:
            violating = min(violating, (t + ceiling) / 2)
    else:
        violating = t / 2 if t > 0 else (2 * t if t < 0 else -1.0)
    if not (_violates(c, violating, t) and not _violates(c, healthy, t)):
        raise SimulationError(f"{alert.name}: no healthy/violating values around {t}")
    return healthy, violating


def _violates(comparison: str, value: float, threshold: float) -> bool:
    return {">": value > threshold, ">=": value >= threshold, "<": value < threshold,
            "<=": value <= threshold}[comparison]


def _linear(base: float, slope: float) -> Level:
    return lambda t: base + slope * (t - 1.7e9)


def _scaled(level: Level, factor: float) -> Level:
    return lambda t: level(t) * factor


def _age_start(age: float) -> Level:
    return lambda t: float(int(t - age))


def quantile_estimate(buckets: list[float], observation: float, q: float) -> float:
    """What histogram_quantile returns when every observation equals ``observation``."""
    lower = 0.0
    for b in buckets:
        if observation <= b:
            return lower + q * (b - lower)
        lower = b
    return buckets[-1]


def quantile_observation(buckets: list[float], q: float, comparison: str, threshold: float,
                         target: float) -> float:
    """An observation value whose quantile estimate is on the same side of ``threshold`` as
    ``target`` (and as close to ``target`` as the buckets allow)."""
    want = _violates(comparison, target, threshold)
    candidates = [b for b in buckets
                  if _violates(comparison, quantile_estimate(buckets, b, q), threshold) == want]
    if not candidates:
        raise SimulationError(f"no histogram bucket gives a quantile on that side of {threshold}")
    return min(candidates, key=lambda b: abs(quantile_estimate(buckets, b, q) - target))


def histogram_behaviours(base: list[Series], buckets: list[float],
                         observation: float) -> dict[Series, Behaviour]:
    """All observations equal ``observation``, at HISTOGRAM_RATE per second."""
    out = {}
    for x in base:
        if x.name.endswith("_bucket"):
            le = float(x.label_dict["le"])
            out[x] = Behaviour(rate=HISTOGRAM_RATE if observation <= le else 0.0)
        elif x.name.endswith("_sum"):
            out[x] = Behaviour(rate=HISTOGRAM_RATE * observation)
        else:
            out[x] = Behaviour(rate=HISTOGRAM_RATE)
    return out


def default_behaviours(series: list[Series], catalogue: dict[str, m.MetricDef]
                       ) -> dict[Series, Behaviour]:
    out: dict[Series, Behaviour] = {}
    hist: dict[str, list[Series]] = {}
    for s in series:
        md = catalogue[s.metric]
        if md.type == "histogram":
            hist.setdefault(md.name, []).append(s)
        elif md.type == "counter":
            out[s] = Behaviour(rate=COUNTER_RATE)
        elif md.unit == "timestamp_seconds":
            out[s] = Behaviour(level=_age_start(60.0))
        else:
            level = METRIC_DEFAULTS.get(md.name, GAUGE_DEFAULTS.get(md.unit, 1.0))
            out[s] = Behaviour(level=constant(level))
    for name, members in hist.items():
        md = catalogue[name]
        obs = HISTOGRAM_DEFAULT_OBSERVATION.get(md.unit, 1.0)
        out.update(histogram_behaviours(members, histogram_buckets(md), obs))
    return out


def lookback_seconds(expr: str) -> float:
    """The longest range, subquery range or offset an expression reads."""
    spans = [m.duration_seconds(x.group(1)) for x in _RANGE_RE.finditer(expr)]
    spans += [m.duration_seconds(x.group(1)) for x in _OFFSET_RE.finditer(expr)]
    return max(spans, default=0.0)


def chain_lookback(expr: str, records: dict[str, str]) -> float:
    """Lookback of an expression plus the longest lookback of the recording rules it reads."""
    inner = [chain_lookback(records[n], records) for n in promql.metric_names(expr)
             if n in records]
    return lookback_seconds(expr) + max(inner, default=0.0)


def histogram_buckets(md: m.MetricDef) -> list[float]:
    return HISTOGRAM_BUCKETS.get(md.unit, HISTOGRAM_BUCKETS["none"])


