"""The daily digest as a Kubernetes CronJob running ``mlops-dash digest`` (pure).

The job runs the collectors image (``collectors.image``), queries the Prometheus of
``routing.digest.prometheus_url`` and sends one email through the digest channel's SMTP
smarthost. The password is the digest channel's Secret (``secret_ref``) mounted read-only at the
channel's ``auth_password_file``, the same path Alertmanager would read. ``concurrencyPolicy:
Forbid`` and ``backoffLimit: 2`` (``restartPolicy: Never``): a day's run is retried on a
Prometheus or SMTP failure (exit 2) but never runs twice at once.
"""

from __future__ import annotations

import posixpath
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.spec import models as m

SECRET_VOLUME = "smtp-password"


def digest_args(platform: m.Platform, digest: m.Digest, channel: m.Channel) -> list[str]:
    """The ``mlops-dash digest`` arguments the job runs with."""
    assert channel.smarthost and channel.from_ and channel.to
    args = ["digest", "--prometheus-url", digest.prometheus_url, "--lookback", digest.lookback,
            "--smarthost", channel.smarthost, "--from", channel.from_, "--to", channel.to,
            "--platform", platform.name, "--runbook-base-url", platform.runbook_base_url,
            "--grafana-url", platform.grafana_url]
    if channel.auth_username is not None:
        assert channel.auth_password_file is not None
        args += ["--username", channel.auth_username,
                 "--password-file", channel.auth_password_file]
    if not channel.require_tls:
        args.append("--no-require-tls")
    return args


def digest_cronjob(platform: m.Platform) -> dict[str, Any] | None:
    """The CronJob, or None when the digest is not a job (absent or ``via: alertmanager``)."""
    digest = platform.routing.digest
    if digest is None or digest.via != "job" or platform.collectors is None:
        return None
    channel = platform.channel(digest.channel)
    labels = {"app.kubernetes.io/name": cv.DIGEST_JOB_NAME,
              "app.kubernetes.io/component": "digest",
              "app.kubernetes.io/managed-by": "mlops-dash",
              "app.kubernetes.io/part-of": platform.name}
    container: dict[str, Any] = {
        "name": "digest",
        "image": platform.collectors.image,
        "command": ["mlops-dash"],
        "args": digest_args(platform, digest, channel),
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                      "limits": {"memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if channel.auth_password_file is not None and channel.secret_ref is not None:
        folder, name = posixpath.split(channel.auth_password_file)
        container["volumeMounts"] = [{"name": SECRET_VOLUME, "mountPath": folder,
                                      "readOnly": True}]
        pod["volumes"] = [{"name": SECRET_VOLUME, "secret": {
            "secretName": channel.secret_ref.name,
            "items": [{"key": channel.secret_ref.key, "path": name}]}}]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": cv.DIGEST_JOB_NAME, "namespace": platform.kubernetes_namespace,
                     "labels": labels},
        "spec": {
            "schedule": digest.schedule,
            "timeZone": digest.time_zone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": 900,
                "template": {"metadata": {"labels": labels}, "spec": pod},
            }},
        },
    }
