"""Generated promtool tests of the SLO burn-rate alerts (render/slo.py): for each tier, a clean
baseline, then burns that must fire and burns just under and just over each factor. Pure:
every function returns data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.promql import format_number
from mlops_dash.render.slo import (
    alert_annotations,
    alert_labels,
    alert_stem,
    error_budget,
    sli_selectors,
    tier_windows,
)
from mlops_dash.spec import models as m

_MIN = 60
_EVENTS_PER_MIN = 100
# promtool evaluates every group at the file's evaluation_interval, so each tier has its own
# file: the page windows need minutes; the ticket windows (days) are tested every 5 minutes.
TEST_STEP_MIN = {"page": 1, "ticket": 5}


@dataclass(frozen=True)
class Variant:
    """One instance of a scenario: burn rates held after the baseline, and what must happen."""

    key: str
    segments: tuple[tuple[int, float], ...]  # (minutes, burn rate)
    checks: tuple[tuple[int, bool], ...]     # (minutes after the baseline, the tier fires?)


@dataclass(frozen=True)
class Scenario:
    """A promtool test group: a clean baseline, then each variant's burn."""

    name: str
    baseline_min: int
    variants: tuple[Variant, ...]


def _just_under(slo: m.SLO) -> float:
    # A 0/1 SLI averages whole samples (1h holds 61), so "just under" needs a little more room.
    return 0.9 if isinstance(slo.sli, m.GaugeThresholdSLI) else 0.95


def _minutes_of(window: str) -> int:
    return int(m.duration_seconds(window) / _MIN)


def scenarios(slo: m.SLO, tier: str) -> list[Scenario]:
    """The tier's burn that must fire, and burns just under and just over each factor."""
    step = TEST_STEP_MIN[tier]

    def up(x: float) -> int:
        return math.ceil(x / step - 1e-9) * step

    def down(x: float) -> int:
        return math.floor(x / step + 1e-9) * step

    budget = error_budget(slo)
    under = _just_under(slo)
    over = round(2 - under, 6)
    (quick, fq), (slow, fs) = tier_windows(slo, tier)
    out: list[Scenario] = []
    if tier == "page":
        base = _minutes_of(slow.long)  # 6h of clean data fills every window the page reads
        detect = fq * budget * _minutes_of(quick.long)  # minutes of 100 % errors
        fire_at = up(detect + 2)
        burn = fire_at + step
        reset_at = up(burn + _minutes_of(quick.short) + 1)
        checks: list[tuple[int, bool]] = [(fire_at, True)]
        if burn / (base + 1) < 0.8 * fs * budget:  # the 6h pair stays below its factor
            checks.append((reset_at, False))
        out.append(Scenario(
            "100% errors page; the page stops within the short window once errors stop", base,
            (Variant("fast", ((burn, 1 / budget), (reset_at - burn + step, 0.0)), tuple(checks)),)))
        rate = round((fq + fs) / 2, 6)
        detect = fs * _minutes_of(slow.long) / rate
        out.append(Scenario(
            f"burn {format_number(rate)}x pages through the {slow.long}/{slow.short} pair", base,
            (Variant("slow", ((up(detect * 1.15) + step, rate),),
                     ((down(detect * 0.8), False), (up(detect * 1.15), True))),)))
    else:
        base = _minutes_of(slow.long)  # 3d of clean data
        rate = round((fq + fs) / 2, 6)
        detect = fs * _minutes_of(slow.long) / rate
        out.append(Scenario(
            f"slow burn {format_number(rate)}x opens a ticket through the {slow.long}/{slow.short} "
            "pair", base,
            (Variant("slow", ((up(detect * 1.15) + step, rate),),
                     ((down(detect * 0.8), False), (up(detect * 1.15), True))),)))
    for w, f in ((quick, fq), (slow, fs)):
        hold = up(_minutes_of(w.long) + 10)
        # The ticket's 3d pair is tested without a baseline: the burn alone fills the window.
        baseline = 0 if (tier == "ticket" and w is slow) else base
        out.append(Scenario(
            f"burn {under:g}x the {w.long}/{w.short} factor {format_number(f)} stays quiet, "
            f"{over:g}x fires", baseline,
            (Variant("under", ((hold + step, under * f),), ((hold, False),)),
             Variant("over", ((hold + step, over * f),), ((hold, True),)))))
    return out


