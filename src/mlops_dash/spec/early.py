"""Dashboards validated while the rest of a large folder is still being parsed.

On a large folder the parse runs in worker processes (spec/parsing.py) and this process, its
imports done, only waits for their results; the dashboards' validation (templates expanded,
parameters resolved, the models validated: ~0.3 ms a dashboard) then ran alone after the
parse, with a core idle. A dashboard's validation reads only the platform spec (its parameters)
and the library specs (the templates). So this process looks for those files (by their
``kind:`` line), parses them itself, and validates each dashboard as its chunk of parse
results arrives.

FolderSpecs.spec_set uses these results only when they are what it would compute: no
Environment applies, the platform and library specs of the finished read are those used here
(equal parsed data) and no dashboard had a problem (a folder with problems is validated again,
as before, so that its messages are the same in every way). Anything unexpected here leaves
the validation to spec_set.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlops_dash.errors import SpecError
from mlops_dash.spec import params
from mlops_dash.spec.library import Registry
from mlops_dash.spec.parsing import Parsed, parse_files

# a top-level ``kind:`` line, the way specs are written (a miss only disables this)
_KIND = re.compile(rb"^kind:[ \t]*[\"']?([A-Za-z]+)[\"']?[ \t]*(?:#[^\n]*)?$", re.M)
_HEAD_BYTES = 8192


class Early:
    """What a dashboard's validation needs, and the dashboards validated so far."""

    def __init__(self, platform: Parsed, libraries: list[Parsed], declared: params.Declared,
                 reg: Registry) -> None:
        self.platform = platform[0]
        self.libraries = [data for data, _smap in libraries]
        self.declared = declared
        self.reg = reg
        self.done: dict[int, Any] = {}  # id(parsed data) → its Document
        self.failed = False  # a dashboard had a problem: spec_set validates everything again

    @classmethod
    def begin(cls, files: list[Path]) -> Early | None:
        """Read the platform and library specs among ``files`` (None: not one platform, an
        Environment, or a problem in them: spec_set does it all, as without this)."""
        from mlops_dash.spec import loader

        kinds: dict[str, list[Path]] = {}
        for f in files:
            try:
                with open(f, "rb") as fh:
                    head = fh.read(_HEAD_BYTES)
            except OSError:
                return None
            found = _KIND.search(head)
            if found is not None:
                kinds.setdefault(found.group(1).decode(), []).append(f)
        platforms = kinds.get("Platform", [])
        if len(platforms) != 1 or kinds.get("Environment"):
            return None
        wanted = platforms + kinds.get("Library", [])
        read = parse_files(wanted, 0, len(wanted))  # as the workers read them
        if any(isinstance(r, list) for r in read):  # a problem: left to spec_set
            return None
        platform, *libraries = read  # type: ignore[misc]
        if platform[0].get("kind") != "Platform" or any(
                data.get("kind") != "Library" for data, _smap in libraries):
            return None
        problems: list[SpecError] = []
        reg, _docs = loader._libraries(libraries, problems)
        if problems:
            return None
        return cls(platform, libraries, loader._declared_parameters([platform]), reg)

    def validate(self, data: dict[str, Any], smap: Any) -> None:
        """Validate a parsed dashboard (as spec_set's loop does), keeping its Document."""
        from mlops_dash.spec.loader import validated

        if self.failed or data.get("kind") != "Dashboard":
            return
        try:
            doc, problems = validated(data, smap, self.reg, self.declared)
        except Exception:  # noqa: BLE001 - spec_set validates it again and reports it
            doc, problems = None, []
        if doc is None or problems:
            self.failed = True
        else:
            self.done[id(data)] = doc

    def usable(self, parsed: list[Parsed]) -> bool:
        """Whether the results hold for the finished read ``parsed`` (without environment):
        its first platform and its libraries are those used here, and nothing failed."""
        if self.failed:
            return False
        platform = next((data for data, _smap in parsed if data.get("kind") == "Platform"), None)
        libraries = [data for data, _smap in parsed if data.get("kind") == "Library"]
        return platform == self.platform and libraries == self.libraries
