"""Spec files read into plain data with the place of every value, not yet validated: the part
of loading that the parse workers run.

It imports neither the spec models nor pydantic, so a build can start its parse workers first
(``start``) and import the rest of mlops-dash while they parse (cli_build.py): the imports,
half a second of one CPU, overlap the parsing of a large folder instead of preceding it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.spec.secrets import find_literal_secrets
from mlops_dash.spec.yamlsource import SourceMap, format_path, load_yaml

if TYPE_CHECKING:
    from mlops_dash.parallel import Results

# the kinds of spec file (spec/loader.KINDS: their models)
KIND_NAMES = ("Dashboard", "Platform", "MetricCatalogue", "Environment", "Library")

Parsed = tuple[dict[str, Any], SourceMap]


def read_mapping(path: Path, display: str) -> Parsed:
    """Read and parse one YAML file of mlops-dash (a spec, the jobs' configuration): a mapping
    without literal secrets, with the place of every value."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(display, f"cannot read file: {exc.strerror}") from None
    data, smap = load_yaml(raw, display)
    if not isinstance(data, dict):
        from mlops_dash.spec.messages import describe

        raise SpecError(
            display, f"expected a mapping with apiVersion and kind at the top, found "
            f"{describe(data)}", line=1, column=1,
        )
    secrets = [SpecError(display, msg, line=place[0], column=place[1], path=format_path(field))
               for where, field, msg in find_literal_secrets(data)
               if (place := smap.locate(where))]
    if secrets:
        raise SpecErrors(secrets)
    return data, smap


def parse_document(path: Path, display: str) -> Parsed:
    """Read and parse one spec file: a mapping of a known apiVersion and kind, without
    literal secrets, with the place of every value (not yet validated against its model)."""
    data, smap = read_mapping(path, display)
    version = data.get("apiVersion")
    if version != cv.API_VERSION:
        if version is None:
            raise smap.error((), f"missing apiVersion; expected apiVersion: {cv.API_VERSION}")
        raise smap.error(
            ("apiVersion",),
            f"unsupported apiVersion {version!r}; this mlops-dash reads {cv.API_VERSION}",
        )
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KIND_NAMES:
        from mlops_dash.spec.messages import suggest

        raise smap.error(
            ("kind",) if "kind" in data else (),
            f"unknown kind {kind!r}; expected one of {', '.join(sorted(KIND_NAMES))}"
            + (suggest(str(kind), list(KIND_NAMES)) if isinstance(kind, str) else ""),
        )
    return data, smap


def parse_files(files: list[Path], start: int, stop: int) -> list[Parsed | list[SpecError]]:
    """Each of ``files[start:stop]`` parsed (parse_document), or the problems found in it.

    Plain data crosses process boundaries cheaply (models would cost more to unpickle than to
    validate again), so parallel loading parses in workers and validates here."""
    out: list[Parsed | list[SpecError]] = []
    shown = _Shown()
    for f in files[start:stop]:
        display = shown(f)
        try:
            out.append(parse_document(f, display))
        except SpecErrors as exc:
            out.append(exc.errors)
        except SpecError as exc:
            out.append([exc])
    return out


class _Shown:
    """How a spec file is named in messages: relative to the current folder when it is given
    relative or lies below it (symbolic links followed), else as given. The current folder
    and each parent folder are resolved once, not once a file."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.real_cwd = Path(self.cwd).resolve()
        self.parents: dict[Path, Path] = {}

    def __call__(self, f: Path) -> str:
        if f.is_absolute() and not self._below_cwd(f):
            return str(f)
        return os.path.relpath(os.path.join(self.cwd, f), self.cwd)

    def _below_cwd(self, f: Path) -> bool:
        if f.is_symlink():
            real = f.resolve()
        else:
            parent = self.parents.get(f.parent)
            if parent is None:
                parent = self.parents[f.parent] = f.parent.resolve()
            real = parent / f.name
        return real == self.real_cwd or self.real_cwd in real.parents


@dataclass
class Started:
    """The spec files of a folder (spec/discovery.py) being parsed: their results, in order,
    chunk by chunk (parallel.run_chunks)."""

    specs_dir: Path
    files: list[Path]
    ignored: list[tuple[str, str]]
    results: Results  # of parse_files: a list of Parsed or problems, a chunk each

    def close(self) -> None:
        """Stop the workers (parallel.Chunks.close): the build stopped before reading them."""
        self.results.close()


def start(specs_dir: Path, jobs: int) -> Started:
    """Find the spec files of ``specs_dir`` and start parsing them (in up to ``jobs`` worker
    processes when there are many: they start now, on the task at once)."""
    from mlops_dash import parallel
    from mlops_dash.spec.discovery import discover

    found = discover(specs_dir)
    return Started(specs_dir, found.files, found.ignored,
                   parallel.run_chunks(parse_files, found.files, len(found.files), jobs))
