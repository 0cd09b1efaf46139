"""Spec parameters: ``${section.name}`` references in any spec string, resolved at load.

The platform spec declares the parameters, in two sections: ``namespaces`` (each entry a
namespace or a list of them) and ``parameters`` (typed values: string, number, duration, list,
bool; referenced as ``${params.<name>}``); an Environment file may give both other values. Names
starting with ``__`` are Grafana's own (``${__field.x}``) and references without a dot
(``${threshold}``, ``${model}``) are alert placeholders or Grafana variables: both are left alone.

A list value is a regex alternation (``a|b``). Where a reference is the whole value of a PromQL
equality matcher (``namespace="${namespaces.pipelines}"``) or of a spec matcher
(``namespace: "${namespaces.pipelines}"``), a list turns the matcher into ``=~`` (``!=`` into
``!~``); a single value keeps ``=``. In a variable's ``default`` (one selected value) a list gives
its first entry. Where a typed parameter is the whole value (``threshold: "${params.p95_ms}"``)
the typed value replaces the string (a number stays a number, a list a list), so the field
validates it as its own; inside text a number reads as written (``300``, ``0.05``), a bool as
``true``/``false``. Unknown references are placed errors naming the use and the declared names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlops_dash.errors import SpecError
from mlops_dash.spec.yamlsource import NON_TEXT, SourceMap

REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)+)\}")
# a whole PromQL equality matcher value: label="${ref}" or label!="${ref}"
_MATCHER_RE = re.compile(
    r"(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>!=|=)(?!~)\s*\"\$\{(?P<ref>[^}]+)\}\"")
SECTIONS = ("namespaces", "params")
TYPED = "params"
# the platform's own declarations are not resolved (a value cannot reference another)
DECLARATIONS = (("namespaces",), ("parameters",))

Value = str | list[str] | bool | int | float
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Declared:
    """What ``declared`` found: the values by ``section.name``, their types (``namespace`` for
    namespaces) and where each is declared (``file:line:col``, or "" for a default)."""

    values: dict[str, Value] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    places: dict[str, Path] = field(default_factory=dict)
    invalid: frozenset[str] = frozenset()  # declared with a bad value (reported by validation)
    source: SourceMap | None = None  # of the platform spec (places are found when needed)
    # text → resolved text, per context (_resolve_string): spec sets repeat their queries
    resolved: dict[tuple[str, bool, bool], str] = field(default_factory=dict, repr=False,
                                                        compare=False)

    def __contains__(self, ref: object) -> bool:
        return ref in self.values

    def __getitem__(self, ref: str) -> Value:
        return self.values[ref]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def describe(self, ref: str) -> str:
        """``a number parameter declared at specs/platform.yaml:20:5``."""
        path = self.places.get(ref)
        where = self.source.where(path) if self.source is not None and path else ""
        return f"a {self.types.get(ref, 'string')} parameter" + (
            f" declared at {where}" if where else "")


def declared(platform_data: dict[str, Any], defaults: dict[str, Value],
             smap: SourceMap | None = None) -> Declared:
    """The parameters of a parsed platform spec: its namespaces merged over the defaults, and
    its typed ``parameters``. Values of the wrong shape are left out (and marked invalid, so
    their uses are not reported again): the platform's own validation reports them."""
    from mlops_dash.spec.envmodels import value_error

    out = Declared()
    invalid: set[str] = set()

    raw = platform_data.get("namespaces")
    merged: dict[str, Any] = {**defaults, **(raw if isinstance(raw, dict) else {})}
    for name, value in merged.items():
        ref = f"namespaces.{name}"
        if isinstance(value, str) or (isinstance(value, list) and value
                                      and all(isinstance(v, str) for v in value)):
            out.values[ref] = value
            out.types[ref] = "namespace"
            if isinstance(raw, dict) and name in raw:
                out.places[ref] = ("namespaces", name)
        else:
            invalid.add(ref)
    typed = platform_data.get("parameters")
    for name, spec in (typed.items() if isinstance(typed, dict) else ()):
        ref = f"{TYPED}.{name}"
        ptype = spec.get("type") if isinstance(spec, dict) else None
        value = spec.get("value") if isinstance(spec, dict) else None
        if not isinstance(ptype, str) or value_error(ptype, value) is not None:
            invalid.add(ref)
            continue
        out.values[ref] = value
        out.types[ref] = ptype
        out.places[ref] = ("parameters", name, "value")
    return Declared(out.values, out.types, out.places, frozenset(invalid), smap)


