"""From composed YAML nodes to plain spec data: merge keys applied and counted, refusing
what specs must not hold (explicit tags, complex keys, duplicate keys, documents that expand
without bound or nest too deep). spec/yamlsource.py composes the nodes and keeps the places."""

from __future__ import annotations

import operator
import sys
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mlops_dash.errors import SpecError

if TYPE_CHECKING:
    from mlops_dash.spec.yamlsource import SourceMap

Path = tuple[str | int, ...]
MAX_NODES = 200_000  # bounds alias expansion ("billion laughs") in time and memory
MAX_DEPTH = 50  # specs nest a dozen levels; deeper is a mistake (and would exhaust the stack)
_STR_TAG = "tag:yaml.org,2002:str"


# Every text of the parsed data is interned: spec sets repeat their keys and much of their text
# (labels, selectors, units) in every file, so the parse workers' results pickle each once per
# chunk (1,000 dashboards: 12.8 instead of 20.5 MB with the texts the source maps keep, dumped
# and loaded in half the time) and the loaded set holds one copy.
_intern = sys.intern


def format_path(path: Path) -> str:
    """``("alerts", 0, "for")`` → ``alerts[0].for``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class NeedsPlaces(Exception):
    """Raised by construct reading without places: there is a problem to place."""


class TooBig(Exception):
    """The document expands beyond MAX_NODES (through aliases or merge keys), at ``mark``."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def _scalar(loader: yaml.SafeLoader, node: Node, smap: SourceMap | None, path: Path) -> Any:
    """A scalar's value; text YAML cannot construct (``2024-13-45`` as a date, a bare ``<<``)
    stays text. A tag other than ``!!str`` or the one the text reads as by itself (``!custom``,
    ``!!binary``, ``!!python/…``, ``!!float 1``) was written explicitly: refused, as for
    collections."""
    tag = node.tag
    value = node.value
    if tag == _STR_TAG:  # most scalars; also ``!!str 12``: YAML's own way to write text
        return _intern(value)
    if tag != loader.resolve(ScalarNode, value, (not node.style, bool(node.style))):
        raise _problem(smap, f"unsupported YAML tag {tag!r} (an explicit tag); specs hold "
                             "plain strings, numbers, lists and mappings", node.start_mark, path)
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError, TypeError, yaml.constructor.ConstructorError):
        return str(node.value)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTIONS = (MappingNode, SequenceNode)
_TAG, _FIRST = operator.attrgetter("tag"), operator.itemgetter(0)  # of (key, value) pairs
_MERGE_BOMB = (f"document expands to more than {MAX_NODES} values through merge keys (<<) and "
               "aliases; write the values out instead of chaining merges")
_PLAIN_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


def _problem(smap: SourceMap | None, message: str, mark: Any, path: Path | None = None
             ) -> Exception:
    """What construct raises for a problem at ``mark``: a placed SpecError when it records
    places, else NeedsPlaces (its caller then reads again, with places)."""
    if smap is None:
        return NeedsPlaces()
    return SpecError(smap.file, message, line=mark.line + 1, column=mark.column + 1,
                     path=format_path(path) if path is not None else "")


