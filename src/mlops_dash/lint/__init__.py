"""Validation of specs and generated output: schemas, PromQL, promtool and amtool."""
