"""Loopback HTTP servers of the replay and fault tests: one way to start, answer and stop."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def send(h: BaseHTTPRequestHandler, status: int, body: bytes,
         content_type: str = "application/json") -> None:
    """Answer one request with a whole body (Content-Length set, so keep-alive works)."""
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class Quiet(BaseHTTPRequestHandler):
    """A handler that does not log each request to stderr."""

    def log_message(self, *args: object) -> None:
        pass


class LoopbackServer:
    """A threading HTTP server on 127.0.0.1 (a free port), serving in a daemon thread."""

    def serve(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
