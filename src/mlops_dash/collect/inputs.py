"""Read a job's input table: Parquet or CSV (local or s3://), or a query against the warehouse.

Every failure is a ``JobError`` naming the input (its path, or the job's query), never a
traceback; the warehouse gets a connect timeout and a statement timeout from the spec.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_dash.errors import MlopsDashError
from mlops_dash.spec.base import duration_seconds
from mlops_dash.spec.collectors_jobs import DataInput, Warehouse


class JobError(MlopsDashError):
    """A batch job cannot do its work (unreadable input, unreachable server): exit 1."""


def describe(inp: DataInput, what: str) -> str:
    """How messages name an input: its path, or ``<what> query``."""
    return inp.path if inp.path is not None else f"{what} query"


def read_table(inp: DataInput, what: str, warehouse: Warehouse | None = None) -> pd.DataFrame:
    """The input's rows as a DataFrame (``what`` names it in errors, e.g. "reference")."""
    if inp.sql is not None:
        if warehouse is None:
            raise JobError(f"{what}: a sql input needs collectors.jobs.warehouse")
        return read_sql(inp.sql, warehouse, what)
    assert inp.path is not None
    try:
        raw: Any = _s3_bytes(inp.path) if inp.path.startswith("s3://") else Path(inp.path)
        if inp.path.endswith(".parquet"):
            return pd.read_parquet(raw)
        return pd.read_csv(raw)
    except JobError as exc:
        raise JobError(f"{what}: {exc}") from None
    except FileNotFoundError:
        raise JobError(f"{what}: {inp.path}: no such file") from None
    except Exception as exc:  # pyarrow/pandas raise many kinds for a bad file
        raise JobError(f"{what}: cannot read {inp.path}: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def _s3_bytes(url: str) -> io.BytesIO:
    """The object's bytes (boto3: AWS_* environment, AWS_ENDPOINT_URL for S3-compatible stores)."""
    import boto3
    import botocore.exceptions

    bucket, _, key = url[len("s3://"):].partition("/")
    if not bucket or not key:
        raise JobError(f"{url}: expected s3://bucket/key")
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        raise JobError(f"{url}: {exc.response.get('Error', {}).get('Code', exc)}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise JobError(f"{url}: {exc}") from None
    return io.BytesIO(body)


def warehouse_url(warehouse: Warehouse) -> str:
    """The SQLAlchemy URL from its file or environment variable (never logged)."""
    if warehouse.url_env is not None:
        url = os.environ.get(warehouse.url_env, "").strip()
        if not url:
            raise JobError(f"warehouse: environment variable {warehouse.url_env} is not set")
        return url
    assert warehouse.url_file is not None
    try:
        url = Path(warehouse.url_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise JobError(f"warehouse: cannot read {warehouse.url_file}: {exc.strerror}") from None
    if not url:
        raise JobError(f"warehouse: {warehouse.url_file} is empty")
    return url


def engine(warehouse: Warehouse) -> Any:
    """A SQLAlchemy engine with the spec's connect and statement timeouts (PostgreSQL)."""
    import sqlalchemy

    url = warehouse_url(warehouse)
    connect_s = max(1, int(duration_seconds(warehouse.connect_timeout)))
    query_ms = int(duration_seconds(warehouse.query_timeout) * 1000)
    args: dict[str, Any] = {}
    try:
        backend = sqlalchemy.engine.make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001 -- the URL's text is a credential: never echo it
        raise JobError("warehouse: the URL is not a valid SQLAlchemy URL") from None
    if backend == "postgresql":
        args = {"connect_timeout": connect_s, "options": f"-c statement_timeout={query_ms}"}
    return sqlalchemy.create_engine(url, connect_args=args, poolclass=sqlalchemy.pool.NullPool)


def read_sql(sql: str, warehouse: Warehouse, what: str) -> pd.DataFrame:
    """Rows of a query; timeouts and connection failures as a JobError naming the query."""
    import sqlalchemy

    try:
        with engine(warehouse).connect() as conn:
            result = conn.execute(sqlalchemy.text(sql))
            return pd.DataFrame.from_records(result.fetchall(), columns=list(result.keys()),
                                             coerce_float=True)
    except sqlalchemy.exc.OperationalError as exc:
        text = str(exc.orig or exc).splitlines()[0]
        if "statement timeout" in text or "canceling statement" in text:
            raise JobError(f"{what} query: stopped after the query timeout "
                           f"({warehouse.query_timeout}): {text}") from None
        raise JobError(f"{what} query: warehouse unreachable or refused: {text}") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise JobError(f"{what} query failed: {text}") from None
