"""The forecast_vs_actual view on a real PostgreSQL (loopback, throwaway cluster): the Business
KPI panel's SQL as Grafana sends it, the evaluation and actuals jobs' shipped queries, timeouts.

Grafana's expansion, modelled here:
- ``$__timeFilter(col)`` → ``col BETWEEN '<from>' AND '<to>'``, both UTC in Go's RFC3339Nano
  (grafana/grafana pkg/tsdb/grafana-postgresql-datasource/macros.go, evaluateMacro);
- ``$model``, a multi-value/include-all variable → each value quoted (single quotes doubled),
  joined by ',' (packages/grafana-sql/src/datasource/SqlDatasource.ts, interpolateVariable;
  PostgresQueryModel.quoteLiteral).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import jobs_support as js
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SPECS

from mlops_dash.collect import actuals as ac
from mlops_dash.collect import evaluate as ev
from mlops_dash.collect.inputs import JobError, read_sql
from mlops_dash.spec.collectors_jobs import Warehouse
from mlops_dash.spec.loader import load_specs

pytestmark = pytest.mark.e2e
DAYS = 10
TODAY = datetime.now(UTC).date()


def go_rfc3339nano(t: datetime) -> str:
    """Go's time.RFC3339Nano of a UTC time: fractional seconds without trailing zeros."""
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def grafana_expand(sql: str, start: datetime, end: datetime, models: list[str]) -> str:
    def time_filter(m: re.Match[str]) -> str:
        return f"{m.group(1).strip()} BETWEEN '{go_rfc3339nano(start)}' AND '{go_rfc3339nano(end)}'"

    sql = re.sub(r"\$__timeFilter\(([^)]*)\)", time_filter, sql)
    quoted = ",".join("'" + m.replace("'", "''") + "'" for m in models)
    return sql.replace("$model", quoted)


def kpi_sql() -> str:
    doc = yaml.safe_load((SPECS / "model-performance.yaml").read_text())
    (panel,) = [p for p in doc["panels"] if p["id"] == "business-kpi"]
    (query,) = panel["queries"]
    assert query["datasource"] == "warehouse"
    return query["expr"]


def seed_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    sales, forecasts = [], []
    for d in range(DAYS):
        day = TODAY - timedelta(days=DAYS - 1 - d)
        for store in ("s1", "s2", "s3", "s4", "s5"):
            units = float(rng.integers(50, 150))
            sales.append((day, store, "p1", units, 2.5, 1.0))
            for model, version, err in (("demand-forecast", "1", 5.0),
                                        ("demand-forecast", "2", 30.0), ("o'brien", "1", 1.0)):
                forecasts.append((model, version, day, store, "p1",
                                  round(max(0.0, units + float(rng.normal(0, err))), 3)))
    return (pd.DataFrame(sales, columns=["sale_date", "store_id", "product_id", "units",
                                         "unit_price", "unit_cost"]),
            pd.DataFrame(forecasts, columns=["model", "version", "forecast_date", "store_id",
                                             "product_id", "forecast_units"]))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    import psycopg

    pg = js.Postgres(tmp_path_factory.mktemp("pg")).start()
    try:
        sql = resources.files("mlops_dash").joinpath("sql")
        pg.execute(sql.joinpath("example_schema.sql").read_text())
        pg.execute(sql.joinpath("forecast_vs_actual.sql").read_text())
        sales, forecasts = seed_rows()
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres",
                             autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO sales VALUES (%s, %s, %s, %s, %s, %s)",
                            list(sales.itertuples(index=False)))
            cur.executemany("INSERT INTO forecasts (model, version, forecast_date, store_id, "
                            "product_id, forecast_units) VALUES (%s, %s, %s, %s, %s, %s)",
                            list(forecasts.itertuples(index=False)))
        yield pg, sales, forecasts
    finally:
        pg.stop()


