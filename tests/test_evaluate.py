"""`mlops-dash evaluate` against a real MLflow tracking server (SQLite backend, loopback):
worse actuals → a worse MAE logged on the version's LoggedModel (MLflow 3) and run.

MLflow 3's model-version → LoggedModel link and ``log_metric(..., model_id=...)``:
mlflow/tracking/client.py (MlflowClient.log_metric, create_model_version), mlflow 3.x.
"""

from __future__ import annotations

import math

import jobs_support as js
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow_support import MlflowServer

from mlops_dash.collect import evaluate as ev
from mlops_dash.collect.inputs import JobError
from mlops_dash.spec.collectors_jobs import Evaluation


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


def register(url: str, name: str, versions: int) -> list[tuple[str, str, str]]:
    """(version, run_id, model_id) of new versions of ``name``, each with its LoggedModel."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=url)
    client.create_registered_model(name)
    exp = client.create_experiment(f"{name}-training")
    out = []
    for _ in range(versions):
        run = client.create_run(exp)
        lm = client.create_logged_model(exp, name=name, source_run_id=run.info.run_id)
        mv = client.create_model_version(name, source=f"models:/{lm.model_id}",
                                         run_id=run.info.run_id, model_id=lm.model_id)
        out.append((mv.version, run.info.run_id, lm.model_id))
    return out


def table(versions: list[str], error: dict[str, float], n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for v in versions:
        actual = rng.uniform(50, 150, n)
        rows.append(pd.DataFrame({"version": v, "actual": actual,
                                  "prediction": actual + rng.normal(0, error[v], n)}))
    return pd.concat(rows)


def config(tmp_path, url: str, data) -> str:
    path = tmp_path / "eval.parquet"
    data.to_parquet(path)
    f = tmp_path / "jobs.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "mlops-dash/v1", "kind": "CollectorJobs",
                                 "jobs": {"evaluate": [{
                                     "model": "demand-forecast", "tracking_uri": url,
                                     "input": {"path": str(path)},
                                     "accuracy": {"kind": "within_tolerance",
                                                  "tolerance": 0.05}}]}}))
    return str(f)


def test_worse_actuals_log_a_worse_mae_to_the_versions_logged_model(mlflow_server, tmp_path):
    import mlflow

    (v1, run1, model1), (v2, run2, model2) = register(mlflow_server.url, "demand-forecast", 2)
    data = table([v1, v2], {v1: 2.0, v2: 2.0})
    r = js.run_cli("evaluate", "--config", config(tmp_path, mlflow_server.url, data))
    assert r.returncode == 0, r.stderr
    assert f"to logged model {model1}" in r.stdout
    client = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    first = {m.key: m.value for m in client.get_logged_model(model2).metrics}
    assert set(first) == {"mae", "rmse", "accuracy"}
    expect = ev.scores(Evaluation(model="demand-forecast", tracking_uri="http://x",
                                  input={"path": "x.csv"}, accuracy={"tolerance": 0.05}),
                       data[data.version == v2].prediction, data[data.version == v2].actual)
    assert first["mae"] == pytest.approx(expect[0]) and first["rmse"] == pytest.approx(expect[1])
    # the actuals that arrive next show version 2 is worse
    worse = table([v1, v2], {v1: 2.0, v2: 8.0}, seed=1)
    r = js.run_cli("evaluate", "--config", config(tmp_path, mlflow_server.url, worse))
    assert r.returncode == 0, r.stderr
    history = sorted(client.get_metric_history(run2, "mae"), key=lambda m: m.timestamp)
    assert len(history) == 2 and history[1].value > 3 * history[0].value
    mae = [m for m in client.get_logged_model(model2).metrics if m.key == "mae"]
    assert max(mae, key=lambda m: m.timestamp).value == pytest.approx(history[1].value)
    acc = [m for m in client.get_logged_model(model2).metrics if m.key == "accuracy"]
    assert max(acc, key=lambda m: m.timestamp).value < 0.9
    v1_hist = client.get_metric_history(run1, "mae")
    assert abs(v1_hist[0].value - v1_hist[1].value) < 0.5  # version 1 unchanged


def test_unknown_version_and_unreachable_server_are_clear_errors(mlflow_server, tmp_path):
    data = table(["99"], {"99": 1.0})
    r = js.run_cli("evaluate", "--config", config(tmp_path, mlflow_server.url, data))
    assert r.returncode == 1 and "version 99 of 'demand-forecast'" in r.stderr
    import e2e_support as es

    dead = f"http://127.0.0.1:{es.free_port()}"
    r = js.run_cli("evaluate", "--config", config(tmp_path, dead, data),
                   env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                        "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"})
    assert r.returncode == 1 and "unreachable" in r.stderr and "Traceback" not in r.stderr


def job(**kw) -> Evaluation:
    return Evaluation.model_validate({"model": "m", "tracking_uri": "http://x",
                                      "input": {"path": "x.csv"}, **kw})


def test_accuracy_definitions_and_small_versions():
    pred = pd.Series([100.0, 104.0, 120.0, 50.0])
    actual = pd.Series([100.0, 100.0, 100.0, 100.0])
    mae, rmse, acc = ev.scores(job(accuracy={"tolerance": 0.05}), pred, actual)
    assert (mae, acc) == (pytest.approx((0 + 4 + 20 + 50) / 4), 0.5)
    assert rmse == pytest.approx(math.sqrt((0 + 16 + 400 + 2500) / 4))
    _, _, acc = ev.scores(job(accuracy={"tolerance": 20, "relative": False}), pred, actual)
    assert acc == 0.75
    mae, _, acc = ev.scores(job(accuracy={"kind": "classification"}),
                            pd.Series(["a", "b", "b"]), pd.Series(["a", "b", "c"]))
    assert acc == pytest.approx(2 / 3) and math.isnan(mae)
    df = pd.DataFrame({"version": ["1"] * 40 + ["2"] * 3, "prediction": 1.0, "actual": 1.0})
    res = ev.evaluate_frame(job(), df)
    assert [r.version for r in res] == ["1", "2"] and "only 3 rows" in res[1].skipped
    with pytest.raises(JobError, match="no predictions with arrived actuals"):
        ev.evaluate_frame(job(), df.iloc[:0])


def test_predictions_and_actuals_joined_from_two_files(tmp_path):
    pd.DataFrame({"id": [1, 2, 3], "version": "1", "prediction": [1.0, 2.0, 3.0]}).to_csv(
        tmp_path / "p.csv", index=False)
    pd.DataFrame({"id": [2, 3, 4], "actual": [2.5, 3.0, 9.0]}).to_csv(tmp_path / "a.csv",
                                                                    index=False)
    j = Evaluation.model_validate({
        "model": "m", "tracking_uri": "http://x", "min_rows": 1, "join_on": ["id"],
        "predictions": {"path": str(tmp_path / "p.csv")},
        "actuals": {"path": str(tmp_path / "a.csv")}})
    (r,) = ev.evaluate_job(j, None)
    assert (r.rows, r.mae) == (2, pytest.approx(0.25))
