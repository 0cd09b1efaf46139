"""A direct YAML writer for the plain data mlops-dash generates: the bytes PyYAML's pure-Python
emitter writes with ``output._Dumper`` (block style, two-space indent, literal blocks for
multi-line text, key order as given, ``width=10_000``, ``allow_unicode``), about three times
faster than building PyYAML nodes for libyaml's emitter.

It writes what it can decide without PyYAML's per-character scalar analysis, and raises
``NotFastSafe`` on anything else (the caller then lets PyYAML write the document):

* mappings with string keys, lists, ``str``, ``int``, ``bool``, ``None`` and ``float``;
* text of printable characters of the Basic Multilingual Plane and line feeds (as libyaml's
  fast path, ``unsafe_text``), single-line text and keys shorter than the
  lengths where PyYAML would fold a line or write a complex key;
* multi-line text as a literal block (``|`` or ``|-``) when PyYAML writes one: no line ends
  in a space, it neither starts with a space or a line break nor ends in blank lines.

The style rules are those of PyYAML's ``Emitter.analyze_scalar`` and ``choose_scalar_style``
(yaml/emitter.py) for that range: a single-line string is written plain unless PyYAML's
resolver would read it back as another type (``"yes"``, ``"1"``, ``""``) or it has an
indicator (a leading ``-?:`` before a space or at the end, a leading ``#,[]{}&*!|>'"%@```,
``": "``, a trailing ``:``, ``" #"``, a leading ``---`` or ``...``, a leading or trailing
space); then single-quoted (``'`` doubled). tests/test_performance.py compares the bytes with
PyYAML's on the generated tree and on hypothesis-generated data.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import yaml


class NotFastSafe(Exception):
    """Data this writer leaves to PyYAML."""


# The characters libyaml's emitter writes as they are (its fast path; yaml/_yaml.pyx and
# emitter.c): line feeds and printable characters of the Basic Multilingual Plane, that is all
# but the C0 controls and DEL, the C1 controls, the line and paragraph separators, surrogates,
# the BOM, U+FFFE-U+FFFF and astral characters. Written as the set of the others (re compiles
# the negated form, a map of the whole plane, in ~10 ms: every build would pay it), and ASCII
# text, nearly all generated text, against the ASCII part alone.
_UNSAFE = ("\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff"
           "\U00010000-\U0010ffff")
# ASCII text is safe when deleting its safe bytes leaves nothing: bytes.translate is ~8x
# faster than a regex search on a dashboard's JSON (27 KB: 29 against 229 microseconds).
_SAFE_ASCII_LINE = bytes(range(0x20, 0x7f))
_SAFE_ASCII_TEXT = b"\n" + _SAFE_ASCII_LINE


@functools.cache
def _unsafe_class(with_line_feed: bool) -> re.Pattern[str]:
    return re.compile(f"[{_UNSAFE}\n]" if with_line_feed else f"[{_UNSAFE}]")


def unsafe_text(value: str) -> bool:
    """Whether ``value`` holds a character libyaml would not write as it is."""
    if value.isascii():
        return bool(value.encode("ascii").translate(None, _SAFE_ASCII_TEXT))
    return _unsafe_beyond_ascii(value, _SAFE_ASCII_TEXT, False)


def unsafe_line(value: str) -> bool:
    """Whether ``value`` holds a line feed or a character libyaml would not write as it is."""
    if value.isascii():
        return bool(value.encode("ascii").translate(None, _SAFE_ASCII_LINE))
    return _unsafe_beyond_ascii(value, _SAFE_ASCII_LINE, True)


def _unsafe_beyond_ascii(value: str, safe_ascii: bytes, with_line_feed: bool) -> bool:
    """unsafe_text or unsafe_line of text with non-ASCII characters: its safe ASCII bytes
    deleted from its UTF-8 form (whole characters, so the rest is the text's other
    characters, in UTF-8), the regex searches only what is left (a dashboard's JSON with a
    dash in a description: 30 KB searched in 0.24 ms, its few other characters in a few
    microseconds)."""
    try:
        rest = value.encode("utf-8").translate(None, safe_ascii)
    except UnicodeEncodeError:  # a lone surrogate
        return True
    if len(rest.translate(None, _ASCII_BYTES)) != len(rest):
        return True  # an ASCII control (or a line feed, for a line) is left
    return _unsafe_class(with_line_feed).search(rest.decode("utf-8")) is not None


_ASCII_BYTES = bytes(range(0x80))


# A single-line string PyYAML does not write plain (analyze_scalar's block indicators and
# leading or trailing spaces), whatever the resolver says.
_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")


def _not_plain(value: str) -> bool:
    """The regex ``^[-?:](?: |$)|^[#,\\[\\]{}&*!|>'"%@`]|^---|^\\.\\.\\.|: |:$| #|^ | $`` on
    single-line text, in string operations: the regex tries every alternative at every
    character (ten times slower on a 100-character query, as fast on a short word)."""
    if not value:
        return False
    first = value[0]
    return ((first in "-?:" and (len(value) == 1 or value[1] == " ")) or first in _INDICATORS
            or first == " " or value.startswith(("---", "...")) or ": " in value
            or " #" in value or value.endswith((":", " ")))


_MAX_SCALAR = 4_000  # far below the 10,000 columns at which PyYAML folds a line
_MAX_KEY = 127  # PyYAML writes longer keys as complex keys (``? key``)

_RESOLVER = yaml.resolver.Resolver()
_FIRST_CHARS = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k)
_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_resolved: dict[str, str] = {}
_line_cache: dict[str, str] = {}
_key_cache: dict[str, str] = {}  # keys _key accepted, as written


def _tag(value: str) -> str:
    """The tag PyYAML's resolver gives ``value`` written plain."""
    if value and value[0] not in _FIRST_CHARS:
        return _STR_TAG
    tag = _resolved.get(value)
    if tag is None:
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
        if len(_resolved) > 100_000:
            _resolved.clear()
        _resolved[value] = tag
    return tag


def _line(value: str) -> str:
    """A single-line string as PyYAML writes it (plain or single-quoted)."""
    text = _line_cache.get(value)
    if text is not None:
        return text
    if len(value) > _MAX_SCALAR or unsafe_line(value):
        raise NotFastSafe
    if value and not _not_plain(value) and _tag(value) == _STR_TAG:
        text = value
    else:
        text = "'" + value.replace("'", "''") + "'"
    if len(_line_cache) > 100_000:
        _line_cache.clear()
    _line_cache[value] = text
    return text


def _key(key: Any) -> str:
    """A mapping key as written, kept in _key_cache (which _mapping reads before calling)."""
    if type(key) is not str or not key or len(key) > _MAX_KEY or "\n" in key:
        raise NotFastSafe
    text = _line(key)
    if len(_key_cache) > 100_000:
        _key_cache.clear()
    _key_cache[key] = text
    return text


def _float(value: float) -> str:
    """SafeRepresenter.represent_float, written plain (its text resolves to a float)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise NotFastSafe
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    if _not_plain(text) or _tag(text) != _FLOAT_TAG:
        raise NotFastSafe
    return text


def _literal(value: str, indent: int) -> str:
    """Multi-line text as a literal block whose lines are indented by ``indent``."""
    if (unsafe_text(value) or value[0] in " \n" or value.endswith("\n\n")
            or " \n" in value or value.endswith(" ")):
        raise NotFastSafe
    head = "|"
    if value.endswith("\n"):
        value = value[:-1]
    else:
        head = "|-"
    pad = " " * indent
    if "\n\n" not in value:  # no blank line (those stay bare): every line gets the pad
        return head + "\n" + pad + value.replace("\n", "\n" + pad)
    return head + "\n" + "\n".join(pad + line if line else line for line in value.split("\n"))


def _scalar(value: Any, indent: int) -> str:
    t = type(value)
    if t is str:
        return _literal(value, indent) if "\n" in value else _line(value)
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if value is None:
        return "null"
    if t is float:
        return _float(value)
    raise NotFastSafe


def _mapping(data: dict[Any, Any], indent: int, out: list[str], inline: bool) -> None:
    pad = " " * indent
    keys, lines = _key_cache, _line_cache
    add = out.append
    for key, value in data.items():
        written = keys.get(key) if type(key) is str else None
        head = ("" if inline else pad) + (written or _key(key))  # a line each: one append
        inline = False
        t = type(value)
        if t is str and "\n" not in value:  # most values: single-line text, usually seen before
            add(head + ": " + (lines.get(value) or _line(value)) + "\n")
        elif t is dict:
            if value:
                add(head + ":\n")
                _mapping(value, indent + 2, out, False)
            else:
                add(head + ": {}\n")
        elif t is list:
            if value:
                add(head + ":\n")
                _sequence(value, indent, out, False)  # in a mapping, not indented
            else:
                add(head + ": []\n")
        else:
            add(head + ": " + _scalar(value, indent + 2) + "\n")


def _sequence(data: list[Any], indent: int, out: list[str], inline: bool) -> None:
    pad = " " * indent
    lines = _line_cache
    add = out.append
    for item in data:
        head = "-" if inline else pad + "-"
        inline = False
        t = type(item)
        if t is str and "\n" not in item:
            add(head + " " + (lines.get(item) or _line(item)) + "\n")
        elif t is dict:
            if item:
                add(head + " ")
                _mapping(item, indent + 2, out, True)
            else:
                add(head + " {}\n")
        elif t is list:
            if item:
                add(head + " ")
                _sequence(item, indent + 2, out, True)
            else:
                add(head + " []\n")
        else:
            add(head + " " + _scalar(item, indent + 2) + "\n")


def dump(data: dict[Any, Any]) -> str:
    """A non-empty top-level mapping as ``output._Dumper`` writes it; NotFastSafe when this
    writer cannot tell."""
    if type(data) is not dict or not data:
        raise NotFastSafe
    out: list[str] = []
    _mapping(data, 0, out, False)
    return "".join(out)
