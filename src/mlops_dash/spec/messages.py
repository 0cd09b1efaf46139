"""Readable, placed messages for pydantic validation errors (what was expected, what was
found, the nearest valid value, did-you-mean)."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecError
from mlops_dash.spec import models as m
from mlops_dash.spec.yamlsource import SourceMap


def _field_vocabulary() -> list[str]:
    names: set[str] = set()
    for obj in vars(m).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            for fname, finfo in obj.model_fields.items():
                names.add(finfo.alias or fname)
    return sorted(names)


FIELD_NAMES = _field_vocabulary()


def suggest(word: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, else an empty string."""
    import difflib  # only for a problem (and ~5 ms to import)

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def suggest_ref(word: str, candidates: list[str]) -> str:
    """For a reference to a name: the nearest name (a near miss, or one containing the word),
    else the names there are when few."""
    import difflib

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    containing = [c for c in candidates if word and (word in c or c in word)]
    if close or len(containing) == 1:
        return f" (did you mean {(close or containing)[0]!r}?)"
    if candidates and len(candidates) <= 12:
        return f" (there are: {', '.join(candidates)})"
    return ""


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[str | int, ...], bool]:
    """Map a pydantic ``loc`` onto the data, dropping union tags; tell if the leaf exists."""
    path: list[str | int] = []
    cur = data
    for i, part in enumerate(loc):
        if (isinstance(cur, dict) and i + 1 < len(loc) and isinstance(part, str)
                and cur.get("shape") == part):
            continue  # the tag of a discriminated union (``signal.shape``), not a data key
        if isinstance(cur, dict) and part in cur:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part in FIELD_NAMES:
            path.append(part)
            return tuple(path), False
        # else: a discriminator tag or validator name: not a data key
    return tuple(path), True


# What each name pattern means, in words, for messages (the regex alone helps nobody).
PATTERN_WORDS = {
    cv.UID_RE.pattern: "lowercase letters, digits and '-', starting and ending with a letter or "
                       "digit, at most 40 characters (it becomes a file name, a URL and a "
                       "Kubernetes name)",
    cv.PANEL_ID_RE.pattern: "lowercase letters, digits and '-', starting and ending with a letter "
                            "or digit, at most 64 characters (it becomes part of a URL)",
    cv.ALERT_NAME_RE.pattern: "CamelCase: a capital letter, then letters and digits, at most 40 "
                              "characters (it becomes a file name and a URL)",
    cv.RECORD_NAME_RE.pattern: "level:metric:operations, e.g. job:http_requests:rate5m",
    cv.LABEL_NAME_RE.pattern: "a Prometheus label name: letters, digits and '_', not starting "
                              "with a digit",
    cv.METRIC_NAME_RE.pattern: "a Prometheus metric name: letters, digits, '_' and ':', not "
                               "starting with a digit",
    m.DURATION_RE: "a Prometheus duration such as 30s, 5m, 1h or 7d (units from the largest "
                   "to the smallest, each at most once: 1h30m, not 30m1h)",
    cv.K8S_NAMESPACE_RE.pattern: "a Kubernetes namespace: lowercase letters, digits and '-', at "
                                 "most 63 characters",
    r"^https?://": "an http:// or https:// URL",
}


def nearest_valid(pattern: str, value: str) -> str | None:
    """A valid name close to ``value`` for the name patterns, or None."""
    if pattern in (cv.UID_RE.pattern, cv.PANEL_ID_RE.pattern, cv.K8S_NAMESPACE_RE.pattern):
        limit = 40 if pattern == cv.UID_RE.pattern else 63
        candidate = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:limit].strip("-")
    elif pattern == cv.ALERT_NAME_RE.pattern:
        words = re.split(r"[^A-Za-z0-9]+", value)
        candidate = "".join(w[:1].upper() + w[1:] for w in words if w)[:40]
        candidate = re.sub(r"^[0-9]+", "", candidate)
    elif pattern in (cv.LABEL_NAME_RE.pattern, cv.METRIC_NAME_RE.pattern):
        keep = "[^A-Za-z0-9_:]" if pattern == cv.METRIC_NAME_RE.pattern else "[^A-Za-z0-9_]"
        candidate = re.sub(keep, "_", value)
        candidate = "_" + candidate if candidate[:1].isdigit() else candidate
    else:
        return None
    return candidate if candidate and candidate != value and re.match(pattern, candidate) else None


