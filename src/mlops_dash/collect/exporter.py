"""The exporter core: polls each source on its own interval, serves /metrics from bytes.

Each source runs in its own thread: poll, snapshot its metric families, render the whole
exposition once (prometheus_client's ``generate_latest``) and keep the bytes, so a scrape costs
a memory copy and never waits on a source. A failing source keeps its last values, reports
itself down with the reason (``/status``, the log, ``mlops_exporter_source_*``) and is retried
with exponential backoff; the other sources are not affected. Between polls the threads sleep
on an event: an idle exporter uses no CPU.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from mlops_dash.collect.source import ERROR_KINDS, OTHER, Source, SourceError

log = logging.getLogger("mlops_dash.exporter")


@dataclass
class SourceStatus:
    """What the exporter knows about one source's polls."""

    attempted: bool = False
    up: bool = False
    last_success: float = 0.0
    last_duration: float = 0.0
    failures: int = 0  # consecutive
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    last_error: dict[str, Any] = field(default_factory=dict)
    families: list[Metric] = field(default_factory=list)
    version: int = 0  # bumped whenever ``families`` is replaced


class Exporter:
    """Schedules the sources and keeps the rendered exposition."""

    def __init__(self, sources: Sequence[Source], backoff_max_s: float = 600.0) -> None:
        self.sources = list(sources)
        self.backoff_max_s = backoff_max_s
        self.status = {s.name: SourceStatus() for s in self.sources}
        self._render_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._blocks: dict[tuple[str, ...], tuple[tuple[int, ...], bytes]] = {}
        self.body = self.render()

    # ------------------------------------------------------------------ polling

    def poll_once(self, source: Source) -> bool:
        """One poll of one source, recorded; the exposition re-rendered. Never raises."""
        st = self.status[source.name]
        t0 = time.monotonic()
        ok = False
        try:
            source.poll()
            ok = True
        except SourceError as exc:
            self._failed(source, st, exc.kind, exc.reason)
        except Exception as exc:  # a source's bug must not stop the exporter
            log.exception("source %s: unexpected error", source.name)
            self._failed(source, st, OTHER, f"{exc.__class__.__name__}: {exc}")
        st.last_duration = time.monotonic() - t0
        st.attempted = True
        if ok:
            if not st.up and st.failures:
                log.info("source %s is up again", source.name)
            st.up, st.failures, st.last_success = True, 0, time.time()
        if getattr(source, "dirty", True) or not st.version:
            try:
                st.families = list(source.families())
                st.version += 1
                if hasattr(source, "dirty"):  # sources without the flag: every poll
                    source.dirty = False
            except Exception:
                log.exception("source %s: cannot list its metrics", source.name)
        self.body = self.render()
        return ok

    def _failed(self, source: Source, st: SourceStatus, kind: str, reason: str) -> None:
        st.up = False
        st.failures += 1
        st.errors[kind] = st.errors.get(kind, 0) + 1
        st.last_error = {"kind": kind, "reason": reason, "at": time.time()}
        log.warning("source %s down (%s): %s", source.name, kind, reason)

    def delay(self, source: Source) -> float:
        """Seconds until the next poll: the interval, or a growing backoff after failures."""
        n = self.status[source.name].failures
        if n == 0:
            return source.interval_s
        cap = max(source.interval_s, self.backoff_max_s)
        return min(source.interval_s * 2 ** (n - 1), cap) * random.uniform(0.9, 1.1)

    def _loop(self, source: Source) -> None:
        while not self._stop.is_set():
            self.poll_once(source)
            if self._stop.wait(self.delay(source)):
                break

    def start(self) -> Exporter:
        for s in self.sources:
            t = threading.Thread(target=self._loop, args=(s,), name=f"source-{s.name}",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        for s in self.sources:
            try:
                s.close()
            except Exception:
                log.exception("source %s: close failed", s.name)

    # ------------------------------------------------------------------ exposition

    def render(self) -> bytes:
        """The exposition: each group of sources rendered again only when its families
        changed (a KFP poll with nothing new costs no re-rendering), then the self-monitoring.
        Sources sharing a family name (s3 and gcs) are one group, their families merged."""
        with self._render_lock:
            parts = []
            for group in self._groups():
                version = tuple(self.status[n].version for n in group)
                cached = self._blocks.get(group)
                if cached is None or cached[0] != version:
                    fams = [f for n in group for f in self.status[n].families]
                    cached = (version, exposition(fams))
                    self._blocks[group] = cached
                parts.append(cached[1])
            parts.append(exposition(self.self_families()))
            self.renders = getattr(self, "renders", 0) + 1
            return b"".join(parts)

    def _groups(self) -> list[tuple[str, ...]]:
        names = {n: {f.name for f in st.families} for n, st in self.status.items()}
        groups: list[tuple[set[str], list[str]]] = []
        for n in sorted(names):
            joined = [g for g in groups if g[0] & names[n]]
            fams, members = set(names[n]), [n]
            for g in joined:
                groups.remove(g)
                fams |= g[0]
                members += g[1]
            groups.append((fams, sorted(members)))
        return [tuple(m) for _, m in groups]

    def self_families(self) -> list[Metric]:
        up = GaugeMetricFamily("mlops_exporter_source_up",
                               "1 if the last poll of the source succeeded", labels=["source"])
        last = GaugeMetricFamily("mlops_exporter_source_last_success_timestamp_seconds",
                                 "Unix time of the source's last successful poll",
                                 labels=["source"])
        dur = GaugeMetricFamily("mlops_exporter_source_poll_duration_seconds",
                                "Duration of the source's last poll", labels=["source"])
        errs = CounterMetricFamily("mlops_exporter_source_errors",
                                   "Failed polls of the source by kind",
                                   labels=["source", "kind"])
        for name, st in sorted(self.status.items()):
            if not st.attempted:
                continue
            up.add_metric([name], 1.0 if st.up else 0.0)
            last.add_metric([name], st.last_success)
            dur.add_metric([name], st.last_duration)
            for kind, n in sorted(st.errors.items()):
                errs.add_metric([name, kind], n)
        return [up, last, dur, errs]

    def status_document(self) -> dict[str, Any]:
        return {name: {"up": st.up, "attempted": st.attempted,
                       "last_success": st.last_success, "consecutive_failures": st.failures,
                       "last_error": st.last_error}
                for name, st in sorted(self.status.items())}

    # ------------------------------------------------------------------ serving

    def serve(self, host: str, port: int) -> ThreadingHTTPServer:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # Prometheus keeps the connection between scrapes

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK add ~40 ms to every answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, exporter.body)
                elif path in ("/healthz", "/-/healthy", "/-/ready"):
                    self._send(200, "text/plain; charset=utf-8", b"ok\n")
                elif path == "/status":
                    self._send(200, "application/json",
                               json.dumps(exporter.status_document(), indent=1).encode())
                else:
                    self._send(404, "text/plain; charset=utf-8",
                               b"not found: try /metrics or /status\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("http: " + fmt, *args)

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
        return server


class _Fixed:
    """A registry collector answering with given families (same-named ones merged)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        merged: dict[str, Metric] = {}
        for f in families:
            if f.name in merged:
                merged[f.name].samples.extend(f.samples)
            else:
                copy = Metric(f.name, f.documentation, f.type, f.unit)
                copy.samples = list(f.samples)
                merged[f.name] = copy
        self.families = list(merged.values())

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(families: Iterable[Metric]) -> bytes:
    """Prometheus text exposition of the families (prometheus_client's generate_latest)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry)
