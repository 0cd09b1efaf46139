"""Mutating the shipped specs (drop keys, change types, swap values, truncate, inject unknown keys,
garble bytes) ends in success or the project's spec errors, never another exception; a spec that
loads also renders."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_dash import pipeline
from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.lint import alert_checks, dashboard_checks, promql_checks, threshold_checks
from mlops_dash.lint.runner import lint_spec_set
from mlops_dash.spec.loader import load_specs

LINT_CHECKS = [*promql_checks.CHECKS, *threshold_checks.CHECKS, *dashboard_checks.CHECKS,
               *alert_checks.CHECKS]

FILES = sorted(p.name for p in SPECS.glob("*.yaml"))
DATA = {name: yaml.safe_load((SPECS / name).read_text()) for name in FILES}
WORK = Path(tempfile.mkdtemp(prefix="mlops-dash-fuzz-")) / "specs"
shutil.copytree(SPECS, WORK)

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "../../x", "$__rate_interval", "{{ $value }}", "1e309", "-1", "0s",
                     "rate(", "NaN", "yes", "~", "a" * 300]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2),
    st.sampled_from(HOSTILE := [
        "5m1h", "1m1m", "30s5m", "999999999999d", "99999d", "0", "500ms", "1y", "0.02", "2%",
        float("nan"), float("inf"), -0.0, 1e308, 0.9999999999999999, "value {{ $value ",
        "{{ nosuchfunc }}", "{{ $labels.x }", "a\nb", "=~(", "!~[", "=~a|b", "\x00", "\x07",
        [[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]],
    ]),
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


def get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def mutate(data: Any, draw: Any) -> Any:
    import copy

    data = copy.deepcopy(data)
    all_paths = paths(data)
    how = draw(st.sampled_from(["drop", "retype", "swap", "inject", "list-to-map"]))
    path = draw(st.sampled_from(all_paths))
    parent, key = get(data, path[:-1]), path[-1]
    if how == "drop":
        del parent[key]
    elif how == "retype":
        parent[key] = draw(ODD_VALUES)
    elif how == "swap":
        other = draw(st.sampled_from(all_paths))
        oparent, okey = get(data, other[:-1]), other[-1]
        a, b = parent[key], oparent[okey]
        parent[key], oparent[okey] = b, a
    elif how == "inject":
        target = parent if isinstance(parent, dict) else data
        target[draw(st.sampled_from(["severtiy", "extra", "uid", "<<", "kind", "__proto__"]))] \
            = draw(ODD_VALUES)
    else:
        value = parent[key]
        parent[key] = ({str(i): v for i, v in enumerate(value)} if isinstance(value, list)
                       else [value])
    return data


def check_load(name: str, text: bytes) -> None:
    (WORK / name).write_bytes(text)
    try:
        spec_set = load_specs(WORK)
    except (SpecError, SpecErrors):
        return
    finally:
        (WORK / name).write_bytes((SPECS / name).read_bytes())
    try:  # whatever loads renders, or is refused as a spec error with its place
        tree = pipeline.render_tree(spec_set)
    except SpecErrors as exc:
        # e.g. a catalogue metric stripped of its labels: the alert's promtool cases cannot be
        # derived, which the generator reports at the alert's signal
        assert all(e.file and e.line for e in exc.errors), exc
        return
    lint_spec_set(spec_set, tree, LINT_CHECKS)  # and lint without crashing


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_structural_mutations_end_in_success_or_spec_errors(data):
    name = data.draw(st.sampled_from(FILES))
    mutated = mutate(DATA[name], data.draw)
    check_load(name, yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True).encode())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FILES), st.data())
def test_truncated_and_garbled_files_end_in_spec_errors(name, data):
    raw = (SPECS / name).read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    how = data.draw(st.sampled_from(["truncate", "garble", "insert"]))
    if how == "truncate":
        text = raw[:cut]
    elif how == "garble":
        text = raw[:cut] + data.draw(st.binary(min_size=1, max_size=8)) + raw[cut + 8:]
    else:
        text = raw[:cut] + data.draw(st.sampled_from(
            [b"\t", b": ", b"- ", b"&a ", b"*a", b"!!python/name:os.system ", b"{", b"'", b"\n  x: 1",
             b"\xff", b"\x00"])) + raw[cut:]
    check_load(name, text)


def build_exit(name: str, text: bytes) -> tuple[int, str]:
    """Exit code and stderr of the real `build` command (in process) on one mutated file."""
    from click.testing import CliRunner

    from mlops_dash.cli import cli

    (WORK / name).write_bytes(text)
    try:
        out = WORK.parent / "generated"
        r = CliRunner().invoke(cli, ["build", "-q", "-j", "1", "--specs", str(WORK),
                                     "--out", str(out)])
    finally:
        (WORK / name).write_bytes((SPECS / name).read_bytes())
    return r.exit_code, r.stderr if hasattr(r, "stderr") else r.output


HOSTILE_FIELDS = ("for", "window", "interval", "baseline_step", "baseline_window", "refresh",
                  "repeat_interval", "group_interval", "group_wait", "threshold", "objective",
                  "min", "max", "quantile", "summary", "description", "match_on", "value",
                  "reporter", "response_code", "status", "expr", "eval_time", "values")


def hostile_mutation(data: Any, draw: Any) -> Any:
    import copy

    data = copy.deepcopy(data)
    targets = [p for p in paths(data) if isinstance(p[-1], str) and p[-1] in HOSTILE_FIELDS
               or len(p) > 1 and p[-2] in ("matchers", "labels")]
    if not targets:
        return data
    path = draw(st.sampled_from(targets))
    get(data, path[:-1])[path[-1]] = draw(st.sampled_from(HOSTILE))
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_values_end_in_success_or_placed_spec_errors(data):
    """Every hostile value in a field where it hurts (durations out of order or range, NaN,
    quoted numbers, broken templates, bad matchers, control characters, deep nesting) ends in
    exit 0 or exit 1 with placed errors; exit 2 is for the environment, never spec content."""
    name = data.draw(st.sampled_from(FILES))
    mutated = hostile_mutation(DATA[name], data.draw)
    code, err = build_exit(name, yaml.safe_dump(mutated, sort_keys=False,
                                                allow_unicode=True).encode())
    assert code in (0, 1), err
    if code == 1:
        lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
        assert lines, err
        assert all(ln.split(": ", 1)[1].split(":")[1].isdigit() for ln in lines), err