def describe(value: Any) -> str:
    """A value in words, for messages."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return f"a {type(value).__name__}"


def _number_hint(got: Any) -> str:
    """How to write a number given as text (``"0.02"``, ``"2%"``)."""
    if not isinstance(got, str):
        return ""
    text = got.strip()
    if text.endswith("%"):
        try:
            ratio = float(text[:-1]) / 100
        except ValueError:
            return ""
        return (f"; write a ratio without '%': {ratio:g} with unit percentunit (or "
                f"{text[:-1].strip()} with unit percent)")
    try:
        float(text)
    except ValueError:
        return ""
    return f"; write it without quotes: {text}"


def _strip(t: Any) -> Any:
    """``Annotated[X, ...]`` → X; ``X | None`` → X."""
    while True:
        origin = typing.get_origin(t)
        if origin is typing.Annotated:
            t = typing.get_args(t)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(t) if a is not type(None)]
            if len(members) != 1:
                return t
            t = members[0]
        else:
            return t


def fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the model a pydantic ``loc`` points into (for scoped did-you-mean)."""
    t: Any = root
    for part in loc:
        t = _strip(t)
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            by_name = {(f.alias or n): f for n, f in t.model_fields.items()}
            by_name.update(t.model_fields)
            if part not in by_name:
                return None
            t = by_name[part].annotation
        elif origin is list and isinstance(part, int):
            t = typing.get_args(t)[0]
        elif origin is dict and isinstance(part, str):
            t = typing.get_args(t)[1]
        elif origin in (typing.Union, types.UnionType) and isinstance(part, str):
            tagged = [a for a in typing.get_args(t) if isinstance(a, type)
                      and issubclass(a, BaseModel) and "shape" in a.model_fields
                      and part in typing.get_args(a.model_fields["shape"].annotation)]
            if not tagged:
                return None
            t = tagged[0]
        else:
            return None
    t = _strip(t)
    if isinstance(t, type) and issubclass(t, BaseModel):
        return [f.alias or n for n, f in t.model_fields.items()]
    return None


def _message(err: Any, path: tuple[str | int, ...],
             root: type[BaseModel] | None = None) -> tuple[str, tuple[str | int, ...]]:
    """A readable message (what was expected, what was found, the nearest valid value)."""
    etype = err["type"]
    msg = err["msg"]
    ctx = err.get("ctx", {})
    got = err.get("input")
    if etype == "extra_forbidden":
        key = str(path[-1]) if path else ""
        scoped = fields_at(root, tuple(err["loc"])[:-1]) if root is not None else None
        hint = suggest(key, scoped) if scoped else suggest(key, FIELD_NAMES)
        if scoped and not hint:
            hint = f" (fields here: {', '.join(sorted(scoped))})" if len(scoped) <= 12 else ""
        return f"unknown field {key!r}{hint}", path
    if etype == "missing":
        field_name = str(path[-1]) if path else ""
        return f"required field {field_name!r} is missing", path
    if etype == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip(" '") for o in str(expected).replace(" or ", ",").split(",")]
        hint = suggest(str(got), options) if isinstance(got, str) else ""
        if not hint and isinstance(got, str) and got[::-1] in options:
            hint = f" (did you mean {got[::-1]!r}?)"
        return f"{got!r} is not allowed; expected {expected}{hint}", path
    if etype == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        return (f"unknown shape {ctx.get('tag')!r}; expected one of {', '.join(tags)}"
                f"{suggest(str(ctx.get('tag')), tags)}", path + ("shape",))
    if etype == "union_tag_not_found":
        return "missing `shape`; say which kind of signal this is", path
    if etype == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        words = PATTERN_WORDS.get(pattern, f"the pattern {pattern}")
        fix = nearest_valid(pattern, got) if isinstance(got, str) else None
        return (f"{got!r} is not valid; expected {words}"
                + (f" (did you mean {fix!r}?)" if fix else "")), path
    if etype in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping (key: value lines), found {describe(got)}", path
    if etype == "list_type":
        hint = f"; write [{got}] for a single item" if isinstance(got, str | int | float) else ""
        return f"expected a list, found {describe(got)}{hint}", path
    if etype == "string_type":
        hint = ""
        if isinstance(got, bool):
            hint = "; YAML reads yes/no/on/off/true/false as booleans, so quote the value"
        elif isinstance(got, int | float):
            hint = "; quote it to keep it text"
        return f"expected a string, found {describe(got)}{hint}", path
    if etype in ("float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        what = "a whole number" if etype.startswith("int") else "a number"
        return f"expected {what}, found {describe(got)}{_number_hint(got)}", path
    if etype == "finite_number":
        return (f"expected a finite number, found {describe(got)}; JSON, Grafana and promtool "
                "cannot take NaN or infinity"), path
    if etype in ("bool_type", "bool_parsing"):
        return f"expected true or false, found {describe(got)}", path
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):], path
    bounded = _bound_message(etype, ctx, got)
    if bounded is not None:
        if etype == "too_short" and path and path[-1] in _EMPTY_HINTS and not got:
            bounded = _EMPTY_HINTS[str(path[-1])]
        return bounded, path
    if msg.startswith("Input should be "):  # pydantic's wording, in ours
        msg = "expected " + msg[len("Input should be "):]
    if got is not None and not isinstance(got, dict | list):
        msg = f"{msg}, found {describe(got)}"
    return msg, path


