"""Safe YAML reading that keeps every value's line and column and refuses YAML traps."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import Node

from mlops_dash.errors import SpecError
from mlops_dash.spec.yamlconstruct import (  # noqa: F401 - Path, MAX_* and format_path re-exported
    MAX_DEPTH,
    MAX_NODES,
    NeedsPlaces,
    Path,
    TooBig,
    construct,
    format_path,
)
from mlops_dash.yamlresolve import install_fast_resolve

# The types of the values YAML loading gives besides str, dict and list: leaves without text,
# which the walks over spec data (parameters, selectors, secrets) pass by.
NON_TEXT = frozenset({int, float, bool, type(None)})

MAX_BYTES = 5 * 1024 * 1024
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


class _Loader(yaml.SafeLoader):
    """SafeLoader without the YAML 1.1 ``=`` value tag."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:value"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
install_fast_resolve(_Loader)  # yamlconstruct asks it the implicit tag of a scalar's text

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
        data = construct(node, (), None, [0, 0], loader_for_scalars=_Loader(""))
    except TooBig as exc:  # the place is the mark; no field path, no second reading
        raise SpecError(file, exc.message, line=exc.mark.line + 1,
                        column=exc.mark.column + 1) from None
    except (NeedsPlaces, yaml.MarkedYAMLError):
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
        return construct(node, (), smap, [0, 0], loader_for_scalars=_Loader(""))
    except yaml.MarkedYAMLError as exc:  # unknown tags (!!python/object, !custom), bad merges
        raise _marked_error(
            smap.file, exc, "unsupported YAML: {problem}; specs hold plain strings, numbers, "
            "lists and mappings", first_line_only=True) from None


def _positions_of(text: str, file: str) -> dict[Path, tuple[int, int]]:
    smap = SourceMap(file, {})
    _construct_placed(_compose_or_raise(text, file), smap)
    return smap.positions


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

