"""Refuse credentials written into specs (and find them in generated text).

Specs name credentials only indirectly: the path of a file mounted from a Secret (``*_file``) or
a Kubernetes Secret key (``secret_ref``). A literal routing key, webhook URL, token or password
anywhere in a spec is an error naming the file, line and field, never the value itself.
"""

from __future__ import annotations

import base64
import functools
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

from mlops_dash.spec.yamlsource import NON_TEXT, format_path

# Field names that hold a credential when given literally. Their ``*_file`` forms and
# ``secret_ref`` are the allowed spellings.
SECRET_FIELDS = {
    "routing_key": "routing_key_file",
    "service_key": "routing_key_file",
    "integration_key": "routing_key_file",
    "api_url": "api_url_file",
    "webhook_url": "api_url_file",
    "auth_password": "auth_password_file",
    "password": "auth_password_file",
    "auth_secret": "auth_password_file",
    "token": "a *_file path",
    "api_key": "a *_file path",
    "apikey": "a *_file path",
    "secret": "secret_ref",
    "bearer_token": "a *_file path",
}

# Values that are credentials whatever field holds them. Each: (name, regex). Schemes, hosts
# and armour lines in any case (``HTTPS://``, ``hooks.SLACK.com``); keys as issued.
SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Slack webhook URL",
     re.compile(r"(?i:(?:https?://)?hooks\.slack(?:-gov)?\.com/+[A-Za-z0-9_-]+/\S+)")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    # 32 lowercase letters and digits, alone or after a ``key_`` prefix
    ("a PagerDuty Events API integration key",
     re.compile(r"(?:(?<![A-Za-z0-9_])|(?<=key_))(?=[a-z0-9]*[0-9])(?=[a-z0-9]*[a-z])"
                r"[a-z0-9]{32}(?![A-Za-z0-9_])")),
    ("a PagerDuty events URL with a key",
     re.compile(r"(?i:events\.pagerduty\.com/\S*/[A-Za-z0-9]{20,})")),
    # the look-behind starts a scheme only at the start of a run: linear time on long tokens
    ("a URL with an embedded password",
     re.compile(r"(?i:(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@)")),
    ("a private key", re.compile(r"(?i:-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----)")),
)


# Any of SECRET_VALUES in one search (most text holds none; the loop below then names the kind).
_ANY_SECRET = re.compile("|".join(f"(?:{rx.pattern})" for _, rx in SECRET_VALUES))
assert not any(rx.flags & ~re.UNICODE for _, rx in SECRET_VALUES)

# Runs that may be base64 (standard or URL-safe alphabet, optional padding): long enough to hold
# the shortest credential above once encoded.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


# What ASCII text must hold for one of SECRET_VALUES to match (each pattern's literal part,
# lowercased as its case-insensitive match reads it; the PagerDuty key: 32 lowercase letters
# and digits in a row). Looking for them first is ~10x faster than the union's search on the
# text of specs, which holds none of them (tests/test_secrets.py: the same answers).
_ASCII_MARKERS = ("hooks.slack", "xox", "events.pagerduty.com", "://", "-----begin")
_KEY_RUN = re.compile(r"[a-z0-9]{32}")


def _kind_in(text: str) -> str | None:
    if text.isascii() and not any(m in text.lower() for m in _ASCII_MARKERS) \
            and _KEY_RUN.search(text) is None:
        return None
    return _kind_in_searched(text)


def _kind_in_searched(text: str) -> str | None:
    if not _ANY_SECRET.search(text):
        return None
    for name, rx in SECRET_VALUES:
        if rx.search(text):
            return name
    return None  # pragma: no cover - _ANY_SECRET is their union


def _decodings(value: str) -> Iterator[tuple[str, str]]:
    """(encoding, decoded text) of the common encodings a credential may be pasted in: URL
    encoding (``%3A%2F%2F``) and base64 runs that decode to text."""
    if _PERCENT.search(value):
        decoded = urllib.parse.unquote(value)
        yield "URL-encoded", decoded
        if _PERCENT.search(decoded):  # encoded twice
            yield "URL-encoded", urllib.parse.unquote(decoded)
    for m in _BASE64_RUN.finditer(value):
        run = m.group().rstrip("=")
        if len(run) % 4 == 1:
            continue
        raw = run + "=" * (-len(run) % 4)
        try:
            data = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
            text = data.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        if text.isprintable() or text.strip().isprintable():
            yield "base64-encoded", text


_SHORTEST = 8  # no credential above is shorter (``a://b:c@``), encoded or not


