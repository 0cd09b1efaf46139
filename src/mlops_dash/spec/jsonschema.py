"""JSON Schema of the spec format, from the pydantic models (for editors and CI)."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from mlops_dash.spec import models as m
from mlops_dash.spec.library import Library

SpecFile = m.Dashboard | m.Platform | m.MetricCatalogue | Library

# A dashboard's ``- use: NAME`` item (spec/expand.py): expanded before validation, so it is no
# model; the schema lets editors accept it beside the flat panels and alerts.
USE = {
    "type": "object",
    "title": "Use",
    "description": "an instance of a Library template: `use` its name, `with` its arguments; "
                   "any other field replaces the template body's field of that name",
    "properties": {
        "use": {"type": "string", "description": "name of a panel or alert template"},
        "with": {"type": "object", "description": "arguments: parameter name → value"},
    },
    "required": ["use"],
    "additionalProperties": True,
}


def spec_json_schema() -> str:
    """The schema of any spec file (one of the kinds), as stable JSON text."""
    schema = TypeAdapter(SpecFile).json_schema(by_alias=True)
    schema["$defs"]["Use"] = USE
    props = schema["$defs"]["Dashboard"]["properties"]
    for section in ("panels", "alerts"):
        props[section]["items"] = {"anyOf": [props[section]["items"], {"$ref": "#/$defs/Use"}]}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlops-dash spec (apiVersion mlops-dash/v1)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
