"""Kubeflow Pipelines (v2beta1 REST API) → mlops_pipeline_* series.

API: kubeflow/pipelines backend/api/v2beta1/run.proto and pipeline.proto (ListRuns with
``filter``, ``sort_by``, ``page_token``, ``page_size``, ``namespace``; GetRun; GetPipeline).

Counting: every finish of a run is counted once. Each poll lists the runs whose ``finished_at``
is after the high-water mark less ``finish_overlap`` (sorted by ``finished_at``, page by page),
skipping the (run id, finished_at) pairs already counted; then the open runs; then re-checks, one
by one, the runs that were open at the last poll and are neither open nor listed as finished now
(a run recorded late, behind the mark). The mark, the finishes counted near it, the open runs and
pipeline names persist in the state file, so a restart neither recounts nor misses a run;
counters restart at 0 (never rebuilt from history). Memory: the pipelines, the open runs and the
finishes within the overlap window, however many runs the server holds.

States: SUCCEEDED → succeeded; FAILED → failed; SKIPPED (a whole run served from cache) →
succeeded, but not observed in the duration histogram (its duration is not a run's work);
CANCELED → not counted (a person stopped it: neither outcome of the pipeline). PENDING and
RUNNING export a start timestamp; CANCELING and PAUSED are open without one. Any other state
with a finished_at is logged and not counted.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from mlops_dash.collect.source import MALFORMED, HttpJson, SourceError, read_token
from mlops_dash.collect.state import StateFile
from mlops_dash.spec.collectors_exporter import COMPONENTS, KfpSource

log = logging.getLogger("mlops_dash.exporter")

STATUS = {"SUCCEEDED": "succeeded", "FAILED": "failed", "SKIPPED": "succeeded",
          "CANCELED": None}
STATUSES = ("succeeded", "failed")
STARTED = ("PENDING", "RUNNING")
OPEN = ("PENDING", "RUNNING", "CANCELING", "PAUSED", "RUNTIME_STATE_UNSPECIFIED")
# Argo's own nodes in task_details (kubeflow/pipelines backend/src/v2/compiler/argocompiler:
# dag.go names drivers "<task>-driver" and the entry DAG "root"; container.go's executor DAG
# task is "executor"); the workflow root node carries the workflow's name.
ARGO_NODES = ("root", "root-driver", "executor", "*-driver", "system-*")
RUNS = "/apis/v2beta1/runs"
PIPELINES = "/apis/v2beta1/pipelines"


def parse_time(value: Any) -> float:
    """Unix seconds of an RFC 3339 timestamp (0 for absent or the zero time)."""
    if not value or not isinstance(value, str):
        return 0.0
    try:
        t = datetime.fromisoformat(value.replace("z", "Z")).timestamp()
    except ValueError:
        raise SourceError(MALFORMED, f"KFP: invalid timestamp {value!r}") from None
    return t if t > 0 else 0.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def finished_after(t: float) -> str:
    """The ``filter`` parameter: runs finished after ``t`` (filter.proto, JSON)."""
    return json.dumps({"predicates": [{"key": "finished_at", "operation": "GREATER_THAN",
                                       "timestamp_value": iso(t)}]})


def state_in(states: Iterable[str]) -> str:
    return json.dumps({"predicates": [{"key": "state", "operation": "IN",
                                       "string_values": {"values": list(states)}}]})


class KfpCollector:
    """Counts finished runs and tracks open ones, per pipeline."""

    def __init__(self, spec: KfpSource, state: StateFile) -> None:
        self.name = "kfp"
        self.spec = spec
        self.interval_s = spec.interval_s
        self.timeout_s = spec.timeout_s
        self.http = HttpJson(spec.url, spec.timeout_s, "KFP API")
        self.state = state
        self.st = state.section("kfp")
        self.st.setdefault("namespaces", {})
        self.st.setdefault("pipelines", {})
        self.buckets = list(spec.duration_buckets)
        self.runs: dict[tuple[str, str], int] = {}
        self.hist: dict[str, list[float]] = {}  # pipeline → bucket counts…, +Inf count, sum
        self.failures: dict[tuple[str, str], int] = {}
        self.started: dict[tuple[str, str], float] = {}  # (pipeline, run_id) → start
        self.wanted = set(spec.pipelines)
        self.globs = [(c, g) for c in COMPONENTS for g in spec.components.get(c, [])]
        self.dirty = True  # families changed since the exporter last took them
        # called with (pipeline, run_id, created, finished) for each finish counted
        self.on_finished: Callable[[str, str, float, float], None] | None = None

    # ------------------------------------------------------------------ polling

    def poll(self) -> None:
        token = read_token(self.spec.token_path)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        started: dict[tuple[str, str], float] = {}
        for ns in self.spec.namespaces or [""]:
            self._poll_namespace(ns, started)
        if started != self.started:
            self.started = started
            self.dirty = True

    def _poll_namespace(self, ns: str, started: dict[tuple[str, str], float]) -> None:
        nst = self.st["namespaces"].setdefault(ns, {})
        if "mark" not in nst:
            self._initial_mark(ns, nst)
        nst.setdefault("counted", {})
        listed: set[str] = set()
        since = nst["mark"] - self.spec.overlap_s
        for page in self._pages(ns, finished_after(since), "finished_at"):
            for run in page:
                listed.add(run.get("run_id", ""))
                self._finished(run, nst, count=True)
            self._prune(nst)
            self.state.save()
        open_now: dict[str, str] = {}
        for page in self._pages(ns, state_in(OPEN), ""):
            for run in page:
                self._open(run, open_now, started)
        for run_id in sorted(set(nst.get("open", {})) - set(open_now) - listed):
            status, run = self._get(f"{RUNS}/{run_id}", ns)
            if status == 404:
                log.info("KFP run %s was deleted before it was seen finished", run_id)
                continue
            if run.get("state") in OPEN:
                self._open(run, open_now, started)
            else:
                self._finished(run, nst, count=True)
        nst["open"] = open_now
        self._prune(nst)
        self.state.save()

    def _initial_mark(self, ns: str, nst: dict[str, Any]) -> None:
        """First poll ever: start at the latest finish the server knows (its clock, not ours);
        the finishes within the overlap before it are remembered, not counted."""
        _, doc = self._get(RUNS, ns, {"sort_by": "finished_at desc", "page_size": 1,
                                      "filter": finished_after(0)})
        runs = self._runs_of(doc)
        nst["mark"] = parse_time(runs[0].get("finished_at")) if runs else 0.0
        nst["counted"] = {}
        for page in self._pages(ns, finished_after(nst["mark"] - self.spec.overlap_s),
                                "finished_at"):
            for run in page:
                self._finished(run, nst, count=False)
        self.state.save()

    def _pages(self, ns: str, flt: str, sort_by: str) -> Iterator[list[dict[str, Any]]]:
        token = ""
        seen_tokens: set[str] = set()
        while True:
            _, doc = self._get(RUNS, ns, {"filter": flt, "sort_by": sort_by,
                                          "page_size": self.spec.page_size,
                                          "page_token": token})
            yield self._runs_of(doc)
            token = doc.get("next_page_token") or ""
            if not token:
                return
            if token in seen_tokens:
                raise SourceError(MALFORMED, "KFP API returned the same next_page_token twice")
            seen_tokens.add(token)

    def _get(self, path: str, ns: str, params: dict[str, Any] | None = None
             ) -> tuple[int, dict[str, Any]]:
        status, doc = self.http.get(path, {**(params or {}), "namespace": ns or None},
                                    self.headers)
        if status == 404 and path == RUNS:
            raise SourceError("not_found", f"KFP API: {RUNS} not found (is the URL the "
                              "ml-pipeline API server?)")
        if not isinstance(doc, dict):
            raise SourceError(MALFORMED, f"KFP API {path}: expected a JSON object")
        return status, doc

    @staticmethod
    def _runs_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
        runs = doc.get("runs") or []
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise SourceError(MALFORMED, "KFP API: 'runs' is not a list of objects")
        return runs

    # ------------------------------------------------------------------ one run

    def _open(self, run: dict[str, Any], open_now: dict[str, str],
              started: dict[tuple[str, str], float]) -> None:
        run_id = run.get("run_id")
        if not run_id:
            return
        pipeline = self._pipeline(run)
        open_now[run_id] = pipeline
        if pipeline is None:
            return
        self._seen(pipeline)
        if run.get("state") in STARTED:
            created = parse_time(run.get("created_at"))
            if created:
                started[(pipeline, run_id)] = created

    def _finished(self, run: dict[str, Any], nst: dict[str, Any], count: bool) -> None:
        run_id = run.get("run_id")
        state = run.get("state") or "RUNTIME_STATE_UNSPECIFIED"
        finished = parse_time(run.get("finished_at"))
        if not run_id or not finished or state in OPEN:
            return
        counted = nst["counted"]
        if counted.get(run_id) == finished:
            return  # listed again (overlap, duplicate id, a page boundary moving)
        counted[run_id] = finished
        if finished > nst["mark"]:
            nst["mark"] = finished
        pipeline = self._pipeline(run)
        if pipeline is None:
            return
        self._seen(pipeline)
        if not count:
            return
        if state not in STATUS:
            log.warning("KFP run %s finished in unknown state %r: not counted", run_id, state)
            return
        status = STATUS[state]
        if status is None:
            return
        self.runs[(pipeline, status)] += 1
        self.dirty = True
        if state != "SKIPPED":
            duration = finished - parse_time(run.get("created_at"))
            if duration >= 0:
                h = self.hist[pipeline]
                h[bisect.bisect_left(self.buckets, duration)] += 1
                h[-1] += duration
            else:
                log.warning("KFP run %s finished before it was created (clock skew?): "
                            "duration not observed", run_id)
        if self.on_finished is not None:
            self.on_finished(pipeline, run_id, parse_time(run.get("created_at")), finished)
        if status == "failed":
            for component in self._failed_components(run):
                self.failures[(pipeline, component)] += 1

    def _failed_components(self, run: dict[str, Any]) -> list[str]:
        details = run.get("run_details")
        if not isinstance(details, dict) or "task_details" not in details:
            status, full = self._get(f"{RUNS}/{run['run_id']}", "")
            details = full.get("run_details") if status != 404 else None
        tasks = (details or {}).get("task_details") or []
        out: list[str] = []
        seen: set[str] = set()
        for task in tasks:
            if not isinstance(task, dict) or task.get("state") != "FAILED":
                continue
            name = task.get("display_name") or ""
            if any(fnmatch.fnmatchcase(name, g) for g in ARGO_NODES):
                continue
            tid = task.get("task_id") or name
            if tid in seen:
                continue
            for component, glob in self.globs:
                if fnmatch.fnmatchcase(name, glob):
                    seen.add(tid)
                    out.append(component)
                    break
        return out

    def _pipeline(self, run: dict[str, Any]) -> str | None:
        """The run's pipeline name (None: not exported): the referenced pipeline's name, the
        inline spec's pipelineInfo.name, or the pipeline id when the pipeline was deleted."""
        ref = run.get("pipeline_version_reference")
        spec = run.get("pipeline_spec")
        inline = None
        if isinstance(spec, dict):
            info = spec.get("pipelineInfo") or spec.get("pipeline_spec", {}).get("pipelineInfo")
            inline = (info or {}).get("name") if isinstance(info, dict) else None
        name = None
        if isinstance(ref, dict) and ref.get("pipeline_id"):
            pid = ref["pipeline_id"]
            names = self.st["pipelines"]
            name = names.get(pid)
            if name is None:
                status, doc = self._get(f"{PIPELINES}/{pid}", "")
                if status == 404:
                    name = inline or pid
                    log.info("KFP pipeline %s was deleted; its runs count as %r", pid, name)
                else:
                    name = doc.get("display_name") or doc.get("name") or inline or pid
                names[pid] = name
        name = name or inline or "unknown"
        if self.wanted and name not in self.wanted:
            return None
        return str(name)

    def _seen(self, pipeline: str) -> None:
        """Every label value of a pipeline exists (at 0) from the first time it is seen."""
        if pipeline in self.hist:
            return
        self.dirty = True
        self.hist[pipeline] = [0.0] * (len(self.buckets) + 2)
        for s in STATUSES:
            self.runs[(pipeline, s)] = 0
        for c in COMPONENTS:
            self.failures[(pipeline, c)] = 0

    def _prune(self, nst: dict[str, Any]) -> None:
        floor = nst["mark"] - self.spec.overlap_s
        counted = nst["counted"]
        old = [k for k, t in counted.items() if t < floor]
        for k in old:
            del counted[k]

    # ------------------------------------------------------------------ exposition

    def families(self) -> Iterable[Metric]:
        runs = CounterMetricFamily("mlops_pipeline_runs", "Finished pipeline runs",
                                   labels=["pipeline", "status"])
        for (p, s), v in sorted(self.runs.items()):
            runs.add_metric([p, s], v)
        dur = HistogramMetricFamily("mlops_pipeline_run_duration_seconds",
                                    "Duration of finished pipeline runs", labels=["pipeline"])
        les = [repr(float(b)) for b in self.buckets] + ["+Inf"]
        for p, h in sorted(self.hist.items()):
            acc, cum = 0.0, []
            for le, n in zip(les, h[:-1], strict=True):
                acc += n
                cum.append((le, acc))
            dur.add_metric([p], cum, h[-1])
        start = GaugeMetricFamily("mlops_pipeline_run_start_timestamp_seconds",
                                  "Start time of a running pipeline run",
                                  labels=["pipeline", "run_id"])
        for (p, r), t in sorted(self.started.items()):
            start.add_metric([p, r], t)
        fails = CounterMetricFamily("mlops_pipeline_component_failures",
                                    "Failed pipeline steps by component",
                                    labels=["pipeline", "component"])
        for (p, c), v in sorted(self.failures.items()):
            fails.add_metric([p, c], v)
        return [runs, dur, start, fails]

    def close(self) -> None:
        self.http.close()
