"""Allow ``python -m mlops_dash``."""

from mlops_dash.cli import run

run()
