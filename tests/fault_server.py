"""A loopback HTTP server that answers every request with one fault: a status with a body,
a body that is not what the client expects, or silence past the client's timeout."""

from __future__ import annotations

import time

from loopback_http import LoopbackServer, Quiet, send


class FaultServer(LoopbackServer):
    def __init__(self, status: int = 503, body: bytes = b"upstream connect error",
                 delay_s: float = 0.0, content_type: str = "application/json") -> None:
        self.status, self.body, self.delay_s = status, body, delay_s
        self.hits = 0
        outer = self

        class Handler(Quiet):
            def _answer(self) -> None:
                outer.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                try:
                    send(self, outer.status, outer.body, content_type)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up at its timeout: what the test wants

            do_GET = do_POST = do_PUT = _answer  # noqa: N815

        self.serve(Handler)