def construct(
    node: Node, path: Path, smap: SourceMap | None, counter: list[int],  # [values, merged?]
    loader_for_scalars: yaml.SafeLoader, depth: int = 0,
) -> Any:
    """Plain data from a node tree, refusing what specs must not hold. With ``smap``, every
    value's place is recorded there and a problem is a placed SpecError; without, nothing is
    recorded (``path`` stays empty) and a problem raises NeedsPlaces."""
    counter[0] += 1
    if counter[0] > MAX_NODES:
        if counter[1]:
            raise TooBig(_MERGE_BOMB, node.start_mark)
        raise TooBig(f"document expands to more than {MAX_NODES} values (alias bomb?); "
                      "write the values out instead of nesting aliases", node.start_mark)
    if smap is not None:
        smap.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    cls = node.__class__
    if cls is MappingNode or cls is SequenceNode or isinstance(node, _COLLECTIONS):
        depth += 1
        if depth > MAX_DEPTH:
            raise _problem(smap, f"nested deeper than {MAX_DEPTH} levels; specs nest a dozen "
                                 "at most", node.start_mark, path)
        if node.tag not in _PLAIN_COLLECTION_TAGS:
            raise _problem(smap, f"unsupported YAML tag {node.tag!r}; specs hold plain "
                                 "strings, numbers, lists and mappings", node.start_mark, path)
    if cls is MappingNode or isinstance(node, MappingNode):
        out: dict[Any, Any] = {}
        if _MERGE_TAG in map(_TAG, map(_FIRST, node.value)):  # C loops: no frame a key
            _flatten(node, path, smap, counter, loader_for_scalars)
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _problem(smap, "mapping keys must be plain strings", key_node.start_mark,
                               path)
            key = (_intern(key_node.value) if key_node.tag == _STR_TAG
                   else _scalar(loader_for_scalars, key_node, smap, path))
            if not isinstance(key, str):
                key = str(key)
            if smap is None:
                if key in out:
                    raise NeedsPlaces
                if (value_node.__class__ is ScalarNode and value_node.tag == _STR_TAG
                        and counter[0] < MAX_NODES):  # most values: text, as construct reads it
                    counter[0] += 1
                    out[key] = _intern(value_node.value)
                    continue
                out[key] = construct(value_node, path, None, counter, loader_for_scalars,
                                      depth)
                continue
            if key in out:
                first = smap.positions.get(path + (key,), (None, None))[0]
                raise _problem(smap, f"duplicate key {key!r} (first defined on line {first}); "
                                     "YAML would silently keep only the last one",
                               key_node.start_mark, path + (key,))
            smap.positions[path + (key,)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[key] = construct(value_node, path + (key,), smap, counter, loader_for_scalars,
                                  depth)
        return out
    if cls is SequenceNode or isinstance(node, SequenceNode):
        if smap is None:
            items: list[Any] = []
            add = items.append
            for item in node.value:
                if (item.__class__ is ScalarNode and item.tag == _STR_TAG
                        and counter[0] < MAX_NODES):  # text, as construct reads it
                    counter[0] += 1
                    add(_intern(item.value))
                else:
                    add(construct(item, path, None, counter, loader_for_scalars, depth))
            return items
        return [
            construct(item, path + (i,), smap, counter, loader_for_scalars, depth)
            for i, item in enumerate(node.value)
        ]
    value = _scalar(loader_for_scalars, node, smap, path)
    if value is not None and not isinstance(value, (str, int, float, bool)):
        # dates and binary blobs have no place in a spec: keep their text
        value = str(node.value)
    return value


def _flatten(node: MappingNode, path: Path, smap: SourceMap | None, counter: list[int],
             loader: yaml.SafeLoader) -> None:
    """Apply the mapping's merge keys (``<<: *base``, ``<<: [*a, *b]``) in place, counting
    every pair a merge copies against MAX_NODES (a chain of merges copies quadratically many).

    YAML's merge semantics: the mapping's own keys override merged ones, and an earlier
    source in a merge list overrides a later one; the merged copy holds each key once, so only
    the mapping's own keys can be duplicates.
    """
    if not any(k.tag == _MERGE_TAG for k, _ in node.value):
        return
    own: list[tuple[Node, Node]] = []
    sources: list[MappingNode] = []
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE_TAG:
            own.append((key_node, value_node))
            continue
        items = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for sub in items:
            if not isinstance(sub, MappingNode):
                raise _problem(smap, "a merge key (<<) takes a mapping or a list of mappings, "
                                     f"found {sub.id}", sub.start_mark, path)
            _flatten(sub, path, smap, counter, loader)
            sources.append(sub)
    own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
    merged: dict[Any, tuple[Node, Node]] = {}
    counter[1] = 1
    for sub in sources:
        counter[0] += len(sub.value)
        if counter[0] > MAX_NODES:
            raise TooBig(_MERGE_BOMB, sub.start_mark)
        for k, v in sub.value:
            if k.value not in own_keys:
                merged.setdefault(k.value, (k, v))
    node.value = [*merged.values(), *own]