def test_business_kpi_panel_sql_as_grafana_sends_it(warehouse):
    import psycopg

    pg, sales, forecasts = warehouse
    start = datetime.combine(TODAY - timedelta(days=4), datetime.min.time(), UTC) \
        - timedelta(hours=1)
    end = datetime.now(UTC).replace(microsecond=123400)
    sql = grafana_expand(kpi_sql(), start, end, ["demand-forecast", "o'brien"])
    assert "BETWEEN '" in sql and "'o''brien'" in sql and ".1234Z'" in sql
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres") as conn:
        cur = conn.execute(sql)
        cols = [(c.name, c.type_code) for c in cur.description]
        rows = cur.fetchall()
    names = [c for c, _ in cols]
    assert names == ["time", "forecast revenue", "actual revenue", "forecast error cost"]
    types = {c: conn.adapters.types.get(oid).name for c, oid in cols}
    assert types == {"time": "timestamptz", "forecast revenue": "float8",
                     "actual revenue": "float8", "forecast error cost": "float8"}
    assert len(rows) == 5  # the last 5 days are in range, one row per day
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    # by hand: every forecast row of both models joined to its sale, revenue at 2.5
    merged = forecasts.merge(sales, left_on=["forecast_date", "store_id", "product_id"],
                             right_on=["sale_date", "store_id", "product_id"])
    day = TODAY - timedelta(days=2)
    one = merged[merged.sale_date == day]
    row = [r for r in rows if r[0].date() == day][0]
    assert row[1] == pytest.approx((one.forecast_units * 2.5).sum())
    assert row[2] == pytest.approx((one.units * 2.5).sum())
    assert row[3] == pytest.approx(((one.forecast_units - one.units).abs() * 2.5).sum())


def test_revenue_and_inventory_effect_columns(warehouse):
    pg, *_ = warehouse
    pg.execute("INSERT INTO sales VALUES ('2020-01-01', 'x', 'p', 10, 3, 1.2), "
               "('2020-01-02', 'x', 'p', 10, 3, 1.2); INSERT INTO forecasts (model, version, "
               "forecast_date, store_id, product_id, forecast_units) VALUES "
               "('t', '1', '2020-01-01', 'x', 'p', 4), ('t', '1', '2020-01-02', 'x', 'p', 15)")
    wh = Warehouse(url_env="WH_URL")
    import os

    os.environ["WH_URL"] = pg.url
    df = read_sql("SELECT * FROM forecast_vs_actual WHERE model = 't' ORDER BY sale_date",
                  wh, "test")
    under, over = df.to_dict("records")
    assert under["lost_revenue"] == 18.0 and under["excess_inventory_units"] == 0  # 6 unsold
    assert over["lost_revenue"] == 0 and over["excess_inventory_units"] == 5.0
    assert over["excess_inventory_cost"] == pytest.approx(6.0)
    assert str(under["sale_date"]) == "2020-01-01 00:00:00+00:00"


def test_shipped_evaluation_and_actuals_queries_run_on_the_view(warehouse, monkeypatch):
    pg, *_ = warehouse
    jobs = load_specs(SPECS).platform_model.collectors.jobs
    monkeypatch.setenv("WH_URL", pg.url)
    wh = Warehouse(url_env="WH_URL")
    (evaluation,) = jobs.evaluate
    results = ev.evaluate_frame(evaluation, read_sql(evaluation.input.sql, wh, "evaluate"))
    by_version = {r.version: r for r in results}
    assert set(by_version) == {"1", "2"}  # o'brien's rows are not this model's
    assert by_version["2"].mae > by_version["1"].mae
    assert 0 <= by_version["2"].accuracy < by_version["1"].accuracy <= 1
    (actuals,) = jobs.actuals
    hist = ac.histograms_of(actuals, read_sql(actuals.input.sql, wh, "actuals"))
    assert hist["1"][1] == 5 * DAYS  # every sale of the model's days since the fixed start


def test_slow_and_unreachable_warehouse_are_clear_errors(warehouse, monkeypatch):
    pg, *_ = warehouse
    monkeypatch.setenv("WH_URL", pg.url)
    slow = Warehouse(url_env="WH_URL", query_timeout="1s")
    with pytest.raises(JobError, match=r"drift m: current query: stopped after the query "
                                       r"timeout \(1s\)"):
        read_sql("SELECT pg_sleep(5)", slow, "drift m: current")
    dead = pg.url.replace(str(pg.port), str(js.es.free_port()))
    monkeypatch.setenv("WH_URL", dead)
    with pytest.raises(JobError, match="unreachable or refused") as err:
        read_sql("SELECT 1", Warehouse(url_env="WH_URL", connect_timeout="2s"), "x")
    assert "postgres@" not in str(err.value)  # the URL (a credential) is not echoed
    monkeypatch.setenv("WH_URL", pg.url)
    with pytest.raises(JobError, match='x query failed: .*relation "nope" does not exist'):
        read_sql("SELECT * FROM nope", slow, "x")
