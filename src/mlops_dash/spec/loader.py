"""Read a specs folder into validated models; every problem becomes a SpecError with a place."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.spec import expand, params
from mlops_dash.spec import models as m
from mlops_dash.spec.library import Library, Registry, registry
from mlops_dash.spec.messages import (  # noqa: F401 - re-exported
    FIELD_NAMES,
    PATTERN_WORDS,
    _convert,
    describe,
    fields_at,
    nearest_valid,
    suggest,
    suggest_ref,
)
from mlops_dash.spec.parsing import (  # noqa: F401 - parse_files, read_mapping re-exported
    KIND_NAMES,
    Parsed,
    Started,
    parse_document,
    parse_files,
    read_mapping,
    start,
)
from mlops_dash.spec.yamlsource import SourceMap, format_path

if TYPE_CHECKING:
    from mlops_dash.spec.early import Early

KINDS: dict[str, type[BaseModel]] = {
    "Dashboard": m.Dashboard,
    "Platform": m.Platform,
    "MetricCatalogue": m.MetricCatalogue,
    "Environment": m.Environment,
    "Library": Library,
}
assert tuple(KINDS) == KIND_NAMES
# the platform's own declarations are not resolved (a parameter cannot reference another)
PLATFORM_SKIP = (("namespaces",), ("parameters",))


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
    libraries: list[Document] = field(default_factory=list)

    @property
    def platform_model(self) -> m.Platform:
        return self.platform.model  # type: ignore[no-any-return]

    @property
    def catalogue_model(self) -> m.MetricCatalogue:
        return self.catalogue.model  # type: ignore[no-any-return]

    def dashboard_models(self) -> list[m.Dashboard]:
        return [d.model for d in self.dashboards]

    @functools.cached_property
    def dashboard_titles(self) -> dict[str, str]:
        """Dashboard uid → title, for links between dashboards (computed once)."""
        return {d.model.uid: d.model.title for d in self.dashboards}

    @functools.cached_property
    def series_names(self) -> dict[str, m.MetricDef | None]:
        """Every queryable series name (crosscheck.catalogue_names), computed once for the
        cross-check, lint and the render workers, which inherit it (read it, not change it)."""
        from mlops_dash.spec.crosscheck import catalogue_names

        return catalogue_names(self)


def load_document(path: Path, display: str) -> Document:
    """Read, parse and validate one spec file (parameters from itself or the defaults)."""
    data, smap = parse_document(path, display)
    return validate_alone(data, smap)


def validate_alone(data: dict[str, Any], smap: SourceMap) -> Document:
    """A parsed spec file validated on its own: parameters from itself (a platform spec) or
    the defaults."""
    return resolve_and_validate(data, smap, _declared_parameters([(data, smap)]))


def resolve_and_validate(data: dict[str, Any], smap: SourceMap,
                         declared: params.Declared) -> Document:
    """A parsed spec file with its parameters resolved, validated; a validation error at a
    value that was a whole ``${params.x}`` reference names the parameter."""
    if data.get("kind") == "Environment":
        return validate_document(data, smap)  # merged into the platform, resolved there
    skip = PLATFORM_SKIP if data.get("kind") == "Platform" else ()
    used: dict[tuple[str | int, ...], str] = {}
    resolved, problems = params.resolve(data, smap, declared, skip, used)
    if problems:
        raise SpecErrors(problems)
    try:
        return validate_document(resolved, smap)
    except SpecErrors as exc:
        if not used:
            raise
        errors = [e for e in (_from_parameter(e, used, declared) for e in exc.errors) if e]
        raise SpecErrors(errors) from None


def _from_parameter(err: SpecError, used: dict[tuple[str | int, ...], str],
                    declared: params.Declared) -> SpecError | None:
    """``err`` saying which parameter gave the value, when one did (None: the parameter's
    own declaration is wrong, and that error is reported)."""
    for path, ref in used.items():
        shown = format_path(path)
        if err.path == shown or (err.path or "").startswith((shown + ".", shown + "[")):
            if ref in declared.invalid:
                return None
            return SpecError(err.file, f"{err.message} (the value of ${{{ref}}}, "
                             f"{declared.describe(ref)})", line=err.line, column=err.column,
                             path=err.path)
    return err


def validate_document(data: dict[str, Any], smap: SourceMap) -> Document:
    """A parsed spec file (see parse_document) validated against the model of its kind."""
    model_class = KINDS[data["kind"]]
    try:
        model = model_class.model_validate(data)
    except ValidationError as exc:
        raise SpecErrors(_convert(exc, data, smap, model_class)) from None
    return Document(smap.file, model, smap)


def spec_files(specs_dir: Path) -> list[Path]:
    """The spec files of a folder and its subfolders (``*.yaml`` / ``*.yml``), sorted."""
    from mlops_dash.spec.discovery import discover

    return discover(specs_dir).files


def load_specs(specs_dir: Path, *, check_metrics: bool = True, jobs: int = 1,
               env: str | None = None) -> SpecSet:
    """Load and cross-check every spec in a folder; raise SpecErrors listing all problems.

    ``check_metrics=False`` leaves metrics missing from the catalogue to ``mlops-dash lint``,
    which reports them as ``promql/unknown-metric`` findings instead of load errors. With
    ``jobs`` > 1 large folders are read in that many processes (same result). ``env``: the
    Environment whose values are merged over the platform spec's (None: the platform as
    written).
    """
    folder = read_folder(specs_dir, jobs=jobs)
    return folder.spec_set(None if env is None else folder.environment(env),
                           check_metrics=check_metrics)


def read_folder(specs_dir: Path, *, jobs: int = 1, started: Started | None = None) -> Folder:
    """Every spec file of a folder parsed (not yet resolved or validated), its Environment
    files validated; raise SpecErrors on files that cannot be read as specs. ``started``: the
    folder's parse begun earlier (spec/parsing.start)."""
    from mlops_dash import parallel
    from mlops_dash.spec.early import Early

    reading = started if started is not None else start(specs_dir, jobs)
    errors: list[SpecError] = []
    parsed_docs: list[Parsed] = []
    early = None
    try:
        if isinstance(reading.results, parallel.Chunks):  # workers parse: validate meanwhile
            early = Early.begin(reading.files)
        for part in reading.results:
            for parsed in part:
                if isinstance(parsed, list):
                    errors.extend(parsed)
                else:
                    parsed_docs.append(parsed)
                    if early is not None:
                        early.validate(*parsed)
    finally:
        reading.close()
    unreadable = len(errors)
    envs: dict[str, tuple[Parsed, Document]] = {}
    for data, smap in parsed_docs:
        if data.get("kind") != "Environment":
            continue
        try:
            doc = validate_document(data, smap)
        except SpecErrors as exc:
            errors.extend(exc.errors)
            continue
        name = doc.model.name
        if name in envs:
            errors.append(smap.error(("name",), f"a second environment {name!r} (the first is "
                                     f"{envs[name][1].path})"))
        else:
            envs[name] = ((data, smap), doc)
    if len(errors) > unreadable:  # an Environment file is wrong: nothing can be chosen
        raise SpecErrors(errors)
    # files that could not be read are reported with the other files' problems (spec_set)
    return Folder(specs_dir, [d for d in parsed_docs if d[0].get("kind") != "Environment"],
                  envs, reading.ignored, errors, None if envs else early)


