"""Expansion of the library's parts in a parsed dashboard, before it is validated.

A ``- use: NAME`` item of ``panels`` or ``alerts`` becomes the template's body with its
``${args.x}`` replaced by the arguments (``with:``); the use's other fields replace the body's
fields of the same name (top-level fields only, each replaced whole: ``id``, ``title``,
``thresholds``...). Then ``${selectors.NAME}`` in strings and ``use:`` in ``matchers`` mappings are
replaced by the named selector. The expanded data is validated and cross-checked like a flat
dashboard; its ExpandedSourceMap places a problem in the template (its library file:line:col,
naming the use's place too), at the argument when the value came whole from one, else at the
dashboard's own field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlops_dash.errors import SpecError, format_place
from mlops_dash.spec.library import (
    ARG_RE,
    SECTIONS,
    SELECTOR_RE,
    Entry,
    Registry,
    promql_matchers,
    type_problem,
)
from mlops_dash.spec.messages import describe
from mlops_dash.spec.yamlsource import NON_TEXT, SourceMap

Path = tuple[str | int, ...]
USE_KEYS = ("use", "with")


@dataclass
class Instance:
    """One instantiated template: where its use and its template stand."""

    entry: Entry
    use_path: Path  # ("panels", 3)
    overrides: set[str]
    from_args: dict[Path, str] = field(default_factory=dict)  # body-relative path → argument


class ExpandedSourceMap(SourceMap):
    """The places of an expanded dashboard: its own file's, and its instances' templates'."""

    def __init__(self, base: SourceMap, instances: dict[Path, Instance]) -> None:
        super().__init__(base.file, {})
        self._base = base
        self.instances = instances

    @property
    def positions(self) -> dict[Path, tuple[int, int]]:
        return self._base.positions

    def _origin(self, path: Path) -> tuple[SourceMap, Path, str]:
        inst = self.instances.get(tuple(path[:2]))
        if inst is None:
            return self._base, path, ""
        rel = tuple(path[2:])
        if not rel or rel[0] in inst.overrides or rel[0] in USE_KEYS:
            return self._base, path, ""
        for n in range(len(rel), 0, -1):
            if (arg := inst.from_args.get(rel[:n])) is not None:
                return self._base, (*inst.use_path, "with", arg, *rel[n:]), ""
        where = format_place(self._base.file, *self._base.locate((*inst.use_path, "use")))
        from mlops_dash.spec.yamlsource import format_path

        note = (f" (in {inst.entry.noun} {inst.entry.name!r}, used at {where}: "
                f"{format_path(inst.use_path)})")
        return inst.entry.source, (*inst.entry.path, "body", *rel), note

    def error(self, path: Path, message: str) -> SpecError:
        smap, where, note = self._origin(path)
        return smap.error(where, message + note)

    def error_in_value(self, path: Path, message: str, value: str, offset: int | None
                       ) -> SpecError:
        smap, where, note = self._origin(path)
        return smap.error_in_value(where, message + note, value, offset)


def expand(data: dict[str, Any], smap: SourceMap, reg: Registry
           ) -> tuple[dict[str, Any] | None, SourceMap, list[SpecError]]:
    """A parsed dashboard with its uses and selectors expanded, its places, its problems;
    None instead of the data when it uses a template whose own problems are reported."""
    errors: list[SpecError] = []
    broken = False
    instances: dict[Path, Instance] = {}
    out = dict(data)
    for section, lib_section in SECTIONS.items():
        items = data.get(section)
        if not isinstance(items, list) or not any(
                isinstance(i, dict) and "use" in i for i in items):
            continue
        new = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and "use" in item:
                entry = reg.templates[lib_section].get(item["use"]) \
                    if isinstance(item["use"], str) else None
                if entry is not None and entry.broken:
                    broken = True
                    continue
                made = _instantiate(item, (section, i), reg.templates[lib_section], smap, errors)
                if made is None:
                    new.append(item)
                    continue
                new.append(made[0])
                instances[(section, i)] = made[1]
            else:
                new.append(item)
        out[section] = new
    result_map: SourceMap = ExpandedSourceMap(smap, instances) if instances else smap
    if broken:
        return None, result_map, errors
    if smap.may_contain("selectors.") or smap.may_contain("use:") and _mentions_selectors(out):
        out = _selectors(out, (), reg, result_map, errors)
    return out, result_map, errors


