"""``kind: Library``: reusable parts of dashboards, defined once and used by name.

- ``selectors``: named label matchers (the spec matcher syntax: ``"v"`` is ``=``, ``"=~re"``,
  ``"!=v"``, ``"!~re"``). A signal's ``matchers`` takes ``use: NAME`` (or a list of names) beside
  its own matchers; any spec string takes ``${selectors.NAME}``, replaced by the PromQL matcher
  list (``reporter="destination", namespace="x"``) to write inside ``{...}``.
- ``panel_templates`` and ``alert_templates``: a ``body`` (any fields of a panel or an alert)
  with declared ``params``; ``${args.NAME}`` in the body's strings is replaced by the argument.
  A dashboard instantiates one with ``- use: NAME`` and ``with: {NAME: value}``; the other fields
  of the use replace the body's fields of the same name (see spec/expand.py).

The body is checked only once instantiated (the panel or alert models check the result), so a
template may leave out fields every use gives (``id``, ``title``, ``name``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from mlops_dash.errors import SpecError
from mlops_dash.spec.base import Matcher, Strict
from mlops_dash.spec.fields import LabelName
from mlops_dash.spec.messages import describe
from mlops_dash.spec.yamlsource import SourceMap

ARG_RE = re.compile(r"\$\{args\.([A-Za-z0-9_-]+)\}")
SELECTOR_RE = re.compile(r"\$\{selectors\.([A-Za-z0-9_-]+)\}")
TemplateName = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")

ParamType = Literal["string", "number", "integer", "boolean", "list"]


class TemplateParam(Strict):
    """One declared argument of a template; without ``default`` it is required."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: ParamType = "string"
    default: str | float | int | bool | list[str] | None = Field(
        default=None, description="value when the use gives none; without it the argument is "
        "required")
    description: str = ""


class Template(Strict):
    """A panel or alert defined once: ``body`` with ``${args.NAME}`` for each of ``params``."""

    description: str = ""
    params: list[TemplateParam] = Field(default_factory=list)
    body: dict[str, Any] = Field(
        description="fields of a panel (panel_templates) or an alert (alert_templates)")


class Library(Strict):
    """``kind: Library``: named selectors and panel/alert templates for the dashboards."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["Library"]
    selectors: dict[str, dict[LabelName, Matcher]] = Field(
        default_factory=dict, description="name → label matchers, used as `use: NAME` in a "
        "signal's matchers or ${selectors.NAME} in a query")
    panel_templates: dict[str, Template] = Field(default_factory=dict)
    alert_templates: dict[str, Template] = Field(default_factory=dict)


SECTIONS = {"panels": "panel_templates", "alerts": "alert_templates"}
NOUN = {"panel_templates": "panel template", "alert_templates": "alert template"}


@dataclass
class Entry:
    """One template with where it is written."""

    name: str
    section: str  # panel_templates | alert_templates
    template: Template
    source: SourceMap
    path: tuple[str | int, ...]  # of the template in its file
    broken: bool = False  # its own problems are reported: uses of it are not expanded

    @property
    def noun(self) -> str:
        return NOUN[self.section]

    def required(self) -> list[str]:
        return [p.name for p in self.template.params if "default" not in p.model_fields_set]


@dataclass
class Registry:
    """Every library's selectors and templates (names unique across libraries)."""

    selectors: dict[str, tuple[dict[str, str], SourceMap, tuple[str | int, ...]]]
    templates: dict[str, dict[str, Entry]]  # section → name → entry

    @classmethod
    def empty(cls) -> Registry:
        return cls({}, {s: {} for s in NOUN})


def registry(docs: list[tuple[Library, SourceMap]]) -> tuple[Registry, list[SpecError]]:
    """The registry of the libraries, and the problems in them (duplicate names, template
    bodies using undeclared arguments, defaults of the wrong type)."""
    reg = Registry.empty()
    errors: list[SpecError] = []
    for lib, smap in docs:
        for name, matchers in lib.selectors.items():
            if name in reg.selectors:
                errors.append(smap.error(("selectors", name), _twice("selector", name,
                                                                     reg.selectors[name][1])))
                continue
            reg.selectors[name] = (matchers, smap, ("selectors", name))
        for section in NOUN:
            for name, tpl in getattr(lib, section).items():
                where = (section, name)
                if name in reg.templates[section]:
                    errors.append(smap.error(where, _twice(
                        NOUN[section], name, reg.templates[section][name].source)))
                    continue
                problems = _check_template(tpl, smap, where)
                errors.extend(problems)
                reg.templates[section][name] = Entry(name, section, tpl, smap, where,
                                                     bool(problems))
    return reg, errors


def _twice(noun: str, name: str, first: SourceMap) -> str:
    return f"{noun} {name!r} is defined twice (also in {first.file})"


def _check_template(tpl: Template, smap: SourceMap, where: tuple[str | int, ...]
                    ) -> list[SpecError]:
    errors: list[SpecError] = []
    declared = [p.name for p in tpl.params]
    for i, p in enumerate(tpl.params):
        if declared.index(p.name) != i:
            errors.append(smap.error((*where, "params", i, "name"),
                                     f"parameter {p.name!r} is declared twice"))
        if "default" in p.model_fields_set and (problem := type_problem(p.type, p.default)):
            errors.append(smap.error((*where, "params", i, "default"), f"default {problem}"))

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))
        elif isinstance(node, str):
            for ref in dict.fromkeys(ARG_RE.findall(node)):
                if ref not in declared:
                    from mlops_dash.spec.loader import suggest_ref

                    errors.append(smap.error(path, (
                        f"${{args.{ref}}} is not a parameter of this template"
                        f"{suggest_ref(ref, declared)}; declare it under params")))

    walk(tpl.body, (*where, "body"))
    return errors


def type_problem(kind: str, value: Any) -> str | None:
    """Why ``value`` is not of the parameter type ``kind``, or None."""
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "list": isinstance(value, list) and all(isinstance(v, str | int | float) for v in value),
    }[kind]
    if ok:
        return None
    article = "an" if kind == "integer" else "a"
    what = {"list": "a list of strings"}.get(kind, f"{article} {kind}")
    return f"must be {what}, found {describe(value)}"


def promql_matchers(matchers: dict[str, str]) -> str:
    """Spec matchers as the PromQL matcher list: ``a="x", b=~"y"`` (no braces)."""
    out = []
    for label, raw in matchers.items():
        op, value = ("=", raw)
        if raw[:2] in ("=~", "!~", "!="):
            op, value = raw[:2], raw[2:]
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{label}{op}"{escaped}"')
    return ", ".join(out)