def alternation(value: Value) -> str:
    """A parameter as text: a list as a regex alternation, a number as written, a bool as
    true/false."""
    if isinstance(value, list):
        return "|".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve(data: Any, smap: SourceMap, params: Declared | dict[str, Value],
            skip: Path | tuple[Path, ...] = (),
            used: dict[Path, str] | None = None) -> tuple[Any, list[SpecError]]:
    """``data`` with every reference resolved, and the problems found (placed). ``skip``: a
    path (or paths) left as written; ``used``, when given, gets path → reference of every value
    that is a whole typed reference (so a validation error there can name the parameter)."""
    if not isinstance(params, Declared):
        params = Declared(dict(params))
    errors: list[SpecError] = []
    skips: tuple[Path, ...] = (skip,) if skip and not isinstance(skip[0], tuple) else skip  # type: ignore[assignment]

    def reference(node: str, path: Path) -> Any:
        """A string holding ``${``, resolved."""
        whole = REF_RE.fullmatch(node)
        if whole and whole.group(1) in params.invalid and used is not None:
            used[path] = whole.group(1)  # its declaration's error is the one to report
        if (whole and whole.group(1).startswith(TYPED + ".") and whole.group(1) in params
                and not _text_context(path)):
            if used is not None:
                used[path] = whole.group(1)
            return params[whole.group(1)]
        return _resolve_string(node, path, smap, params, errors)

    def walk(node: Any, path: Path) -> Any:
        if skips and any(s and path[:len(s)] == s for s in skips):
            return node
        # leaves walk would return as they are (text without a reference, numbers, bools,
        # nulls) are decided in their container's loop: no path is built for them. A
        # container is copied only when something in it changes (the parsed data is only
        # read afterwards; most of a spec holds no reference)
        if isinstance(node, (dict, list)):
            changed: Any = None
            for k, v in (node.items() if isinstance(node, dict) else enumerate(node)):
                if (type(v) is str and "${" not in v) or type(v) in NON_TEXT:
                    continue
                new = walk(v, (*path, k))
                if new is not v:
                    if changed is None:
                        changed = dict(node) if isinstance(node, dict) else list(node)
                    changed[k] = new
            return node if changed is None else changed
        if isinstance(node, str) and "${" in node:
            return reference(node, path)
        return node

    return walk(data, ()), errors




def _known(ref: str) -> bool:
    return ref.split(".", 1)[0] in SECTIONS


def _text_context(path: Path) -> bool:
    """Where a whole reference stays text: matchers and variable defaults (list semantics)."""
    in_matchers = len(path) >= 2 and path[-2] == "matchers"
    is_default = len(path) >= 3 and path[-3] == "variables" and path[-1] == "default"
    return in_matchers or is_default


def _resolve_string(text: str, path: Path, smap: SourceMap, params: Declared,
                    errors: list[SpecError]) -> str:
    """``text`` with its references resolved at ``path`` (the path decides the matcher and
    default rules, and places the errors); a text resolved before without error in the same
    context is looked up."""
    in_matchers = len(path) >= 2 and path[-2] == "matchers"
    is_default = len(path) >= 3 and path[-3] == "variables" and path[-1] == "default"
    key = (text, in_matchers, is_default)
    done = params.resolved.get(key)
    if done is not None:
        return done
    found = len(errors)
    out = _resolve_new_string(text, path, smap, params, errors, in_matchers, is_default)
    if len(errors) == found:
        params.resolved[key] = out
    return out


def _resolve_new_string(text: str, path: Path, smap: SourceMap, params: Declared,
                        errors: list[SpecError], in_matchers: bool, is_default: bool) -> str:
    refs = [r for r in REF_RE.findall(text) if not r.startswith("__")]
    bad = [r for r in refs if r not in params and r not in params.invalid]
    if bad:
        for r in dict.fromkeys(bad):
            errors.append(smap.error(path, _unknown_message(r, path, params)))
        return text
    if not refs or any(r in params.invalid for r in refs):
        return text  # an invalid declaration is reported by the platform's validation
    whole = REF_RE.fullmatch(text)
    if whole and is_default:
        value = params[whole.group(1)]
        return value[0] if isinstance(value, list) else alternation(value)
    if whole and in_matchers:
        value = params[whole.group(1)]
        return "=~" + alternation(value) if isinstance(value, list) else alternation(value)
    if in_matchers and text.startswith("!=") and REF_RE.fullmatch(text[2:]):
        value = params[text[4:-1]]
        return ("!~" if isinstance(value, list) else "!=") + alternation(value)

    def matcher(mt: re.Match[str]) -> str:
        ref = mt.group("ref")
        if ref not in params:
            return mt.group(0)
        value = params[ref]
        if not isinstance(value, list):
            return f'{mt.group("label")}{mt.group("op")}"{alternation(value)}"'
        op = "=~" if mt.group("op") == "=" else "!~"
        return f'{mt.group("label")}{op}"{alternation(value)}"'

    text = _MATCHER_RE.sub(matcher, text)
    return REF_RE.sub(lambda mt: alternation(params[mt.group(1)])
                      if mt.group(1) in params else mt.group(0), text)


def _unknown_message(ref: str, path: Path, params: Declared) -> str:
    """``unknown parameter ${x.y} (did you mean …?); declared parameters: …`` (the place names
    the use)."""
    import difflib  # only for a problem

    names = sorted(params)
    close = difflib.get_close_matches(ref, names, n=1, cutoff=0.7)
    hint = f" (did you mean ${{{close[0]}}}?)" if close else ""
    section = ref.split(".", 1)[0]
    what = "parameter" if _known(ref) else f"parameter (no section {section!r})"
    return (f"unknown {what} ${{{ref}}}{hint}; declared parameters: "
            + ", ".join(f"${{{n}}}" for n in names))
