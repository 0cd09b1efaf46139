"""GCS prefix sizes through the real google-cloud-storage client against a loopback replay of
the JSON API's objects.list (https://cloud.google.com/storage/docs/json_api/v1/objects/list:
``{"kind": "storage#objects", "items": [...], "nextPageToken": ...}``, object ``size`` a
uint64 as a string; errors as ``{"error": {"code", "message", "errors"}}``)."""

from __future__ import annotations

import json
import urllib.parse

import google.cloud.storage  # noqa: F401  (the gcs extra, part of the test extra)
import pytest
from exporter_support import v, values
from loopback_http import LoopbackServer, Quiet, send

from mlops_dash.collect.source import SourceError
from mlops_dash.collect.storage import storage_collectors
from mlops_dash.spec.collectors_exporter import StorageSource


class GcsReplay(LoopbackServer):
    def __init__(self, objects: dict[str, dict[str, int]]) -> None:
        self.objects = objects  # bucket → name → size
        self.requests: list[str] = []
        self.status = 200
        replay = self

        class Handler(Quiet):
            def do_GET(self) -> None:  # noqa: N802
                replay.requests.append(self.path)
                parts = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(parts.query))
                segs = parts.path.strip("/").split("/")  # storage v1 b BUCKET o
                bucket = segs[3]
                if replay.status != 200 or bucket not in replay.objects:
                    code = replay.status if replay.status != 200 else 404
                    body = {"error": {"code": code, "message": f"bucket {bucket}: {code}",
                                      "errors": [{"reason": "notFound" if code == 404
                                                  else "backendError"}]}}
                else:
                    names = sorted(n for n in replay.objects[bucket]
                                   if n.startswith(q.get("prefix", "")))
                    start = int(q.get("pageToken") or 0)
                    size = int(q.get("maxResults") or 1000)
                    page = names[start:start + size]
                    body = {"kind": "storage#objects",
                            "items": [{"kind": "storage#object", "name": n, "bucket": bucket,
                                       "size": str(replay.objects[bucket][n])} for n in page]}
                    if start + size < len(names):
                        body["nextPageToken"] = str(start + size)
                    code = 200
                send(self, code, json.dumps(body).encode())

        self.serve(Handler)


def test_gcs_prefix_sizes_over_pages_and_errors():
    objs = {f"datasets/events/part-{i:04d}": i + 1 for i in range(25)}
    objs["datasets/other/x"] = 1000
    replay = GcsReplay({"ml-data": objs})
    try:
        spec = StorageSource(gcs_endpoint_url=replay.url, timeout="5s", prefixes=[
            {"name": "events", "url": "gs://ml-data/datasets/events/"},
            {"name": "missing", "url": "gs://no-such-bucket/x/", "kind": "artifacts"}])
        [c] = storage_collectors(spec)
        assert c.name == "gcs"
        c.page_size = 10
        with pytest.raises(SourceError) as info:
            c.poll()
        assert info.value.kind == "not_found"
        c.prefixes = c.prefixes[:1]
        c.poll()
        assert v(values(c.families()), "mlops_dataset_size_bytes",
                 dataset="events") == sum(range(1, 26))
        assert sum("pageToken=" in r for r in replay.requests) >= 2
        replay.status = 503
        with pytest.raises(SourceError) as info:
            c.poll()
        assert info.value.kind == "http_5xx"
    finally:
        replay.stop()
