"""Spec parameters: ``${section.name}`` references in any spec string, resolved at load.

The platform spec declares the parameters; today one section, ``namespaces`` (each entry a
namespace or a list of them). A reference is ``${section.name}``: the section names where the
value is declared, so a later section (typed parameters, per-environment values) adds a prefix
without changing the syntax. Names starting with ``__`` are Grafana's own (``${__field.x}``) and
references without a dot (``${threshold}``, ``${model}``) are alert placeholders or Grafana
variables: both are left alone.

A list value is a regex alternation (``a|b``). Where a reference is the whole value of a PromQL
equality matcher (``namespace="${namespaces.pipelines}"``) or of a spec matcher
(``namespace: "${namespaces.pipelines}"``), a list turns the matcher into ``=~`` (``!=`` into
``!~``); a single value keeps ``=``. In a variable's ``default`` (one selected value) a list gives
its first entry. Unknown references are placed errors naming the use and the declared names.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from mlops_dash.errors import SpecError
from mlops_dash.spec.yamlsource import SourceMap

REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)+)\}")
# a whole PromQL equality matcher value: label="${ref}" or label!="${ref}"
_MATCHER_RE = re.compile(
    r"(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>!=|=)(?!~)\s*\"\$\{(?P<ref>[^}]+)\}\"")
SECTIONS = ("namespaces",)

Value = str | list[str]
Path = tuple[str | int, ...]


def declared(platform_data: dict[str, Any], defaults: dict[str, Value]) -> dict[str, Value]:
    """``section.name`` → value, from a parsed platform spec (its namespaces merged over the
    defaults). Values that are not strings or lists of strings are skipped: the platform's own
    validation reports them."""
    out: dict[str, Value] = {}
    raw = platform_data.get("namespaces")
    merged: dict[str, Any] = {**defaults, **(raw if isinstance(raw, dict) else {})}
    for name, value in merged.items():
        if isinstance(value, str) or (isinstance(value, list) and value
                                      and all(isinstance(v, str) for v in value)):
            out[f"namespaces.{name}"] = value
    return out


def alternation(value: Value) -> str:
    """A parameter as a regex alternation (a single value as itself)."""
    return value if isinstance(value, str) else "|".join(value)


def resolve(data: Any, smap: SourceMap, params: dict[str, Value],
            skip: Path = ()) -> tuple[Any, list[SpecError]]:
    """``data`` with every reference resolved, and the problems found (placed)."""
    errors: list[SpecError] = []

    def walk(node: Any, path: Path) -> Any:
        if skip and path[:len(skip)] == skip:
            return node
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, str) and "${" in node:
            return _resolve_string(node, path, smap, params, errors)
        return node

    return walk(data, ()), errors


def _known(ref: str) -> bool:
    return ref.split(".", 1)[0] in SECTIONS


def _resolve_string(text: str, path: Path, smap: SourceMap, params: dict[str, Value],
                    errors: list[SpecError]) -> str:
    refs = [r for r in REF_RE.findall(text) if not r.startswith("__")]
    bad = [r for r in refs if r not in params]
    if bad:
        for r in dict.fromkeys(bad):
            errors.append(smap.error(path, _unknown_message(r, path, params)))
        return text
    if not refs:
        return text
    in_matchers = len(path) >= 2 and path[-2] == "matchers"
    is_default = len(path) >= 3 and path[-3] == "variables" and path[-1] == "default"
    whole = REF_RE.fullmatch(text)
    if whole and is_default:
        value = params[whole.group(1)]
        return value if isinstance(value, str) else value[0]
    if whole and in_matchers:
        value = params[whole.group(1)]
        return value if isinstance(value, str) else "=~" + alternation(value)
    if in_matchers and text.startswith("!=") and REF_RE.fullmatch(text[2:]):
        value = params[text[4:-1]]
        return "!=" + value if isinstance(value, str) else "!~" + alternation(value)

    def matcher(mt: re.Match[str]) -> str:
        ref = mt.group("ref")
        if ref not in params:
            return mt.group(0)
        value = params[ref]
        if isinstance(value, str):
            return f'{mt.group("label")}{mt.group("op")}"{value}"'
        op = "=~" if mt.group("op") == "=" else "!~"
        return f'{mt.group("label")}{op}"{alternation(value)}"'

    text = _MATCHER_RE.sub(matcher, text)
    return REF_RE.sub(lambda mt: alternation(params[mt.group(1)])
                      if mt.group(1) in params else mt.group(0), text)


def _unknown_message(ref: str, path: Path, params: dict[str, Value]) -> str:
    """``unknown parameter ${x.y} (did you mean …?); declared parameters: …`` (the place names
    the use)."""
    names = sorted(params)
    close = difflib.get_close_matches(ref, names, n=1, cutoff=0.7)
    hint = f" (did you mean ${{{close[0]}}}?)" if close else ""
    section = ref.split(".", 1)[0]
    what = "parameter" if _known(ref) else f"parameter (no section {section!r})"
    return (f"unknown {what} ${{{ref}}}{hint}; declared parameters: "
            + ", ".join(f"${{{n}}}" for n in names))
