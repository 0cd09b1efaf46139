"""What every spec model shares: the strict base model, Prometheus durations, finite numbers."""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from mlops_dash.gotemplate import template_error

# Prometheus' duration grammar (prometheus/common model/time.go, ParseDuration): "0", or
# numbers with units from the largest to the smallest, each unit at most once ("5m1h" and
# "1m1m" are refused), the whole at most 2^63-1 nanoseconds. The pattern says the shape (and
# is what the JSON Schema shows editors); the validator adds emptiness and range.
DURATION_RE = (r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?"
               r"([0-9]+ms)?)$")
_PART = re.compile(r"([0-9]+)(ms|y|w|d|h|m|s)")
_NANOS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9,
          "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}
MAX_NANOS = 2**63 - 1  # Go's time.Duration


@functools.lru_cache(maxsize=4096)  # specs repeat a handful of durations thousands of times
def duration_error(value: str) -> str | None:
    """Why Prometheus refuses ``value`` as a duration, or None when it parses."""
    if not re.match(DURATION_RE, value) or value == "":
        return f"{value!r} is not valid; expected a Prometheus duration such as 30s, 5m, 1h or " \
               "7d (units from largest to smallest, each at most once: 1h5m, not 5m1h)"
    if value != "0" and sum(int(n) * _NANOS[u] for n, u in _PART.findall(value)) > MAX_NANOS:
        return f"{value!r} is out of range: Prometheus durations are at most about 292 years"
    return None


def _valid_duration(value: str) -> str:
    problem = duration_error(value)
    if problem:
        raise ValueError(problem)
    return value


def _positive_duration(value: str) -> str:
    if duration_seconds(value) == 0:
        raise ValueError(f"{value!r}: must be longer than 0 (Prometheus and Alertmanager refuse "
                         "a zero range, step or interval)")
    return value


Duration = Annotated[
    str, Field(pattern=DURATION_RE, description="Prometheus duration, e.g. 30s, 5m, 1h, 7d"),
    AfterValidator(_valid_duration),
]
PositiveDuration = Annotated[
    str, Field(pattern=DURATION_RE, description="Prometheus duration above 0, e.g. 30s, 5m, 1h"),
    AfterValidator(_valid_duration), AfterValidator(_positive_duration),
]


@functools.lru_cache(maxsize=4096)
def duration_seconds(value: str) -> float:
    """Seconds in a Prometheus duration string."""
    return sum(int(n) * _NANOS[u] for n, u in _PART.findall(value)) / 1e9


def _whole_seconds(value: str) -> str:
    if duration_seconds(value) < 1 or not duration_seconds(value).is_integer():
        raise ValueError(f"{value!r}: an evaluation interval is a whole number of seconds, at "
                         "least 1s")
    return value


RuleInterval = Annotated[PositiveDuration, AfterValidator(_whole_seconds)]


def _valid_template(text: str) -> str:
    problem = _template_problem(text)
    if problem:
        raise ValueError(problem)
    return text


@functools.lru_cache(maxsize=4096)  # spec sets repeat their alert text (templates, copies)
def _template_problem(text: str) -> str | None:
    problem = template_error(text)
    if problem is None:
        return None
    return (f"invalid template: {problem} (at character {problem.offset + 1}); Prometheus "
            "reads alert text as a Go template, and promtool refuses this one")


AlertText = Annotated[str, AfterValidator(_valid_template)]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@functools.lru_cache(maxsize=4096)  # the same selector values recur in every panel
def matcher_error(raw: str) -> str | None:
    """Why a Selector matcher value (``v``, ``=~re``, ``!=v``, ``!~re``) cannot be rendered."""
    if found := _CONTROL.search(raw):
        return (f"the value holds the control character {found.group()!r} at character "
                f"{found.start() + 1}; label values are single-line text")
    if not raw.startswith(("=~", "!~")):
        return None
    import promql_parser

    escaped = raw[2:].replace("\\", "\\\\").replace('"', '\\"')
    try:
        promql_parser.parse(f'x{{l{raw[:2]}"{escaped}"}}')
    except Exception as exc:  # the parser raises plain exceptions with a message
        return f"invalid regular expression {raw[2:]!r} ({str(exc).strip()})"
    return None


def _valid_matcher(raw: str) -> str:
    problem = matcher_error(raw)
    if problem:
        raise ValueError(problem)
    return raw


Matcher = Annotated[str, AfterValidator(_valid_matcher)]


# YAML 1.2 reads 1e-3 as a number; PyYAML (YAML 1.1) only with a dot (1.0e-3), so a plain
# exponent arrives as text. Those are numbers; any other text ("0.02" quoted, "2%") is refused.
_EXPONENT = re.compile(r"^[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+$")


def _yaml12_number(value: object) -> object:
    if isinstance(value, str) and _EXPONENT.match(value):
        return float(value)
    return value


Number = Annotated[float, BeforeValidator(_yaml12_number)]


class Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, models are immutable, numbers are
    numbers (``"0.02"`` is refused, not read as 0.02) and finite (no NaN or infinity, which
    JSON, Grafana and promtool cannot take)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False, strict=True)
