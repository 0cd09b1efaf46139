"""A plain-function predictor served on loopback with the mlops-dash instrumentation (run as a
process by tests/test_instrument.py: a fresh process, so its first request is a cold start).

argv: APP_PORT METRICS_PORT
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from mlops_dash.collect.instrument import PredictionRecorder

recorder = PredictionRecorder("demand-forecast", "v3", buckets=[10, 25, 50, 100, 250, 500])


@recorder.wrap
def predict(rows: list[dict[str, float]]) -> list[float]:
    return [2.0 * r["traffic"] + 5.0 for r in rows]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 -- http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        out = json.dumps({"predictions": predict(body["instances"])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        return


if __name__ == "__main__":
    app_port, metrics_port = int(sys.argv[1]), int(sys.argv[2])
    recorder.serve(metrics_port, addr="127.0.0.1")
    HTTPServer(("127.0.0.1", app_port), Handler).serve_forever()