@dataclass
class Folder:
    """A read specs folder: its spec files parsed, its environments by name."""

    specs_dir: Path
    parsed: list[Parsed]
    environments: dict[str, tuple[Parsed, Document]]
    ignored: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[SpecError] = field(default_factory=list)
    early: Early | None = None  # dashboards validated during the parse (spec/early.py)

    def environment(self, name: str) -> tuple[Parsed, Document]:
        """The environment called ``name``; an unknown name is an error naming the others."""
        if name in self.environments:
            return self.environments[name]
        names = sorted(self.environments)
        where = str(self.specs_dir)
        if not names:
            raise SpecErrors([SpecError(where, f"unknown environment {name!r}: the folder has "
                                        "no kind: Environment file (build without --env)")])
        listed = ", ".join(f"{n} ({self.environments[n][1].path})" for n in names)
        raise SpecErrors([SpecError(where, f"unknown environment {name!r}"
                                    f"{suggest(name, names)}; environments: {listed}")])

    def spec_set(self, env: tuple[Parsed, Document] | None, *,
                 check_metrics: bool = True, cross_check: bool = True) -> SpecSet:
        """The spec set as ``env`` renders it (None: the platform spec as written).
        ``cross_check=False``: without the cross-file checks (crosscheck.check_spec_set), for
        pipeline.render_tree, which makes them (``unchecked``) where the dashboards render."""
        from mlops_dash.spec import environments
        from mlops_dash.spec.crosscheck import check_spec_set

        errors: list[SpecError] = list(self.unreadable)
        parsed = list(self.parsed)
        if env is not None:
            for i, (data, _smap) in enumerate(parsed):
                if data.get("kind") == "Platform":
                    parsed[i], problems = environments.apply(parsed[i], env[0])
                    errors.extend(problems)
                    break
        declared = _declared_parameters(parsed)
        reg, libraries = _libraries(parsed, errors)
        done = (self.early.done if self.early is not None and env is None and not errors
                and self.early.usable(parsed) else {})
        docs: list[Document] = []
        for data, smap in parsed:
            if data.get("kind") == "Library":
                continue
            if id(data) in done:  # validated while the folder was parsed (spec/early.py)
                docs.append(done[id(data)])
                continue
            doc, problems = validated(data, smap, reg, declared)
            errors.extend(problems)
            if doc is not None:
                docs.append(doc)
        if errors:
            raise SpecErrors(errors)
        platforms = [d for d in docs if isinstance(d.model, m.Platform)]
        catalogues = [d for d in docs if isinstance(d.model, m.MetricCatalogue)]
        dashboards = [d for d in docs if isinstance(d.model, m.Dashboard)]
        where = str(self.specs_dir)
        for name, found in (("Platform", platforms), ("MetricCatalogue", catalogues)):
            if not found:
                errors.append(SpecError(where, f"no spec of kind {name} in the folder"
                                        + self._what_was_read()))
            for extra in found[1:]:
                errors.append(SpecError(
                    extra.path, f"a second {name} spec (the first is {found[0].path})",
                    line=1, column=1))
        if not dashboards:
            errors.append(SpecError(where, "no spec of kind Dashboard: nothing to build"
                                    + self._what_was_read()))
        if errors:
            raise SpecErrors(errors)
        spec_set = SpecSet(platforms[0], catalogues[0], dashboards, libraries)
        if cross_check:
            check_spec_set(spec_set, check_metrics=check_metrics)
        return spec_set

    def _what_was_read(self) -> str:
        """`` (read: a.yaml (Platform), …; ignored: notes.txt (not YAML))`` for messages."""
        read = [f"{smap.file} ({data.get('kind')})" for data, smap in self.parsed]
        read += [f"{doc.path} (Environment)" for _p, doc in self.environments.values()]
        ignored = [f"{path} ({why})" for path, why in self.ignored]
        parts = [f"read: {', '.join(read) if read else 'no YAML file'}"]
        if ignored:
            parts.append(f"ignored: {', '.join(ignored)}")
        return " (" + "; ".join(parts) + ")"


