"""JSON Schema of the spec format, from the pydantic models (for editors and CI)."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from mlops_dash.spec import models as m

SpecFile = m.Dashboard | m.Platform | m.MetricCatalogue


def spec_json_schema() -> str:
    """The schema of any spec file (one of the kinds), as stable JSON text."""
    schema = TypeAdapter(SpecFile).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlops-dash spec (apiVersion mlops-dash/v1)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
