"""Names that stay distinct in the specs but become one after normalisation: refused with both
places. Alert names differing only in case give runbooks that are one file on a case-insensitive
checkout (macOS, Windows); PagerDuty services, schedules and users become one Terraform name
(``ML Platform Lead`` and ``ml-platform-lead`` are both ``ml_platform_lead``), so one of them
would silently vanish from ``escalation.tf.json``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecError, format_place
from mlops_dash.render import slo as slo_render
from mlops_dash.spec.loader import SpecSet
from mlops_dash.spec.yamlsource import Path, SourceMap

Named = tuple[str, SourceMap, Path]  # a name, the file it is in, its field path


def name_collisions(spec_set: SpecSet) -> list[SpecError]:
    """Every pair of different names that normalise to one."""
    platform = spec_set.platform_model
    psrc = spec_set.platform.source
    alerts: list[Named] = []
    for doc in spec_set.dashboards:
        for ai, a in enumerate(doc.model.alerts):
            alerts.append((a.name, doc.source, ("alerts", ai, "name")))
        for si, s in enumerate(doc.model.slos):
            alerts += [(n, doc.source, ("slos", si, "name")) for n in slo_render.alert_names(s)]
    errors = _collisions(alerts, str.casefold, "alert name {a!r} differs only in case from "
                         "{b!r} ({where}); their runbooks would be one file on a "
                         "case-insensitive checkout: rename one")
    services = [(c.pagerduty_service, psrc, ("channels", ci, "service" if c.service else "name"))
                for ci, c in enumerate(platform.channels) if c.type == "pagerduty"]
    errors += _collisions(services, cv.terraform_name, _TERRAFORM.format(kind="PagerDuty service"),
                          same_is_collision=True)
    for target_type in ("schedule", "user"):
        targets = [(lvl.target, psrc, ("escalation", i, "target"))
                   for i, lvl in enumerate(platform.escalation) if lvl.target_type == target_type]
        errors += _collisions(targets, cv.terraform_name,
                              _TERRAFORM.format(kind=f"PagerDuty {target_type}"))
    return errors


_TERRAFORM = ("{kind} {{a!r}} has the Terraform name {{key!r}} of {{b!r}} ({{where}}); one "
              "would replace the other in pagerduty/escalation.tf.json: rename one")


def _collisions(names: Iterable[Named], normalise: Callable[[str], str], message: str, *,
                same_is_collision: bool = False) -> list[SpecError]:
    """An error at the later of two names with one normalised form (the same name twice only
    with ``same_is_collision``: elsewhere that is one thing named twice)."""
    first: dict[str, Named] = {}
    errors = []
    for name, src, path in names:
        key = normalise(name)
        seen = first.setdefault(key, (name, src, path))
        if seen[2] == path and seen[1] is src or (seen[0] == name and not same_is_collision):
            continue
        where = format_place(seen[1].file, *seen[1].locate(seen[2]))
        errors.append(src.error(path, message.format(a=name, b=seen[0], key=key, where=where)))
    return errors
