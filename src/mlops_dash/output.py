"""Stable serialisation and the generated-by header; writing the output folder is outdir's job
(re-exported here: ``write_tree``, ``compare_tree``)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

try:  # optional: about ten times faster than json's pure-Python indenting encoder
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; json does the same, slower
    _orjson = None

from mlops_dash import conventions as cv
from mlops_dash import yamlemit
from mlops_dash.outdir import (  # noqa: F401 - the writer, re-exported
    MANIFEST,
    Tree,
    TreeDiff,
    WriteReport,
    compare_tree,
    write_tree,
)
from mlops_dash.yamlresolve import install_fast_resolve


def merge_tree(tree: Tree, part: Tree) -> None:
    """Add ``part`` to ``tree``; two renderers producing one path is a bug of ours."""
    clash = sorted(rel for rel in part if rel in tree)  # not set(tree): it grows with a build
    assert not clash, f"two renderers produce {clash}"
    tree.update(part)


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


class _NotFastSafe(Exception):
    """Data on which libyaml's emitter could write other bytes than the pure-Python one."""


# Text on which libyaml's emitter writes the same bytes as PyYAML's (tests/test_performance.py
# checks this with hypothesis): line feeds and printable characters of the Basic Multilingual
# Plane. They differ on astral characters (libyaml escapes emoji), NEL and the Unicode line
# separators (PyYAML breaks lines there), control characters and the BOM: yamlemit.unsafe_text.


def _fast_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # ... and on keep-chomped literal blocks (text ending in blank lines)
    if yamlemit.unsafe_text(value) or value.endswith("\n\n") or value == "\n":
        raise _NotFastSafe
    return _str(dumper, value)


def _fast_dict(dumper: yaml.SafeDumper, value: dict[Any, Any]) -> yaml.MappingNode:
    for key in value:
        if not isinstance(key, str) or not key or "\n" in key:
            raise _NotFastSafe
    return dumper.represent_dict(value)


if getattr(yaml, "__with_libyaml__", False):

    class _FastDumper(yaml.CSafeDumper):  # type: ignore[name-defined,misc]
        """_Dumper's output, written by libyaml (about ten times faster)."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    _FastDumper.add_representer(str, _fast_str)
    _FastDumper.add_representer(dict, _fast_dict)

    _STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool", "null"))
    _MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"

    def _nodes(dumper: yaml.SafeDumper, data: Any) -> yaml.Node:
        """The node tree ``dumper.represent_data`` builds for our plain data, built directly
        (the same nodes: str via _fast_str, dict via _fast_dict, default_flow_style False)."""
        t = type(data)
        if t is str:
            if data.isascii() and data.isprintable():  # the usual case: " " to "~" only
                return yaml.ScalarNode(_STR, data)
            if (yamlemit.unsafe_text(data) or data.endswith("\n\n")
                    or data == "\n"):
                raise _NotFastSafe
            return yaml.ScalarNode(_STR, data, style="|" if "\n" in data else None)
        if t is dict:
            pairs = []
            for key, value in data.items():
                if type(key) is not str or not key or "\n" in key:
                    raise _NotFastSafe
                pairs.append((yaml.ScalarNode(_STR, key) if key.isascii() and key.isprintable()
                               else _nodes(dumper, key), _nodes(dumper, value)))
            return yaml.MappingNode(_MAP, pairs, flow_style=False)
        if t is list:
            return yaml.SequenceNode(_SEQ, [_nodes(dumper, item) for item in data],
                                     flow_style=False)
        if t is bool:
            return yaml.ScalarNode(_BOOL, "true" if data else "false")
        if t is int:
            return yaml.ScalarNode(_INT, str(data))
        if data is None:
            return yaml.ScalarNode(_NULL, "null")
        node: yaml.Node = dumper.represent_data(data)  # floats and anything else
        return node

    def _represent(self: Any, data: Any) -> None:
        self.serialize(_nodes(self, data))

    _FastDumper.represent = _represent  # type: ignore[method-assign]
    install_fast_resolve(_FastDumper)
else:  # pragma: no cover - PyYAML built without libyaml
    _FastDumper = None


def _yaml_body(data: Any, dumper: type) -> str:
    text: str = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=10_000)
    return text


def dump_yaml(data: Any, *, header: bool = True) -> str:
    """YAML in a stable form (key order as given), with the generated-by header.

    The bytes are those of PyYAML's pure-Python emitter; yamlemit writes them for the plain
    data of generated files, else libyaml when the data is in the range where both emitters
    agree (top-level mapping, printable text), else PyYAML itself.
    """
    body = None
    if type(data) is dict:
        try:
            body = yamlemit.dump(data)
        except yamlemit.NotFastSafe:
            body = None
    if body is None and _FastDumper is not None and isinstance(data, dict):
        try:
            body = _yaml_body(data, _FastDumper)
        except _NotFastSafe:
            body = None
    if body is None:
        body = _yaml_body(data, _Dumper)
    return (yaml_header() if header else "") + body


def yaml_header() -> str:
    """The generated-by comment line :func:`dump_yaml` starts with."""
    return f"# {cv.GENERATED_HEADER}\n"


def dump_yaml_nesting(data: dict[str, Any], body: str, *, header: bool = True) -> str:
    """``dump_yaml(data)`` where the last value of ``data`` is a non-empty mapping whose own
    ``dump_yaml(..., header=False)`` is ``body`` (already written: not dumped again).

    PyYAML writes a mapping nested under a key as its top-level form with every non-empty line
    indented by two spaces (blank lines inside block scalars stay bare). Line lengths near the
    emitter's width could wrap differently one level deeper, other line breaks are indented
    after too and a document end marker is not indented; such bodies are dumped again.
    """
    key = next(reversed(data))
    lines = body.split("\n")
    if (not isinstance(data[key], dict) or not data[key] or lines[-1] != ""
            or max(map(len, lines)) > 9_000 or _OTHER_BREAKS.search(body)
            or "..." in lines):  # a document end marker (after a keep-chomped block) stays
        return dump_yaml(data, header=header)
    head = dump_yaml({**data, key: {}}, header=header)
    tail = f"{_yaml_key(key)}: {{}}\n"
    if not head.endswith(tail):  # pragma: no cover - a key PyYAML writes quoted or complex
        return dump_yaml(data, header=header)
    nested = "\n".join(f"  {line}" if line else line for line in lines)
    return f"{head[:-len(tail)]}{_yaml_key(key)}:\n{nested}"


# Line breaks other than \n after which PyYAML indents too (and carriage returns).
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")


@functools.lru_cache(maxsize=256)
def _yaml_key(key: str) -> str:
    return _yaml_body(key, _Dumper).removesuffix("\n...\n").removesuffix("\n")


def dump_json(data: Any, *, agreed: bool = False) -> str:
    """JSON with sorted keys, two-space indent and a trailing newline.

    The bytes are those of ``json.dumps(indent=2, sort_keys=True, ensure_ascii=False)``; orjson
    writes them when the data is in the range where both agree (plain JSON types, floats that
    Python writes without an exponent; tests/test_performance.py checks the equality).
    ``agreed``: the caller found that so already (scan_json), the walk is not made again.
    """
    fast = (_orjson_bytes(data, _ORJSON_OPTIONS) if not agreed
            else _orjson_bytes_agreed(data, _ORJSON_OPTIONS))
    if fast is not None:
        return fast.decode() + "\n"
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def compact_json(data: Any) -> bytes:
    """``json.dumps(data, separators=(",", ":"), ensure_ascii=False)`` as UTF-8: the bytes a
    Kubernetes client sends. orjson writes them where both agree (as in dump_json)."""
    fast = _orjson_bytes(data, 0)
    if fast is not None:
        return fast
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _orjson_bytes(data: Any, option: int) -> bytes | None:
    """orjson's bytes of ``data`` where they are json's (see _orjson_agrees), else None."""
    if _orjson is None or not _orjson_agrees(data):
        return None
    return _orjson_bytes_agreed(data, option)


def _orjson_bytes_agreed(data: Any, option: int) -> bytes | None:
    """orjson's bytes of ``data``, which _orjson_agrees accepts (None: orjson refuses it)."""
    if _orjson is None:
        return None
    try:
        return _orjson.dumps(data, option=option)  # type: ignore[no-any-return]
    except TypeError:  # integers beyond 64 bits, lone surrogates, non-string keys
        return None


