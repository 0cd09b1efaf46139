"""Safe YAML reading that keeps every value's line and column and refuses YAML traps."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mlops_dash.errors import SpecError
from mlops_dash.yamlresolve import install_fast_resolve

Path = tuple[str | int, ...]
# The types of the values YAML loading gives besides str, dict and list: leaves without text,
# which the walks over spec data (parameters, selectors, secrets) pass by.
NON_TEXT = frozenset({int, float, bool, type(None)})

MAX_NODES = 200_000  # bounds alias expansion ("billion laughs") in time and memory
MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 50  # specs nest a dozen levels; deeper is a mistake (and would exhaust the stack)
# C0 controls other than tab, newline and carriage return, and DEL: YAML allows none of them
_CONTROL_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SourceMap:
    """Where each value of a YAML document stands: field path → (line, column), 1-based.

    Given the document's ``text`` instead of ``positions``, the places are worked out on first
    use, by reading the text again: most builds never need them (they place problems), and
    kept for every value of every file they would take half the memory of a loaded spec set.
    """

    def __init__(self, file: str, positions: dict[Path, tuple[int, int]] | None = None, *,
                 text: str | None = None) -> None:
        self.file = file
        self._positions = positions if positions is not None or text is not None else {}
        self._text = text

    @property
    def positions(self) -> dict[Path, tuple[int, int]]:
        if self._positions is None:
            assert self._text is not None
            self._positions = _positions_of(self._text, self.file)
            self._text = None
        return self._positions

    def __repr__(self) -> str:
        return f"SourceMap({self.file!r})"

    def may_contain(self, word: str) -> bool:
        """False only when the document's text is at hand and does not hold ``word`` (a cheap
        look before walking the parsed data for it)."""
        return self._text is None or word in self._text

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        """The place of ``path``, or of its nearest ancestor that exists."""
        p = tuple(path)
        while True:
            if p in self.positions:
                return self.positions[p]
            if not p:
                return (None, None)
            p = p[:-1]

    def where(self, path: Path) -> str:
        """``file:line:col`` of ``path`` (the file alone when it has no place)."""
        line, col = self.locate(path)
        return f"{self.file}:{line}:{col}" if line is not None else self.file

    def error(self, path: Path, message: str) -> SpecError:
        """A SpecError at ``path``."""
        line, col = self.locate(path)
        return SpecError(self.file, message, line=line, column=col, path=format_path(path))


    def error_in_value(self, path: Path, message: str, value: str, offset: int | None
                       ) -> SpecError:
        """A SpecError at character ``offset`` of the text ``value`` written at ``path``: at
        that column when the value is written on one line as it reads (plain or quoted without
        escapes), else at the value."""
        line, col = self.locate(path)
        if offset is not None and line is not None and col is not None and "\n" not in value:
            try:
                with open(self.file, encoding="utf-8") as f:
                    for _ in range(line - 1):
                        f.readline()
                    written = f.readline()[col - 1:]
            except (OSError, UnicodeDecodeError):
                written = ""
            at = written.find(value)  # the place is the key's: the value follows it
            if at >= 0 and written.count(value) == 1:
                col += at + offset
        return SpecError(self.file, message, line=line, column=col, path=format_path(path))


def format_path(path: Path) -> str:
    """``("alerts", 0, "for")`` → ``alerts[0].for``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader without the YAML 1.1 ``=`` value tag."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:value"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
install_fast_resolve(_Loader)  # _scalar asks it the implicit tag of a scalar's text

# libyaml's parser (when PyYAML has it) composes nodes ~10x faster than the pure-Python one; the
# same resolvers apply, so the nodes are the same. A document it refuses is parsed again by the
# pure-Python loader, so error messages do not depend on whether libyaml is installed.
if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
        """CSafeLoader without the YAML 1.1 ``=`` value tag."""

    _FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    install_fast_resolve(_FastLoader)
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = _Loader  # type: ignore[misc]

_STR_TAG = "tag:yaml.org,2002:str"


