"""``collectors.exporter``: the long-running exporter's sources (issue 15 fills this in)."""

from __future__ import annotations

from mlops_dash.spec.base import Strict


class ExporterSpec(Strict):
    """The exporter: its sources and how often each is polled."""
