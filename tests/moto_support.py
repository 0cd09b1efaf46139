"""moto in server mode on loopback (S3, Cost Explorer), and Cost Explorer results built from
botocore's service model.

moto's Cost Explorer answers only what is queued through its
``/moto-api/static/ce/cost-and-usage-results`` endpoint (moto/ce/models.py,
``get_cost_and_usage``: a queued result is bound to the first request body that takes it). The
results queued here are checked against botocore's output shape of GetCostAndUsage
(botocore/data/ce/*/service-2.json), member by member, so they cannot hold a field or a type
the real API does not have.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

import e2e_support as es

LIFETIME_S = 900
FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer:
    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = es.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = es.Process("moto", [
            "timeout", "-s", "TERM", str(LIFETIME_S), sys.executable, "-m", "moto.server",
            "-H", "127.0.0.1", "-p", str(self.port)], workdir)

    def start(self, timeout: float = 60) -> MotoServer:
        self.process.start()

        def ready() -> bool:
            if not self.process.running():
                raise RuntimeError(f"moto exited: {self.process.log()}")
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2) as r:
                return r.status == 200

        es.wait_for("moto server", ready, timeout)
        return self

    def stop(self) -> None:
        self.process.stop()

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    def queue_cost_results(self, results: list[dict[str, Any]]) -> None:
        for r in results:
            check_shape(r, ce_output_shape())
        req = urllib.request.Request(
            f"{self.url}/moto-api/static/ce/cost-and-usage-results",
            data=json.dumps({"results": results}).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).close()

    def boto3(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(aws_access_key_id="testing",
                                     aws_secret_access_key="testing").client(
            service, region_name="us-east-1", endpoint_url=self.url)


def fake_credentials(monkeypatch: Any) -> None:
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)


def ce_output_shape() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("ce")
    return model.operation_model("GetCostAndUsage").output_shape


def check_shape(value: Any, shape: Any, path: str = "$") -> None:
    """Raise AssertionError unless ``value`` fits the botocore shape."""
    t = shape.type_name
    if t == "structure":
        assert isinstance(value, dict), f"{path}: expected an object"
        for key, member in value.items():
            assert key in shape.members, f"{path}.{key}: not a member of {shape.name}"
            check_shape(member, shape.members[key], f"{path}.{key}")
    elif t == "list":
        assert isinstance(value, list), f"{path}: expected a list"
        for i, item in enumerate(value):
            check_shape(item, shape.member, f"{path}[{i}]")
    elif t == "map":
        assert isinstance(value, dict), f"{path}: expected a map"
        for k, item in value.items():
            check_shape(k, shape.key, f"{path}<key>")
            check_shape(item, shape.value, f"{path}.{k}")
    elif t == "string":
        assert isinstance(value, str), f"{path}: expected a string"
        enum = shape.metadata.get("enum")
        assert not enum or value in enum, f"{path}: {value!r} not in {enum}"
    elif t == "boolean":
        assert isinstance(value, bool), f"{path}: expected a boolean"
    elif t in ("integer", "long"):
        assert isinstance(value, int), f"{path}: expected an integer"
    else:
        raise AssertionError(f"{path}: shape type {t} not modelled")


def cost_result(start: str, end: str, groups: dict[tuple[str, str], float], tag_key: str,
                metric: str = "UnblendedCost", token: str | None = None) -> dict[str, Any]:
    """A GetCostAndUsage answer grouped by SERVICE and TAG (keys "service", "tag$value")."""
    result: dict[str, Any] = {
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"},
                             {"Type": "TAG", "Key": tag_key}],
        "ResultsByTime": [{
            "TimePeriod": {"Start": start, "End": end},
            "Total": {},
            "Groups": [{"Keys": [svc, f"{tag_key}${tag}"],
                        "Metrics": {metric: {"Amount": f"{amount:.10f}", "Unit": "USD"}}}
                       for (svc, tag), amount in groups.items()],
            "Estimated": False,
        }],
        "DimensionValueAttributes": [],
    }
    if token:
        result["NextPageToken"] = token
    return result


def env_without_proxy() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    return env
