"""The simulator over HTTP: the world in a scenario, switchable at runtime, and the situations."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mlops_dash.simulate.situations import situations
from mlops_dash.simulate.world import HEALTHY, SimulationError, World


class Simulator:
    """The world served over HTTP: ``/metrics`` follows the current scenario (switchable with
    ``POST /scenario/NAME``); ``/scenarios/NAME/metrics`` always serves NAME in full effect.
    A situation (``situations.py``) as the scenario adds its series to the healthy world;
    ``/situations/metrics`` serves every situation's series alone, ``/situations/NAME/metrics``
    one situation's."""

    def __init__(self, world: World, scenario: str = HEALTHY, anchor: float | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = world
        self.anchor = anchor if anchor is not None else time.time()
        self.situations = situations(self.anchor)
        self._known(scenario)
        self.situation = self.situations.get(scenario)
        self.current = world.timeline(HEALTHY if self.situation else scenario, self.anchor)
        self.current_name = scenario
        self.lock = threading.Lock()
        self.fixed = {name: world.timeline(name, self.anchor)
                      for name in [HEALTHY, *world.scenarios]}
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _known(self, name: str) -> None:
        if name != HEALTHY and name not in self.world.scenarios and name not in self.situations:
            raise SimulationError(f"unknown scenario {name!r}")

    def switch(self, name: str, now: float | None = None) -> None:
        self._known(name)
        with self.lock:
            self.situation = self.situations.get(name)
            state = HEALTHY if self.situation else name
            self.current.segments.append((now if now is not None else time.time(), state))
            self.current_name = name

    def start(self) -> Simulator:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="mlops-dash-simulate")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def render(self, path: str) -> tuple[int, str]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        now = time.time()
        if parts == ["metrics"]:
            with self.lock:
                extra = self.situation.exposition(now) if self.situation else ""
                return 200, self.world.exposition(self.current, now) + extra
        if parts == ["situations", "metrics"]:
            return 200, "".join(s.exposition(now) for s in self.situations.values())
        if len(parts) == 3 and parts[0] == "situations" and parts[2] == "metrics":
            found = self.situations.get(parts[1])
            if found is None:
                return 404, f"unknown situation {parts[1]}\n"
            return 200, found.exposition(now)
        if len(parts) == 3 and parts[0] == "scenarios" and parts[2] == "metrics":
            tl = self.fixed.get(parts[1])
            if tl is None:
                return 404, f"unknown scenario {parts[1]}\n"
            return 200, self.world.exposition(tl, now)
        if parts in (["scenarios"], ["scenario"], []):
            lines = [f"current: {self.current_name}", f"{HEALTHY}: no alert fires"]
            lines += [f"{n}: {s.description}" for n, s in self.world.scenarios.items()]
            lines += [s.line() for s in self.situations.values()]
            return 200, "\n".join(lines) + "\n"
        return 404, "not found\n"


def _handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            code, body = sim.render(self.path)
            self._send(code, body)

        def do_POST(self) -> None:  # noqa: N802
            parts = [p for p in self.path.split("/") if p]
            if len(parts) == 2 and parts[0] == "scenario":
                try:
                    sim.switch(parts[1])
                except SimulationError as exc:
                    self._send(404, f"{exc}\n")
                    return
                self._send(200, f"scenario {parts[1]}\n")
                return
            self._send(404, "not found\n")

        def _send(self, code: int, body: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler

