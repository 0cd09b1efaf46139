"""A loopback replay of the Kubeflow Pipelines v2beta1 API, for the exporter's tests.

KFP's API server needs Kubernetes, so the tests talk to this instead. What it serves follows
the real definitions: every run, pipeline and error body is validated against the vendored
swagger (tests/data/kfp/, kubeflow/pipelines backend/api/v2beta1/swagger/, with
``additionalProperties: false`` added so no invented field passes). Behaviour modelled on the
real server (kubeflow/pipelines at 7b70c7b):
- ListRuns: ``filter`` is a JSON Filter (filter.proto; GREATER_THAN on timestamps, IN on
  strings), ``sort_by`` "field" or "field desc" with the run id as tie-break, keyset page
  tokens naming the first row of the next page (backend/src/apiserver/list/list.go), an empty
  ``next_page_token`` on the last page, ``namespace`` selecting a profile's runs;
- unfinished runs carry the zero time as ``finished_at`` (api_converter.go toApiRun uses
  ``timestamppb.New(time.Unix(FinishedAtInSec, 0))``);
- task_details hold Argo's nodes (workflow root, root-driver, root, <task>-driver, <task>,
  executor: backend/src/v2/compiler/argocompiler/dag.go, container.go), named by
  node.DisplayName (backend/src/common/util/workflow.go NodeStatuses);
- errors are google.rpc.Status bodies (code 5 NOT_FOUND with HTTP 404, 16 UNAUTHENTICATED
  with 401).
Faults are switched on per test: 5xx, slow answers, malformed JSON, a dropped connection,
duplicated rows, and a hook run before each request (to delete a pipeline mid-poll).
"""

from __future__ import annotations

import base64
import functools
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
from loopback_http import send

DATA = Path(__file__).parent / "data" / "kfp"
ZERO_TIME = "1970-01-01T00:00:00Z"
STATES = ["RUNTIME_STATE_UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED",
          "CANCELING", "CANCELED", "PAUSED"]


def _strict(defs: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(defs))
    for d in out.values():
        if d.get("type") == "object" and "properties" in d:
            d.setdefault("additionalProperties", False)
    return out


def _definitions() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for name in ("run", "pipeline"):
        defs.update(json.loads((DATA / f"{name}.swagger.json").read_text())["definitions"])
    return _strict(defs)


DEFINITIONS = _definitions()
assert DEFINITIONS["v2beta1RuntimeState"]["enum"] == STATES


@functools.cache
def _validator(definition: str) -> Any:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": DEFINITIONS}
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
    cls.check_schema(schema)
    return cls(schema)


def validate(doc: Any, definition: str) -> None:
    """Raise jsonschema.ValidationError unless ``doc`` is a valid ``definition``."""
    error = jsonschema.exceptions.best_match(_validator(definition).iter_errors(doc))
    if error is not None:
        raise error


def ts(t: float | None) -> str:
    if not t:
        return ZERO_TIME
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pipeline_spec(name: str, tasks: list[str]) -> dict[str, Any]:
    """A compiled pipeline (IR) as the Struct a run carries inline (pipeline_spec)."""
    return {
        "pipelineInfo": {"name": name},
        "root": {"dag": {"tasks": {t: {"componentRef": {"name": f"comp-{t}"},
                                       "taskInfo": {"name": t}} for t in tasks}}},
        "components": {f"comp-{t}": {"executorLabel": f"exec-{t}"} for t in tasks},
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.7.0",
    }


def argo_tasks(run_id: str, workflow: str, tasks: dict[str, str], t0: float,
               t1: float) -> list[dict[str, Any]]:
    """task_details of a run: Argo's nodes and one node per component task (name → state).
    A failed component fails its executor, the root DAG and the workflow root too."""
    failed = any(s == "FAILED" for s in tasks.values())
    run_state = "FAILED" if failed else "SUCCEEDED"
    nodes: list[tuple[str, str]] = [(workflow, run_state), ("root-driver", "SUCCEEDED"),
                                    ("root", run_state)]
    for name, state in tasks.items():
        nodes += [(f"{name}-driver", "SUCCEEDED"), (name, state), ("executor", state)]
    out = []
    for i, (name, state) in enumerate(nodes):
        out.append({
            "run_id": run_id, "task_id": f"{run_id}-{i}", "display_name": name,
            "create_time": ts(t0), "start_time": ts(t0), "end_time": ts(t1),
            "state": state, "pod_name": f"{workflow}-{abs(hash(name)) % 10**10}",
            "child_tasks": [],
        })
    return out


class KfpReplay:
    """The replay server: runs and pipelines in memory, served on 127.0.0.1."""

    def __init__(self, token: str | None = None, multi_user: bool = False) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.namespace_of: dict[str, str] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.token = token
        self.multi_user = multi_user
        self.fault: str | None = None  # "5xx", "slow", "malformed", "drop", "duplicate"
        self.slow_s = 3.0
        self.before_request: Callable[[str, dict[str, str]], None] | None = None
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.validate_responses = True
        self.connections: set[socket.socket] = set()

    # ------------------------------------------------------------------ fixtures

    def add_pipeline(self, pipeline_id: str, display_name: str, created: float = 0) -> None:
        p = {"pipeline_id": pipeline_id, "name": display_name, "display_name": display_name,
             "created_at": ts(created or 1), "namespace": ""}
        validate(p, "v2beta1Pipeline")
        self.pipelines[pipeline_id] = p

    def add_run(self, run_id: str, state: str, created: float, finished: float | None = None,
                pipeline_id: str | None = None, inline_name: str | None = None,
                tasks: dict[str, str] | None = None, namespace: str = "",
                with_details: bool = True) -> dict[str, Any]:
        """A run as GetRun returns it: referenced pipeline version or inline spec."""
        run: dict[str, Any] = {
            "experiment_id": "exp-1", "run_id": run_id, "display_name": f"run {run_id}",
            "storage_state": "AVAILABLE", "service_account": "pipeline-runner",
            "created_at": ts(created), "scheduled_at": ts(created),
            "finished_at": ts(finished), "state": state,
            "state_history": [{"update_time": ts(created), "state": "PENDING"}],
        }
        if pipeline_id is not None:
            run["pipeline_version_reference"] = {"pipeline_id": pipeline_id,
                                                 "pipeline_version_id": f"{pipeline_id}-v1"}
        else:
            run["pipeline_spec"] = pipeline_spec(inline_name or "inline",
                                                 list((tasks or {}).keys()))
        if with_details:
            run["run_details"] = {
                "pipeline_context_id": "1", "pipeline_run_context_id": "2",
                "task_details": argo_tasks(run_id, f"wf-{run_id[:8]}", tasks or {}, created,
                                           finished or created)}
        if state == "FAILED":
            run["error"] = {"code": 2, "message": "a component failed", "details": []}
        validate(run, "v2beta1Run")
        with self.lock:
            self.runs[run_id] = run
            self.namespace_of[run_id] = namespace
        return run

    def set_state(self, run_id: str, state: str, finished: float | None = None,
                  tasks: dict[str, str] | None = None) -> None:
        with self.lock:
            run = self.runs[run_id]
            run["state"] = state
            run["finished_at"] = ts(finished)
            if tasks is not None and "run_details" in run:
                created = datetime.fromisoformat(run["created_at"]).timestamp()
                run["run_details"]["task_details"] = argo_tasks(
                    run_id, f"wf-{run_id[:8]}", tasks, created, finished or created)
            validate(run, "v2beta1Run")

    # ------------------------------------------------------------------ serving

    def start(self, port: int = 0) -> KfpReplay:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                replay.connections.add(self.connection)

            def do_GET(self) -> None:  # noqa: N802
                replay.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        for conn in list(self.connections):  # a stopped server's kept-alive connections die
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.connections.clear()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(h.path)
        params = dict(urllib.parse.parse_qsl(parts.query))
        self.requests.append(h.path)
        if self.before_request:
            self.before_request(parts.path, params)
        fault = self.fault
        if fault == "drop":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "5xx":
            return self._send(h, 503, {"code": 14, "message": "upstream connect error",
                                       "details": []}, "googleRpcStatus")
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(h, 401, {"code": 16, "message": "Request header error: there "
                                       "is no user identity header.", "details": []},
                              "googleRpcStatus")
        if fault == "malformed":
            body = b'{"runs": [{"run_id": "x", "state": "SUCC'
            return send(h, 200, body)
        path = parts.path
        if path == "/apis/v2beta1/runs":
            return self._list_runs(h, params)
        if path.startswith("/apis/v2beta1/runs/"):
            run = self.runs.get(path.rsplit("/", 1)[1])
            if run is None:
                return self._not_found(h, "run")
            return self._send(h, 200, run, "v2beta1Run")
        if path.startswith("/apis/v2beta1/pipelines/"):
            p = self.pipelines.get(path.rsplit("/", 1)[1])
            if p is None:
                return self._not_found(h, "pipeline")
            return self._send(h, 200, p, "v2beta1Pipeline")
        return self._not_found(h, "path")

    def _not_found(self, h: BaseHTTPRequestHandler, what: str) -> None:
        self._send(h, 404, {"code": 5, "message": f"{what} not found: ResourceNotFoundError",
                            "details": []}, "googleRpcStatus")

    def _list_runs(self, h: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        ns = params.get("namespace", "")
        if self.multi_user and not ns:
            return self._send(h, 400, {"code": 3, "message": "Invalid input error: In "
                                       "multi-user mode, ListRuns must specify a namespace.",
                                       "details": []}, "googleRpcStatus")
        with self.lock:
            rows = [r for rid, r in self.runs.items()
                    if not self.multi_user or self.namespace_of[rid] == ns]
            rows = [json.loads(json.dumps(r)) for r in rows]
        for pred in json.loads(params.get("filter") or "{}").get("predicates", []):
            rows = [r for r in rows if _matches(r, pred)]
        field, _, order = (params.get("sort_by") or "created_at").partition(" ")
        desc = order == "desc"

        def key(r: dict[str, Any]) -> tuple[Any, str]:
            return (r.get(field) or "", r["run_id"])

        rows.sort(key=key, reverse=desc)
        token = params.get("page_token")
        if token:
            start = tuple(json.loads(base64.b64decode(token)))
            rows = [r for r in rows if (key(r) <= start if desc else key(r) >= start)]
        size = min(int(params.get("page_size") or 20), 200)  # list.go: default 20, max 200
        page, rest = rows[:size], rows[size:]
        doc: dict[str, Any] = {"runs": page, "total_size": len(rows)}
        if rest:
            doc["next_page_token"] = base64.b64encode(json.dumps(list(key(rest[0])))
                                                      .encode()).decode()
        if self.fault == "duplicate" and page:
            doc["runs"] = page + page[:1]
        if not page:
            doc = {}  # proto3 JSON leaves out empty fields (total_size 0 too)
        self._send(h, 200, doc, "v2beta1ListRunsResponse")

    def _send(self, h: BaseHTTPRequestHandler, code: int, doc: Any, definition: str) -> None:
        if self.validate_responses:
            validate(doc, definition)
        send(h, code, json.dumps(doc).encode())


def _matches(run: dict[str, Any], pred: dict[str, Any]) -> bool:
    key, op = pred["key"], pred["operation"]
    value = run.get(key)
    if "timestamp_value" in pred or "timestampValue" in pred:
        want = pred.get("timestamp_value") or pred.get("timestampValue")
        a = datetime.fromisoformat(value or ZERO_TIME).timestamp()
        b = datetime.fromisoformat(want).timestamp()
        return {"GREATER_THAN": a > b, "GREATER_THAN_EQUALS": a >= b, "LESS_THAN": a < b,
                "LESS_THAN_EQUALS": a <= b, "EQUALS": a == b}[op]
    if op == "IN":
        values = (pred.get("string_values") or pred.get("stringValues"))["values"]
        return value in values
    if op == "EQUALS":
        return value == pred.get("string_value")
    raise ValueError(f"replay: unsupported predicate {pred}")
