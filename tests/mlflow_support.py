"""A real ``mlflow server`` on 127.0.0.1 (SQLite backend, local artifact root) for the tests,
populated through MLflow's own client: MLflow 3 style (LoggedModel, metrics logged with
``model_id``) and MLflow 2 style (a version whose source is its run's artifacts)."""

from __future__ import annotations

import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import e2e_support as es

LIFETIME_S = 900  # the server exits by itself after this, whatever happens to the test


class MlflowServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = es.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        mlflow_bin = shutil.which("mlflow")
        assert mlflow_bin, "mlflow is not installed (pip install 'mlops-dash[test]')"
        self.process = es.Process("mlflow", [
            "timeout", "-s", "TERM", str(LIFETIME_S), mlflow_bin, "server",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
            "--artifacts-destination", str(workdir / "artifacts"),
        ], workdir)

    def start(self, timeout: float = 300) -> MlflowServer:  # slow on a loaded machine
        self.process.start()

        def ready() -> bool:
            if not self.process.running():
                raise RuntimeError(f"mlflow server exited: {self.process.log()}")
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return r.status == 200

        es.wait_for("mlflow server", ready, timeout, interval=0.5)
        return self

    def stop(self) -> None:
        self.process.stop()

    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)


def mlflow3_version(client: Any, workdir: Path, model: str, train_mae: float,
                    artifact_bytes: int, alias: str | None = None) -> tuple[str, str]:
    """Train (a run with training metrics), log a model with artifacts as a LoggedModel,
    register it; returns (version, model_id)."""
    from mlflow.entities import LoggedModelStatus

    exp = client.get_experiment_by_name("forecasting")
    exp_id = exp.experiment_id if exp else client.create_experiment("forecasting")
    run = client.create_run(exp_id)
    client.log_metric(run.info.run_id, "mae", train_mae)
    lm = client.create_logged_model(exp_id, name=model, source_run_id=run.info.run_id)
    local = workdir / f"model-{lm.model_id}"
    (local / "sub").mkdir(parents=True)
    (local / "model.pkl").write_bytes(b"x" * (artifact_bytes - 100))
    (local / "sub" / "MLmodel").write_bytes(b"y" * 100)
    client.log_model_artifacts(lm.model_id, str(local))
    client.finalize_logged_model(lm.model_id, LoggedModelStatus.READY)
    client.set_terminated(run.info.run_id)
    try:
        client.create_registered_model(model)
    except Exception:
        pass
    mv = client.create_model_version(model, source=f"models:/{lm.model_id}",
                                     run_id=run.info.run_id, model_id=lm.model_id,
                                     await_creation_for=0)
    if alias:
        client.set_registered_model_alias(model, alias, mv.version)
    return str(mv.version), lm.model_id


def log_evaluation(client: Any, model_id: str, **metrics: float) -> None:
    """What the evaluation job does: a run of its own, metrics logged against the model."""
    exp = client.get_experiment_by_name("evaluations")
    exp_id = exp.experiment_id if exp else client.create_experiment("evaluations")
    run = client.create_run(exp_id)
    now = int(time.time() * 1000)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value, timestamp=now, model_id=model_id)
    client.set_terminated(run.info.run_id)


def mlflow2_version(client: Any, workdir: Path, model: str, artifact_bytes: int,
                    **metrics: float) -> str:
    """A version registered from a run's artifacts, no LoggedModel: MLflow 2 style."""
    exp = client.get_experiment_by_name("legacy")
    exp_id = exp.experiment_id if exp else client.create_experiment("legacy")
    run = client.create_run(exp_id)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    local = workdir / f"legacy-{run.info.run_id}"
    local.mkdir(parents=True)
    (local / "model.bin").write_bytes(b"z" * artifact_bytes)
    client.log_artifacts(run.info.run_id, str(local), artifact_path="model")
    (workdir / "other.txt").write_bytes(b"not the model" * 100)
    client.log_artifact(run.info.run_id, str(workdir / "other.txt"))
    client.set_terminated(run.info.run_id)
    try:
        client.create_registered_model(model)
    except Exception:
        pass
    mv = client.create_model_version(model, source=f"runs:/{run.info.run_id}/model",
                                     run_id=run.info.run_id, await_creation_for=0)
    return str(mv.version)
