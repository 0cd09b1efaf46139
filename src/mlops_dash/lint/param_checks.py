"""Parameters: a declared ``parameters:`` entry no spec references (``params/unused``)."""

from __future__ import annotations

from pathlib import Path

from mlops_dash.lint.runner import Context
from mlops_dash.spec.params import REF_RE, TYPED


def _referenced(files: list[str]) -> set[str]:
    names: set[str] = set()
    for file in files:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        names.update(r.split(".", 1)[1] for r in REF_RE.findall(text)
                     if r.startswith(TYPED + "."))
    return names


def check_unused_parameters(ctx: Context) -> None:
    spec_set = ctx.spec_set
    declared = spec_set.platform_model.parameters
    if not declared:
        return
    docs = [spec_set.platform, spec_set.catalogue, *spec_set.dashboards]
    used = _referenced([d.path for d in docs])
    for name in sorted(set(declared) - used):
        ctx.at_spec(spec_set.platform, ("parameters", name), "params/unused",
                    f"parameter {name!r} is declared but no spec references "
                    f"${{{TYPED}.{name}}}; remove it or use it")


CHECKS = [check_unused_parameters]