_EMPTY_HINTS = {
    "metrics": "the catalogue lists no series; list those the dashboards query (Prometheus' "
               "own up, scrape_duration_seconds... are known without it; `mlops-dash init` "
               "writes a starting catalogue)",
}


def _bound_message(etype: str, ctx: dict[str, Any], got: Any) -> str | None:
    """Length and range errors (pydantic's ``too_short``, ``greater_than``...) in our words."""
    if etype in ("too_short", "too_long"):
        n = ctx.get("min_length" if etype == "too_short" else "max_length")
        count = len(got) if isinstance(got, list | dict) else ctx.get("actual_length")
        what = "at least" if etype == "too_short" else "at most"
        items = "item" if n == 1 else "items"
        if etype == "too_short" and count == 0:
            return f"expected a list of {what} {n} {items}, found an empty list"
        return f"expected {what} {n} {items}, found {count}"
    if etype in ("string_too_short", "string_too_long"):
        n = ctx.get("min_length" if etype == "string_too_short" else "max_length")
        if etype == "string_too_short" and got == "":
            return "expected a non-empty string, found an empty one"
        what = "at least" if etype == "string_too_short" else "at most"
        return f"expected a string of {what} {n} characters, found {len(str(got))}"
    words = {"greater_than": ("gt", "above"), "greater_than_equal": ("ge", "at least"),
             "less_than": ("lt", "below"), "less_than_equal": ("le", "at most")}
    if etype in words:
        key, word = words[etype]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # 1, not 1.0
        return f"expected a number {word} {bound}, found {describe(got)}"
    return None


def _one_error_per_typo(errs: list[Any]) -> list[Any]:
    """A misspelt required field is one mistake: drop "required field X is missing" when an
    unknown key beside it is a near miss of X (that error then says "did you mean X")."""
    import difflib

    unknown = {(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errs
               if e["type"] == "extra_forbidden" and e["loc"]}
    out = []
    for e in errs:
        if e["type"] == "missing" and e["loc"]:
            parent, name = tuple(e["loc"][:-1]), str(e["loc"][-1])
            near = [key for where, key in unknown if where == parent
                    and difflib.get_close_matches(key, [name], n=1, cutoff=0.75)]
            if near:
                continue
        out.append(e)
    return out


def _convert(exc: ValidationError, data: Any, smap: SourceMap,
             root: type[BaseModel] | None = None) -> list[SpecError]:
    errors = []
    for err in _one_error_per_typo(exc.errors()):
        path, _ = _data_path(data, tuple(err["loc"]))
        msg, path = _message(err, path, root)
        errors.append(smap.error(path, msg))
    return errors
