"""Hand-made series for the situations: values as functions of time around an anchor ("now").

A track is one series whose value at a time is a number or ``None`` (absent: not yet created,
deleted, or not scraped). Piecewise levels, counters that step at events, timestamps of the last
event, and histograms of finished runs cover what the situations need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from mlops_dash.simulate.world import _escape, _num

H = 3600.0
D = 86400.0
Value = Callable[[float], "float | None"]  # absolute unix time → value (None: absent)


@dataclass(frozen=True)
class Track:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: Value

    def text(self, extra: dict[str, str] | None = None) -> str:
        own = {k for k, _ in self.labels}  # like honor_labels: a series keeps its own labels
        labels = [*self.labels, *sorted((k, v) for k, v in (extra or {}).items() if k not in own)]
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        return f"{self.name}{{{inner}}}" if inner else self.name


def track(name: str, value: Value, **labels: str) -> Track:
    return Track(name, tuple(labels.items()), value)


def steps(anchor: float, *points: tuple[float, float | None]) -> Value:
    """The value of the last point at or before a time (points: (seconds from anchor, value));
    absent before the first point."""
    pts = sorted(points, key=lambda p: p[0])

    def at(t: float) -> float | None:
        current: float | None = None
        for rel, v in pts:
            if anchor + rel <= t:
                current = v
        return current
    return at


def level(anchor: float, value: float, since: float = -math.inf,
          gaps: Sequence[tuple[float, float]] = ()) -> Value:
    """``value`` from ``since`` (seconds from anchor) on, absent inside each gap [start, end)."""
    def at(t: float) -> float | None:
        rel = t - anchor
        if rel < since or any(a <= rel < b for a, b in gaps):
            return None
        return value
    return at


def events(anchor: float, times: Iterable[float], since: float = -math.inf,
           base: float = 0.0) -> Value:
    """A counter: ``base`` plus the number of events (seconds from anchor) up to a time."""
    ts = sorted(times)

    def at(t: float) -> float | None:
        rel = t - anchor
        return None if rel < since else base + sum(1 for x in ts if x <= rel)
    return at


def last_event(anchor: float, times: Iterable[float], since: float | None = None) -> Value:
    """A timestamp gauge: the unix time of the last event up to a time (absent before the first,
    or before ``since``)."""
    ts = sorted(times)

    def at(t: float) -> float | None:
        rel = t - anchor
        done = [x for x in ts if x <= rel]
        if not done or (since is not None and rel < since):
            return None
        return float(int(anchor + done[-1]))
    return at


def at_events(anchor: float, checks: Sequence[tuple[float, float]]) -> Value:
    """A pushed gauge: the value of the last check (seconds from anchor, value) up to a time
    (the Pushgateway serves the last push until the next one)."""
    return steps(anchor, *checks)


def histogram(anchor: float, name: str, buckets: Sequence[float],
              runs: Sequence[tuple[float, float]], before: int = 0,
              before_duration: float = 0.0, **labels: str) -> list[Track]:
    """``_bucket``/``_sum``/``_count`` of finished runs: ``runs`` are (finish time from anchor,
    duration); ``before`` earlier runs of ``before_duration`` are already counted."""
    out = []
    for le in [*buckets, math.inf]:
        n0 = before if before_duration <= le else 0
        inside = [r for r, d in runs if d <= le]
        out.append(track(f"{name}_bucket", events(anchor, inside, base=n0),
                         **labels, le=_num(le)))
    total = before * before_duration
    out.append(track(f"{name}_sum", _summed(anchor, runs, total), **labels))
    out.append(track(f"{name}_count", events(anchor, [r for r, _ in runs], base=before),
                     **labels))
    return out


def _summed(anchor: float, runs: Sequence[tuple[float, float]], base: float) -> Value:
    def at(t: float) -> float | None:
        return base + sum(d for r, d in runs if anchor + r <= t)
    return at


def exposition(tracks: Iterable[Track], t: float) -> str:
    lines = []
    for tr in tracks:
        v = tr.value(t)
        if v is not None:
            lines.append(f"{tr.text()} {_num(v)}")
    return "\n".join(lines) + "\n"


def write_history(out: TextIO, tracks: Iterable[Track], anchor: float, span_s: float,
                  step_s: float, target_labels: dict[str, str] | None = None) -> int:
    """Samples of ``tracks`` every ``step_s`` (at multiples of it) over ``span_s`` before
    ``anchor``, up to two minutes before it (the rest is the live scrape's), OpenMetrics lines
    with timestamps; absent values are left out. Returns the samples written (no ``# EOF``)."""
    end = math.floor((anchor - 120) / step_s) * step_s
    start = end - math.floor(span_s / step_s) * step_s
    times = [start + i * step_s for i in range(int((end - start) / step_s) + 1)]
    n = 0
    for tr in tracks:
        text = tr.text(target_labels)
        for t in times:
            v = tr.value(t)
            if v is not None:
                out.write(f"{text} {_num(v)} {int(t)}\n")
                n += 1
    return n