def validated(data: dict[str, Any], smap: SourceMap, reg: Registry, declared: params.Declared
              ) -> tuple[Document | None, list[SpecError]]:
    """One parsed spec of a set (not a Library) validated, or its problems: a dashboard's
    templates expanded first (with ``reg``), then its parameters resolved (``declared``)."""
    if data.get("kind") == "Dashboard":
        expanded, smap, problems = expand.expand(data, smap, reg)
        if problems or expanded is None:
            return None, problems
        data = expanded
    try:
        return resolve_and_validate(data, smap, declared), []
    except SpecErrors as exc:
        return None, exc.errors


def _libraries(parsed: list[Parsed], errors: list[SpecError]
               ) -> tuple[Registry, list[Document]]:
    """The Library specs validated, and the registry of their parts (problems into errors)."""
    docs = []
    for data, smap in parsed:
        if data.get("kind") == "Library":
            try:
                docs.append(validate_document(data, smap))
            except SpecErrors as exc:
                errors.extend(exc.errors)
    reg, problems = registry([(d.model, d.source) for d in docs])
    errors.extend(problems)
    return reg, docs


def _declared_parameters(parsed: list[Parsed]) -> params.Declared:
    """The parameters the (first) platform spec declares, or the defaults without one."""
    platform = next(((d, s) for d, s in parsed if d.get("kind") == "Platform"), None)
    if platform is None:
        return params.declared({}, dict(m.DEFAULT_NAMESPACES))
    return params.declared(platform[0], dict(m.DEFAULT_NAMESPACES), platform[1])
