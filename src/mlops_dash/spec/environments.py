"""``kind: Environment``: one rendering of the spec set, its values merged over the platform's.

An environment is the jsonnet mixins' ``_config`` idea applied to the specs, not a kustomize
overlay of the output: the platform spec declares every parameter once with its default value
(the ``_config``), an Environment file gives some of them other values and may replace platform
fields (URLs, channels, routing, output selection); the merged platform spec is then validated,
resolved and rendered like any other, so each environment's output is checked, linted and
tested as a whole. Every merged value keeps its place: an error in it names the Environment
file's line, not the platform's.
"""

from __future__ import annotations

from typing import Any

from mlops_dash.errors import SpecError
from mlops_dash.spec.messages import suggest
from mlops_dash.spec.yamlsource import SourceMap, format_path

Path = tuple[str | int, ...]


class OverlaySourceMap(SourceMap):
    """The platform spec's places, except under paths an environment replaced: those are the
    environment file's."""

    def __init__(self, base: SourceMap, env: SourceMap, replaced: dict[Path, Path]) -> None:
        super().__init__(base.file, {})
        self._base = base
        self._env = env
        self._replaced = replaced  # platform path → environment path

    @property
    def positions(self) -> dict[Path, tuple[int, int]]:
        return self._base.positions

    def _map(self, path: Path) -> tuple[SourceMap, Path]:
        p = tuple(path)
        for n in range(len(p), -1, -1):
            if p[:n] in self._replaced:
                return self._env, self._replaced[p[:n]] + p[n:]
        return self._base, p

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        smap, where = self._map(path)
        return smap.locate(where)

    def where(self, path: Path) -> str:
        smap, where = self._map(path)
        return smap.where(where)

    def error(self, path: Path, message: str) -> SpecError:
        smap, where = self._map(path)
        line, col = smap.locate(where)  # the path as written in the file that holds it
        return SpecError(smap.file, message, line=line, column=col, path=format_path(where))

    def error_in_value(self, path: Path, message: str, value: str, offset: int | None
                       ) -> SpecError:
        smap, where = self._map(path)
        if smap is self._base:
            return self._base.error_in_value(path, message, value, offset)
        return self.error(path, message)


def _merge(base: Any, patch: Any, at: Path, env_at: Path, replaced: dict[Path, Path]) -> Any:
    """``patch`` merged over ``base``: mappings key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base.get(key), value, (*at, key), (*env_at, key), replaced)
        return out
    replaced[at] = env_at
    return patch


def apply(platform: tuple[dict[str, Any], SourceMap], env: tuple[dict[str, Any], SourceMap]
          ) -> tuple[tuple[dict[str, Any], SourceMap], list[SpecError]]:
    """The platform spec as the environment makes it, and the environment's mistakes (an
    override of a parameter the platform does not declare)."""
    data, smap = platform
    env_data, env_smap = env
    errors: list[SpecError] = []
    replaced: dict[Path, Path] = {}
    patch = env_data.get("platform")
    merged = _merge(data, patch, (), ("platform",), replaced) if isinstance(patch, dict) \
        else dict(data)
    for section in ("namespaces", "outputs"):
        values = env_data.get(section)
        if isinstance(values, dict) and values:
            merged[section] = _merge(merged.get(section) or {}, values, (section,), (section,),
                                     replaced)
    overrides = env_data.get("parameters")
    declared = merged.get("parameters") if isinstance(merged.get("parameters"), dict) else {}
    if isinstance(overrides, dict) and overrides:
        params = dict(declared)
        for name, value in overrides.items():
            spec = params.get(name)
            if not isinstance(spec, dict):
                names = sorted(str(n) for n in declared)
                errors.append(env_smap.error(
                    ("parameters", name),
                    f"{name!r} is not a parameter of the platform spec ({smap.file}); an "
                    "environment gives values to declared parameters only"
                    + (suggest(str(name), names) or
                       (f"; declared: {', '.join(names)}" if names else
                        "; it declares none (parameters: in the platform spec)"))))
                continue
            params[name] = {**spec, "value": value}
            replaced[("parameters", name, "value")] = ("parameters", name)
        merged["parameters"] = params
    return (merged, OverlaySourceMap(smap, env_smap, replaced)), errors
