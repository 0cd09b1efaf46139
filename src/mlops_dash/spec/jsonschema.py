"""JSON Schema of the spec format, from the pydantic models (for editors and CI)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from mlops_dash.spec import models as m
from mlops_dash.spec.library import Library

SpecFile = m.Dashboard | m.Platform | m.MetricCatalogue | m.Environment | Library
REFERENCE = "ParameterReference"
_TYPED = {"number", "integer", "boolean", "array"}


def _with_references(node: Any, defs: bool = False) -> Any:
    """The schema where a number, bool, list or patterned-string value may also be a whole
    ``${params.name}`` reference (the typed value is substituted at load and validated there)."""
    if isinstance(node, list):
        return [_with_references(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in ("const", "enum", "pattern", "default", "examples") else
               {n: _with_references(d) for n, d in v.items()} if k in ("properties", "$defs")
               else _with_references(v)) for k, v in node.items()}
    typed = out.get("type") in _TYPED or (out.get("type") == "string" and "pattern" in out)
    if typed and not defs:
        return {"anyOf": [out, {"$ref": f"#/$defs/{REFERENCE}"}]}
    return out

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
    schema["$defs"]["Use"] = USE  # before references: the items' union is then wrapped too
    props = schema["$defs"]["Dashboard"]["properties"]
    for section in ("panels", "alerts"):
        props[section]["items"] = {"anyOf": [props[section]["items"], {"$ref": "#/$defs/Use"}]}
    schema = _with_references(schema, defs=True)
    schema.setdefault("$defs", {})[REFERENCE] = {
        "type": "string", "pattern": r"^\$\{params\.[A-Za-z0-9_-]+\}$",
        "description": "a parameter the platform spec declares (parameters:), its typed value "
                       "substituted at load"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlops-dash spec (apiVersion mlops-dash/v1)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
