"""boto3 clients with bounded calls, and botocore failures as SourceError kinds."""

from __future__ import annotations

import math
from typing import Any

from mlops_dash.collect import source as src
from mlops_dash.collect.source import SourceError

AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken",
              "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId",
              "ExpiredTokenException", "AuthFailure", "Forbidden"}
NOT_FOUND_CODES = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}


def client(service: str, timeout_s: float, region: str | None = None,
           endpoint_url: str | None = None) -> Any:
    """A boto3 client: one attempt per call (the exporter backs off), timeouts on connect and
    read; credentials from boto3's default chain (IRSA, env from a Secret, a mounted file)."""
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=max(1, math.ceil(timeout_s)),
                 read_timeout=max(1, math.ceil(timeout_s)),
                 retries={"max_attempts": 1, "mode": "standard"})
    return boto3.session.Session().client(service, region_name=region or "us-east-1",
                                          endpoint_url=endpoint_url, config=cfg)


def classify(exc: Exception, what: str) -> SourceError:
    """A botocore exception as a SourceError (the reason never includes credentials)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        msg = f"{what}: {code}: {err.get('Message', '')}".strip()
        if code in AUTH_CODES or status in (401, 403):
            return SourceError(src.AUTH, msg)
        if code in NOT_FOUND_CODES:
            return SourceError(src.NOT_FOUND, msg)
        if status >= 500:
            return SourceError(src.HTTP_5XX, msg)
        return SourceError(src.HTTP_4XX, msg)
    if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError)):
        return SourceError(src.TIMEOUT, f"{what}: {exc}")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError)):
        return SourceError(src.UNREACHABLE, f"{what}: {exc}")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return SourceError(src.AUTH, f"{what}: {exc}")
    if isinstance(exc, bx.ResponseParserError):
        return SourceError(src.MALFORMED, f"{what}: unparsable response")
    if isinstance(exc, bx.BotoCoreError):
        return SourceError(src.OTHER, f"{what}: {exc}")
    raise exc
