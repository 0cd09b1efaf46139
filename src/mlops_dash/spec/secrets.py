"""Refuse credentials written into specs (and find them in generated text).

Specs name credentials only indirectly: the path of a file mounted from a Secret (``*_file``) or
a Kubernetes Secret key (``secret_ref``). A literal routing key, webhook URL, token or password
anywhere in a spec is an error naming the file, line and field, never the value itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

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

# Values that are credentials whatever field holds them. Each: (name, regex).
SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Slack webhook URL", re.compile(r"https?://hooks\.slack(?:-gov)?\.com/\S+")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a PagerDuty Events API integration key",
     re.compile(r"(?<![A-Za-z0-9_])(?=[a-z0-9]*[0-9])(?=[a-z0-9]*[a-z])[a-z0-9]{32}"
                r"(?![A-Za-z0-9_])")),
    ("a PagerDuty events URL with a key",
     re.compile(r"events\.pagerduty\.com/\S*/[A-Za-z0-9]{20,}")),
    # the look-behind starts a scheme only at the start of a run: linear time on long tokens
    ("a URL with an embedded password",
     re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)


# Any of SECRET_VALUES in one search (most text holds none; the loop below then names the kind).
_ANY_SECRET = re.compile("|".join(f"(?:{rx.pattern})" for _, rx in SECRET_VALUES))
assert not any(rx.flags & ~re.UNICODE for _, rx in SECRET_VALUES)


def secret_kind(value: str) -> str | None:
    """What kind of credential ``value`` contains, or None."""
    if not _ANY_SECRET.search(value):
        return None
    for name, rx in SECRET_VALUES:
        if rx.search(value):
            return name
    return None


Path = tuple[str | int, ...]


def find_literal_secrets(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(field path, message) for every credential written literally into parsed spec data."""
    if isinstance(data, dict):
        for key, value in data.items():
            sub = path + (key,)
            norm = str(key).lower().replace("-", "_")
            if norm in SECRET_FIELDS and value not in (None, ""):
                yield sub, (
                    f"field {key!r} would put a credential into the spec (and the generated "
                    f"files); give {SECRET_FIELDS[norm]} (a file mounted from a Secret) or "
                    "secret_ref instead")
                continue
            yield from find_literal_secrets(value, sub)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from find_literal_secrets(item, path + (i,))
    elif isinstance(data, str):
        kind = secret_kind(data)
        if kind:
            field = str(path[-1]) if path and isinstance(path[-1], str) else "this value"
            yield path, (
                f"{field} contains {kind} (value not shown); credentials never go into specs: "
                "put it in a file mounted from a Secret and give its path (*_file) or a "
                "secret_ref")