def _instantiate(item: dict[str, Any], path: Path, templates: dict[str, Entry], smap: SourceMap,
                 errors: list[SpecError]) -> tuple[dict[str, Any], Instance] | None:
    from mlops_dash.spec.loader import suggest_ref

    name = item["use"]
    noun = "panel template" if path[0] == "panels" else "alert template"
    if not isinstance(name, str) or name not in templates:
        errors.append(smap.error((*path, "use"), (
            f"unknown {noun} {name!r}{suggest_ref(str(name), sorted(templates))}"
            if templates else f"unknown {noun} {name!r}: no Library spec defines "
            f"{noun}s")))
        return None
    entry = templates[name]
    declared = {p.name: p for p in entry.template.params}
    args = item.get("with", {})
    if not isinstance(args, dict):
        errors.append(smap.error((*path, "with"), f"expected a mapping of arguments "
                                 f"(name: value), found {describe(args)}"))
        return None
    def tpl_place() -> str:  # only for messages: places cost a second reading of the file
        return format_place(entry.source.file, *entry.source.locate(entry.path))

    ok = True
    for key, value in args.items():
        if key not in declared:
            ok = False
            errors.append(smap.error((*path, "with", key), (
                f"unknown argument {key!r} of {noun} {name!r}"
                f"{suggest_ref(str(key), list(declared))}; the template is at {tpl_place()}")))
        elif problem := type_problem(declared[key].type, value):
            ok = False
            errors.append(smap.error((*path, "with", key), (
                f"argument {key!r} of {noun} {name!r} {problem} (defined at {tpl_place()})")))
    for req in entry.required():
        if req not in args:
            ok = False
            errors.append(smap.error((*path, "with") if "with" in item else (*path, "use"), (
                f"missing required argument {req!r} of {noun} {name!r} "
                f"(defined at {tpl_place()})")))
    if not ok:
        return None
    values = {p.name: p.default for p in entry.template.params if "default" in p.model_fields_set}
    values.update(args)
    inst = Instance(entry, path, {k for k in item if k not in USE_KEYS})
    body = _substitute(entry.template.body, (), values, inst.from_args)
    for key, value in item.items():
        if key not in USE_KEYS:
            body[key] = value  # parsed data: nothing later changes it in place
    return body, inst


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _substitute(node: Any, path: Path, values: dict[str, Any], origins: dict[Path, str]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, (*path, k), values, origins) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, (*path, i), values, origins) for i, v in enumerate(node)]
    if isinstance(node, str) and "${args." in node:
        whole = ARG_RE.fullmatch(node)
        if whole:
            origins[path] = whole.group(1)
            value = values[whole.group(1)]
            return list(value) if isinstance(value, list) else value
        return ARG_RE.sub(lambda mt: _text(values[mt.group(1)]), node)
    return node


def _no_selector(value: Any) -> bool:
    """A leaf _selectors returns as it is (decided in its container: no path built for it)."""
    t = type(value)
    return (t is str and "${selectors." not in value) or t in NON_TEXT


def _mentions_selectors(data: dict[str, Any]) -> bool:
    """Whether a dashboard may name a selector (a quick look at its text, before the walk)."""
    text = json.dumps(data, default=str)
    return "${selectors." in text or '"use":' in text


def _selectors(node: Any, path: Path, reg: Registry, smap: SourceMap,
               errors: list[SpecError]) -> Any:
    def unknown(name: Any, where: Path) -> None:
        from mlops_dash.spec.loader import suggest_ref

        names = sorted(reg.selectors)
        hint = suggest_ref(str(name), names) if names else ": no Library spec defines selectors"
        errors.append(smap.error(where, f"unknown selector {name!r}{hint}"))

    if isinstance(node, dict):
        out: dict[str, Any] = {}
        if path and path[-1] == "matchers" and "use" in node:
            used = node["use"] if isinstance(node["use"], list) else [node["use"]]
            for j, name in enumerate(used):
                where = (*path, "use", j) if isinstance(node["use"], list) else (*path, "use")
                if not isinstance(name, str) or name not in reg.selectors:
                    unknown(name, where)
                    continue
                out.update(reg.selectors[name][0])
        for k, v in node.items():
            if not (k == "use" and path and path[-1] == "matchers"):
                out.pop(k, None)
                out[k] = v if _no_selector(v) else _selectors(v, (*path, k), reg, smap, errors)
        return out
    if isinstance(node, list):
        return [v if _no_selector(v) else _selectors(v, (*path, i), reg, smap, errors)
                for i, v in enumerate(node)]
    if isinstance(node, str) and "${selectors." in node:
        for name in dict.fromkeys(SELECTOR_RE.findall(node)):
            if name not in reg.selectors:
                unknown(name, path)
        return SELECTOR_RE.sub(lambda mt: promql_matchers(reg.selectors[mt.group(1)][0])
                               if mt.group(1) in reg.selectors else mt.group(0), node)
    return node



def expand_links(links: list[Any], own: str, uids: Iterable[str]) -> list[Any]:
    """``links`` with each ``all_dashboards: true`` link replaced by links to every dashboard
    of ``uids`` (in that order: the order of the spec files) but ``own`` and those the list
    links on its own. The models keep the link as written, so places stay those of the file."""
    if not any(link.all_dashboards for link in links):
        return links
    from mlops_dash.spec.panels import Link

    listed = {link.dashboard for link in links}
    out: list[Any] = []
    for link in links:
        if link.all_dashboards:
            out.extend(Link(dashboard=u) for u in uids if u != own and u not in listed)
            listed.update(uids)
        else:
            out.append(link)
    return out
