"""What the exporter keeps across restarts: a small JSON file, replaced atomically.

Only marks live here (the KFP high-water mark, the finishes counted near it, pipeline names
seen), never counter values: counters start at 0 in every new process.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("mlops_dash.exporter")

VERSION = 1


class StateFile:
    """A JSON document of sections (one per source), read once, written on save()."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {"version": VERSION}
        self.problem = ""
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            self.problem = f"cannot read state file {self.path}: {exc.strerror}"
            log.error("%s; starting without it", self.problem)
            return
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError(f"not a version {VERSION} state document")
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            self.problem = f"state file {self.path} is unreadable ({exc}); moved to {aside}"
            log.error("%s; starting without it", self.problem)
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            return
        self.data = data

    def section(self, name: str) -> dict[str, Any]:
        """The (mutable) section of one source."""
        value = self.data.setdefault(name, {})
        assert isinstance(value, dict)
        return value

    def save(self) -> None:
        """Write atomically: a crash leaves the old or the new file, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(self.data, option=orjson.OPT_SORT_KEYS))
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