def secret_kind(value: str) -> str | None:
    """What kind of credential ``value`` contains, also URL- or base64-encoded, or None."""
    if len(value) < _SHORTEST:
        return None
    return _secret_kind(value)


@functools.lru_cache(maxsize=65_536)  # spec sets repeat their strings (labels, queries, text)
def _secret_kind(value: str) -> str | None:
    kind = _kind_in(value)
    if kind is not None:
        return kind
    for encoding, decoded in _decodings(value):
        kind = _kind_in(decoded)
        if kind is not None:
            return f"{kind} ({encoding})"
    return None


Path = tuple[str | int, ...]


def find_literal_secrets(data: Any, path: Path = ()) -> Iterator[tuple[Path, Path, str]]:
    """(place, field path, message) for every credential written literally into parsed spec
    data; a credential in a key is placed at the key and named by its mapping (never shown).
    Text values are looked at in their container's loop: a path is built only for containers
    and for what is reported; a document with nothing to report is told by one quick pass."""
    if not path and not _may_report(data):
        return
    if isinstance(data, dict):
        for key, value in data.items():
            kind = secret_kind(str(key))
            if kind:
                yield path + (key,), path, (
                    f"the key of {format_path(path) or 'the document'} contains {kind} "
                    "(value not shown); credentials never go into specs, not as values and not "
                    "as keys")
                continue
            field = _secret_field(str(key))
            if field is not None and value not in (None, ""):
                sub = path + (key,)
                yield sub, sub, (
                    f"field {key!r} would put a credential into the spec (and the generated "
                    f"files); give {field} (a file mounted from a Secret) or "
                    "secret_ref instead")
                continue
            if _to_look_into(value):
                yield from find_literal_secrets(value, path + (key,))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            if _to_look_into(item):
                yield from find_literal_secrets(item, path + (i,))
    elif isinstance(data, str):
        kind = secret_kind(data)
        if kind:
            field = str(path[-1]) if path and isinstance(path[-1], str) else "this value"
            yield path, path, (
                f"{field} contains {kind} (value not shown); credentials never go into specs: "
                "put it in a file mounted from a Secret and give its path (*_file) or a "
                "secret_ref")


def _may_report(data: Any) -> bool:
    """Whether find_literal_secrets could report anything in ``data``: the checks of its walk
    in one loop without generators or paths (nearly every document holds no credential; a
    True only sends the document through the walk). Text and keys already found clean are
    told by a set lookup (spec sets repeat their strings: a function call each was most of
    this loop's time)."""
    clean = _CLEAN
    stack = [data]
    while stack:
        node = stack.pop()
        t = type(node)
        if t is dict:
            for key, value in node.items():
                if key in clean and type(key) is str:
                    continue
                text = str(key)
                if secret_kind(text) or (_secret_field(text) is not None
                                         and value not in (None, "")):
                    return True
                _remember_clean(text)
            items: Any = node.values()
        elif t is list:
            items = node
        elif t is str:
            if node not in clean:
                if secret_kind(node):
                    return True
                _remember_clean(node)
            continue
        elif t in NON_TEXT:
            continue
        else:
            return True  # not plain YAML data: the walk decides
        for item in items:  # a container's values: text decided here, containers stacked
            if type(item) is str:
                if item not in clean:
                    if secret_kind(item):
                        return True
                    _remember_clean(item)
            elif type(item) not in NON_TEXT:
                stack.append(item)
    return False


# Text secret_kind found no credential in, which as a key names no credential field either
# (_secret_field): so a key or a value of this text has nothing to report. Bounded as the
# caches of secret_kind are.
_CLEAN: set[str] = set()


def _remember_clean(text: str) -> None:
    """Keep ``text`` (secret_kind found nothing in it) when it names no credential field."""
    if _secret_field(text) is None:
        if len(_CLEAN) >= 65_536:
            _CLEAN.clear()
        _CLEAN.add(text)


def _to_look_into(value: Any) -> bool:
    """Whether find_literal_secrets has anything to report in ``value``: a container, or text
    holding a credential (decided without building the value's path)."""
    if type(value) is str:
        return secret_kind(value) is not None
    return type(value) not in NON_TEXT


@functools.lru_cache(maxsize=4096)  # keys repeat: a spec set has few distinct field names
def _secret_field(key: str) -> str | None:
    """What to give instead, when ``key`` names a credential field (SECRET_FIELDS)."""
    return SECRET_FIELDS.get(key.lower().replace("-", "_"))
