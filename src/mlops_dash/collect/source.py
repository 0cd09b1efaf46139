"""The interface every exporter source implements, and the HTTP client they share.

A source knows its ``name`` (the ``source`` label), how often it is polled and how long one call
may take. ``poll()`` fetches and updates what the source holds, raising SourceError with a kind
and a reason; ``families()`` answers from what the last polls left, without any I/O.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from prometheus_client.core import Metric

# Error kinds: the ``kind`` label of mlops_exporter_source_errors_total.
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
HTTP_5XX = "http_5xx"
HTTP_4XX = "http_4xx"
AUTH = "auth"
MALFORMED = "malformed"
NOT_FOUND = "not_found"
CONFIG = "config"
OTHER = "other"
ERROR_KINDS = (UNREACHABLE, TIMEOUT, HTTP_5XX, HTTP_4XX, AUTH, MALFORMED, NOT_FOUND, CONFIG,
               OTHER)


class SourceError(Exception):
    """A failed poll: ``kind`` (one of ERROR_KINDS) and a reason a person can act on."""

    def __init__(self, kind: str, reason: str) -> None:
        assert kind in ERROR_KINDS, kind
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


class Source(Protocol):
    """One thing the exporter polls."""

    name: str
    interval_s: float
    timeout_s: float

    def poll(self) -> None:
        """Fetch from the source and update what it holds; raise SourceError on failure."""

    def families(self) -> Iterable[Metric]:
        """The metric families of the last polls (no I/O)."""

    def close(self) -> None:
        """Persist what must survive a restart and release connections."""


class HttpJson:
    """A JSON-over-HTTP client with one kept-alive connection, a timeout on every call and
    failures turned into SourceError kinds. Not thread-safe: one per source."""

    def __init__(self, base_url: str, timeout_s: float, what: str) -> None:
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port
        self.base_path = parts.path
        self.timeout_s = timeout_s
        self.what = what
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout_s,
                    context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout_s)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, path: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """(status, parsed JSON) of a GET; 404 is returned, other failures raise."""
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items()
                                        if v not in (None, "")})
        target = self.base_path + path + (f"?{query}" if query else "")
        hdrs = {"Accept": "application/json", **(headers or {})}
        deadline = time.monotonic() + self.timeout_s
        for attempt in (1, 2):  # a kept-alive connection the server closed: one reconnect
            conn = self._connection()
            try:
                conn.request("GET", target, headers=hdrs)
                resp = conn.getresponse()
                body = _read_bounded(resp, deadline)
                break
            except (TimeoutError, socket.timeout) as exc:
                self.close()
                raise SourceError(TIMEOUT, f"{self.what}: no answer within "
                                  f"{self.timeout_s:g}s ({exc or 'timed out'})") from None
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise SourceError(UNREACHABLE, f"{self.what}: connection lost "
                                      f"({exc.__class__.__name__})") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise SourceError(UNREACHABLE, f"{self.what} at {self.scheme}://{self.host}"
                                  f"{':' + str(self.port) if self.port else ''}: "
                                  f"{exc.__class__.__name__}: {exc}") from None
        status = resp.status
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        if status == 404:
            return status, _parse(body, self.what, strict=False)
        if status in (401, 403):
            raise SourceError(AUTH, f"{self.what}: HTTP {status} (credentials refused): "
                              f"{_excerpt(body)}")
        if status >= 500:
            raise SourceError(HTTP_5XX, f"{self.what}: HTTP {status}: {_excerpt(body)}")
        if status >= 400:
            raise SourceError(HTTP_4XX, f"{self.what}: HTTP {status}: {_excerpt(body)}")
        return status, _parse(body, self.what)


def _read_bounded(resp: http.client.HTTPResponse, deadline: float) -> bytes:
    """The body, failing when the whole read passes the deadline (a server trickling bytes)."""
    chunks = []
    while True:
        chunk = resp.read(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise TimeoutError("the response took longer than the timeout")


def _parse(body: bytes, what: str, strict: bool = True) -> Any:
    try:
        return orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        if not strict:
            return {}
        raise SourceError(MALFORMED, f"{what}: response is not JSON ({exc}): "
                          f"{_excerpt(body)}") from None


def _excerpt(body: bytes, n: int = 200) -> str:
    text = body[:n].decode("utf-8", "replace").replace("\n", " ")
    return text + ("…" if len(body) > n else "")


def read_token(path: str | None) -> str | None:
    """A bearer token from a mounted file, re-read each time (projected tokens rotate)."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except OSError as exc:
        raise SourceError(AUTH, f"cannot read token file {path}: {exc.strerror}") from None
    if not token:
        raise SourceError(AUTH, f"token file {path} is empty")
    return token
