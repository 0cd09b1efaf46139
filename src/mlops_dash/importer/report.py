"""What an import could not represent, by name, and the placed errors of broken inputs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_dash.errors import SpecError

# exit codes of `mlops-dash import`: 0 all imported, 1 broken input (nothing written),
# 3 written, but parts were not representable (listed on stderr and kept in the sidecar file)
EXIT_PARTIAL = 3


@dataclass(frozen=True)
class Skipped:
    """One part of the input that the spec format cannot express."""

    where: str  # JSON path (panels[3]) or rule place (groups[0].rules[2])
    name: str  # panel title, variable, alert or rule name
    reason: str
    original: Any = None  # the part as written, kept in the sidecar file

    def line(self) -> str:
        return f"not representable: {self.where} {self.name!r}: {self.reason}"


@dataclass
class Report:
    """Everything an import says besides the spec it writes."""

    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # approximations the user should know

    def skip(self, where: str, name: str, reason: str, original: Any = None) -> None:
        self.skipped.append(Skipped(where, str(name), reason, original))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def sidecar(self, source: str) -> str:
        """JSON of the skipped parts as written, so nothing is lost (the escape hatch file)."""
        items = [asdict(s) for s in self.skipped]
        return json.dumps({"source": source, "not_representable": items}, indent=2,
                          sort_keys=True) + "\n"


def json_error(file: str, exc: json.JSONDecodeError) -> SpecError:
    return SpecError(file, f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno)


def placed(file: str, path: str, message: str, line: int | None = None,
           column: int | None = None) -> SpecError:
    return SpecError(file, message, line=line, column=column, path=path)


def jpath(*parts: str | int) -> str:
    """``panels[3].targets[0].expr`` from ("panels", 3, "targets", 0, "expr")."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out