def _error_ratios(slo: m.SLO, sc: Scenario, variant: Variant, step: int) -> list[float]:
    """Error ratio of every sample of a variant (one sample per ``step`` minutes)."""
    budget = error_budget(slo)
    out = [0.0] * (sc.baseline_min // step)
    for minutes, burn in variant.segments:
        out += [min(1.0, burn * budget)] * (minutes // step)
    return out


def _runs(values: list[float]) -> str:
    """promtool series notation of a value list, equal runs folded (``0.5x9``)."""
    return _counted_runs([(v, _count(g)) for v, g in groupby(values)])


def _count(items: Iterator[Any]) -> int:
    return len(list(items))  # in C: the runs are long (one value per step of a window)


def _counted_runs(runs: list[tuple[float, int]]) -> str:
    """:func:`_runs` of the list with each value repeated its count (adjacent equal values are
    folded into one run, as in the expanded list)."""
    parts = []
    i = 0
    while i < len(runs):
        first, n = runs[i]
        j = i + 1
        while j < len(runs) and runs[j][0] == first:
            n += runs[j][1]
            j += 1
        v = format_number(round(first, 9))
        parts.append(v if n == 1 else f"{v}x{n - 1}")
        i = j
    return " ".join(parts)


def _counter(increments: list[float], start: float = 1000) -> str:
    """A counter growing by ``increments[i]`` after sample ``i``, in promtool notation."""
    n = len(increments)
    values = [float(start)]
    for inc in increments[:-1]:
        values.append(values[-1] + inc)
    parts = []
    i = 0
    while i < n:
        v = format_number(round(values[i], 6))
        if i == n - 1:
            parts.append(v)
            break
        step = increments[i]
        k = 1
        while i + k < n - 1 and increments[i + k] == step:
            k += 1
        parts.append(f"{v}+{format_number(round(step, 6))}x{k}")
        i += k + 1
    return " ".join(parts)


def _bad_ratio_samples(ratios: list[float]) -> list[bool]:
    """0/1 samples whose share in any run of samples follows the ratio (Bresenham spacing)."""
    out, acc = [], 0.0
    for r in ratios:
        acc += r
        bad = acc >= 1 - 1e-9
        if bad:
            acc -= 1
        out.append(bad)
    return out


_CANDIDATES = ("500", "503", "5xx", "200", "0", "1", "x", "ok", "true", "false", "success",
               "failure", "failed", "error", "test")


def _matches(op: str, pattern: str, value: str) -> bool:
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    found = re.fullmatch(pattern, value) is not None
    return found if op == "=~" else not found


def _parse(raw: str) -> tuple[str, str]:
    for op in ("=~", "!=", "!~"):
        if raw.startswith(op):
            return op, raw[len(op):]
    return "=", raw


def _example(constraints: list[tuple[str, str]],
             negate: list[tuple[str, str]] | None = None) -> str:
    """A label value meeting every constraint and failing at least one of ``negate``."""
    candidates = [v for op, v in constraints if op == "="]
    for op, v in constraints:
        if op == "=~":
            first = v.split("|")[0]
            candidates += [first.replace(".", "0").replace("*", "").replace("+", ""), first]
    for value in [*candidates, *_CANDIDATES]:
        if all(_matches(op, v, value) for op, v in constraints) and (
                not negate or not all(_matches(op, v, value) for op, v in negate)):
            return value
    raise ValueError(f"no test label value for matchers {constraints} (negated {negate}); "
                     "use plain '=' matchers or write the test by hand")


def _series(instance: dict[str, str], sel: m.Selector, *extra: m.Selector,
            unless: m.Selector | None = None) -> str:
    """A test series that ``sel`` and ``extra`` select and, with ``unless``, that it does not."""
    constraints: dict[str, list[tuple[str, str]]] = {}
    for s in (sel, *extra):
        for label, raw in s.matchers.items():
            constraints.setdefault(label, []).append(_parse(raw))
    labels = dict(instance)
    for label, cons in constraints.items():
        labels[label] = _example(cons)
    if unless is not None:
        own = {label: _parse(raw) for label, raw in sel.matchers.items()}
        added = [(label, _parse(raw)) for label, raw in unless.matchers.items()
                 if own.get(label) != _parse(raw)]
        if not added:
            raise ValueError("the bad/good selector must add a matcher to the total selector")
        label, con = added[0]
        labels[label] = _example(constraints.get(label, []), [con])
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{sel.metric}{{{inner}}}"


def input_series(slo: m.SLO, ratios: list[float], step: int,
                 instance: dict[str, str]) -> list[dict[str, str]]:
    """promtool input series realising per-sample error ratios for one instance."""
    sli = slo.sli
    if isinstance(sli, m.GaugeRatioSLI):
        # round(1 - r, 9) once per run of equal ratios, not once per sample
        good = [(round(1 - r, 9), _count(g)) for r, g in groupby(ratios)]
        return [{"series": _series(instance, sli.good_ratio), "values": _counted_runs(good)}]
    if isinstance(sli, m.GaugeThresholdSLI):
        t = sli.threshold
        delta = max(1.0, abs(t))
        high, low = t + delta, t - delta
        bad_value, ok_value = (high, low) if sli.comparison in (">", ">=") else (low, high)
        values = [bad_value if bad else ok_value for bad in _bad_ratio_samples(ratios)]
        return [{"series": _series(instance, sli.gauge), "values": _runs(values)}]
    part = sli.bad if sli.bad is not None else sli.good
    assert part is not None
    share = ratios if sli.bad is not None else [1 - r for r in ratios]
    n = _EVENTS_PER_MIN * step
    if part.metric == sli.total.metric:
        return [
            {"series": _series(instance, sli.total, part),
             "values": _counter([n * x for x in share])},
            {"series": _series(instance, sli.total, unless=part),
             "values": _counter([n * (1 - x) for x in share])},
        ]
    return [
        {"series": _series(instance, sli.total), "values": _counter([n] * len(share))},
        {"series": _series(instance, part), "values": _counter([n * x for x in share])},
    ]


def _fill(template: str, labels: dict[str, str]) -> str:
    for k, v in labels.items():
        template = template.replace(f"{{{{ $labels.{k} }}}}", v)
    return template


def _instances(slo: m.SLO, variants: tuple[Variant, ...]) -> list[dict[str, str]] | None:
    """Instance labels per variant when they can share a test group, else None."""
    fixed: dict[str, str] = {}
    for sel in sli_selectors(slo):
        for label, raw in sel.matchers.items():
            op, value = _parse(raw)
            if label in slo.by and op == "=":
                fixed[label] = value
    free = [label for label in slo.by if label not in fixed]
    if len(variants) > 1 and not free:
        return None
    out = []
    for v in variants:
        labels = {label: "slo-test" for label in slo.by} | fixed
        if free and len(variants) > 1:
            labels[free[0]] = f"slo-test-{v.key}"
        out.append(labels)
    return out


# promtool_tests results by the identity of their arguments: crosscheck builds every SLO's tests
# to validate them and the slo_tests stage writes them, in the same process. The entry keeps
# the argument objects alive, so their ids are not reused while it exists; the cache is
# cleared when it grows (long-lived processes building many spec sets, e.g. the tests).
_TESTS_CACHE: dict[tuple[int, int, str, int], tuple[Any, ...]] = {}
_TESTS_CACHE_MAX = 20_000


def promtool_tests(d: m.Dashboard, slo: m.SLO, tier: str,
                   platform: m.Platform) -> dict[str, Any]:
    """A promtool test file for one SLO tier: every scenario of :func:`scenarios`.

    Computed once per (dashboard, SLO, tier, platform) objects; callers must not modify it.
    """
    key = (id(d), id(slo), tier, id(platform))
    hit = _TESTS_CACHE.get(key)
    if hit is not None and hit[0] is d and hit[1] is slo and hit[2] is platform:
        return hit[3]  # type: ignore[no-any-return]
    result = _promtool_tests(d, slo, tier, platform)
    if len(_TESTS_CACHE) >= _TESTS_CACHE_MAX:
        _TESTS_CACHE.clear()
    _TESTS_CACHE[key] = (d, slo, platform, result)
    return result


def _promtool_tests(d: m.Dashboard, slo: m.SLO, tier: str,
                    platform: m.Platform) -> dict[str, Any]:
    step = TEST_STEP_MIN[tier]
    name = cv.slo_alert_name(alert_stem(slo), tier)
    tests = []
    for sc in scenarios(slo, tier):
        shared = _instances(slo, sc.variants)
        groups = ([list(zip(sc.variants, shared, strict=True))] if shared is not None else
                  [[(v, _instances(slo, (v,))[0])] for v in sc.variants])  # type: ignore[index]
        for group in groups:
            series = []
            for v, inst in group:
                series += input_series(slo, _error_ratios(slo, sc, v, step), step, inst)
            times = sorted({minute for v, _ in group for minute, _ in v.checks})
            cases = []
            for minute in times:
                exp = []
                for v, inst in group:
                    if (minute, True) in v.checks:
                        labels = {**alert_labels(d, slo, tier), cv.LABEL_SLO: slo.name, **inst}
                        exp.append({
                            "exp_labels": dict(sorted(labels.items())),
                            "exp_annotations": {k: _fill(t, inst) for k, t in
                                                alert_annotations(d, slo, tier, platform).items()},
                        })
                cases.append({"eval_time": f"{sc.baseline_min + minute}m", "alertname": name,
                              "exp_alerts": exp})
            keys = "" if len(group) == len(sc.variants) else f" ({group[0][0].key})"
            tests.append({
                "name": f"{slo.name} {tier}: {sc.name}{keys}",
                "interval": f"{step}m",
                "input_series": series,
                "alert_rule_test": cases,
            })
    return {
        "rule_files": [f"../{d.uid}.rules.yaml"],
        "evaluation_interval": f"{step}m",
        "tests": tests,
    }
