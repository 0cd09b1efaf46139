"""Read a specs folder into validated models; every problem becomes a SpecError with a place."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mlops_dash import conventions as cv
from mlops_dash.errors import EnvironmentProblem, SpecError, SpecErrors
from mlops_dash.spec import models as m
from mlops_dash.spec.secrets import find_literal_secrets
from mlops_dash.spec.yamlsource import SourceMap, format_path, load_yaml

KINDS: dict[str, type[BaseModel]] = {
    "Dashboard": m.Dashboard,
    "Platform": m.Platform,
    "MetricCatalogue": m.MetricCatalogue,
}


@dataclass
class Document:
    """One spec file: its validated model and where its values stand."""

    path: str
    model: Any
    source: SourceMap


@dataclass
class SpecSet:
    """All spec files of a folder, validated and cross-checked."""

    platform: Document
    catalogue: Document
    dashboards: list[Document] = field(default_factory=list)

    @property
    def platform_model(self) -> m.Platform:
        return self.platform.model  # type: ignore[no-any-return]

    @property
    def catalogue_model(self) -> m.MetricCatalogue:
        return self.catalogue.model  # type: ignore[no-any-return]

    def dashboard_models(self) -> list[m.Dashboard]:
        return [d.model for d in self.dashboards]


def _field_vocabulary() -> list[str]:
    names: set[str] = set()
    for obj in vars(m).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            for fname, finfo in obj.model_fields.items():
                names.add(finfo.alias or fname)
    return sorted(names)


FIELD_NAMES = _field_vocabulary()


def suggest(word: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, else an empty string."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[str | int, ...], bool]:
    """Map a pydantic ``loc`` onto the data, dropping union tags; tell if the leaf exists."""
    path: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and part in FIELD_NAMES:
            path.append(part)
            return tuple(path), False
        # else: a discriminator tag or validator name: not a data key
    return tuple(path), True


def _convert(exc: ValidationError, data: Any, smap: SourceMap) -> list[SpecError]:
    errors = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path, _ = _data_path(data, loc)
        etype = err["type"]
        msg = err["msg"]
        if etype == "extra_forbidden":
            key = str(path[-1]) if path else ""
            msg = f"unknown field {key!r}{suggest(key, FIELD_NAMES)}"
        elif etype == "missing":
            msg = "required field is missing"
        elif etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            got = err.get("input")
            options = [o.strip(" '") for o in str(expected).replace(" or ", ",").split(",")]
            hint = suggest(str(got), options) if isinstance(got, str) else ""
            msg = f"{got!r} is not allowed; expected {expected}{hint}"
        elif etype == "string_pattern_mismatch":
            msg = f"{err.get('input')!r} does not match the pattern {err['ctx']['pattern']}"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        line, col = smap.locate(path)
        errors.append(SpecError(smap.file, msg, line=line, column=col, path=format_path(path)))
    return errors


def load_document(path: Path, display: str) -> Document:
    """Read, parse and validate one spec file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(display, f"cannot read file: {exc.strerror}") from None
    data, smap = load_yaml(raw, display)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise SpecError(
            display, f"expected a mapping with apiVersion and kind at the top, found {kind}",
            line=1, column=1,
        )
    secrets = [smap.error(path, msg) for path, msg in find_literal_secrets(data)]
    if secrets:
        raise SpecErrors(secrets)
    version = data.get("apiVersion")
    if version != cv.API_VERSION:
        if version is None:
            raise smap.error((), f"missing apiVersion; expected apiVersion: {cv.API_VERSION}")
        raise smap.error(
            ("apiVersion",),
            f"unsupported apiVersion {version!r}; this mlops-dash reads {cv.API_VERSION}",
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise smap.error(
            ("kind",) if "kind" in data else (),
            f"unknown kind {kind!r}; expected one of {', '.join(sorted(KINDS))}"
            + (suggest(str(kind), list(KINDS)) if isinstance(kind, str) else ""),
        )
    try:
        model = KINDS[kind].model_validate(data)
    except ValidationError as exc:
        raise SpecErrors(_convert(exc, data, smap)) from None
    return Document(display, model, smap)


def spec_files(specs_dir: Path) -> list[Path]:
    """The spec files of a folder (``*.yaml`` / ``*.yml``), sorted."""
    if not specs_dir.is_dir():
        raise EnvironmentProblem(f"specs folder not found: {specs_dir}")
    return sorted(
        p for p in specs_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
    )


def load_specs(specs_dir: Path) -> SpecSet:
    """Load and cross-check every spec in a folder; raise SpecErrors listing all problems."""
    from mlops_dash.spec.crosscheck import check_spec_set

    files = spec_files(specs_dir)
    errors: list[SpecError] = []
    docs: list[Document] = []
    for f in files:
        display = os.path.relpath(f) if not f.is_absolute() or _is_below_cwd(f) else str(f)
        try:
            docs.append(load_document(f, display))
        except SpecErrors as exc:
            errors.extend(exc.errors)
        except SpecError as exc:
            errors.append(exc)
    if errors:
        raise SpecErrors(errors)
    platforms = [d for d in docs if isinstance(d.model, m.Platform)]
    catalogues = [d for d in docs if isinstance(d.model, m.MetricCatalogue)]
    dashboards = [d for d in docs if isinstance(d.model, m.Dashboard)]
    where = str(specs_dir)
    for name, found in (("Platform", platforms), ("MetricCatalogue", catalogues)):
        if not found:
            errors.append(SpecError(where, f"no spec of kind {name} in the folder"))
        for extra in found[1:]:
            errors.append(
                SpecError(extra.path, f"a second {name} spec (the first is {found[0].path})",
                          line=1, column=1)
            )
    if not dashboards:
        errors.append(SpecError(where, "no spec of kind Dashboard: nothing to build"))
    if errors:
        raise SpecErrors(errors)
    spec_set = SpecSet(platforms[0], catalogues[0], dashboards)
    check_spec_set(spec_set)
    return spec_set


def _is_below_cwd(p: Path) -> bool:
    try:
        p.resolve().relative_to(Path.cwd().resolve())
        return True
    except ValueError:
        return False