_ORJSON_OPTIONS = (_orjson.OPT_INDENT_2 | _orjson.OPT_SORT_KEYS) if _orjson is not None else 0
_PLAIN_FLOAT = frozenset("0123456789.-")


def _orjson_agrees(data: Any) -> bool:
    """Only JSON's own types, and no float json would write as 1e-05, 1e+16, NaN, Infinity
    (scan_json's second answer, the value itself included)."""
    return scan_json([data])[1]


def scan_json(data: dict[str, Any] | list[Any]) -> tuple[bool, bool]:
    """(whether a null stands anywhere in the values of ``data``, whether orjson writes them
    as json does: only JSON's own types, and no float json would write as 1e-05, 1e+16, NaN,
    Infinity) in one walk; a renderer that looks for nulls anyway passes the second answer to
    dump_json as ``agreed``."""
    null, agrees = False, True
    stack: list[Any] = [data]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        for value in (node.values() if type(node) is dict else node):
            t = type(value)
            if t is dict or t is list:
                push(value)
            elif t is str or t is int or t is bool:
                continue
            elif value is None:
                null = True
            elif t is not float or not _PLAIN_FLOAT.issuperset(repr(value)):
                agrees = False
    return null, agrees


@dataclass(frozen=True)
class TerraformRef:
    """A Terraform reference (``pagerduty_service.ml_platform.id``), written as ``${…}``."""

    address: str


def dump_terraform_json(data: Any) -> str:
    """Terraform JSON (:func:`dump_json`) in which every string is literal and only
    :class:`TerraformRef` values are interpolations.

    Terraform evaluates ``${…}`` and ``%{…}`` in every JSON string (a spec's
    ``service: "${file(...)}"`` would run at apply time); doubling the first character is
    the escape (hashicorp/hcl ``hclsyntax/spec.md``, "Template Expressions", and
    ``json/spec.md``: strings are templates): ``$${`` and ``%%{``.
    """
    return dump_json(_terraform_literal(data))


def _terraform_literal(data: Any) -> Any:
    if isinstance(data, TerraformRef):
        return f"${{{data.address}}}"
    if isinstance(data, str):
        return data.replace("${", "$${").replace("%{", "%%{")
    if isinstance(data, dict):
        return {_terraform_literal(k): _terraform_literal(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_terraform_literal(v) for v in data]
    return data


def markdown_header() -> str:
    return f"<!-- {cv.GENERATED_HEADER} -->\n"
