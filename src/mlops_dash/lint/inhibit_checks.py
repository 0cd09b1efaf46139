"""Inhibit rules that can never match: checked on the rendered Alertmanager config against the
labels every generated alert can carry (its static rule labels, plus the labels its expression
keeps: the signal's or SLO's ``by``, whose values are only known at firing time).

Alertmanager mutes a target while a source fires when the source matches ``source_matchers``,
the target ``target_matchers``, and every ``equal`` label has the same value on both (a missing
label counts as the empty value: prometheus/alertmanager ``inhibit/inhibit.go``). A rule none of
whose (source, target) pairs can satisfy that is dead configuration that reads like protection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.lint.runner import Context
from mlops_dash.render import rules, slo

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


@dataclass(frozen=True)
class AlertLabels:
    """What one generated alert can carry: fixed label values, and labels set at firing time."""

    name: str
    static: dict[str, str]
    dynamic: frozenset[str]

    def may_match(self, matcher: str) -> bool:
        mo = _MATCHER.match(matcher)
        if mo is None:  # not a form we understand: assume it may match (no false report)
            return True
        label, op, value = mo.groups()
        if label in self.dynamic and label not in self.static:
            return True  # any non-empty value is possible
        have = self.static.get(label, "")
        if op in ("=", "!="):
            return (have == value) == (op == "=")
        hit = re.fullmatch(value, have) is not None
        return hit == (op == "=~")

    def value(self, label: str) -> str | None:
        """The fixed value, '' when absent, None when only known at firing time."""
        if label in self.static:
            return self.static[label]
        return None if label in self.dynamic else ""


def alert_label_sets(ctx: Context) -> list[AlertLabels]:
    """Every alerting rule the build renders, with the labels it can carry."""
    dynamic: dict[str, list[str]] = {}
    from_expr: dict[str, dict[str, str]] = {}  # labels the expression selects a fixed value of
    for d in ctx.spec_set.dashboard_models():
        for a in d.alerts:
            dynamic[a.name] = rules.alert_labels(a)
        for s in d.slos:
            for name in slo.alert_names(s):
                dynamic[name] = list(s.by)
                from_expr[name] = {cv.LABEL_SLO: s.name}  # its records carry slo="<name>"
    out = []
    for doc in ctx.spec_set.dashboards:
        rel = cv.rule_file_path(doc.model.uid)
        data = ctx.parsed_yaml(rel)
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    name = str(rule["alert"])
                    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
                    static = {"alertname": name, **from_expr.get(name, {}), **labels}
                    out.append(AlertLabels(name, static, frozenset(dynamic.get(name, []))))
    return out


def _pair_matches(src: AlertLabels, dst: AlertLabels, equal: list[str]) -> bool:
    for label in equal:
        a, b = src.value(label), dst.value(label)
        if a is not None and b is not None and a != b:
            return False
        if (a is None) != (b is None) and "" in (a, b):
            return False  # present (non-empty) on one, absent on the other
    return True


def never_matches(rule: dict[str, Any], alerts: list[AlertLabels]) -> str | None:
    """Why an inhibit rule can never mute anything, or None when some pair can match."""
    equal = [str(x) for x in rule.get("equal", [])]
    sources = [a for a in alerts if all(a.may_match(m) for m in rule.get("source_matchers", []))]
    targets = [a for a in alerts if all(a.may_match(m) for m in rule.get("target_matchers", []))]
    if not sources:
        return (f"no generated alert matches its source matchers "
                f"{', '.join(rule.get('source_matchers', []))}")
    if not targets:
        return (f"no generated alert matches its target matchers "
                f"{', '.join(rule.get('target_matchers', []))}")
    if any(_pair_matches(s, t, equal) for s in sources for t in targets if s.name != t.name):
        return None
    lacking = sorted({lbl for lbl in equal for s in sources if s.value(lbl) == ""})
    why = f" (no source alert carries {', '.join(lacking)})" if lacking else ""
    return (f"no source alert ({', '.join(sorted({s.name for s in sources}))}) and target alert "
            f"share the labels {', '.join(equal)}{why}")


def check_inhibit_rules(ctx: Context) -> None:
    text = ctx.tree.get(cv.ALERTMANAGER_CONFIG_PATH)
    if text is None:
        return
    config = ctx.parsed_yaml(cv.ALERTMANAGER_CONFIG_PATH)
    alerts = alert_label_sets(ctx)
    spec_rules = len(ctx.spec_set.platform_model.routing.inhibit)
    for i, rule in enumerate(config.get("inhibit_rules", []) or []):
        why = never_matches(rule, alerts)
        if why is None:
            continue
        msg = f"inhibit rule can never match: {why}; drop it or fix its labels"
        if i < spec_rules:
            ctx.at_spec(ctx.spec_set.platform, ("routing", "inhibit", i, "equal"),
                        "alert/inhibit-never-matches", msg)
        else:
            ctx.at_output(cv.ALERTMANAGER_CONFIG_PATH, ("inhibit_rules", i),
                          "alert/inhibit-never-matches", msg)


CHECKS = [check_inhibit_rules]
