"""Object storage prefixes → mlops_dataset_size_bytes{dataset} and
mlops_artifact_prefix_size_bytes{prefix}: the bytes of every object under each prefix.

Bucket-level daily metrics (CloudWatch's BucketSizeBytes, Stackdriver's total_bytes) are too
coarse for one dataset. S3 through boto3 (``list_objects_v2`` pages), GCS through
google-cloud-storage (``list_blobs`` pages, the optional ``gcs`` extra). Each scheme is its own
source (``s3``, ``gcs``), so one cloud's outage does not mark the other down.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from mlops_dash.collect import aws
from mlops_dash.collect import source as src
from mlops_dash.collect.source import Source, SourceError
from mlops_dash.spec.collectors_exporter import StoragePrefix, StorageSource

log = logging.getLogger("mlops_dash.exporter")


class _PrefixSizes:
    """What the S3 and GCS sources share: sizes per prefix, two gauges."""

    name = ""

    def __init__(self, spec: StorageSource, prefixes: list[StoragePrefix]) -> None:
        self.spec = spec
        self.prefixes = prefixes
        self.interval_s = spec.interval_s
        self.timeout_s = spec.timeout_s
        self.sizes: dict[tuple[str, str], float] = {}
        self.dirty = True

    def poll(self) -> None:
        sizes = {}
        for p in self.prefixes:
            sizes[(p.kind, p.name)] = float(self.size(p))
        self.dirty = sizes != self.sizes
        self.sizes = sizes

    def size(self, p: StoragePrefix) -> int:
        raise NotImplementedError

    def families(self) -> Iterable[Metric]:
        ds = GaugeMetricFamily("mlops_dataset_size_bytes",
                               "Bytes of the objects under a dataset's prefix",
                               labels=["dataset"])
        art = GaugeMetricFamily("mlops_artifact_prefix_size_bytes",
                                "Bytes of the objects under an artifact prefix",
                                labels=["prefix"])
        for (kind, name), value in sorted(self.sizes.items()):
            (ds if kind == "dataset" else art).add_metric([name], value)
        return [ds, art]

    def close(self) -> None:
        pass


class S3Sizes(_PrefixSizes):
    name = "s3"
    page_size = 1000  # list_objects_v2's MaxKeys (and its maximum)

    def __init__(self, spec: StorageSource, prefixes: list[StoragePrefix]) -> None:
        super().__init__(spec, prefixes)
        self.client = aws.client("s3", spec.timeout_s, spec.s3_region, spec.s3_endpoint_url)

    def size(self, p: StoragePrefix) -> int:
        total = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=p.bucket, Prefix=p.prefix, PaginationConfig={"PageSize": self.page_size})
            for page in pages:
                for obj in page.get("Contents", []):
                    total += int(obj.get("Size", 0))
        except Exception as exc:
            raise aws.classify(exc, f"S3 s3://{p.bucket}/{p.prefix}") from None
        return total


class GcsSizes(_PrefixSizes):
    name = "gcs"
    page_size = 1000

    def __init__(self, spec: StorageSource, prefixes: list[StoragePrefix]) -> None:
        super().__init__(spec, prefixes)
        self._client: Any = None

    def _gcs(self) -> Any:
        if self._client is None:
            try:
                from google.cloud import storage
            except ImportError:
                raise SourceError(src.CONFIG, "gs:// prefixes need the gcs extra: pip install "
                                  "'mlops-dash[exporter,gcs]'") from None
            options = ({"api_endpoint": self.spec.gcs_endpoint_url}
                       if self.spec.gcs_endpoint_url else None)
            if self.spec.gcs_credentials_file:
                self._client = storage.Client.from_service_account_json(
                    self.spec.gcs_credentials_file, client_options=options)
            elif self.spec.gcs_endpoint_url:
                from google.auth.credentials import AnonymousCredentials
                self._client = storage.Client(credentials=AnonymousCredentials(),
                                              project="mlops-dash", client_options=options)
            else:
                self._client = storage.Client(client_options=options)
        return self._client

    def size(self, p: StoragePrefix) -> int:
        try:
            client = self._gcs()
            total = 0
            for blob in client.list_blobs(p.bucket, prefix=p.prefix or None,
                                          page_size=self.page_size,
                                          timeout=max(1, math.ceil(self.timeout_s)),
                                          fields="items(size),nextPageToken",
                                          retry=None):  # one attempt: the exporter backs off
                total += int(blob.size or 0)
            return total
        except SourceError:
            raise
        except Exception as exc:
            raise gcs_error(exc, f"GCS gs://{p.bucket}/{p.prefix}") from None


def gcs_error(exc: Exception, what: str) -> SourceError:
    name = exc.__class__.__name__
    code = getattr(exc, "code", None)
    if code in (401, 403) or name in ("Unauthorized", "Forbidden", "DefaultCredentialsError",
                                      "RefreshError"):
        return SourceError(src.AUTH, f"{what}: {name}: {exc}")
    if code == 404 or name == "NotFound":
        return SourceError(src.NOT_FOUND, f"{what}: {exc}")
    if isinstance(code, int) and code >= 500:
        return SourceError(src.HTTP_5XX, f"{what}: {exc}")
    if "timeout" in name.lower() or "timed out" in str(exc).lower():
        return SourceError(src.TIMEOUT, f"{what}: {exc}")
    if name in ("ConnectionError", "TransportError") or isinstance(exc, OSError):
        return SourceError(src.UNREACHABLE, f"{what}: {exc}")
    if isinstance(exc, ValueError):
        return SourceError(src.MALFORMED, f"{what}: {exc}")
    return SourceError(src.OTHER, f"{what}: {name}: {exc}")


def storage_collectors(spec: StorageSource) -> list[Source]:
    out: list[Source] = []
    s3 = [p for p in spec.prefixes if p.scheme == "s3"]
    gs = [p for p in spec.prefixes if p.scheme == "gs"]
    if s3:
        out.append(S3Sizes(spec, s3))
    if gs:
        out.append(GcsSizes(spec, gs))
    return out