def _compose(text: str, loader_class: type) -> Node | None:
    loader = loader_class(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


def load_yaml(text_bytes: bytes, file: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain Python data plus its SourceMap."""
    if len(text_bytes) > MAX_BYTES:
        raise SpecError(file, f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text_bytes[: exc.start].count(b"\n") + 1
        column = exc.start - (text_bytes.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            file, f"file is not valid UTF-8 (byte {exc.start}: 0x{text_bytes[exc.start]:02x}); "
            "save it as UTF-8", line=line, column=column,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if found := _CONTROL_CHAR.search(text):
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        raise SpecError(
            file, f"control character U+{ord(found.group()):04X} in the file; specs are plain "
            "text (write it as an escape such as \\t inside a double-quoted string if you "
            "mean it)", line=line, column=column)
    for i, raw in enumerate(text.splitlines() if "\t" in text else (), start=1):
        stripped = raw.lstrip(" ")
        if stripped.startswith("\t"):
            raise SpecError(
                file,
                "tab character in indentation; YAML indentation must use spaces",
                line=i,
                column=len(raw) - len(stripped) + 1,
            )
    if len(text) > MAX_NODES:  # below that, a document cannot hold MAX_NODES nodes
        _count_nodes(text, file)
    node = _compose_or_raise(text, file)
    if node is None:
        raise SpecError(file, "file is empty; expected a mapping with apiVersion and kind",
                        line=1, column=1)
    try:
        data = _construct(node, (), None, [0, 0], loader_for_scalars=_Loader(""))
    except _TooBig as exc:  # the place is the mark; no field path, no second reading
        raise SpecError(file, exc.message, line=exc.mark.line + 1,
                        column=exc.mark.column + 1) from None
    except (_NeedsPlaces, yaml.MarkedYAMLError):
        # a problem in the document: read it again, keeping places, to say where it is
        smap = SourceMap(file, {})
        _construct_placed(_compose_or_raise(text, file), smap)
        raise AssertionError("the placed reading found no problem") from None  # pragma: no cover
    return data, SourceMap(file, text=text)


def _count_nodes(text: str, file: str) -> None:
    """Refuse a document of more than MAX_NODES nodes before building any of them (a huge
    list would take seconds and hundreds of MB to compose): one pass over the parser's events,
    which are not kept. A node takes at least one character, so only big files are counted."""
    loader = _FastLoader(text)
    try:
        n = 0
        while (event := loader.get_event()) is not None:
            if isinstance(event, _NODE_EVENTS):
                n += 1
                if n > MAX_NODES:
                    mark = event.start_mark
                    raise SpecError(
                        file, f"document has more than {MAX_NODES} keys and values; a spec "
                        "file holds far fewer: split it, or look for a generated list",
                        line=mark.line + 1, column=mark.column + 1)
    except yaml.YAMLError:
        return  # the parse proper reports it, with the same parser's message
    finally:
        loader.dispose()


_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)


def _compose_or_raise(text: str, file: str) -> Node | None:
    try:
        try:
            return _compose(text, _FastLoader)
        except yaml.YAMLError:
            return _compose(text, _Loader)  # the pure-Python parser's message and place
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(file, exc, "invalid YAML: {problem}") from None
    except RecursionError:
        line, column = _too_deep(text)
        raise SpecError(file, f"invalid YAML: nested deeper than {MAX_DEPTH} levels",
                        line=line, column=column) from None
    except yaml.YAMLError as exc:
        raise SpecError(file, f"invalid YAML: {exc}") from None


def _too_deep(text: str) -> tuple[int, int]:
    """Line and column of the first flow bracket nested deeper than MAX_DEPTH (else 1:1)."""
    depth = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        for col, c in enumerate(line, start=1):
            depth += 1 if c in "[{" else -1 if c in "]}" else 0
            if depth > MAX_DEPTH:
                return line_no, col
    return 1, 1


def _construct_placed(node: Node | None, smap: SourceMap) -> Any:
    """The document's data, recording every value's place in ``smap`` (or raising a placed
    SpecError for a problem)."""
    try:
        return _construct(node, (), smap, [0, 0], loader_for_scalars=_Loader(""))
    except yaml.MarkedYAMLError as exc:  # unknown tags (!!python/object, !custom), bad merges
        raise _marked_error(
            smap.file, exc, "unsupported YAML: {problem}; specs hold plain strings, numbers, "
            "lists and mappings", first_line_only=True) from None


def _positions_of(text: str, file: str) -> dict[Path, tuple[int, int]]:
    smap = SourceMap(file, {})
    _construct_placed(_compose_or_raise(text, file), smap)
    return smap.positions


class _NeedsPlaces(Exception):
    """Raised by _construct reading without places: there is a problem to place."""


class _TooBig(Exception):
    """The document expands beyond MAX_NODES (through aliases or merge keys), at ``mark``."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def _marked_error(file: str, exc: yaml.MarkedYAMLError, template: str, *,
                  first_line_only: bool = False) -> SpecError:
    """A PyYAML error with a mark as a SpecError at that mark."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if first_line_only:
        problem = problem.split("\n")[0]
    return SpecError(file, template.format(problem=problem),
                     line=mark.line + 1 if mark else None,
                     column=mark.column + 1 if mark else None)


def _scalar(loader: _Loader, node: Node, smap: SourceMap | None, path: Path) -> Any:
    """A scalar's value; text YAML cannot construct (``2024-13-45`` as a date, a bare ``<<``)
    stays text. A tag other than ``!!str`` or the one the text reads as by itself (``!custom``,
    ``!!binary``, ``!!python/…``, ``!!float 1``) was written explicitly: refused, as for
    collections."""
    tag = node.tag
    value = node.value
    if tag == _STR_TAG:  # most scalars; also ``!!str 12``: YAML's own way to write text
        return value
    if tag != loader.resolve(ScalarNode, value, (not node.style, bool(node.style))):
        raise _problem(smap, f"unsupported YAML tag {tag!r} (an explicit tag); specs hold "
                             "plain strings, numbers, lists and mappings", node.start_mark, path)
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError, TypeError, yaml.constructor.ConstructorError):
        return str(node.value)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_MERGE_BOMB = (f"document expands to more than {MAX_NODES} values through merge keys (<<) and "
               "aliases; write the values out instead of chaining merges")
_PLAIN_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


def _problem(smap: SourceMap | None, message: str, mark: Any, path: Path | None = None
             ) -> Exception:
    """What _construct raises for a problem at ``mark``: a placed SpecError when it records
    places, else _NeedsPlaces (its caller then reads again, with places)."""
    if smap is None:
        return _NeedsPlaces()
    return SpecError(smap.file, message, line=mark.line + 1, column=mark.column + 1,
                     path=format_path(path) if path is not None else "")


def _construct(
    node: Node, path: Path, smap: SourceMap | None, counter: list[int],  # [values, merged?]
    loader_for_scalars: _Loader, depth: int = 0,
) -> Any:
    """Plain data from a node tree, refusing what specs must not hold. With ``smap``, every
    value's place is recorded there and a problem is a placed SpecError; without, nothing is
    recorded (``path`` stays empty) and a problem raises _NeedsPlaces."""
    counter[0] += 1
    if counter[0] > MAX_NODES:
        if counter[1]:
            raise _TooBig(_MERGE_BOMB, node.start_mark)
        raise _TooBig(f"document expands to more than {MAX_NODES} values (alias bomb?); "
                      "write the values out instead of nesting aliases", node.start_mark)
    if smap is not None:
        smap.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, MappingNode | SequenceNode):
        depth += 1
        if depth > MAX_DEPTH:
            raise _problem(smap, f"nested deeper than {MAX_DEPTH} levels; specs nest a dozen "
                                 "at most", node.start_mark, path)
    if isinstance(node, MappingNode | SequenceNode) and node.tag not in _PLAIN_COLLECTION_TAGS:
        raise _problem(smap, f"unsupported YAML tag {node.tag!r}; specs hold plain strings, "
                             "numbers, lists and mappings", node.start_mark, path)
    if isinstance(node, MappingNode):
        out: dict[Any, Any] = {}
        _flatten(node, path, smap, counter, loader_for_scalars)
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _problem(smap, "mapping keys must be plain strings", key_node.start_mark,
                               path)
            key = (key_node.value if key_node.tag == _STR_TAG
                   else _scalar(loader_for_scalars, key_node, smap, path))
            if not isinstance(key, str):
                key = str(key)
            if smap is None:
                if key in out:
                    raise _NeedsPlaces
                if (value_node.__class__ is ScalarNode and value_node.tag == _STR_TAG
                        and counter[0] < MAX_NODES):  # most values: text, as _construct reads it
                    counter[0] += 1
                    out[key] = value_node.value
                    continue
                out[key] = _construct(value_node, path, None, counter, loader_for_scalars,
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
            out[key] = _construct(value_node, path + (key,), smap, counter, loader_for_scalars,
                                  depth)
        return out
    if isinstance(node, SequenceNode):
        if smap is None:
            return [_construct(item, path, None, counter, loader_for_scalars, depth)
                    for item in node.value]
        return [
            _construct(item, path + (i,), smap, counter, loader_for_scalars, depth)
            for i, item in enumerate(node.value)
        ]
    value = _scalar(loader_for_scalars, node, smap, path)
    if value is not None and not isinstance(value, (str, int, float, bool)):
        # dates and binary blobs have no place in a spec: keep their text
        value = str(node.value)
    return value


def _flatten(node: MappingNode, path: Path, smap: SourceMap | None, counter: list[int],
             loader: _Loader) -> None:
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
            raise _TooBig(_MERGE_BOMB, sub.start_mark)
        for k, v in sub.value:
            if k.value not in own_keys:
                merged.setdefault(k.value, (k, v))
    node.value = [*merged.values(), *own]
