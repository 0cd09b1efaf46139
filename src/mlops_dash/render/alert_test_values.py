"""Values, label values and input series notation of the derived promtool cases
(render/alert_tests.py): the bad and safe signal values an alert's threshold gives, label
values its matchers accept or reject, and promtool's expanding notation of input series."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_dash import promql
from mlops_dash.spec import models as m

SAFE_MARGIN = 0.05  # "just on the safe side": 5% of the threshold
BAD_MARGIN = 0.5  # "clearly violated": 50% of the threshold beyond it


class AlertTestError(ValueError):
    """An alert whose cases cannot be derived generically (write them by hand in `tests:`)."""


# ------------------------------------------------------------------------------ durations


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def fmt_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (``1d2h3m``); 0 is ``0s``."""
    s = int(round(seconds))
    if s == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def _num(value: float) -> str:
    """A sample value or label value as text: integers plain, floats by repr (round-trips)."""
    value = _round(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _round(value: float) -> float:
    """Drop binary noise (0.15 * 100 = 15.000000000000002): 12 significant digits."""
    return float(f"{value:.12g}")


# ------------------------------------------------------------------------------ label values


def _regex_example(regex: str) -> str | None:
    """A string fully matching a (simple) RE2 regex, or None."""
    alternatives = regex.split("|") if "(" not in regex else [regex]
    for alt in alternatives:
        s = alt.strip("^$")
        s = re.sub(r"\.\*", "", s)
        s = re.sub(r"\.\+", "x", s)
        s = s.replace("\\d", "0").replace(".", "0").replace("\\", "")
        if re.fullmatch(regex, s):
            return s
    return None


_NON_MATCHING = ("other", "ok", "succeeded", "200", "none")


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def matching_value(label: str, raw: str) -> str:
    """A label value a spec matcher (``v``, ``=~re``, ``!=v``, ``!~re``) accepts."""
    if raw.startswith("=~"):
        found = _regex_example(raw[2:])
        if found is None:
            raise AlertTestError(f"cannot derive a value of {label} matching {raw[2:]!r}")
        return found
    if raw.startswith("!="):
        return f"not-{raw[2:]}" if raw[2:] else "x"
    if raw.startswith("!~"):
        return non_matching_value(label, "=~" + raw[2:])
    return raw


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def non_matching_value(label: str, raw: str) -> str:
    """A label value a spec matcher rejects."""
    if raw.startswith("!="):
        return raw[2:]
    if raw.startswith("!~"):
        return matching_value(label, "=~" + raw[2:])
    regex = raw[2:] if raw.startswith("=~") else re.escape(raw)
    for candidate in _NON_MATCHING:
        if not re.fullmatch(regex, candidate):
            return candidate
    raise AlertTestError(f"cannot derive a value of {label} not matching {raw!r}")


def _selector_labels(sel: m.Selector) -> dict[str, str]:
    """Label values the selector's matchers accept (callers read it, never change it),
    remembered by the selector's identity (promql.by_identity): every series of every case
    asks."""
    return promql.by_identity(_SELECTOR_LABELS, sel, _matching_labels)


def _matching_labels(sel: m.Selector) -> dict[str, str]:
    return {k: matching_value(k, v) for k, v in sel.matchers.items()}


_SELECTOR_LABELS: dict[int, tuple[Any, Any]] = {}


def series_text(metric: str, labels: dict[str, str]) -> str:
    """``metric{a="1", b="2"}`` with sorted labels."""
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}" if inner else metric


# ------------------------------------------------------------------------------ values


def is_violating(value: float, comparison: str, threshold: float) -> bool:
    return {
        ">": value > threshold, ">=": value >= threshold,
        "<": value < threshold, "<=": value <= threshold,
    }[comparison]


def bad_value(alert: m.Alert) -> float:
    """A signal value clearly on the violating side of the threshold."""
    thr = alert.threshold
    delta = abs(thr) * BAD_MARGIN if thr else 1.0
    up = alert.comparison in (">", ">=")
    value = thr + delta if up else thr - delta
    if isinstance(alert.signal, m.RatioSignal) and up and value >= 1:
        value = (thr + 1) / 2  # a share of events cannot pass 1
    return _round(value)


def safe_value(alert: m.Alert) -> float:
    """A signal value just on the safe side of the threshold."""
    thr = alert.threshold
    up = alert.comparison in (">", ">=")
    if thr == 0 and alert.comparison in (">", "<"):
        return 0.0
    delta = abs(thr) * SAFE_MARGIN if thr else SAFE_MARGIN
    return _round(thr - delta if up else thr + delta)


# ------------------------------------------------------------------------------ series


@dataclass
class Series:
    """One input series built from runs of samples, rendered in promtool's expanding notation."""

    name: str
    parts: list[str] = field(default_factory=list)
    last: float | None = None
    samples: int = 0

    def hold(self, value: float, n: int) -> None:
        """``n`` samples of a constant value."""
        if n <= 0:
            return
        self.parts.append(_num(value) if n == 1 else f"{_num(value)}x{n - 1}")
        self.last, self.samples = value, self.samples + n

    def ramp(self, start: float, step: float, n: int) -> None:
        """``n`` samples ``start, start+step, …``."""
        if n <= 0:
            return
        if step == 0:
            self.hold(start, n)
            return
        if n == 1:
            self.parts.append(_num(start))
        else:
            sign = "+" if step >= 0 else "-"
            self.parts.append(f"{_num(start)}{sign}{_num(abs(step))}x{n - 1}")
        self.last, self.samples = start + step * (n - 1), self.samples + n

    def stale(self) -> None:
        self.parts.append("stale")

    def render(self) -> dict[str, str]:
        return {"series": self.name, "values": " ".join(self.parts)}


@dataclass(frozen=True)
class Segment:
    """A run of input samples during which the signal holds one value (None: no series)."""

    steps: int
    value: float | None


@dataclass(frozen=True)
class Timing:
    """When a shape's signal shows a value, in seconds."""

    first: float  # earliest time the signal can be violated (warm-up)
    settle: float  # how long after a change the signal shows only the new value
